//! Applying what the mesh says to this host's mirror: the row store
//! (`local_obs`, `local_tomb`), the `mesh_key` table and, through them, the
//! index.
//!
//! Everything that arrives off the wire passes the same gate: the key must
//! have the canonical shape of a non-legacy tier, the payload must parse as
//! the model the key's marker names, and the payload's id must be the key's
//! id. Anything else is dropped and counted, never written.

use mesh_core::keyspace::{Marker, ParsedKey, Tier, parse_key};
use mesh_core::{Observation, Tombstone};
use sqlx::SqliteConnection;

use crate::db;
use crate::error::{DbContext, Result};
use crate::index::{Index, maintain};
use crate::save::MAX_OBSERVATION_BYTES;

pub(crate) use super::reconcile::{Reconciled, reconcile};

/// One change seen on the mesh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A value was put at a key.
    Put {
        /// The key.
        key: String,
        /// The payload, as text.
        payload: String,
    },
    /// A key was deleted.
    Delete {
        /// The key.
        key: String,
    },
}

/// Counts from applying changes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Applied {
    /// Observations written (new or changed).
    pub observations: u64,
    /// Tombstones written.
    pub tombstones: u64,
    /// Keys removed.
    pub deleted: u64,
    /// Changes dropped at the gate.
    pub rejected: u64,
    /// Shadowed observations seen again.
    pub revived: u64,
}

/// A change that passed the gate.
pub(super) enum Accepted {
    Observation {
        key: String,
        id: String,
        payload: String,
        created_at: String,
    },
    Tombstone {
        key: String,
        id: String,
        payload: String,
        deleted_at: String,
    },
    Delete {
        key: String,
        id: String,
        marker: Marker,
    },
}

fn canonical(key: &str) -> Option<ParsedKey> {
    parse_key(key).filter(|p| p.tier != Tier::Legacy)
}

pub(super) fn accept(change: &Change) -> Option<Accepted> {
    match change {
        Change::Put { key, payload } => {
            // Nothing this large can have been saved by a well-behaved writer.
            if payload.len() > MAX_OBSERVATION_BYTES {
                return None;
            }
            let parsed = canonical(key)?;
            match parsed.marker {
                Marker::Obs => {
                    let obs = Observation::from_json(payload).ok()?;
                    (obs.observation_id == parsed.observation_id).then(|| Accepted::Observation {
                        key: key.clone(),
                        id: parsed.observation_id,
                        payload: payload.clone(),
                        created_at: obs.created_at,
                    })
                }
                Marker::Tomb => {
                    let tomb = Tombstone::from_json(payload).ok()?;
                    (tomb.observation_id == parsed.observation_id).then(|| Accepted::Tombstone {
                        key: key.clone(),
                        id: parsed.observation_id,
                        payload: payload.clone(),
                        deleted_at: tomb.deleted_at,
                    })
                }
            }
        }
        Change::Delete { key } => {
            let parsed = canonical(key)?;
            Some(Accepted::Delete {
                key: key.clone(),
                id: parsed.observation_id,
                marker: parsed.marker,
            })
        }
    }
}

/// Apply `changes` in one transaction and bring the index up to date.
pub async fn apply(index: &Index, changes: &[Change]) -> Result<Applied> {
    let mut tx = index.begin_write().await?;
    let applied = apply_in(&mut tx, index, changes).await?;
    maintain::reindex_pending(&mut tx).await?;
    tx.commit()
        .await
        .map_err(|e| db::classify(e, index.path(), "write"))?;
    Ok(applied)
}

