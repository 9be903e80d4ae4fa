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

    /// Flush and release resources.
    fn close(&self) -> impl Future<Output = ()> + Send;
}
