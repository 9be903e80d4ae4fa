//! Where messages travel: the mesh (a Zenoh client of this host's daemon,
//! whose storages keep `msg/**` per scope so that a recipient offline at
//! send time gets its mail later), or in local mode a SQLite mailbox that
//! every agent on this machine shares. Both speak keys and selectors of
//! the same key space, so everything above them is written once.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use tokio::sync::OnceCell;
use zenoh::Session;
use zenoh::handlers::FifoChannelHandler;
use zenoh::pubsub::Subscriber;
use zenoh::qos::CongestionControl;
use zenoh::query::{ConsolidationMode, QueryTarget};
use zenoh::sample::{Sample, SampleKind};

use crate::error::{MessagingError, Result};

/// How long a query of the mesh waits for answers.
const QUERY_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a put waits for a storage to hold it.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(5);

/// A key and its stored value.
pub type Entry = (String, String);

/// What arrives below some selectors from now on: a Zenoh subscriber per
/// selector in the mesh, a row cursor over the local mailbox.
pub(crate) enum Follower {
    Mesh(Vec<Subscriber<FifoChannelHandler<Sample>>>),
    Local { cursor: i64, prefixes: Vec<String> },
}

/// The mesh or the local mailbox.
pub(crate) enum Transport {
    Mesh {
        endpoints: Vec<String>,
        session: OnceCell<Session>,
    },
    Local {
        pool: SqlitePool,
        path: PathBuf,
    },
}

pub(crate) async fn open_sqlite(path: &Path) -> Result<SqlitePool> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| MessagingError::Database {
            path: path.display().to_string(),
            action: "create its directory",
            reason: e.to_string(),
        })?;
    }
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .busy_timeout(Duration::from_secs(5));
    let pool_options = SqlitePoolOptions::new()
        .max_connections(2)
        .min_connections(0);
    // Two agents creating the mailbox at once can find it locked while the
    // other switches it to WAL: retry, bounded.
    let started = std::time::Instant::now();
    loop {
        match pool_options.clone().connect_with(options.clone()).await {
            Ok(pool) => return Ok(pool),
            Err(e) if is_busy(&e) && started.elapsed() < Duration::from_secs(10) => {
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            Err(e) => return Err(db_error(path, "open", &e)),
        }
    }
}

/// SQLITE_BUSY or SQLITE_LOCKED.
fn is_busy(error: &sqlx::Error) -> bool {
    let sqlx::Error::Database(db) = error else {
        return false;
    };
    let code = db
        .code()
        .and_then(|c| c.parse::<i64>().ok())
        .unwrap_or_default();
    matches!(code & 0xff, 5 | 6)
}

/// `BEGIN IMMEDIATE` on a connection that is not stuck in an old
/// transaction: after a COMMIT fails on a full disk, SQLite has rolled back
/// but sqlx still counts the connection as inside a transaction, and every
/// later begin on it would fail. Such a connection is closed and another
/// taken. (mesh-memory's `db::begin_fresh` does the same for its databases;
/// the two crates share no code by design.)
pub(crate) async fn begin_immediate(
    pool: &SqlitePool,
) -> std::result::Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
    use sqlx::Connection;
    for _ in 0..=pool.size() {
        let conn = pool.acquire().await?;
        if conn.is_in_transaction() {
            tracing::debug!("closing a database connection left inside a failed transaction");
            let _ = conn.detach().close().await;
            continue;
        }
        return sqlx::Transaction::begin(
            conn,
            Some(sqlx::SqlSafeStr::into_sql_str("BEGIN IMMEDIATE")),
        )
        .await;
    }
    pool.begin_with("BEGIN IMMEDIATE").await
}

pub(crate) fn db_error(path: &Path, action: &'static str, e: &sqlx::Error) -> MessagingError {
    MessagingError::Database {
        path: path.display().to_string(),
        action,
        reason: e.to_string(),
    }
}

fn unreachable(e: impl std::fmt::Display) -> MessagingError {
    MessagingError::Unreachable(e.to_string())
}

