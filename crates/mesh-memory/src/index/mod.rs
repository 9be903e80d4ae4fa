//! The search index: a SQLite database (or the index tables inside the
//! local store's database) answering every read.
//!
//! The index is derived data. In local mode it lives in the same database
//! as the raw rows and is written in the same transaction; in mesh mode it
//! mirrors the Zenoh storage. Either way it can be rebuilt from the source
//! of truth at any time.

mod close;
pub mod hybrid;
pub(crate) mod maintain;
pub(crate) mod own_write;
pub(crate) mod plan;
pub(crate) mod schema;
mod vector_cache;

use std::path::{Path, PathBuf};

use mesh_core::Observation;
use sqlx::sqlite::{SqliteArguments, SqlitePool};
use sqlx::{Arguments, Row, Sqlite, Transaction};

use crate::db;
use crate::error::{DbContext, Result};
use crate::query::{SearchMode, SearchQuery};
use plan::{Bind, Pass, Plan};

/// Visible state of one observation, most decisive first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObservationState {
    /// Shown by search.
    Live,
    /// A tombstone hides it.
    Tombstoned,
    /// Missing from the store at the last rebuild (mesh mode).
    Shadowed,
    /// A live observation supersedes it.
    Superseded,
    /// Its lifetime has passed.
    Expired,
}

impl ObservationState {
    /// The label `get-memory` prints.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Live => "live",
            Self::Tombstoned => "tombstoned",
            Self::Shadowed => "shadowed",
            Self::Superseded => "superseded",
            Self::Expired => "expired",
        }
    }
}

/// An observation with its state in the index.
#[derive(Debug, Clone, PartialEq)]
pub struct Inspected {
    /// The observation.
    pub observation: Observation,
    /// Its state.
    pub state: ObservationState,
    /// When it was tombstoned, if it was.
    pub deleted_at: Option<String>,
    /// When it was shadowed, if it was.
    pub shadowed_at: Option<String>,
    /// A live observation that supersedes it, if any.
    pub superseded_by: Option<String>,
}

/// Row counts by state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Neither tombstoned nor shadowed.
    pub live: u64,
    /// Tombstoned.
    pub tombstoned: u64,
    /// Shadowed and not tombstoned.
    pub shadowed: u64,
}

/// Who wrote the most recent visible observations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Breakdown {
    /// Rows counted (at most the limit).
    pub count: u64,
    /// Rows per agent family, sorted by family.
    pub by_family: Vec<(String, u64)>,
    /// Rows per host id, sorted by host id.
    pub by_pc: Vec<(String, u64)>,
}

/// A row found by a retention or expiry listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedRow {
    /// The observation id.
    pub observation_id: String,
    /// Its project (`""` when unknown).
    pub project: String,
    /// The instant that qualifies it (deleted_at, shadowed_at or expires_at).
    pub at: String,
    /// Its summary (`""` when unknown).
    pub summary: String,
}

/// Handle on an index database.
#[derive(Debug, Clone)]
pub struct Index {
    pool: SqlitePool,
    path: PathBuf,
    /// Vectors held for hybrid search, shared by every clone.
    vectors: std::sync::Arc<vector_cache::VectorCache>,
}

