//! The local store: one SQLite database holding the raw observations and
//! tombstones (the source of truth) and the search index, written together
//! in one transaction per change.
//!
//! The raw tables have the reference's layout (`local_obs`, `local_tomb` in
//! `local/raw.db`), so a host that ran the reference keeps its memory and
//! both implementations can share one state directory. Triggers on the raw
//! tables queue every change made by any writer in `raw_pending`; this store
//! drains that queue into the index when it opens, so rows written by
//! another program are never missed.

use std::path::{Path, PathBuf};

use mesh_core::{BackendMode, Observation, Tombstone};
use sqlx::SqliteConnection;

use crate::db;
use crate::error::{DbContext, Result};
use crate::index::{Index, schema, write};
use crate::store::{BackendStatus, MemoryStore, PhysicalDelete, PutOutcome, RebuildStats};

const RAW_SCHEMA: &str = r"
CREATE TABLE IF NOT EXISTS raw_schema_version (version INTEGER PRIMARY KEY);
CREATE TABLE IF NOT EXISTS migration_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS local_obs (
    observation_id TEXT PRIMARY KEY,
    payload_json TEXT NOT NULL,
    created_at TEXT
);
CREATE TABLE IF NOT EXISTS local_tomb (
    observation_id TEXT PRIMARY KEY,
    tomb_json TEXT NOT NULL,
    deleted_at TEXT
);
INSERT INTO raw_schema_version(version) SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM raw_schema_version);

CREATE TABLE IF NOT EXISTS raw_pending (observation_id TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS local_obs_ai AFTER INSERT ON local_obs
    BEGIN INSERT OR IGNORE INTO raw_pending VALUES (NEW.observation_id); END;
CREATE TRIGGER IF NOT EXISTS local_obs_au AFTER UPDATE ON local_obs
    BEGIN INSERT OR IGNORE INTO raw_pending VALUES (NEW.observation_id); END;
CREATE TRIGGER IF NOT EXISTS local_obs_ad AFTER DELETE ON local_obs
    BEGIN INSERT OR IGNORE INTO raw_pending VALUES (OLD.observation_id); END;
CREATE TRIGGER IF NOT EXISTS local_tomb_ai AFTER INSERT ON local_tomb
    BEGIN INSERT OR IGNORE INTO raw_pending VALUES (NEW.observation_id); END;
CREATE TRIGGER IF NOT EXISTS local_tomb_au AFTER UPDATE ON local_tomb
    BEGIN INSERT OR IGNORE INTO raw_pending VALUES (NEW.observation_id); END;
CREATE TRIGGER IF NOT EXISTS local_tomb_ad AFTER DELETE ON local_tomb
    BEGIN INSERT OR IGNORE INTO raw_pending VALUES (OLD.observation_id); END;
";

/// Rows read per batch while rebuilding or draining.
const BATCH: i64 = 1000;

/// The SQLite-only store of local mode.
#[derive(Debug, Clone)]
pub struct LocalStore {
    index: Index,
}

impl LocalStore {
    /// Open (creating if needed) the database at `path`.
    pub async fn open(path: &Path) -> Result<Self> {
        let pool = db::open_pool(path, 4).await?;
        let store = Self {
            index: Index::from_pool(pool, path),
        };
        store.prepare().await?;
        Ok(store)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        self.index.path()
    }

    /// Bring the schema up to date and catch the index up with the raw rows.
    async fn prepare(&self) -> Result<()> {
        if self.is_current().await {
            if self.has_pending().await? {
                self.sync_pending().await?;
            }
            return Ok(());
        }
        let mut tx = self.index.begin_write().await?;
        sqlx::raw_sql(RAW_SCHEMA)
            .execute(&mut *tx)
            .await
            .map_err(|e| db::classify(e, self.path(), "write"))?;
        if schema::ensure(&mut tx).await? == schema::SchemaState::Fresh {
            let stats = rebuild_from_raw(&mut tx).await?;
            if stats.observations > 0 {
                tracing::info!(
                    "indexed {} observations and {} tombstones found in {}",
                    stats.observations,
                    stats.tombstones,
                    self.path().display()
                );
            }
        }
        tx.commit()
            .await
            .map_err(|e| db::classify(e, self.path(), "write"))?;
        self.sync_pending().await?;
        Ok(())
    }

    async fn is_current(&self) -> bool {
        sqlx::query_scalar::<_, String>(
            "SELECT value FROM ix_meta WHERE key = 'schema_version' AND EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'local_tomb_ad')",
        )
        .fetch_optional(self.index.pool())
        .await
        .ok()
        .flatten()
        .is_some_and(|v| v == schema::INDEX_SCHEMA_VERSION.to_string())
    }

    async fn has_pending(&self) -> Result<bool> {
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM raw_pending)")
            .fetch_one(self.index.pool())
            .await
            .ctx("checking for unindexed rows")
    }

    /// Index rows that other writers added, changed or removed.
    pub async fn sync_pending(&self) -> Result<u64> {
        let mut total = 0;
        loop {
            let mut tx = self.index.begin_write().await?;
            let ids: Vec<String> =
                sqlx::query_scalar("SELECT observation_id FROM raw_pending LIMIT ?")
                    .bind(BATCH)
                    .fetch_all(&mut *tx)
                    .await
                    .ctx("reading unindexed rows")?;
            if ids.is_empty() {
                tx.commit().await.ctx("reading unindexed rows")?;
                return Ok(total);
            }
            for id in &ids {
                reconcile(&mut tx, id).await?;
            }
            tx.commit()
                .await
                .map_err(|e| db::classify(e, self.path(), "write"))?;
            total += ids.len() as u64;
            tracing::debug!("indexed {} rows written by another program", ids.len());
        }
    }
}

