//! Save-quality checks: warnings that never block a save, and detection of
//! tool-call markup leaked into a field (which does block an MCP save).

use std::sync::LazyLock;

use regex::Regex;

/// A warning about what is being saved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LintWarning {
    /// Stable code, e.g. `GENERIC_NOISE`.
    pub code: &'static str,
    /// Human explanation.
    pub message: String,
}

const GENERIC_NOISE: [&str; 10] = [
    "tests pass",
    "test passed",
    "all tests pass",
    "done",
    "完了",
    "進捗",
    "pass",
    "ok",
    "green",
    "build succeeded",
];

static SECRET_PATTERNS: LazyLock<Vec<(&'static str, Regex)>> = LazyLock::new(|| {
    [
        ("sk-*** (OpenAI-style API key)", r"sk-[A-Za-z0-9]{20,}"),
        ("ghp_*** (GitHub PAT)", r"ghp_[A-Za-z0-9]{10,}"),
        (
            "Bearer *** (HTTP Bearer token)",
            r"Bearer [A-Za-z0-9._-]{20,}",
        ),
    ]
    .into_iter()
    .filter_map(|(name, re)| Regex::new(re).ok().map(|r| (name, r)))
    .collect()
});

const SAVE_PARAMS: &str = "content|subject|summary|project|tags|memory_type|importance\
     |source_files|references|supersedes|visibility|expires_at|ttl_sec";

static FRAGMENT_PATTERNS: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    [
        // A field's closing tag welded to the next parameter's tag.
        format!(r"</\s*(?:content|subject|summary)\s*>\s*</?(?:{SAVE_PARAMS})>"),
        // The <parameter name="..."> notation naming one of our parameters.
        format!(r#"<parameter\s+name="(?:{SAVE_PARAMS})""#),
    ]
    .iter()
    .filter_map(|re| Regex::new(re).ok())
    .collect()
});

/// Warnings for an observation about to be saved; empty when it looks fine.
pub fn lint_observation(content: &str, memory_type: &str, subject: &str) -> Vec<LintWarning> {
    let mut out = Vec::new();
    if content.len() < 100 && GENERIC_NOISE.contains(&content.trim().to_lowercase().as_str()) {
        out.push(LintWarning {
            code: "GENERIC_NOISE",
            message:
                "Content appears to be generic progress/status noise (e.g. 'tests pass', 'done')."
                    .to_owned(),
        });
    }
    if matches!(memory_type, "decision" | "config") && subject.trim().is_empty() {
        out.push(LintWarning {
            code: "MISSING_SUBJECT",
            message: format!("memory_type '{memory_type}' should have a non-empty subject."),
        });
    }
    if let Some((name, _)) = SECRET_PATTERNS.iter().find(|(_, re)| re.is_match(content)) {
        out.push(LintWarning {
            code: "SECRET_PATTERN",
            message: format!("Content may contain a secret/token (matched pattern: {name})."),
        });
    }
    out
}

/// The tool-call markup leaked into `text`, if any.
pub fn find_tool_call_fragment(text: &str) -> Option<String> {
    FRAGMENT_PATTERNS
        .iter()
        .find_map(|re| re.find(text).map(|m| m.as_str().to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_secrets_and_missing_subjects_warn() {
        let codes = |w: Vec<LintWarning>| w.into_iter().map(|w| w.code).collect::<Vec<_>>();
        assert_eq!(
            codes(lint_observation("Tests pass", "note", "s")),
            vec!["GENERIC_NOISE"]
        );
        assert_eq!(
            codes(lint_observation("x", "decision", " ")),
            vec!["MISSING_SUBJECT"]
        );
        assert_eq!(
            codes(lint_observation(
                "key sk-abcdefghijklmnopqrstuvwxyz",
                "note",
                "s"
            )),
            vec!["SECRET_PATTERN"]
        );
        assert!(lint_observation("a real finding about caching", "bug", "cache").is_empty());
    }

    #[test]
    fn tool_call_fragments_are_found_anywhere() {
        assert!(find_tool_call_fragment("text</content>\n<subject>x").is_some());
        assert!(find_tool_call_fragment(r#"body <parameter name="summary">x"#).is_some());
        assert!(find_tool_call_fragment("a note about </div> tags").is_none());
        assert!(find_tool_call_fragment(r#"<parameter name="other">"#).is_none());
    }
}
