//! Targets for what arrives from peers: keys, observation, tombstone,
//! message and ack payloads, and wire timestamps.
//!
//! The property beyond "never panics": whatever parses is written back in a
//! form that parses to the same value, so a replica never rewrites a value
//! it read into something else.

use mesh_core::keyspace::{self, KeyIdentity};
use mesh_core::{Observation, Tombstone, timestamp};
use mesh_messaging::{Ack, Message};

use super::tokens;
use crate::engine::{Target, outcome, signature};

fn text(input: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(input)
}

/// `mem/...` keys: [`keyspace::parse_key`] and the legacy check.
pub struct Key;

impl Target for Key {
    fn name(&self) -> &'static str {
        "key"
    }
    fn seeds(&self) -> Vec<Vec<u8>> {
        tokens(&[
            "mem/mesh/obs/claude/alice@mbp/fceb8fdac7294bf1a986de3608142308/20261123T162414Z-43c46b9d/f597bcfe09de41d3a9e048f63a37942a",
            "mem/user/alice/tomb/codex/alice@mbp/fceb8fdac7294bf1a986de3608142308/s1/f597bcfe09de41d3a9e048f63a37942a",
            "mem/team/core.team-1/obs/gemini/bob@desk/0123456789abcdef0123456789abcdef/s-2/00000000000000000000000000000000",
            "mem/obs/claude/alice@mbp/fceb8fdac7294bf1a986de3608142308/s/f597bcfe09de41d3a9e048f63a37942a",
        ])
    }
    fn dictionary(&self) -> Vec<Vec<u8>> {
        tokens(&[
            "/", "mem", "mesh", "user", "team", "obs", "tomb", "msg", "**", "*", "$*", "//", "@",
            "..",
        ])
    }
    fn max_len(&self) -> usize {
        512
    }
    fn run(&mut self, input: &[u8]) -> u64 {
        let key = text(input);
        let legacy = keyspace::is_legacy_key(&key);
        let Some(parsed) = keyspace::parse_key(&key) else {
            return signature(&[b"none", &[u8::from(legacy)]]);
        };
        let who = KeyIdentity {
            agent_family: &parsed.agent_family,
            client_id: &parsed.client_id,
            pc_id: &parsed.pc_id,
            session_id: &parsed.session_id,
        };
        let rebuilt = keyspace::build_key(
            parsed.marker,
            parsed.tier.visibility(),
            parsed.tier.scope_id(),
            who,
            &parsed.observation_id,
        );
        assert_eq!(
            rebuilt.as_deref().ok(),
            Some(key.as_ref()),
            "a parsed key must rebuild to itself"
        );
        signature(&[
            b"some",
            parsed.tier.visibility().as_str().as_bytes(),
            format!("{:?}", parsed.marker).as_bytes(),
            &[u8::from(legacy)],
        ])
    }
}

/// Observation payloads: [`Observation::from_json`].
pub struct ObservationJson;

const OBSERVATION: &str = r#"{"content": "retry with backoff", "agent_family": "claude", "client_id": "alice@mbp", "pc_id": "fceb8fdac7294bf1a986de3608142308", "session_id": "20261123T162414Z-43c46b9d", "project": "kioku", "tags": ["net", "retry"], "observation_id": "f597bcfe09de41d3a9e048f63a37942a", "created_at": "2026-11-23T16:24:14.123456Z", "memory_type": "decision", "importance": 3, "subject": "retry policy", "summary": "exponential backoff", "source_files": ["src/net.rs"], "references": ["PR-12"], "supersedes": ["933f1c1cdce6404db34d991e229affc7"], "visibility": "user", "scope_id": "alice", "expires_at": "2027-01-01T00:00:00.000000Z"}"#;