pub(super) async fn apply_in(
    conn: &mut SqliteConnection,
    index: &Index,
    changes: &[Change],
) -> Result<Applied> {
    let path = index.path();
    let mut applied = Applied::default();
    let mut revive: Vec<String> = Vec::new();
    for change in changes {
        let Some(accepted) = accept(change) else {
            tracing::debug!(
                "dropped a change that is not a canonical observation or tombstone: {change:?}"
            );
            applied.rejected += 1;
            continue;
        };
        match accepted {
            Accepted::Observation {
                key,
                id,
                payload,
                created_at,
            } => {
                let written = sqlx::query(
                    "INSERT INTO local_obs(observation_id, payload_json, created_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT(observation_id) DO UPDATE
                        SET payload_json = excluded.payload_json, created_at = excluded.created_at
                      WHERE local_obs.payload_json IS NOT excluded.payload_json",
                )
                .bind(&id)
                .bind(&payload)
                .bind(&created_at)
                .execute(&mut *conn)
                .await
                .map_err(|e| db::classify(e, path, "write"))?
                .rows_affected();
                applied.observations += written;
                remember_key(conn, index, &key, &id, Marker::Obs).await?;
                revive.push(id);
            }
            Accepted::Tombstone {
                key,
                id,
                payload,
                deleted_at,
            } => {
                let written = sqlx::query(
                    "INSERT INTO local_tomb(observation_id, tomb_json, deleted_at) VALUES (?, ?, ?)
                     ON CONFLICT(observation_id) DO NOTHING",
                )
                .bind(&id)
                .bind(&payload)
                .bind(&deleted_at)
                .execute(&mut *conn)
                .await
                .map_err(|e| db::classify(e, path, "write"))?
                .rows_affected();
                applied.tombstones += written;
                remember_key(conn, index, &key, &id, Marker::Tomb).await?;
            }
            Accepted::Delete { key, id, marker } => {
                sqlx::query("DELETE FROM mesh_key WHERE key = ?")
                    .bind(&key)
                    .execute(&mut *conn)
                    .await
                    .map_err(|e| db::classify(e, path, "write"))?;
                // The row goes once no key of its kind holds it any more.
                let (table, marker_text) = match marker {
                    Marker::Obs => ("local_obs", "obs"),
                    Marker::Tomb => ("local_tomb", "tomb"),
                };
                let sql = format!(
                    "DELETE FROM {table} WHERE observation_id = ?1
                       AND NOT EXISTS (SELECT 1 FROM mesh_key WHERE observation_id = ?1 AND marker = ?2)"
                );
                applied.deleted += sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(&id)
                    .bind(marker_text)
                    .execute(&mut *conn)
                    .await
                    .map_err(|e| db::classify(e, path, "write"))?
                    .rows_affected();
            }
        }
    }
    // Rows seen again are no longer shadowed. Reindexing already clears the
    // flag for changed rows; unchanged ones need it cleared here.
    for id in revive {
        applied.revived += sqlx::query(
            "UPDATE ix_obs SET shadowed_at = NULL WHERE observation_id = ? AND shadowed_at IS NOT NULL",
        )
        .bind(&id)
        .execute(&mut *conn)
        .await
        .ctx("reviving a shadowed observation")?
        .rows_affected();
    }
    Ok(applied)
}

async fn remember_key(
    conn: &mut SqliteConnection,
    index: &Index,
    key: &str,
    id: &str,
    marker: Marker,
) -> Result<()> {
    sqlx::query("INSERT OR IGNORE INTO mesh_key(key, observation_id, marker) VALUES (?, ?, ?)")
        .bind(key)
        .bind(id)
        .bind(marker.as_str())
        .execute(&mut *conn)
        .await
        .map_err(|e| db::classify(e, index.path(), "write"))?;
    Ok(())
}

/// Remove every row of `observation_id` from the mirror and the index.
pub async fn forget(index: &Index, observation_id: &str) -> Result<()> {
    let mut tx = index.begin_write().await?;
    for sql in [
        "DELETE FROM mesh_key WHERE observation_id = ?",
        "DELETE FROM local_obs WHERE observation_id = ?",
        "DELETE FROM local_tomb WHERE observation_id = ?",
    ] {
        sqlx::query(sql)
            .bind(observation_id)
            .execute(&mut *tx)
            .await
            .map_err(|e| db::classify(e, index.path(), "write"))?;
    }
    maintain::reindex_pending(&mut tx).await?;
    tx.commit()
        .await
        .map_err(|e| db::classify(e, index.path(), "write"))?;
    Ok(())
}

