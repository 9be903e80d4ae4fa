//! The Zenoh operations of the mesh backend: scanning storages, delivering
//! a queued write with confirmation, and deleting keys.

use std::time::{Duration, Instant};

use mesh_core::daemon_config::StorageScope;
use mesh_core::session::Session;
use zenoh::qos::CongestionControl;
use zenoh::query::{ConsolidationMode, QueryTarget};
use zenoh::sample::SampleKind;

use super::mirror::Change;
use super::pending::PendingWrite;
use crate::error::{MemoryError, Result};
pub use crate::store::SeenStorage;

/// How long a full scan waits for every storage to answer.
pub const SCAN_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a by-id lookup waits.
pub const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a write waits for a storage to confirm it.
pub const CONFIRM_TIMEOUT: Duration = Duration::from_millis(1500);

fn unreachable(action: &str, e: impl std::fmt::Display) -> MemoryError {
    MemoryError::MeshUnreachable {
        detail: format!("{action}: {e}"),
    }
}

/// What a scan brought back.
#[derive(Debug, Default)]
pub struct Scan {
    /// Every value the storages hold under the scanned scopes.
    pub changes: Vec<Change>,
    /// True when some storage answered with an error: the scan may miss
    /// keys, so nothing should be shadowed on its evidence.
    pub incomplete: bool,
}

/// Ask every storage of `scopes`, on every reachable host, for everything.
pub async fn scan(session: &Session, scopes: &[StorageScope], timeout: Duration) -> Result<Scan> {
    let mut out = Scan::default();
    for scope in scopes {
        let selector = scope.key_expr();
        collect(session, &selector, timeout, &mut out).await?;
    }
    Ok(out)
}

/// Every value at keys matching `selector`.
pub async fn query(session: &Session, selector: &str, timeout: Duration) -> Result<Scan> {
    let mut out = Scan::default();
    collect(session, selector, timeout, &mut out).await?;
    Ok(out)
}

async fn collect(
    session: &Session,
    selector: &str,
    timeout: Duration,
    out: &mut Scan,
) -> Result<()> {
    let replies = session
        .get(selector)
        .target(QueryTarget::All)
        .consolidation(ConsolidationMode::None)
        .timeout(timeout)
        .await
        .map_err(|e| unreachable("cannot query the mesh", e))?;
    while let Ok(reply) = replies.recv_async().await {
        match reply.result() {
            Ok(sample) if sample.kind() == SampleKind::Put => {
                match sample.payload().try_to_string() {
                    Ok(text) => out.changes.push(Change::Put {
                        key: sample.key_expr().as_str().to_owned(),
                        payload: text.into_owned(),
                    }),
                    Err(_) => tracing::debug!("skipped a non-UTF-8 value at {}", sample.key_expr()),
                }
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(
                    "a storage answered {selector} with an error: {}",
                    e.payload().try_to_string().unwrap_or_default()
                );
                out.incomplete = true;
            }
        }
    }
    Ok(())
}

/// Put a queued write and wait until some storage holds it. Returns an
/// error naming what failed when no storage confirmed in time.
pub async fn deliver(session: &Session, write: &PendingWrite) -> Result<()> {
    session
        .put(write.key.as_str(), write.payload.as_str())
        // A busy router must not silently drop a write someone waits for.
        .congestion_control(CongestionControl::Block)
        .await
        .map_err(|e| unreachable("the put was refused", e))?;
    confirm(session, write).await
}

/// Poll the storages for `write`'s key until one returns its payload.
async fn confirm(session: &Session, write: &PendingWrite) -> Result<()> {
    let started = Instant::now();
    let mut pause = Duration::from_millis(1);
    loop {
        let left = CONFIRM_TIMEOUT.saturating_sub(started.elapsed());
        let replies = session
            .get(write.key.as_str())
            .target(QueryTarget::All)
            .consolidation(ConsolidationMode::None)
            .timeout(left.max(Duration::from_millis(50)))
            .await
            .map_err(|e| unreachable("cannot confirm the put", e))?;
        while let Ok(reply) = replies.recv_async().await {
            if let Ok(sample) = reply.result() {
                let same = sample
                    .payload()
                    .try_to_string()
                    .is_ok_and(|text| text == write.payload);
                if same {
                    return Ok(());
                }
            }
        }
        if started.elapsed() + pause >= CONFIRM_TIMEOUT {
            return Err(MemoryError::MeshUnreachable {
                detail: format!(
                    "no storage confirmed {} within {} ms",
                    write.key,
                    CONFIRM_TIMEOUT.as_millis()
                ),
            });
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}

/// Delete exact keys on every storage that holds them.
pub async fn delete_keys(session: &Session, keys: &[String]) -> Result<()> {
    for key in keys {
        session
            .delete(key.as_str())
            .congestion_control(CongestionControl::Block)
            .await
            .map_err(|e| unreachable("the delete was refused", e))?;
    }
    Ok(())
}

/// The keys matching `selector` that storages hold right now.
pub async fn keys_matching(session: &Session, selector: &str) -> Result<Vec<String>> {
    let scan = query(session, selector, LOOKUP_TIMEOUT).await?;
    let mut keys: Vec<String> = scan
        .changes
        .into_iter()
        .filter_map(|c| match c {
            Change::Put { key, .. } => Some(key),
            Change::Delete { .. } => None,
        })
        .collect();
    keys.sort();
    keys.dedup();
    Ok(keys)
}

/// The storages every reachable router reports (routers with the admin
/// space enabled: `kioku-mesh serve`, and zenohd with our configuration).
pub async fn storages(session: &Session) -> Result<Vec<SeenStorage>> {
    let replies = session
        .get("@/*/router/status/plugins/storage_manager/storages/*")
        .target(QueryTarget::All)
        .consolidation(ConsolidationMode::None)
        .timeout(LOOKUP_TIMEOUT)
        .await
        .map_err(|e| unreachable("cannot query the admin space", e))?;
    let mut seen = Vec::new();
    while let Ok(reply) = replies.recv_async().await {
        let Ok(sample) = reply.result() else { continue };
        let key = sample.key_expr().as_str();
        let parts: Vec<&str> = key.split('/').collect();
        let (Some(router), Some(name)) = (parts.get(1), parts.last()) else {
            continue;
        };
        let key_expr = sample
            .payload()
            .try_to_string()
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v.get("key_expr")?.as_str().map(str::to_owned))
            .unwrap_or_default();
        // Memory's storages only; the message storages are messaging's.
        if !key_expr.starts_with("mem/") {
            continue;
        }
        seen.push(SeenStorage {
            router: (*router).to_owned(),
            name: (*name).to_owned(),
            key_expr,
        });
    }
    seen.sort_by(|a, b| (&a.router, &a.name).cmp(&(&b.router, &b.name)));
    seen.dedup();
    Ok(seen)
}
