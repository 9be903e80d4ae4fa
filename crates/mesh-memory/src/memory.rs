//! [`Memory`]: the workflows the CLI, the MCP server and embedding programs
//! call (save, search, get, delete, status, retention, repair), written once
//! over any [`MemoryStore`].

use std::sync::OnceLock;

use mesh_core::config::format_visibility;
use mesh_core::keyspace::is_observation_id;
use mesh_core::{Environment, Identity, Observation, Settings, Tombstone, timestamp};

use crate::backfill::{BackfillItem, BackfillPlan};
use crate::error::{MemoryError, Result};
use crate::gc::{GcCandidates, GcExecuteReport, GcReport, check_retention};
use crate::index::{Breakdown, Counts, Inspected};
use crate::lint::{LintWarning, lint_observation};
use crate::query::{Cursor, MAX_SEARCH, SearchQuery};
use crate::save::{SaveRequest, build_observation};
use crate::store::{
    BackendStatus, IndexRepair, MemoryStore, PhysicalDelete, PutOutcome, Readiness, RebuildStats,
};
use crate::supersede;

mod semantic;

pub use semantic::EmbeddingStatus;

/// Full-text segments tolerated before [`Memory::maintain`] merges them.
const MAX_FTS_SEGMENTS: u64 = 2;

/// The result of a save.
#[derive(Debug, Clone, PartialEq)]
pub struct SaveOutcome {
    /// The observation as stored.
    pub observation: Observation,
    /// Stored or queued.
    pub put: PutOutcome,
    /// The effective scope, e.g. `mesh` or `team/core`.
    pub scope: String,
    /// Quality warnings (the save went ahead).
    pub warnings: Vec<LintWarning>,
    /// Live entries this one may replace (only when `supersedes` was empty).
    pub supersede_candidates: Vec<Observation>,
}

/// Which observations a bulk delete targets (at least one field is set).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BulkSelector {
    /// Exact project.
    pub project: String,
    /// Exact host id.
    pub pc_id: String,
    /// created_at at or after (wire form).
    pub since: Option<String>,
    /// created_at at or before (wire form).
    pub until: Option<String>,
}

impl BulkSelector {
    /// True when no field narrows the selection.
    pub fn is_empty(&self) -> bool {
        self.project.is_empty()
            && self.pc_id.is_empty()
            && self.since.is_none()
            && self.until.is_none()
    }
}

/// Progress of a bulk delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BulkProgress {
    /// Rows processed so far.
    pub done: usize,
    /// Rows in the snapshot.
    pub total: usize,
    /// Rows tombstoned.
    pub ok: usize,
    /// Rows that failed.
    pub failed: usize,
}

/// Status counters for `status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusReport {
    /// Transport status.
    pub backend: BackendStatus,
    /// Rows by state.
    pub counts: Counts,
    /// Writers of recent visible rows.
    pub breakdown: Breakdown,
}

/// This session's activity, for `get_memory_status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionReport {
    /// created_at of the newest visible observation, if any.
    pub newest_save: Option<String>,
    /// Visible observations saved by this session.
    pub session_saves: u64,
    /// Seconds since this session's last save.
    pub last_save_age_secs: Option<i64>,
    /// Seconds since this session started (from its id).
    pub session_age_secs: Option<i64>,
    /// A reminder to save, when the session looks like it skipped saves.
    pub nudge: Option<String>,
    /// Visible observations per agent family created in the last 7 days.
    pub family_last_7d: Vec<(String, u64)>,
    /// Observations claiming a creation time in the future (clock skew).
    pub future_dated: u64,
}

/// Shared memory over a store: the library's main entry point.
#[derive(Debug)]
pub struct Memory<S> {
    store: S,
    settings: Settings,
    env: Environment,
    identity: OnceLock<Identity>,
    /// The embedding model, once loaded (see `semantic.rs`).
    encoder: std::sync::Mutex<Option<std::sync::Arc<crate::embed::Encoder>>>,
}

impl<S: MemoryStore> Memory<S> {
    /// Memory over `store`, configured by `settings`; identity is resolved
    /// from `env` on the first write.
    pub fn new(store: S, settings: Settings, env: Environment) -> Self {
        Self {
            store,
            settings,
            env,
            identity: OnceLock::new(),
            encoder: std::sync::Mutex::new(None),
        }
    }

