//! What counts as a usable subject and summary, and how to derive them for
//! old observations stored without.
//!
//! Write paths refuse a save whose subject or summary is missing; the same
//! predicate drives `backfill-metadata`, so enforcement and repair agree.

use crate::error::{MemoryError, Result};

/// Longest derived subject, in characters.
pub const SUBJECT_MAX: usize = 80;
/// Longest derived summary, in characters.
pub const SUMMARY_MAX: usize = 200;

/// Values that stand in for "nothing to say" (compared case-insensitively).
const PLACEHOLDERS: [&str; 15] = [
    "-", "--", "---", ".", "..", "...", "n/a", "na", "none", "null", "nil", "tbd", "todo", "未定",
    "なし",
];

/// True when `value` carries no information: empty, blank or a placeholder.
pub fn is_missing(value: &str) -> bool {
    let cleaned = value.trim();
    cleaned.is_empty() || PLACEHOLDERS.contains(&cleaned.to_lowercase().as_str())
}

/// Refuse unless both subject and summary are filled in; one message names
/// every missing field so the caller fixes both at once.
pub fn validate_required(subject: &str, summary: &str) -> Result<()> {
    let missing: Vec<&str> = [("subject", subject), ("summary", summary)]
        .into_iter()
        .filter(|(_, v)| is_missing(v))
        .map(|(name, _)| name)
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(MemoryError::MetadataRequired {
            missing: missing.join(" and "),
        })
    }
}

/// A subject for an old observation: its first non-empty line, `#` stripped.
pub fn derive_subject(content: &str) -> String {
    content
        .lines()
        .map(|l| l.trim().trim_start_matches('#').trim())
        .find(|l| !l.is_empty())
        .map(|l| truncate(l, SUBJECT_MAX))
        .unwrap_or_default()
}

/// A summary for an old observation: its first sentence.
pub fn derive_summary(content: &str) -> String {
    let flattened = content.split_whitespace().collect::<Vec<_>>().join(" ");
    if flattened.is_empty() {
        return String::new();
    }
    let first = first_sentence(&flattened).trim();
    truncate(
        if first.is_empty() { &flattened } else { first },
        SUMMARY_MAX,
    )
}

/// Text up to and including the first sentence end. An ASCII `.`, `!` or
/// `?` ends a sentence only when followed by a space or the end, and a `.`
/// after a one-letter token (`e.g.`) or a bare list number (`1.`) does not.
fn first_sentence(text: &str) -> &str {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    for (i, &(pos, c)) in chars.iter().enumerate() {
        let end = pos + c.len_utf8();
        if "。．！？".contains(c) {
            return &text[..end];
        }
        if !".!?".contains(c) {
            continue;
        }
        if chars.get(i + 1).is_some_and(|(_, n)| !n.is_whitespace()) {
            continue;
        }
        if c == '.' {
            let before = &text[..pos];
            let mut rev = before.chars().rev();
            let prev = rev.next();
            let prev2 = rev.next();
            let single_letter = prev.is_some_and(|p| p.is_ascii_alphabetic())
                && prev2.is_none_or(|p| !p.is_ascii_alphanumeric());
            let token = before.rsplit(' ').next().unwrap_or_default();
            let list_number =
                (1..=3).contains(&token.len()) && token.bytes().all(|b| b.is_ascii_digit());
            if single_letter || list_number {
                continue;
            }
        }
        return &text[..end];
    }
    text
}

fn truncate(value: &str, limit: usize) -> String {
    if value.chars().count() <= limit {
        return value.to_owned();
    }
    let cut: String = value.chars().take(limit - 1).collect();
    format!("{}…", cut.trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_do_not_count() {
        for v in ["", "  ", "-", "N/A", "tbd", "TODO", "None", "未定", "..."] {
            assert!(is_missing(v), "{v:?}");
        }
        for v in ["x", "recall latency", "NA-1"] {
            assert!(!is_missing(v), "{v:?}");
        }
    }

    #[test]
    fn one_message_names_every_missing_field() {
        let err = validate_required("", "-").unwrap_err().to_string();
        assert!(err.starts_with("subject and summary required:"), "{err}");
        let err = validate_required("s", "tbd").unwrap_err().to_string();
        assert!(err.starts_with("summary required:"), "{err}");
        assert!(validate_required("s", "t").is_ok());
    }

    #[test]
    fn derived_subject_is_the_first_line() {
        assert_eq!(derive_subject("\n\n## Title here\nbody"), "Title here");
        assert_eq!(derive_subject(&"x".repeat(100)).chars().count(), 80);
        assert!(derive_subject(&"x".repeat(100)).ends_with('…'));
        assert_eq!(derive_subject("  \n "), "");
    }

    #[test]
    fn derived_summary_is_the_first_sentence() {
        assert_eq!(
            derive_summary("Bumped to v0.8.0. Then more."),
            "Bumped to v0.8.0."
        );
        assert_eq!(
            derive_summary("See watch.sh for details. Next."),
            "See watch.sh for details."
        );
        assert_eq!(
            derive_summary("Use e.g. this one. Done"),
            "Use e.g. this one."
        );
        assert_eq!(
            derive_summary("Pitfalls: 1. Node v22 breaks. 2. x"),
            "Pitfalls: 1. Node v22 breaks."
        );
        assert_eq!(derive_summary("日本語の文。次の文"), "日本語の文。");
        assert_eq!(
            derive_summary("no terminator at all"),
            "no terminator at all"
        );
    }
}
