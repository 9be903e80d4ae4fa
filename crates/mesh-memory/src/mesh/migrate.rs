//! `migrate-visibility`: moving observations and tombstones written under
//! the legacy layout (`mem/obs/...`, `mem/tomb/...`, before scopes existed)
//! into a scoped tier.
//!
//! Each entry is copied first, through the confirmed write path, and its
//! legacy key is deleted only once the copy is confirmed. A target key that
//! already holds the same payload counts as copied; one holding something
//! else is a conflict and the legacy key is kept.

use mesh_core::keyspace::{self, KeyIdentity, Marker, Tier, Visibility};
use mesh_core::{Observation, Tombstone};

use super::mirror::Change;
use super::store::MeshStore;
use super::wire;
use crate::any_store::AnyStore;
use crate::error::Result;
use crate::memory::Memory;
use crate::store::MemoryStore;
use crate::store::PutOutcome;

/// Selectors of the legacy layout: exactly the canonical shape.
const LEGACY_SELECTORS: [&str; 2] = ["mem/obs/*/*/*/*/*", "mem/tomb/*/*/*/*/*"];

/// What the migration will do with one legacy entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemAction {
    /// Copy to the target key, then delete the legacy key.
    Copy,
    /// The target already holds the same payload: only delete.
    AlreadyCopied,
    /// The target holds a different payload: leave both alone.
    Conflict,
}

/// One legacy entry and its destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationItem {
    /// The legacy key.
    pub from_key: String,
    /// The scoped key.
    pub to_key: String,
    /// The observation id.
    pub observation_id: String,
    /// Observation or tombstone.
    pub marker: Marker,
    /// The payload to write at `to_key`.
    pub payload: String,
    /// What will happen.
    pub action: ItemAction,
}

/// Every legacy entry found, with its destination.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrationPlan {
    /// The entries.
    pub items: Vec<MigrationItem>,
    /// Legacy values that are not valid entries (left alone).
    pub malformed: u64,
}

impl MigrationPlan {
    /// Entries of `marker`.
    pub fn count(&self, marker: Marker) -> usize {
        self.items.iter().filter(|i| i.marker == marker).count()
    }

    /// Entries that will not move.
    pub fn conflicts(&self) -> usize {
        self.items
            .iter()
            .filter(|i| i.action == ItemAction::Conflict)
            .count()
    }
}

/// What a migration did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MigrationReport {
    /// Entries planned.
    pub planned: u64,
    /// Copies confirmed (including ones already in place).
    pub copied: u64,
    /// Legacy keys deleted.
    pub deleted: u64,
    /// Entries left because the target differs.
    pub conflicts: u64,
    /// Entries whose copy could not be confirmed (legacy key kept).
    pub failures: u64,
}

/// Find every legacy entry and plan its move to `visibility` / `scope_id`.
pub async fn plan(
    store: &MeshStore,
    visibility: Visibility,
    scope_id: &str,
) -> Result<MigrationPlan> {
    let session = store.session().await?;
    let mut plan = MigrationPlan::default();
    for selector in LEGACY_SELECTORS {
        let scan = wire::query(&session, selector, wire::SCAN_TIMEOUT).await?;
        for change in scan.changes {
            let Change::Put { key, payload } = change else {
                continue;
            };
            if plan.items.iter().any(|i| i.from_key == key) {
                continue;
            }
            match target(&key, &payload, visibility, scope_id) {
                Some((to_key, id, marker, new_payload)) => plan.items.push(MigrationItem {
                    from_key: key,
                    to_key,
                    observation_id: id,
                    marker,
                    payload: new_payload,
                    action: ItemAction::Copy,
                }),
                None => plan.malformed += 1,
            }
        }
    }
    for item in &mut plan.items {
        let existing = wire::query(&session, &item.to_key, wire::LOOKUP_TIMEOUT).await?;
        let payloads: Vec<&str> = existing
            .changes
            .iter()
            .filter_map(|c| match c {
                Change::Put { payload, .. } => Some(payload.as_str()),
                Change::Delete { .. } => None,
            })
            .collect();
        if payloads.contains(&item.payload.as_str()) {
            item.action = ItemAction::AlreadyCopied;
        } else if !payloads.is_empty() {
            item.action = ItemAction::Conflict;
        }
    }
    Ok(plan)
}

/// The scoped key and payload for a legacy entry, if it is a valid one.
fn target(
    key: &str,
    payload: &str,
    visibility: Visibility,
    scope_id: &str,
) -> Option<(String, String, Marker, String)> {
    let parsed = keyspace::parse_key(key).filter(|p| p.tier == Tier::Legacy)?;
    let identity = KeyIdentity {
        agent_family: &parsed.agent_family,
        client_id: &parsed.client_id,
        pc_id: &parsed.pc_id,
        session_id: &parsed.session_id,
    };
    let to_key = keyspace::build_key(
        parsed.marker,
        visibility,
        scope_id,
        identity,
        &parsed.observation_id,
    )
    .ok()?;
    let new_payload = match parsed.marker {
        Marker::Obs => {
            let mut obs = Observation::from_json(payload).ok()?;
            if obs.observation_id != parsed.observation_id {
                return None;
            }
            obs.visibility = visibility;
            obs.scope_id = scope_id.to_owned();
            obs.to_json()
        }
        Marker::Tomb => {
            let tomb = Tombstone::from_json(payload).ok()?;
            if tomb.observation_id != parsed.observation_id {
                return None;
            }
            payload.to_owned()
        }
    };
    Some((to_key, parsed.observation_id, parsed.marker, new_payload))
}

/// Carry out `plan`; `progress` is called after each entry.
pub async fn execute(
    store: &MeshStore,
    plan: &MigrationPlan,
    mut progress: impl FnMut(usize, &MigrationReport),
) -> Result<MigrationReport> {
    let session = store.session().await?;
    let mut report = MigrationReport {
        planned: plan.items.len() as u64,
        ..MigrationReport::default()
    };
    for (done, item) in plan.items.iter().enumerate() {
        match item.action {
            ItemAction::Conflict => report.conflicts += 1,
            ItemAction::AlreadyCopied | ItemAction::Copy => {
                let confirmed = item.action == ItemAction::AlreadyCopied
                    || store
                        .write_key(&item.to_key, &item.observation_id, &item.payload)
                        .await?
                        == PutOutcome::Stored;
                if confirmed {
                    report.copied += 1;
                    wire::delete_keys(&session, std::slice::from_ref(&item.from_key)).await?;
                    report.deleted += 1;
                } else {
                    report.failures += 1;
                }
            }
        }
        progress(done + 1, &report);
    }
    Ok(report)
}

impl Memory<AnyStore> {
    /// Plan the move of every legacy (pre-scope) entry to `visibility` /
    /// `scope_id`. Refused in local mode, where no legacy keys exist.
    pub async fn plan_visibility_migration(
        &self,
        visibility: Visibility,
        scope_id: &str,
    ) -> Result<MigrationPlan> {
        plan(
            self.store().mesh_only("migrate-visibility")?,
            visibility,
            scope_id,
        )
        .await
    }

    /// Carry out a plan from [`Memory::plan_visibility_migration`].
    pub async fn migrate_visibility(
        &self,
        plan: &MigrationPlan,
        progress: impl FnMut(usize, &MigrationReport),
    ) -> Result<MigrationReport> {
        execute(
            self.store().mesh_only("migrate-visibility")?,
            plan,
            progress,
        )
        .await
    }

    /// Writes waiting in this host's pending queue (0 in local mode).
    pub async fn pending_writes(&self) -> Result<u64> {
        Ok(self.store().backend_status().await?.pending_puts)
    }
}
