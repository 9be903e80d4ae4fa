//! The reference's text forms of observations, written once for both
//! binaries: search entries (text, markdown, JSON), the get-memory report,
//! recall entries and the status breakdown lines. Scripts and agents parse
//! these, so they match the reference byte for byte.

use mesh_core::Observation;

use crate::index::{Breakdown, Inspected};
use crate::store::BackendStatus;

/// Where an observation was saved, relative to this host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Saved on this host.
    ThisPc,
    /// Saved on another host of the mesh.
    OtherPc,
    /// Saved without a host id (old or foreign entries).
    UnknownPc,
}

impl Origin {
    /// The origin of `obs` as seen from the host `my_pc_id` (`None` when
    /// this host's id is unknown).
    pub fn of(obs: &Observation, my_pc_id: Option<&str>) -> Self {
        if obs.pc_id.is_empty() {
            Self::UnknownPc
        } else if my_pc_id == Some(obs.pc_id.as_str()) {
            Self::ThisPc
        } else {
            Self::OtherPc
        }
    }

    /// `this pc`, `other pc` or `unknown pc`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ThisPc => "this pc",
            Self::OtherPc => "other pc",
            Self::UnknownPc => "unknown pc",
        }
    }
}

/// The first `n` characters of `s`.
pub fn head(s: &str, n: usize) -> &str {
    s.char_indices().nth(n).map_or(s, |(i, _)| &s[..i])
}

/// `s` cut to `limit` characters with an ellipsis when cut.
pub fn truncate_ellipsis(s: &str, limit: usize) -> String {
    if s.chars().count() <= limit {
        s.to_owned()
    } else {
        format!("{}…", head(s, limit))
    }
}

/// `value`, or `-` when empty.
pub fn or_dash(value: &str) -> &str {
    if value.is_empty() { "-" } else { value }
}

/// `values` joined by `, `, or `-` when empty.
pub fn list_or_dash(values: &[String]) -> String {
    if values.is_empty() {
        "-".to_owned()
    } else {
        values.join(", ")
    }
}

fn refs(obs: &Observation) -> String {
    if obs.references.is_empty() {
        String::new()
    } else {
        format!(" (refs: {})", obs.references.join(", "))
    }
}

fn project(obs: &Observation) -> String {
    if obs.project.is_empty() {
        String::new()
    } else {
        format!(" ({})", obs.project)
    }
}

/// One search result in the text form (two lines). With `origin` (the MCP
/// tool's form) entries from elsewhere carry `[origin: <client>, <pc>]`.
pub fn search_entry(obs: &Observation, origin: Option<Origin>) -> String {
    let body = if obs.summary.is_empty() {
        head(&obs.content, 80)
    } else {
        &obs.summary
    };
    let subject = if obs.subject.is_empty() {
        String::new()
    } else {
        format!(" {}", obs.subject)
    };
    let origin = match origin {
        None | Some(Origin::ThisPc) => String::new(),
        Some(o) => format!(
            " [origin: {}, {}]",
            if obs.client_id.is_empty() {
                "?"
            } else {
                &obs.client_id
            },
            o.as_str()
        ),
    };
    format!(
        "[{}][{}] {}{}{subject}{}{origin}\n{body} <id={}>",
        obs.memory_type,
        obs.importance,
        head(&obs.created_at, 19),
        project(obs),
        refs(obs),
        obs.observation_id
    )
}

/// Results in the CLI's text form, separated by `---` lines.
pub fn text(results: &[Observation]) -> String {
    results
        .iter()
        .map(|o| search_entry(o, None))
        .collect::<Vec<_>>()
        .join("\n---\n")
}