impl Index {
    /// Wrap an open pool whose database holds (or will hold) the index tables.
    pub(crate) fn from_pool(pool: SqlitePool, path: impl Into<PathBuf>) -> Self {
        Self {
            pool,
            path: path.into(),
            vectors: std::sync::Arc::default(),
        }
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The connection pool.
    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Start a write transaction that takes the write lock at once, so it
    /// waits for other writers instead of failing midway.
    pub async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>> {
        db::begin(&self.pool, "BEGIN IMMEDIATE", &self.path, "write").await
    }

    /// Run a search. A hybrid search here ranks by keyword evidence only;
    /// [`crate::Memory::search`] adds the embedding model when installed.
    pub async fn search(&self, q: &SearchQuery) -> Result<Vec<Observation>> {
        self.search_with(q, None, hybrid::Fusion::default()).await
    }

    /// Run a search, hybrid ones with `encoder`.
    pub(crate) async fn search_with(
        &self,
        q: &SearchQuery,
        encoder: Option<&crate::embed::Encoder>,
        fusion: hybrid::Fusion,
    ) -> Result<Vec<Observation>> {
        let now = q.now.clone().unwrap_or_else(mesh_core::timestamp::now);
        let limit = q.effective_limit();
        let has_text =
            !q.text.trim().is_empty() || q.alternatives.iter().any(|a| !a.trim().is_empty());
        match q.mode {
            // Without text there is nothing to rank by: browse by recency.
            SearchMode::Hybrid if !has_text => self.run_pass(q, Pass::And, limit, &now).await,
            SearchMode::Hybrid => self.search_hybrid(q, encoder, fusion).await,
            SearchMode::And => self.run_pass(q, Pass::And, limit, &now).await,
            SearchMode::Or => self.run_pass(q, Pass::Or, limit, &now).await,
            SearchMode::AndOr => {
                let mut strict = self.run_pass(q, Pass::And, limit, &now).await?;
                if strict.len() >= limit {
                    strict.truncate(limit);
                    return Ok(strict);
                }
                let broad = self
                    .run_pass(q, Pass::Or, plan::or_pass_limit(limit), &now)
                    .await?;
                let seen: std::collections::HashSet<String> =
                    strict.iter().map(|o| o.observation_id.clone()).collect();
                strict.extend(
                    broad
                        .into_iter()
                        .filter(|o| !seen.contains(&o.observation_id)),
                );
                strict.truncate(limit);
                Ok(strict)
            }
        }
    }

    async fn run_pass(
        &self,
        q: &SearchQuery,
        pass: Pass,
        limit: usize,
        now: &str,
    ) -> Result<Vec<Observation>> {
        let p = plan::plan(q, pass, limit, now, false);
        match self.fetch_payloads(&p).await {
            Ok(rows) => Ok(parse_rows(rows)),
            Err(e) if p.sql.contains("MATCH") => {
                // FTS5 may reject an expression; LIKE still answers.
                tracing::debug!("full-text query failed, retrying with LIKE: {e}");
                let fallback = plan::plan(q, pass, limit, now, true);
                Ok(parse_rows(self.fetch_payloads(&fallback).await?))
            }
            Err(e) => Err(e),
        }
    }

    async fn fetch_payloads(&self, p: &Plan) -> Result<Vec<String>> {
        let query = sqlx::query_scalar_with::<_, String, _>(
            sqlx::AssertSqlSafe(p.sql.clone()),
            arguments(&p.binds)?,
        );
        query.fetch_all(&self.pool).await.ctx("searching the index")
    }

    /// The observation with `observation_id` in any state, and that state.
    pub async fn inspect(&self, observation_id: &str) -> Result<Option<Inspected>> {
        let row = sqlx::query(
            "SELECT l.payload_json, o.deleted_at, o.shadowed_at, o.expires_at,
                    (SELECT s.superseder_id FROM ix_supersede s
                       JOIN ix_obs sup ON sup.observation_id = s.superseder_id
                      WHERE s.target_id = o.observation_id
                        AND sup.deleted_at IS NULL AND sup.shadowed_at IS NULL
                      LIMIT 1) AS superseded_by
               FROM ix_obs o JOIN local_obs l ON l.observation_id = o.observation_id
              WHERE o.observation_id = ?",
        )
        .bind(observation_id)
        .fetch_optional(&self.pool)
        .await
        .ctx("reading an observation")?;
        let Some(row) = row else {
            return Ok(None);
        };
        let payload: String = row.try_get(0).ctx("reading an observation")?;
        let deleted_at: Option<String> = row.try_get(1).ctx("reading an observation")?;
        let shadowed_at: Option<String> = row.try_get(2).ctx("reading an observation")?;
        let expires_at: Option<String> = row.try_get(3).ctx("reading an observation")?;
        let superseded_by: Option<String> = row.try_get(4).ctx("reading an observation")?;
        let observation = Observation::from_json(&payload)?;
        let now = mesh_core::timestamp::now();
        let state = if deleted_at.is_some() {
            ObservationState::Tombstoned
        } else if shadowed_at.is_some() {
            ObservationState::Shadowed
        } else if superseded_by.is_some() {
            ObservationState::Superseded
        } else if expires_at.is_some_and(|e| !e.is_empty() && e <= now) {
            ObservationState::Expired
        } else {
            ObservationState::Live
        };
        Ok(Some(Inspected {
            observation,
            state,
            deleted_at,
            shadowed_at,
            superseded_by,
        }))
    }

    /// Counts of live, tombstoned and shadowed rows.
    pub async fn counts(&self) -> Result<Counts> {
        let row = sqlx::query(
            "SELECT
               COALESCE(SUM(deleted_at IS NULL AND shadowed_at IS NULL), 0),
               COALESCE(SUM(deleted_at IS NOT NULL), 0),
               COALESCE(SUM(deleted_at IS NULL AND shadowed_at IS NOT NULL), 0)
             FROM ix_obs",
        )
        .fetch_one(&self.pool)
        .await
        .ctx("counting observations")?;
        let get = |i: usize| -> Result<u64> {
            let v: i64 = row.try_get(i).ctx("counting observations")?;
            Ok(u64::try_from(v).unwrap_or_default())
        };
        Ok(Counts {
            live: get(0)?,
            tombstoned: get(1)?,
            shadowed: get(2)?,
        })
    }

    /// Writers of the `limit` most recent visible observations.
    pub async fn recent_breakdown(&self, limit: usize) -> Result<Breakdown> {
        let now = mesh_core::timestamp::now();
        let base = plan::plan(&SearchQuery::browse(), Pass::And, limit, &now, false);
        // Reuse the browse filters; select identity columns instead of payloads.
        let inner = base.sql.replacen(
            &format!("SELECT {}", plan::PAYLOAD),
            "SELECT o.agent_family, o.pc_id",
            1,
        );
        let mut breakdown = Breakdown::default();
        for (column, out) in [("agent_family", 0usize), ("pc_id", 1)] {
            let sql = format!(
                "SELECT {column}, COUNT(*) FROM ({inner}) GROUP BY {column} ORDER BY {column}"
            );
            let query = sqlx::query_as_with::<_, (String, i64), _>(
                sqlx::AssertSqlSafe(sql),
                arguments(&base.binds)?,
            );
            let rows = query
                .fetch_all(&self.pool)
                .await
                .ctx("summarising observations")?;
            let rows: Vec<(String, u64)> = rows
                .into_iter()
                .map(|(k, n)| (k, u64::try_from(n).unwrap_or_default()))
                .collect();
            if out == 0 {
                breakdown.count = rows.iter().map(|(_, n)| n).sum();
                breakdown.by_family = rows;
            } else {
                breakdown.by_pc = rows;
            }
        }
        Ok(breakdown)
    }

    /// Visible observations of one session: how many, and the newest
    /// created_at among them.
    pub async fn session_activity(&self, session_id: &str) -> Result<(u64, Option<String>)> {
        let now = mesh_core::timestamp::now();
        let q = SearchQuery {
            session_id: session_id.to_owned(),
            limit: crate::query::MAX_SEARCH,
            ..SearchQuery::default()
        };
        let base = plan::plan(&q, Pass::And, crate::query::MAX_SEARCH, &now, false);
        let inner = base.sql.replacen(
            &format!("SELECT {}", plan::PAYLOAD),
            "SELECT o.created_at",
            1,
        );
        let sql = format!("SELECT COUNT(*), MAX(created_at) FROM ({inner})");
        let query = sqlx::query_as_with::<_, (i64, Option<String>), _>(
            sqlx::AssertSqlSafe(sql),
            arguments(&base.binds)?,
        );
        let (n, newest) = query
            .fetch_one(&self.pool)
            .await
            .ctx("reading session activity")?;
        Ok((u64::try_from(n).unwrap_or_default(), newest))
    }

    /// Visible observations per agent family created in `[since, now]`,
    /// and how many claim a creation time after now (clock skew).
    pub async fn family_counts_between(
        &self,
        since: &str,
        now: &str,
    ) -> Result<(Vec<(String, u64)>, u64)> {
        let q = SearchQuery {
            since: Some(since.to_owned()),
            limit: crate::query::MAX_SEARCH,
            ..SearchQuery::default()
        };
        let base = plan::plan(&q, Pass::And, i64::MAX as usize, now, false);
        let inner = base.sql.replacen(
            &format!("SELECT {}", plan::PAYLOAD),
            "SELECT o.agent_family, o.created_at",
            1,
        );
        let sql = format!(
            "SELECT agent_family, SUM(created_at <= ?), SUM(created_at > ?) FROM ({inner}) GROUP BY agent_family ORDER BY agent_family"
        );
        let now = [Bind::Text(now.to_owned()), Bind::Text(now.to_owned())];
        let query = sqlx::query_as_with::<_, (String, i64, i64), _>(
            sqlx::AssertSqlSafe(sql),
            arguments(now.iter().chain(&base.binds))?,
        );
        let rows = query
            .fetch_all(&self.pool)
            .await
            .ctx("counting recent observations")?;
        let count = |n: i64| u64::try_from(n).unwrap_or_default();
        let future = rows.iter().map(|r| count(r.2)).sum();
        let families = rows
            .into_iter()
            .filter(|r| r.1 > 0)
            .map(|(family, n, _)| (family, count(n)))
            .collect();
        Ok((families, future))
    }

    /// Tombstones older than `cutoff`, including ones whose observation this
    /// host never saw, optionally restricted to one project.
    pub async fn tombstoned_before(
        &self,
        cutoff: &str,
        project: Option<&str>,
    ) -> Result<Vec<ListedRow>> {
        let mut sql = "SELECT t.observation_id, COALESCE(o.project, ''), t.deleted_at, COALESCE(o.summary, '')
                         FROM ix_tomb t LEFT JOIN ix_obs o ON o.observation_id = t.observation_id
                        WHERE t.deleted_at < ?"
            .to_owned();
        if project.is_some() {
            sql.push_str(" AND o.project = ?");
        }
        sql.push_str(" ORDER BY t.deleted_at");
        self.listed(sql, cutoff, project).await
    }

    /// Shadowed rows older than `cutoff`.
    pub async fn shadowed_before(
        &self,
        cutoff: &str,
        project: Option<&str>,
    ) -> Result<Vec<ListedRow>> {
        let mut sql = "SELECT observation_id, project, shadowed_at, summary FROM ix_obs
                        WHERE shadowed_at IS NOT NULL AND deleted_at IS NULL AND shadowed_at < ?"
            .to_owned();
        if project.is_some() {
            sql.push_str(" AND project = ?");
        }
        sql.push_str(" ORDER BY shadowed_at DESC");
        self.listed(sql, cutoff, project).await
    }

    /// Live rows whose lifetime ended at or before `now`.
    pub async fn expired_live(&self, now: &str, project: Option<&str>) -> Result<Vec<ListedRow>> {
        let mut sql = "SELECT observation_id, project, expires_at, summary FROM ix_obs
                        WHERE deleted_at IS NULL AND shadowed_at IS NULL
                          AND expires_at IS NOT NULL AND expires_at <= ?"
            .to_owned();
        if project.is_some() {
            sql.push_str(" AND project = ?");
        }
        sql.push_str(" ORDER BY expires_at");
        self.listed(sql, now, project).await
    }

    async fn listed(
        &self,
        sql: String,
        instant: &str,
        project: Option<&str>,
    ) -> Result<Vec<ListedRow>> {
        let mut query =
            sqlx::query_as::<_, (String, String, String, String)>(sqlx::AssertSqlSafe(sql))
                .bind(instant.to_owned());
        if let Some(p) = project {
            query = query.bind(p.to_owned());
        }
        let rows = query
            .fetch_all(&self.pool)
            .await
            .ctx("listing observations")?;
        Ok(rows
            .into_iter()
            .map(|(observation_id, project, at, summary)| ListedRow {
                observation_id,
                project,
                at,
                summary,
            })
            .collect())
    }

    /// Distinct non-empty projects, sorted.
    pub async fn distinct_projects(&self) -> Result<Vec<String>> {
        sqlx::query_scalar(
            "SELECT DISTINCT project FROM ix_obs WHERE project != '' ORDER BY project",
        )
        .fetch_all(&self.pool)
        .await
        .ctx("listing projects")
    }

    /// Merge the full-text index into one segment and refresh the query
    /// planner's statistics. Worth it after bulk loads and in idle time: a
    /// query reads every segment, so this is what keeps search fast as the
    /// store grows (about 2 s at 100,000 observations).
    pub async fn optimize(&self) -> Result<()> {
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(|e| db::classify(e, &self.path, "write"))?;
        sqlx::query("INSERT INTO ix_fts(ix_fts) VALUES ('optimize')")
            .execute(&mut *conn)
            .await
            .map_err(|e| db::classify(e, &self.path, "write"))?;
        sqlx::query("PRAGMA optimize")
            .execute(&mut *conn)
            .await
            .ctx("refreshing planner statistics")?;
        Ok(())
    }

    /// Number of full-text segments (1 when fully merged).
    pub async fn fts_segments(&self) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(DISTINCT segid) FROM ix_fts_idx")
            .fetch_one(&self.pool)
            .await
            .ctx("counting full-text segments")?;
        Ok(u64::try_from(n).unwrap_or_default())
    }

