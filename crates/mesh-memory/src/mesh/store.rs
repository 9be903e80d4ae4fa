//! [`MeshStore`]: the store of hub and spoke mode. The source of truth is
//! the Zenoh storages the daemons run; this host reads a SQLite mirror of
//! them and writes through the durable pending queue.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use mesh_core::daemon_config::{self, StorageScope};
use mesh_core::keyspace::{self, Marker};
use mesh_core::session::{self, Session};
use mesh_core::{BackendMode, Environment, Observation, Settings, Tombstone};
use tokio::sync::Mutex;

use super::mirror::{self, Change, Reconciled};
use super::pending::PendingQueue;
use super::wire;
use crate::db;
use crate::error::{MemoryError, Result};
use crate::index::{Index, schema};
use crate::store::{
    BackendStatus, IndexRepair, MemoryStore, PhysicalDelete, PutOutcome, Readiness, RealignStats,
    RebuildStats,
};

/// How long a client waits for the daemon before queueing instead.
const OPEN_TIMEOUT: Duration = Duration::from_secs(2);

/// Where the mesh store keeps its files and what it talks to.
#[derive(Debug, Clone)]
pub struct MeshOptions {
    /// The mirror and index database; `None` keeps it in memory, filled by
    /// a full scan on open.
    pub index_db: Option<PathBuf>,
    /// The pending queue.
    pub pending_db: PathBuf,
    /// The routers a client dials.
    pub endpoints: Vec<String>,
    /// The scopes this host stores and indexes.
    pub scopes: Vec<StorageScope>,
    /// Rebuild the index from the mesh on open: `Some(true)` always,
    /// `Some(false)` never, `None` only when the index is new.
    pub rebuild_on_open: Option<bool>,
    /// What the admission policy lets this host write, when its routers
    /// enforce one: a write outside it is refused here, with the reason,
    /// instead of being dropped by the router.
    pub admission: Option<mesh_core::access::Admission>,
}

impl MeshOptions {
    /// Options from settings and the environment: `KIOKU_MESH_INDEX_DB`,
    /// `KIOKU_MESH_DISABLE_INDEX`, `KIOKU_MESH_FORCE_REBUILD`,
    /// `KIOKU_MESH_SKIP_REBUILD` and `ZENOH_CONNECT`.
    pub fn from_settings(settings: &Settings, env: &Environment) -> Result<Self> {
        let flag = |name: &str| {
            env.var(name)
                .is_some_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
        };
        let index_db = match env.var("KIOKU_MESH_INDEX_DB") {
            _ if flag("KIOKU_MESH_DISABLE_INDEX") => None,
            Some(":memory:") => None,
            Some(path) if !path.trim().is_empty() => Some(PathBuf::from(path)),
            _ => Some(settings.paths.mesh_index_db()),
        };
        let rebuild_on_open = if flag("KIOKU_MESH_FORCE_REBUILD") {
            Some(true)
        } else if flag("KIOKU_MESH_SKIP_REBUILD") {
            Some(false)
        } else {
            None
        };
        Ok(Self {
            index_db,
            pending_db: settings.paths.pending_db(),
            endpoints: session::client_endpoints(env)?,
            scopes: daemon_config::declared_scopes(settings)?,
            rebuild_on_open,
            admission: mesh_core::access::Admission::of_host(
                &mesh_core::pki::TlsFiles::from_paths(&settings.paths),
            ),
        })
    }
}

#[derive(Debug, Default)]
struct Link {
    session: Option<Session>,
    /// Why the last attempt to reach the mesh failed.
    last_error: Option<String>,
    /// The daemon's own session: never dropped or reopened here.
    fixed: bool,
}

/// The mesh backend: a mirror index, a pending queue and a Zenoh session.
#[derive(Debug, Clone)]
pub struct MeshStore {
    index: Index,
    pending: PendingQueue,
    options: Arc<MeshOptions>,
    link: Arc<Mutex<Link>>,
}

