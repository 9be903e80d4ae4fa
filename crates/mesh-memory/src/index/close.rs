//! Closing the index database: the full close of a long-lived process, and
//! the close of a process that exits right after (ADR 0018).

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use sqlx::sqlite::SqliteConnection;
use sqlx::{Row, SqlSafeStr, Sqlite, Transaction};

use super::Index;

impl Index {
    /// Close the pool.
    pub async fn close(&self) {
        // No explicit checkpoint: SQLite checkpoints when the last
        // connection closes, and a CLI command pays for every extra fsync.
        self.pool.close().await;
    }

    /// Close for a process that exits right after. Every commit is
    /// checkpointed into the database file, with the syncs of the last
    /// connection's close, but the connection is left open for the
    /// operating system to release at exit; SQLite treats that like any
    /// interrupted process. That skips the close's teardown: freeing the
    /// schema and statements, and deleting `-wal` and `-shm`, which the next
    /// command would create again. The log keeps its blocks with its header
    /// cleared, so the next command's writes to it change no file size or
    /// allocation, and its syncs write data only. When another process's
    /// reader keeps the checkpoint from completing, this is
    /// [`close`](Self::close). Either way the index is closed: later calls
    /// fail.
    pub async fn close_for_exit(&self) {
        let Ok(mut conn) = self.pool.acquire().await else {
            return self.pool.close().await;
        };
        if checkpoint_for_exit(&mut conn, &self.path).await {
            // Checked out for good and never dropped: nothing closes it
            // before the exit, not even a runtime shutting down.
            std::mem::forget(conn.leak());
            // Closing is immediate; the wait would be for that connection.
            drop(self.pool.close());
        } else {
            drop(conn);
            self.pool.close().await;
        }
    }
}

/// Checkpoint the whole log without waiting for other processes, then
/// clear it; whether every commit is now in the database file.
async fn checkpoint_for_exit(conn: &mut SqliteConnection, db: &Path) -> bool {
    let log = log_path(db);
    let header = read_header(&log);
    let Some((frames, copied)) = checkpoint(conn, CHECKPOINT_NOW).await else {
        return false;
    };
    match frames {
        // No log (an in-memory index), or nothing in it.
        ..=0 => return true,
        // A reader kept frames from being copied.
        _ if frames != copied => return false,
        _ => {}
    }
    let small = std::fs::metadata(&log).is_ok_and(|m| m.len() <= KEPT_LOG_BYTES);
    if small && let Some(header) = header {
        match clear_log_header(conn, &log, &header).await {
            Ok(true) => return true,
            Ok(false) => {}
            Err(e) => tracing::debug!("keeping the log's header: {e}"),
        }
    }
    // A large log (a rebuild) or one written to meanwhile: truncate it.
    checkpoint(conn, "PRAGMA wal_checkpoint(TRUNCATE)")
        .await
        .is_some_and(|(frames, copied)| frames == copied)
}

/// Run a checkpoint statement: the log's frames and how many of them are in
/// the database file, or `None` if it did not complete.
async fn checkpoint(conn: &mut SqliteConnection, statement: &'static str) -> Option<(i64, i64)> {
    let rows = match sqlx::raw_sql(statement).fetch_all(&mut *conn).await {
        Ok(rows) => rows,
        Err(e) => {
            tracing::debug!("checkpoint before exit: {e}");
            return None;
        }
    };
    let row = rows.last()?;
    let busy: i64 = row.try_get(0).ok()?;
    let counts = (row.try_get(1).ok()?, row.try_get(2).ok()?);
    (busy == 0).then_some(counts)
}

/// Zero the log's header, making it an empty log to SQLite, if no one has
/// written to it since `header` was read before the checkpoint.
///
/// After a checkpoint that copied every frame and waited out the readers
/// (`RESTART`), the next writer starts the log over with a new header; a
/// log whose header is unchanged therefore holds only frames the database
/// file already has. The write lock, held meanwhile, keeps any writer out.
/// Whether the zeroed header reaches the disk or the old one stays, recovery
/// finds the same data: no frames, or frames equal to the database file's
/// pages.
async fn clear_log_header(
    conn: &mut SqliteConnection,
    log: &Path,
    header: &LogHeader,
) -> Result<bool, Box<dyn std::error::Error + Send + Sync>> {
    let tx: Transaction<'_, Sqlite> =
        Transaction::begin(&mut *conn, Some("BEGIN IMMEDIATE".into_sql_str())).await?;
    let unchanged = read_header(log).is_some_and(|now| now == *header);
    if unchanged {
        std::fs::OpenOptions::new()
            .write(true)
            .open(log)?
            .write_all_at(&[0; LOG_HEADER_BYTES], 0)?;
    }
    // Nothing was written through SQLite: the commit logs nothing.
    tx.commit().await?;
    Ok(unchanged)
}

/// Copy every frame into the database file and wait out the readers, so
/// that the next writer starts the log over. With no busy timeout: a reader
/// elsewhere would otherwise hold this process in the busy handler for up
/// to five seconds, and a close does not wait either.
const CHECKPOINT_NOW: &str = "PRAGMA busy_timeout = 0; PRAGMA wal_checkpoint(RESTART)";

/// The write-ahead log's header: magic, format, page size, checkpoint
/// sequence, salts and checksum (sqlite.org/fileformat2.html#walformat).
const LOG_HEADER_BYTES: usize = 32;
type LogHeader = [u8; LOG_HEADER_BYTES];

/// Logs up to this size keep their blocks for the next command; a larger
/// one, left by a rebuild or a bulk delete, is truncated.
const KEPT_LOG_BYTES: u64 = 4 << 20;

