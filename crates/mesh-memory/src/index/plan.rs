//! Turning a [`SearchQuery`] into one SQL statement. Pure: no I/O, so the
//! search semantics are unit-tested in microseconds.
//!
//! - Terms of three or more characters go to the FTS5 trigram table as
//!   quoted phrases; shorter ones (which trigrams cannot match) become LIKE
//!   filters over the same text fields.
//! - With terms, results rank by importance, then bm25, then recency. A
//!   browse (no terms) and cursor paging order by recency alone.
//! - Tombstoned, shadowed, expired and superseded rows are hidden unless
//!   the query asks for them.

use crate::query::SearchQuery;

/// A value bound to a `?` placeholder, in text order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bind {
    /// Text value.
    Text(String),
    /// Integer value.
    Int(i64),
}

/// One statement and its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// SQL selecting [`PAYLOAD`] only.
    pub sql: String,
    /// Parameters in placeholder order.
    pub binds: Vec<Bind>,
}

/// A single-pass mode (AND_OR is two passes of these).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    /// All terms must match.
    And,
    /// Any term may match.
    Or,
}

/// Terms split by which engine can match them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Terms<'a> {
    /// Three or more characters: FTS5 trigram.
    pub fts: Vec<&'a str>,
    /// Fewer than three characters: LIKE.
    pub like: Vec<&'a str>,
}

/// Split the query's terms by length in characters.
pub fn split_terms(q: &SearchQuery) -> Terms<'_> {
    let mut terms = Terms::default();
    for t in q.terms() {
        if t.chars().count() >= 3 {
            terms.fts.push(t);
        } else {
            terms.like.push(t);
        }
    }
    terms
}

/// Quote `term` as an FTS5 phrase.
pub fn fts_phrase(term: &str) -> String {
    format!("\"{}\"", term.replace('"', "\"\""))
}