impl MeshStore {
    /// Open as a client of the daemon (CLI, MCP server). The session is
    /// opened on first need, so reads work with the daemon down.
    pub async fn open(options: MeshOptions) -> Result<Self> {
        Self::open_inner(options, None).await
    }

    /// Open on an existing session (the daemon's own). The index is a copy
    /// of what the storages hold, so a damaged one is moved aside (to
    /// `index.db.broken-<time>`) and rebuilt from them.
    pub(crate) async fn with_session(options: MeshOptions, session: Session) -> Result<Self> {
        match Self::open_inner(options.clone(), Some(session.clone())).await {
            // Only the index: a damaged pending queue holds writes that
            // exist nowhere else, so that error goes to the user as is.
            Err(MemoryError::Corrupt { path, detail })
                if options.index_db.as_ref() == Some(&path) =>
            {
                move_aside(&path, &detail)?;
                Self::open_inner(options, Some(session)).await
            }
            other => other,
        }
    }

    /// Reopen after the index turned out damaged while the daemon ran (a
    /// torn write that opening did not touch): close this store, move the
    /// index aside and open a new one, rebuilt from the storages.
    pub(crate) async fn reopen_damaged(self, session: Session, detail: &str) -> Result<Self> {
        let options = (*self.options).clone();
        self.close().await;
        if let Some(path) = &options.index_db {
            move_aside(path, detail)?;
        }
        Self::open_inner(options, Some(session)).await
    }

    async fn open_inner(options: MeshOptions, session: Option<Session>) -> Result<Self> {
        let (pool, path) = match &options.index_db {
            Some(path) => (db::open_pool(path, 4).await?, path.clone()),
            None => (db::open_memory_pool().await?, PathBuf::from(":memory:")),
        };
        let index = Index::from_pool(pool, &path);
        let state = if current(&index).await? {
            schema::SchemaState::Current
        } else {
            let mut tx = index.begin_write().await?;
            let state = schema::ensure(&mut tx).await?;
            schema::ensure_mesh_keys(&mut tx).await?;
            tx.commit()
                .await
                .map_err(|e| db::classify(e, &path, "write"))?;
            state
        };
        let pending = PendingQueue::open(&options.pending_db).await?;
        let fresh = state == schema::SchemaState::Fresh
            && index
                .counts()
                .await
                .map(|c| c.live + c.tombstoned + c.shadowed == 0)?;
        let rebuild = options
            .rebuild_on_open
            .unwrap_or(fresh || options.index_db.is_none());
        let store = Self {
            index,
            pending,
            options: Arc::new(options),
            link: Arc::new(Mutex::new(Link {
                fixed: session.is_some(),
                session,
                last_error: None,
            })),
        };
        if rebuild {
            match store.realign(true).await {
                Ok(r) => tracing::info!(
                    "index rebuilt from the mesh: {} observations seen, {} shadowed",
                    r.seen,
                    r.shadowed
                ),
                Err(e) => tracing::warn!("the index could not be filled from the mesh: {e}"),
            }
        }
        Ok(store)
    }

    /// The pending queue.
    pub(crate) fn pending(&self) -> &PendingQueue {
        &self.pending
    }

    /// The scopes this host stores.
    pub fn scopes(&self) -> &[StorageScope] {
        &self.options.scopes
    }

    /// The session, opening it when needed.
    pub(crate) async fn session(&self) -> Result<Session> {
        let mut link = self.link.lock().await;
        if let Some(s) = &link.session {
            return Ok(s.clone());
        }
        match session::open_client(&self.options.endpoints, OPEN_TIMEOUT).await {
            Ok(s) => {
                link.session = Some(s.clone());
                link.last_error = None;
                Ok(s)
            }
            Err(e) => {
                let detail = e.to_string();
                link.last_error = Some(detail.clone());
                Err(MemoryError::MeshUnreachable { detail })
            }
        }
    }

