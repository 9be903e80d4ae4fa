//! `kioku-mesh gc` and `kioku-mesh gc-observations`.

use anyhow::Result;
use mesh_core::BackendMode;
use mesh_memory::gc::GcCandidates;
use mesh_memory::{AnyStore, Memory};

use super::{FAILED, OK, USAGE, confirm};
use crate::args::{GcArgs, GcObservationsArgs};
use crate::output;

fn project_note(project: &str) -> String {
    if project.is_empty() {
        String::new()
    } else {
        format!(" (project={project})")
    }
}

fn project_filter(project: &str) -> Option<&str> {
    Some(project).filter(|p| !p.is_empty())
}

pub async fn run(a: &GcArgs, memory: &Memory<AnyStore>) -> Result<u8> {
    if !a.force_id.is_empty() {
        if a.force_id.len() != 32 {
            output::note("--force-id requires a full 32-character observation_id.");
            return Ok(USAGE);
        }
        let removed = memory.gc_force_id(&a.force_id).await?;
        let mut parts = Vec::new();
        if removed.observation {
            parts.push("obs");
        }
        if removed.tombstone {
            parts.push("tomb");
        }
        if parts.is_empty() {
            output::line(format!(
                "observation_id {} not present on this replica.",
                a.force_id
            ));
        } else {
            output::line(format!(
                "physically deleted ({}): {}",
                parts.join(", "),
                a.force_id
            ));
        }
        return Ok(OK);
    }
    if !a.by_pc_id.is_empty() {
        if memory.settings().backend == BackendMode::Local {
            output::note("--by-pc-id is not supported in local mode.");
            return Ok(USAGE);
        }
        output::note("--by-pc-id needs the mesh backend, which this build does not include yet.");
        return Ok(USAGE);
    }
    let report = memory
        .gc(a.retention_days, project_filter(&a.project))
        .await?;
    let note = project_note(&a.project);
    if a.no_shadow_prune {
        output::line(format!(
            "retention {}-day sweep{note}: physically deleted {} tombstones (shadow prune skipped)",
            a.retention_days, report.tombstones
        ));
    } else {
        output::line(format!(
            "retention {}-day sweep{note}: physically deleted {} tombstones / {} shadows (revived 0)",
            a.retention_days, report.tombstones, report.shadows
        ));
    }
    Ok(OK)
}

fn report_lines(c: &GcCandidates) -> Vec<String> {
    let mut lines = Vec::new();
    for (title, bucket) in [
        ("expired TTL (live → tombstone)", &c.expired_ttl),
        (
            "expired tombstones (→ physical delete)",
            &c.expired_tombstones,
        ),
        ("expired shadows (→ physical delete)", &c.expired_shadows),
    ] {
        lines.push(format!("{title}: {}", bucket.len()));
        for x in bucket {
            let project = if x.project.is_empty() {
                String::new()
            } else {
                format!(" project={}", x.project)
            };
            lines.push(
                format!(
                    "  {}  reason={}{project}  {}",
                    x.observation_id, x.reason, x.detail
                )
                .trim_end()
                .to_owned(),
            );
        }
    }
    lines.push(format!("total candidates: {}", c.total()));
    lines
}

pub async fn observations(a: &GcObservationsArgs, memory: &Memory<AnyStore>) -> Result<u8> {
    let candidates = match memory
        .gc_candidates(a.retention_days, project_filter(&a.project))
        .await
    {
        Ok(c) => c,
        Err(e) if e.is_usage() => {
            output::note(e.to_string());
            return Ok(USAGE);
        }
        Err(e) => return Err(e.into()),
    };
    output::line(format!(
        "stale observation sweep{}, retention {} days:",
        project_note(&a.project),
        a.retention_days
    ));
    output::line(report_lines(&candidates).join("\n"));
    if candidates.total() == 0 {
        output::line("nothing to clean up.");
        return Ok(OK);
    }
    if !a.execute {
        output::line("Dry run — pass --execute to tombstone / delete the entries above.");
        return Ok(OK);
    }
    if !a.yes
        && let Err(code) = confirm(
            &format!(
                "Act on {} stale observations? type 'yes' to confirm: ",
                candidates.total()
            ),
            "--execute requires interactive confirmation. Pass --yes for non-interactive use.",
        )
    {
        return Ok(code);
    }
    let r = memory.gc_execute(&candidates).await?;
    output::line(format!(
        "tombstoned {} expired-TTL observations; physically deleted {} tombstones / {} shadows (revived 0, failures {})",
        r.tombstoned, r.tombstones_purged, r.shadows_purged, r.failures
    ));
    Ok(if r.failures == 0 { OK } else { FAILED })
}