impl Target for ObservationJson {
    fn name(&self) -> &'static str {
        "observation"
    }
    fn seeds(&self) -> Vec<Vec<u8>> {
        tokens(&[
            OBSERVATION,
            r#"{"zeta": 1, "content": "c", "observation_id": "933f1c1cdce6404db34d991e229affc7", "alpha": {"x": [true, null]}}"#,
            r#"{"content": "c", "observation_id": "933f1c1cdce6404db34d991e229affc7", "visibility": "team", "scope_id": "core", "importance": "9", "memory_type": "weird", "tags": "x"}"#,
        ])
    }
    fn dictionary(&self) -> Vec<Vec<u8>> {
        tokens(&[
            "\"visibility\": ",
            "\"mesh\"",
            "\"user\"",
            "\"team\"",
            "\"scope_id\": ",
            "\"importance\": ",
            "\"memory_type\": ",
            "\"tags\": ",
            "null",
            "true",
            "[]",
            "{}",
            "\"\\u0000\"",
            "\"\\ud800\"",
            "\"expires_at\": ",
            "\"created_at\": ",
            "\"supersedes\": ",
            "1e999",
            "-1",
            ", ",
        ])
    }
    fn run(&mut self, input: &[u8]) -> u64 {
        let parsed = Observation::from_json(&text(input));
        if let Ok(o) = &parsed {
            let wire = o.to_json();
            let again = Observation::from_json(&wire);
            assert!(again.is_ok(), "written form does not parse: {again:?}");
            if let Ok(again) = again {
                assert_eq!(
                    again.to_json(),
                    wire,
                    "a second round trip changed the payload"
                );
            }
            let _ = o.key();
            let _ = o.tombstone_key();
            let _ = o.is_expired_at(&timestamp::now());
        }
        outcome("observation", &parsed, |o| {
            signature(&[
                o.visibility.as_str().as_bytes(),
                o.memory_type.as_str().as_bytes(),
                &[
                    o.importance,
                    u8::from(o.extras.is_empty()),
                    u8::from(o.expires_at.is_empty()),
                ],
            ])
        })
    }
}

/// Tombstone payloads: [`Tombstone::from_json`].
pub struct TombstoneJson;

impl Target for TombstoneJson {
    fn name(&self) -> &'static str {
        "tombstone"
    }
    fn seeds(&self) -> Vec<Vec<u8>> {
        tokens(&[
            r#"{"observation_id": "933f1c1cdce6404db34d991e229affc7", "reason": "", "deleted_at": "2026-11-23T19:52:00.000001Z"}"#,
            r#"{"v": 2, "observation_id": "933f1c1cdce6404db34d991e229affc7"}"#,
        ])
    }
    fn dictionary(&self) -> Vec<Vec<u8>> {
        tokens(&[
            "\"reason\": ",
            "\"deleted_at\": ",
            "null",
            "[]",
            "{}",
            "7",
            "\"\\ud800\"",
            ", ",
        ])
    }
    fn run(&mut self, input: &[u8]) -> u64 {
        let parsed = Tombstone::from_json(&text(input));
        if let Ok(t) = &parsed {
            let wire = t.to_json();
            let again = Tombstone::from_json(&wire);
            assert_eq!(
                again.as_ref().ok(),
                Some(t),
                "a tombstone must read back as itself"
            );
        }
        outcome("tombstone", &parsed, |t| {
            signature(&[&[u8::from(t.reason.is_empty()), u8::from(t.extras.is_empty())]])
        })
    }
}

/// Message and ack payloads: [`Message::from_json`] and [`Ack`].
pub struct MessageJson;

const MESSAGE: &str = r#"{"msg_id": "0123456789abcdef0123456789abcdef", "sender_id": "bob@desk", "scope": "mesh", "payload": {}, "created_at": "2026-06-24T01:02:03.123456Z", "expires_at": null, "ttl_sec": 60, "sender_seq": null, "schema_version": "1.0", "kind": "direct", "sender": {"agent_id": "bob@desk", "session_id": "s1"}, "recipient": {"kind": "agent", "agent_id": "alice@mbp"}, "body": "hello", "content_type": "text/plain", "requires_ack": false, "delivery_adapters": [], "correlation_id": null, "subject": "hi", "priority": "high"}"#;

