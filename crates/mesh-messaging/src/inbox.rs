//! The local inbox database (`<state>/messaging/inbox.db`): which messages
//! this host's sessions have seen and acknowledged, the retired ids of
//! expired ones, and (ours) the messages sent from this host. The tables
//! the reference creates are created here with its columns, so both
//! implementations can share a state directory.

use std::path::{Path, PathBuf};

use chrono::Utc;
use sqlx::SqlitePool;

use crate::error::Result;
use crate::model::Message;
use crate::transport::{begin_immediate, db_error, open_sqlite};

/// A retired id: when, why, and the created_at / expires_at it had.
type TombRow = (String, Option<String>, Option<String>, Option<String>);

/// The reference's messaging schema version.
const SCHEMA_VERSION: i64 = 4;

const DDL: [&str; 8] = [
    "CREATE TABLE IF NOT EXISTS messages (msg_id TEXT NOT NULL, recipient_session_id TEXT NOT NULL, scope TEXT NOT NULL, created_at TEXT NOT NULL, expires_at TEXT, is_acked INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (msg_id, recipient_session_id))",
    "CREATE TABLE IF NOT EXISTS acks (msg_id TEXT NOT NULL, recipient_session_id TEXT NOT NULL, acked_at TEXT NOT NULL, PRIMARY KEY (msg_id, recipient_session_id))",
    "CREATE TABLE IF NOT EXISTS messaging_schema_version (version INTEGER PRIMARY KEY)",
    "CREATE TABLE IF NOT EXISTS pending_acks (msg_id TEXT NOT NULL, recipient_session_id TEXT NOT NULL, acked_at TEXT NOT NULL, source_key TEXT, first_seen_at TEXT NOT NULL, PRIMARY KEY (msg_id, recipient_session_id))",
    "CREATE TABLE IF NOT EXISTS message_tombstones (msg_id TEXT NOT NULL, recipient_session_id TEXT NOT NULL, tombstoned_at TEXT NOT NULL, reason TEXT, original_created_at TEXT, original_expires_at TEXT, PRIMARY KEY (msg_id, recipient_session_id))",
    "CREATE TABLE IF NOT EXISTS legacy_unknown_acks (msg_id TEXT NOT NULL, recipient_session_id TEXT NOT NULL, acked_at TEXT NOT NULL, migrated_at TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'unresolved', resolved_at TEXT, resolution_note TEXT, provenance TEXT NOT NULL DEFAULT 'migration', PRIMARY KEY (msg_id, recipient_session_id))",
    "CREATE TABLE IF NOT EXISTS recovery_audit (id INTEGER PRIMARY KEY AUTOINCREMENT, msg_id TEXT NOT NULL, recipient_session_id TEXT NOT NULL, action TEXT NOT NULL, before_json TEXT NOT NULL, operator TEXT, performed_at TEXT NOT NULL, backup_path TEXT NOT NULL)",
    // Ours: what this host sent, for receipts and threads.
    "CREATE TABLE IF NOT EXISTS sent_messages (msg_id TEXT PRIMARY KEY, scope TEXT NOT NULL, key TEXT NOT NULL, payload TEXT NOT NULL, created_at TEXT NOT NULL)",
];

/// How an arrival was classified (the reference's codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// New mail for this session.
    Registered,
    /// Seen before and still live.
    DuplicateLive,
    /// Its id was retired when it expired; the same message again.
    DuplicateRetired,
    /// Its id was retired, and it now carries another message.
    ProtocolViolation,
    /// Expired before it was ever read; its id is now retired.
    ExpiredOnArrival,
}

impl Arrival {
    /// The reference's code.
    pub fn code(self) -> &'static str {
        match self {
            Self::Registered => "registered",
            Self::DuplicateLive => "duplicate_live",
            Self::DuplicateRetired => "duplicate_retired",
            Self::ProtocolViolation => "protocol_violation",
            Self::ExpiredOnArrival => "expired_on_arrival",
        }
    }

    /// Whether the arrival is reported as a diagnostic rather than mail.
    pub fn is_diagnostic(self) -> bool {
        !matches!(self, Self::Registered | Self::DuplicateLive)
    }
}

/// A classified arrival.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// The classification.
    pub arrival: Arrival,
    /// Whether this session (or, for agent mail, any session of the agent) acknowledged it.
    pub acked: bool,
    /// Details for a diagnostic.
    pub detail: serde_json::Value,
    /// What the user can do, for a diagnostic.
    pub remedy: Option<String>,
}