/// One result as a markdown bullet.
pub fn markdown_entry(obs: &Observation) -> String {
    let body = match (obs.subject.is_empty(), obs.summary.is_empty()) {
        (false, false) => format!("{} — {}", obs.subject, obs.summary),
        (false, true) => obs.subject.clone(),
        (true, false) => obs.summary.clone(),
        (true, true) => truncate_ellipsis(&obs.content, 80),
    };
    format!(
        "- **[{}][{}]** {}{} {}{} <id={}>",
        obs.memory_type,
        obs.importance,
        head(&obs.created_at, 16),
        project(obs),
        body,
        refs(obs),
        obs.observation_id
    )
}

/// Results as markdown bullets.
pub fn markdown(results: &[Observation]) -> String {
    results
        .iter()
        .map(markdown_entry)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Results as a JSON array of full observations.
pub fn json(results: &[Observation]) -> String {
    format!(
        "[{}]",
        results
            .iter()
            .map(Observation::to_json)
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// The get-memory report: every field, its state, then the content. With
/// `origin` (the MCP tool's form) it also names the origin and the entry
/// that supersedes it.
pub fn get_memory(found: &Inspected, origin: Option<Origin>) -> String {
    let o = &found.observation;
    let mut lines = vec![
        format!("id: {}", o.observation_id),
        format!("memory_type: {}", o.memory_type),
        format!("importance: {}", o.importance),
        format!("created_at: {}", o.created_at),
        format!("project: {}", or_dash(&o.project)),
        format!("subject: {}", or_dash(&o.subject)),
        format!("summary: {}", or_dash(&o.summary)),
        format!("agent: {}/{}", o.agent_family, o.client_id),
    ];
    if let Some(origin) = origin {
        lines.push(format!(
            "origin: {} ({})",
            or_dash(&o.client_id),
            origin.as_str()
        ));
    }
    lines.extend([
        format!("tags: {}", list_or_dash(&o.tags)),
        format!("source_files: {}", list_or_dash(&o.source_files)),
        format!("references: {}", list_or_dash(&o.references)),
        format!("supersedes: {}", list_or_dash(&o.supersedes)),
    ]);
    if origin.is_some() {
        lines.push(format!(
            "superseded_by: {}",
            found.superseded_by.as_deref().unwrap_or("-")
        ));
    }
    lines.extend([
        format!("state: {}", found.state.as_str()),
        "---".to_owned(),
        o.content.clone(),
    ]);
    lines.join("\n")
}

/// One entry of `recall_context`: fields, then `content:` and the content.
pub fn recall_entry(found: &Inspected, origin: Origin) -> String {
    let obs = &found.observation;
    let mut lines = vec![
        format!("id: {}", obs.observation_id),
        format!("state: {}", found.state.as_str()),
        format!("importance: {}", obs.importance),
        format!("created_at: {}", obs.created_at),
        format!("origin: {} ({})", or_dash(&obs.client_id), origin.as_str()),
        format!("subject: {}", or_dash(&obs.subject)),
        format!("summary: {}", or_dash(&obs.summary)),
        format!("tags: {}", list_or_dash(&obs.tags)),
        format!("source_files: {}", list_or_dash(&obs.source_files)),
        format!("references: {}", list_or_dash(&obs.references)),
    ];
    if !obs.supersedes.is_empty() {
        lines.push(format!("supersedes: {}", obs.supersedes.join(", ")));
    }
    if let Some(by) = &found.superseded_by {
        lines.push(format!("superseded_by: {by}"));
    }
    lines.push("content:".to_owned());
    lines.push(obs.content.clone());
    lines.join("\n")
}

/// The transport lines of a status report.
pub fn backend_lines(b: &BackendStatus) -> Vec<String> {
    vec![
        format!("zenoh_session: {}", b.zenoh_session),
        format!("last_put_at_iso: {}", or_dash(&b.last_put_at)),
        format!("last_put_status: {}", b.last_put_status),
        format!("pending_puts: {}", b.pending_puts),
    ]
}

/// The per-family lines of a status report.
pub fn family_lines(breakdown: &Breakdown) -> Vec<String> {
    breakdown
        .by_family
        .iter()
        .map(|(family, count)| format!("  family {family}: {count}"))
        .collect()
}

/// The per-host lines of a status report (host ids cut to 8 characters).
pub fn pc_lines(breakdown: &Breakdown) -> Vec<String> {
    breakdown
        .by_pc
        .iter()
        .map(|(pc, count)| format!("  pc {}: {count}", head(pc, 8)))
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::index::ObservationState;

    const PAYLOAD: &str = r##"{"content": "Use FTS5 trigram for Japanese search 日本語", "agent_family": "unknown", "client_id": "root@vm", "pc_id": "7af8c71292bb460985fd0dca2293ceb4", "session_id": "20261123T195100Z-3170f176", "project": "demo", "tags": ["fts", "search"], "observation_id": "933f1c1cdce6404db34d991e229affc7", "created_at": "2026-11-23T19:51:00.638673Z", "memory_type": "decision", "importance": 4, "subject": "FTS tokenizer", "summary": "trigram chosen", "source_files": [], "references": ["#67", "PR#68"], "supersedes": [], "visibility": "mesh", "scope_id": "", "expires_at": ""}"##;

    /// Outputs captured from the reference for the payload above.
    #[test]
    fn forms_match_the_reference_byte_for_byte() {
        let o = Observation::from_json(PAYLOAD).unwrap();
        assert_eq!(
            search_entry(&o, None),
            "[decision][4] 2026-11-23T19:51:00 (demo) FTS tokenizer (refs: #67, PR#68)\ntrigram chosen <id=933f1c1cdce6404db34d991e229affc7>"
        );
        assert_eq!(
            markdown_entry(&o),
            "- **[decision][4]** 2026-11-23T19:51 (demo) FTS tokenizer — trigram chosen (refs: #67, PR#68) <id=933f1c1cdce6404db34d991e229affc7>"
        );
        assert_eq!(json(std::slice::from_ref(&o)), format!("[{PAYLOAD}]"));
    }

    #[test]
    fn origin_is_shown_only_for_entries_from_elsewhere() {
        let o = Observation::from_json(PAYLOAD).unwrap();
        let mine = Origin::of(&o, Some("7af8c71292bb460985fd0dca2293ceb4"));
        assert_eq!(mine, Origin::ThisPc);
        assert_eq!(search_entry(&o, Some(mine)), search_entry(&o, None));
        let theirs = Origin::of(&o, Some("00000000000000000000000000000000"));
        assert!(search_entry(&o, Some(theirs)).contains(" [origin: root@vm, other pc]\n"));
        let mut anon = o.clone();
        anon.pc_id.clear();
        assert_eq!(Origin::of(&anon, Some("x")), Origin::UnknownPc);
    }

    #[test]
    fn text_falls_back_to_content_when_summary_is_empty() {
        let mut o = Observation::from_json(PAYLOAD).unwrap();
        o.summary.clear();
        o.content = "あ".repeat(100);
        assert!(search_entry(&o, None).contains(&format!("\n{} <id=", "あ".repeat(80))));
        o.subject.clear();
        assert!(markdown_entry(&o).contains(&format!(" {}… (refs:", "あ".repeat(80))));
    }

    #[test]
    fn get_memory_adds_origin_and_superseded_by_for_agents() {
        let found = Inspected {
            observation: Observation::from_json(PAYLOAD).unwrap(),
            state: ObservationState::Live,
            deleted_at: None,
            shadowed_at: None,
            superseded_by: None,
        };
        let terminal = get_memory(&found, None);
        assert!(!terminal.contains("origin:") && !terminal.contains("superseded_by:"));
        assert!(
            terminal.ends_with("state: live\n---\nUse FTS5 trigram for Japanese search 日本語")
        );
        let agent = get_memory(&found, Some(Origin::OtherPc));
        assert!(agent.contains("\norigin: root@vm (other pc)\ntags: fts, search\n"));
        assert!(agent.contains("\nsuperseded_by: -\nstate: live\n"));
    }
}
