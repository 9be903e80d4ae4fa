//! How results look on the terminal: the reference's text, markdown and
//! JSON forms, byte for byte, so scripts written for it keep working.

use mesh_core::Observation;
use mesh_memory::Inspected;

/// The first `n` characters of `s`.
pub fn head(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// `s` cut to `limit` characters with an ellipsis when cut.
pub fn truncate_ellipsis(s: &str, limit: usize) -> String {
    if s.chars().count() <= limit {
        s.to_owned()
    } else {
        format!("{}…", head(s, limit))
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

/// One result in the text form (two lines).
pub fn text_entry(obs: &Observation) -> String {
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
    format!(
        "[{}][{}] {}{}{}{}\n{} <id={}>",
        obs.memory_type,
        obs.importance,
        head(&obs.created_at, 19),
        project(obs),
        subject,
        refs(obs),
        body,
        obs.observation_id
    )
}

/// Results in the text form, separated by `---` lines.
pub fn text(results: &[Observation]) -> String {
    results
        .iter()
        .map(text_entry)
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

fn list_or_dash(values: &[String]) -> String {
    if values.is_empty() {
        "-".to_owned()
    } else {
        values.join(", ")
    }
}

fn or_dash(value: &str) -> &str {
    if value.is_empty() { "-" } else { value }
}

/// The `get-memory` report.
pub fn get_memory(found: &Inspected) -> String {
    let o = &found.observation;
    [
        format!("id: {}", o.observation_id),
        format!("memory_type: {}", o.memory_type),
        format!("importance: {}", o.importance),
        format!("created_at: {}", o.created_at),
        format!("project: {}", or_dash(&o.project)),
        format!("subject: {}", or_dash(&o.subject)),
        format!("summary: {}", or_dash(&o.summary)),
        format!("agent: {}/{}", o.agent_family, o.client_id),
        format!("tags: {}", list_or_dash(&o.tags)),
        format!("source_files: {}", list_or_dash(&o.source_files)),
        format!("references: {}", list_or_dash(&o.references)),
        format!("supersedes: {}", list_or_dash(&o.supersedes)),
        format!("state: {}", found.state.as_str()),
        "---".to_owned(),
        o.content.clone(),
    ]
    .join("\n")
}

/// The hint printed after a save that may revise older entries.
pub fn supersede_hint(candidates: &[Observation]) -> Vec<String> {
    if candidates.is_empty() {
        return Vec::new();
    }
    let n = candidates.len();
    let mut lines = vec![format!(
        "supersede candidates ({n} live entr{} with the same subject/type):",
        if n == 1 { "y" } else { "ies" }
    )];
    for c in candidates {
        let body = if c.summary.is_empty() {
            truncate_ellipsis(&c.content, 60)
        } else {
            c.summary.clone()
        };
        lines.push(format!(
            "  - {}  {}  {}",
            c.observation_id,
            head(&c.created_at, 10),
            body
        ));
    }
    let ids: Vec<&str> = candidates
        .iter()
        .map(|c| c.observation_id.as_str())
        .collect();
    lines.push(format!(
        "  hint: if this revises them, save with --supersedes {} so the older one is hidden, or `kioku-mesh delete <id>` to retire it.",
        ids.join(",")
    ));
    lines
}

/// Python's `repr()` of a string, used where the reference prints values
/// with `{value!r}`.
pub fn py_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAYLOAD: &str = r##"{"content": "Use FTS5 trigram for Japanese search 日本語", "agent_family": "unknown", "client_id": "root@vm", "pc_id": "7af8c71292bb460985fd0dca2293ceb4", "session_id": "20261123T195100Z-3170f176", "project": "demo", "tags": ["fts", "search"], "observation_id": "933f1c1cdce6404db34d991e229affc7", "created_at": "2026-11-23T19:51:00.638673Z", "memory_type": "decision", "importance": 4, "subject": "FTS tokenizer", "summary": "trigram chosen", "source_files": [], "references": ["#67", "PR#68"], "supersedes": [], "visibility": "mesh", "scope_id": "", "expires_at": ""}"##;

    /// Outputs captured from the reference for the payload above.
    #[test]
    fn forms_match_the_reference_byte_for_byte() {
        let o = Observation::from_json(PAYLOAD).unwrap();
        assert_eq!(
            text_entry(&o),
            "[decision][4] 2026-11-23T19:51:00 (demo) FTS tokenizer (refs: #67, PR#68)\ntrigram chosen <id=933f1c1cdce6404db34d991e229affc7>"
        );
        assert_eq!(
            markdown_entry(&o),
            "- **[decision][4]** 2026-11-23T19:51 (demo) FTS tokenizer — trigram chosen (refs: #67, PR#68) <id=933f1c1cdce6404db34d991e229affc7>"
        );
        assert_eq!(json(std::slice::from_ref(&o)), format!("[{PAYLOAD}]"));
    }

    #[test]
    fn text_falls_back_to_content_when_summary_is_empty() {
        let mut o = Observation::from_json(PAYLOAD).unwrap();
        o.summary.clear();
        o.content = "あ".repeat(100);
        assert!(text_entry(&o).contains(&format!("\n{} <id=", "あ".repeat(80))));
        o.subject.clear();
        assert!(markdown_entry(&o).contains(&format!(" {}… (refs:", "あ".repeat(80))));
    }

    #[test]
    fn py_repr_matches_python() {
        assert_eq!(py_repr(""), "''");
        assert_eq!(py_repr("it's"), "\"it's\"");
        assert_eq!(py_repr("a'b\"c"), "'a\\'b\"c'");
        assert_eq!(py_repr("x\ny"), "'x\\ny'");
        assert_eq!(py_repr("日本"), "'日本'");
    }
}
