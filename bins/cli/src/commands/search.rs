//! `kioku-mesh search` and `kioku-mesh get-memory`.

use anyhow::Result;
use mesh_core::timestamp;
use mesh_memory::{AnyStore, Memory, MemoryError, SearchMode, SearchQuery, view};

use super::{FAILED, OK};
use crate::args::{Format, GetArgs, ModeArg, SearchArgs};
use crate::output;

pub async fn run(a: &SearchArgs, memory: &Memory<AnyStore>) -> Result<u8> {
    let since = if a.since.is_empty() {
        None
    } else {
        Some(timestamp::normalize(&a.since, "--since")?)
    };
    let q = SearchQuery {
        text: a.query.clone(),
        mode: match a.search_mode {
            ModeArg::And => SearchMode::And,
            ModeArg::Or => SearchMode::Or,
            ModeArg::AndOr => SearchMode::AndOr,
            ModeArg::Hybrid => SearchMode::Hybrid,
        },
        alternatives: a.also.clone(),
        projects: if a.project.is_empty() {
            Vec::new()
        } else {
            vec![a.project.clone()]
        },
        agent_family: a.agent_family.clone(),
        client_id: a.client_id.clone(),
        pc_id: a.pc_id.clone(),
        session_id: a.session_id.clone(),
        since,
        // The reference answers a limit of 0 or less with one result.
        limit: usize::try_from(a.limit.max(1)).unwrap_or(usize::MAX),
        ..SearchQuery::default()
    };
    let results = memory.search(&q).await?;
    if results.is_empty() {
        match a.format {
            Format::Text => output::line("No matching memories."),
            Format::Json => output::line("[]"),
            Format::Markdown => {}
        }
        return Ok(OK);
    }
    output::line(match a.format {
        Format::Text => view::text(&results),
        Format::Markdown => view::markdown(&results),
        Format::Json => view::json(&results),
    });
    Ok(OK)
}

pub async fn get(a: &GetArgs, memory: &Memory<AnyStore>) -> Result<u8> {
    match memory.get(&a.observation_id).await? {
        Some(found) => {
            output::line(view::get_memory(&found, None));
            Ok(OK)
        }
        None => {
            output::note(MemoryError::NotFound(a.observation_id.clone()).to_string());
            Ok(FAILED)
        }
    }
}
