//! Hybrid ranking: keyword evidence from the full-text index fused with the
//! similarity of sentence embeddings, relevance first, importance and
//! recency as small boosts (ADR 0011).
//!
//! The filters of the other modes apply first (the [`plan::eligible`]
//! statement), so tombstoned, superseded, shadowed, expired and filtered
//! rows are never scored at all.

use std::collections::{HashMap, HashSet};

use mesh_core::Observation;
use sqlx::Row;

use super::plan::{self, Bind};
use super::{Index, arguments, parse_rows};
use crate::embed::{Encoder, MODEL_ID, vectors};
use crate::error::{DbContext, Result};
use crate::query::SearchQuery;

/// How keyword and vector evidence combine.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fusion {
    /// `vector * sim + (1 - vector) * keyword`, plus boosts.
    Weighted {
        /// Weight of the embedding similarity, 0..=1.
        vector: f32,
    },
    /// Reciprocal rank fusion of the two rankings (k = 60).
    Rrf,
}

impl Default for Fusion {
    fn default() -> Self {
        Self::Weighted { vector: 0.6 }
    }
}

impl Fusion {
    /// The fusion named by `KIOKU_MESH_HYBRID_FUSION` (`rrf` or
    /// `weighted:<vector weight>`), for evaluation runs; the default
    /// otherwise.
    pub fn from_env_value(value: Option<&str>) -> Self {
        match value.map(str::trim) {
            Some("rrf") => Self::Rrf,
            Some(v) => v
                .strip_prefix("weighted:")
                .and_then(|w| w.parse::<f32>().ok())
                .filter(|w| (0.0..=1.0).contains(w))
                .map_or_else(Self::default, |vector| Self::Weighted { vector }),
            None => Self::default(),
        }
    }
}

/// A similarity below this, without keyword evidence, is not a result.
const MIN_SIMILARITY: f32 = 0.3;
/// Largest boost importance gives (importance 5 over 3).
const IMPORTANCE_BOOST: f32 = 0.04;
/// Largest boost recency gives (a note saved now).
const RECENCY_BOOST: f32 = 0.03;
/// Days over which the recency boost decays by e.
const RECENCY_DAYS: f32 = 180.0;

struct Row_ {
    rid: i64,
    importance: i64,
    created_at: String,
    vector: Option<(f32, Vec<u8>)>,
}

impl Index {
    /// Hybrid search. Without an encoder only keyword evidence ranks.
    pub(crate) async fn search_hybrid(
        &self,
        q: &SearchQuery,
        encoder: Option<&Encoder>,
        fusion: Fusion,
    ) -> Result<Vec<Observation>> {
        let now = q.now.clone().unwrap_or_else(mesh_core::timestamp::now);
        let rows = self.eligible(q, &now).await?;
        let limit = q.effective_limit();
        let mut best: HashMap<i64, f32> = HashMap::new();
        for text in std::iter::once(&q.text).chain(&q.alternatives) {
            if text.trim().is_empty() {
                continue;
            }
            let query_vec = match encoder {
                Some(e) => Some(e.encode(text)?),
                None => None,
            };
            let keyword = self.keyword_scores(text, &rows).await?;
            if tracing::enabled!(tracing::Level::TRACE) {
                for r in &rows {
                    let sim = match (&query_vec, &r.vector) {
                        (Some(q), Some((s, v))) => vectors::dot(q, *s, v),
                        _ => f32::NAN,
                    };
                    tracing::trace!(
                        rid = r.rid,
                        sim,
                        keyword = keyword.get(&r.rid).copied().unwrap_or(0.0),
                        "hybrid evidence"
                    );
                }
            }
            for (rid, score) in fuse(&rows, query_vec.as_deref(), &keyword, fusion, &now) {
                let slot = best.entry(rid).or_insert(f32::MIN);
                *slot = slot.max(score);
            }
        }
        let order: HashMap<i64, &Row_> = rows.iter().map(|r| (r.rid, r)).collect();
        let mut ranked: Vec<(i64, f32)> = best.into_iter().collect();
        ranked.sort_by(|a, b| {
            b.1.total_cmp(&a.1)
                .then_with(|| order[&b.0].created_at.cmp(&order[&a.0].created_at))
                .then_with(|| b.0.cmp(&a.0))
        });
        ranked.truncate(limit);
        self.payloads(&ranked.iter().map(|(rid, _)| *rid).collect::<Vec<_>>())
            .await
    }

