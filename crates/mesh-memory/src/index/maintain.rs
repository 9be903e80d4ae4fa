//! Keeping the index equal to the row store, in set-based SQL.
//!
//! Every change to `local_obs` or `local_tomb` queues its id in
//! `raw_pending` (triggers do this for any writer). [`reindex_pending`]
//! recomputes the index rows of every queued id from the row store and
//! empties the queue, all in the caller's transaction. A catch-up after
//! another program wrote, a mirror update and a full rebuild are the same
//! operation on a queue of some or all ids. A local save of a new id takes
//! [`super::own_write`] instead, which falls back to this module whenever
//! the queue holds anything else (ADR 0016).
//!
//! The column expressions read payloads the way
//! [`mesh_core::Observation::from_json`] does: unknown memory types count as
//! `note`, importance is clamped to 1..=5, unknown visibilities are legacy.
//! Payloads that observation parsing would refuse are not indexed.

use sqlx::SqliteConnection;

use crate::error::{DbContext, Result};

/// Ids queued for reindexing.
const QUEUED: &str = "SELECT observation_id FROM raw_pending";

/// Payloads the reader accepts: an object with text content, the row's own
/// id, list fields that are lists and a numeric importance.
const VALID_PAYLOAD: &str = "json_valid(l.payload_json)
    AND json_type(l.payload_json, '$.content') = 'text'
    AND json_extract(l.payload_json, '$.observation_id') = l.observation_id
    AND COALESCE(json_type(l.payload_json, '$.tags'), 'null') IN ('array', 'null')
    AND COALESCE(json_type(l.payload_json, '$.source_files'), 'null') IN ('array', 'null')
    AND COALESCE(json_type(l.payload_json, '$.references'), 'null') IN ('array', 'null')
    AND COALESCE(json_type(l.payload_json, '$.supersedes'), 'null') IN ('array', 'null')
    AND COALESCE(json_type(l.payload_json, '$.importance'), 'null') IN ('integer', 'real', 'null')";

/// What the queued ids need, read in one statement together with their
/// count. In a one-shot process every statement is prepared once, for that
/// run alone; a queue of new ids without tombstones, links or supersedes
/// skips the steps that would find nothing to do.
#[derive(Debug, Clone, Copy)]
pub(crate) struct QueueNeeds {
    /// How many ids are queued.
    pub(crate) queued: u64,
    /// The index holds a row for some queued id. Every row the forgetting
    /// steps delete hangs off an `ix_obs` or `ix_tomb` row of a queued id,
    /// so without one they have nothing to do.
    pub(crate) known: bool,
    /// Some queued id has a tombstone in the row store.
    pub(crate) tombstones: bool,
    /// Some queued payload lists source files or references.
    links: bool,
    /// Some queued payload supersedes another observation.
    supersedes: bool,
}

/// The statement behind [`QueueNeeds`]: the queue's length, then its four
/// needs as 0 or 1.
fn queue_needs() -> String {
    // One pass over the queue with key lookups: `IN (queue)` in each column
    // would build a temporary table per column. CASE keeps
    // json_array_length away from text that is not JSON (it would raise an
    // error); such payloads are not indexed anyway.
    let listed = |field: &str| format!("json_array_length(l.payload_json, '$.{field}') > 0");
    let any = |condition: String| format!("COALESCE(MAX({condition}), 0)");
    format!(
        "SELECT COUNT(*),
                {known},
                {tombstones},
                {links},
                {supersedes}
           FROM raw_pending p LEFT JOIN local_obs l ON l.observation_id = p.observation_id",
        known = any(
            "EXISTS (SELECT 1 FROM ix_obs o WHERE o.observation_id = p.observation_id)
             OR EXISTS (SELECT 1 FROM ix_tomb t WHERE t.observation_id = p.observation_id)"
                .to_owned()
        ),
        tombstones = any(
            "EXISTS (SELECT 1 FROM local_tomb t WHERE t.observation_id = p.observation_id)"
                .to_owned()
        ),
        links = any(format!(
            "CASE WHEN json_valid(l.payload_json) THEN {} OR {} END",
            listed("source_files"),
            listed("references")
        )),
        supersedes = any(format!(
            "CASE WHEN json_valid(l.payload_json) THEN {} END",
            listed("supersedes")
        )),
    )
}