    /// Live observations indexed after `cursor` (a row position from an
    /// earlier call, 0 for the start), oldest first, at most `limit`; with
    /// the cursor to pass next. A row re-indexed (a tombstone arriving)
    /// moves past the cursor again: callers that show arrivals remember
    /// what they showed.
    pub async fn indexed_after(
        &self,
        cursor: i64,
        limit: usize,
    ) -> Result<(Vec<Observation>, i64)> {
        let rows: Vec<(i64, String, Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT o.rid, l.payload_json, o.deleted_at, o.shadowed_at
               FROM ix_obs o JOIN local_obs l ON l.observation_id = o.observation_id
              WHERE o.rid > ? ORDER BY o.rid LIMIT ?",
        )
        .bind(cursor)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .ctx("reading new observations")?;
        let next = rows.last().map_or(cursor, |r| r.0);
        let live = rows
            .into_iter()
            .filter(|r| r.2.is_none() && r.3.is_none())
            .map(|r| r.1)
            .collect();
        Ok((parse_rows(live), next))
    }

    /// The position of the newest indexed row (0 when empty).
    pub async fn newest_position(&self) -> Result<i64> {
        sqlx::query_scalar("SELECT COALESCE(MAX(rid), 0) FROM ix_obs")
            .fetch_one(&self.pool)
            .await
            .ctx("reading new observations")
    }