    async fn eligible(&self, q: &SearchQuery, now: &str) -> Result<Vec<Row_>> {
        let p = plan::eligible(q, now, MODEL_ID);
        let rows = sqlx::query_with(sqlx::AssertSqlSafe(p.sql.clone()), arguments(&p.binds)?)
            .fetch_all(self.pool())
            .await
            .ctx("listing rows for hybrid search")?;
        Ok(rows
            .into_iter()
            .map(|r| Row_ {
                rid: r.get(0),
                importance: r.get(1),
                created_at: r.get(2),
                vector: match (r.get::<Option<f64>, _>(3), r.get::<Option<Vec<u8>>, _>(4)) {
                    (Some(scale), Some(v)) if v.len() == vectors::DIM => Some((scale as f32, v)),
                    _ => None,
                },
            })
            .collect())
    }

    /// Keyword evidence per row in 0..=1: the IDF-weighted share of the
    /// query's terms the row contains.
    async fn keyword_scores(&self, text: &str, rows: &[Row_]) -> Result<HashMap<i64, f32>> {
        let eligible: HashSet<i64> = rows.iter().map(|r| r.rid).collect();
        let n = eligible.len().max(1) as f32;
        let mut weight_total = 0.0f32;
        let mut scores: HashMap<i64, f32> = HashMap::new();
        for term in keyword_terms(text) {
            let hits = self.term_hits(&term).await?;
            let hits: Vec<i64> = hits.into_iter().filter(|r| eligible.contains(r)).collect();
            let idf = (1.0 + n / (hits.len() as f32 + 0.5)).ln();
            weight_total += idf;
            for rid in hits {
                *scores.entry(rid).or_default() += idf;
            }
        }
        if weight_total > 0.0 {
            for v in scores.values_mut() {
                *v /= weight_total;
            }
        }
        Ok(scores)
    }

    /// Rows whose text contains `term`.
    async fn term_hits(&self, term: &str) -> Result<Vec<i64>> {
        let (sql, bind) = if term.chars().count() >= 3 {
            (
                "SELECT rowid FROM ix_fts WHERE ix_fts MATCH ?",
                plan::fts_phrase(term),
            )
        } else {
            (
                "SELECT rowid FROM ix_fts WHERE (content || ' ' || subject || ' ' || summary || ' ' || tags) \
                 LIKE ? ESCAPE '\\'",
                plan::like_pattern(term),
            )
        };
        match sqlx::query_scalar::<_, i64>(sql)
            .bind(&bind)
            .fetch_all(self.pool())
            .await
        {
            Ok(rids) => Ok(rids),
            // FTS5 may refuse an odd phrase; that term then counts as absent.
            Err(e) => {
                tracing::debug!("term {term:?} skipped in hybrid search: {e}");
                Ok(Vec::new())
            }
        }
    }

    async fn payloads(&self, rids: &[i64]) -> Result<Vec<Observation>> {
        if rids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT o.rid, {} FROM ix_obs o JOIN local_obs l ON l.observation_id = o.observation_id \
             WHERE o.rid IN ({})",
            plan::PAYLOAD,
            vec!["?"; rids.len()].join(", ")
        );
        let binds: Vec<Bind> = rids.iter().map(|r| Bind::Int(*r)).collect();
        let rows = sqlx::query_with(sqlx::AssertSqlSafe(sql), arguments(&binds)?)
            .fetch_all(self.pool())
            .await
            .ctx("reading hybrid results")?;
        let mut by_rid: HashMap<i64, String> =
            rows.into_iter().map(|r| (r.get(0), r.get(1))).collect();
        Ok(parse_rows(
            rids.iter().filter_map(|r| by_rid.remove(r)).collect(),
        ))
    }
}