/// Forget what the index knew about the queued ids.
fn forget_steps() -> Vec<String> {
    vec![
        format!(
            "DELETE FROM ix_fts WHERE rowid IN (SELECT rid FROM ix_obs WHERE observation_id IN ({QUEUED}))"
        ),
        format!(
            "DELETE FROM ix_link WHERE rid IN (SELECT rid FROM ix_obs WHERE observation_id IN ({QUEUED}))"
        ),
        format!("DELETE FROM ix_supersede WHERE superseder_id IN ({QUEUED})"),
        format!("DELETE FROM ix_obs WHERE observation_id IN ({QUEUED})"),
        format!("DELETE FROM ix_tomb WHERE observation_id IN ({QUEUED})"),
    ]
}

/// Recompute the index rows of the queued ids and empty the queue, leaving
/// out the steps `needs` says would find nothing.
fn insert_steps(needs: QueueNeeds) -> Vec<String> {
    let text = |field: &str| format!("COALESCE(json_extract(l.payload_json, '$.{field}'), '')");
    let mut steps = Vec::with_capacity(6);
    if needs.tombstones {
        // Tombstones first, so observations are hidden as they are inserted.
        steps.push(format!(
            "INSERT INTO ix_tomb(observation_id, deleted_at)
             SELECT t.observation_id,
                    COALESCE(NULLIF(t.deleted_at, ''), json_extract(t.tomb_json, '$.deleted_at'), strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
               FROM local_tomb t WHERE t.observation_id IN ({QUEUED})"
        ));
    }
    steps.push(format!(
        "INSERT INTO ix_obs(observation_id, project, created_at, memory_type, importance, subject, summary,
                                agent_family, client_id, pc_id, session_id, visibility, scope_id, expires_at, deleted_at)
             SELECT l.observation_id, {project},
                    COALESCE(json_extract(l.payload_json, '$.created_at'), l.created_at, ''),
                    CASE WHEN json_extract(l.payload_json, '$.memory_type') IN ('note', 'decision', 'bug', 'pattern', 'config', 'summary')
                         THEN json_extract(l.payload_json, '$.memory_type') ELSE 'note' END,
                    MIN(5, MAX(1, CAST(COALESCE(json_extract(l.payload_json, '$.importance'), 2) AS INTEGER))),
                    {subject}, {summary}, {agent}, {client}, {pc}, {session},
                    CASE WHEN json_extract(l.payload_json, '$.visibility') IN ('mesh', 'user', 'team')
                         THEN json_extract(l.payload_json, '$.visibility') ELSE '' END,
                    {scope},
                    NULLIF(json_extract(l.payload_json, '$.expires_at'), ''),
                    (SELECT t.deleted_at FROM ix_tomb t WHERE t.observation_id = l.observation_id)
               FROM local_obs l
              WHERE l.observation_id IN ({QUEUED}) AND {VALID_PAYLOAD}",
            project = text("project"),
            subject = text("subject"),
            summary = text("summary"),
            agent = text("agent_family"),
            client = text("client_id"),
            pc = text("pc_id"),
            session = text("session_id"),
            scope = text("scope_id"),
    ));
    steps.push(format!(
        "INSERT INTO ix_fts(rowid, content, subject, summary, tags, project)
             SELECT o.rid, json_extract(l.payload_json, '$.content'), o.subject, o.summary,
                    COALESCE((SELECT group_concat(j.value, ' ') FROM json_each(l.payload_json, '$.tags') j), ''),
                    o.project
               FROM ix_obs o JOIN local_obs l ON l.observation_id = o.observation_id
              WHERE o.observation_id IN ({QUEUED})"
    ));
    if needs.links {
        steps.push(format!(
            "INSERT OR IGNORE INTO ix_link(kind, value, rid)
             SELECT CASE j.key WHEN 'source_files' THEN 'f' ELSE 'r' END, e.value, o.rid
               FROM ix_obs o JOIN local_obs l ON l.observation_id = o.observation_id,
                    json_each(l.payload_json) j, json_each(j.value) e
              WHERE o.observation_id IN ({QUEUED})
                AND j.key IN ('source_files', 'references') AND j.type = 'array'
                AND e.type = 'text' AND e.value != ''"
        ));
    }
    if needs.supersedes {
        steps.push(format!(
            "INSERT OR IGNORE INTO ix_supersede(target_id, superseder_id)
             SELECT e.value, o.observation_id
               FROM ix_obs o JOIN local_obs l ON l.observation_id = o.observation_id,
                    json_each(l.payload_json, '$.supersedes') e
              WHERE o.observation_id IN ({QUEUED}) AND e.type = 'text' AND e.value != o.observation_id"
        ));
    }
    steps.push("DELETE FROM raw_pending".to_owned());
    steps
}