/// Make the index agree with the raw rows for one id.
async fn reconcile(conn: &mut SqliteConnection, id: &str) -> Result<()> {
    let raw: Option<String> =
        sqlx::query_scalar("SELECT payload_json FROM local_obs WHERE observation_id = ?")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await
            .ctx("reading a raw observation")?;
    let indexed: Option<String> =
        sqlx::query_scalar("SELECT payload_json FROM ix_obs WHERE observation_id = ?")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await
            .ctx("reading the index")?;
    match raw {
        None => {
            write::remove_observation(conn, id).await?;
        }
        Some(payload) if indexed.as_deref() != Some(payload.as_str()) => {
            match Observation::from_json(&payload) {
                Ok(obs) if obs.observation_id == id => write::upsert(conn, &obs, &payload).await?,
                Ok(_) => tracing::warn!("raw row {id} holds a payload for another id; not indexed"),
                Err(e) => {
                    tracing::warn!("raw row {id} is not a valid observation ({e}); not indexed");
                    write::remove_observation(conn, id).await?;
                }
            }
        }
        Some(_) => {}
    }
    match raw_tombstone(conn, id).await? {
        Some(deleted_at) => write::apply_tombstone(conn, id, &deleted_at).await?,
        None => write::clear_tombstone(conn, id).await?,
    }
    sqlx::query("DELETE FROM raw_pending WHERE observation_id = ?")
        .bind(id)
        .execute(&mut *conn)
        .await
        .ctx("updating the index queue")?;
    Ok(())
}

async fn raw_tombstone(conn: &mut SqliteConnection, id: &str) -> Result<Option<String>> {
    let row: Option<(String, Option<String>)> =
        sqlx::query_as("SELECT tomb_json, deleted_at FROM local_tomb WHERE observation_id = ?")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await
            .ctx("reading a raw tombstone")?;
    Ok(row.map(|(json, column)| {
        column
            .filter(|c| !c.is_empty())
            .or_else(|| Tombstone::from_json(&json).ok().map(|t| t.deleted_at))
            .unwrap_or_else(mesh_core::timestamp::now)
    }))
}

/// Refill an empty index from every raw row, in batches.
async fn rebuild_from_raw(conn: &mut SqliteConnection) -> Result<RebuildStats> {
    let mut stats = RebuildStats::default();
    let mut after = String::new();
    loop {
        let rows: Vec<(String, Option<String>, String)> = sqlx::query_as(
            "SELECT observation_id, deleted_at, tomb_json FROM local_tomb WHERE observation_id > ? ORDER BY observation_id LIMIT ?",
        )
        .bind(&after)
        .bind(BATCH)
        .fetch_all(&mut *conn)
        .await
        .ctx("reading raw tombstones")?;
        let Some(last) = rows.last() else { break };
        after = last.0.clone();
        for (id, column, json) in rows {
            let deleted_at = column
                .filter(|c| !c.is_empty())
                .or_else(|| Tombstone::from_json(&json).ok().map(|t| t.deleted_at))
                .unwrap_or_else(mesh_core::timestamp::now);
            write::apply_tombstone(conn, &id, &deleted_at).await?;
            stats.tombstones += 1;
        }
    }
    let mut after = String::new();
    loop {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT observation_id, payload_json FROM local_obs WHERE observation_id > ? ORDER BY observation_id LIMIT ?",
        )
        .bind(&after)
        .bind(BATCH)
        .fetch_all(&mut *conn)
        .await
        .ctx("reading raw observations")?;
        let Some(last) = rows.last() else { break };
        after = last.0.clone();
        for (id, payload) in rows {
            match Observation::from_json(&payload) {
                Ok(obs) if obs.observation_id == id => {
                    write::upsert(conn, &obs, &payload).await?;
                    stats.observations += 1;
                }
                Ok(_) | Err(_) => {
                    tracing::warn!("raw row {id} is not a valid observation; not indexed");
                    stats.malformed += 1;
                }
            }
        }
    }
    sqlx::query("DELETE FROM raw_pending")
        .execute(&mut *conn)
        .await
        .ctx("clearing the index queue")?;
    Ok(stats)
}

