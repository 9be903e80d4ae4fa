//! What a listing shows of a message, in the reference's `check_messages`
//! shapes: the message item (with oversized fields withheld, never
//! truncated), the diagnostic for an arrival that is not mail, and the one
//! for an arrival that could not be read.

use serde_json::{Value, json};

use crate::inbox::Verdict;
use crate::limits::{self, Channel};
use crate::model::Message;

pub(crate) fn message_item(msg: &Message, acked: bool, envelope_error: Option<&str>) -> Value {
    let bound = |field: &str, value: &str, withheld: &mut Vec<String>| -> String {
        if value.len() > limits::MAX_METADATA_FIELD_BYTES {
            withheld.push(field.to_owned());
            limits::withheld_field_notice(field, value.len(), limits::MAX_METADATA_FIELD_BYTES)
        } else {
            value.to_owned()
        }
    };
    let mut withheld = Vec::new();
    let msg_id = bound("msg_id", &msg.msg_id, &mut withheld);
    let body = msg.visible_body().clone();
    let reason = envelope_error
        .map(str::to_owned)
        .or_else(|| limits::check_body(&body, limits::MAX_BODY_BYTES, Channel::Mcp, &msg_id).err());
    let mut subject = msg.subject().to_owned();
    let mut adapters = msg.delivery_adapters.clone();
    let (body, rejected) = match reason {
        Some(reason) => {
            if !subject.is_empty() {
                withheld.push("subject".to_owned());
            }
            if !adapters.is_empty() {
                withheld.push("delivery_adapters".to_owned());
            }
            subject.clear();
            adapters.clear();
            (
                Value::String(limits::withheld_body_notice(&reason, &withheld)),
                true,
            )
        }
        None => {
            if subject.len() > limits::MAX_SUBJECT_BYTES {
                withheld.push("subject".to_owned());
                subject = limits::withheld_field_notice(
                    "subject",
                    subject.len(),
                    limits::MAX_SUBJECT_BYTES,
                );
            }
            (body, false)
        }
    };
    let recipient = &msg.recipient;
    let field =
        |v: &Value, n: &str, d: &str| v.get(n).and_then(Value::as_str).unwrap_or(d).to_owned();
    let mut item = json!({
        "msg_id": msg_id,
        "subject": subject,
        "body": body,
        "body_rejected": rejected,
        "created_at": msg.created_at,
        "expires_at": msg.expiry().map(mesh_core::timestamp::format),
        "scope": bound("scope", &msg.scope, &mut withheld),
        "sender": {
            "agent_id": bound("sender.agent_id", msg.sender_agent(), &mut withheld),
            "session_id": bound("sender.session_id", msg.sender_session(), &mut withheld),
        },
        "recipient": {
            "kind": bound("recipient.kind", &field(recipient, "kind", "session"), &mut withheld),
            "session_id": bound("recipient.session_id", &field(recipient, "session_id", ""), &mut withheld),
        },
        "acked": acked,
        "delivery_adapters": adapters,
    });
    if let Some(id) = &msg.correlation_id {
        item["correlation_id"] = Value::String(id.clone());
    }
    if !withheld.is_empty() {
        item["withheld_fields"] = json!(withheld);
    }
    item
}

pub(crate) fn message_diagnostic(msg: &Message, session_id: &str, verdict: &Verdict) -> Value {
    json!({
        "code": verdict.arrival.code(),
        "msg_id": msg.msg_id,
        "recipient_session_id": session_id,
        "message": {
            "subject": msg.subject(),
            "body": msg.visible_body(),
            "created_at": msg.created_at,
            "expires_at": msg.expires_at,
            "scope": msg.scope,
            "sender": { "agent_id": msg.sender_agent(), "session_id": msg.sender_session() },
        },
        "ack": verdict.detail,
        "remedy": verdict.remedy.clone().unwrap_or_default(),
    })
}

pub(crate) fn ingress_error(source: &str, error: &str) -> Value {
    json!({
        "code": "arrival_undecodable",
        "msg_id": "",
        "recipient_session_id": "",
        "message": null,
        "source": source,
        "ack": { "error": error },
        "remedy": "This inbox listing is incomplete: an arrival could not be read. Poll again, and check the Zenoh session if it keeps happening.",
    })
}
