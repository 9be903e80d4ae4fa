//! `kioku-mesh backfill-metadata`: report, and with --apply repair, entries
//! saved without subject or summary.

use anyhow::Result;
use mesh_memory::metadata::is_missing;
use mesh_memory::view::head;
use mesh_memory::{AnyStore, Memory};

use super::{FAILED, OK};
use crate::format::py_repr;
use crate::output;

pub async fn run(a: &crate::args::BackfillArgs, memory: &Memory<AnyStore>) -> Result<u8> {
    let plan = memory.backfill_plan(&a.project).await?;
    let cap = if a.limit > 0 {
        a.limit.min(plan.items.len())
    } else {
        plan.items.len()
    };
    let selected = &plan.items[..cap];
    let in_project = if a.project.is_empty() {
        String::new()
    } else {
        format!(" in project {}", a.project)
    };
    let mut lines = vec![
        format!("scanned: {} live observation(s){in_project}", plan.scanned),
        format!(
            "missing subject/summary: {} (repairable: {}, no content to derive from: {}, already repaired by a superseding entry: {})",
            plan.missing(),
            plan.items.len(),
            plan.unrepairable,
            plan.already_repaired
        ),
        format!(
            "agent_family unknown: {} (not rewritten — see note below)",
            plan.unknown_family
        ),
        format!(
            "mode: {}",
            if a.apply {
                "APPLY"
            } else {
                "dry-run (no writes; pass --apply to write)"
            }
        ),
        format!(
            "planned repairs: {} (appended as new observations superseding the originals){}",
            selected.len(),
            if selected.len() < plan.items.len() {
                format!(" (capped by --limit {})", a.limit)
            } else {
                String::new()
            }
        ),
    ];
    for item in selected.iter().take(a.show) {
        let o = &item.original;
        let project = if o.project.is_empty() {
            "-"
        } else {
            &o.project
        };
        lines.push(format!(
            "  {}  {}  project={project}",
            o.observation_id,
            head(&o.created_at, 10)
        ));
        if is_missing(&o.subject) {
            lines.push(format!(
                "    subject: {} -> {}",
                py_repr(&o.subject),
                py_repr(&item.subject)
            ));
        }
        if is_missing(&o.summary) {
            lines.push(format!(
                "    summary: {} -> {}",
                py_repr(&o.summary),
                py_repr(&item.summary)
            ));
        }
    }
    if selected.len() > a.show {
        lines.push(format!(
            "  ... and {} more (raise --show to list)",
            selected.len() - a.show
        ));
    }
    if plan.unknown_family > 0 {
        lines.push(
            "note: agent_family is part of the observation key, so existing unknown rows cannot be relabelled by a \
             payload rewrite. Fix the source instead: re-run `kioku-mesh mcp install --client <client> --force` or \
             set KIOKU_MESH_AGENT_FAMILY."
                .to_owned(),
        );
    }
    output::line(lines.join("\n"));
    if !a.apply {
        return Ok(OK);
    }
    let written = memory.backfill_apply(selected).await?;
    output::line(format!(
        "repaired: {written}/{} (originals kept and superseded)",
        selected.len()
    ));
    if written < selected.len() {
        output::note(format!(
            "  {} repair(s) did not land. The successful ones are already stored; re-run the same command to retry only what is left.",
            selected.len() - written
        ));
        return Ok(FAILED);
    }
    Ok(OK)
}
