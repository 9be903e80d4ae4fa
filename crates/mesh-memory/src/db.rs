//! Opening SQLite databases with the pragmas every kioku-mesh database uses,
//! and turning SQLite's failure codes into actionable errors.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::ConnectOptions;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::error::{MemoryError, Result};

/// SQLite primary result codes we translate (the low byte of extended codes).
const SQLITE_PERM: i64 = 3;
const SQLITE_READONLY: i64 = 8;
const SQLITE_CORRUPT: i64 = 11;
const SQLITE_CANTOPEN: i64 = 14;
const SQLITE_NOTADB: i64 = 26;
const SQLITE_IOERR: i64 = 10;
const SQLITE_FULL: i64 = 13;

/// Open (creating if missing) a SQLite database at `path` in WAL mode with
/// `synchronous=NORMAL` and a 5 s busy timeout.
///
/// WAL with NORMAL keeps every committed transaction across a crash of the
/// process (kill -9); only a power loss can drop the last commits.
pub async fn open_pool(path: &Path, max_connections: u32) -> Result<SqlitePool> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        mesh_core::paths::create_dir(parent, "state", mesh_core::paths::STATE_DIR_ENV)?;
    }
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(5))
        .foreign_keys(false)
        .pragma("temp_store", "memory")
        // Reads through a memory map skip a system call per page, and a
        // larger page cache keeps the index's hot pages (full-text doclists,
        // the created_at index) across queries of a long-lived process.
        .pragma("mmap_size", "268435456")
        .pragma("cache_size", "-32768")
        // Bulk index maintenance takes seconds by design; a slow statement is
        // worth a debug line, not a warning in every user's terminal.
        .log_slow_statements(log::LevelFilter::Debug, Duration::from_secs(1));
    let pool_options = SqlitePoolOptions::new()
        .max_connections(connection_budget(max_connections))
        // No background top-up: a short-lived command must not pay for a
        // second connection (file open, schema read) it never uses.
        .min_connections(0)
        .acquire_timeout(Duration::from_secs(30))
        // A ping per acquire doubles the cost of every query; a broken
        // connection shows up as an error on the query itself.
        .test_before_acquire(false);
    // Two processes creating the same database at once (agents started
    // together on a fresh machine) can find it locked while the other
    // switches it to WAL, before any busy handler applies: retry, bounded.
    let started = std::time::Instant::now();
    loop {
        match pool_options.clone().connect_with(options.clone()).await {
            Ok(pool) => return Ok(pool),
            Err(e) if is_busy(&e) && started.elapsed() < OPEN_RETRY => {
                tracing::debug!("{} is locked while opening; retrying", path.display());
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            Err(e) => return Err(classify(e, path, "open")),
        }
    }
}

/// How long an open retries a database another process holds locked.
const OPEN_RETRY: Duration = Duration::from_secs(10);

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

/// How many connections a pool may hold. On a single-threaded runtime (the
/// one-shot CLI) queries never overlap, and a connection dropped by one query
/// only returns to the pool once the next await yields; a larger budget then
/// opens a second connection (file opens, schema read, its own checkpoint at
/// close) for nothing.
fn connection_budget(max_connections: u32) -> u32 {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::CurrentThread) => 1,
        _ => max_connections,
    }
}

/// Open a private in-memory database (`KIOKU_MESH_INDEX_DB=:memory:` or
/// `KIOKU_MESH_DISABLE_INDEX=1`). One connection that is never closed: each
/// SQLite connection to `:memory:` would otherwise see its own database.
pub async fn open_memory_pool() -> Result<SqlitePool> {
    let options = SqliteConnectOptions::new()
        .in_memory(true)
        .foreign_keys(false)
        .pragma("temp_store", "memory")
        .log_slow_statements(log::LevelFilter::Debug, Duration::from_secs(1));
    SqlitePoolOptions::new()
        .max_connections(1)
        .min_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .test_before_acquire(false)
        .connect_with(options)
        .await
        .map_err(|e| classify(e, Path::new(":memory:"), "open"))
}

