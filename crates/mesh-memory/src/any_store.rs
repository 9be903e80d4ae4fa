//! [`AnyStore`]: the store chosen by configuration at run time.

use mesh_core::{Observation, Tombstone};

use crate::error::{MemoryError, Result};
use crate::index::Index;
use crate::local::LocalStore;
use crate::mesh::MeshStore;
use crate::store::{
    BackendStatus, IndexRepair, MemoryStore, PhysicalDelete, PutOutcome, Readiness, RebuildStats,
};

/// One of the stores this build provides.
#[derive(Debug, Clone)]
pub enum AnyStore {
    /// SQLite only, no daemon.
    Local(LocalStore),
    /// Hub or spoke: Zenoh storages, read through a local mirror.
    Mesh(MeshStore),
}

impl AnyStore {
    /// The mesh store, for operations that exist only in mesh mode; in
    /// local mode a usage error naming `what` and how to switch.
    pub(crate) fn mesh_only(&self, what: &'static str) -> Result<&MeshStore> {
        match self {
            Self::Mesh(store) => Ok(store),
            Self::Local(_) => Err(MemoryError::NeedsMesh { what }),
        }
    }
}

impl MemoryStore for AnyStore {
    fn index(&self) -> &Index {
        match self {
            Self::Local(s) => s.index(),
            Self::Mesh(s) => s.index(),
        }
    }

    async fn put_observation(&self, obs: &Observation) -> Result<PutOutcome> {
        match self {
            Self::Local(s) => s.put_observation(obs).await,
            Self::Mesh(s) => s.put_observation(obs).await,
        }
    }

    async fn put_tombstone(&self, obs: &Observation, tomb: &Tombstone) -> Result<PutOutcome> {
        match self {
            Self::Local(s) => s.put_tombstone(obs, tomb).await,
            Self::Mesh(s) => s.put_tombstone(obs, tomb).await,
        }
    }

    async fn physical_delete(&self, observation_id: &str) -> Result<PhysicalDelete> {
        match self {
            Self::Local(s) => s.physical_delete(observation_id).await,
            Self::Mesh(s) => s.physical_delete(observation_id).await,
        }
    }

    async fn rebuild_index(&self) -> Result<RebuildStats> {
        match self {
            Self::Local(s) => s.rebuild_index().await,
            Self::Mesh(s) => s.rebuild_index().await,
        }
    }

    async fn backend_status(&self) -> Result<BackendStatus> {
        match self {
            Self::Local(s) => s.backend_status().await,
            Self::Mesh(s) => s.backend_status().await,
        }
    }

    async fn drain_pending(&self, limit: Option<usize>) -> Result<u64> {
        match self {
            Self::Local(s) => s.drain_pending(limit).await,
            Self::Mesh(s) => s.drain_pending(limit).await,
        }
    }

    async fn repair_index(&self) -> Result<IndexRepair> {
        match self {
            Self::Local(s) => s.repair_index().await,
            Self::Mesh(s) => s.repair_index().await,
        }
    }

    async fn readiness(&self) -> Option<Readiness> {
        match self {
            Self::Local(s) => s.readiness().await,
            Self::Mesh(s) => s.readiness().await,
        }
    }

    async fn close(&self) {
        match self {
            Self::Local(s) => s.close().await,
            Self::Mesh(s) => s.close().await,
        }
    }

    async fn close_for_exit(&self) {
        match self {
            Self::Local(s) => s.close_for_exit().await,
            Self::Mesh(s) => s.close_for_exit().await,
        }
    }
}
