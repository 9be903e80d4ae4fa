//! Tables of the search index and their versioning.
//!
//! The index is derived data: when its version changes, the tables are
//! dropped and the owning store rebuilds them from its source of truth.

use sqlx::SqliteConnection;

use crate::error::{DbContext, Result};

/// Bump when the index tables change shape; the index is then rebuilt.
pub const INDEX_SCHEMA_VERSION: i64 = 1;

const CREATE: &str = r"
CREATE TABLE IF NOT EXISTS ix_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

-- One row per observation known to this host, live or hidden.
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
    shadowed_at    TEXT,  -- missing from the store at the last rebuild (mesh mode)
    payload_json   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_obs_created ON ix_obs(created_at, observation_id);
CREATE INDEX IF NOT EXISTS ix_obs_project ON ix_obs(project, created_at);
CREATE INDEX IF NOT EXISTS ix_obs_session ON ix_obs(session_id, created_at);
CREATE INDEX IF NOT EXISTS ix_obs_pc ON ix_obs(pc_id, created_at);
CREATE INDEX IF NOT EXISTS ix_obs_deleted ON ix_obs(deleted_at) WHERE deleted_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS ix_obs_shadowed ON ix_obs(shadowed_at) WHERE shadowed_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS ix_obs_expires ON ix_obs(expires_at) WHERE expires_at IS NOT NULL;

-- Every tombstone known to this host, even one whose observation has not
-- arrived yet: when it does, it is hidden from the first moment.
CREATE TABLE IF NOT EXISTS ix_tomb (
    observation_id TEXT PRIMARY KEY,
    deleted_at     TEXT NOT NULL
) WITHOUT ROWID;

-- supersedes edges, kept apart from ix_obs so that arrival order does not
-- matter and an observation may be superseded by several others.
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

const DROP: &str = r"
DROP TABLE IF EXISTS ix_fts;
DROP TABLE IF EXISTS ix_link;
DROP TABLE IF EXISTS ix_supersede;
DROP TABLE IF EXISTS ix_tomb;
DROP TABLE IF EXISTS ix_obs;
DROP TABLE IF EXISTS ix_meta;
";

/// Whether the caller must refill the index from its source of truth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaState {
    /// The index is current.
    Current,
    /// The index was created or reset and is empty.
    Fresh,
}

/// Create the index tables, or reset them when their version is stale.
pub async fn ensure(conn: &mut SqliteConnection) -> Result<SchemaState> {
    let version: Option<String> =
        sqlx::query_scalar("SELECT value FROM ix_meta WHERE key = 'schema_version'")
            .fetch_optional(&mut *conn)
            .await
            .or_else(|e| match &e {
                // No ix_meta table yet: a database this code has never touched.
                sqlx::Error::Database(db) if db.message().contains("no such table") => Ok(None),
                _ => Err(e),
            })
            .ctx("reading the index version")?;
    let current = INDEX_SCHEMA_VERSION.to_string();
    if version.as_deref() == Some(current.as_str()) {
        return Ok(SchemaState::Current);
    }
    if version.is_some() {
        tracing::info!("index schema changed; rebuilding the index");
        sqlx::raw_sql(DROP)
            .execute(&mut *conn)
            .await
            .ctx("dropping the old index")?;
    }
    sqlx::raw_sql(CREATE)
        .execute(&mut *conn)
        .await
        .ctx("creating the index")?;
    sqlx::query("INSERT OR REPLACE INTO ix_meta(key, value) VALUES ('schema_version', ?)")
        .bind(current)
        .execute(&mut *conn)
        .await
        .ctx("recording the index version")?;
    Ok(SchemaState::Fresh)
}

/// Remove every index row (before a rebuild), keeping the tables.
pub async fn clear(conn: &mut SqliteConnection) -> Result<()> {
    sqlx::raw_sql(
        "DELETE FROM ix_fts; DELETE FROM ix_link; DELETE FROM ix_supersede; DELETE FROM ix_tomb; DELETE FROM ix_obs;",
    )
    .execute(&mut *conn)
    .await
    .ctx("clearing the index")?;
    Ok(())
}
