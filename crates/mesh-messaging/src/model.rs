//! The message and ack on the wire, in the reference's JSON: field names,
//! order and defaults as its `Message.to_json` writes them. Reading is
//! tolerant: fields we do not know are kept (and written back), and a
//! missing optional field takes the reference's default.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{MessagingError, Result};

/// The schema version the reference writes (a string).
pub const SCHEMA_VERSION: &str = "1.0";

/// Who a message is addressed to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipient {
    /// One session (`KIOKU_MESH_SESSION_ID` of the recipient process).
    Session(String),
    /// Every session of one agent (its client id, e.g. `alice@laptop`).
    Agent(String),
}

impl Recipient {
    /// The `recipient` object of the wire form.
    pub fn to_json(&self) -> Value {
        match self {
            Self::Session(id) => serde_json::json!({ "kind": "session", "session_id": id }),
            Self::Agent(id) => serde_json::json!({ "kind": "agent", "agent_id": id }),
        }
    }

    /// Read the `recipient` object (the reference defaults to a session).
    pub fn from_json(value: &Value) -> Option<Self> {
        let field = |name: &str| value.get(name).and_then(Value::as_str).unwrap_or_default();
        match value
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("session")
        {
            "agent" if !field("agent_id").is_empty() => {
                Some(Self::Agent(field("agent_id").to_owned()))
            }
            "session" => {
                let id = Some(field("session_id"))
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| field("id"));
                (!id.is_empty()).then(|| Self::Session(id.to_owned()))
            }
            _ => None,
        }
    }
}

/// A message, as stored under an inbox key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// 32 lowercase hex characters.
    #[serde(default = "new_msg_id")]
    pub msg_id: String,
    /// The sender's agent id.
    pub sender_id: String,
    /// `mesh`, `user/<id>` or `team/<id>`.
    pub scope: String,
    /// The legacy body; readers fall back to it when `body` is empty.
    pub payload: Value,
    /// When it was sent (wire timestamp form).
    #[serde(default = "mesh_core::timestamp::now")]
    pub created_at: String,
    /// When it expires, if it does.
    #[serde(default)]
    pub expires_at: Option<String>,
    /// Lifetime in seconds from `created_at`, if set.
    #[serde(default)]
    pub ttl_sec: Option<u64>,
    /// Sender-side sequence number (sort tie-break only).
    #[serde(default)]
    pub sender_seq: Option<i64>,
    /// Always `"1.0"` when we write.
    #[serde(default = "schema_version")]
    pub schema_version: String,
    /// `direct` for addressed messages.
    #[serde(default = "direct")]
    pub kind: String,
    /// `{"agent_id", "session_id"}` of the sender.
    #[serde(default = "empty_object")]
    pub sender: Value,
    /// `{"kind": "session"|"agent", ...}`.
    #[serde(default = "empty_object")]
    pub recipient: Value,
    /// The body: text, or any JSON.
    #[serde(default = "empty_object")]
    pub body: Value,
    /// MIME type of the body.
    #[serde(default = "text_plain")]
    pub content_type: String,
    /// Whether the sender asked for an acknowledgement.
    #[serde(default)]
    pub requires_ack: bool,
    /// Delivery adapters requested (e.g. `tmux`).
    #[serde(default)]
    pub delivery_adapters: Vec<String>,
    /// The thread: the first message's id.
    #[serde(default)]
    pub correlation_id: Option<String>,
    /// Fields we do not know, kept as read (the reference's `subject` lives here).
    #[serde(flatten)]
    pub extras: Map<String, Value>,
}

fn new_msg_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}
fn schema_version() -> String {
    SCHEMA_VERSION.to_owned()
}
fn direct() -> String {
    "direct".to_owned()
}
fn text_plain() -> String {
    "text/plain".to_owned()
}
fn empty_object() -> Value {
    Value::Object(Map::new())
}

/// A new message id: 32 lowercase hex characters.
pub fn new_id() -> String {
    new_msg_id()
}

