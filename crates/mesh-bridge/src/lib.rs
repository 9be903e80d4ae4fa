//! mesh-bridge: the one crate that sees both memory and messaging.
//!
//! - [`promote`]: a message becomes an observation (`msg promote`, and on
//!   receipt when its sender marked it with `promote_hint`), with the
//!   reference's fields: type note, importance from the message's priority,
//!   tags `messaging-promoted`, `sender:<id>`, `scope:<scope>`, references
//!   to the msg_id and thread, and the scope's visibility.
//!
//! - [`tmux`]: opt-in delivery of a message into a tmux pane, with pane,
//!   sender and scope allowlists and the 8 KiB limit.
//!
//! Architecture invariant: the only workspace crate allowed to depend on
//! both mesh-memory and mesh-messaging.

#![deny(missing_docs)]

pub mod tmux;

use mesh_core::{MemoryType, Visibility};
use mesh_memory::{AnyStore, Memory, MemoryError, SaveOutcome, SaveRequest};
use mesh_messaging::Message;
use serde_json::Value;

/// Whether the sender asked for the message to be kept as memory
/// (`metadata.promote_hint` or `payload.promote_hint` true, as the
/// reference reads it).
pub fn promote_hint(msg: &Message) -> bool {
    let hinted = |v: Option<&Value>| {
        v.and_then(|v| v.get("promote_hint"))
            .and_then(Value::as_bool)
            == Some(true)
    };
    hinted(msg.extras.get("metadata")) || hinted(Some(&msg.payload))
}

fn priority(msg: &Message) -> Option<String> {
    [&msg.payload, &msg.body]
        .into_iter()
        .find_map(|v| v.get("priority").and_then(Value::as_str))
        .or_else(|| msg.extras.get("priority").and_then(Value::as_str))
        .map(str::to_owned)
}

/// The observation a message becomes.
pub fn promotion_request(msg: &Message) -> Result<SaveRequest, MemoryError> {
    for (field, value) in [
        ("msg_id", &msg.msg_id),
        ("sender_id", &msg.sender_id),
        ("scope", &msg.scope),
    ] {
        if value.is_empty() {
            return Err(MemoryError::InvalidArgument(format!(
                "Message.{field} is required for promotion"
            )));
        }
    }
    let importance = match priority(msg).as_deref() {
        Some("high") => 3,
        Some("low") => 1,
        _ => 2,
    };
    let visibility = match msg.scope.split('/').next() {
        Some("user") => Visibility::User,
        Some("team") => Visibility::Team,
        _ => Visibility::Mesh,
    };
    let body = match msg.visible_body() {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let created = mesh_core::timestamp::parse(&msg.created_at)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| msg.created_at.clone());
    let subject = Some(msg.subject().trim())
        .filter(|s| !s.is_empty())
        .map_or_else(
            || format!("message from {}", msg.sender_agent()),
            str::to_owned,
        );
    let mut references = vec![format!("msg_id:{}", msg.msg_id)];
    if let Some(c) = &msg.correlation_id {
        references.push(format!("correlation_id:{c}"));
    }
    Ok(SaveRequest {
        content: body,
        subject,
        summary: format!(
            "[promoted from msg:{}] {created}",
            msg.msg_id.get(..8).unwrap_or(&msg.msg_id)
        ),
        tags: vec![
            "messaging-promoted".to_owned(),
            format!("sender:{}", msg.sender_agent()),
            format!("scope:{}", msg.scope),
        ],
        memory_type: MemoryType::Note,
        importance,
        references,
        visibility: Some(visibility),
        ..SaveRequest::default()
    })
}

/// On receipt: save `msg` as an observation when its sender marked it
/// (`promote_hint`) and no observation refers to it yet (another session
/// of the agent, or an earlier run, may have promoted it). Returns the
/// saved observation, or `None` when nothing was to be done.
pub async fn promote_if_marked(
    memory: &Memory<AnyStore>,
    msg: &Message,
) -> Result<Option<SaveOutcome>, MemoryError> {
    if !promote_hint(msg) {
        return Ok(None);
    }
    let query = mesh_memory::SearchQuery {
        references: vec![format!("msg_id:{}", msg.msg_id)],
        limit: 1,
        ..mesh_memory::SearchQuery::default()
    };
    if !memory.search(&query).await?.is_empty() {
        return Ok(None);
    }
    promote(memory, msg).await.map(Some)
}

/// Save `msg` as an observation in `memory`.
pub async fn promote(memory: &Memory<AnyStore>, msg: &Message) -> Result<SaveOutcome, MemoryError> {
    memory.save(&promotion_request(msg)?).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(extra: &str) -> Message {
        Message::from_json(&format!(
            r#"{{"msg_id": "0123456789abcdef0123456789abcdef", "sender_id": "bob@desk", "scope": "team/core", "payload": {{"priority": "high"}}, "created_at": "2026-06-24T01:02:03.123456Z", "body": "ship the migration", "correlation_id": "ffffffffffffffffffffffffffffffff"{extra}}}"#
        ))
        .unwrap()
    }

    #[test]
    fn a_message_becomes_the_reference_shaped_observation() {
        let r = promotion_request(&message(r#", "subject": "migration""#)).unwrap();
        assert_eq!(r.subject, "migration");
        assert_eq!(
            r.summary,
            "[promoted from msg:01234567] 2026-06-24T01:02:03Z"
        );
        assert_eq!(r.importance, 3);
        assert_eq!(r.visibility, Some(Visibility::Team));
        assert_eq!(
            r.tags,
            ["messaging-promoted", "sender:bob@desk", "scope:team/core"]
        );
        assert_eq!(
            r.references,
            [
                "msg_id:0123456789abcdef0123456789abcdef",
                "correlation_id:ffffffffffffffffffffffffffffffff"
            ]
        );
        assert_eq!(r.content, "ship the migration");
    }

    #[test]
    fn the_hint_is_read_where_the_reference_reads_it() {
        assert!(!promote_hint(&message("")));
        assert!(promote_hint(&message(
            r#", "metadata": {"promote_hint": true}"#
        )));
    }
}
