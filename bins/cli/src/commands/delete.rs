//! `kioku-mesh delete`: one id, or a bulk selection with a dry run and a
//! confirmation.

use anyhow::Result;
use mesh_core::{BackendMode, timestamp};
use mesh_memory::{AnyStore, BulkSelector, Memory, MemoryError};

use super::{FAILED, OK, USAGE, confirm};
use crate::args::DeleteArgs;
use crate::format::py_repr;
use crate::output;

const MESH_INDEX_HINT: &str = "hint: rows visible only in the local index (gc --by-pc-id matches 0) are\n      better cleaned with: kioku-mesh --rebuild gc --retention-days 0 --project <name>";

fn usage(message: &str) -> Result<u8> {
    output::note(message);
    Ok(USAGE)
}

pub async fn run(a: &DeleteArgs, memory: &Memory<AnyStore>) -> Result<u8> {
    let bulk =
        !(a.project.is_empty() && a.pc_id.is_empty() && a.since.is_empty() && a.until.is_empty());
    if !a.observation_id.is_empty() {
        if bulk {
            return usage(
                "observation_id and bulk selector (--project/--pc-id/--since/--until) cannot be combined.",
            );
        }
        if a.dry_run {
            return usage("--dry-run is only valid for bulk delete.");
        }
        if a.yes {
            return usage("--yes is only valid for bulk delete.");
        }
        return match memory.delete(&a.observation_id, &a.reason).await {
            Ok(_) => {
                output::line(format!("deleted (tombstone): {}", a.observation_id));
                Ok(OK)
            }
            Err(e @ MemoryError::NotFound(_)) => {
                output::note(e.to_string());
                Ok(FAILED)
            }
            Err(e @ MemoryError::InvalidObservationId) => usage(&e.to_string()),
            Err(e) => Err(e.into()),
        };
    }
    if !bulk {
        return usage("bulk delete requires one of --project/--pc-id/--since/--until.");
    }
    let parse = |value: &str, flag: &str| -> Result<Option<String>, String> {
        if value.is_empty() {
            return Ok(None);
        }
        timestamp::normalize(value, flag)
            .map(Some)
            .map_err(|_| format!("{flag} must be in ISO8601 format."))
    };
    let (since, until) = match (parse(&a.since, "--since"), parse(&a.until, "--until")) {
        (Ok(s), Ok(u)) => (s, u),
        (Err(m), _) | (_, Err(m)) => return usage(&m),
    };
    let selector = BulkSelector {
        project: a.project.clone(),
        pc_id: a.pc_id.clone(),
        since,
        until,
    };
    let batch = usize::try_from(a.batch_size).unwrap_or(usize::MAX);
    let ids = memory.bulk_targets(&selector, batch).await?;
    let total = ids.len();
    let mut parts = Vec::new();
    for (name, value) in [
        ("project", &a.project),
        ("pc_id", &a.pc_id),
        ("since", &a.since),
        ("until", &a.until),
    ] {
        if !value.is_empty() {
            parts.push(format!("{name}={}", py_repr(value)));
        }
    }
    output::note(format!(
        "bulk delete target: {total} entries ({})",
        parts.join(", ")
    ));
    let hint = || {
        if memory.settings().backend == BackendMode::Zenoh {
            output::note(MESH_INDEX_HINT);
        }
    };
    if total == 0 {
        output::line("no targets — no observations matched the selector.");
        hint();
        return Ok(OK);
    }
    if a.dry_run {
        output::line("Dry run — pass --yes to actually delete.");
        hint();
        return Ok(OK);
    }
    if !a.yes
        && let Err(code) = confirm(
            &format!("Tombstone {total} entries? type 'yes' to confirm: "),
            "bulk delete requires interactive confirmation. Pass --yes for non-interactive use.",
        )
    {
        return Ok(code);
    }
    let done = memory
        .bulk_delete(&ids, &a.reason, batch, |p| {
            output::note(format!(
                "  progress: {}/{} (ok={}, fail={})",
                p.done, p.total, p.ok, p.failed
            ));
        })
        .await?;
    let suffix = if done.failed > 0 {
        format!(" ({} failures)", done.failed)
    } else {
        String::new()
    };
    output::line(format!("deleted (tombstone): {} entries{suffix}", done.ok));
    hint();
    Ok(if done.failed == 0 { OK } else { FAILED })
}
