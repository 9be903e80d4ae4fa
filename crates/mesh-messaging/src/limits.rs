//! Size limits and the reference's texts for them. All limits are
//! inclusive: a body of exactly the limit passes.

use serde_json::Value;

/// Largest message body, in UTF-8 bytes.
pub const MAX_BODY_BYTES: usize = 65_536;
/// Largest message envelope (the whole stored JSON), in bytes.
pub const MAX_ENVELOPE_BYTES: usize = 196_608;
/// Largest body the tmux adapter types into a pane, in UTF-8 bytes.
pub const MAX_TMUX_BODY_BYTES: usize = 8_192;
/// Largest subject, in UTF-8 bytes.
pub const MAX_SUBJECT_BYTES: usize = 4_096;
/// Largest metadata value (ids, scope) shown on receipt, in bytes.
pub const MAX_METADATA_FIELD_BYTES: usize = 1_024;

/// The channel a size was checked for; it picks the hint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// A body sent or received through MCP or the CLI.
    Mcp,
    /// The whole stored envelope.
    Envelope,
    /// Typing into a tmux pane.
    Tmux,
}

impl Channel {
    fn name(self) -> &'static str {
        match self {
            Self::Mcp => "mcp",
            Self::Envelope => "envelope",
            Self::Tmux => "tmux",
        }
    }

    fn hint(self) -> &'static str {
        match self {
            Self::Mcp => {
                "Shorten the body, or store the full content with save_observation and send a short pointer (observation_id) instead."
            }
            Self::Envelope => {
                "Shorten the body and any payload/metadata fields, or store the full content with save_observation and send a short pointer (observation_id) instead."
            }
            Self::Tmux => {
                "Shorten the body for tmux injection, or drop \"tmux\" from delivery_adapters and let the recipient read the full message via check_messages."
            }
        }
    }
}

/// The byte length the reference measures: UTF-8 of a string, else of the
/// value's JSON text (with Python's `", "` / `": "` separators).
pub fn body_byte_len(body: &Value) -> usize {
    match body {
        Value::String(s) => s.len(),
        other => python_json(other).len(),
    }
}

/// JSON text as Python's `json.dumps(ensure_ascii=False)` writes it.
fn python_json(value: &Value) -> String {
    match value {
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(python_json).collect();
            format!("[{}]", inner.join(", "))
        }
        Value::Object(map) => {
            let inner: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", Value::String(k.clone()), python_json(v)))
                .collect();
            format!("{{{}}}", inner.join(", "))
        }
        other => other.to_string(),
    }
}

/// The reference's refusal text for `size` bytes over `limit`.
pub fn too_large(size: usize, limit: usize, channel: Channel, msg_id: &str) -> String {
    let what = if channel == Channel::Envelope {
        "message envelope"
    } else {
        "message body"
    };
    let place = if msg_id.is_empty() {
        String::new()
    } else {
        format!(" (msg_id='{msg_id}')")
    };
    format!(
        "{what} is {size} bytes, over the {limit}-byte ({} KiB) limit for the {} channel{place}. {}",
        limit / 1024,
        channel.name(),
        channel.hint()
    )
}

/// `Err(text)` when `body` is over `limit` for `channel`.
pub fn check_body(
    body: &Value,
    limit: usize,
    channel: Channel,
    msg_id: &str,
) -> Result<(), String> {
    let size = body_byte_len(body);
    if size > limit {
        Err(too_large(size, limit, channel, msg_id))
    } else {
        Ok(())
    }
}

/// The placeholder shown instead of a withheld body.
pub fn withheld_body_notice(reason: &str, fields: &[String]) -> String {
    let mut text = format!("[kioku-mesh: message body withheld \u{2014} {reason}]");
    if !fields.is_empty() {
        text.push_str(&format!(
            " Also withheld from this response: {}.",
            fields.join(", ")
        ));
    }
    text
}

/// The placeholder shown instead of a withheld field.
pub fn withheld_field_notice(field: &str, size: usize, limit: usize) -> String {
    format!("[kioku-mesh: {field} withheld \u{2014} {size} bytes, over the {limit}-byte limit]")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_texts_follow_the_reference() {
        assert_eq!(body_byte_len(&Value::String("日本".into())), 6);
        assert_eq!(body_byte_len(&serde_json::json!({})), 2);
        assert_eq!(
            body_byte_len(&serde_json::json!({"a": [1, 2]})),
            r#"{"a": [1, 2]}"#.len()
        );
        let at_limit = Value::String("x".repeat(MAX_BODY_BYTES));
        assert!(check_body(&at_limit, MAX_BODY_BYTES, Channel::Mcp, "").is_ok());
        let over = Value::String("x".repeat(MAX_BODY_BYTES + 1));
        let e = check_body(&over, MAX_BODY_BYTES, Channel::Mcp, "over-1").unwrap_err();
        assert_eq!(
            e,
            "message body is 65537 bytes, over the 65536-byte (64 KiB) limit for the mcp channel (msg_id='over-1'). Shorten the body, or store the full content with save_observation and send a short pointer (observation_id) instead."
        );
        assert_eq!(
            withheld_field_notice("subject", 5000, 4096),
            "[kioku-mesh: subject withheld \u{2014} 5000 bytes, over the 4096-byte limit]"
        );
    }

    #[test]
    fn tmux_limit_matches_the_core_default() {
        let core_default = mesh_core::config::TmuxAdapterConfig::default().max_body_bytes;
        assert_eq!(MAX_TMUX_BODY_BYTES as u64, core_default);
    }
}
