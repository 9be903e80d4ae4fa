//! The messaging tools: `send_message` (ours), and the reference's
//! `check_messages`, `ack_message` and `purge_expired_messages` with its
//! parameters and reply texts. The sender's identity is this server's,
//! never an argument the model could set.

use mesh_core::Visibility;
use mesh_messaging::{CheckQuery, Messaging, MessagingError, Recipient, SendRequest};
use serde_json::json;

use crate::params::{AckMessage, CheckMessages, SendMessage};
use crate::tools::Reply;

/// The messaging tools over one [`Messaging`].
pub struct MessageTools {
    messaging: Messaging,
}

/// The reference's visibility argument: `''` is every scope.
fn visibility(value: &str) -> Result<Option<Visibility>, String> {
    match value {
        "" => Ok(None),
        "mesh" => Ok(Some(Visibility::Mesh)),
        "user" => Ok(Some(Visibility::User)),
        "team" => Ok(Some(Visibility::Team)),
        other => Err(format!(
            "Unknown visibility: '{other}'. Use 'mesh', 'user', 'team', or ''."
        )),
    }
}

fn error_json(text: impl Into<String>) -> Reply {
    Reply::Text(json!({ "error": text.into() }).to_string())
}

impl MessageTools {
    /// Tools over `messaging`.
    pub fn new(messaging: Messaging) -> Self {
        Self { messaging }
    }

    /// The messaging these tools use.
    pub fn messaging(&self) -> &Messaging {
        &self.messaging
    }

    /// Close the mesh session.
    pub async fn close(&self) {
        self.messaging.close().await;
    }

    /// `send_message`.
    pub async fn send_message(&self, p: SendMessage) -> Reply {
        let to = match (p.to_agent.trim(), p.to_session.trim()) {
            ("", "") => {
                return Reply::Error(
                    "send_message needs to_agent (an agent id such as alice@laptop) or to_session"
                        .to_owned(),
                );
            }
            (agent, "") => Recipient::Agent(agent.to_owned()),
            ("", session) => Recipient::Session(session.to_owned()),
            _ => {
                return Reply::Error("give to_agent or to_session, not both".to_owned());
            }
        };
        let visibility = match visibility(&p.visibility) {
            Ok(v) => v,
            Err(e) => return Reply::Error(e),
        };
        let request = SendRequest {
            to,
            visibility,
            ttl_sec: p.ttl_sec,
            subject: Some(p.subject).filter(|s| !s.is_empty()),
            reply_to: Some(p.reply_to).filter(|s| !s.is_empty()),
            requires_ack: p.requires_ack,
            promote: false,
            body: p.body,
        };
        match self.messaging.send(request).await {
            Ok(msg) => Reply::Text(format!("sent: {} (scope={})", msg.msg_id, msg.scope)),
            Err(e) if e.is_usage() => Reply::Error(e.to_string()),
            Err(e) => Reply::Text(format!("send failed: {e}")),
        }
    }

    /// `check_messages`.
    pub async fn check_messages(&self, p: CheckMessages) -> Reply {
        let visibility = match visibility(&p.visibility) {
            Ok(v) => v,
            Err(e) => return error_json(e),
        };
        let since = if p.since_iso.trim().is_empty() {
            None
        } else {
            match mesh_core::timestamp::parse(&p.since_iso) {
                Some(at) => Some(mesh_core::timestamp::format(at)),
                None => return error_json(format!("invalid since_iso: '{}'", p.since_iso)),
            }
        };
        let query = CheckQuery {
            limit: Some(p.limit),
            visibility,
            include_acked: p.include_acked,
            include_expired: p.include_expired,
            since,
        };
        match self.messaging.check(&query).await {
            Ok(result) => Reply::Text(result.to_json().to_string()),
            Err(MessagingError::Unreachable(e)) => {
                error_json(format!("Zenoh session unavailable: {e}"))
            }
            Err(e) => error_json(e.to_string()),
        }
    }

    /// `ack_message`.
    pub async fn ack_message(&self, p: AckMessage) -> Reply {
        if p.msg_id.len() != 32 {
            return Reply::Text("msg_id must be a full 32-hex string.".to_owned());
        }
        let visibility = match visibility(&p.visibility) {
            Ok(v) => v,
            Err(e) => return Reply::Text(format!("ack failed: {e}")),
        };
        match self.messaging.ack(&p.msg_id, visibility).await {
            Ok(scope) => Reply::Text(format!("acked: {} (scope={scope})", p.msg_id)),
            Err(MessagingError::Unreachable(e)) => Reply::Text(format!(
                "acked: {} (locally) [zenoh_publish_failed: {e}]",
                p.msg_id
            )),
            Err(e) => Reply::Text(format!("ack failed: {e}")),
        }
    }

    /// `purge_expired_messages`.
    pub async fn purge_expired_messages(&self) -> Reply {
        match self.messaging.purge_expired().await {
            Ok(n) => Reply::Text(format!("purged {n} expired message(s)")),
            Err(MessagingError::Unreachable(e)) => {
                Reply::Text(format!("purge failed: Zenoh session unavailable: {e}"))
            }
            Err(e) => Reply::Text(format!("purge failed: {e}")),
        }
    }
}
