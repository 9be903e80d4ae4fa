//! The daemon's index keeper: keeps this host's mirror and index equal to
//! what the storages hold.
//!
//! Three inputs, applied one at a time by a single task so that a repair
//! never races a live change:
//!
//! - live changes from a subscriber on every stored scope (a put upserts,
//!   a delete removes), through a bounded queue: when a repair keeps the
//!   keeper busy and the queue fills, the changes that do not fit are
//!   dropped and a repair is scheduled instead, which reads them back from
//!   the storages;
//! - repairs: a full scan at start, every `repair_interval` (longer for a
//!   store whose scans take long), in a burst after the set of connected
//!   routers changes (a partition healing), and soon after live changes
//!   could not be applied.
//!   Storage alignment writes straight into RocksDB without publishing, so
//!   only a scan sees what it brought;
//! - the host's pending queue, drained whenever it holds writes.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use mesh_core::Environment;
use mesh_core::session::Session;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{Notify, mpsc, watch};
use tokio::time::Instant;
use zenoh::sample::SampleKind;

use super::mirror::Change;
use super::store::MeshStore;
use crate::error::{MemoryError, Result};
use crate::store::MemoryStore;

/// Most live changes applied in one transaction.
/// How often the keeper embeds observations that have no vector yet.
const EMBED_INTERVAL: Duration = Duration::from_secs(1);

const BATCH: usize = 1024;
/// Default capacity of the queue between the subscriber and the keeper:
/// a few seconds of a heavy burst, a few megabytes at most.
pub const DEFAULT_QUEUE_CAPACITY: usize = 4096;
/// After the queue overflowed, the repair that reads back what was dropped
/// waits this long, so that the storages have stored it by then (they
/// receive the same samples as the subscriber, through their own queues).
const REPAIR_AFTER_OVERFLOW: Duration = Duration::from_millis(250);
/// A scheduled repair waits at least this many times as long as the last
/// one took: repairs use at most about 2% of the daemon's time.
const REPAIR_DUTY: u32 = 50;
/// ... but never longer than this. A scan that waited out an unreachable
/// peer's timeout (4 s) would otherwise put the next repair 200 s away,
/// and what storage alignment brings in meanwhile (writes made during a
/// partition arrive no other way) would stay out of the index that long.
/// Found by `cargo xtask chaos --seed 3 --duration 120`.
const MAX_REPAIR_GAP: Duration = Duration::from_secs(20);
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
    /// Live changes the subscriber may queue while the keeper is busy (a
    /// repair can take up to the scan timeout). Beyond it changes are
    /// dropped and a repair brings them in from the storages.
    pub queue_capacity: usize,
}

impl Default for KeeperOptions {
    fn default() -> Self {
        Self {
            repair_interval: Duration::from_secs(60),
            drain_interval: Duration::from_secs(5),
            topology_interval: Duration::from_secs(1),
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
        }
    }
}

impl KeeperOptions {
    /// Defaults, with `KIOKU_MESH_REPAIR_INTERVAL_SECS` and
    /// `KIOKU_MESH_KEEPER_QUEUE` (the queue capacity; a tuning and test knob:
    /// the tests set a tiny one to force overflows) honoured.
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
        if let Some(v) = env.var("KIOKU_MESH_KEEPER_QUEUE") {
            options.queue_capacity = v
                .trim()
                .parse()
                .ok()
                .filter(|n: &usize| *n >= 1)
                .ok_or_else(|| {
                    MemoryError::InvalidArgument(format!(
                        "KIOKU_MESH_KEEPER_QUEUE must be a whole number of at least 1 \
                         (default {DEFAULT_QUEUE_CAPACITY}); got '{v}'"
                    ))
                })?;
        }
        Ok(options)
    }
}

/// The wait before the next scheduled repair after one that took `took`:
/// at least `interval`, else the duty cycle, capped at [`MAX_REPAIR_GAP`]
/// (but never below `interval`).
fn repair_gap(interval: Duration, took: Duration) -> Duration {
    interval.max((took * REPAIR_DUTY).min(MAX_REPAIR_GAP))
}

