//! `gc --by-pc-id`: the emergency purge of everything one host wrote (a
//! machine that leaked a secret into memory, a test host that flooded the
//! mesh). Physical deletes of exact keys only, never a wildcard delete.

use std::collections::BTreeMap;

use mesh_core::keyspace::{self, Marker};

use super::mirror::{self, Change};
use super::store::MeshStore;
use super::wire;
use crate::any_store::AnyStore;
use crate::error::{MemoryError, Result};
use crate::memory::Memory;
use crate::store::MemoryStore;

/// One observation a purge would remove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgeTarget {
    /// Its key in the storages.
    pub key: String,
    /// Its id.
    pub observation_id: String,
    /// The session that wrote it.
    pub session_id: String,
}

/// What a host purge would remove, found by a scan of the stored scopes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PurgePlan {
    /// The observations, in key order.
    pub targets: Vec<PurgeTarget>,
}

impl PurgePlan {
    /// Targets per session id, most first (ties by id).
    pub fn sessions(&self) -> Vec<(String, u64)> {
        let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
        for t in &self.targets {
            *counts.entry(t.session_id.as_str()).or_default() += 1;
        }
        let mut out: Vec<(String, u64)> =
            counts.into_iter().map(|(s, n)| (s.to_owned(), n)).collect();
        out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        out
    }
}

/// What a purge removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PurgeReport {
    /// Observations deleted.
    pub observations: u64,
    /// Tombstone keys deleted (a delete of an absent key counts: it is a
    /// no-op in the storages).
    pub tombstones: u64,
    /// Targets whose delete failed.
    pub failures: u64,
}

fn plan_from(changes: &[Change], pc_id: &str, session_prefix: &str) -> PurgePlan {
    let mut targets: Vec<PurgeTarget> = changes
        .iter()
        .filter_map(|change| {
            let Change::Put { key, payload } = change else {
                return None;
            };
            let parsed = keyspace::parse_key(key)?;
            if parsed.marker != Marker::Obs {
                return None;
            }
            // Only the identity fields, not the full model: a payload with
            // an outdated field still belongs to its host.
            let doc: serde_json::Value = serde_json::from_str(payload).ok()?;
            let field = |name: &str| doc.get(name).and_then(|v| v.as_str()).unwrap_or_default();
            let session_id = field("session_id");
            (field("pc_id") == pc_id
                && session_id.starts_with(session_prefix)
                && field("observation_id") == parsed.observation_id)
                .then(|| PurgeTarget {
                    key: key.clone(),
                    observation_id: parsed.observation_id.clone(),
                    session_id: session_id.to_owned(),
                })
        })
        .collect();
    targets.sort_by(|a, b| a.key.cmp(&b.key));
    targets.dedup();
    PurgePlan { targets }
}

async fn plan(store: &MeshStore, pc_id: &str, session_prefix: &str) -> Result<PurgePlan> {
    let session = store.session().await?;
    let scan = wire::scan(&session, store.scopes(), wire::SCAN_TIMEOUT).await?;
    Ok(plan_from(&scan.changes, pc_id, session_prefix))
}

async fn execute(
    store: &MeshStore,
    plan: &PurgePlan,
    mut progress: impl FnMut(usize, &PurgeReport),
) -> Result<PurgeReport> {
    let session = store.session().await?;
    let mut report = PurgeReport::default();
    for (done, target) in plan.targets.iter().enumerate() {
        // A queued write of this id would bring it back.
        store.pending().forget(&target.observation_id).await?;
        match wire::delete_keys(&session, std::slice::from_ref(&target.key)).await {
            Ok(()) => report.observations += 1,
            Err(e) => {
                tracing::warn!("purging {} failed: {e}", target.observation_id);
                report.failures += 1;
                continue;
            }
        }
        let mut deleted = vec![Change::Delete {
            key: target.key.clone(),
        }];
        if let Some(tomb) = keyspace::mirror_key(&target.key, Marker::Tomb) {
            match wire::delete_keys(&session, std::slice::from_ref(&tomb)).await {
                Ok(()) => {
                    report.tombstones += 1;
                    deleted.push(Change::Delete { key: tomb });
                }
                Err(e) => tracing::debug!("purging the tombstone {tomb} failed: {e}"),
            }
        }
        mirror::apply(store.index(), &deleted).await?;
        progress(done + 1, &report);
    }
    Ok(report)
}

/// The operation named in local-mode refusals.
const WHAT: &str = "gc --by-pc-id";

impl Memory<AnyStore> {
    /// Find every observation host `pc_id` wrote (optionally only sessions
    /// starting with `session_prefix`) in the stored scopes. Mesh mode only.
    pub async fn plan_host_purge(&self, pc_id: &str, session_prefix: &str) -> Result<PurgePlan> {
        if pc_id.chars().count() != 32 {
            return Err(MemoryError::InvalidArgument(
                "--by-pc-id requires a 32-character pc_id.".to_owned(),
            ));
        }
        plan(self.store().mesh_only(WHAT)?, pc_id, session_prefix).await
    }

    /// Physically delete a plan's observations and their tombstones from
    /// every storage and from this host's index.
    pub async fn purge_host(
        &self,
        plan: &PurgePlan,
        progress: impl FnMut(usize, &PurgeReport),
    ) -> Result<PurgeReport> {
        execute(self.store().mesh_only(WHAT)?, plan, progress).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PC: &str = "0123456789abcdef0123456789abcdef";
    const OTHER: &str = "fedcba9876543210fedcba9876543210";

    fn put(pc: &str, session: &str, id: &str) -> Change {
        Change::Put {
            key: format!("mem/mesh/obs/claude/alice@mbp/{pc}/{session}/{id}"),
            payload: format!(
                r#"{{"pc_id": "{pc}", "session_id": "{session}", "observation_id": "{id}", "memory_type": "old-enum"}}"#
            ),
        }
    }

    #[test]
    fn a_plan_holds_exactly_the_hosts_observations() {
        let id = |n: u8| format!("{n:032x}");
        let changes = vec![
            put(PC, "20261130T000000Z-aaaaaaaa", &id(1)),
            put(PC, "20261130T000000Z-aaaaaaaa", &id(2)),
            put(PC, "20261201T000000Z-bbbbbbbb", &id(3)),
            put(OTHER, "20261130T000000Z-aaaaaaaa", &id(4)),
            // A payload whose id disagrees with its key is not ours to touch.
            Change::Put {
                key: format!("mem/mesh/obs/claude/alice@mbp/{PC}/s/{}", id(5)),
                payload: format!(r#"{{"pc_id": "{PC}", "observation_id": "{}"}}"#, id(6)),
            },
            Change::Put {
                key: format!("mem/mesh/tomb/claude/alice@mbp/{PC}/s/{}", id(1)),
                payload: "{}".to_owned(),
            },
        ];
        let all = plan_from(&changes, PC, "");
        let ids: Vec<&str> = all
            .targets
            .iter()
            .map(|t| t.observation_id.as_str())
            .collect();
        assert_eq!(ids, [id(1), id(2), id(3)]);
        assert_eq!(
            all.sessions(),
            [
                ("20261130T000000Z-aaaaaaaa".to_owned(), 2),
                ("20261201T000000Z-bbbbbbbb".to_owned(), 1)
            ]
        );
        let narrowed = plan_from(&changes, PC, "20261201");
        assert_eq!(narrowed.targets.len(), 1);
        assert!(
            plan_from(&changes, "f".repeat(32).as_str(), "")
                .targets
                .is_empty()
        );
    }
}
