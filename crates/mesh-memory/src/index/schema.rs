//! Tables of a kioku-mesh SQLite database and their versioning.
//!
//! Every database has the same three layers:
//!
//! 1. The row store: `local_obs` and `local_tomb`, in the reference's
//!    layout. In local mode they are the source of truth; in mesh mode they
//!    mirror what the Zenoh storage holds.
//! 2. The change queue: `raw_pending`, filled by triggers on the row store
//!    whoever writes it (us, or the reference sharing the file).
//! 3. The index: `ix_*` tables derived from the row store by
//!    [`super::maintain`]. They are rebuilt from scratch when their version
//!    changes.

use sqlx::SqliteConnection;

use crate::error::{DbContext, Result};

/// Bump when the index tables change shape; the index is then rebuilt.
pub const INDEX_SCHEMA_VERSION: i64 = 2;

const ROW_STORE: &str = r"
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

/// Mesh mode only: every key the mirror's rows were seen at, so that a
/// physical delete can name exact keys and a delete sample can find its row.
const MESH_KEYS: &str = r"
CREATE TABLE IF NOT EXISTS mesh_key (
    key            TEXT PRIMARY KEY,
    observation_id TEXT NOT NULL,
    marker         TEXT NOT NULL  -- 'obs' or 'tomb'
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS mesh_key_id ON mesh_key(observation_id);
";

const INDEX: &str = r"
CREATE TABLE IF NOT EXISTS ix_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

-- One row per indexable observation in the row store, live or hidden. The
-- payload itself stays in local_obs.
CREATE TABLE IF NOT EXISTS ix_obs (
    rid            INTEGER PRIMARY KEY,
    observation_id TEXT NOT NULL UNIQUE,
    project        TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    memory_type    TEXT NOT NULL,
    importance     INTEGER NOT NULL,
    subject        TEXT NOT NULL,
    summary        TEXT NOT NULL,
    agent_family   TEXT NOT NULL,
    client_id      TEXT NOT NULL,
    pc_id          TEXT NOT NULL,
    session_id     TEXT NOT NULL,
    visibility     TEXT NOT NULL,
    scope_id       TEXT NOT NULL,
    expires_at     TEXT,  -- NULL: never expires
    deleted_at     TEXT,  -- a tombstone is known
    shadowed_at    TEXT   -- missing from the mesh storage at the last rebuild
);
CREATE INDEX IF NOT EXISTS ix_obs_created ON ix_obs(created_at, observation_id);
CREATE INDEX IF NOT EXISTS ix_obs_project ON ix_obs(project, created_at);
CREATE INDEX IF NOT EXISTS ix_obs_session ON ix_obs(session_id, created_at);
CREATE INDEX IF NOT EXISTS ix_obs_pc ON ix_obs(pc_id, created_at);
CREATE INDEX IF NOT EXISTS ix_obs_deleted ON ix_obs(deleted_at) WHERE deleted_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS ix_obs_shadowed ON ix_obs(shadowed_at) WHERE shadowed_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS ix_obs_expires ON ix_obs(expires_at) WHERE expires_at IS NOT NULL;

-- Every tombstone known here, even one whose observation has not arrived:
-- when it does, it is hidden from the first moment.
CREATE TABLE IF NOT EXISTS ix_tomb (
    observation_id TEXT PRIMARY KEY,
    deleted_at     TEXT NOT NULL
) WITHOUT ROWID;

-- supersedes edges, apart from ix_obs so that arrival order does not matter
-- and one observation may be superseded by several.
CREATE TABLE IF NOT EXISTS ix_supersede (
    target_id     TEXT NOT NULL,
    superseder_id TEXT NOT NULL,
    PRIMARY KEY (target_id, superseder_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ix_supersede_by ON ix_supersede(superseder_id);

-- source_files (kind 'f') and references (kind 'r') for exact-match filters.
CREATE TABLE IF NOT EXISTS ix_link (
    kind  TEXT NOT NULL,
    value TEXT NOT NULL,
    rid   INTEGER NOT NULL,
    PRIMARY KEY (kind, value, rid)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ix_link_rid ON ix_link(rid);

-- Full text, rowid = ix_obs.rid. Trigram makes every 3+ character
-- substring searchable, Japanese included.
CREATE VIRTUAL TABLE IF NOT EXISTS ix_fts USING fts5(
    content, subject, summary, tags, project,
    tokenize = 'trigram'
);
";

const DROP_INDEX: &str = r"
DROP TABLE IF EXISTS ix_fts;
DROP TABLE IF EXISTS ix_link;
DROP TABLE IF EXISTS ix_supersede;
DROP TABLE IF EXISTS ix_tomb;
DROP TABLE IF EXISTS ix_obs;
DROP TABLE IF EXISTS ix_meta;
";

/// Whether the index must be refilled from the row store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaState {
    /// The index is current.
    Current,
    /// The index was created or reset and is empty.
    Fresh,
}

/// Drop and recreate the index tables (a full rebuild starts here: dropping
/// a large full-text table is much faster than deleting its rows).
pub async fn reset_index(conn: &mut SqliteConnection) -> Result<()> {
    sqlx::raw_sql(DROP_INDEX)
        .execute(&mut *conn)
        .await
        .ctx("dropping the index")?;
    sqlx::raw_sql(INDEX)
        .execute(&mut *conn)
        .await
        .ctx("creating the index")?;
    // Each save writes its own small full-text segment; merging as soon as
    // two share a level keeps the segment count (and with it the cost of
    // every query) logarithmic with a small constant.
    sqlx::query("INSERT INTO ix_fts(ix_fts, rank) VALUES ('automerge', 2)")
        .execute(&mut *conn)
        .await
        .ctx("configuring the full-text index")?;
    sqlx::query("INSERT OR REPLACE INTO ix_meta(key, value) VALUES ('schema_version', ?)")
        .bind(INDEX_SCHEMA_VERSION.to_string())
        .execute(&mut *conn)
        .await
        .ctx("recording the index version")?;
    Ok(())
}

/// True when `conn`'s local database has the current schema and no raw row
/// waits for the index: one cheap read, so opening such a database writes
/// nothing. A missing table (a new file) reads as false.
pub async fn is_current_and_indexed(conn: &mut SqliteConnection) -> bool {
    sqlx::query_scalar::<_, bool>(
        "SELECT EXISTS (SELECT 1 FROM ix_meta WHERE key = 'schema_version' AND value = ?)
            AND EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'local_tomb_ad')
            AND NOT EXISTS (SELECT 1 FROM raw_pending)",
    )
    .bind(INDEX_SCHEMA_VERSION.to_string())
    .fetch_one(&mut *conn)
    .await
    .unwrap_or(false)
}

/// True when `conn`'s database already has the current schema (a cheap
/// read, so opening a current database writes nothing).
pub async fn is_current(conn: &mut SqliteConnection) -> bool {
    sqlx::query_scalar::<_, String>(
        "SELECT value FROM ix_meta WHERE key = 'schema_version'
           AND EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'local_tomb_ad')",
    )
    .fetch_optional(&mut *conn)
    .await
    .ok()
    .flatten()
    .is_some_and(|v| v == INDEX_SCHEMA_VERSION.to_string())
}

/// Create the mesh mirror's key table (idempotent).
pub async fn ensure_mesh_keys(conn: &mut SqliteConnection) -> Result<()> {
    sqlx::raw_sql(MESH_KEYS)
        .execute(&mut *conn)
        .await
        .ctx("creating the mesh key table")?;
    Ok(())
}

/// Create the row store, the change queue and the index, resetting the
/// index when its version is stale. Run inside a write transaction.
pub async fn ensure(conn: &mut SqliteConnection) -> Result<SchemaState> {
    sqlx::raw_sql(ROW_STORE)
        .execute(&mut *conn)
        .await
        .ctx("creating the row store")?;
    // Vectors are keyed by observation id and outlive index rebuilds.
    sqlx::raw_sql(crate::embed::vectors::TABLE)
        .execute(&mut *conn)
        .await
        .ctx("creating the vector table")?;
    let version: Option<String> =
        sqlx::query_scalar("SELECT value FROM ix_meta WHERE key = 'schema_version'")
            .fetch_optional(&mut *conn)
            .await
            .or_else(|e| match &e {
                // No ix_meta yet: a database this code has never opened.
                sqlx::Error::Database(db) if db.message().contains("no such table") => Ok(None),
                _ => Err(e),
            })
            .ctx("reading the index version")?;
    let current = INDEX_SCHEMA_VERSION.to_string();
    if version.as_deref() == Some(current.as_str()) {
        return Ok(SchemaState::Current);
    }
    if version.is_some() {
        tracing::info!("the index format changed; rebuilding the index");
    }
    reset_index(conn).await?;
    Ok(SchemaState::Fresh)
}