    /// Forget a session that failed, so the next use dials again.
    async fn drop_session(&self, why: &str) {
        let mut link = self.link.lock().await;
        link.last_error = Some(why.to_owned());
        if !link.fixed
            && let Some(s) = link.session.take()
        {
            let _ = s.close().await;
        }
    }

    /// Make the mirror agree with a full scan of the mesh: apply what the
    /// storages hold and shadow what they lack. `reset` rebuilds the index
    /// tables from scratch as well.
    pub(crate) async fn realign(&self, reset: bool) -> Result<Reconciled> {
        let session = self.session().await?;
        let started = std::time::Instant::now();
        let scan = wire::scan(&session, &self.options.scopes, wire::SCAN_TIMEOUT).await?;
        let scanned = started.elapsed();
        let queued = self.pending.observation_ids().await?;
        // An incomplete scan is no evidence that anything is gone.
        let keep: Option<&HashSet<String>> = (!scan.incomplete).then_some(&queued);
        let reconciled = mirror::reconcile(&self.index, &scan.changes, keep, reset).await?;
        tracing::debug!(
            "realigned the index: scan of {} values {:?}, reconcile {:?}",
            scan.changes.len(),
            scanned,
            started.elapsed() - scanned
        );
        Ok(reconciled)
    }

    /// Apply changes seen on the mesh (the daemon's subscriber).
    pub(crate) async fn apply(&self, changes: &[Change]) -> Result<mirror::Applied> {
        mirror::apply(&self.index, changes).await
    }

    /// Queue a write of `payload` at `key`, show it in the index at once,
    /// then deliver the queue up to and including it. `Stored` means a
    /// storage returned it; `Queued` that it waits in the pending queue.
    pub(crate) async fn write_key(
        &self,
        key: &str,
        observation_id: &str,
        payload: &str,
    ) -> Result<PutOutcome> {
        if let Some(admission) = &self.options.admission
            && let Some(scope) = admission.refused_scope(key)
        {
            return Err(MemoryError::NotAdmitted {
                scope,
                cn: admission.cn.clone(),
                version: admission.version,
            });
        }
        let seq = self.pending.push(key, observation_id, payload).await?;
        // From here the write is durable: failing now would make a caller
        // retry (and save twice) what is already on its way.
        if let Err(e) = mirror::apply(
            &self.index,
            &[Change::Put {
                key: key.to_owned(),
                payload: payload.to_owned(),
            }],
        )
        .await
        {
            tracing::warn!(
                "the write is queued, but this host's index cannot show it yet ({e}); \
                 the daemon's next repair (or `kioku-mesh realign-index`) brings it in"
            );
        }
        let failure = self.deliver_once(seq).await;
        if self.pending.contains(seq).await? {
            Ok(PutOutcome::Queued {
                reason: failure
                    .unwrap_or_else(|| "the write is still waiting for a storage".to_owned()),
            })
        } else {
            Ok(PutOutcome::Stored)
        }
    }

    /// Deliver the queue up to `seq`; why it stopped short, if it did.
    async fn deliver_once(&self, seq: i64) -> Option<String> {
        match self.deliver_queue(None, Some(seq)).await {
            Ok((_, failure)) => failure,
            Err(e) => Some(e.to_string()),
        }
    }

    /// Deliver queued writes oldest first, stopping at the first failure,
    /// after `limit` writes, or once `until` has been delivered. Returns how
    /// many were delivered and why delivery stopped early, if it did.
    async fn deliver_queue(
        &self,
        limit: Option<usize>,
        until: Option<i64>,
    ) -> Result<(u64, Option<String>)> {
        let session = self.session().await?;
        let mut delivered = 0usize;
        let max = limit.unwrap_or(usize::MAX);
        // Bounded: every round removes a write or returns.
        while delivered < max {
            let batch = self.pending.oldest(64.min(max - delivered)).await?;
            if batch.is_empty() {
                break;
            }
            for write in batch {
                if let Err(e) = wire::deliver(&session, &write).await {
                    let reason = e.to_string();
                    self.pending.record_failure(write.seq, &reason).await?;
                    self.pending.record_put(&format!("error: {reason}")).await?;
                    self.drop_session(&reason).await;
                    return Ok((delivered as u64, Some(reason)));
                }
                self.pending.remove(&write).await?;
                self.pending.record_put("ok").await?;
                delivered += 1;
                if until == Some(write.seq) || delivered >= max {
                    return Ok((delivered as u64, None));
                }
            }
        }
        Ok((delivered as u64, None))
    }

