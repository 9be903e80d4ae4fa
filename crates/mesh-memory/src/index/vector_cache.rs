//! The vectors of `ix_vec`, held in memory by a long-running reader (the
//! MCP server, the daemon) so that a hybrid search scores every row without
//! reading them back. Refreshing loads only rows newer than the last seen
//! `seq`; a vector replaced under the same id arrives with a new `seq`.

use std::collections::HashMap;
use std::sync::Mutex;

use sqlx::{Row, SqlitePool};

use crate::embed::{MODEL_ID, vectors::DIM};
use crate::error::{DbContext, Result};

/// One stored vector.
struct Entry {
    id: String,
    scale: f32,
    vec: Box<[i8]>,
}

#[derive(Default)]
struct State {
    seq: i64,
    entries: Vec<Entry>,
    by_id: HashMap<String, usize>,
}

/// Vectors of the current model, by observation id.
#[derive(Default)]
pub(crate) struct VectorCache {
    state: Mutex<State>,
}

impl std::fmt::Debug for VectorCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VectorCache").finish_non_exhaustive()
    }
}

/// A query vector quantised like the stored ones.
pub(crate) struct QueryVector {
    scale: f32,
    vec: Vec<i8>,
}

impl QueryVector {
    pub(crate) fn new(v: &[f32]) -> Self {
        let max = v.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
        Self {
            scale,
            vec: v
                .iter()
                .map(|x| (x / scale).round().clamp(-127.0, 127.0) as i8)
                .collect(),
        }
    }

    /// Cosine with a stored unit vector (both are unit length).
    fn similarity(&self, scale: f32, stored: &[i8]) -> f32 {
        // Integer products in i32: the compiler vectorises this loop.
        let dot: i32 = self
            .vec
            .iter()
            .zip(stored)
            .map(|(a, b)| i32::from(*a) * i32::from(*b))
            .sum();
        dot as f32 * self.scale * scale
    }
}

impl VectorCache {
    /// Load vectors stored since the last refresh.
    pub(crate) async fn refresh(&self, pool: &SqlitePool) -> Result<()> {
        let since = self.lock().seq;
        let rows = sqlx::query(
            "SELECT seq, observation_id, scale, vec FROM ix_vec WHERE model = ? AND seq > ? ORDER BY seq",
        )
        .bind(MODEL_ID)
        .bind(since)
        .fetch_all(pool)
        .await
        .ctx("reading vectors")?;
        if rows.is_empty() {
            return Ok(());
        }
        let mut state = self.lock();
        for r in rows {
            let seq: i64 = r.get(0);
            let id: String = r.get(1);
            let scale = r.get::<f64, _>(2) as f32;
            let bytes: Vec<u8> = r.get(3);
            state.seq = state.seq.max(seq);
            if bytes.len() != DIM {
                continue;
            }
            let vec: Box<[i8]> = bytes.iter().map(|b| i8::from_le_bytes([*b])).collect();
            let entry = Entry {
                id: id.clone(),
                scale,
                vec,
            };
            match state.by_id.get(&id).copied() {
                Some(i) => state.entries[i] = entry,
                None => {
                    let i = state.entries.len();
                    state.entries.push(entry);
                    state.by_id.insert(id, i);
                }
            }
        }
        Ok(())
    }

    /// The `k` held vectors most similar to `query`, restricted to `only`
    /// when given: (observation id, similarity), best first.
    pub(crate) fn top(
        &self,
        query: &QueryVector,
        k: usize,
        only: Option<&std::collections::HashSet<String>>,
    ) -> Vec<(String, f32)> {
        let state = self.lock();
        let mut scored: Vec<(usize, f32)> = state
            .entries
            .iter()
            .enumerate()
            .filter(|(_, e)| only.is_none_or(|set| set.contains(&e.id)))
            .map(|(i, e)| (i, query.similarity(e.scale, &e.vec)))
            .collect();
        if scored.len() > k && k > 0 {
            scored.select_nth_unstable_by(k - 1, |a, b| b.1.total_cmp(&a.1));
            scored.truncate(k);
        }
        scored.sort_by(|a, b| b.1.total_cmp(&a.1));
        scored
            .into_iter()
            .map(|(i, sim)| (state.entries[i].id.clone(), sim))
            .collect()
    }

    /// Similarity of `query` to the vector of `id`, if one is held.
    pub(crate) fn similarity_of(&self, query: &QueryVector, id: &str) -> Option<f32> {
        let state = self.lock();
        let e = &state.entries[*state.by_id.get(id)?];
        Some(query.similarity(e.scale, &e.vec))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantised_similarity_stays_close_to_the_exact_cosine() {
        let a: Vec<f32> = (0..DIM)
            .map(|i| ((i * 7 % 13) as f32 - 6.0) / 40.0)
            .collect();
        let b: Vec<f32> = (0..DIM)
            .map(|i| ((i * 5 % 11) as f32 - 5.0) / 35.0)
            .collect();
        let exact: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        let qa = QueryVector::new(&a);
        let qb = QueryVector::new(&b);
        let got = qa.similarity(qb.scale, &qb.vec);
        assert!(
            (got - exact).abs() < 0.02 * exact.abs().max(1.0),
            "{got} vs {exact}"
        );
    }
}
