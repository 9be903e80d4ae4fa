//! Vectors beside the index: one quantised embedding per observation and
//! model, keyed by observation id so that an index rebuild keeps them.
//!
//! A vector is stored as 512 signed bytes and one scale (the largest
//! absolute component over 127): 512 bytes a row, cosine error well under
//! 0.01, and a dot product is a loop over bytes (see `index::vector_cache`).

use sqlx::{Row, SqlitePool};

use super::{Encoder, MODEL_ID};
use crate::error::{DbContext, Result};

/// Dimensions of a vector.
pub const DIM: usize = 512;

/// Rows embedded per transaction while backfilling.
const BATCH: usize = 32;

/// The vector table (created with the index).
pub(crate) const TABLE: &str = r"
CREATE TABLE IF NOT EXISTS ix_vec (
    -- Grows with every write, so a reader holding vectors in memory loads
    -- only what is newer than what it has.
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    observation_id TEXT NOT NULL,
    model          TEXT NOT NULL,
    scale          REAL NOT NULL,
    vec            BLOB NOT NULL,
    UNIQUE (observation_id, model)
);
";

/// Progress of a backfill: rows done and rows that were missing at start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EmbedProgress {
    /// Rows embedded so far.
    pub done: u64,
    /// Rows without a vector when the backfill started.
    pub total: u64,
}

/// The text a note is embedded from: what a searcher would describe.
pub(crate) fn note_text(subject: &str, summary: &str, content: &str, tags: &str) -> String {
    let mut text = String::with_capacity(subject.len() + summary.len() + content.len() + 8);
    for part in [subject, summary, content, tags] {
        let part = part.trim();
        if !part.is_empty() {
            if !text.is_empty() {
                text.push_str(". ");
            }
            text.push_str(part);
        }
    }
    text
}

/// Quantise a unit vector: (scale, bytes).
pub(crate) fn quantize(v: &[f32]) -> (f32, Vec<u8>) {
    let max = v.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
    let bytes = v
        .iter()
        .map(|x| ((x / scale).round().clamp(-127.0, 127.0) as i8).to_le_bytes()[0])
        .collect();
    (scale, bytes)
}

/// Live rows with no vector of the current model, at most `limit`:
/// (observation id, text).
async fn missing(pool: &SqlitePool, limit: usize) -> Result<Vec<(String, String)>> {
    let rows = sqlx::query(
        "SELECT o.observation_id, o.subject, o.summary, f.content, f.tags FROM ix_obs o \
         JOIN ix_fts f ON f.rowid = o.rid \
         LEFT JOIN ix_vec v ON v.observation_id = o.observation_id AND v.model = ? \
         WHERE v.observation_id IS NULL AND o.deleted_at IS NULL AND o.shadowed_at IS NULL \
         ORDER BY o.created_at DESC LIMIT ?",
    )
    .bind(MODEL_ID)
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .fetch_all(pool)
    .await
    .ctx("listing rows without vectors")?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let text = note_text(r.get(1), r.get(2), r.get(3), r.get(4));
            (r.get::<String, _>(0), text)
        })
        .collect())
}

/// Live rows without a vector of the current model.
pub(crate) async fn count_missing(pool: &SqlitePool) -> Result<u64> {
    let n: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM ix_obs o \
         LEFT JOIN ix_vec v ON v.observation_id = o.observation_id AND v.model = ? \
         WHERE v.observation_id IS NULL AND o.deleted_at IS NULL AND o.shadowed_at IS NULL",
    )
    .bind(MODEL_ID)
    .fetch_one(pool)
    .await
    .ctx("counting rows without vectors")?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Rows holding a vector of the current model.
