//! The memory tools: each takes parsed arguments, calls mesh-memory and
//! renders the reference's reply text.

use std::sync::Arc;

use mesh_core::{MemoryType, Observation, Visibility, timestamp};
use mesh_memory::activity::format_age;
use mesh_memory::query::MAX_SEARCH;
use mesh_memory::view::{self, Origin};
use mesh_memory::{
    AnyStore, Memory, MemoryError, MemoryStore, PutOutcome, SaveRequest, SearchMode, SearchQuery,
};
use serde_json::{Map, Value, json};

use crate::cap::{OUTPUT_MAX_BYTES, cap};
use crate::params::{
    DeleteMemory, DrainPendingPuts, ObservationId, RecallContext, SaveObservation, SearchMemory,
};

/// A tool's answer: text for the agent, or a tool error (`isError: true`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// A normal result.
    Text(String),
    /// A refusal the client must surface as an error.
    Error(String),
}

/// The tools over one memory.
pub struct Tools {
    memory: Arc<Memory<AnyStore>>,
}

fn python_list(values: &[&str]) -> String {
    format!(
        "[{}]",
        values
            .iter()
            .map(|v| format!("'{v}'"))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

fn mode(value: &str) -> Result<SearchMode, Reply> {
    SearchMode::parse(value).map_err(|e| Reply::Text(e.to_string()))
}

fn since(value: &str) -> Result<Option<String>, Reply> {
    if value.trim().is_empty() {
        return Ok(None);
    }
    timestamp::normalize(value, "since_iso")
        .map(Some)
        .map_err(|e| Reply::Text(e.to_string()))
}

fn limit(value: i64, max: usize) -> usize {
    usize::try_from(value.max(1)).unwrap_or(1).min(max)
}

impl Tools {
    /// The mode asked for, or the default: hybrid when an embedding model
    /// is installed (ADR 0011), else the reference's `fallback`.
    fn mode_or(&self, requested: Option<&str>, fallback: SearchMode) -> String {
        match requested {
            Some(m) => m.to_owned(),
            None if self.memory.model_installed() => SearchMode::Hybrid.as_str().to_owned(),
            None => fallback.as_str().to_owned(),
        }
    }

    /// Tools over `memory`.
    pub fn new(memory: Arc<Memory<AnyStore>>) -> Self {
        Self { memory }
    }

    /// Where `obs` was saved, relative to this host.
    fn origin(&self, obs: &Observation) -> Origin {
        let me = self.memory.identity().ok().map(|id| id.pc_id.as_str());
        Origin::of(obs, me)
    }

    pub async fn save_observation(&self, p: SaveObservation) -> Reply {
        let Some(memory_type) = MemoryType::parse(&p.memory_type) else {
            let names: Vec<&str> = MemoryType::ALL.iter().map(|t| t.as_str()).collect();
            return Reply::Text(format!(
                "memory_type must be one of {}. got: '{}'",
                python_list(&names),
                p.memory_type
            ));
        };
        let visibility = match Visibility::requested(&p.visibility) {
            Ok(v) => v,
            Err(e) => return Reply::Text(e.to_string()),
        };
        let supersedes_given = p.supersedes.as_ref().is_some_and(|s| !s.is_empty());
        let req = SaveRequest {
            content: p.content,
            subject: p.subject,
            summary: p.summary,
            project: p.project,
            tags: p.tags.unwrap_or_default(),
            memory_type,
            importance: p.importance,
            source_files: p.source_files.unwrap_or_default(),
            references: p.references.unwrap_or_default(),
            supersedes: p.supersedes.unwrap_or_default(),
            visibility,
            expires_at: Some(p.expires_at).filter(|e| !e.trim().is_empty()),
            ttl_sec: p.ttl_sec,
            refuse_tool_call_fragments: true,
        };
        let saved = match self.memory.save(&req).await {
            Ok(saved) => saved,
            // The reference raises these as tool errors so an agent cannot
            // mistake the refusal for a save; the others it returns as text.
            Err(
                e @ (MemoryError::MetadataRequired { .. } | MemoryError::ToolCallFragment { .. }),
            ) => {
                return Reply::Error(e.to_string());
            }
            Err(e) if e.is_usage() => return Reply::Text(e.to_string()),
            Err(e) => return Reply::Error(format!("save failed: {e}")),
        };
        let obs = &saved.observation;
        let mut out = Map::new();
        out.insert("observation_id".into(), json!(obs.observation_id));
        let status = match &saved.put {
            PutOutcome::Stored => "saved",
            PutOutcome::Queued { .. } => "queued",
        };
        out.insert("status".into(), json!(status));
        out.insert("visibility".into(), json!(saved.scope));
        let warnings: Vec<Value> = saved
            .warnings
            .iter()
            .map(|w| json!({"code": w.code, "message": w.message}))
            .collect();
        out.insert("warnings".into(), Value::Array(warnings));
        if let PutOutcome::Queued { reason } = &saved.put {
            out.insert(
                "note".into(),
                json!(format!("the mesh daemon is unreachable ({reason}); the save is queued on this host and will be sent")),
            );
        }
        if !obs.expires_at.is_empty() {
            out.insert("expires_at".into(), json!(obs.expires_at));
        }
        if !supersedes_given && !saved.supersede_candidates.is_empty() {
            let candidates: Vec<Value> = saved
                .supersede_candidates
                .iter()
                .map(|c| {
                    let mut m = Map::new();
                    m.insert("observation_id".into(), json!(c.observation_id));
                    m.insert("created_at".into(), json!(view::head(&c.created_at, 10)));
                    m.insert(
                        "summary".into(),
                        json!(if c.summary.is_empty() {
                            &c.subject
                        } else {
                            &c.summary
                        }),
                    );
                    Value::Object(m)
                })
                .collect();
            out.insert("supersede_candidates".into(), Value::Array(candidates));
        }
        Reply::Text(mesh_core::json_text::to_string(&Value::Object(out)))
    }

    pub async fn search_memory(&self, p: SearchMemory) -> Reply {
        let requested = self.mode_or(p.search_mode.as_deref(), SearchMode::And);
        let (search_mode, since) = match (mode(&requested), since(&p.since_iso)) {
            (Ok(m), Ok(s)) => (m, s),
            (Err(r), _) | (_, Err(r)) => return r,
        };
        let q = SearchQuery {
            text: p.query,
            alternatives: p.queries.unwrap_or_default(),
            mode: search_mode,
            projects: self.memory.project_names(&p.project),
            agent_family: p.agent_family,
            client_id: p.client_id,
            pc_id: p.pc_id,
            session_id: p.session_id,
            since,
            limit: limit(p.limit, MAX_SEARCH),
            include_superseded: p.include_superseded,
            ..SearchQuery::default()
        };
        let started = std::time::Instant::now();
        let found = self.memory.search_or_fall_back(&q).await;
        tracing::debug!("search_memory: store answered in {:?}", started.elapsed());
        let (results, fell_back) = match found {
            Ok(r) => r,
            Err(e) => return Reply::Error(format!("search failed: {e}")),
        };
        if results.is_empty() {
            return Reply::Text("No matching memories.".to_owned());
        }
        let entries: Vec<String> = results
            .iter()
            .map(|o| view::search_entry(o, Some(self.origin(o))))
            .collect();
        let prefix = if fell_back {
            "(no AND match; fell back to OR)"
        } else {
            ""
        };
        Reply::Text(cap(&entries, OUTPUT_MAX_BYTES, prefix))
    }

    pub async fn get_memory(&self, p: ObservationId) -> Reply {
        if p.observation_id.len() != 32 {
            return Reply::Text("observation_id must be a full 32-character match.".to_owned());
        }
        match self.memory.get(&p.observation_id).await {
            Ok(Some(found)) => Reply::Text(view::get_memory(
                &found,
                Some(self.origin(&found.observation)),
            )),
            Ok(None) | Err(MemoryError::InvalidObservationId) => {
                Reply::Text(format!("observation_id {} not found.", p.observation_id))
            }
            Err(e) => Reply::Error(format!("read failed: {e}")),
        }
    }

    pub async fn recall_context(&self, p: RecallContext) -> Reply {
        let requested = self.mode_or(p.search_mode.as_deref(), SearchMode::AndOr);
        let search_mode = match mode(&requested) {
            Ok(m) => m,
            Err(_) => {
                return Reply::Text(format!(
                    "search_mode must be one of 'and', 'or', 'and_or', 'hybrid'. got: '{requested}'"
                ));
            }
        };
        let clean = |v: Option<Vec<String>>| -> Vec<String> {
            v.unwrap_or_default()
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect()
        };
        let types = clean(p.memory_types);
        let invalid: Vec<&str> = types
            .iter()
            .filter(|t| MemoryType::parse(t).is_none())
            .map(String::as_str)
            .collect();
        if !invalid.is_empty() {
            let names: Vec<&str> = MemoryType::ALL.iter().map(|t| t.as_str()).collect();
            return Reply::Text(format!(
                "memory_types contains invalid values {}. Must be from {}.",
                python_list(&invalid),
                python_list(&names)
            ));
        }
        let since = match since(&p.since_iso) {
            Ok(s) => s,
            Err(r) => return r,
        };
        let source_files = clean(p.source_files);
        let references = clean(p.references);
        let projects = self.memory.project_names(&p.project);
        let q = SearchQuery {
            text: p.query.clone(),
            alternatives: p.queries.clone().unwrap_or_default(),
            mode: search_mode,
            projects: projects.clone(),
            memory_types: types.iter().filter_map(|t| MemoryType::parse(t)).collect(),
            source_files: source_files.clone(),
            references: references.clone(),
            since,
            limit: limit(p.limit, 100),
            ..SearchQuery::default()
        };
        let hits = match self.memory.search(&q).await {
            Ok(h) => h,
            Err(e) => return Reply::Error(format!("recall failed: {e}")),
        };
        if hits.is_empty() {
            return Reply::Text("No matching current context.".to_owned());
        }
        let mut filters = Vec::new();
        if !p.project.is_empty() {
            let also: Vec<String> = projects
                .iter()
                .filter(|v| **v != p.project)
                .map(|v| format!("'{v}'"))
                .collect();
            let note = if also.is_empty() {
                String::new()
            } else {
                format!(" (also matching {})", also.join(", "))
            };
            filters.push(format!("project='{}'{note}", p.project));
        }
        let show = |v: &[String]| python_list(&v.iter().map(String::as_str).collect::<Vec<_>>());
        if !types.is_empty() {
            filters.push(format!("memory_types={}", show(&types)));
        }
        if !source_files.is_empty() {
            filters.push(format!("source_files={}", show(&source_files)));
        }
        if !references.is_empty() {
            filters.push(format!("references={}", show(&references)));
        }
        if !p.since_iso.is_empty() {
            filters.push(format!("since='{}'", p.since_iso));
        }
        if !p.query.is_empty() {
            filters.push(format!("query='{}'", p.query));
        }
        let summary = format!(
            "filters: {}",
            if filters.is_empty() {
                "none".to_owned()
            } else {
                filters.join(", ")
            }
        );
        let prefix = format!("recall_context: {} result(s)\n{summary}", hits.len());
        let mut entries = Vec::with_capacity(hits.len());
        // Group by (project, memory type) in order of first appearance.
        let mut groups: Vec<((String, MemoryType), Vec<&Observation>)> = Vec::new();
        for obs in &hits {
            let key = (view::or_dash(&obs.project).to_owned(), obs.memory_type);
            match groups.iter_mut().find(|(k, _)| *k == key) {
                Some((_, members)) => members.push(obs),
                None => groups.push((key, vec![obs])),
            }
        }
        for ((project, memory_type), members) in groups {
            for (i, obs) in members.into_iter().enumerate() {
                let state = match self.memory.get(&obs.observation_id).await {
                    Ok(Some(found)) => found,
                    _ => continue,
                };
                let entry = view::recall_entry(&state, self.origin(obs));
                entries.push(if i == 0 {
                    format!("### project={project} / memory_type={memory_type}\n\n{entry}")
                } else {
                    entry
                });
            }
        }
        Reply::Text(cap(&entries, OUTPUT_MAX_BYTES, &prefix))
    }

    pub async fn delete_memory(&self, p: DeleteMemory) -> Reply {
        if p.observation_id.len() != 32 {
            return Reply::Text("observation_id must be a full 32-character match.".to_owned());
        }
        match self.memory.delete(&p.observation_id, &p.reason).await {
            Ok(_) => Reply::Text(format!("deleted (tombstone): {}", p.observation_id)),
            Err(MemoryError::NotFound(_) | MemoryError::InvalidObservationId) => {
                Reply::Text(format!("observation_id {} not found.", p.observation_id))
            }
            Err(e) => Reply::Error(format!("delete failed: {e}")),
        }
    }

    pub async fn get_memory_status(&self) -> Reply {
        match self.status_lines().await {
            Ok(lines) => Reply::Text(lines.join("\n")),
            Err(e) => Reply::Text(format!("failed to read shared memory: {e}")),
        }
    }

    async fn status_lines(&self) -> Result<Vec<String>, MemoryError> {
        let status = self.memory.status().await?;
        let report = self.memory.session_report().await?;
        let id = self.memory.identity()?;
        let b = &status.backend;
        let c = &status.counts;
        let n = status.breakdown.count;
        let mut lines = vec![
            format!(
                "last_save_at: {}",
                report.newest_save.as_deref().unwrap_or("-")
            ),
            format!("kioku-mesh version: {}", env!("CARGO_PKG_VERSION")),
            format!("backend: {}", b.mode),
            format!(
                "executable: {}",
                std::env::current_exe()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            ),
            format!("pc_id: {}", id.pc_id),
            format!("session_id: {}", id.session_id),
            format!("session_age: {}", format_age(report.session_age_secs)),
            format!("this_session_saves: {}", report.session_saves),
            format!(
                "this_session_last_save_age: {}",
                format_age(report.last_save_age_secs)
            ),
        ];
        lines.extend(view::backend_lines(b));
        lines.extend([
            format!(
                "index_rows: live={} / tomb={} / shadow={}",
                c.live, c.tombstoned, c.shadowed
            ),
            format!(
                "count (within limit {MAX_SEARCH}): {n}{}",
                if n >= MAX_SEARCH as u64 {
                    " (limit may be reached; consider narrowing)"
                } else {
                    ""
                }
            ),
        ]);
        if let Some(nudge) = &report.nudge {
            lines.push(format!("nudge: {nudge}"));
        }
        lines.extend(view::family_lines(&status.breakdown));
        lines.push("family (last 7d):".to_owned());
        for (family, count) in &report.family_last_7d {
            lines.push(format!("  family_7d {family}: {count}"));
        }
        if report.future_dated > 0 {
            lines.push(format!(
                "  family_7d skipped (created_at in the future): {}",
                report.future_dated
            ));
        }
        lines.extend(view::pc_lines(&status.breakdown));
        Ok(lines)
    }

    pub async fn drain_pending_puts(&self, p: DrainPendingPuts) -> Reply {
        if p.limit.is_some_and(|l| l < 1) {
            return Reply::Text("limit must be 1 or greater.".to_owned());
        }
        let limit = p.limit.map(|l| usize::try_from(l).unwrap_or(usize::MAX));
        let drained = match self.memory.drain_pending(limit).await {
            Ok(n) => n,
            Err(e) => return Reply::Error(format!("drain failed: {e}")),
        };
        let remaining = self
            .memory
            .store()
            .backend_status()
            .await
            .map(|s| s.pending_puts)
            .unwrap_or(0);
        Reply::Text(format!(
            "pending_puts drain complete: drained={drained}, remaining={remaining}"
        ))
    }
}
