//! The local store: one SQLite database holding the raw observations and
//! tombstones (the source of truth) and the search index, written together
//! in one transaction per change.
//!
//! The raw tables have the reference's layout (`local_obs`, `local_tomb` in
//! `local/raw.db`), so a host that ran the reference keeps its memory, and
//! both implementations can share one state directory: rows the reference
//! writes are queued by triggers and indexed the next time this store opens
//! or writes.

use std::path::Path;

use mesh_core::{BackendMode, Observation, Tombstone};
use sqlx::SqliteConnection;

use crate::db;
use crate::error::{DbContext, Result};
use crate::index::{Index, maintain, own_write, schema};
use crate::store::{BackendStatus, MemoryStore, PhysicalDelete, PutOutcome, RebuildStats};

/// The SQLite-only store of local mode.
#[derive(Debug, Clone)]
pub struct LocalStore {
    index: Index,
}

impl LocalStore {
    /// Open (creating if needed) the database at `path`, bringing its index
    /// up to date with its raw rows.
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

    async fn prepare(&self) -> Result<()> {
        let mut conn = self
            .index
            .pool()
            .acquire()
            .await
            .map_err(|e| db::classify(e, self.path(), "open"))?;
        if schema::is_current_and_indexed(&mut conn).await {
            return Ok(());
        }
        drop(conn);
        let mut tx = self.index.begin_write().await?;
        if schema::ensure(&mut tx).await? == schema::SchemaState::Fresh {
            maintain::queue_everything(&mut tx).await?;
        }
        let n = maintain::reindex_pending(&mut tx).await?;
        tx.commit()
            .await
            .map_err(|e| db::classify(e, self.path(), "write"))?;
        if n > 0 {
            tracing::debug!("indexed {n} rows of {}", self.path().display());
        }
        if n > 1000 {
            self.index.optimize().await?;
        }
        Ok(())
    }

    /// Store many observations in one transaction (imports, benchmarks).
    /// Either all are stored or none is.
    pub async fn put_many(&self, observations: &[Observation]) -> Result<u64> {
        let mut tx = self.index.begin_write().await?;
        for obs in observations {
            insert_observation(&mut tx, obs, self.path()).await?;
        }
        maintain::reindex_pending(&mut tx).await?;
        tx.commit()
            .await
            .map_err(|e| db::classify(e, self.path(), "write"))?;
        self.index.optimize().await?;
        Ok(observations.len() as u64)
    }
}

async fn insert_observation(
    conn: &mut SqliteConnection,
    obs: &Observation,
    path: &Path,
) -> Result<()> {
    sqlx::query("INSERT OR REPLACE INTO local_obs(observation_id, payload_json, created_at) VALUES (?, ?, ?)")
        .bind(&obs.observation_id)
        .bind(obs.to_json())
        .bind(&obs.created_at)
        .execute(&mut *conn)
        .await
        .map_err(|e| db::classify(e, path, "write"))?;
    Ok(())
}

impl MemoryStore for LocalStore {
    fn index(&self) -> &Index {
        &self.index
    }

    async fn put_observation(&self, obs: &Observation) -> Result<PutOutcome> {
        let mut tx = self.index.begin_write().await?;
        insert_observation(&mut tx, obs, self.path()).await?;
        own_write::index_own_write(&mut tx, obs).await?;
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
        maintain::reindex_pending(&mut tx).await?;
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
        maintain::reindex_pending(&mut tx).await?;
        tx.commit()
            .await
            .map_err(|e| db::classify(e, self.path(), "write"))?;
        Ok(removed)
    }

    async fn rebuild_index(&self) -> Result<RebuildStats> {
        let mut tx = self.index.begin_write().await?;
        schema::reset_index(&mut tx).await?;
        maintain::queue_everything(&mut tx).await?;
        maintain::reindex_pending(&mut tx).await?;
        let (observations, tombstones, raw): (i64, i64, i64) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM ix_obs), (SELECT COUNT(*) FROM ix_tomb), (SELECT COUNT(*) FROM local_obs)",
        )
        .fetch_one(&mut *tx)
        .await
        .ctx("counting the rebuilt index")?;
        tx.commit()
            .await
            .map_err(|e| db::classify(e, self.path(), "write"))?;
        self.index.optimize().await?;
        let count = |n: i64| u64::try_from(n).unwrap_or_default();
        Ok(RebuildStats {
            observations: count(observations),
            tombstones: count(tombstones),
            malformed: count(raw - observations),
        })
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

    async fn close_for_exit(&self) {
        self.index.close_for_exit().await;
    }
}