pub(crate) async fn count_stored(pool: &SqlitePool) -> Result<u64> {
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM ix_vec WHERE model = ?")
        .bind(MODEL_ID)
        .fetch_one(pool)
        .await
        .ctx("counting vectors")?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Embed live rows that have no vector yet, newest first, at most `limit`
/// (all when `None`), calling `progress` after each batch.
pub(crate) async fn embed_missing(
    pool: &SqlitePool,
    encoder: &Encoder,
    limit: Option<u64>,
    progress: &mut (dyn FnMut(EmbedProgress) + Send),
) -> Result<u64> {
    let total = count_missing(pool).await?;
    let total = limit.map_or(total, |l| l.min(total));
    let mut state = EmbedProgress { done: 0, total };
    while state.done < total {
        let want = usize::try_from(total - state.done)
            .unwrap_or(BATCH)
            .min(BATCH);
        let rows = missing(pool, want).await?;
        if rows.is_empty() {
            break;
        }
        let mut vectors = Vec::with_capacity(rows.len());
        for (id, text) in &rows {
            vectors.push((id.as_str(), encoder.encode(text)?));
        }
        store(pool, &vectors).await?;
        state.done += rows.len() as u64;
        progress(state);
    }
    Ok(state.done)
}

/// Background embedding for a long-running process (the daemon's index
/// keeper): each [`Backfiller::tick`] embeds a bounded batch of rows that
/// have no vector, once a model is installed.
pub(crate) struct Backfiller {
    dir: std::path::PathBuf,
    encoder: Option<Encoder>,
    warned: bool,
}

impl Backfiller {
    /// Rows embedded per tick: a few hundred milliseconds of work.
    const PER_TICK: u64 = 64;

    pub(crate) fn new(dir: std::path::PathBuf) -> Self {
        Self {
            dir,
            encoder: None,
            warned: false,
        }
    }

    /// Embed up to a batch of missing rows; returns how many.
    pub(crate) async fn tick(&mut self, pool: &SqlitePool) -> u64 {
        if self.encoder.is_none() {
            if !matches!(
                super::status(&self.dir, false),
                super::ModelStatus::Installed { .. }
            ) {
                return 0;
            }
            match super::load(&self.dir) {
                Ok(e) => self.encoder = Some(e),
                Err(e) => {
                    if !self.warned {
                        tracing::warn!("hybrid search vectors are not being computed: {e}");
                        self.warned = true;
                    }
                    return 0;
                }
            }
        }
        let Some(encoder) = &self.encoder else {
            return 0;
        };
        match embed_missing(pool, encoder, Some(Self::PER_TICK), &mut |_| {}).await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!("could not embed new observations: {e}");
                0
            }
        }
    }
}

/// Store vectors for `rows`, replacing earlier ones of the same model.
pub(crate) async fn store(pool: &SqlitePool, rows: &[(&str, Vec<f32>)]) -> Result<()> {
    let mut tx = crate::db::begin_fresh(pool, "BEGIN")
        .await
        .ctx("storing vectors")?;
    for (id, v) in rows {
        let (scale, bytes) = quantize(v);
        sqlx::query(
            "INSERT OR REPLACE INTO ix_vec(observation_id, model, scale, vec) VALUES (?, ?, ?, ?)",
        )
        .bind(*id)
        .bind(MODEL_ID)
        .bind(f64::from(scale))
        .bind(bytes)
        .execute(&mut *tx)
        .await
        .ctx("storing a vector")?;
    }
    tx.commit().await.ctx("storing vectors")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantising_keeps_each_component_within_half_a_step() {
        let v: Vec<f32> = (0..DIM)
            .map(|i| ((i * 7 % 13) as f32 - 6.0) / 40.0)
            .collect();
        let (scale, bytes) = quantize(&v);
        assert_eq!(bytes.len(), DIM);
        for (x, b) in v.iter().zip(&bytes) {
            let back = f32::from(i8::from_le_bytes([*b])) * scale;
            assert!((back - x).abs() <= scale / 2.0 + 1e-6);
        }
        let (_, zero) = quantize(&[0.0; 4]);
        assert_eq!(zero, vec![0; 4]);
    }

    #[test]
    fn note_text_skips_empty_parts() {
        assert_eq!(note_text("a", " ", "c", ""), "a. c");
    }
}
