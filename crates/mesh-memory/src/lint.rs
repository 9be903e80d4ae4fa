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

/// A token shape that looks like a secret: a fixed prefix followed by at
/// least `min_run` characters of the token alphabet.
///
/// Matched by hand rather than by regex: every one-shot `save` lints, and
/// compiling even three small regexes costs a tenth of a millisecond (the
/// regex engine builds full DFAs, a feature another dependency enables).
struct SecretPattern {
    name: &'static str,
    prefix: &'static str,
    min_run: usize,
    in_token: fn(u8) -> bool,
    // Read by the unit test only.
    #[cfg_attr(not(test), allow(dead_code))]
    example: &'static str,
}

impl SecretPattern {
    /// True when some occurrence of the prefix is followed by a long
    /// enough run of token characters.
    fn is_match(&self, text: &str) -> bool {
        text.match_indices(self.prefix).any(|(at, _)| {
            let token = &text.as_bytes()[at + self.prefix.len()..];
            token.len() >= self.min_run && token[..self.min_run].iter().all(|b| (self.in_token)(*b))
        })
    }
}

fn alphanumeric(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

fn bearer_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')
}

static SECRET_PATTERNS: [SecretPattern; 3] = [
    SecretPattern {
        name: "sk-*** (OpenAI-style API key)",
        prefix: "sk-",
        min_run: 20,
        in_token: alphanumeric,
        example: "key sk-abcdefghijklmnopqrstuvwxyz",
    },
    SecretPattern {
        name: "ghp_*** (GitHub PAT)",
        prefix: "ghp_",
        min_run: 10,
        in_token: alphanumeric,
        example: "token ghp_0123456789abcdef",
    },
    SecretPattern {
        name: "Bearer *** (HTTP Bearer token)",
        prefix: "Bearer ",
        min_run: 20,
        in_token: bearer_token,
        example: "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.abc",
    },
];

/// A pattern as written in the source: what it catches, its regex, and a
/// text it is meant to catch (the unit test checks both compile and match).
struct Pattern {
    name: &'static str,
    regex: &'static str,
    // Read by the unit test only.
    #[cfg_attr(not(test), allow(dead_code))]
    example: &'static str,
}

/// The save tool's parameter names, as a regex alternation.
macro_rules! save_params {
    () => {
        "content|subject|summary|project|tags|memory_type|importance\
         |source_files|references|supersedes|visibility|expires_at|ttl_sec"
    };
}

static FRAGMENT_PATTERNS: [Pattern; 2] = [
    Pattern {
        name: "a field's closing tag welded to the next parameter's tag",
        regex: concat!(
            r"</\s*(?:content|subject|summary)\s*>\s*</?(?:",
            save_params!(),
            ")>"
        ),
        example: "text</content>\n<subject>x",
    },
    Pattern {
        name: "the <parameter name=\"...\"> notation naming one of our parameters",
        regex: concat!(r#"<parameter\s+name="(?:"#, save_params!(), r#")""#),
        example: r#"body <parameter name="summary">x"#,
    },
];

/// Compile `table` once. The patterns are constants, so a failure is a bug
/// (the unit test catches it); should one slip through anyway it is logged
/// as an error rather than dropped without a word, and the other patterns
/// keep working.
fn compile(table: &'static [Pattern]) -> Vec<(&'static Pattern, Regex)> {
    table
        .iter()
        .filter_map(|p| match Regex::new(p.regex) {
            Ok(re) => Some((p, re)),
            Err(e) => {
                tracing::error!(
                    "lint pattern '{}' does not compile and is skipped: {e}",
                    p.name
                );
                None
            }
        })
        .collect()
}

static FRAGMENTS: LazyLock<Vec<(&'static Pattern, Regex)>> =
    LazyLock::new(|| compile(&FRAGMENT_PATTERNS));

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
    if let Some(pattern) = SECRET_PATTERNS.iter().find(|p| p.is_match(content)) {
        out.push(LintWarning {
            code: "SECRET_PATTERN",
            message: format!(
                "Content may contain a secret/token (matched pattern: {}).",
                pattern.name
            ),
        });
    }
    out
}

/// The tool-call markup leaked into `text`, if any.
pub fn find_tool_call_fragment(text: &str) -> Option<String> {
    FRAGMENTS
        .iter()
        .find_map(|(_, re)| re.find(text).map(|m| m.as_str().to_owned()))
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
    fn every_pattern_compiles_and_catches_its_example() {
        for p in &FRAGMENT_PATTERNS {
            let re = Regex::new(p.regex)
                .unwrap_or_else(|e| panic!("pattern '{}' does not compile: {e}", p.name));
            assert!(
                re.is_match(p.example),
                "pattern '{}' misses {:?}",
                p.name,
                p.example
            );
        }
        // Nothing was lost on the way into the compiled set.
        assert_eq!(FRAGMENTS.len(), FRAGMENT_PATTERNS.len());
        for p in &SECRET_PATTERNS {
            assert!(
                lint_observation(p.example, "note", "s")
                    .iter()
                    .any(|w| w.code == "SECRET_PATTERN" && w.message.contains(p.name)),
                "{}",
                p.name
            );
        }
        for p in &FRAGMENT_PATTERNS {
            assert!(find_tool_call_fragment(p.example).is_some(), "{}", p.name);
        }
    }

    /// The hand matchers agree with the regexes they replace
    /// (`sk-[A-Za-z0-9]{20,}`, `ghp_[A-Za-z0-9]{10,}`,
    /// `Bearer [A-Za-z0-9._-]{20,}`), at the edges of each rule.
    #[test]
    fn secret_shapes_match_like_their_regexes() {
        let regexes = [
            r"sk-[A-Za-z0-9]{20,}",
            r"ghp_[A-Za-z0-9]{10,}",
            r"Bearer [A-Za-z0-9._-]{20,}",
        ];
        let texts = [
            "sk-abcdefghijklmnopqrst",
            "sk-abcdefghijklmnopqrs",
            "sk-abcdefghij.klmnopqrstuvw",
            "xsk-sk-abcdefghijklmnopqrstuvwxyz",
            "sk-sk-abcdefghijklmnopqrst",
            "ghp_0123456789",
            "ghp_012345678",
            "ghp_ghp_0123456789",
            "Bearer a.b_c-d0123456789abcdefg",
            "Bearer a.b_c-d0123456789abcdef",
            "Bearer  abcdefghijklmnopqrstuvwxyz",
            "bearer abcdefghijklmnopqrstuvwxyz",
            "sk-ééééééééééééééééééééééé",
            "終わり sk-",
            "",
        ];
        for (pattern, regex) in SECRET_PATTERNS.iter().zip(regexes) {
            let re = Regex::new(regex).unwrap();
            for text in texts {
                assert_eq!(
                    pattern.is_match(text),
                    re.is_match(text),
                    "{} on {text:?}",
                    pattern.name
                );
            }
        }
    }

    #[test]
    fn tool_call_fragments_are_found_anywhere() {
        assert!(find_tool_call_fragment("text</content>\n<subject>x").is_some());
        assert!(find_tool_call_fragment(r#"body <parameter name="summary">x"#).is_some());
        assert!(find_tool_call_fragment("a note about </div> tags").is_none());
        assert!(find_tool_call_fragment(r#"<parameter name="other">"#).is_none());
    }
}