/// Begin a transaction with `statement` (`BEGIN IMMEDIATE` for writers) on
/// `path`'s pool; errors come back classified, see [`begin_fresh`].
pub async fn begin(
    pool: &SqlitePool,
    statement: &'static str,
    path: &Path,
    action: &'static str,
) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>> {
    begin_fresh(pool, statement)
        .await
        .map_err(|e| classify(e, path, action))
}

/// Begin a transaction on a connection that is not stuck in an old one.
///
/// A COMMIT that fails because the disk is full is rolled back by SQLite
/// itself, but sqlx still counts the connection as inside a transaction and
/// returns it to the pool that way; every later begin on it would fail. Such
/// a connection is closed here and another one taken, so a full disk costs
/// the writes made while it was full, not every write after.
pub async fn begin_fresh(
    pool: &SqlitePool,
    statement: &'static str,
) -> std::result::Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
    use sqlx::Connection;
    // Bounded: each round closes one stale connection of the pool.
    for _ in 0..=pool.size() {
        let conn = pool.acquire().await?;
        if conn.is_in_transaction() {
            tracing::debug!("closing a database connection left inside a failed transaction");
            let _ = conn.detach().close().await;
            continue;
        }
        return sqlx::Transaction::begin(conn, Some(sqlx::SqlSafeStr::into_sql_str(statement)))
            .await;
    }
    pool.begin_with(statement).await
}

/// Map a driver error on `path` to a user-facing error.
pub fn classify(error: sqlx::Error, path: &Path, action: &'static str) -> MemoryError {
    let path: PathBuf = path.to_path_buf();
    if let sqlx::Error::Database(db) = &error {
        let code = db
            .code()
            .and_then(|c| c.parse::<i64>().ok())
            .unwrap_or_default();
        let detail = db.message().to_owned();
        match code & 0xff {
            SQLITE_CORRUPT | SQLITE_NOTADB => return MemoryError::Corrupt { path, detail },
            SQLITE_FULL => return MemoryError::DiskFull { action, path },
            SQLITE_READONLY | SQLITE_CANTOPEN | SQLITE_PERM | SQLITE_IOERR => {
                return MemoryError::NotWritable {
                    action,
                    path,
                    detail,
                };
            }
            _ => {}
        }
    }
    if let sqlx::Error::Io(io) = &error {
        return MemoryError::NotWritable {
            action,
            path,
            detail: io.to_string(),
        };
    }
    MemoryError::Database {
        context: if action == "open" {
            "opening the database"
        } else {
            "writing the database"
        },
        detail: error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fill the database's disk: SQLite refuses to grow past max_page_count
    /// with the same error as a full disk.
    async fn full_disk_failure(pool: &SqlitePool) {
        let mut tx = begin_fresh(pool, "BEGIN IMMEDIATE").await.unwrap();
        let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "PRAGMA max_page_count = {pages}"
        )))
        .execute(&mut *tx)
        .await
        .unwrap();
        let insert = sqlx::query("INSERT INTO t(v) VALUES (zeroblob(1000000))")
            .execute(&mut *tx)
            .await;
        let code = match &insert {
            Err(sqlx::Error::Database(db)) => db.code().map(|c| c.into_owned()),
            other => panic!("expected a full disk, got {other:?}"),
        };
        assert_eq!(code.as_deref(), Some("13"));
        // The caller gives up on the transaction, as the index keeper does.
        let _ = tx.commit().await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_full_disk_does_not_poison_later_transactions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let pool = open_pool(&path, 1).await.unwrap();
        sqlx::query("CREATE TABLE t(v BLOB)")
            .execute(&pool)
            .await
            .unwrap();
        full_disk_failure(&pool).await;
        // The space is back (a new connection has no page cap): writes work.
        let mut tx = begin_fresh(&pool, "BEGIN IMMEDIATE").await.unwrap();
        sqlx::query("INSERT INTO t(v) VALUES (x'00')")
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM t")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(rows, 1);
    }

    #[test]
    fn a_full_disk_is_reported_as_such() {
        let e = MemoryError::DiskFull {
            action: "write",
            path: PathBuf::from("/s/index.db"),
        };
        let text = e.to_string();
        assert!(
            text.contains("disk is full") && text.contains("free some space"),
            "{text}"
        );
    }
}
