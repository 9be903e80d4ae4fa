//! `kioku-mesh save`.

use std::io::Read;

use anyhow::{Context, Result};
use mesh_core::Visibility;
use mesh_memory::{AnyStore, Memory, PutOutcome, SaveRequest};

use super::{OK, csv};
use crate::args::SaveArgs;
use crate::{format, output};

pub async fn run(a: &SaveArgs, memory: &Memory<AnyStore>) -> Result<u8> {
    let content = if a.content == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading the content from standard input")?;
        text
    } else {
        a.content.clone()
    };
    let req = SaveRequest {
        content,
        subject: a.subject.clone(),
        summary: a.summary.clone(),
        project: a.project.clone(),
        tags: csv(&a.tags),
        memory_type: a.memory_type.into(),
        importance: a.importance,
        source_files: csv(&a.source_files),
        references: csv(&a.references),
        supersedes: csv(&a.supersedes),
        visibility: Visibility::requested(&a.visibility)?,
        expires_at: Some(a.expires_at.clone()).filter(|e| !e.trim().is_empty()),
        ttl_sec: a.ttl_sec,
        refuse_tool_call_fragments: false,
    };
    let saved = memory.save(&req).await?;
    for w in &saved.warnings {
        output::note(format!("[save-lint] WARNING: {}: {}", w.code, w.message));
    }
    let id = &saved.observation.observation_id;
    match &saved.put {
        PutOutcome::Stored => output::line(format!("saved: {id} (visibility={})", saved.scope)),
        PutOutcome::Queued { reason } => {
            output::line(format!("queued: {id} (visibility={})", saved.scope));
            output::note(format!(
                "the mesh daemon is unreachable ({reason}); the save is kept in the pending queue and is \
                 sent by the next save or `kioku-mesh drain --pending`"
            ));
        }
    }
    for line in format::supersede_hint(&saved.supersede_candidates) {
        output::line(line);
    }
    Ok(OK)
}