/// Keep `store`'s index current from `session` until `shutdown` turns true.
pub async fn run(
    mut store: MeshStore,
    session: Session,
    options: KeeperOptions,
    model_dir: std::path::PathBuf,
    mut shutdown: watch::Receiver<bool>,
) -> Result<()> {
    let (intake, mut rx) = Intake::new(options.queue_capacity);
    let mut subscribers = Vec::new();
    for scope in store.scopes() {
        let intake = intake.clone();
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
                intake.offer(change);
            })
            .await
            .map_err(|e| MemoryError::MeshUnreachable {
                detail: format!("cannot subscribe to {}: {e}", scope.key_expr()),
            })?;
        subscribers.push(subscriber);
    }
    let overflow = intake.overflow.clone();
    drop(intake);

    let (took, failed) = repair(&store, "start").await;
    if failed {
        store = recover_if_damaged(store, &session).await?;
    }
    let mut known_routers = routers(&session).await;
    let mut next_repair = Instant::now() + repair_gap(options.repair_interval, took);
    let mut heal_repairs: Vec<Instant> = Vec::new();
    // The repair that reads back changes the full queue dropped.
    let mut overflow_repair: Option<Instant> = None;
    let mut topology = tokio::time::interval(options.topology_interval);
    let mut drain = tokio::time::interval(options.drain_interval);
    // Vectors for hybrid search: derived here, never sent on the wire.
    let mut embedder = crate::embed::vectors::Backfiller::new(model_dir);
    let mut embed_tick = tokio::time::interval(EMBED_INTERVAL);
    let mut batch: Vec<Change> = Vec::with_capacity(BATCH);

    loop {
        let due = heal_repairs
            .iter()
            .copied()
            .chain(overflow_repair)
            .fold(next_repair, Instant::min);
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
                    store = recover_if_damaged(store, &session).await?;
                }
                batch.clear();
            }
            () = overflow.notified.notified() => {
                if overflow.take() && overflow_repair.is_none() {
                    tracing::debug!("the live-change queue overflowed; repairing in {REPAIR_AFTER_OVERFLOW:?}");
                    overflow_repair = Some(Instant::now() + REPAIR_AFTER_OVERFLOW);
                }
            }
            () = tokio::time::sleep_until(due) => {
                let now = Instant::now();
                heal_repairs.retain(|t| *t > now);
                // Cleared before the scan starts: a change dropped during
                // it schedules the next one.
                let why = match overflow_repair.take_if(|t| *t <= now) {
                    Some(_) => "after a queue overflow",
                    None => "scheduled",
                };
                let (took, failed) = repair(&store, why).await;
                if failed {
                    store = recover_if_damaged(store, &session).await?;
                }
                if now >= next_repair {
                    next_repair = Instant::now() + repair_gap(options.repair_interval, took);
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
            _ = embed_tick.tick() => {
                let n = embedder.tick(store.index().pool()).await;
                if n > 0 {
                    tracing::debug!("embedded {n} observations for hybrid search");
                }
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
    store.close().await;
    Ok(())
}

/// After a failed write or repair: if the index file is damaged, move it
/// aside and rebuild it from the storages (they hold every observation),
/// instead of failing on it until someone runs `doctor`.
async fn recover_if_damaged(store: MeshStore, session: &Session) -> Result<MeshStore> {
    if !store.index().is_damaged().await {
        return Ok(store);
    }
    store
        .reopen_damaged(session.clone(), "found damaged while the daemon ran")
        .await
}

/// The subscriber's end of the keeper's queue. Zenoh's callback must not
/// block, and nothing may be lost without a trace: a change that does not
/// fit raises the overflow flag, and the keeper repairs.
#[derive(Clone)]
struct Intake {
    tx: mpsc::Sender<Change>,
    capacity: usize,
    overflow: Arc<Overflow>,
}

/// Raised when the queue dropped a change; the keeper lowers it when it
/// schedules the repair.
#[derive(Default)]
struct Overflow {
    raised: AtomicBool,
    notified: Notify,
}

impl Overflow {
    /// Whether changes were dropped since the last call.
    fn take(&self) -> bool {
        self.raised.swap(false, Ordering::AcqRel)
    }
}

impl Intake {
    fn new(capacity: usize) -> (Self, mpsc::Receiver<Change>) {
        let capacity = capacity.max(1);
        let (tx, rx) = mpsc::channel(capacity);
        let intake = Self {
            tx,
            capacity,
            overflow: Arc::default(),
        };
        (intake, rx)
    }

    /// Queue `change`, or raise the overflow flag when the queue is full.
    fn offer(&self, change: Change) {
        match self.tx.try_send(change) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                // Logged once per overflow, not once per dropped change.
                if !self.overflow.raised.swap(true, Ordering::AcqRel) {
                    tracing::info!(
                        "the index keeper is behind by {} live changes; newer ones are read back from the storages by a repair",
                        self.capacity
                    );
                }
                // A stored permit: the keeper wakes even if it is busy now.
                self.overflow.notified.notify_one();
            }
            // The receiver only goes away at shutdown.
            Err(TrySendError::Closed(_)) => {}
        }
    }
}

