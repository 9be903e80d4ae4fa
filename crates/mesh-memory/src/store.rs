//! The store abstraction: where observations are kept, independent of how
//! they are searched.
//!
//! Every store answers reads through an [`Index`]; stores differ in where
//! the source of truth lives and how a write reaches it.

use std::future::Future;

use mesh_core::{BackendMode, Observation, Tombstone};

use crate::error::Result;
use crate::index::Index;

/// What became of a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutOutcome {
    /// Durably stored in the source of truth.
    Stored,
    /// The source of truth was unreachable; the write is queued durably on
    /// this host and will be replayed.
    Queued {
        /// Why it could not be stored now.
        reason: String,
    },
}

/// What a physical delete removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PhysicalDelete {
    /// An observation was removed.
    pub observation: bool,
    /// A tombstone was removed.
    pub tombstone: bool,
}

impl PhysicalDelete {
    /// True when anything was removed.
    pub fn any(self) -> bool {
        self.observation || self.tombstone
    }
}

/// Counts from an index rebuild.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RebuildStats {
    /// Observations indexed.
    pub observations: u64,
    /// Tombstones applied.
    pub tombstones: u64,
    /// Rows skipped because their JSON was malformed.
    pub malformed: u64,
}

/// Transport-level status of a store (the mesh fields read `n/a` locally).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendStatus {
    /// Which backend.
    pub mode: BackendMode,
    /// State of the Zenoh session, or `n/a`.
    pub zenoh_session: String,
    /// Time of the last successful put, or `""`.
    pub last_put_at: String,
    /// Outcome of the last put, or `n/a`.
    pub last_put_status: String,
    /// Writes waiting in the pending queue.
    pub pending_puts: u64,
}

/// What [`MemoryStore::repair_index`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexRepair {
    /// The index was rebuilt from the local source of truth.
    Rebuilt(RebuildStats),
    /// The index was made to agree with a full scan of the mesh.
    Realigned(RealignStats),
}

/// Counts from realigning a mirror index with a scan of the mesh.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RealignStats {
    /// Observations the scan returned.
    pub seen: u64,
    /// Observations written (new or changed).
    pub added: u64,
    /// Tombstones written.
    pub tombstones: u64,
    /// Rows newly hidden because the scan no longer has them.
    pub shadowed: u64,
    /// Rows shown again because the scan has them again.
    pub revived: u64,
    /// Values refused at the gate (malformed or misplaced).
    pub rejected: u64,
}

/// Whether the mesh can take writes for every stored scope (mesh stores).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    /// A session to the daemon is open.
    pub connected: bool,
    /// Storages the reachable routers report.
    pub storages: Vec<SeenStorage>,
    /// Stored scopes no reachable router has a storage for.
    pub missing_scopes: Vec<String>,
    /// Why the check could not complete, if it could not.
    pub problem: Option<String>,
}

impl Readiness {
    /// True when a session is open and every stored scope has a storage.
    pub fn is_ready(&self) -> bool {
        self.connected && self.missing_scopes.is_empty()
    }

    /// `yes`, or `waiting (<why>)`.
    pub fn label(&self) -> String {
        if !self.connected {
            "waiting (no session)".to_owned()
        } else if !self.missing_scopes.is_empty() {
            format!(
                "waiting (no storage for {})",
                self.missing_scopes.join(", ")
            )
        } else {
            "yes".to_owned()
        }
    }
}

/// A storage a router reports on its admin space.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenStorage {
    /// The storage's name in the daemon config.
    pub name: String,
    /// The key expression it stores.
    pub key_expr: String,
    /// The router holding it (its Zenoh id).
    pub router: String,
}

/// A place observations are kept.
///
/// Implementations must make a reported [`PutOutcome::Stored`] durable
/// before returning, and must keep [`MemoryStore::index`] consistent with
/// their own writes (read-your-writes).
pub trait MemoryStore: Send + Sync {
    /// The index that answers reads.
    fn index(&self) -> &Index;

    /// Store an observation.
    fn put_observation(&self, obs: &Observation)
    -> impl Future<Output = Result<PutOutcome>> + Send;

    /// Store a tombstone for `obs`.
    fn put_tombstone(
        &self,
        obs: &Observation,
        tomb: &Tombstone,
    ) -> impl Future<Output = Result<PutOutcome>> + Send;

    /// Remove an observation and its tombstone for good.
    fn physical_delete(
        &self,
        observation_id: &str,
    ) -> impl Future<Output = Result<PhysicalDelete>> + Send;

    /// Rebuild the index from the source of truth.
    fn rebuild_index(&self) -> impl Future<Output = Result<RebuildStats>> + Send;

    /// Transport status for `status` and `doctor`.
    fn backend_status(&self) -> impl Future<Output = Result<BackendStatus>> + Send;

    /// Replay queued writes; returns how many were delivered.
    fn drain_pending(&self, limit: Option<usize>) -> impl Future<Output = Result<u64>> + Send;

    /// Make the index agree with the source of truth: a rebuild where the
    /// truth is local, a realignment with a full scan on the mesh.
    fn repair_index(&self) -> impl Future<Output = Result<IndexRepair>> + Send {
        async { self.rebuild_index().await.map(IndexRepair::Rebuilt) }
    }

    /// Whether a shared mesh can take writes; `None` for stores that have
    /// no mesh (local mode is always ready).
    fn readiness(&self) -> impl Future<Output = Option<Readiness>> + Send {
        async { None }
    }

    /// Flush and release resources.
    fn close(&self) -> impl Future<Output = ()> + Send;

    /// Close, for a process that exits right after: what a store can leave
    /// to the operating system's clean-up at exit, it leaves. The default is
    /// [`close`](Self::close).
    fn close_for_exit(&self) -> impl Future<Output = ()> + Send {
        self.close()
    }
}