/// Bring the index rows of every queued id up to date and empty the queue.
/// Returns how many ids were processed.
pub async fn reindex_pending(conn: &mut SqliteConnection) -> Result<u64> {
    let needs = read_needs(conn).await?;
    run_steps(conn, needs).await?;
    Ok(needs.queued)
}

/// How many ids are queued and what they need.
pub(crate) async fn read_needs(conn: &mut SqliteConnection) -> Result<QueueNeeds> {
    let (queued, known, tombstones, links, supersedes): (i64, bool, bool, bool, bool) =
        sqlx::query_as(sqlx::AssertSqlSafe(queue_needs()))
            .fetch_one(&mut *conn)
            .await
            .ctx("reading the index queue")?;
    Ok(QueueNeeds {
        queued: u64::try_from(queued).unwrap_or_default(),
        known,
        tombstones,
        links,
        supersedes,
    })
}

/// Recompute the index rows of every queued id, as `needs` calls for, and
/// empty the queue.
pub(crate) async fn run_steps(conn: &mut SqliteConnection, needs: QueueNeeds) -> Result<()> {
    if needs.queued == 0 {
        return Ok(());
    }
    let mut steps = if needs.known {
        forget_steps()
    } else {
        Vec::new()
    };
    steps.extend(insert_steps(needs));
    for step in steps {
        sqlx::query(sqlx::AssertSqlSafe(step))
            .execute(&mut *conn)
            .await
            .ctx("updating the index")?;
    }
    Ok(())
}

