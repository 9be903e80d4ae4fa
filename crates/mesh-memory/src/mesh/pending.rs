//! The durable queue of writes the mesh has not confirmed yet.
//!
//! Every mesh write is queued here before it is sent and removed only once
//! a storage answers for its key, so a write reported as saved or queued
//! survives the daemon, the network or this process dying at any moment.
//! The queue lives in its own file: unlike the index it is not derived
//! data and must never be thrown away by a rebuild.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use sqlx::sqlite::SqlitePool;

use crate::db;
use crate::error::{DbContext, MemoryError, Result};

/// Most writes the queue holds (the reference's limit).
pub const PENDING_LIMIT: u64 = 1000;

const SCHEMA: &str = r"
CREATE TABLE IF NOT EXISTS pending_write (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    key            TEXT NOT NULL UNIQUE,
    observation_id TEXT NOT NULL,
    payload        TEXT NOT NULL,
    queued_at      TEXT NOT NULL,
    attempts       INTEGER NOT NULL DEFAULT 0,
    last_error     TEXT
);
CREATE TABLE IF NOT EXISTS pending_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
";

/// One queued write: a payload to put at a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingWrite {
    /// Queue position; older writes have smaller numbers.
    pub seq: i64,
    /// The key to put at.
    pub key: String,
    /// The observation the write belongs to.
    pub observation_id: String,
    /// The JSON payload, sent verbatim.
    pub payload: String,
}

/// The outcome of the last put, kept for `status`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LastPut {
    /// When it happened (`""` if never).
    pub at: String,
    /// `ok`, or `error: <reason>`; `never` when nothing was put yet.
    pub status: String,
}

/// Handle on the queue file.
#[derive(Debug, Clone)]
pub struct PendingQueue {
    pool: SqlitePool,
    path: PathBuf,
}

impl PendingQueue {
    /// Open (creating if needed) the queue at `path`.
    pub async fn open(path: &Path) -> Result<Self> {
        let pool = db::open_pool(path, 2).await?;
        sqlx::raw_sql(SCHEMA)
            .execute(&pool)
            .await
            .map_err(|e| db::classify(e, path, "open"))?;
        Ok(Self {
            pool,
            path: path.to_owned(),
        })
    }

    /// Queue a write. A write already queued for the same key keeps its
    /// place and takes the new payload. Fails when the queue is full.
    pub async fn push(&self, key: &str, observation_id: &str, payload: &str) -> Result<i64> {
        let mut tx = db::begin(&self.pool, "BEGIN IMMEDIATE", &self.path, "write").await?;
        let existing: Option<i64> =
            sqlx::query_scalar("SELECT seq FROM pending_write WHERE key = ?")
                .bind(key)
                .fetch_optional(&mut *tx)
                .await
                .ctx("reading the pending queue")?;
        let seq = if let Some(seq) = existing {
            sqlx::query("UPDATE pending_write SET payload = ? WHERE seq = ?")
                .bind(payload)
                .bind(seq)
                .execute(&mut *tx)
                .await
                .map_err(|e| db::classify(e, &self.path, "write"))?;
            seq
        } else {
            let len: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pending_write")
                .fetch_one(&mut *tx)
                .await
                .ctx("counting the pending queue")?;
            if u64::try_from(len).unwrap_or_default() >= PENDING_LIMIT {
                return Err(MemoryError::QueueFull {
                    limit: PENDING_LIMIT,
                });
            }
            sqlx::query(
                "INSERT INTO pending_write(key, observation_id, payload, queued_at) VALUES (?, ?, ?, ?)",
            )
            .bind(key)
            .bind(observation_id)
            .bind(payload)
            .bind(mesh_core::timestamp::now())
            .execute(&mut *tx)
            .await
            .map_err(|e| db::classify(e, &self.path, "write"))?
            .last_insert_rowid()
        };
        tx.commit()
            .await
            .map_err(|e| db::classify(e, &self.path, "write"))?;
        Ok(seq)
    }

    /// Up to `limit` writes, oldest first.
    pub async fn oldest(&self, limit: usize) -> Result<Vec<PendingWrite>> {
        let rows: Vec<(i64, String, String, String)> = sqlx::query_as(
            "SELECT seq, key, observation_id, payload FROM pending_write ORDER BY seq LIMIT ?",
        )
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .ctx("reading the pending queue")?;
        Ok(rows
            .into_iter()
            .map(|(seq, key, observation_id, payload)| PendingWrite {
                seq,
                key,
                observation_id,
                payload,
            })
            .collect())
    }

    /// Remove a delivered write. A newer payload queued for the same key
    /// meanwhile is kept (it has not been delivered).
    pub async fn remove(&self, write: &PendingWrite) -> Result<()> {
        sqlx::query("DELETE FROM pending_write WHERE seq = ? AND payload = ?")
            .bind(write.seq)
            .bind(&write.payload)
            .execute(&self.pool)
            .await
            .map_err(|e| db::classify(e, &self.path, "write"))?;
        Ok(())
    }