/// Fused scores of the rows with any evidence.
fn fuse(
    rows: &[Row_],
    query: Option<&[f32]>,
    keyword: &HashMap<i64, f32>,
    fusion: Fusion,
    now: &str,
) -> Vec<(i64, f32)> {
    let sims: HashMap<i64, f32> = match query {
        Some(q) => rows
            .iter()
            .filter_map(|r| {
                r.vector
                    .as_ref()
                    .map(|(scale, v)| (r.rid, vectors::dot(q, *scale, v)))
            })
            .collect(),
        None => HashMap::new(),
    };
    let now_days = days(now);
    let boost = |r: &Row_| {
        let importance = (r.importance.clamp(1, 5) - 3) as f32 / 2.0 * IMPORTANCE_BOOST;
        let age = (now_days - days(&r.created_at)).max(0.0);
        importance + RECENCY_BOOST * (-age / RECENCY_DAYS).exp()
    };
    let relevant = |r: &Row_| {
        keyword.get(&r.rid).is_some_and(|k| *k > 0.0)
            || sims.get(&r.rid).is_some_and(|s| *s >= MIN_SIMILARITY)
    };
    match fusion {
        Fusion::Weighted { vector } => {
            let vector = if query.is_some() { vector } else { 0.0 };
            rows.iter()
                .filter(|r| relevant(r))
                .map(|r| {
                    let sim = sims.get(&r.rid).copied().unwrap_or(0.0).max(0.0);
                    let kw = keyword.get(&r.rid).copied().unwrap_or(0.0);
                    (r.rid, vector * sim + (1.0 - vector) * kw + boost(r))
                })
                .collect()
        }
        Fusion::Rrf => {
            let rank_of = |scores: Vec<(i64, f32)>| -> HashMap<i64, usize> {
                let mut s = scores;
                s.sort_by(|a, b| b.1.total_cmp(&a.1).then(b.0.cmp(&a.0)));
                s.into_iter()
                    .enumerate()
                    .map(|(i, (rid, _))| (rid, i))
                    .collect()
            };
            let kw_rank = rank_of(keyword.iter().map(|(k, v)| (*k, *v)).collect());
            let vec_rank = rank_of(
                sims.iter()
                    .filter(|(_, s)| **s >= MIN_SIMILARITY)
                    .map(|(k, v)| (*k, *v))
                    .collect(),
            );
            rows.iter()
                .filter(|r| relevant(r))
                .map(|r| {
                    let part = |ranks: &HashMap<i64, usize>| {
                        ranks.get(&r.rid).map_or(0.0, |i| 1.0 / (60.0 + *i as f32))
                    };
                    (r.rid, part(&kw_rank) + part(&vec_rank))
                })
                .collect()
        }
    }
}

/// Days since the epoch of a wire timestamp (0 when unparsable).
fn days(ts: &str) -> f32 {
    mesh_core::timestamp::parse(ts)
        .map(|t| t.timestamp() as f32 / 86_400.0)
        .unwrap_or(0.0)
}