/// The inbox database.
#[derive(Debug, Clone)]
pub struct Inbox {
    pool: SqlitePool,
    path: PathBuf,
}

impl Inbox {
    /// Open (creating) the database at `path`.
    pub async fn open(path: &Path) -> Result<Self> {
        let pool = open_sqlite(path).await?;
        for ddl in DDL {
            sqlx::query(ddl)
                .execute(&pool)
                .await
                .map_err(|e| db_error(path, "create its tables", &e))?;
        }
        let version: Option<i64> =
            sqlx::query_scalar("SELECT MAX(version) FROM messaging_schema_version")
                .fetch_one(&pool)
                .await
                .map_err(|e| db_error(path, "read its version", &e))?;
        if version.is_none() {
            sqlx::query("INSERT OR REPLACE INTO messaging_schema_version (version) VALUES (?)")
                .bind(SCHEMA_VERSION)
                .execute(&pool)
                .await
                .map_err(|e| db_error(path, "stamp its version", &e))?;
        }
        Ok(Self {
            pool,
            path: path.to_path_buf(),
        })
    }

    /// Classify `msg` arriving for `session_id`, recording it when new.
    pub async fn classify(&self, msg: &Message, session_id: &str) -> Result<Verdict> {
        let err = |e: sqlx::Error| db_error(&self.path, "classify an arrival", &e);
        // Mail seen before is the common case of every listing: answer it
        // without taking the write lock.
        let known: Option<(i64, i64)> = sqlx::query_as(
            "SELECT m.is_acked, EXISTS (SELECT 1 FROM acks a WHERE a.msg_id = m.msg_id AND a.recipient_session_id = m.recipient_session_id) FROM messages m WHERE m.msg_id = ? AND m.recipient_session_id = ?",
        )
        .bind(&msg.msg_id)
        .bind(session_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(err)?;
        if let Some((is_acked, ack)) = known {
            return Ok(Verdict {
                arrival: Arrival::DuplicateLive,
                acked: is_acked == 1 || ack == 1,
                detail: serde_json::json!({}),
                remedy: None,
            });
        }
        let mut tx = begin_immediate(&self.pool).await.map_err(err)?;
        let live: Option<(i64,)> = sqlx::query_as(
            "SELECT is_acked FROM messages WHERE msg_id = ? AND recipient_session_id = ?",
        )
        .bind(&msg.msg_id)
        .bind(session_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(err)?;
        if let Some((is_acked,)) = live {
            let ack: Option<(String,)> = sqlx::query_as(
                "SELECT acked_at FROM acks WHERE msg_id = ? AND recipient_session_id = ?",
            )
            .bind(&msg.msg_id)
            .bind(session_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(err)?;
            tx.commit().await.map_err(err)?;
            return Ok(Verdict {
                arrival: Arrival::DuplicateLive,
                acked: is_acked == 1 || ack.is_some(),
                detail: serde_json::json!({}),
                remedy: None,
            });
        }
        let created = msg.created_at.clone();
        let expires = msg.expires_at.clone();
        let tomb: Option<TombRow> = sqlx::query_as(
            "SELECT tombstoned_at, reason, original_created_at, original_expires_at FROM message_tombstones WHERE msg_id = ? AND recipient_session_id = ?",
        )
        .bind(&msg.msg_id)
        .bind(session_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(err)?;
        if let Some((tombstoned_at, reason, old_created, old_expires)) = tomb {
            tx.commit().await.map_err(err)?;
            let mut changed = Vec::new();
            if old_created.as_ref().is_some_and(|c| *c != created) {
                changed.push("created_at");
            }
            if old_expires.is_some() && old_expires != expires {
                changed.push("expires_at");
            }
            let detail = serde_json::json!({
                "tombstoned_at": tombstoned_at, "reason": reason,
                "original_created_at": old_created, "original_expires_at": old_expires,
                "arriving_created_at": created, "arriving_expires_at": expires,
                "changed_fields": changed,
            });
            let (arrival, remedy) = if changed.is_empty() {
                (
                    Arrival::DuplicateRetired,
                    format!(
                        "msg_id {} already expired and was purged, so this re-delivery is not shown as new mail. Resend with a new msg_id if the content still matters.",
                        msg.msg_id
                    ),
                )
            } else {
                (
                    Arrival::ProtocolViolation,
                    format!(
                        "msg_id {} was retired when its message expired and cannot carry a new message ({} changed). Resend with a new msg_id.",
                        msg.msg_id,
                        changed.join(", ")
                    ),
                )
            };
            return Ok(Verdict {
                arrival,
                acked: false,
                detail,
                remedy: Some(remedy),
            });
        }
        if msg.is_expired(Utc::now()) {
            sqlx::query(
                "INSERT OR IGNORE INTO message_tombstones (msg_id, recipient_session_id, tombstoned_at, reason, original_created_at, original_expires_at) VALUES (?, ?, ?, 'expired_on_arrival', ?, ?)",
            )
            .bind(&msg.msg_id)
            .bind(session_id)
            .bind(mesh_core::timestamp::now())
            .bind(&created)
            .bind(&expires)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
            tx.commit().await.map_err(err)?;
            return Ok(Verdict {
                arrival: Arrival::ExpiredOnArrival,
                acked: false,
                detail: serde_json::json!({ "expires_at": expires }),
                remedy: Some("This message expired before it was ever read, so it is not delivered and its msg_id is now retired. Ask the sender to resend with a new msg_id and a longer TTL if it still matters.".to_owned()),
            });
        }
        let expiry = msg.expiry().map(mesh_core::timestamp::format);
        sqlx::query(
            "INSERT INTO messages (msg_id, recipient_session_id, scope, created_at, expires_at, is_acked) VALUES (?, ?, ?, ?, ?, 0)",
        )
        .bind(&msg.msg_id)
        .bind(session_id)
        .bind(&msg.scope)
        .bind(&created)
        .bind(&expiry)
        .execute(&mut *tx)
        .await
        .map_err(err)?;
        tx.commit().await.map_err(err)?;
        Ok(Verdict {
            arrival: Arrival::Registered,
            acked: false,
            detail: serde_json::json!({}),
            remedy: None,
        })
    }

    /// Record that `session_id` acknowledged `msg_id`; `None` when this
    /// session never received it.
    pub async fn record_ack(&self, msg_id: &str, session_id: &str) -> Result<Option<String>> {
        let err = |e: sqlx::Error| db_error(&self.path, "record an ack", &e);
        let mut tx = begin_immediate(&self.pool).await.map_err(err)?;
        let scope: Option<(String,)> = sqlx::query_as(
            "SELECT scope FROM messages WHERE msg_id = ? AND recipient_session_id = ?",
        )
        .bind(msg_id)
        .bind(session_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(err)?;
        let Some((scope,)) = scope else {
            return Ok(None);
        };
        sqlx::query(
            "INSERT OR REPLACE INTO acks (msg_id, recipient_session_id, acked_at) VALUES (?, ?, ?)",
        )
        .bind(msg_id)
        .bind(session_id)
        .bind(mesh_core::timestamp::now())
        .execute(&mut *tx)
        .await
        .map_err(err)?;
        sqlx::query(
            "UPDATE messages SET is_acked = 1 WHERE msg_id = ? AND recipient_session_id = ?",
        )
        .bind(msg_id)
        .bind(session_id)
        .execute(&mut *tx)
        .await
        .map_err(err)?;
        tx.commit().await.map_err(err)?;
        Ok(Some(scope))
    }

    /// Mark `msg_id` read for `session_id` because another session of the
    /// same agent acknowledged it.
    pub async fn settle(&self, msg_id: &str, session_id: &str) -> Result<()> {
        sqlx::query(
            "UPDATE messages SET is_acked = 1 WHERE msg_id = ? AND recipient_session_id = ?",
        )
        .bind(msg_id)
        .bind(session_id)
        .execute(&self.pool)
        .await
        .map_err(|e| db_error(&self.path, "record an ack", &e))?;
        Ok(())
    }

    /// Remember a message this host sent.
    pub async fn record_sent(&self, msg: &Message, key: &str) -> Result<()> {
        sqlx::query("INSERT OR REPLACE INTO sent_messages (msg_id, scope, key, payload, created_at) VALUES (?, ?, ?, ?, ?)")
            .bind(&msg.msg_id)
            .bind(&msg.scope)
            .bind(key)
            .bind(msg.to_json())
            .bind(&msg.created_at)
            .execute(&self.pool)
            .await
            .map_err(|e| db_error(&self.path, "record a sent message", &e))?;
        Ok(())
    }

    /// A message this host sent, with its key.
    pub async fn sent(&self, msg_id: &str) -> Result<Option<(Message, String)>> {
        let row: Option<(String, String)> =
            sqlx::query_as("SELECT payload, key FROM sent_messages WHERE msg_id = ?")
                .bind(msg_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| db_error(&self.path, "read", &e))?;
        Ok(row.and_then(|(p, k)| Message::from_json(&p).ok().map(|m| (m, k))))
    }

    /// Every message this host sent in the thread `root`.
    pub async fn sent_in_thread(&self, root: &str) -> Result<Vec<Message>> {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT payload FROM sent_messages ORDER BY created_at")
                .fetch_all(&self.pool)
                .await
                .map_err(|e| db_error(&self.path, "read", &e))?;
        Ok(rows
            .into_iter()
            .filter_map(|(p,)| Message::from_json(&p).ok())
            .filter(|m| m.msg_id == root || m.correlation_id.as_deref() == Some(root))
            .collect())
    }

    /// Retire expired rows: tombstones keep their ids, acks and rows go.
    /// Returns how many were retired.
    pub async fn purge_expired(&self) -> Result<u64> {
        let err = |e: sqlx::Error| db_error(&self.path, "purge", &e);
        let now = mesh_core::timestamp::now();
        let mut tx = begin_immediate(&self.pool).await.map_err(err)?;
        sqlx::query(
            "INSERT OR IGNORE INTO message_tombstones (msg_id, recipient_session_id, tombstoned_at, reason, original_created_at, original_expires_at) SELECT msg_id, recipient_session_id, ?, 'expiry_purge', created_at, expires_at FROM messages WHERE expires_at IS NOT NULL AND expires_at <= ?",
        )
        .bind(&now)
        .bind(&now)
        .execute(&mut *tx)
        .await
        .map_err(err)?;
        sqlx::query("DELETE FROM acks WHERE (msg_id, recipient_session_id) IN (SELECT msg_id, recipient_session_id FROM messages WHERE expires_at IS NOT NULL AND expires_at <= ?)")
            .bind(&now)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        let done =
            sqlx::query("DELETE FROM messages WHERE expires_at IS NOT NULL AND expires_at <= ?")
                .bind(&now)
                .execute(&mut *tx)
                .await
                .map_err(err)?;
        tx.commit().await.map_err(err)?;
        Ok(done.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(ttl: Option<u64>) -> Message {
        Message::from_json(&format!(
            r#"{{"sender_id": "a", "scope": "mesh", "payload": {{}}, "body": "hi", "ttl_sec": {}}}"#,
            ttl.map_or("null".to_owned(), |t| t.to_string())
        ))
        .unwrap()
    }

    #[tokio::test]
    async fn arrivals_are_registered_once_and_expired_ones_retired() {
        let dir = tempfile::tempdir().unwrap();
        let inbox = Inbox::open(&dir.path().join("inbox.db")).await.unwrap();
        let m = message(None);
        assert_eq!(
            inbox.classify(&m, "s1").await.unwrap().arrival,
            Arrival::Registered
        );
        let again = inbox.classify(&m, "s1").await.unwrap();
        assert_eq!(again.arrival, Arrival::DuplicateLive);
        assert!(!again.acked);
        // Per session: another session registers it too.
        assert_eq!(
            inbox.classify(&m, "s2").await.unwrap().arrival,
            Arrival::Registered
        );
        assert_eq!(
            inbox.record_ack(&m.msg_id, "s1").await.unwrap().as_deref(),
            Some("mesh")
        );
        assert!(inbox.classify(&m, "s1").await.unwrap().acked);
        assert_eq!(
            inbox
                .record_ack("f".repeat(32).as_str(), "s1")
                .await
                .unwrap(),
            None
        );

        let mut old = message(Some(1));
        old.created_at = "2020-01-01T00:00:00.000000Z".to_owned();
        let v = inbox.classify(&old, "s1").await.unwrap();
        assert_eq!(v.arrival, Arrival::ExpiredOnArrival);
        assert_eq!(
            inbox.classify(&old, "s1").await.unwrap().arrival,
            Arrival::DuplicateRetired
        );
        old.created_at = "2021-01-01T00:00:00.000000Z".to_owned();
        let v = inbox.classify(&old, "s1").await.unwrap();
        assert_eq!(v.arrival, Arrival::ProtocolViolation);
        assert!(v.remedy.unwrap().contains("(created_at changed)"));
    }
}