/// Every key the mirror knows for `observation_id`.
pub async fn keys_of(index: &Index, observation_id: &str) -> Result<Vec<String>> {
    sqlx::query_scalar("SELECT key FROM mesh_key WHERE observation_id = ? ORDER BY key")
        .bind(observation_id)
        .fetch_all(index.pool())
        .await
        .ctx("reading the mesh key table")
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::index::schema;

    async fn mirror() -> (tempfile::TempDir, Index) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index.db");
        let pool = crate::db::open_pool(&path, 2).await.unwrap();
        let index = Index::from_pool(pool, &path);
        let mut tx = index.begin_write().await.unwrap();
        schema::ensure(&mut tx).await.unwrap();
        schema::ensure_mesh_keys(&mut tx).await.unwrap();
        tx.commit().await.unwrap();
        (dir, index)
    }

    fn observation(content: &str) -> Observation {
        Observation::from_json(&format!(
            r#"{{"observation_id":"{}","content":"{content}","created_at":"2026-11-23T10:00:00.000000Z",
               "agent_family":"claude","client_id":"c1","pc_id":"pc1","session_id":"s1",
               "visibility":"mesh","subject":"s","summary":"sum","project":"p"}}"#,
            Observation::new_id()
        ))
        .unwrap()
    }

    fn put(obs: &Observation) -> Change {
        Change::Put {
            key: obs.key().unwrap(),
            payload: obs.to_json(),
        }
    }

    async fn live(index: &Index) -> u64 {
        index.counts().await.unwrap().live
    }

    #[tokio::test]
    async fn puts_tombstones_and_deletes_reach_the_index() {
        let (_dir, index) = mirror().await;
        let obs = observation("alpha");
        let applied = apply(&index, &[put(&obs)]).await.unwrap();
        assert_eq!(applied.observations, 1);
        assert_eq!(live(&index).await, 1);
        // The same put again writes nothing.
        assert_eq!(apply(&index, &[put(&obs)]).await.unwrap().observations, 0);

        let tomb = Tombstone::new(&obs.observation_id, "wrong");
        let tomb_key = obs.tombstone_key().unwrap();
        apply(
            &index,
            &[Change::Put {
                key: tomb_key.clone(),
                payload: tomb.to_json(),
            }],
        )
        .await
        .unwrap();
        assert_eq!(index.counts().await.unwrap().tombstoned, 1);

        let deleted = apply(
            &index,
            &[
                Change::Delete {
                    key: obs.key().unwrap(),
                },
                Change::Delete { key: tomb_key },
            ],
        )
        .await
        .unwrap();
        assert_eq!(deleted.deleted, 2);
        assert!(index.inspect(&obs.observation_id).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn the_gate_drops_what_is_not_canonical() {
        let (_dir, index) = mirror().await;
        let obs = observation("beta");
        let other = observation("gamma");
        let key = obs.key().unwrap();
        let bad = [
            // Malformed JSON.
            Change::Put {
                key: key.clone(),
                payload: "{not json".to_owned(),
            },
            // A payload whose id is not the key's.
            Change::Put {
                key: key.clone(),
                payload: other.to_json(),
            },
            // A tombstone payload at an observation key.
            Change::Put {
                key: key.clone(),
                payload: Tombstone::new(&obs.observation_id, "").to_json(),
            },
            // Injected and legacy keys.
            Change::Put {
                key: format!("mem/mesh/obs/a/b/c/*/{}", obs.observation_id),
                payload: obs.to_json(),
            },
            Change::Put {
                key: format!("mem/obs/a/b/c/d/{}", obs.observation_id),
                payload: obs.to_json(),
            },
            Change::Delete {
                key: "mem/mesh/obs/**".to_owned(),
            },
        ];
        let applied = apply(&index, &bad).await.unwrap();
        assert_eq!(applied.rejected, bad.len() as u64);
        assert_eq!(live(&index).await, 0);
    }

    #[tokio::test]
    async fn a_scan_shadows_what_it_lacks_and_revives_what_returns() {
        let (_dir, index) = mirror().await;
        let kept = observation("kept");
        let gone = observation("gone");
        let queued = observation("queued");
        apply(&index, &[put(&kept), put(&gone), put(&queued)])
            .await
            .unwrap();
        let queued_ids: HashSet<String> = [queued.observation_id.clone()].into();

        let r = reconcile(&index, &[put(&kept), put(&kept)], Some(&queued_ids), false)
            .await
            .unwrap();
        assert_eq!((r.seen, r.shadowed, r.revived), (1, 1, 0));
        assert_eq!(live(&index).await, 2);
        let state = index
            .inspect(&gone.observation_id)
            .await
            .unwrap()
            .unwrap()
            .state;
        assert_eq!(state, crate::ObservationState::Shadowed);

        let r = reconcile(&index, &[put(&kept), put(&gone)], Some(&queued_ids), false)
            .await
            .unwrap();
        assert_eq!((r.shadowed, r.revived), (0, 1));
        assert_eq!(live(&index).await, 3);

        // A reset rebuilds the index and shadows again what the scan lacks.
        let r = reconcile(&index, &[put(&kept)], Some(&HashSet::new()), true)
            .await
            .unwrap();
        assert_eq!(r.shadowed, 2);
        assert_eq!(live(&index).await, 1);
    }
    #[tokio::test]
    async fn a_scan_writes_only_what_differs() {
        let (_dir, index) = mirror().await;
        let obs = observation("stable");
        apply(&index, &[put(&obs)]).await.unwrap();

        let same = reconcile(&index, &[put(&obs)], Some(&HashSet::new()), false)
            .await
            .unwrap();
        assert_eq!((same.seen, same.applied.observations), (1, 0));

        // A rewritten payload at the same key (backfilled metadata) is applied.
        let mut rewritten = obs.clone();
        rewritten.summary = "backfilled summary".to_owned();
        let r = reconcile(&index, &[put(&rewritten)], Some(&HashSet::new()), false)
            .await
            .unwrap();
        assert_eq!(r.applied.observations, 1);
        let hits = index.inspect(&obs.observation_id).await.unwrap().unwrap();
        assert_eq!(hits.state, crate::ObservationState::Live);
        let payload: String =
            sqlx::query_scalar("SELECT payload_json FROM local_obs WHERE observation_id = ?")
                .bind(&obs.observation_id)
                .fetch_one(index.pool())
                .await
                .unwrap();
        assert!(payload.contains("backfilled summary"));
    }
}
