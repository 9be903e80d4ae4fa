//! Index writes. Each function runs inside the caller's transaction, so a
//! store can update its source of truth and the index atomically.

use mesh_core::Observation;
use sqlx::SqliteConnection;

use crate::error::{DbContext, Result};

const UPSERT: &str = "
INSERT INTO ix_obs (
    observation_id, project, created_at, memory_type, importance, subject, summary,
    agent_family, client_id, pc_id, session_id, visibility, scope_id, expires_at,
    deleted_at, shadowed_at, payload_json
) VALUES (
    ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14,
    (SELECT deleted_at FROM ix_tomb WHERE observation_id = ?1), NULL, ?15
)
ON CONFLICT(observation_id) DO UPDATE SET
    project = excluded.project, created_at = excluded.created_at,
    memory_type = excluded.memory_type, importance = excluded.importance,
    subject = excluded.subject, summary = excluded.summary,
    agent_family = excluded.agent_family, client_id = excluded.client_id,
    pc_id = excluded.pc_id, session_id = excluded.session_id,
    visibility = excluded.visibility, scope_id = excluded.scope_id,
    expires_at = excluded.expires_at, deleted_at = excluded.deleted_at,
    shadowed_at = NULL, payload_json = excluded.payload_json
RETURNING rid";

/// Insert or replace `obs` (whose stored text is `payload`). A tombstone
/// already known for its id hides it at once; a shadow mark is cleared.
pub async fn upsert(conn: &mut SqliteConnection, obs: &Observation, payload: &str) -> Result<()> {
    let expires_at = Some(obs.expires_at.as_str()).filter(|e| !e.is_empty());
    let rid: i64 = sqlx::query_scalar(UPSERT)
        .bind(&obs.observation_id)
        .bind(&obs.project)
        .bind(&obs.created_at)
        .bind(obs.memory_type.as_str())
        .bind(i64::from(obs.importance))
        .bind(&obs.subject)
        .bind(&obs.summary)
        .bind(&obs.agent_family)
        .bind(&obs.client_id)
        .bind(&obs.pc_id)
        .bind(&obs.session_id)
        .bind(obs.visibility.as_str())
        .bind(&obs.scope_id)
        .bind(expires_at)
        .bind(payload)
        .fetch_one(&mut *conn)
        .await
        .ctx("indexing an observation")?;

    sqlx::query("DELETE FROM ix_fts WHERE rowid = ?")
        .bind(rid)
        .execute(&mut *conn)
        .await
        .ctx("indexing an observation")?;
    sqlx::query("INSERT INTO ix_fts(rowid, content, subject, summary, tags, project) VALUES (?, ?, ?, ?, ?, ?)")
        .bind(rid)
        .bind(&obs.content)
        .bind(&obs.subject)
        .bind(&obs.summary)
        .bind(obs.tags.join(" "))
        .bind(&obs.project)
        .execute(&mut *conn)
        .await
        .ctx("indexing an observation")?;

    sqlx::query("DELETE FROM ix_link WHERE rid = ?")
        .bind(rid)
        .execute(&mut *conn)
        .await
        .ctx("indexing an observation")?;
    for (kind, values) in [("f", &obs.source_files), ("r", &obs.references)] {
        for value in values.iter().filter(|v| !v.is_empty()) {
            sqlx::query("INSERT OR IGNORE INTO ix_link(kind, value, rid) VALUES (?, ?, ?)")
                .bind(kind)
                .bind(value)
                .bind(rid)
                .execute(&mut *conn)
                .await
                .ctx("indexing an observation")?;
        }
    }

    sqlx::query("DELETE FROM ix_supersede WHERE superseder_id = ?")
        .bind(&obs.observation_id)
        .execute(&mut *conn)
        .await
        .ctx("indexing an observation")?;
    for target in obs.supersedes.iter().filter(|t| **t != obs.observation_id) {
        sqlx::query("INSERT OR IGNORE INTO ix_supersede(target_id, superseder_id) VALUES (?, ?)")
            .bind(target)
            .bind(&obs.observation_id)
            .execute(&mut *conn)
            .await
            .ctx("indexing an observation")?;
    }
    Ok(())
}

/// Record a tombstone and hide its observation (if indexed).
pub async fn apply_tombstone(
    conn: &mut SqliteConnection,
    observation_id: &str,
    deleted_at: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO ix_tomb(observation_id, deleted_at) VALUES (?1, ?2)
         ON CONFLICT(observation_id) DO UPDATE SET deleted_at = excluded.deleted_at",
    )
    .bind(observation_id)
    .bind(deleted_at)
    .execute(&mut *conn)
    .await
    .ctx("recording a tombstone")?;
    sqlx::query("UPDATE ix_obs SET deleted_at = ?2, shadowed_at = NULL WHERE observation_id = ?1")
        .bind(observation_id)
        .bind(deleted_at)
        .execute(&mut *conn)
        .await
        .ctx("recording a tombstone")?;
    Ok(())
}

/// Forget a tombstone (it was physically removed from the store).
pub async fn clear_tombstone(conn: &mut SqliteConnection, observation_id: &str) -> Result<()> {
    sqlx::query("DELETE FROM ix_tomb WHERE observation_id = ?")
        .bind(observation_id)
        .execute(&mut *conn)
        .await
        .ctx("removing a tombstone from the index")?;
    sqlx::query("UPDATE ix_obs SET deleted_at = NULL WHERE observation_id = ?")
        .bind(observation_id)
        .execute(&mut *conn)
        .await
        .ctx("removing a tombstone from the index")?;
    Ok(())
}

/// Remove an observation and everything derived from it. Returns whether a
/// row existed.
pub async fn remove_observation(conn: &mut SqliteConnection, observation_id: &str) -> Result<bool> {
    let rid: Option<i64> = sqlx::query_scalar("SELECT rid FROM ix_obs WHERE observation_id = ?")
        .bind(observation_id)
        .fetch_optional(&mut *conn)
        .await
        .ctx("removing an observation from the index")?;
    let Some(rid) = rid else {
        return Ok(false);
    };
    for sql in [
        "DELETE FROM ix_fts WHERE rowid = ?1",
        "DELETE FROM ix_link WHERE rid = ?1",
        "DELETE FROM ix_obs WHERE rid = ?1",
    ] {
        sqlx::query(sql)
            .bind(rid)
            .execute(&mut *conn)
            .await
            .ctx("removing an observation from the index")?;
    }
    sqlx::query("DELETE FROM ix_supersede WHERE superseder_id = ?")
        .bind(observation_id)
        .execute(&mut *conn)
        .await
        .ctx("removing an observation from the index")?;
    Ok(true)
}

/// Mark live rows missing from the store as shadowed (hidden, revivable).
pub async fn mark_shadowed(
    conn: &mut SqliteConnection,
    observation_id: &str,
    at: &str,
) -> Result<()> {
    sqlx::query(
        "UPDATE ix_obs SET shadowed_at = COALESCE(shadowed_at, ?2)
         WHERE observation_id = ?1 AND deleted_at IS NULL",
    )
    .bind(observation_id)
    .bind(at)
    .execute(&mut *conn)
    .await
    .ctx("marking a shadowed observation")?;
    Ok(())
}