    /// Whether the mesh can take writes for every stored scope: a session,
    /// and a storage somewhere for each scope.
    pub async fn mesh_readiness(&self) -> Readiness {
        let session = match self.session().await {
            Ok(s) => s,
            Err(e) => {
                return Readiness {
                    connected: false,
                    storages: Vec::new(),
                    missing_scopes: self
                        .options
                        .scopes
                        .iter()
                        .map(StorageScope::label)
                        .collect(),
                    problem: Some(e.to_string()),
                };
            }
        };
        let (storages, problem) = match wire::storages(&session).await {
            Ok(s) => (s, None),
            Err(e) => (Vec::new(), Some(e.to_string())),
        };
        let missing_scopes = self
            .options
            .scopes
            .iter()
            .filter(|scope| !storages.iter().any(|s| s.key_expr == scope.key_expr()))
            .map(StorageScope::label)
            .collect();
        Readiness {
            connected: true,
            storages,
            missing_scopes,
            problem,
        }
    }

    /// Whether a session is open, after trying to open one.
    pub async fn probe(&self) -> (bool, Option<String>) {
        match self.session().await {
            Ok(_) => (true, None),
            Err(e) => (false, Some(e.to_string())),
        }
    }
}

/// Whether the index already has the current schema and the key table: a
/// read, so that opening (for a search, say) never waits for the write lock
/// a long `--rebuild` holds.
async fn current(index: &Index) -> Result<bool> {
    let mut conn = index
        .pool()
        .acquire()
        .await
        .map_err(|e| db::classify(e, index.path(), "open"))?;
    if !schema::is_current(&mut conn).await {
        return Ok(false);
    }
    let keys: Option<i64> = sqlx::query_scalar(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'mesh_key'",
    )
    .fetch_optional(&mut *conn)
    .await
    .map_err(|e| db::classify(e, index.path(), "open"))?;
    Ok(keys.is_some())
}

impl MemoryStore for MeshStore {
    fn index(&self) -> &Index {
        &self.index
    }

    async fn put_observation(&self, obs: &Observation) -> Result<PutOutcome> {
        let key = obs.key()?;
        self.write_key(&key, &obs.observation_id, &obs.to_json())
            .await
    }

    async fn put_tombstone(&self, obs: &Observation, tomb: &Tombstone) -> Result<PutOutcome> {
        let key = obs.tombstone_key()?;
        self.write_key(&key, &obs.observation_id, &tomb.to_json())
            .await
    }

    async fn physical_delete(&self, observation_id: &str) -> Result<PhysicalDelete> {
        let session = self.session().await?;
        let mut keys = mirror::keys_of(&self.index, observation_id).await?;
        // One lookup per scope: routers that enforce an admission policy
        // refuse a selector spanning scopes (`mem/**/...`).
        for selector in id_selectors(&self.options.scopes, observation_id) {
            keys.extend(wire::keys_matching(&session, &selector).await?);
        }
        keys.sort();
        keys.dedup();
        // Only exact canonical keys of this id: never a wildcard delete.
        keys.retain(|k| keyspace::parse_key(k).is_some_and(|p| p.observation_id == observation_id));
        let mut removed = PhysicalDelete::default();
        for key in &keys {
            match keyspace::parse_key(key).map(|p| p.marker) {
                Some(Marker::Obs) => removed.observation = true,
                Some(Marker::Tomb) => removed.tombstone = true,
                None => {}
            }
        }
        // A queued write of this id would bring it back.
        self.pending.forget(observation_id).await?;
        wire::delete_keys(&session, &keys).await?;
        let changes: Vec<Change> = keys.into_iter().map(|key| Change::Delete { key }).collect();
        mirror::apply(&self.index, &changes).await?;
        mirror::forget(&self.index, observation_id).await?;
        Ok(removed)
    }

