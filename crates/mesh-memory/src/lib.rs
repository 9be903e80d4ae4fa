//! mesh-memory: shared memory for coding agents — observations, stores,
//! the search index, tombstones and retention.
//!
//! # Embedding
//!
//! ```no_run
//! use mesh_memory::{SaveRequest, SearchQuery};
//!
//! # async fn demo() -> mesh_memory::Result<()> {
//! // Local mode unless configuration says otherwise; no set-up needed.
//! let memory = mesh_memory::open(mesh_memory::Environment::from_process()).await?;
//! let saved = memory
//!     .save(&SaveRequest::new(
//!         "Cache keys include the tenant id; without it two tenants shared rows.",
//!         "cache key",
//!         "tenant id is part of every cache key",
//!     ))
//!     .await?;
//! let hits = memory.search(&SearchQuery::text("tenant")).await?;
//! assert!(hits.iter().any(|o| o.observation_id == saved.observation.observation_id));
//! memory.close().await;
//! # Ok(())
//! # }
//! ```
//!
//! # Map
//!
//! - [`Memory`] runs every workflow (save, search, get, delete, status,
//!   retention, repair) over any [`MemoryStore`].
//! - [`LocalStore`] keeps raw rows and the [`Index`] in one SQLite file.
//! - [`MeshStore`] writes to the Zenoh storages of hub/spoke mode and reads
//!   a mirror of them; [`mesh::serve_index`] keeps the mirror current in
//!   the daemon.
//! - [`index`] is the SQLite search index (FTS5 trigram) every store reads.
//! - The rules (save validation, [`metadata`], lint warnings, supersede
//!   candidates, [`gc`], [`backfill`]) are pure functions where possible;
//!   only what a caller needs is public.
//! - [`view`] renders the reference's text forms for both binaries.
//!
//! Architecture invariant: depends on mesh-core only; never on messaging.

#![deny(missing_docs)]

pub mod activity;
mod any_store;
pub mod backfill;
mod db;
pub mod doctor;
pub mod embed;
mod error;
pub mod gc;
pub mod index;
mod lint;
mod local;
mod memory;
pub mod mesh;
pub mod metadata;
mod project_alias;
pub mod query;
mod save;
mod store;
mod supersede;
pub mod view;

use mesh_core::BackendMode;

// The mesh-core types an embedder needs, so that it depends on this crate
// alone.
pub use mesh_core::{Environment, Identity, MemoryType, Observation, Paths, Settings, Visibility};

pub use any_store::AnyStore;
pub use embed::{EmbedError, EmbedProgress, ModelStatus};
pub use error::{MemoryError, Result};
pub use index::hybrid::Fusion;
pub use index::{Index, Inspected, ObservationState};
pub use lint::LintWarning;
pub use local::LocalStore;
pub use memory::{
    BulkProgress, BulkSelector, EmbeddingStatus, Memory, SaveOutcome, SessionReport, StatusReport,
};
pub use mesh::{MeshOptions, MeshStore};
pub use query::{SearchMode, SearchQuery};
pub use save::SaveRequest;
pub use store::{
    BackendStatus, IndexRepair, MemoryStore, PhysicalDelete, PutOutcome, Readiness, RealignStats,
    RebuildStats, SeenStorage,
};

/// Open the memory that configuration selects, with settings and identity
/// resolved from `env`.
pub async fn open(env: Environment) -> Result<Memory<AnyStore>> {
    let settings = Settings::load(&env)?;
    open_with(env, settings).await
}

/// Open the memory for already-resolved `settings`.
pub async fn open_with(env: Environment, settings: Settings) -> Result<Memory<AnyStore>> {
    let store = match settings.backend {
        BackendMode::Local => AnyStore::Local(LocalStore::open(&settings.paths.local_db()).await?),
        BackendMode::Zenoh => {
            AnyStore::Mesh(MeshStore::open(MeshOptions::from_settings(&settings, &env)?).await?)
        }
    };
    Ok(Memory::new(store, settings, env))
}
