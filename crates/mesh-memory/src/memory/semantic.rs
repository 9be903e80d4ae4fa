//! Memory's embedding workflows: the encoder loaded once per process,
//! hybrid search, a vector for each local save, and the backfill.

use std::sync::Arc;

use mesh_core::Observation;

use super::Memory;
use crate::embed::{self, EmbedProgress, Encoder, ModelStatus};
use crate::error::Result;
use crate::index::hybrid::Fusion;
use crate::query::SearchQuery;
use crate::store::MemoryStore;

/// The embedding state of this host's index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddingStatus {
    /// The model's id.
    pub model_id: &'static str,
    /// Where the model lives.
    pub dir: std::path::PathBuf,
    /// What is installed there.
    pub model: ModelStatus,
    /// Live observations with a vector.
    pub embedded: u64,
    /// Live observations still without one.
    pub missing: u64,
}

impl<S: MemoryStore> Memory<S> {
    /// The directory the embedding model is installed in.
    pub fn model_dir(&self) -> std::path::PathBuf {
        embed::model_dir(&self.settings.paths.state_dir)
    }

    /// The encoder, loaded on first use. A missing model is looked for
    /// again on the next call, so installing one needs no restart.
    pub fn encoder(&self) -> Result<Arc<Encoder>> {
        let mut slot = self
            .encoder
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(e) = slot.as_ref() {
            return Ok(Arc::clone(e));
        }
        let loaded = Arc::new(embed::load(&self.model_dir())?);
        *slot = Some(Arc::clone(&loaded));
        Ok(loaded)
    }

    /// Whether a model is installed (a quick check, no load).
    pub fn model_installed(&self) -> bool {
        matches!(
            embed::status(&self.model_dir(), false),
            ModelStatus::Installed { .. }
        )
    }

    pub(super) async fn search_hybrid(&self, q: &SearchQuery) -> Result<Vec<Observation>> {
        let encoder = self.encoder()?;
        let fusion = Fusion::from_env_value(self.env.var("KIOKU_MESH_HYBRID_FUSION"));
        self.store
            .index()
            .search_with(q, Some(&encoder), fusion)
            .await
    }

    /// After a save: give the new row its vector when a model is installed
    /// (local mode, where this process writes the index). Only this row is
    /// embedded, from the same text the backfill reads, so a save costs one
    /// encode and no scan. The save has succeeded either way; mesh rows get
    /// theirs from the daemon.
    pub(super) async fn embed_saved(&self, obs: &Observation) {
        if self.settings.backend != mesh_core::BackendMode::Local || !self.model_installed() {
            return;
        }
        let text = embed::vectors::note_text(
            &obs.subject,
            &obs.summary,
            &obs.content,
            &obs.tags.join(" "),
        );
        let result = async {
            let vector = self.encoder()?.encode(&text)?;
            embed::vectors::store(
                self.store.index().pool(),
                &[(obs.observation_id.as_str(), vector)],
            )
            .await
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(
                "the note was saved but not embedded (hybrid search finds it by its words until `kioku-mesh index embed` runs): {e}"
            );
        }
    }

    /// Embed every live observation that has no vector yet, calling
    /// `progress` as batches finish. Returns how many were embedded.
    pub async fn embed_index(
        &self,
        progress: &mut (dyn FnMut(EmbedProgress) + Send),
    ) -> Result<u64> {
        let encoder = self.encoder()?;
        embed::vectors::embed_missing(self.store.index().pool(), &encoder, None, progress).await
    }

    /// Embed at most `limit` missing rows (the daemon's and the MCP
    /// server's background work); nothing when no model is installed.
    pub async fn embed_some(&self, limit: u64) -> Result<u64> {
        if !self.model_installed() {
            return Ok(0);
        }
        let encoder = self.encoder()?;
        embed::vectors::embed_missing(
            self.store.index().pool(),
            &encoder,
            Some(limit),
            &mut |_| {},
        )
        .await
    }

    /// The model and how much of the index has vectors.
    pub async fn embedding_status(&self, verify: bool) -> Result<EmbeddingStatus> {
        let pool = self.store.index().pool();
        Ok(EmbeddingStatus {
            model_id: embed::MODEL_ID,
            dir: self.model_dir(),
            model: embed::status(&self.model_dir(), verify),
            embedded: embed::vectors::count_stored(pool).await?,
            missing: embed::vectors::count_missing(pool).await?,
        })
    }
}
