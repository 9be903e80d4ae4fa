//! `kioku-mesh migrate-visibility --from legacy --to <scope>`.

use anyhow::Result;
use mesh_core::Visibility;
use mesh_core::keyspace::{self, Marker};
use mesh_memory::{AnyStore, Memory};

use super::{FAILED, OK, USAGE, confirm};
use crate::args::MigrateVisibilityArgs;
use crate::output;

pub async fn run(a: &MigrateVisibilityArgs, memory: &Memory<AnyStore>) -> Result<u8> {
    let settings = memory.settings();
    let (visibility, scope_id) = match a.to.as_str() {
        "mesh" => (Visibility::Mesh, String::new()),
        "user" | "team" => {
            settings.resolve_write_visibility(Some(Visibility::for_write(&a.to)?))?
        }
        other => match other.split_once('/') {
            Some(("team", id)) => {
                keyspace::validate_scope_slug(Visibility::Team, id)?;
                (Visibility::Team, id.to_owned())
            }
            Some(("user", _)) => {
                output::note(
                    "error: --to user/<id> is not accepted; use --to user (the id comes from user_id).",
                );
                return Ok(USAGE);
            }
            _ => {
                output::note(format!(
                    "error: --to must be mesh, user, team or team/<id>; got '{other}'."
                ));
                return Ok(USAGE);
            }
        },
    };
    let label = if scope_id.is_empty() {
        visibility.as_str().to_owned()
    } else {
        format!("{}/{scope_id}", visibility.as_str())
    };
    let pending = memory.pending_writes().await?;
    if pending > 0 {
        output::note(format!(
            "error: pending_puts={pending} > 0. Run `kioku-mesh drain --pending` first to prevent legacy key recreation."
        ));
        return Ok(USAGE);
    }

    let plan = memory
        .plan_visibility_migration(visibility, &scope_id)
        .await?;
    let summary = [
        format!("  from: {}", a.from),
        format!("  to: {label}"),
        format!("  observations: {}", plan.count(Marker::Obs)),
        format!("  tombstones: {}", plan.count(Marker::Tomb)),
        format!("  conflicts: {}", plan.conflicts()),
        format!("  malformed (left alone): {}", plan.malformed),
    ];
    if a.dry_run {
        output::line(format!(
            "migrate-visibility dry-run\n{}",
            summary.join("\n")
        ));
        for item in plan.items.iter().take(5) {
            output::line(format!("  sample: {} -> {}", item.from_key, item.to_key));
        }
        return Ok(OK);
    }
    if plan.items.is_empty() {
        output::line("migrate-visibility: no legacy keys found; nothing to do.");
        return Ok(OK);
    }
    let question = format!(
        "{}\nMigrate {} entries to {label}? type 'yes' to confirm: ",
        summary.join("\n"),
        plan.items.len()
    );
    if !a.yes
        && let Err(code) = confirm(
            &question,
            "migrate-visibility requires interactive confirmation. Pass --yes for non-interactive use.",
        )
    {
        return Ok(code);
    }
    let total = plan.items.len();
    let report = memory
        .migrate_visibility(&plan, |done, r| {
            if done % 500 == 0 || done == total {
                output::note(format!(
                    "  progress: {done}/{total} (copied={}, conflicts={}, failures={})",
                    r.copied, r.conflicts, r.failures
                ));
            }
        })
        .await?;
    output::line(format!(
        "migrate-visibility complete: planned={} copied={} deleted={} conflicts={} failures={}",
        report.planned, report.copied, report.deleted, report.conflicts, report.failures
    ));
    if report.conflicts > 0 {
        output::note(format!(
            "WARNING: {} conflict(s) — source keys NOT deleted.",
            report.conflicts
        ));
    }
    Ok(if report.conflicts > 0 || report.failures > 0 {
        FAILED
    } else {
        OK
    })
}