impl Target for MessageJson {
    fn name(&self) -> &'static str {
        "message"
    }
    fn seeds(&self) -> Vec<Vec<u8>> {
        tokens(&[
            MESSAGE,
            r#"{"sender_id": "a", "scope": "mesh", "payload": "p"}"#,
            r#"{"msg_id": "0123456789abcdef0123456789abcdef", "recipient_session_id": "s1", "status": "acknowledged", "acked_at": "2026-06-24T01:02:03.123456Z"}"#,
        ])
    }
    fn dictionary(&self) -> Vec<Vec<u8>> {
        tokens(&[
            "\"recipient\": ",
            "{\"kind\": \"broadcast\"}",
            "{\"kind\": \"session\", \"session_id\": \"s\"}",
            "\"ttl_sec\": ",
            "\"expires_at\": ",
            "\"created_at\": ",
            "\"body\": ",
            "null",
            "-1",
            "1e300",
            "\"requires_ack\": ",
            "\"sender\": ",
            ", ",
        ])
    }
    fn run(&mut self, input: &[u8]) -> u64 {
        let text = text(input);
        let parsed = Message::from_json(&text);
        if let Ok(m) = &parsed {
            let again = Message::from_json(&m.to_json());
            assert_eq!(
                again.as_ref().ok(),
                Some(m),
                "a message must read back as itself"
            );
            let _ = (
                m.subject(),
                m.visible_body(),
                m.sender_agent(),
                m.sender_session(),
            );
            let _ = m.recipient();
            let _ = m.expiry();
            let _ = m.is_expired(chrono::Utc::now());
        }
        let ack: Result<Ack, _> = serde_json::from_str(&text);
        if let Ok(a) = &ack {
            let back: Result<Ack, _> =
                serde_json::to_string(a).and_then(|t| serde_json::from_str(&t));
            assert_eq!(
                back.as_ref().ok(),
                Some(a),
                "an ack must read back as itself"
            );
        }
        signature(&[
            &outcome("message", &parsed, |m| {
                signature(&[
                    format!("{:?}", m.recipient().is_some()).as_bytes(),
                    &[u8::from(m.expiry().is_some())],
                ])
            })
            .to_le_bytes(),
            &outcome("ack", &ack, |_| 0).to_le_bytes(),
        ])
    }
}

/// Timestamps as users and peers write them: [`timestamp::parse`].
pub struct Timestamp;

impl Target for Timestamp {
    fn name(&self) -> &'static str {
        "timestamp"
    }
    fn seeds(&self) -> Vec<Vec<u8>> {
        tokens(&[
            "2026-11-23",
            "2026-11-23T09",
            "2026-11-23T09:30",
            "2026-11-23 09:30:00",
            "2026-11-23T09:30:00.123456789Z",
            "2026-11-23T09:30:00+09:00",
            "2026-11-23T09:30:00-0530",
        ])
    }
    fn dictionary(&self) -> Vec<Vec<u8>> {
        tokens(&[
            "T", "Z", "+", "-", ":", ".", "9999", "0000", "24:00", "60", "+99:99",
        ])
    }
    fn max_len(&self) -> usize {
        128
    }
    fn run(&mut self, input: &[u8]) -> u64 {
        let parsed = timestamp::parse(&text(input));
        if let Some(instant) = parsed {
            // The wire form keeps microseconds: normalising is idempotent.
            let wire = timestamp::format(instant);
            assert_eq!(
                timestamp::parse(&wire).map(timestamp::format).as_deref(),
                Some(wire.as_str()),
                "the wire form must parse to the same instant"
            );
        }
        signature(&[
            &[u8::from(parsed.is_some())],
            &[text(input).len().min(40) as u8],
        ])
    }
}