/// Queue every id the row store or the index knows (a full rebuild).
pub async fn queue_everything(conn: &mut SqliteConnection) -> Result<()> {
    sqlx::query(
        "INSERT OR IGNORE INTO raw_pending(observation_id)
         SELECT observation_id FROM local_obs
         UNION SELECT observation_id FROM local_tomb
         UNION SELECT observation_id FROM ix_obs
         UNION SELECT observation_id FROM ix_tomb",
    )
    .execute(&mut *conn)
    .await
    .ctx("queueing the index rebuild")?;
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use sqlx::{Connection, SqliteConnection};

    use super::*;
    use crate::index::schema;

    /// A fresh in-memory database with the current schema.
    pub(crate) async fn store() -> SqliteConnection {
        let mut conn = SqliteConnection::connect("sqlite::memory:").await.unwrap();
        schema::ensure(&mut conn).await.unwrap();
        conn
    }

    fn payload(id: &str, content: &str, supersedes: &[&str]) -> String {
        serde_json::json!({
            "observation_id": id, "content": content, "subject": "s", "summary": "m",
            "created_at": "2026-11-30T00:00:00Z", "supersedes": supersedes,
            "source_files": ["src/a.rs"],
        })
        .to_string()
    }

    async fn put(conn: &mut SqliteConnection, id: &str, content: &str, supersedes: &[&str]) {
        sqlx::query("INSERT OR REPLACE INTO local_obs(observation_id, payload_json) VALUES (?, ?)")
            .bind(id)
            .bind(payload(id, content, supersedes))
            .execute(&mut *conn)
            .await
            .unwrap();
    }

    async fn count(conn: &mut SqliteConnection, sql: &str) -> i64 {
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_one(&mut *conn)
            .await
            .unwrap()
    }

    async fn matches(conn: &mut SqliteConnection, term: &str) -> i64 {
        count(
            conn,
            &format!("SELECT COUNT(*) FROM ix_fts WHERE ix_fts MATCH '{term}'"),
        )
        .await
    }

    /// A new id skips the forgetting steps; a known id, rewritten by another
    /// program or removed, still has its old index rows replaced.
    #[tokio::test]
    async fn new_and_rewritten_ids_leave_exactly_their_current_rows() {
        let mut conn = store().await;
        let (a, b) = ("a".repeat(32), "b".repeat(32));
        put(&mut conn, &a, "first wording", &[]).await;
        assert_eq!(reindex_pending(&mut conn).await.unwrap(), 1);
        put(&mut conn, &b, "newer note", &[&a]).await;
        assert_eq!(reindex_pending(&mut conn).await.unwrap(), 1);
        assert_eq!(matches(&mut conn, "first").await, 1);
        assert_eq!(
            count(&mut conn, "SELECT COUNT(*) FROM ix_supersede").await,
            1
        );

        // Rewritten in place: the old text, links and supersede edge go.
        put(&mut conn, &b, "second wording", &[]).await;
        put(&mut conn, &a, "third wording", &[]).await;
        assert_eq!(reindex_pending(&mut conn).await.unwrap(), 2);
        assert_eq!(matches(&mut conn, "first").await, 0);
        assert_eq!(matches(&mut conn, "newer").await, 0);
        assert_eq!(matches(&mut conn, "wording").await, 2);
        assert_eq!(
            count(&mut conn, "SELECT COUNT(*) FROM ix_supersede").await,
            0
        );
        assert_eq!(count(&mut conn, "SELECT COUNT(*) FROM ix_link").await, 2);
        assert_eq!(count(&mut conn, "SELECT COUNT(*) FROM ix_obs").await, 2);

        // Removed from the row store: nothing of it stays in the index.
        sqlx::query("DELETE FROM local_obs WHERE observation_id = ?")
            .bind(&a)
            .execute(&mut conn)
            .await
            .unwrap();
        assert_eq!(reindex_pending(&mut conn).await.unwrap(), 1);
        assert_eq!(matches(&mut conn, "third").await, 0);
        assert_eq!(count(&mut conn, "SELECT COUNT(*) FROM ix_obs").await, 1);
        assert_eq!(count(&mut conn, "SELECT COUNT(*) FROM ix_link").await, 1);
        assert_eq!(
            count(&mut conn, "SELECT COUNT(*) FROM raw_pending").await,
            0
        );
    }

    /// Each queue runs the steps it needs: tombstones, links and supersede
    /// edges are indexed when queued ids carry them, and a payload that is
    /// not JSON neither fails the run nor gets indexed.
    #[tokio::test]
    async fn a_queue_runs_exactly_the_steps_its_ids_need() {
        let mut conn = store().await;
        let (a, b, c, d) = (
            "a".repeat(32),
            "b".repeat(32),
            "c".repeat(32),
            "d".repeat(32),
        );
        let bare = serde_json::json!({
            "observation_id": a, "content": "bare note", "created_at": "2026-11-30T00:00:00Z",
        });
        sqlx::query("INSERT INTO local_obs(observation_id, payload_json) VALUES (?, ?)")
            .bind(&a)
            .bind(bare.to_string())
            .execute(&mut conn)
            .await
            .unwrap();
        assert_eq!(reindex_pending(&mut conn).await.unwrap(), 1);
        assert_eq!(matches(&mut conn, "bare").await, 1);
        assert_eq!(count(&mut conn, "SELECT COUNT(*) FROM ix_link").await, 0);

        put(&mut conn, &b, "linked note", &[&a]).await;
        sqlx::query(
            "INSERT INTO local_tomb(observation_id, tomb_json, deleted_at) VALUES (?, '{}', ?)",
        )
        .bind(&c)
        .bind("2026-11-30T01:00:00Z")
        .execute(&mut conn)
        .await
        .unwrap();
        sqlx::query("INSERT INTO local_obs(observation_id, payload_json) VALUES (?, 'not json')")
            .bind(&d)
            .execute(&mut conn)
            .await
            .unwrap();
        assert_eq!(reindex_pending(&mut conn).await.unwrap(), 3);
        assert_eq!(count(&mut conn, "SELECT COUNT(*) FROM ix_link").await, 1);
        assert_eq!(
            count(&mut conn, "SELECT COUNT(*) FROM ix_supersede").await,
            1
        );
        assert_eq!(count(&mut conn, "SELECT COUNT(*) FROM ix_tomb").await, 1);
        assert_eq!(count(&mut conn, "SELECT COUNT(*) FROM ix_obs").await, 2);
        assert_eq!(
            count(&mut conn, "SELECT COUNT(*) FROM raw_pending").await,
            0
        );
    }
}
