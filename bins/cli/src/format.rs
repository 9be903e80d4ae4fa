//! Terminal-only text forms: the supersede hint after a save and Python's
//! `repr()` the reference prints values with. The shared result forms live
//! in `mesh_memory::view`.

use mesh_core::Observation;
use mesh_memory::view::{head, truncate_ellipsis};

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

    #[test]
    fn py_repr_matches_python() {
        assert_eq!(py_repr(""), "''");
        assert_eq!(py_repr("it's"), "\"it's\"");
        assert_eq!(py_repr("a'b\"c"), "'a\\'b\"c'");
        assert_eq!(py_repr("x\ny"), "'x\\ny'");
        assert_eq!(py_repr("日本"), "'日本'");
    }
}
