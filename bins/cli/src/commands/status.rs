//! `kioku-mesh status` and `kioku-mesh drain`.

use anyhow::Result;
use mesh_core::identity::{AGENT_FAMILY_ENV, CLIENT_ID_ENV, IdentitySource};
use mesh_memory::query::MAX_SEARCH;
use mesh_memory::view::{self, head};
use mesh_memory::{AnyStore, IndexRepair, Memory, MemoryStore};

use super::{OK, USAGE};
use crate::args::{DrainArgs, StatusArgs};
use crate::output;

fn source_note(source: IdentitySource, var: &str) -> String {
    match source {
        IdentitySource::Env => format!("(from {var})"),
        IdentitySource::Detected => "(auto-detected)".to_owned(),
        IdentitySource::Default => format!("(default — set {var} to override)"),
    }
}

pub async fn run(a: &StatusArgs, memory: &Memory<AnyStore>) -> Result<u8> {
    let status = memory.status().await?;
    let id = memory.identity()?;
    let b = &status.backend;
    let c = &status.counts;
    let mut lines = vec![
        format!("kioku-mesh version: {}", env!("CARGO_PKG_VERSION")),
        format!("backend: {}", b.mode),
        format!("pc_id: {}", id.pc_id),
        format!("session_id: {}", id.session_id),
        format!(
            "agent_family: {} {}",
            id.agent_family,
            source_note(id.agent_family_source, AGENT_FAMILY_ENV)
        ),
        format!(
            "client_id: {} {}",
            id.client_id,
            source_note(id.client_id_source, CLIENT_ID_ENV)
        ),
    ];
    lines.extend(view::backend_lines(b));
    lines.extend([
        format!("observations_live: {}", c.live),
        format!("observations_tombstoned: {}", c.tombstoned),
        format!("observations_shadowed: {}", c.shadowed),
    ]);
    if c.shadowed > 0 {
        lines.push(
            "hint: shadowed observations exist (missing from source-of-truth during rebuild, hidden from search, \
             not yet physically deleted). Run `kioku-mesh doctor` for details or `kioku-mesh status --show-shadows` \
             to list them."
                .to_owned(),
        );
    }
    let n = status.breakdown.count;
    let reached = if n >= MAX_SEARCH as u64 {
        " (limit may be reached)"
    } else {
        ""
    };
    lines.push(format!("count (within limit {MAX_SEARCH}): {n}{reached}"));
    lines.extend(view::family_lines(&status.breakdown));
    lines.extend(view::pc_lines(&status.breakdown));
    if let Some(ready) = memory.readiness().await {
        lines.push(format!("mesh_ready: {}", ready.label()));
        let seen: Vec<String> = ready
            .storages
            .iter()
            .map(|s| format!("{} ({}) on {}", s.name, s.key_expr, head(&s.router, 8)))
            .collect();
        lines.push(format!(
            "storages_seen: {}{}",
            seen.len(),
            if seen.is_empty() {
                String::new()
            } else {
                format!(" — {}", seen.join(", "))
            }
        ));
        if !ready.is_ready() {
            output::note(
                "WARNING: the mesh is not ready for every stored scope; saves may be queued. Run `kioku-mesh doctor`.",
            );
        }
    }
    if a.show_shadows {
        let shadows = memory.store().index().shadowed_before("9999", None).await?;
        if shadows.is_empty() {
            lines.push("no shadowed observations.".to_owned());
        } else {
            lines.push("shadowed observations:".to_owned());
            for s in shadows.iter().take(50) {
                lines.push(format!(
                    "  {}  project={}  shadowed_at={}  summary={}",
                    s.observation_id,
                    s.project,
                    s.at,
                    head(&s.summary, 60)
                ));
            }
        }
    }
    output::line(lines.join("\n"));
    Ok(OK)
}

pub async fn drain(a: &DrainArgs, memory: &Memory<AnyStore>) -> Result<u8> {
    if !a.pending {
        output::note("drain currently only supports --pending.");
        return Ok(USAGE);
    }
    let limit = a.limit.map(|l| usize::try_from(l).unwrap_or(usize::MAX));
    let drained = memory.drain_pending(limit).await?;
    let remaining = memory.store().backend_status().await?.pending_puts;
    output::line(format!(
        "pending_puts drain complete: drained={drained}, remaining={remaining}"
    ));
    Ok(OK)
}

pub async fn realign(memory: &Memory<AnyStore>) -> Result<u8> {
    match memory.repair_index().await? {
        IndexRepair::Realigned(r) => output::line(format!(
            "realigned the index: seen={}, added={}, tombstones={}, shadowed={}, revived={}, rejected={}",
            r.seen, r.added, r.tombstones, r.shadowed, r.revived, r.rejected
        )),
        IndexRepair::Rebuilt(stats) => output::line(format!(
            "rebuilt the index: {} observations, {} tombstones ({} malformed rows skipped)",
            stats.observations, stats.tombstones, stats.malformed
        )),
    }
    Ok(OK)
}