impl MemoryStore for LocalStore {
    fn index(&self) -> &Index {
        &self.index
    }

    async fn put_observation(&self, obs: &Observation) -> Result<PutOutcome> {
        let payload = obs.to_json();
        let mut tx = self.index.begin_write().await?;
        sqlx::query("INSERT OR REPLACE INTO local_obs(observation_id, payload_json, created_at) VALUES (?, ?, ?)")
            .bind(&obs.observation_id)
            .bind(&payload)
            .bind(&obs.created_at)
            .execute(&mut *tx)
            .await
            .map_err(|e| db::classify(e, self.path(), "write"))?;
        write::upsert(&mut tx, obs, &payload).await?;
        clear_pending(&mut tx, &obs.observation_id).await?;
        tx.commit()
            .await
            .map_err(|e| db::classify(e, self.path(), "write"))?;
        Ok(PutOutcome::Stored)
    }

    async fn put_tombstone(&self, obs: &Observation, tomb: &Tombstone) -> Result<PutOutcome> {
        let mut tx = self.index.begin_write().await?;
        sqlx::query("INSERT OR REPLACE INTO local_tomb(observation_id, tomb_json, deleted_at) VALUES (?, ?, ?)")
            .bind(&obs.observation_id)
            .bind(tomb.to_json())
            .bind(&tomb.deleted_at)
            .execute(&mut *tx)
            .await
            .map_err(|e| db::classify(e, self.path(), "write"))?;
        write::apply_tombstone(&mut tx, &obs.observation_id, &tomb.deleted_at).await?;
        clear_pending(&mut tx, &obs.observation_id).await?;
        tx.commit()
            .await
            .map_err(|e| db::classify(e, self.path(), "write"))?;
        Ok(PutOutcome::Stored)
    }

    async fn physical_delete(&self, observation_id: &str) -> Result<PhysicalDelete> {
        let mut tx = self.index.begin_write().await?;
        let mut removed = PhysicalDelete::default();
        for (sql, flag) in [
            (
                "DELETE FROM local_obs WHERE observation_id = ?",
                &mut removed.observation,
            ),
            (
                "DELETE FROM local_tomb WHERE observation_id = ?",
                &mut removed.tombstone,
            ),
        ] {
            *flag = sqlx::query(sql)
                .bind(observation_id)
                .execute(&mut *tx)
                .await
                .map_err(|e| db::classify(e, self.path(), "write"))?
                .rows_affected()
                > 0;
        }
        // Rows only the index knew about (none, normally) go too.
        removed.observation |= write::remove_observation(&mut tx, observation_id).await?;
        write::clear_tombstone(&mut tx, observation_id).await?;
        clear_pending(&mut tx, observation_id).await?;
        tx.commit()
            .await
            .map_err(|e| db::classify(e, self.path(), "write"))?;
        Ok(removed)
    }

    async fn rebuild_index(&self) -> Result<RebuildStats> {
        let mut tx = self.index.begin_write().await?;
        schema::clear(&mut tx).await?;
        let stats = rebuild_from_raw(&mut tx).await?;
        tx.commit()
            .await
            .map_err(|e| db::classify(e, self.path(), "write"))?;
        Ok(stats)
    }

    async fn backend_status(&self) -> Result<BackendStatus> {
        Ok(BackendStatus {
            mode: BackendMode::Local,
            zenoh_session: "n/a".to_owned(),
            last_put_at: String::new(),
            last_put_status: "n/a".to_owned(),
            pending_puts: 0,
        })
    }

    async fn drain_pending(&self, _limit: Option<usize>) -> Result<u64> {
        Ok(0)
    }

    async fn close(&self) {
        self.index.close().await;
    }
}

async fn clear_pending(conn: &mut SqliteConnection, id: &str) -> Result<()> {
    sqlx::query("DELETE FROM raw_pending WHERE observation_id = ?")
        .bind(id)
        .execute(&mut *conn)
        .await
        .ctx("updating the index queue")?;
    Ok(())
}

/// The default location of the local database under `paths`.
pub fn default_path(paths: &mesh_core::Paths) -> PathBuf {
    paths.local_db()
}