    /// Drop every queued write of `observation_id` (it is being deleted for
    /// good; replaying them would bring it back).
    pub async fn forget(&self, observation_id: &str) -> Result<u64> {
        Ok(
            sqlx::query("DELETE FROM pending_write WHERE observation_id = ?")
                .bind(observation_id)
                .execute(&self.pool)
                .await
                .map_err(|e| db::classify(e, &self.path, "write"))?
                .rows_affected(),
        )
    }

    /// Note a failed delivery attempt.
    pub async fn record_failure(&self, seq: i64, error: &str) -> Result<()> {
        sqlx::query(
            "UPDATE pending_write SET attempts = attempts + 1, last_error = ? WHERE seq = ?",
        )
        .bind(error)
        .bind(seq)
        .execute(&self.pool)
        .await
        .map_err(|e| db::classify(e, &self.path, "write"))?;
        Ok(())
    }

    /// Writes waiting.
    pub async fn len(&self) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pending_write")
            .fetch_one(&self.pool)
            .await
            .ctx("counting the pending queue")?;
        Ok(u64::try_from(n).unwrap_or_default())
    }

    /// True when nothing is waiting.
    pub async fn is_empty(&self) -> Result<bool> {
        Ok(self.len().await? == 0)
    }

    /// Whether the write at `seq` is still waiting.
    pub async fn contains(&self, seq: i64) -> Result<bool> {
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pending_write WHERE seq = ?)")
            .bind(seq)
            .fetch_one(&self.pool)
            .await
            .ctx("reading the pending queue")
    }

    /// Ids with a write waiting: the index keeps these visible even though
    /// no storage has them yet.
    pub async fn observation_ids(&self) -> Result<HashSet<String>> {
        let ids: Vec<String> =
            sqlx::query_scalar("SELECT DISTINCT observation_id FROM pending_write")
                .fetch_all(&self.pool)
                .await
                .ctx("reading the pending queue")?;
        Ok(ids.into_iter().collect())
    }

    /// Remember the outcome of a put for `status`.
    pub async fn record_put(&self, status: &str) -> Result<()> {
        sqlx::query(
            "INSERT OR REPLACE INTO pending_meta(key, value) VALUES ('last_put_at', ?), ('last_put_status', ?)",
        )
        .bind(mesh_core::timestamp::now())
        .bind(status)
        .execute(&self.pool)
        .await
        .map_err(|e| db::classify(e, &self.path, "write"))?;
        Ok(())
    }

    /// The outcome of the last put made from this host.
    pub async fn last_put(&self) -> Result<LastPut> {
        let rows: Vec<(String, String)> = sqlx::query_as("SELECT key, value FROM pending_meta")
            .fetch_all(&self.pool)
            .await
            .ctx("reading the pending queue")?;
        let get = |k: &str| {
            rows.iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
        };
        Ok(LastPut {
            at: get("last_put_at").unwrap_or_default(),
            status: get("last_put_status").unwrap_or_else(|| "never".to_owned()),
        })
    }

    /// Release the file.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn writes_come_back_oldest_first_and_leave_once_delivered() {
        let dir = tempfile::tempdir().unwrap();
        let q = PendingQueue::open(&dir.path().join("pending.db"))
            .await
            .unwrap();
        let a = q.push("k/a", "a", "{1}").await.unwrap();
        let b = q.push("k/b", "b", "{2}").await.unwrap();
        // Re-queueing a key keeps its place.
        assert_eq!(q.push("k/a", "a", "{1'}").await.unwrap(), a);
        let oldest = q.oldest(10).await.unwrap();
        assert_eq!(oldest.iter().map(|w| w.seq).collect::<Vec<_>>(), vec![a, b]);
        assert_eq!(oldest[0].payload, "{1'}");
        q.remove(&oldest[0]).await.unwrap();
        assert!(!q.contains(a).await.unwrap());
        assert_eq!(q.len().await.unwrap(), 1);
        assert!(q.observation_ids().await.unwrap().contains("b"));
        assert_eq!(q.last_put().await.unwrap().status, "never");
        q.record_put("ok").await.unwrap();
        assert_eq!(q.last_put().await.unwrap().status, "ok");
    }

    #[tokio::test]
    async fn a_full_queue_refuses_and_keeps_what_it_has() {
        let dir = tempfile::tempdir().unwrap();
        let q = PendingQueue::open(&dir.path().join("pending.db"))
            .await
            .unwrap();
        for i in 0..PENDING_LIMIT {
            q.push(&format!("k/{i}"), "x", "{}").await.unwrap();
        }
        let err = q.push("k/extra", "x", "{}").await.unwrap_err();
        assert!(matches!(err, MemoryError::QueueFull { .. }), "{err}");
        assert_eq!(q.len().await.unwrap(), PENDING_LIMIT);
    }
}