/// The keyword terms of a query: whitespace-separated words, each also cut
/// where Japanese script changes (kanji, katakana, Latin runs; hiragana,
/// mostly particles and endings, is dropped), so that a Japanese sentence
/// written without spaces still yields words. Lowercased, deduplicated,
/// punctuation trimmed.
pub fn keyword_terms(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |t: &str| {
        let t = t
            .trim_matches(|c: char| !c.is_alphanumeric())
            .to_lowercase();
        if !t.is_empty() && !out.contains(&t) {
            out.push(t);
        }
    };
    for word in text.split_whitespace() {
        let runs = script_runs(word);
        if runs.len() <= 1 {
            push(word);
        } else {
            for run in runs {
                push(run);
            }
        }
    }
    out
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Script {
    Kanji,
    Katakana,
    Hiragana,
    Other,
}

fn script(c: char) -> Script {
    match c {
        '\u{3040}'..='\u{309F}' => Script::Hiragana,
        '\u{30A0}'..='\u{30FF}' | '\u{FF66}'..='\u{FF9F}' => Script::Katakana,
        '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}' | '\u{F900}'..='\u{FAFF}' => {
            Script::Kanji
        }
        _ => Script::Other,
    }
}

/// Maximal runs of one script, hiragana and punctuation-only runs dropped.
fn script_runs(word: &str) -> Vec<&str> {
    let mut runs = Vec::new();
    let mut start = 0;
    let mut current: Option<Script> = None;
    for (i, c) in word.char_indices() {
        let s = script(c);
        if current.is_some_and(|cur| cur != s) {
            runs.push((current, &word[start..i]));
            start = i;
        }
        current = Some(s);
    }
    runs.push((current, &word[start..]));
    runs.into_iter()
        .filter(|(s, run)| *s != Some(Script::Hiragana) && run.chars().any(char::is_alphanumeric))
        .map(|(_, run)| run)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn japanese_words_are_cut_where_the_script_changes() {
        assert_eq!(
            keyword_terms("メモリ不足でアップロードが失敗する"),
            vec!["メモリ", "不足", "アップロード", "失敗"]
        );
        assert_eq!(
            keyword_terms("Fix the OOM, the oom!"),
            vec!["fix", "the", "oom"]
        );
        assert_eq!(
            keyword_terms("DATABASE_URL が空"),
            vec!["database_url", "空"]
        );
    }

    #[test]
    fn the_fusion_knob_parses_or_falls_back() {
        assert_eq!(Fusion::from_env_value(Some("rrf")), Fusion::Rrf);
        assert_eq!(
            Fusion::from_env_value(Some("weighted:0.3")),
            Fusion::Weighted { vector: 0.3 }
        );
        assert_eq!(
            Fusion::from_env_value(Some("weighted:7")),
            Fusion::default()
        );
        assert_eq!(Fusion::from_env_value(None), Fusion::default());
    }

    fn row(rid: i64, importance: i64, v: Option<Vec<f32>>) -> Row_ {
        Row_ {
            rid,
            importance,
            created_at: "2026-01-01T00:00:00.000000+00:00".into(),
            vector: v.map(|v| {
                let (s, b) = vectors::quantize(&v);
                (s, b)
            }),
        }
    }

    #[test]
    fn relevance_outranks_importance() {
        let mut a = vec![0.0f32; vectors::DIM];
        a[0] = 1.0;
        let mut b = vec![0.0f32; vectors::DIM];
        b[1] = 1.0;
        let rows = vec![row(1, 5, Some(b.clone())), row(2, 1, Some(a.clone()))];
        let kw: HashMap<i64, f32> = [(1, 0.2), (2, 0.2)].into();
        let mut fused = fuse(
            &rows,
            Some(&a),
            &kw,
            Fusion::default(),
            "2026-01-02T00:00:00.000000+00:00",
        );
        fused.sort_by(|x, y| y.1.total_cmp(&x.1));
        assert_eq!(fused[0].0, 2, "{fused:?}");
        // A row with no evidence at all is not a result.
        let none: HashMap<i64, f32> = HashMap::new();
        let fused = fuse(
            &rows,
            Some(&a),
            &none,
            Fusion::Rrf,
            "2026-01-02T00:00:00.000000+00:00",
        );
        assert_eq!(fused.iter().map(|f| f.0).collect::<Vec<_>>(), vec![2]);
    }
}