/// Whether `text` is a message id (32 lowercase hex characters).
pub fn is_msg_id(text: &str) -> bool {
    text.len() == 32
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl Message {
    /// Parse a stored message.
    pub fn from_json(text: &str) -> Result<Self> {
        serde_json::from_str(text).map_err(|e| MessagingError::Undecodable(e.to_string()))
    }

    /// The wire form.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The subject (kept among the extras, as the reference does).
    pub fn subject(&self) -> &str {
        self.extras
            .get("subject")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    /// The body a reader sees: `body`, or `payload` when `body` is empty.
    pub fn visible_body(&self) -> &Value {
        let empty = match &self.body {
            Value::Null => true,
            Value::String(s) => s.is_empty(),
            Value::Object(o) => o.is_empty(),
            Value::Array(a) => a.is_empty(),
            _ => false,
        };
        if empty { &self.payload } else { &self.body }
    }

    /// The addressee.
    pub fn recipient(&self) -> Option<Recipient> {
        Recipient::from_json(&self.recipient)
    }

    /// The sender's agent id (`sender.agent_id`, else `sender_id`).
    pub fn sender_agent(&self) -> &str {
        self.sender
            .get("agent_id")
            .and_then(Value::as_str)
            .unwrap_or(&self.sender_id)
    }

    /// The sender's session id, when given.
    pub fn sender_session(&self) -> &str {
        self.sender
            .get("session_id")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    /// When it expires: `expires_at`, else `created_at + ttl_sec`, else never.
    pub fn expiry(&self) -> Option<DateTime<Utc>> {
        if let Some(at) = self
            .expires_at
            .as_deref()
            .and_then(mesh_core::timestamp::parse)
        {
            return Some(at);
        }
        let ttl = self.ttl_sec?;
        let created = mesh_core::timestamp::parse(&self.created_at)?;
        created.checked_add_signed(chrono::TimeDelta::try_seconds(i64::try_from(ttl).ok()?)?)
    }

    /// Whether it has expired at `now`.
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expiry().is_some_and(|at| now >= at)
    }
}

/// An acknowledgement, as put under an ack key. The reference writes the
/// first three fields; `acked_at` and `recipient_agent_id` are ours (it
/// never reads acks, so extra fields are harmless).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    /// The message acknowledged.
    pub msg_id: String,
    /// The acknowledging session.
    pub recipient_session_id: String,
    /// Always `acknowledged`.
    #[serde(default = "acknowledged")]
    pub status: String,
    /// When (wire form).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acked_at: Option<String>,
    /// The acknowledging agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient_agent_id: Option<String>,
}

fn acknowledged() -> String {
    "acknowledged".to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reference_message_reads_with_defaults_and_keeps_unknown_fields() {
        let text = r#"{"msg_id": "0123456789abcdef0123456789abcdef", "sender_id": "bob@desk", "scope": "mesh", "payload": {}, "created_at": "2026-06-24T01:02:03.123456Z", "expires_at": null, "ttl_sec": 60, "sender_seq": null, "schema_version": "1.0", "kind": "direct", "sender": {"agent_id": "bob@desk", "session_id": "s1"}, "recipient": {"kind": "agent", "agent_id": "alice@mbp"}, "body": "hello", "content_type": "text/plain", "requires_ack": false, "delivery_adapters": [], "correlation_id": null, "subject": "hi", "priority": "high"}"#;
        let m = Message::from_json(text).unwrap();
        assert_eq!(m.subject(), "hi");
        assert_eq!(m.recipient(), Some(Recipient::Agent("alice@mbp".into())));
        assert_eq!(m.visible_body(), &Value::String("hello".into()));
        let back = m.to_json();
        assert!(back.contains(r#""priority":"high""#), "{back}");
        assert!(back.starts_with(r#"{"msg_id":"0123456789abcdef0123456789abcdef","sender_id""#));
        let created = mesh_core::timestamp::parse(&m.created_at).unwrap();
        assert!(!m.is_expired(created + chrono::TimeDelta::seconds(59)));
        assert!(m.is_expired(created + chrono::TimeDelta::seconds(60)));
    }

    #[test]
    fn missing_required_fields_are_an_error_and_a_missing_id_is_made() {
        assert!(Message::from_json(r#"{"sender_id": "a", "scope": "mesh"}"#).is_err());
        assert!(Message::from_json("[1]").is_err());
        let m =
            Message::from_json(r#"{"sender_id": "a", "scope": "mesh", "payload": "p"}"#).unwrap();
        assert!(is_msg_id(&m.msg_id));
        assert_eq!(m.visible_body(), &Value::String("p".into()));
    }

    #[test]
    fn recipients_follow_the_reference() {
        let session = Recipient::from_json(&serde_json::json!({"id": "s9"}));
        assert_eq!(session, Some(Recipient::Session("s9".into())));
        assert_eq!(
            Recipient::from_json(&serde_json::json!({"kind": "agent"})),
            None
        );
        assert_eq!(
            Recipient::from_json(&serde_json::json!({"kind": "group", "id": "x"})),
            None
        );
    }
}