    /// Close the pool.
    /// Whether SQLite finds the file damaged (`PRAGMA quick_check`). Run
    /// after a write failed: damage that opening did not touch, such as a
    /// torn tail, shows only when a query reaches it.
    pub(crate) async fn is_damaged(&self) -> bool {
        match sqlx::query_scalar::<_, String>("PRAGMA quick_check(1)")
            .fetch_one(&self.pool)
            .await
        {
            Ok(verdict) => verdict != "ok",
            Err(e) => matches!(
                db::classify(e, &self.path, "check"),
                crate::error::MemoryError::Corrupt { .. }
            ),
        }
    }
}

fn parse_rows(rows: Vec<String>) -> Vec<Observation> {
    rows.into_iter()
        .filter_map(|payload| match Observation::from_json(&payload) {
            Ok(obs) => Some(obs),
            Err(e) => {
                tracing::warn!("skipping a malformed row in the index: {e}");
                None
            }
        })
        .collect()
}

/// `binds` as SQLite arguments, in placeholder order.
fn arguments<'a>(binds: impl IntoIterator<Item = &'a Bind>) -> Result<SqliteArguments> {
    let mut args = SqliteArguments::default();
    for b in binds {
        match b {
            Bind::Text(t) => args.add(t.clone()),
            Bind::Int(i) => args.add(*i),
        }
        .map_err(sqlx::Error::Encode)
        .ctx("binding the query's parameters")?;
    }
    Ok(args)
}
