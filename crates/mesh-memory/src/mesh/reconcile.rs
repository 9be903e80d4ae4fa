//! Reconciling the mirror with a full scan of the mesh: apply what the
//! storages hold, hide (shadow) what they no longer have, show again what
//! came back; only differences are written.

use std::collections::{HashMap, HashSet};

use super::mirror::{Accepted, Applied, Change, accept, apply_in};
use crate::db;
use crate::error::{DbContext, Result};
use crate::index::{Index, maintain};

/// Counts from reconciling the mirror with a full scan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reconciled {
    /// What applying the scan wrote.
    pub applied: Applied,
    /// Observations in the scan.
    pub seen: u64,
    /// Rows newly hidden because the scan no longer has them.
    pub shadowed: u64,
    /// Rows shown again because the scan has them again.
    pub revived: u64,
}

/// What the mirror held before a reconcile, so that only differences are
/// written and the write lock is held briefly even at 100k observations.
struct Known {
    /// Every key the mirror holds: its observation id and, for observation
    /// keys, a digest of the payload (`None` for tombstone keys, which never
    /// change once written).
    keys: HashMap<String, (String, Option<u64>)>,
    /// Observations in the index that are not deleted, and whether each is
    /// shadowed.
    rows: Vec<(String, bool)>,
}

/// Rows read per page of the key table: bounds the memory a read takes.
const KNOWN_PAGE: i64 = 5_000;

fn digest(text: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut hasher);
    hasher.finish()
}

async fn known(index: &Index) -> Result<Known> {
    let mut keys = HashMap::new();
    let mut after = String::new();
    // Bounded: every page advances `after` or ends the loop.
    loop {
        let page: Vec<(String, String, String, Option<String>)> = sqlx::query_as(
            "SELECT m.key, m.observation_id, m.marker, o.payload_json
               FROM mesh_key m
               LEFT JOIN local_obs o ON m.marker = 'obs' AND o.observation_id = m.observation_id
              WHERE m.key > ?1 ORDER BY m.key LIMIT ?2",
        )
        .bind(&after)
        .bind(KNOWN_PAGE)
        .fetch_all(index.pool())
        .await
        .ctx("reading the mesh key table")?;
        let Some(last) = page.last() else { break };
        after.clone_from(&last.0);
        let full = page.len() as i64 == KNOWN_PAGE;
        for (key, id, marker, payload) in page {
            match (marker.as_str(), payload) {
                ("tomb", _) => {
                    keys.insert(key, (id, None));
                }
                // An observation key without its row is not known: applying
                // the scan's value restores the row.
                (_, Some(payload)) => {
                    keys.insert(key, (id, Some(digest(&payload))));
                }
                (_, None) => {}
            }
        }
        if !full {
            break;
        }
    }
    let rows = sqlx::query_as(
        "SELECT observation_id, shadowed_at IS NOT NULL FROM ix_obs WHERE deleted_at IS NULL",
    )
    .fetch_all(index.pool())
    .await
    .ctx("reading the index")?;
    Ok(Known { keys, rows })
}

/// Make the mirror agree with a full scan of the storages.
///
/// What the scan holds and the mirror lacks (or holds differently) is
/// applied. Observations the index shows but the scan lacks are shadowed
/// (hidden, not deleted: a later scan that has them again revives them),
/// except the ids in `keep` (writes still queued on this host). With `keep`
/// = `None` nothing is shadowed: the scan is known to be partial. With
/// `reset`, the index tables are rebuilt from the mirror's rows first.
pub async fn reconcile(
    index: &Index,
    scan: &[Change],
    keep: Option<&HashSet<String>>,
    reset: bool,
) -> Result<Reconciled> {
    if reset {
        let mut tx = index.begin_write().await?;
        crate::index::schema::reset_index(&mut tx).await?;
        maintain::queue_everything(&mut tx).await?;
        maintain::reindex_pending(&mut tx).await?;
        tx.commit()
            .await
            .map_err(|e| db::classify(e, index.path(), "write"))?;
    }
    let known = known(index).await?;

    // The scan may hold the same key twice (one reply per storage).
    let mut unique: HashMap<&str, &Change> = HashMap::new();
    for change in scan {
        if let Change::Put { key, .. } = change {
            unique.insert(key.as_str(), change);
        }
    }
    let mut seen: HashSet<String> = HashSet::new();
    let mut todo: Vec<Change> = Vec::new();
    for (key, change) in unique {
        let Change::Put { payload, .. } = change else {
            continue;
        };
        match known.keys.get(key) {
            Some((_, None)) => {}
            Some((id, Some(hash))) if *hash == digest(payload) => {
                seen.insert(id.clone());
            }
            _ => {
                if let Some(Accepted::Observation { id, .. }) = accept(change) {
                    seen.insert(id);
                }
                todo.push(change.clone());
            }
        }
    }

    let shown = |id: &String| seen.contains(id) || keep.is_some_and(|k| k.contains(id));
    let to_revive: Vec<&String> = known
        .rows
        .iter()
        .filter(|(id, shadowed)| *shadowed && shown(id))
        .map(|(id, _)| id)
        .collect();
    let to_shadow: Vec<&String> = match keep {
        Some(_) => known
            .rows
            .iter()
            .filter(|(id, shadowed)| !*shadowed && !shown(id))
            .map(|(id, _)| id)
            .collect(),
        None => Vec::new(),
    };

    let mut tx = index.begin_write().await?;
    let applied = apply_in(&mut tx, index, &todo).await?;
    let now = mesh_core::timestamp::now();
    let mut shadowed = 0;
    for id in to_shadow {
        shadowed += sqlx::query(
            "UPDATE ix_obs SET shadowed_at = ?
              WHERE observation_id = ? AND shadowed_at IS NULL AND deleted_at IS NULL",
        )
        .bind(&now)
        .bind(id)
        .execute(&mut *tx)
        .await
        .ctx("shadowing observations missing from the mesh")?
        .rows_affected();
    }
    let mut revived = 0;
    for id in to_revive {
        revived += sqlx::query(
            "UPDATE ix_obs SET shadowed_at = NULL WHERE observation_id = ? AND shadowed_at IS NOT NULL",
        )
        .bind(id)
        .execute(&mut *tx)
        .await
        .ctx("reviving observations back in the mesh")?
        .rows_affected();
    }
    maintain::reindex_pending(&mut tx).await?;
    tx.commit()
        .await
        .map_err(|e| db::classify(e, index.path(), "write"))?;
    Ok(Reconciled {
        applied,
        seen: seen.len() as u64,
        shadowed,
        revived: revived + applied.revived,
    })
}