fn log_path(db: &Path) -> PathBuf {
    let mut log = db.as_os_str().to_owned();
    log.push("-wal");
    PathBuf::from(log)
}

fn read_header(log: &Path) -> Option<LogHeader> {
    let mut header = [0; LOG_HEADER_BYTES];
    std::fs::File::open(log)
        .ok()?
        .read_exact_at(&mut header, 0)
        .ok()?;
    Some(header)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use sqlx::{Executor, SqlitePool};

    use super::*;
    use crate::db;

    fn log_len(db: &Path) -> u64 {
        std::fs::metadata(log_path(db))
            .map(|m| m.len())
            .unwrap_or(0)
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

    /// A database in a directory of its own whose log holds three rows.
    struct Written {
        _dir: tempfile::TempDir,
        path: PathBuf,
        index: Index,
        pool: SqlitePool,
    }

    async fn written() -> Written {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("raw.db");
        let pool = db::open_pool(&path, 1).await.unwrap();
        pool.execute("CREATE TABLE t(x); INSERT INTO t VALUES (1), (2), (3)")
            .await
            .unwrap();
        assert!(log_len(&path) > 0, "the writes sit in the log");
        let index = Index::from_pool(pool.clone(), &path);
        Written {
            _dir: dir,
            path,
            index,
            pool,
        }
    }

    /// `files` copied from `from`'s directory to a new one, as a backup or a
    /// power loss would leave them; the copy's database path.
    fn copy(from: &Path, files: &[&str]) -> (tempfile::TempDir, PathBuf) {
        let to = tempfile::tempdir().unwrap();
        for name in files {
            std::fs::copy(from.with_file_name(name), to.path().join(name)).unwrap();
        }
        let db = to.path().join("raw.db");
        (to, db)
    }

    #[tokio::test]
    async fn the_database_file_alone_holds_every_write_and_the_log_is_cleared() {
        let Written {
            _dir,
            path,
            index,
            pool,
        } = written().await;
        let logged = log_len(&path);

        index.close_for_exit().await;
        assert!(pool.is_closed(), "later calls fail");
        // The connection was left open: a last close would have deleted
        // both files.
        assert!(path.with_file_name("raw.db-shm").exists());
        assert_eq!(read_header(&log_path(&path)), Some([0; LOG_HEADER_BYTES]));
        assert_eq!(log_len(&path), logged, "the log keeps its blocks");
        let (_alone, copied) = copy(&path, &["raw.db"]);
        assert_eq!(rows_in(&copied).await, 3);
        // With the cleared log beside it, recovery finds no frames.
        let (_both, copied) = copy(&path, &["raw.db", "raw.db-wal"]);
        assert_eq!(rows_in(&copied).await, 3);

        // The next writer starts the log over inside the same blocks.
        let next = db::open_pool(&path, 1).await.unwrap();
        next.execute("INSERT INTO t VALUES (4)").await.unwrap();
        assert_eq!(log_len(&path), logged);
        Index::from_pool(next, &path).close_for_exit().await;
        let (_again, copied) = copy(&path, &["raw.db"]);
        assert_eq!(rows_in(&copied).await, 4);
    }

    /// A power loss before the cleared header reaches the disk leaves the
    /// old header and frames: recovery replays pages the database file
    /// already holds.
    #[tokio::test]
    async fn a_log_whose_clearing_was_lost_recovers_the_same_rows() {
        // `_dir` bound, not dropped: the directory lives to the end.
        let Written {
            _dir, path, pool, ..
        } = written().await;
        let mut conn = pool.acquire().await.unwrap();
        let counts = checkpoint(&mut conn, CHECKPOINT_NOW).await;
        assert!(counts.is_some_and(|(n, c)| n > 0 && n == c));
        let (_lost, copied) = copy(&path, &["raw.db", "raw.db-wal"]);
        assert_ne!(read_header(&log_path(&copied)), Some([0; LOG_HEADER_BYTES]));
        assert_eq!(rows_in(&copied).await, 3);
        let other = db::open_pool(&copied, 1).await.unwrap();
        other.execute("INSERT INTO t VALUES (4)").await.unwrap();
        other.close().await;
        assert_eq!(rows_in(&copied).await, 4);
    }

    /// A log whose header changed since the checkpoint holds another
    /// writer's frames: it is left alone, and they survive.
    #[tokio::test]
    async fn a_log_written_to_since_the_checkpoint_keeps_its_header() {
        // `_dir` bound, not dropped: the directory lives to the end.
        let Written {
            _dir, path, pool, ..
        } = written().await;
        let mut conn = pool.acquire().await.unwrap();
        let before = read_header(&log_path(&path)).unwrap();
        assert!(checkpoint(&mut conn, CHECKPOINT_NOW).await.is_some());
        // Another writer starts the log over.
        conn.execute("INSERT INTO t VALUES (4)").await.unwrap();
        let after = read_header(&log_path(&path)).unwrap();
        assert_ne!(before, after);

        let cleared = clear_log_header(&mut conn, &log_path(&path), &before).await;
        assert!(!cleared.unwrap());
        assert_eq!(read_header(&log_path(&path)), Some(after));
        let (_snapshot, copied) = copy(&path, &["raw.db", "raw.db-wal"]);
        assert_eq!(rows_in(&copied).await, 4);
    }

    #[tokio::test]
    async fn a_reader_elsewhere_gets_a_plain_close_without_waiting() {
        let Written {
            _dir,
            path,
            index,
            pool,
        } = written().await;
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
        assert_ne!(read_header(&log_path(&path)), Some([0; LOG_HEADER_BYTES]));
        snapshot.commit().await.unwrap();
        reader.close().await;
        assert_eq!(rows_in(&path).await, 3);
    }
}