/// `selector` as a SQL `LIKE` pattern: `a/b/**` matches below `a/b`,
/// `a/b/*` one level below it, anything else the exact key.
fn like_pattern(selector: &str) -> (String, bool) {
    let escape = |s: &str| {
        s.replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    };
    if let Some(prefix) = selector.strip_suffix("/**") {
        (format!("{}/%", escape(prefix)), false)
    } else if let Some(prefix) = selector.strip_suffix("/*") {
        (format!("{}/%", escape(prefix)), true)
    } else {
        (escape(selector), false)
    }
}

impl Transport {
    /// The local mailbox at `path`.
    pub(crate) async fn local(path: &Path) -> Result<Self> {
        let pool = open_sqlite(path).await?;
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS mailbox (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        )
        .execute(&pool)
        .await
        .map_err(|e| db_error(path, "create its table", &e))?;
        Ok(Self::Local {
            pool,
            path: path.to_path_buf(),
        })
    }

    /// The mesh through the routers at `endpoints` (dialled on first use).
    pub(crate) fn mesh(endpoints: Vec<String>) -> Self {
        Self::Mesh {
            endpoints,
            session: OnceCell::new(),
        }
    }

    async fn session<'a>(endpoints: &[String], cell: &'a OnceCell<Session>) -> Result<&'a Session> {
        cell.get_or_try_init(|| async {
            mesh_core::session::open_client(endpoints, Duration::from_secs(5))
                .await
                .map_err(unreachable)
        })
        .await
    }

    /// Store `value` at `key`; in the mesh, wait until a storage holds it.
    pub(crate) async fn put(&self, key: &str, value: &str) -> Result<()> {
        match self {
            Self::Local { pool, path } => {
                sqlx::query("INSERT OR REPLACE INTO mailbox (key, value) VALUES (?, ?)")
                    .bind(key)
                    .bind(value)
                    .execute(pool)
                    .await
                    .map_err(|e| db_error(path, "write", &e))?;
                Ok(())
            }
            Self::Mesh { endpoints, session } => {
                let session = Self::session(endpoints, session).await?;
                session
                    .put(key, value)
                    .congestion_control(CongestionControl::Block)
                    .await
                    .map_err(unreachable)?;
                let started = Instant::now();
                let mut pause = Duration::from_millis(2);
                while started.elapsed() < CONFIRM_TIMEOUT {
                    if self.get(key).await?.iter().any(|(_, v)| v == value) {
                        return Ok(());
                    }
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(200));
                }
                Err(MessagingError::Unreachable(format!(
                    "no storage confirmed {key} within {} s (does this host's daemon store the scope?)",
                    CONFIRM_TIMEOUT.as_secs()
                )))
            }
        }
    }

    /// Every value at keys matching `selector`.
    pub(crate) async fn get(&self, selector: &str) -> Result<Vec<Entry>> {
        match self {
            Self::Local { pool, path } => {
                let (pattern, one_level) = like_pattern(selector);
                let rows: Vec<(String, String)> = sqlx::query_as(
                    "SELECT key, value FROM mailbox WHERE key LIKE ? ESCAPE '\\' ORDER BY key",
                )
                .bind(&pattern)
                .fetch_all(pool)
                .await
                .map_err(|e| db_error(path, "read", &e))?;
                let depth = selector.matches('/').count();
                Ok(rows
                    .into_iter()
                    .filter(|(k, _)| !one_level || k.matches('/').count() == depth)
                    .collect())
            }
            Self::Mesh { endpoints, session } => {
                let session = Self::session(endpoints, session).await?;
                let replies = session
                    .get(selector)
                    .target(QueryTarget::All)
                    .consolidation(ConsolidationMode::None)
                    .timeout(QUERY_TIMEOUT)
                    .await
                    .map_err(unreachable)?;
                let mut out: Vec<Entry> = Vec::new();
                while let Ok(reply) = replies.recv_async().await {
                    if let Ok(sample) = reply.result()
                        && sample.kind() == SampleKind::Put
                        && let Ok(text) = sample.payload().try_to_string()
                    {
                        let key = sample.key_expr().as_str().to_owned();
                        if !out.iter().any(|(k, _)| *k == key) {
                            out.push((key, text.into_owned()));
                        }
                    }
                }
                out.sort();
                Ok(out)
            }
        }
    }

    /// Remove `key` (everywhere, in the mesh).
    pub(crate) async fn delete(&self, key: &str) -> Result<()> {
        match self {
            Self::Local { pool, path } => {
                sqlx::query("DELETE FROM mailbox WHERE key = ?")
                    .bind(key)
                    .execute(pool)
                    .await
                    .map_err(|e| db_error(path, "delete", &e))?;
                Ok(())
            }
            Self::Mesh { endpoints, session } => {
                let session = Self::session(endpoints, session).await?;
                session.delete(key).await.map_err(unreachable)
            }
        }
    }

    /// Start following `selectors` (each ending in `/**`).
    pub(crate) async fn follow(&self, selectors: &[String]) -> Result<Follower> {
        match self {
            Self::Local { pool, path } => {
                let cursor: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(rowid), 0) FROM mailbox")
                    .fetch_one(pool)
                    .await
                    .map_err(|e| db_error(path, "read", &e))?;
                let prefixes = selectors
                    .iter()
                    .map(|s| s.trim_end_matches("**").to_owned())
                    .collect();
                Ok(Follower::Local { cursor, prefixes })
            }
            Self::Mesh { endpoints, session } => {
                let session = Self::session(endpoints, session).await?;
                let mut subscribers = Vec::new();
                for selector in selectors {
                    subscribers.push(
                        session
                            .declare_subscriber(selector.as_str())
                            .await
                            .map_err(unreachable)?,
                    );
                }
                Ok(Follower::Mesh(subscribers))
            }
        }
    }

    /// What arrived since the last call, without waiting.
    pub(crate) async fn drain(&self, follower: &mut Follower) -> Result<Vec<Entry>> {
        let mut out = Vec::new();
        match (self, follower) {
            (Self::Local { pool, path }, Follower::Local { cursor, prefixes }) => {
                let rows: Vec<(i64, String, String)> = sqlx::query_as(
                    "SELECT rowid, key, value FROM mailbox WHERE rowid > ? ORDER BY rowid",
                )
                .bind(*cursor)
                .fetch_all(pool)
                .await
                .map_err(|e| db_error(path, "read", &e))?;
                for (rowid, key, value) in rows {
                    *cursor = rowid;
                    if prefixes.iter().any(|p| key.starts_with(p.as_str())) {
                        out.push((key, value));
                    }
                }
            }
            (Self::Mesh { .. }, Follower::Mesh(subscribers)) => {
                for sub in subscribers.iter() {
                    while let Ok(Some(sample)) = sub.try_recv() {
                        if sample.kind() == SampleKind::Put
                            && let Ok(text) = sample.payload().try_to_string()
                        {
                            out.push((sample.key_expr().as_str().to_owned(), text.into_owned()));
                        }
                    }
                }
            }
            _ => {}
        }
        Ok(out)
    }

    /// Close the mesh session, if one was opened.
    pub(crate) async fn close(&self) {
        if let Self::Mesh { session, .. } = self
            && let Some(s) = session.get()
        {
            let _ = s.close().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_local_mailbox_answers_selectors_like_the_mesh() {
        let dir = tempfile::tempdir().unwrap();
        let t = Transport::local(&dir.path().join("m.db")).await.unwrap();
        t.put("msg/mesh/ack/a/s1", "1").await.unwrap();
        t.put("msg/mesh/ack/a/s2", "2").await.unwrap();
        t.put("msg/mesh/ack/a_b/s3", "3").await.unwrap();
        t.put("msg/mesh/ack/a/x/deeper", "4").await.unwrap();
        let one: Vec<String> = t
            .get("msg/mesh/ack/a/*")
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.1)
            .collect();
        assert_eq!(one, ["1", "2"]);
        assert_eq!(t.get("msg/mesh/ack/a/**").await.unwrap().len(), 3);
        assert_eq!(t.get("msg/mesh/ack/a_b/s3").await.unwrap().len(), 1);
        t.delete("msg/mesh/ack/a/s1").await.unwrap();
        assert_eq!(t.get("msg/mesh/**").await.unwrap().len(), 3);
    }
}
