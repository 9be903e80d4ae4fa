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
use super::vector_cache::{QueryVector, VectorCache};
use super::{Index, arguments, parse_rows};
use crate::embed::Encoder;
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
/// Fewest candidates taken per phrasing before the filters are checked.
const CANDIDATES: usize = 100;
/// Rounds of widening the candidates when the filters reject too many.
const ROUNDS: usize = 3;
/// Fewest rows a term must be in to count as common.
const COMMON_TERM_ROWS: usize = 200;

/// The evidence one phrasing gathered before the filters were checked.
struct Phrasing {
    query: Option<QueryVector>,
    /// Long terms' summed IDF per observation id.
    hits: HashMap<String, f32>,
    /// IDF of every long term.
    long_weight: f32,
    /// Terms under three characters and common terms, matched on the
    /// candidates' text.
    short: Vec<String>,
    /// Candidates: (id, similarity when known).
    top: Vec<(String, Option<f32>)>,
}

/// A candidate the filters admitted.
struct Admitted {
    rid: i64,
    id: String,
    importance: i64,
    created_at: String,
    /// Lowercased subject, summary, content and tags.
    text: String,
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
        let limit = q.effective_limit();
        // A narrowing filter is applied first; visibility (tombstoned,
        // superseded, expired) is checked on the candidates.
        let only = match q.narrows() {
            true => Some(self.eligible_ids(q, &now).await?),
            false => None,
        };
        if encoder.is_some() {
            self.vectors.refresh(self.pool()).await?;
        }
        let total = self.live_rows().await?.max(1) as f32;
        let mut phrasings = Vec::new();
        for text in std::iter::once(&q.text).chain(&q.alternatives) {
            if text.trim().is_empty() {
                continue;
            }
            let query = match encoder {
                Some(e) => Some(QueryVector::new(&e.encode(text)?)),
                None => None,
            };
            phrasings.push(self.gather(text, query, total, only.as_ref()).await?);
        }
        let vector = match fusion {
            Fusion::Weighted { vector } if encoder.is_some() => vector,
            _ => 0.0,
        };
        let mut k = CANDIDATES.max(limit * 4);
        for round in 0..ROUNDS {
            let mut ids: Vec<String> = Vec::new();
            let mut capped = false;
            for p in &phrasings {
                let (ranked, with_evidence) = self.candidates(p, vector);
                capped |= with_evidence > k;
                ids.extend(ranked.into_iter().take(k));
            }
            ids.sort();
            ids.dedup();
            let admitted = self.admitted(q, &now, &ids).await?;
            // Widen only when the filters rejected candidates and more
            // candidates with evidence were left out.
            capped &= admitted.len() < ids.len();
            let created: HashMap<i64, &str> = admitted
                .iter()
                .map(|a| (a.rid, a.created_at.as_str()))
                .collect();
            let mut best: HashMap<i64, f32> = HashMap::new();
            for p in &phrasings {
                for (rid, score) in score(p, &admitted, total, fusion, vector, &self.vectors, &now)
                {
                    let slot = best.entry(rid).or_insert(f32::MIN);
                    *slot = slot.max(score);
                }
            }
            if best.len() < limit && capped && round + 1 < ROUNDS {
                k *= 4;
                continue;
            }
            let mut ranked: Vec<(i64, f32, &str)> = best
                .into_iter()
                .map(|(rid, s)| (rid, s, created.get(&rid).copied().unwrap_or("")))
                .collect();
            ranked.sort_by(|a, b| {
                b.1.total_cmp(&a.1)
                    .then_with(|| b.2.cmp(a.2))
                    .then_with(|| b.0.cmp(&a.0))
            });
            ranked.truncate(limit);
            return self
                .payloads(&ranked.iter().map(|r| r.0).collect::<Vec<_>>())
                .await;
        }
        Ok(Vec::new())
    }

    /// Long-term hits and nearest vectors for one phrasing.
    async fn gather(
        &self,
        text: &str,
        query: Option<QueryVector>,
        total: f32,
        only: Option<&HashSet<String>>,
    ) -> Result<Phrasing> {
        let mut hits: HashMap<String, f32> = HashMap::new();
        let mut long_weight = 0.0;
        let mut short = Vec::new();
        // A term in more than one row in twenty is common.
        let cap = COMMON_TERM_ROWS.max(total as usize / 20);
        for term in keyword_terms(text) {
            if term.chars().count() < 3 {
                short.push(term);
                continue;
            }
            let Some(mut ids) = self.term_hits(&term, cap).await? else {
                short.push(term);
                continue;
            };
            if let Some(only) = only {
                ids.retain(|id| only.contains(id));
            }
            let idf = (1.0 + total / (ids.len() as f32 + 0.5)).ln();
            long_weight += idf;
            for id in ids {
                *hits.entry(id).or_default() += idf;
            }
        }
        let mut top: Vec<(String, Option<f32>)> = Vec::new();
        if let Some(qv) = &query {
            let k = CANDIDATES * 4;
            top = self
                .vectors
                .top(qv, k, only)
                .into_iter()
                .map(|(id, sim)| (id, Some(sim)))
                .collect();
        }
        let known: HashSet<&String> = top.iter().map(|(id, _)| id).collect();
        let extra: Vec<(String, Option<f32>)> = hits
            .keys()
            .filter(|id| !known.contains(id))
            .map(|id| {
                (
                    id.clone(),
                    query
                        .as_ref()
                        .and_then(|qv| self.vectors.similarity_of(qv, id)),
                )
            })
            .collect();
        top.extend(extra);
        Ok(Phrasing {
            query,
            hits,
            long_weight,
            short,
            top,
        })
    }

    /// A phrasing's candidate ids, best first by what is known before the
    /// filters (similarity and rare-term evidence), and how many of them
    /// have evidence enough to be a result.
    fn candidates(&self, p: &Phrasing, vector: f32) -> (Vec<String>, usize) {
        let mut with_evidence = 0;
        let mut scored: Vec<(&String, f32)> = p
            .top
            .iter()
            .map(|(id, sim)| {
                let sim = sim.unwrap_or(0.0);
                let kw = p.hits.get(id).copied().unwrap_or(0.0) / p.long_weight.max(f32::EPSILON);
                if kw > 0.0 || sim >= MIN_SIMILARITY {
                    with_evidence += 1;
                }
                (id, vector * sim.max(0.0) + (1.0 - vector) * kw)
            })
            .collect();
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        let ids = scored.into_iter().map(|(id, _)| id.clone()).collect();
        (ids, with_evidence)
    }

    async fn eligible_ids(&self, q: &SearchQuery, now: &str) -> Result<HashSet<String>> {
        let p = plan::eligible_ids(q, now);
        let ids = sqlx::query_scalar_with::<_, String, _>(
            sqlx::AssertSqlSafe(p.sql.clone()),
            arguments(&p.binds)?,
        )
        .fetch_all(self.pool())
        .await
        .ctx("listing rows for hybrid search")?;
        Ok(ids.into_iter().collect())
    }

    async fn admitted(&self, q: &SearchQuery, now: &str, ids: &[String]) -> Result<Vec<Admitted>> {
        let mut out = Vec::with_capacity(ids.len());
        // SQLite binds at most 32,766 parameters a statement.
        for chunk in ids.chunks(10_000) {
            let p = plan::admitted(q, now, chunk);
            let rows = sqlx::query_with(sqlx::AssertSqlSafe(p.sql.clone()), arguments(&p.binds)?)
                .fetch_all(self.pool())
                .await
                .ctx("checking hybrid candidates")?;
            out.extend(rows.into_iter().map(|r| {
                let text = [4, 5, 6, 7]
                    .iter()
                    .map(|i| r.get::<String, _>(*i))
                    .collect::<Vec<_>>()
                    .join(" ")
                    .to_lowercase();
                Admitted {
                    rid: r.get(0),
                    id: r.get(1),
                    importance: r.get(2),
                    created_at: r.get(3),
                    text,
                }
            }));
        }
        Ok(out)
    }

    async fn live_rows(&self) -> Result<i64> {
        sqlx::query_scalar("SELECT count(*) FROM ix_obs")
            .fetch_one(self.pool())
            .await
            .ctx("counting rows")
    }

    /// Ids of the rows whose text contains `term` (three or more
    /// characters), or `None` when more than `cap` rows do: such a term says
    /// little, and is matched on the candidates' text instead.
    async fn term_hits(&self, term: &str, cap: usize) -> Result<Option<Vec<String>>> {
        match sqlx::query_scalar::<_, String>(
            "SELECT o.observation_id FROM ix_fts f JOIN ix_obs o ON o.rid = f.rowid \
             WHERE ix_fts MATCH ? LIMIT ?",
        )
        .bind(plan::fts_phrase(term))
        .bind(i64::try_from(cap + 1).unwrap_or(i64::MAX))
        .fetch_all(self.pool())
        .await
        {
            Ok(ids) if ids.len() > cap => Ok(None),
            Ok(ids) => Ok(Some(ids)),
            // FTS5 may refuse an odd phrase; that term then counts as absent.
            Err(e) => {
                tracing::debug!("term {term:?} skipped in hybrid search: {e}");
                Ok(Some(Vec::new()))
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

/// Fused scores of the admitted candidates with any evidence for one
/// phrasing: (rid, score).
fn score(
    p: &Phrasing,
    admitted: &[Admitted],
    total: f32,
    fusion: Fusion,
    vector: f32,
    vectors: &VectorCache,
    now: &str,
) -> Vec<(i64, f32)> {
    // Short terms: document frequency estimated from the candidates.
    let share = total / admitted.len().max(1) as f32;
    let short: Vec<(&String, f32)> = p
        .short
        .iter()
        .map(|t| {
            let df = admitted
                .iter()
                .filter(|a| a.text.contains(t.as_str()))
                .count() as f32;
            (t, (1.0 + total / (df * share + 0.5)).ln())
        })
        .collect();
    let weight = p.long_weight + short.iter().map(|(_, w)| w).sum::<f32>();
    let evidence: Vec<(&Admitted, f32, f32)> = admitted
        .iter()
        .map(|a| {
            let mut kw = p.hits.get(&a.id).copied().unwrap_or(0.0);
            kw += short
                .iter()
                .filter(|(t, _)| a.text.contains(t.as_str()))
                .map(|(_, w)| w)
                .sum::<f32>();
            let kw = if weight > 0.0 { kw / weight } else { 0.0 };
            let sim = p
                .query
                .as_ref()
                .and_then(|qv| vectors.similarity_of(qv, &a.id))
                .unwrap_or(0.0);
            (a, sim, kw)
        })
        .filter(|(_, sim, kw)| *kw > 0.0 || *sim >= MIN_SIMILARITY)
        .collect();
    let now_days = days(now);
    let boost = |a: &Admitted| {
        let importance = (a.importance.clamp(1, 5) - 3) as f32 / 2.0 * IMPORTANCE_BOOST;
        let age = (now_days - days(&a.created_at)).max(0.0);
        importance + RECENCY_BOOST * (-age / RECENCY_DAYS).exp()
    };
    match fusion {
        Fusion::Weighted { .. } => evidence
            .iter()
            .map(|(a, sim, kw)| {
                (
                    a.rid,
                    vector * sim.max(0.0) + (1.0 - vector) * kw + boost(a),
                )
            })
            .collect(),
        Fusion::Rrf => {
            let rank = |key: &dyn Fn(&(&Admitted, f32, f32)) -> f32| -> HashMap<i64, usize> {
                let mut v: Vec<&(&Admitted, f32, f32)> =
                    evidence.iter().filter(|e| key(e) > 0.0).collect();
                v.sort_by(|a, b| key(b).total_cmp(&key(a)).then(b.0.rid.cmp(&a.0.rid)));
                v.into_iter()
                    .enumerate()
                    .map(|(i, e)| (e.0.rid, i))
                    .collect()
            };
            let kw_rank = rank(&|e| e.2);
            let vec_rank = rank(&|e| if e.1 >= MIN_SIMILARITY { e.1 } else { 0.0 });
            evidence
                .iter()
                .map(|(a, _, _)| {
                    let part = |r: &HashMap<i64, usize>| {
                        r.get(&a.rid).map_or(0.0, |i| 1.0 / (60.0 + *i as f32))
                    };
                    (a.rid, part(&kw_rank) + part(&vec_rank))
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
        if word.chars().all(|c| script(c) == Script::Other) {
            push(word);
        } else {
            for run in script_runs(word) {
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

    fn admitted(rid: i64, importance: i64, text: &str) -> Admitted {
        Admitted {
            rid,
            id: format!("{rid:032x}"),
            importance,
            created_at: "2026-01-01T00:00:00.000000+00:00".into(),
            text: text.into(),
        }
    }

    #[test]
    fn relevance_outranks_importance_and_rows_without_evidence_are_dropped() {
        let p = Phrasing {
            query: None,
            hits: [(format!("{:032x}", 1), 1.0), (format!("{:032x}", 2), 2.0)].into(),
            long_weight: 2.0,
            short: vec!["db".into()],
            top: Vec::new(),
        };
        let rows = vec![
            admitted(1, 5, "half the words"),
            admitted(2, 1, "every word, db included"),
            admitted(3, 5, "nothing relevant"),
        ];
        let cache = VectorCache::default();
        let now = "2026-01-02T00:00:00.000000+00:00";
        let mut scored = score(&p, &rows, 100.0, Fusion::default(), 0.0, &cache, now);
        scored.sort_by(|a, b| b.1.total_cmp(&a.1));
        assert_eq!(scored.iter().map(|s| s.0).collect::<Vec<_>>(), vec![2, 1]);
        let rrf = score(&p, &rows, 100.0, Fusion::Rrf, 0.0, &cache, now);
        assert_eq!(rrf.len(), 2);
    }
}
