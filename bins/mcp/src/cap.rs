//! Keeping a tool result inside an agent's context budget.
//!
//! Results are joined with `\n---\n` and capped at a UTF-8 byte budget
//! (20,000 bytes, as in the reference). Whole entries are dropped from the
//! tail and a `[truncated: showing N of M result(s); ...]` line says so. If
//! even the first entry does not fit, its body is cut (on a character
//! boundary) but its header and its `<id=...>` suffix are kept, so the agent
//! can still fetch the full record.

/// The byte budget of `search_memory` and `recall_context` results.
pub const OUTPUT_MAX_BYTES: usize = 20_000;

const SEPARATOR: &str = "\n---\n";
const ELLIPSIS: &str = "…";

fn notice(shown: usize, total: usize, max_bytes: usize) -> String {
    format!(
        "\n[truncated: showing {shown} of {total} result(s); output capped at {max_bytes} bytes]"
    )
}

/// The longest prefix of `text` that fits in `max_bytes` UTF-8 bytes.
pub fn cut_utf8(text: &str, max_bytes: usize) -> &str {
    if text.len() <= max_bytes {
        return text;
    }
    let mut end = max_bytes;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The ` <id=...>` suffix of a search entry, if it has one.
fn id_suffix(entry: &str) -> Option<usize> {
    // " <id=" + 32 hex + ">"
    let start = entry.len().checked_sub(38)?;
    let tail = entry.get(start..)?;
    let id = tail.strip_prefix(" <id=")?.strip_suffix('>')?;
    mesh_core::keyspace::is_observation_id(id).then_some(start)
}

/// Shrink one entry to `max_bytes`, keeping its first line and id suffix.
fn shrink(entry: &str, max_bytes: usize) -> String {
    if entry.len() <= max_bytes {
        return entry.to_owned();
    }
    if let Some(at) = id_suffix(entry) {
        let (before, suffix) = entry.split_at(at);
        if let Some((head, body)) = before.split_once('\n') {
            let skeleton = head.len() + 1 + ELLIPSIS.len() + suffix.len();
            if skeleton <= max_bytes {
                let kept = cut_utf8(body, max_bytes - skeleton);
                return format!("{head}\n{kept}{ELLIPSIS}{suffix}");
            }
        }
    }
    cut_utf8(entry, max_bytes).to_owned()
}

/// Entries from the head that fit in `budget`, and whether any were left out.
fn fit(entries: &[String], budget: usize) -> (Vec<String>, bool) {
    let mut included: Vec<String> = Vec::new();
    let mut used = 0;
    for entry in entries {
        let sep = if included.is_empty() {
            0
        } else {
            SEPARATOR.len()
        };
        if used + sep + entry.len() <= budget {
            used += sep + entry.len();
            included.push(entry.clone());
            continue;
        }
        if included.is_empty() {
            let partial = shrink(entry, budget);
            if !partial.is_empty() {
                included.push(partial);
            }
        }
        return (included, true);
    }
    (included, false)
}

/// Join `entries` under an optional `prefix` line, within `max_bytes`.
///
/// The prefix (e.g. the AND-to-OR fallback marker) always survives and is
/// never counted as a result. The whole returned string, notice included,
/// is at most `max_bytes` bytes.
pub fn cap(entries: &[String], max_bytes: usize, prefix: &str) -> String {
    let prefix_bytes = if prefix.is_empty() {
        0
    } else {
        prefix.len() + 1
    };
    let total = entries.len();
    let budget = max_bytes.saturating_sub(prefix_bytes);
    let (mut included, truncated) = fit(entries, budget);
    if truncated {
        let reserve = notice(total, total, max_bytes).len();
        included = fit(entries, budget.saturating_sub(reserve)).0;
    }
    let mut body = included.join(SEPARATOR);
    if !prefix.is_empty() {
        body = if body.is_empty() {
            prefix.to_owned()
        } else {
            format!("{prefix}\n{body}")
        };
    }
    if truncated {
        body.push_str(&notice(included.len(), total, max_bytes));
    }
    cut_utf8(&body, max_bytes).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(i: usize, body: &str) -> String {
        format!(
            "[note][2] 2026-11-23T10:00:00 subject {i}\n{body} <id={:032x}>",
            i + 1
        )
    }

    #[test]
    fn everything_fits_untouched() {
        let e = vec![entry(0, "a"), entry(1, "b")];
        assert_eq!(cap(&e, OUTPUT_MAX_BYTES, ""), e.join(SEPARATOR));
        assert_eq!(
            cap(&e, OUTPUT_MAX_BYTES, "(p)"),
            format!("(p)\n{}", e.join(SEPARATOR))
        );
    }

    #[test]
    fn tail_entries_drop_and_the_notice_counts_results_not_the_prefix() {
        let body = "日本語".repeat(200);
        let e: Vec<String> = (0..50).map(|i| entry(i, &body)).collect();
        let out = cap(&e, OUTPUT_MAX_BYTES, "(no AND match; fell back to OR)");
        assert!(out.len() <= OUTPUT_MAX_BYTES);
        assert!(out.starts_with("(no AND match; fell back to OR)\n[note]"));
        let shown = out.matches(" <id=").count();
        assert!(out.ends_with(&format!(
            "[truncated: showing {shown} of 50 result(s); output capped at 20000 bytes]"
        )));
        // Every shown entry is whole: its id is intact.
        for i in 0..shown {
            assert!(out.contains(&format!("<id={:032x}>", i + 1)));
        }
    }

    #[test]
    fn the_byte_boundary_is_exact() {
        let e: Vec<String> = (0..3).map(|i| entry(i, "x")).collect();
        let exact = e.join(SEPARATOR).len();
        assert_eq!(
            cap(&e, exact, ""),
            e.join(SEPARATOR),
            "exactly at the cap: nothing dropped"
        );
        let out = cap(&e, exact - 1, "");
        assert!(out.len() < exact);
        assert!(out.contains("[truncated: showing"));
    }

    #[test]
    fn an_oversized_first_entry_keeps_its_header_and_id() {
        let huge = entry(0, &"検".repeat(20_000));
        let out = cap(std::slice::from_ref(&huge), OUTPUT_MAX_BYTES, "");
        assert!(out.len() <= OUTPUT_MAX_BYTES);
        assert!(out.starts_with("[note][2] 2026-11-23T10:00:00 subject 0\n検"));
        assert!(out.contains(&format!("… <id={:032x}>", 1)));
        assert!(
            out.ends_with("[truncated: showing 1 of 1 result(s); output capped at 20000 bytes]")
        );
    }

    #[test]
    fn cuts_never_split_a_character() {
        assert_eq!(cut_utf8("日本", 4), "日");
        assert_eq!(cut_utf8("日本", 6), "日本");
        assert_eq!(cut_utf8("abc", 0), "");
    }
}
