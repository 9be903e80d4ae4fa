//! What a search asks for: text, mode, filters and limits.

use mesh_core::MemoryType;

use crate::error::{MemoryError, Result};

/// Largest number of results one search returns.
pub const MAX_SEARCH: usize = 10_000;

/// Default number of results.
pub const DEFAULT_LIMIT: usize = 50;

/// How the terms of a query combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SearchMode {
    /// Every term must match.
    #[default]
    And,
    /// Any term may match.
    Or,
    /// AND results first, then OR results fill the remaining slots.
    AndOr,
    /// Ranked by meaning and words together: sentence-embedding similarity
    /// fused with keyword evidence (needs `kioku-mesh model install` for
    /// the meaning part).
    Hybrid,
}

impl SearchMode {
    /// Parse `and`, `or`, `and_or` or `hybrid`.
    pub fn parse(value: &str) -> Result<Self> {
        match value {
            "and" => Ok(Self::And),
            "or" => Ok(Self::Or),
            "and_or" => Ok(Self::AndOr),
            "hybrid" => Ok(Self::Hybrid),
            other => Err(MemoryError::InvalidArgument(format!(
                "search_mode must be one of 'and', 'or', 'and_or', 'hybrid', got '{other}'"
            ))),
        }
    }

    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::And => "and",
            Self::Or => "or",
            Self::AndOr => "and_or",
            Self::Hybrid => "hybrid",
        }
    }
}

/// A strict `(created_at, observation_id)` position for paging backwards in
/// time: results lie strictly before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// created_at of the last row of the previous page.
    pub created_at: String,
    /// observation_id of the last row of the previous page.
    pub observation_id: String,
}

/// A search over the index. Empty strings and lists mean "no filter".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    /// Whitespace-separated terms; empty browses by recency.
    pub text: String,
    /// Other phrasings of the same question (another language, synonyms);
    /// results of all of them are fused.
    pub alternatives: Vec<String>,
    /// How terms combine.
    pub mode: SearchMode,
    /// Any of these projects (exact values).
    pub projects: Vec<String>,
    /// Exact agent family.
    pub agent_family: String,
    /// Exact client id.
    pub client_id: String,
    /// Exact host id.
    pub pc_id: String,
    /// Exact session id.
    pub session_id: String,
    /// Any of these types.
    pub memory_types: Vec<MemoryType>,
    /// Any of these source files, exactly.
    pub source_files: Vec<String>,
    /// Any of these references, exactly.
    pub references: Vec<String>,
    /// created_at at or after (wire form).
    pub since: Option<String>,
    /// created_at at or before (wire form).
    pub until: Option<String>,
    /// Strictly before this position (replaces `until` when set).
    pub cursor: Option<Cursor>,
    /// At most this many results (clamped to 1..=[`MAX_SEARCH`]).
    pub limit: usize,
    /// Include tombstoned and shadowed rows.
    pub include_hidden: bool,
    /// Include rows superseded by a live observation.
    pub include_superseded: bool,
    /// Include rows whose lifetime has passed.
    pub include_expired: bool,
    /// The instant expiry is judged at (wire form); `None` is now.
    pub now: Option<String>,
}

impl Default for SearchQuery {
    fn default() -> Self {
        Self {
            text: String::new(),
            alternatives: Vec::new(),
            mode: SearchMode::And,
            projects: Vec::new(),
            agent_family: String::new(),
            client_id: String::new(),
            pc_id: String::new(),
            session_id: String::new(),
            memory_types: Vec::new(),
            source_files: Vec::new(),
            references: Vec::new(),
            since: None,
            until: None,
            cursor: None,
            limit: DEFAULT_LIMIT,
            include_hidden: false,
            include_superseded: false,
            include_expired: false,
            now: None,
        }
    }
}

impl SearchQuery {
    /// A query for `text` with default filters.
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            ..Self::default()
        }
    }

    /// Browse by recency with no text.
    pub fn browse() -> Self {
        Self::default()
    }

    /// Set the limit.
    #[must_use]
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    /// Restrict to one project.
    #[must_use]
    pub fn project(mut self, project: impl Into<String>) -> Self {
        self.projects = vec![project.into()];
        self
    }

    /// Set the mode.
    #[must_use]
    pub fn mode(mut self, mode: SearchMode) -> Self {
        self.mode = mode;
        self
    }

    /// The limit actually applied.
    pub fn effective_limit(&self) -> usize {
        self.limit.clamp(1, MAX_SEARCH)
    }

    /// True when a filter other than visibility narrows the search
    /// (project, writer, type, links, time).
    pub fn narrows(&self) -> bool {
        self.projects.iter().any(|p| !p.is_empty())
            || !self.agent_family.is_empty()
            || !self.client_id.is_empty()
            || !self.pc_id.is_empty()
            || !self.session_id.is_empty()
            || !self.memory_types.is_empty()
            || self.source_files.iter().any(|f| !f.is_empty())
            || self.references.iter().any(|r| !r.is_empty())
            || self.since.as_ref().is_some_and(|s| !s.is_empty())
            || self.until.as_ref().is_some_and(|s| !s.is_empty())
            || self.cursor.is_some()
    }

    /// The query's terms, split on Unicode whitespace.
    pub fn terms(&self) -> Vec<&str> {
        self.text.split_whitespace().collect()
    }
}
