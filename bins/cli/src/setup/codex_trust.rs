//! Codex's trust in hooks: the `trusted_hash` of a hook definition
//! ([`trust_hash`]) and the `[hooks.state."<key>"]` tables of `config.toml`
//! that hold it, edited in place with the rest of the file kept.

use std::path::Path;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::{Result, SetupError};

/// The timeout (seconds) Codex gives a handler that sets none; the hash
/// covers the effective value.
const DEFAULT_TIMEOUT: u64 = 600;

/// The `trusted_hash` Codex expects for a hook group of one command
/// handler: `sha256:` and the hex sha256 of its identity
/// `{"event_name", "hooks": [{"async": false, "command", "timeout",
/// "type": "command"}], "matcher"?}`, keys sorted, compact, non-ASCII as
/// is. The timeout is Codex's default (600) when unset, at least 1; the
/// matcher counts only for events that use one (not `user_prompt_submit`
/// or `stop`).
pub fn trust_hash(
    event_snake: &str,
    matcher: Option<&str>,
    command: &str,
    timeout: Option<u64>,
) -> String {
    // Keys go in sorted order: the map keeps the order of insertion.
    let mut handler = Map::new();
    handler.insert("async".to_owned(), Value::Bool(false));
    handler.insert("command".to_owned(), Value::String(command.to_owned()));
    handler.insert(
        "timeout".to_owned(),
        Value::from(timeout.unwrap_or(DEFAULT_TIMEOUT).max(1)),
    );
    handler.insert("type".to_owned(), Value::String("command".to_owned()));
    let mut identity = Map::new();
    identity.insert(
        "event_name".to_owned(),
        Value::String(event_snake.to_owned()),
    );
    identity.insert(
        "hooks".to_owned(),
        Value::Array(vec![Value::Object(handler)]),
    );
    if let Some(m) = matcher.filter(|_| !matches!(event_snake, "user_prompt_submit" | "stop")) {
        identity.insert("matcher".to_owned(), Value::String(m.to_owned()));
    }
    let digest = Sha256::digest(Value::Object(identity).to_string().as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// One trust entry `config.toml` needs.
pub struct Trust {
    /// `<hooks.json>:<event_snake>:<group>:<handler>`.
    pub key: String,
    /// The definition's [`trust_hash`].
    pub hash: String,
    /// The event, as the hook files spell it.
    pub event: &'static str,
}

/// `text` (empty when `None`) parsed as `path`'s TOML.
pub fn parse_toml(path: &Path, text: Option<&str>) -> Result<toml_edit::DocumentMut> {
    text.unwrap_or_default()
        .parse()
        .map_err(
            |e: toml_edit::TomlError| SetupError::MalformedClientConfig {
                path: path.to_path_buf(),
                format: "TOML",
                message: e.to_string().trim().to_owned(),
            },
        )
}

fn implicit_table() -> toml_edit::Item {
    let mut t = toml_edit::Table::new();
    t.set_implicit(true);
    toml_edit::Item::Table(t)
}

/// Set each `trust` entry under `hooks.state` of `doc` (the file at
/// `path`), returning the events whose hash was missing or different.
pub fn set_trust(
    doc: &mut toml_edit::Table,
    trust: &[Trust],
    path: &Path,
) -> Result<Vec<&'static str>> {
    let shape = |problem: &str| SetupError::ClientConfigShape {
        path: path.to_path_buf(),
        problem: problem.to_owned(),
    };
    let hooks = doc
        .entry("hooks")
        .or_insert_with(implicit_table)
        .as_table_mut()
        .ok_or_else(|| shape("hooks is not a table"))?;
    let state = hooks
        .entry("state")
        .or_insert_with(implicit_table)
        .as_table_mut()
        .ok_or_else(|| shape("hooks.state is not a table"))?;
    let mut changed = Vec::new();
    for t in trust {
        let current = state
            .get(&t.key)
            .and_then(|item| item.get("trusted_hash"))
            .and_then(toml_edit::Item::as_str);
        if current == Some(t.hash.as_str()) {
            continue;
        }
        changed.push(t.event);
        if let Some(table) = state
            .get_mut(&t.key)
            .and_then(toml_edit::Item::as_table_like_mut)
        {
            table.insert("trusted_hash", toml_edit::value(t.hash.as_str()));
        } else {
            let mut table = toml_edit::Table::new();
            table.decor_mut().set_prefix("\n");
            table.insert("trusted_hash", toml_edit::value(t.hash.as_str()));
            state.insert(&t.key, toml_edit::Item::Table(table));
        }
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_match_codex() {
        // Checked against Codex CLI 0.171.
        assert_eq!(
            trust_hash(
                "pre_tool_use",
                Some("Bash"),
                "/tmp/hook.sh PreToolUse",
                Some(30)
            ),
            "sha256:36fcbe15dade379153dbf1664f9175ab922c1bf262e9d22deddab1680f22b128"
        );
        // Computed with the reference implementation (Python, json.dumps
        // with sort_keys, compact separators, ensure_ascii=False).
        assert_eq!(
            trust_hash(
                "session_start",
                Some("startup|resume|clear"),
                "/opt/km/kioku-mesh msg hook --event session-start",
                Some(30)
            ),
            "sha256:39945f69d36b340acc810b2fc93fd72fb367d55c0bdd6fba0261662beed8887d"
        );
        assert_eq!(
            trust_hash(
                "session_start",
                None,
                "/opt/km/kioku-mesh msg hook --event session-start",
                None
            ),
            "sha256:38f069b60bf4d6b6dd04e38bef2a5a6fead7c07224bcb30eaaa0e8f8d7575177"
        );
        // Stop ignores a matcher; non-ASCII stays as is; a timeout is at least 1.
        let stop = "/opt/km/kioku-mesh msg hook --event stop";
        assert_eq!(
            trust_hash("stop", Some("ignored"), stop, None),
            "sha256:02d91afdbc86f71426b75b9916ae68cecae2e6fe60b3de7444362b6eccc847ce"
        );
        assert_eq!(
            trust_hash("stop", None, stop, None),
            trust_hash("stop", Some("ignored"), stop, None)
        );
        assert_eq!(
            trust_hash(
                "user_prompt_submit",
                None,
                "/opt/km/kiokü-mesh msg hook --event user-prompt-submit",
                Some(0)
            ),
            "sha256:f34cfda7e432cf0edb873bb1c663adf978c32e0f182a08ec8461cb08c2dca2e6"
        );
    }

    #[test]
    fn trust_is_added_renewed_and_left_when_current() {
        let path = Path::new("/c/config.toml");
        let before = "model = \"o3\" # mine\n\n[hooks.state.\"/c/hooks.json:stop:0:0\"]\ntrusted_hash = \"sha256:old\"\nenabled = true\n";
        let mut doc = parse_toml(path, Some(before)).unwrap();
        let trust = |key: &str, hash: &str| Trust {
            key: key.to_owned(),
            hash: hash.to_owned(),
            event: "Stop",
        };
        let wanted = [
            trust("/c/hooks.json:stop:0:0", "sha256:new"),
            trust("/c/hooks.json:stop:1:0", "sha256:other"),
        ];
        assert_eq!(
            set_trust(doc.as_table_mut(), &wanted, path).unwrap(),
            ["Stop", "Stop"]
        );
        let text = doc.to_string();
        assert!(text.starts_with("model = \"o3\" # mine\n"), "{text}");
        let again = parse_toml(path, Some(text.as_str())).unwrap();
        let state = &again["hooks"]["state"];
        assert_eq!(
            state["/c/hooks.json:stop:0:0"]["trusted_hash"].as_str(),
            Some("sha256:new")
        );
        assert_eq!(
            state["/c/hooks.json:stop:0:0"]["enabled"].as_bool(),
            Some(true)
        );
        assert_eq!(
            state["/c/hooks.json:stop:1:0"]["trusted_hash"].as_str(),
            Some("sha256:other")
        );
        let mut doc = again;
        assert!(
            set_trust(doc.as_table_mut(), &wanted, path)
                .unwrap()
                .is_empty()
        );
        assert_eq!(doc.to_string(), text);
        let mut bad = parse_toml(path, Some("hooks = 3\n")).unwrap();
        assert!(set_trust(bad.as_table_mut(), &wanted, path).is_err());
        assert!(parse_toml(path, Some("[hooks\n")).is_err());
    }
}
