//! The messaging key space, as the reference lays it out. `{scope}` is
//! `mesh`, `user/<id>` or `team/<id>`:
//!
//! ```text
//! msg/{scope}/inbox/session/{session_id}/{msg_id}   a message to one session
//! msg/{scope}/inbox/agent/{agent_id}/{msg_id}       a message to every session of an agent
//! msg/{scope}/ack/{msg_id}/{session_id}             an acknowledgement
//! msg/{scope}/receipt/{msg_id}/{session_id}         a delivery receipt (ours; the reference ignores it)
//! ```

use mesh_core::daemon_config::StorageScope;
use mesh_core::keyspace::key_segment_problem;

use crate::error::{MessagingError, Result};
use crate::model::Recipient;

/// Check one key segment taken from input or configuration.
fn segment<'a>(value: &'a str, what: &str) -> Result<&'a str> {
    match key_segment_problem(value) {
        None => Ok(value),
        Some(problem) => Err(MessagingError::InvalidArgument(format!(
            "{what} '{}' cannot be part of a key: {problem}",
            value.escape_debug()
        ))),
    }
}

/// The key a message to `recipient` is stored under.
pub fn inbox_key(scope: &StorageScope, recipient: &Recipient, msg_id: &str) -> Result<String> {
    let (kind, id) = match recipient {
        Recipient::Session(id) => ("session", segment(id, "session id")?),
        Recipient::Agent(id) => ("agent", segment(id, "agent id")?),
    };
    Ok(format!(
        "msg/{}/inbox/{kind}/{id}/{}",
        scope.label(),
        segment(msg_id, "msg_id")?
    ))
}

/// Everything in `scope` addressed to `recipient`.
pub fn inbox_selector(scope: &StorageScope, recipient: &Recipient) -> Result<String> {
    let (kind, id) = match recipient {
        Recipient::Session(id) => ("session", segment(id, "session id")?),
        Recipient::Agent(id) => ("agent", segment(id, "agent id")?),
    };
    Ok(format!("msg/{}/inbox/{kind}/{id}/**", scope.label()))
}

/// Where `session_id` acknowledges `msg_id`.
pub fn ack_key(scope: &StorageScope, msg_id: &str, session_id: &str) -> Result<String> {
    Ok(format!(
        "msg/{}/ack/{}/{}",
        scope.label(),
        segment(msg_id, "msg_id")?,
        segment(session_id, "session id")?
    ))
}

/// Every acknowledgement of `msg_id`.
pub fn ack_selector(scope: &StorageScope, msg_id: &str) -> Result<String> {
    Ok(format!(
        "msg/{}/ack/{}/*",
        scope.label(),
        segment(msg_id, "msg_id")?
    ))
}

/// Where `session_id` records that it received `msg_id`.
pub fn receipt_key(scope: &StorageScope, msg_id: &str, session_id: &str) -> Result<String> {
    Ok(format!(
        "msg/{}/receipt/{}/{}",
        scope.label(),
        segment(msg_id, "msg_id")?,
        segment(session_id, "session id")?
    ))
}

/// Every receipt of `msg_id`.
pub fn receipt_selector(scope: &StorageScope, msg_id: &str) -> Result<String> {
    Ok(format!(
        "msg/{}/receipt/{}/*",
        scope.label(),
        segment(msg_id, "msg_id")?
    ))
}

/// Where a session's presence heartbeat is kept.
pub fn presence_key(scope: &StorageScope, agent_id: &str, session_id: &str) -> Result<String> {
    Ok(format!(
        "msg/{}/presence/{}/{}",
        scope.label(),
        segment(agent_id, "agent id")?,
        segment(session_id, "session id")?
    ))
}

/// Everything messaging keeps in `scope`.
pub fn scope_selector(scope: &StorageScope) -> String {
    format!("msg/{}/**", scope.label())
}

/// The last segment of a key.
pub fn last_segment(key: &str) -> &str {
    key.rsplit('/').next().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_the_reference_layout() {
        let team = StorageScope::parse("team/core").unwrap();
        let id = "0123456789abcdef0123456789abcdef";
        assert_eq!(
            inbox_key(&team, &Recipient::Agent("alice@mbp".into()), id).unwrap(),
            format!("msg/team/core/inbox/agent/alice@mbp/{id}")
        );
        assert_eq!(
            inbox_key(&StorageScope::mesh(), &Recipient::Session("s1".into()), id).unwrap(),
            format!("msg/mesh/inbox/session/s1/{id}")
        );
        assert_eq!(
            ack_key(&team, id, "s1").unwrap(),
            format!("msg/team/core/ack/{id}/s1")
        );
        assert!(inbox_key(&team, &Recipient::Agent("a/b".into()), id).is_err());
        assert!(inbox_selector(&team, &Recipient::Session("*".into())).is_err());
    }
}