/// `%term%` with LIKE's wildcards escaped by `\`.
pub fn like_pattern(term: &str) -> String {
    let mut p = String::with_capacity(term.len() + 2);
    p.push('%');
    for c in term.chars() {
        if matches!(c, '\\' | '%' | '_') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

const LIKE_PREDICATE: &str = "EXISTS (SELECT 1 FROM ix_fts l WHERE l.rowid = o.rid AND \
     (l.content || ' ' || l.subject || ' ' || l.summary || ' ' || l.tags || ' ' || l.project) \
     LIKE ? ESCAPE '\\')";

const ORDER_TAIL: &str = "o.created_at DESC, o.observation_id DESC";

/// The selected column: the stored payload, from the row store.
pub const PAYLOAD: &str = "l.payload_json";
const JOIN_PAYLOAD: &str = "JOIN local_obs l ON l.observation_id = o.observation_id";

/// Build the statement for one pass. `fts_as_like` turns every term into a
/// LIKE filter (the fallback when FTS5 rejects a query).
pub fn plan(q: &SearchQuery, pass: Pass, limit: usize, now: &str, fts_as_like: bool) -> Plan {
    let mut filters: Vec<String> = Vec::new();
    let mut binds: Vec<Bind> = Vec::new();
    base_filters(q, now, &mut filters, &mut binds);

    let mut terms = split_terms(q);
    if fts_as_like {
        terms.like.append(&mut terms.fts);
    }
    let ranked = !(terms.fts.is_empty() && terms.like.is_empty()) && q.cursor.is_none();
    let importance = if ranked { "o.importance DESC, " } else { "" };
    let limit = Bind::Int(i64::try_from(limit.max(1)).unwrap_or(i64::MAX));

    let joiner = match pass {
        Pass::And => " AND ",
        Pass::Or => " OR ",
    };
    let match_expr = (!terms.fts.is_empty()).then(|| {
        terms
            .fts
            .iter()
            .map(|t| fts_phrase(t))
            .collect::<Vec<_>>()
            .join(joiner)
    });
    let like_binds: Vec<Bind> = terms
        .like
        .iter()
        .map(|t| Bind::Text(like_pattern(t)))
        .collect();

    match match_expr {
        // Every term filters; FTS ranks.
        Some(m) if pass == Pass::And || like_binds.is_empty() => {
            if pass == Pass::And {
                filters.extend(std::iter::repeat_n(
                    LIKE_PREDICATE.to_owned(),
                    like_binds.len(),
                ));
                binds.extend(like_binds);
            }
            let mut all = vec![Bind::Text(m)];
            all.extend(binds);
            all.push(limit);
            Plan {
                // MATERIALIZED and CROSS JOIN keep the full-text match as the
                // outer loop: otherwise SQLite may walk a filter's index and
                // run the MATCH once per row.
                sql: format!(
                    "WITH m AS MATERIALIZED (SELECT rowid AS rid, rank FROM ix_fts WHERE ix_fts MATCH ?) \
                     SELECT {PAYLOAD} FROM m CROSS JOIN ix_obs o ON o.rid = m.rid {JOIN_PAYLOAD}{} \
                     ORDER BY {importance}m.rank, {ORDER_TAIL} LIMIT ?",
                    where_clause(&filters)
                ),
                binds: all,
            }
        }
        // OR of FTS phrases and LIKE terms: FTS hits rank first.
        Some(m) => {
            let mut any = vec!["m.rid IS NOT NULL".to_owned()];
            any.extend(std::iter::repeat_n(
                LIKE_PREDICATE.to_owned(),
                like_binds.len(),
            ));
            filters.push(format!("({})", any.join(" OR ")));
            let mut all = vec![Bind::Text(m)];
            all.extend(binds);
            all.extend(like_binds);
            all.push(limit);
            Plan {
                sql: format!(
                    "WITH m AS MATERIALIZED (SELECT rowid AS rid, rank FROM ix_fts WHERE ix_fts MATCH ?) \
                     SELECT {PAYLOAD} FROM ix_obs o LEFT JOIN m ON m.rid = o.rid {JOIN_PAYLOAD}{} \
                     ORDER BY (m.rank IS NULL), {importance}m.rank, {ORDER_TAIL} LIMIT ?",
                    where_clause(&filters)
                ),
                binds: all,
            }
        }
        // No FTS terms: LIKE terms (if any) filter, recency orders.
        None => {
            if !like_binds.is_empty() {
                let preds = vec![LIKE_PREDICATE; like_binds.len()];
                filters.push(format!("({})", preds.join(joiner)));
                binds.extend(like_binds);
            }
            binds.push(limit);
            Plan {
                sql: format!(
                    "SELECT {PAYLOAD} FROM ix_obs o {JOIN_PAYLOAD}{} ORDER BY {importance}{ORDER_TAIL} LIMIT ?",
                    where_clause(&filters)
                ),
                binds,
            }
        }
    }
}

/// The ids of every row the query's filters admit, text aside (hybrid
/// search scores only these when a filter narrows the search).
pub fn eligible_ids(q: &SearchQuery, now: &str) -> Plan {
    let mut filters: Vec<String> = Vec::new();
    let mut binds = Vec::new();
    base_filters(q, now, &mut filters, &mut binds);
    Plan {
        sql: format!(
            "SELECT o.observation_id FROM ix_obs o{}",
            where_clause(&filters)
        ),
        binds,
    }
}

/// Of the observations `ids`, those the query's filters admit, with what
/// hybrid ranking reads: rid, id, importance, created_at and the text.
pub fn admitted(q: &SearchQuery, now: &str, ids: &[String]) -> Plan {
    let mut filters: Vec<String> = Vec::new();
    let mut binds = Vec::new();
    base_filters(q, now, &mut filters, &mut binds);
    filters.push(format!(
        "o.observation_id IN ({})",
        vec!["?"; ids.len().max(1)].join(", ")
    ));
    binds.extend(ids.iter().map(|id| Bind::Text(id.clone())));
    if ids.is_empty() {
        binds.push(Bind::Text(String::new()));
    }
    Plan {
        sql: format!(
            "SELECT o.rid, o.observation_id, o.importance, o.created_at, o.subject, o.summary, \
             f.content, f.tags FROM ix_obs o JOIN ix_fts f ON f.rowid = o.rid{}",
            where_clause(&filters)
        ),
        binds,
    }
}

/// The internal limit of the OR pass of AND_OR.
pub fn or_pass_limit(limit: usize) -> usize {
    (limit * 2).max(limit + 20).min(crate::query::MAX_SEARCH)
}

fn where_clause(filters: &[String]) -> String {
    if filters.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", filters.join(" AND "))
    }
}

fn push_in(column: &str, values: &[String], filters: &mut Vec<String>, binds: &mut Vec<Bind>) {
    let values: Vec<&String> = values.iter().filter(|v| !v.is_empty()).collect();
    if values.is_empty() {
        return;
    }
    filters.push(format!(
        "{column} IN ({})",
        vec!["?"; values.len()].join(", ")
    ));
    binds.extend(values.into_iter().map(|v| Bind::Text(v.clone())));
}

fn base_filters(q: &SearchQuery, now: &str, filters: &mut Vec<String>, binds: &mut Vec<Bind>) {
    let not_expired =
        |alias: &str| format!("({alias}.expires_at IS NULL OR {alias}.expires_at > ?)");
    if !q.include_hidden {
        filters.push("o.deleted_at IS NULL AND o.shadowed_at IS NULL".to_owned());
    }
    if !q.include_expired {
        filters.push(not_expired("o"));
        binds.push(Bind::Text(now.to_owned()));
    }
    if !q.include_superseded {
        // Hidden only while a superseder is itself live: deleting the newer
        // entry brings the older one back. An expired superseder does not
        // count, or both entries would vanish.
        let mut live = "sup.deleted_at IS NULL AND sup.shadowed_at IS NULL".to_owned();
        if !q.include_expired {
            live.push_str(" AND ");
            live.push_str(&not_expired("sup"));
            binds.push(Bind::Text(now.to_owned()));
        }
        filters.push(format!(
            "NOT EXISTS (SELECT 1 FROM ix_supersede s JOIN ix_obs sup ON sup.observation_id = s.superseder_id \
             WHERE s.target_id = o.observation_id AND {live})"
        ));
    }
    push_in("o.project", &q.projects, filters, binds);
    for (column, value) in [
        ("o.agent_family", &q.agent_family),
        ("o.client_id", &q.client_id),
        ("o.pc_id", &q.pc_id),
        ("o.session_id", &q.session_id),
    ] {
        if !value.is_empty() {
            filters.push(format!("{column} = ?"));
            binds.push(Bind::Text(value.clone()));
        }
    }
    let types: Vec<String> = q
        .memory_types
        .iter()
        .map(|t| t.as_str().to_owned())
        .collect();
    push_in("o.memory_type", &types, filters, binds);
    for (kind, values) in [("f", &q.source_files), ("r", &q.references)] {
        let values: Vec<&String> = values.iter().filter(|v| !v.is_empty()).collect();
        if values.is_empty() {
            continue;
        }
        filters.push(format!(
            "o.rid IN (SELECT rid FROM ix_link WHERE kind = '{kind}' AND value IN ({}))",
            vec!["?"; values.len()].join(", ")
        ));
        binds.extend(values.into_iter().map(|v| Bind::Text(v.clone())));
    }
    if let Some(since) = q.since.as_ref().filter(|s| !s.is_empty()) {
        filters.push("o.created_at >= ?".to_owned());
        binds.push(Bind::Text(since.clone()));
    }
    if let Some(c) = &q.cursor {
        filters
            .push("(o.created_at < ? OR (o.created_at = ? AND o.observation_id < ?))".to_owned());
        binds.push(Bind::Text(c.created_at.clone()));
        binds.push(Bind::Text(c.created_at.clone()));
        binds.push(Bind::Text(c.observation_id.clone()));
    } else if let Some(until) = q.until.as_ref().filter(|s| !s.is_empty()) {
        filters.push("o.created_at <= ?".to_owned());
        binds.push(Bind::Text(until.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placeholder_count(sql: &str) -> usize {
        sql.matches('?').count()
    }
    use crate::query::Cursor;

    const NOW: &str = "2026-11-23T00:00:00.000000Z";

    fn check(p: &Plan) {
        assert_eq!(placeholder_count(&p.sql), p.binds.len(), "{}", p.sql);
    }

    #[test]
    fn long_terms_use_fts_and_short_terms_use_like() {
        let q = SearchQuery::text("trigram 検索 db");
        let t = split_terms(&q);
        assert_eq!(t.fts, vec!["trigram"]);
        assert_eq!(t.like, vec!["検索", "db"]);
        let p = plan(&q, Pass::And, 50, NOW, false);
        check(&p);
        assert!(p.sql.contains("MATCH ?"));
        assert_eq!(p.binds[0], Bind::Text("\"trigram\"".to_owned()));
        assert!(p.binds.contains(&Bind::Text("%検索%".to_owned())));
        assert!(
            p.sql
                .contains("ORDER BY o.importance DESC, m.rank, o.created_at DESC")
        );
    }

    #[test]
    fn and_joins_phrases_with_and_or_with_or() {
        let q = SearchQuery::text("alpha beta");
        assert_eq!(
            plan(&q, Pass::And, 5, NOW, false).binds[0],
            Bind::Text("\"alpha\" AND \"beta\"".to_owned())
        );
        assert_eq!(
            plan(&q, Pass::Or, 5, NOW, false).binds[0],
            Bind::Text("\"alpha\" OR \"beta\"".to_owned())
        );
    }

    #[test]
    fn or_with_short_terms_left_joins_so_like_only_rows_count() {
        let q = SearchQuery::text("alpha ab");
        let p = plan(&q, Pass::Or, 5, NOW, false);
        check(&p);
        assert!(p.sql.contains("LEFT JOIN m"));
        assert!(
            p.sql
                .contains("ORDER BY (m.rank IS NULL), o.importance DESC")
        );
    }

    #[test]
    fn browse_orders_by_recency_only() {
        let p = plan(&SearchQuery::browse(), Pass::And, 50, NOW, false);
        check(&p);
        assert!(!p.sql.contains("MATCH"));
        assert!(
            p.sql
                .ends_with("ORDER BY o.created_at DESC, o.observation_id DESC LIMIT ?")
        );
    }

    #[test]
    fn cursor_paging_never_ranks_by_importance() {
        let q = SearchQuery {
            text: "ab".to_owned(),
            cursor: Some(Cursor {
                created_at: NOW.to_owned(),
                observation_id: "f".repeat(32),
            }),
            ..SearchQuery::default()
        };
        let p = plan(&q, Pass::And, 50, NOW, false);
        check(&p);
        assert!(!p.sql.contains("importance DESC"));
        assert!(p.sql.contains("o.observation_id < ?"));
    }

    #[test]
    fn hidden_states_are_filtered_unless_asked_for() {
        let p = plan(&SearchQuery::browse(), Pass::And, 1, NOW, false);
        assert!(
            p.sql
                .contains("o.deleted_at IS NULL AND o.shadowed_at IS NULL")
        );
        assert!(p.sql.contains("o.expires_at > ?"));
        assert!(p.sql.contains("NOT EXISTS (SELECT 1 FROM ix_supersede"));
        let q = SearchQuery {
            include_hidden: true,
            include_expired: true,
            include_superseded: true,
            ..SearchQuery::default()
        };
        let p = plan(&q, Pass::And, 1, NOW, false);
        check(&p);
        assert!(!p.sql.contains("WHERE"));
    }

    #[test]
    fn filters_bind_their_values() {
        let q = SearchQuery {
            projects: vec!["a".into(), String::new(), "b".into()],
            session_id: "s".into(),
            memory_types: vec![mesh_core::MemoryType::Decision],
            source_files: vec!["src/x.rs".into()],
            references: vec!["#1".into(), "#2".into()],
            since: Some(NOW.to_owned()),
            ..SearchQuery::default()
        };
        let p = plan(&q, Pass::And, 3, NOW, false);
        check(&p);
        assert!(p.sql.contains("o.project IN (?, ?)"));
        assert!(p.sql.contains("kind = 'r' AND value IN (?, ?)"));
        assert!(p.binds.contains(&Bind::Text("src/x.rs".into())));
    }

    #[test]
    fn like_wildcards_and_fts_quotes_are_escaped() {
        assert_eq!(like_pattern("5%_\\"), "%5\\%\\_\\\\%");
        assert_eq!(fts_phrase("say \"hi\""), "\"say \"\"hi\"\"\"");
    }

    #[test]
    fn fallback_turns_every_term_into_like() {
        let q = SearchQuery::text("alpha beta");
        let p = plan(&q, Pass::And, 5, NOW, true);
        check(&p);
        assert!(!p.sql.contains("MATCH"));
        assert_eq!(p.sql.matches("LIKE ?").count(), 2);
    }

    #[test]
    fn or_pass_limit_matches_the_reference() {
        assert_eq!(or_pass_limit(5), 25);
        assert_eq!(or_pass_limit(50), 100);
        assert_eq!(or_pass_limit(9_000), 10_000);
    }
}
