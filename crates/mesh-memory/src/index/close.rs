//! Closing the index database: the full close of a long-lived process, and
//! the close of a process that exits right after (ADR 0018).

use sqlx::Row;

use super::Index;

impl Index {
    /// Close the pool.
    pub async fn close(&self) {
        // No explicit checkpoint: SQLite checkpoints when the last
        // connection closes, and a CLI command pays for every extra fsync.
        self.pool.close().await;
    }

    /// Close for a process that exits right after. The log is checkpointed
    /// into the database file and truncated, with the syncs of the last
    /// connection's close, but the connection is left open for the
    /// operating system to release at exit; SQLite treats that like any
    /// interrupted process. That skips the close's teardown: freeing the
    /// schema and statements, and deleting `-wal` and `-shm`, which the next
    /// command would create again. When another process's reader keeps the
    /// checkpoint from completing, this is [`close`](Self::close).
    pub async fn close_for_exit(&self) {
        if self.checkpoint_and_truncate().await {
            // A handle that is never dropped keeps the connection open.
            std::mem::forget(self.pool.clone());
        } else {
            self.pool.close().await;
        }
    }

    /// `wal_checkpoint(TRUNCATE)` without waiting for other processes:
    /// whether it completed.
    async fn checkpoint_and_truncate(&self) -> bool {
        // A reader elsewhere would otherwise hold this process in the busy
        // handler for up to the busy timeout; a close does not wait either.
        let outcome = sqlx::raw_sql("PRAGMA busy_timeout = 0; PRAGMA wal_checkpoint(TRUNCATE)")
            .fetch_all(&self.pool)
            .await;
        match outcome {
            Ok(rows) => rows
                .last()
                .and_then(|row| row.try_get::<i64, _>(0).ok())
                .is_some_and(|busy| busy == 0),
            Err(e) => {
                tracing::debug!("checkpoint before exit: {e}");
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use sqlx::{Executor, SqlitePool};

    use super::*;
    use crate::db;

    fn wal_len(db: &Path) -> u64 {
        let mut wal = db.as_os_str().to_owned();
        wal.push("-wal");
        std::fs::metadata(wal).map(|m| m.len()).unwrap_or(0)
    }

    async fn rows_in(db: &Path) -> i64 {
        let pool = db::open_pool(db, 1).await.unwrap();
        let n = sqlx::query_scalar("SELECT count(*) FROM t")
            .fetch_one(&pool)
            .await
            .unwrap();
        pool.close().await;
        n
    }

    async fn written(path: &Path) -> (Index, SqlitePool) {
        let pool = db::open_pool(path, 1).await.unwrap();
        pool.execute("CREATE TABLE t(x); INSERT INTO t VALUES (1), (2), (3)")
            .await
            .unwrap();
        assert!(wal_len(path) > 0, "the writes sit in the log");
        (Index::from_pool(pool.clone(), path), pool)
    }

    #[tokio::test]
    async fn the_database_file_alone_holds_every_write_and_the_connection_stays_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("raw.db");
        let (index, pool) = written(&path).await;

        index.close_for_exit().await;
        assert_eq!(wal_len(&path), 0);
        assert!(!pool.is_closed(), "left for the process exit");
        let copy = dir.path().join("copy.db");
        std::fs::copy(&path, &copy).unwrap();
        assert_eq!(rows_in(&copy).await, 3);
        // Still usable, for an embedder that goes on.
        pool.execute("INSERT INTO t VALUES (4)").await.unwrap();
    }

    #[tokio::test]
    async fn a_reader_elsewhere_gets_a_plain_close_without_waiting() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("raw.db");
        let (index, pool) = written(&path).await;
        let reader = db::open_pool(&path, 1).await.unwrap();
        let mut snapshot = reader.begin().await.unwrap();
        let seen: i64 = sqlx::query_scalar("SELECT count(*) FROM t")
            .fetch_one(&mut *snapshot)
            .await
            .unwrap();
        assert_eq!(seen, 3);

        // Well inside the 5 s busy timeout: the checkpoint does not wait.
        tokio::time::timeout(Duration::from_secs(3), index.close_for_exit())
            .await
            .unwrap();
        assert!(pool.is_closed());
        snapshot.commit().await.unwrap();
        reader.close().await;
        assert_eq!(rows_in(&path).await, 3);
    }
}