    /// Memory over `store` with a fixed identity (for embedding and tests).
    pub fn with_identity(store: S, settings: Settings, identity: Identity) -> Self {
        let memory = Self::new(store, settings, Environment::default());
        let _ = memory.identity.set(identity);
        memory
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The resolved settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// This process's identity, resolved (and the pc_id file created) once.
    pub fn identity(&self) -> Result<&Identity> {
        if let Some(id) = self.identity.get() {
            return Ok(id);
        }
        let resolved = Identity::resolve(&self.env, &self.settings.paths)?;
        Ok(self.identity.get_or_init(|| resolved))
    }

    /// Validate and store an observation. Refused saves change nothing.
    pub async fn save(&self, req: &SaveRequest) -> Result<SaveOutcome> {
        // Settings and request checks come before identity so that a bad
        // request is reported even where the state directory is unusable.
        self.settings.resolve_write_visibility(req.visibility)?;
        crate::metadata::validate_required(&req.subject, &req.summary)?;
        let identity = self.identity()?;
        let observation = build_observation(req, &self.settings, identity)?;
        let warnings = lint_observation(
            &observation.content,
            observation.memory_type.as_str(),
            &observation.subject,
        );
        let put = self.store.put_observation(&observation).await?;
        self.embed_saved(&observation).await;
        let supersede_candidates = if observation.supersedes.is_empty() {
            self.supersede_candidates(&observation)
                .await
                .unwrap_or_else(|e| {
                    tracing::debug!("supersede suggestion failed (the save succeeded): {e}");
                    Vec::new()
                })
        } else {
            Vec::new()
        };
        Ok(SaveOutcome {
            scope: format_visibility(observation.visibility, &observation.scope_id),
            observation,
            put,
            warnings,
            supersede_candidates,
        })
    }

    /// Live entries `obs` may supersede.
    pub async fn supersede_candidates(&self, obs: &Observation) -> Result<Vec<Observation>> {
        if !supersede::wants_candidates(obs) {
            return Ok(Vec::new());
        }
        let pool = self
            .store
            .index()
            .search(&SearchQuery {
                projects: vec![obs.project.clone()],
                memory_types: vec![obs.memory_type],
                limit: MAX_SEARCH,
                ..SearchQuery::default()
            })
            .await?;
        Ok(supersede::candidates_from(obs, pool))
    }

    /// Search the index. A hybrid search loads the embedding model and
    /// fails with [`crate::EmbedError::NotInstalled`] when there is none.
    pub async fn search(&self, q: &SearchQuery) -> Result<Vec<Observation>> {
        if q.mode == crate::query::SearchMode::Hybrid {
            return self.search_hybrid(q).await;
        }
        self.store.index().search(q).await
    }

    /// Search; when an AND search of several terms finds nothing, search
    /// again with OR. Returns the results and whether the fallback ran.
    pub async fn search_or_fall_back(&self, q: &SearchQuery) -> Result<(Vec<Observation>, bool)> {
        let results = self.search(q).await?;
        if !results.is_empty() || q.mode != crate::query::SearchMode::And {
            return Ok((results, false));
        }
        let or = SearchQuery {
            mode: crate::query::SearchMode::Or,
            ..q.clone()
        };
        let results = self.store.index().search(&or).await?;
        let fell_back = !results.is_empty();
        Ok((results, fell_back))
    }

    /// Every stored project name equivalent to `project` (aliases).
    pub fn project_names(&self, project: &str) -> Vec<String> {
        crate::project_alias::expand(project, &self.settings.project_aliases)
    }

    /// One observation by full id, in any state.
    pub async fn get(&self, observation_id: &str) -> Result<Option<Inspected>> {
        if !is_observation_id(observation_id) {
            return Err(MemoryError::InvalidObservationId);
        }
        self.store.index().inspect(observation_id).await
    }

    /// Tombstone one observation by full id.
    pub async fn delete(&self, observation_id: &str, reason: &str) -> Result<PutOutcome> {
        let found = self
            .get(observation_id)
            .await?
            .ok_or_else(|| MemoryError::NotFound(observation_id.to_owned()))?;
        let tomb = Tombstone::new(observation_id, reason);
        self.store.put_tombstone(&found.observation, &tomb).await
    }

    /// Ids of the live observations a bulk delete would tombstone, newest
    /// first. Superseded and expired rows are included: they are not
    /// tombstoned yet, and a bulk delete means all of them.
    pub async fn bulk_targets(
        &self,
        selector: &BulkSelector,
        page_size: usize,
    ) -> Result<Vec<String>> {
        if selector.is_empty() {
            return Err(MemoryError::InvalidArgument(
                "bulk delete requires one of --project/--pc-id/--since/--until.".to_owned(),
            ));
        }
        let page_size = page_size.clamp(1, MAX_SEARCH);
        let mut q = SearchQuery {
            projects: if selector.project.is_empty() {
                Vec::new()
            } else {
                vec![selector.project.clone()]
            },
            pc_id: selector.pc_id.clone(),
            since: selector.since.clone(),
            until: selector.until.clone(),
            limit: page_size,
            include_superseded: true,
            include_expired: true,
            ..SearchQuery::default()
        };
        let mut ids = Vec::new();
        loop {
            let page = self.store.index().search(&q).await?;
            let full = page.len() >= page_size;
            if let Some(last) = page.last() {
                q.cursor = Some(Cursor {
                    created_at: last.created_at.clone(),
                    observation_id: last.observation_id.clone(),
                });
            }
            ids.extend(page.into_iter().map(|o| o.observation_id));
            if !full {
                return Ok(ids);
            }
        }
    }

    /// Tombstone every id of a snapshot taken with [`Memory::bulk_targets`];
    /// one failure does not stop the sweep. `progress` is called after each
    /// `batch_size` rows.
    pub async fn bulk_delete(
        &self,
        ids: &[String],
        reason: &str,
        batch_size: usize,
        mut progress: impl FnMut(BulkProgress),
    ) -> Result<BulkProgress> {
        let mut p = BulkProgress {
            done: 0,
            total: ids.len(),
            ok: 0,
            failed: 0,
        };
        let batch_size = batch_size.max(1);
        for id in ids {
            match self.delete(id, reason).await {
                Ok(_) => p.ok += 1,
                Err(e) => {
                    p.failed += 1;
                    tracing::warn!("put_tombstone failed for {id}: {e}");
                }
            }
            p.done += 1;
            if p.done.is_multiple_of(batch_size) {
                progress(p);
            }
        }
        Ok(p)
    }

    /// Counters for `status`.
    pub async fn status(&self) -> Result<StatusReport> {
        Ok(StatusReport {
            backend: self.store.backend_status().await?,
            counts: self.store.index().counts().await?,
            breakdown: self.store.index().recent_breakdown(MAX_SEARCH).await?,
        })
    }

    /// This session's saves and the recent activity per agent family.
    pub async fn session_report(&self) -> Result<SessionReport> {
        use crate::activity::{save_nudge, session_started_at};
        let identity = self.identity()?;
        let index = self.store.index();
        let now = chrono::Utc::now();
        let newest = index.search(&SearchQuery::browse().limit(1)).await?;
        let (session_saves, last_save) = index.session_activity(&identity.session_id).await?;
        let age = |t: Option<chrono::DateTime<chrono::Utc>>| t.map(|t| (now - t).num_seconds());
        let last_save_age_secs = age(last_save.as_deref().and_then(timestamp::parse));
        let session_age_secs = age(session_started_at(&identity.session_id));
        let week_ago = timestamp::format(now - chrono::TimeDelta::days(7));
        let (family_last_7d, future_dated) = index
            .family_counts_between(&week_ago, &timestamp::format(now))
            .await?;
        Ok(SessionReport {
            newest_save: newest.into_iter().next().map(|o| o.created_at),
            session_saves,
            last_save_age_secs,
            session_age_secs,
            nudge: save_nudge(session_saves, last_save_age_secs, session_age_secs),
            family_last_7d,
            future_dated,
        })
    }

    /// Physically delete tombstones and shadows older than the retention.
    pub async fn gc(&self, retention_days: i64, project: Option<&str>) -> Result<GcReport> {
        let cutoff = timestamp::days_ago(check_retention(retention_days)?);
        let index = self.store.index();
        let mut report = GcReport::default();
        for row in index.tombstoned_before(&cutoff, project).await? {
            if self.store.physical_delete(&row.observation_id).await?.any() {
                report.tombstones += 1;
            }
        }
        for row in index.shadowed_before(&cutoff, project).await? {
            if self.store.physical_delete(&row.observation_id).await?.any() {
                report.shadows += 1;
            }
        }
        // Housekeeping time is when merging the full-text index costs nobody.
        index.optimize().await?;
        Ok(report)
    }

    /// Physically delete one id now, whatever its state (emergency purge).
    pub async fn gc_force_id(&self, observation_id: &str) -> Result<PhysicalDelete> {
        if !is_observation_id(observation_id) {
            return Err(MemoryError::InvalidArgument(
                "--force-id requires a full 32-character observation_id.".to_owned(),
            ));
        }
        self.store.physical_delete(observation_id).await
    }

    /// What a stale-observation sweep would do, without doing it.
    pub async fn gc_candidates(
        &self,
        retention_days: i64,
        project: Option<&str>,
    ) -> Result<GcCandidates> {
        let cutoff = timestamp::days_ago(check_retention(retention_days)?);
        let now = timestamp::now();
        let index = self.store.index();
        Ok(GcCandidates::from_listings(
            index.expired_live(&now, project).await?,
            index.tombstoned_before(&cutoff, project).await?,
            index.shadowed_before(&cutoff, project).await?,
            &cutoff,
        ))
    }

    /// Act on exactly the candidates a user confirmed.
    pub async fn gc_execute(&self, candidates: &GcCandidates) -> Result<GcExecuteReport> {
        let mut report = GcExecuteReport::default();
        for c in &candidates.expired_ttl {
            match self.delete(&c.observation_id, "expired ttl").await {
                Ok(_) => report.tombstoned += 1,
                Err(e) => {
                    report.failures += 1;
                    tracing::warn!("put_tombstone failed for {}: {e}", c.observation_id);
                }
            }
        }
        for (bucket, counter) in [
            (
                &candidates.expired_tombstones,
                &mut report.tombstones_purged,
            ),
            (&candidates.expired_shadows, &mut report.shadows_purged),
        ] {
            for c in bucket {
                if self.store.physical_delete(&c.observation_id).await?.any() {
                    *counter += 1;
                }
            }
        }
        Ok(report)
    }

    /// Plan repairs of live observations missing subject or summary.
    pub async fn backfill_plan(&self, project: &str) -> Result<BackfillPlan> {
        let mut q = SearchQuery::browse().limit(MAX_SEARCH);
        if !project.is_empty() {
            q.projects = vec![project.to_owned()];
        }
        let observations = self.store.index().search(&q).await?;
        Ok(BackfillPlan::from_observations(&observations))
    }

    /// Append the repairs; returns how many landed (failures are logged).
    pub async fn backfill_apply(&self, items: &[BackfillItem]) -> Result<usize> {
        let mut written = 0;
        for item in items {
            match self.store.put_observation(&item.replacement()).await {
                Ok(_) => written += 1,
                Err(e) => tracing::warn!("failed to repair {}: {e}", item.original.observation_id),
            }
        }
        Ok(written)
    }

    /// Rebuild the index from the source of truth.
    pub async fn rebuild_index(&self) -> Result<RebuildStats> {
        self.store.rebuild_index().await
    }

    /// Make the index agree with the source of truth (`realign-index`).
    pub async fn repair_index(&self) -> Result<IndexRepair> {
        self.store.repair_index().await
    }

    /// Whether the mesh can take writes for every stored scope; `None` in
    /// local mode.
    pub async fn readiness(&self) -> Option<Readiness> {
        self.store.readiness().await
    }

    /// Idle-time upkeep for long-lived processes (the MCP server): merges
    /// the full-text index's segments once several have piled up, because
    /// each save adds one and every query reads them all. Failures are
    /// logged, never returned: upkeep must not end the caller.
    pub async fn maintain(&self) {
        let index = self.store.index();
        match index.fts_segments().await {
            Ok(n) if n > MAX_FTS_SEGMENTS => {
                if let Err(e) = index.optimize().await {
                    tracing::warn!("merging the search index failed: {e}");
                }
            }
            Ok(_) => {}
            Err(e) => tracing::debug!("cannot read the search index state: {e}"),
        }
    }

    /// Replay queued writes.
    pub async fn drain_pending(&self, limit: Option<usize>) -> Result<u64> {
        self.store.drain_pending(limit).await
    }

    /// Where the index ends now: pass it to [`Memory::arrivals`] to see
    /// only what arrives from here on.
    pub async fn arrivals_cursor(&self) -> Result<i64> {
        self.store.index().newest_position().await
    }

    /// Live observations indexed after `cursor` (saved here or arrived from
    /// the mesh), at most 100, and the next cursor. Polled by `watch`.
    pub async fn arrivals(&self, cursor: i64) -> Result<(Vec<Observation>, i64)> {
        self.store.index().indexed_after(cursor, 100).await
    }

    /// Flush and close the store.
    pub async fn close(&self) {
        self.store.close().await;
    }

    /// Close the store for a process that exits right after, as a CLI
    /// command does. Every save is then in the database file itself, as
    /// after [`close`](Self::close); a local store leaves its connection to
    /// the operating system, which releases it at exit. Like `close`, it
    /// ends the store's use: later calls fail.
    pub async fn close_for_exit(&self) {
        self.store.close_for_exit().await;
    }
}
