//! `kioku-mesh gc` and `kioku-mesh gc-observations`.

use anyhow::Result;
use mesh_core::BackendMode;
use mesh_memory::gc::GcCandidates;
use mesh_memory::{AnyStore, Memory};

use super::{FAILED, OK, USAGE, confirm};
use crate::args::{GcArgs, GcObservationsArgs};
use crate::format::py_repr;
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
        return purge_host(a, memory).await;
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

/// `gc --by-pc-id`: dry run by default, `--execute` (with confirmation or
/// `--yes`) deletes.
async fn purge_host(a: &GcArgs, memory: &Memory<AnyStore>) -> Result<u8> {
    if a.by_pc_id.chars().count() != 32 {
        output::note("--by-pc-id requires a 32-character pc_id.");
        return Ok(USAGE);
    }
    let prefix = if a.session_prefix.is_empty() {
        String::new()
    } else {
        format!(" session_prefix={}", py_repr(&a.session_prefix))
    };
    output::note(format!(
        "scanning mem/obs/** pc_id={}{prefix}",
        py_repr(&a.by_pc_id)
    ));
    let plan = memory
        .plan_host_purge(&a.by_pc_id, &a.session_prefix)
        .await?;
    output::note(format!("matched obs: {} entries", plan.targets.len()));
    if plan.targets.is_empty() {
        output::line("no targets — no observations matched the pc_id.");
        return Ok(OK);
    }
    output::note("session breakdown:");
    for (session, count) in plan.sessions() {
        output::note(format!("  {:>40}: {count}", py_repr(&session)));
    }
    if !a.execute {
        output::line("Dry run — pass --execute to actually delete.");
        return Ok(OK);
    }
    let question = format!(
        "Physically delete {} obs for pc_id={}? type 'yes' to confirm: ",
        plan.targets.len(),
        a.by_pc_id
    );
    if !a.yes
        && let Err(code) = confirm(
            &question,
            "--execute requires interactive confirmation. Pass --yes for non-interactive use.",
        )
    {
        return Ok(code);
    }
    let total = plan.targets.len();
    let report = memory
        .purge_host(&plan, |done, r| {
            if done % 500 == 0 {
                output::note(format!(
                    "  progress: {done}/{total} (purged={}, fail={})",
                    r.observations, r.failures
                ));
            }
        })
        .await?;
    output::line(format!(
        "physically deleted: obs={}, tombs={}, failures={} (tomb sweep / broadcast skipped)",
        report.observations, report.tombstones, report.failures
    ));
    Ok(if report.failures == 0 { OK } else { FAILED })
}