    async fn rebuild_index(&self) -> Result<RebuildStats> {
        let r = self.realign(true).await?;
        let counts = self.index.counts().await?;
        Ok(RebuildStats {
            observations: counts.live + counts.tombstoned + counts.shadowed,
            tombstones: counts.tombstoned,
            malformed: r.applied.rejected,
        })
    }

    async fn backend_status(&self) -> Result<BackendStatus> {
        let (connected, _) = self.probe().await;
        let last = self.pending.last_put().await?;
        Ok(BackendStatus {
            mode: BackendMode::Zenoh,
            zenoh_session: if connected {
                "connected"
            } else {
                "disconnected"
            }
            .to_owned(),
            last_put_at: last.at,
            last_put_status: last.status,
            pending_puts: self.pending.len().await?,
        })
    }

    async fn drain_pending(&self, limit: Option<usize>) -> Result<u64> {
        if self.pending.is_empty().await? {
            return Ok(0);
        }
        let (delivered, failure) = self.deliver_queue(limit, None).await?;
        if let Some(reason) = failure {
            tracing::warn!("draining stopped after {delivered} writes: {reason}");
        }
        Ok(delivered)
    }

    async fn repair_index(&self) -> Result<IndexRepair> {
        let r = self.realign(false).await?;
        Ok(IndexRepair::Realigned(RealignStats {
            seen: r.seen,
            added: r.applied.observations,
            tombstones: r.applied.tombstones,
            shadowed: r.shadowed,
            revived: r.revived,
            rejected: r.applied.rejected,
        }))
    }

    async fn readiness(&self) -> Option<Readiness> {
        Some(self.mesh_readiness().await)
    }

    async fn close(&self) {
        let session = self.link.lock().await.session.take();
        if let Some(s) = session {
            let fixed = self.link.lock().await.fixed;
            if !fixed {
                let _ = s.close().await;
            }
        }
        self.pending.close().await;
        self.index.close().await;
    }
}

/// Move a damaged index (and its journal) aside as `index.db.broken-<time>`.
fn move_aside(path: &std::path::Path, detail: &str) -> Result<()> {
    let stamp = mesh_core::timestamp::now().replace([':', '.'], "-");
    let aside = path.with_extension(format!("db.broken-{stamp}"));
    std::fs::rename(path, &aside).map_err(|e| MemoryError::Corrupt {
        path: path.to_path_buf(),
        detail: format!("{detail}; moving it aside failed: {e}"),
    })?;
    // Its journal belongs to the damaged file, not to the new one.
    for suffix in ["-wal", "-shm"] {
        let mut journal = path.to_path_buf().into_os_string();
        journal.push(suffix);
        let _ = std::fs::remove_file(journal);
    }
    tracing::warn!(
        "the index {} was damaged ({detail}); moved it to {} and rebuilding it from the storages",
        path.display(),
        aside.display()
    );
    Ok(())
}

/// Selectors for every key of `observation_id` (observation and tombstone)
/// within each of `scopes`, plus the pre-tier layout the mesh scope keeps.
fn id_selectors(scopes: &[StorageScope], observation_id: &str) -> Vec<String> {
    let mut out = Vec::new();
    for scope in scopes {
        let base = scope.key_expr();
        let base = base.trim_end_matches("**");
        for marker in ["obs", "tomb"] {
            out.push(format!("{base}{marker}/**/{observation_id}"));
        }
        if scope.visibility() == mesh_core::Visibility::Mesh {
            for marker in ["obs", "tomb"] {
                out.push(format!("mem/{marker}/**/{observation_id}"));
            }
        }
    }
    out
}