/// A repair scan; returns how long it took and whether it failed.
async fn repair(store: &MeshStore, why: &str) -> (Duration, bool) {
    let started = Instant::now();
    let failed = match store.realign(false).await {
        Ok(r) => {
            tracing::debug!(
                "index repair ({why}): {} seen, {} new, {} tombstones, {} shadowed, {} revived",
                r.seen,
                r.applied.observations,
                r.applied.tombstones,
                r.shadowed,
                r.revived
            );
            false
        }
        Err(e) => {
            tracing::warn!("index repair ({why}) failed: {e}");
            true
        }
    };
    (started.elapsed(), failed)
}

async fn routers(session: &Session) -> BTreeSet<String> {
    session
        .info()
        .routers_zid()
        .await
        .map(|z| z.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_slow_repair_never_puts_the_next_one_out_of_reach() {
        let interval = Duration::from_secs(3);
        assert_eq!(repair_gap(interval, Duration::from_millis(10)), interval);
        assert_eq!(
            repair_gap(interval, Duration::from_millis(200)),
            Duration::from_secs(10)
        );
        // A scan that waited out a 4 s timeout: 20 s, not 200 s.
        assert_eq!(repair_gap(interval, Duration::from_secs(4)), MAX_REPAIR_GAP);
        assert_eq!(
            repair_gap(Duration::from_secs(60), Duration::from_secs(4)),
            Duration::from_secs(60)
        );
    }

    use super::*;

    fn change(i: usize) -> Change {
        Change::Delete {
            key: format!("mem/mesh/obs/a/c/p/s/{i}"),
        }
    }

    #[tokio::test]
    async fn a_full_queue_raises_the_overflow_flag_and_wakes_the_keeper() {
        let (intake, mut rx) = Intake::new(4);
        for i in 0..10 {
            intake.offer(change(i));
        }
        tokio::time::timeout(Duration::from_secs(5), intake.overflow.notified.notified())
            .await
            .expect("the keeper is woken");
        assert!(intake.overflow.take());
        assert!(!intake.overflow.take(), "taking lowers the flag");

        // The first four are queued in order; the rest were dropped.
        let mut got = Vec::new();
        assert_eq!(rx.recv_many(&mut got, 100).await, 4);
        assert_eq!(got, (0..4).map(change).collect::<Vec<_>>());

        // Room again: no overflow.
        intake.offer(change(10));
        assert!(!intake.overflow.take());
        assert_eq!(rx.recv().await, Some(change(10)));
    }

    #[test]
    fn the_queue_capacity_comes_from_the_environment() {
        let env = |v: &str| Environment::empty("/", None).with_var("KIOKU_MESH_KEEPER_QUEUE", v);
        assert_eq!(
            KeeperOptions::from_env(&Environment::empty("/", None))
                .unwrap()
                .queue_capacity,
            DEFAULT_QUEUE_CAPACITY
        );
        assert_eq!(
            KeeperOptions::from_env(&env(" 4 ")).unwrap().queue_capacity,
            4
        );
        // Blank counts as unset, as for every variable.
        assert_eq!(
            KeeperOptions::from_env(&env(" ")).unwrap().queue_capacity,
            DEFAULT_QUEUE_CAPACITY
        );
        for bad in ["0", "-1", "many", "1.5"] {
            let err = KeeperOptions::from_env(&env(bad)).unwrap_err().to_string();
            assert!(err.contains("KIOKU_MESH_KEEPER_QUEUE"), "{bad}: {err}");
        }
    }
}
