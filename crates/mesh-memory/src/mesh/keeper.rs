//! The daemon's index keeper: keeps this host's mirror and index equal to
//! what the storages hold.
//!
//! Three inputs, applied one at a time by a single task so that a repair
//! never races a live change:
//!
//! - live changes from a subscriber on every stored scope (a put upserts,
//!   a delete removes);
//! - repairs: a full scan at start, every `repair_interval` (longer for a
//!   store whose scans take long), in a burst after the set of connected
//!   routers changes (a partition healing), and soon after live changes
//!   could not be applied.
//!   Storage alignment writes straight into RocksDB without publishing, so
//!   only a scan sees what it brought;
//! - the host's pending queue, drained whenever it holds writes.

use std::collections::BTreeSet;
use std::time::Duration;

use mesh_core::Environment;
use mesh_core::session::Session;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use zenoh::sample::SampleKind;

use super::mirror::Change;
use super::store::MeshStore;
use crate::error::{MemoryError, Result};
use crate::store::MemoryStore;

/// Most live changes applied in one transaction.
const BATCH: usize = 1024;
/// A scheduled repair waits at least this many times as long as the last
/// one took: repairs use at most about 2% of the daemon's time.
const REPAIR_DUTY: u32 = 50;
/// When live changes could not be applied, a repair follows this soon.
const RETRY_AFTER_FAILED_APPLY: Duration = Duration::from_secs(5);
/// Repairs after the router set changes: peers reconnect one by one, and
/// their storages answer only once they are up.
const HEAL_REPAIRS: [Duration; 4] = [
    Duration::from_millis(500),
    Duration::from_secs(3),
    Duration::from_secs(10),
    Duration::from_secs(30),
];

/// How often the keeper repairs and drains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeeperOptions {
    /// Least period of the scheduled full repair. A repair that took `t`
    /// waits at least `REPAIR_DUTY * t` before the next, so a large store
    /// is not rescanned back to back (at 100k observations a scan moves
    /// about 100 MB and takes seconds).
    pub repair_interval: Duration,
    /// Period of pending-queue drains (when the queue holds writes).
    pub drain_interval: Duration,
    /// Period of the router-set check.
    pub topology_interval: Duration,
}

impl Default for KeeperOptions {
    fn default() -> Self {
        Self {
            repair_interval: Duration::from_secs(60),
            drain_interval: Duration::from_secs(5),
            topology_interval: Duration::from_secs(1),
        }
    }
}

impl KeeperOptions {
    /// Defaults, with `KIOKU_MESH_REPAIR_INTERVAL_SECS` honoured.
    pub fn from_env(env: &Environment) -> Result<Self> {
        let mut options = Self::default();
        if let Some(v) = env.var("KIOKU_MESH_REPAIR_INTERVAL_SECS") {
            let secs: f64 = v.trim().parse().ok().filter(|s: &f64| *s >= 0.1 && s.is_finite()).ok_or_else(|| {
                MemoryError::InvalidArgument(format!(
                    "KIOKU_MESH_REPAIR_INTERVAL_SECS must be a number of seconds of at least 0.1; got '{v}'"
                ))
            })?;
            options.repair_interval = Duration::from_secs_f64(secs);
        }
        Ok(options)
    }
}

/// Keep `store`'s index current from `session` until `shutdown` turns true.
pub async fn run(
    store: MeshStore,
    session: Session,
    options: KeeperOptions,
    mut shutdown: watch::Receiver<bool>,
) -> Result<()> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Change>();
    let mut subscribers = Vec::new();
    for scope in store.scopes() {
        let tx = tx.clone();
        let subscriber = session
            .declare_subscriber(scope.key_expr())
            .callback(move |sample| {
                let key = sample.key_expr().as_str().to_owned();
                let change = match sample.kind() {
                    SampleKind::Put => match sample.payload().try_to_string() {
                        Ok(text) => Change::Put {
                            key,
                            payload: text.into_owned(),
                        },
                        Err(_) => return,
                    },
                    SampleKind::Delete => Change::Delete { key },
                };
                // The receiver only goes away at shutdown.
                let _ = tx.send(change);
            })
            .await
            .map_err(|e| MemoryError::MeshUnreachable {
                detail: format!("cannot subscribe to {}: {e}", scope.key_expr()),
            })?;
        subscribers.push(subscriber);
    }
    drop(tx);

    let took = repair(&store, "start").await;
    let mut known_routers = routers(&session).await;
    let mut next_repair = Instant::now() + options.repair_interval.max(took * REPAIR_DUTY);
    let mut heal_repairs: Vec<Instant> = Vec::new();
    let mut topology = tokio::time::interval(options.topology_interval);
    let mut drain = tokio::time::interval(options.drain_interval);
    let mut batch: Vec<Change> = Vec::with_capacity(BATCH);

    loop {
        let due = heal_repairs
            .iter()
            .copied()
            .min()
            .map_or(next_repair, |t| t.min(next_repair));
        tokio::select! {
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    break;
                }
            }
            received = rx.recv_many(&mut batch, BATCH) => {
                if received == 0 {
                    break;
                }
                if let Err(e) = store.apply(&batch).await {
                    // The changes are in the storages; a repair soon brings
                    // them in (the index may be locked by a `--rebuild`).
                    tracing::error!(
                        "could not apply {} mesh changes to the index: {e}; repairing in {:?}",
                        batch.len(),
                        RETRY_AFTER_FAILED_APPLY
                    );
                    heal_repairs.push(Instant::now() + RETRY_AFTER_FAILED_APPLY);
                }
                batch.clear();
            }
            () = tokio::time::sleep_until(due) => {
                let now = Instant::now();
                heal_repairs.retain(|t| *t > now);
                let took = repair(&store, "scheduled").await;
                if now >= next_repair {
                    next_repair = Instant::now() + options.repair_interval.max(took * REPAIR_DUTY);
                }
            }
            _ = topology.tick() => {
                let current = routers(&session).await;
                if current.iter().any(|r| !known_routers.contains(r)) {
                    tracing::info!("a router joined ({} connected); repairing the index", current.len());
                    let now = Instant::now();
                    heal_repairs = HEAL_REPAIRS.iter().map(|d| now + *d).collect();
                }
                known_routers = current;
            }
            _ = drain.tick() => {
                if store.pending().is_empty().await.unwrap_or(true) {
                    continue;
                }
                match store.drain_pending(Some(256)).await {
                    Ok(n) if n > 0 => tracing::info!("delivered {n} queued writes"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!("could not deliver queued writes: {e}"),
                }
            }
        }
    }
    for subscriber in subscribers {
        let _ = subscriber.undeclare().await;
    }
    Ok(())
}

/// Run one repair; how long it took.
async fn repair(store: &MeshStore, why: &str) -> Duration {
    let started = Instant::now();
    match store.realign(false).await {
        Ok(r) => tracing::debug!(
            "index repair ({why}): {} seen, {} new, {} tombstones, {} shadowed, {} revived",
            r.seen,
            r.applied.observations,
            r.applied.tombstones,
            r.shadowed,
            r.revived
        ),
        Err(e) => tracing::warn!("index repair ({why}) failed: {e}"),
    }
    started.elapsed()
}

async fn routers(session: &Session) -> BTreeSet<String> {
    session
        .info()
        .routers_zid()
        .await
        .map(|z| z.to_string())
        .collect()
}
