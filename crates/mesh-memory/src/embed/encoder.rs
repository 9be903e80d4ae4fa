//! The forward pass of Universal Sentence Encoder multilingual v3: token
//! embeddings, three n-gram convolution branches (orders 2, 3 and 5),
//! a length-normalised sum over tokens and a small residual head, giving
//! one L2-normalised 512-dimensional vector per text.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use ndarray::{Array1, Array2, Axis, Slice};

use super::EmbedError;
use super::sentencepiece::Tokenizer;
use super::weights::{self, CHUNKS, CNN_DIM, EMB_DIM, FEAT_DIM, TABLE_ROWS};

/// Characters of a text the encoder reads; the rest adds cost and little
/// meaning to a note's vector.
const MAX_CHARS: usize = 2_000;

/// One n-gram branch: a window of `order` tokens starting `left` before
/// the current one, two convolution layers with residuals.
struct Branch {
    order: usize,
    left: usize,
    proj: Array2<f32>,
    proj_b: Array1<f32>,
    w1: Array2<f32>,
    b1: Array1<f32>,
    w2: Array2<f32>,
    b2: Array1<f32>,
}

/// A loaded encoder. Loading reads about 14 MB of dense weights and the
/// tokenizer; the 65 MB embedding table stays on disk and is read a row per
/// token.
pub struct Encoder {
    tokenizer: Tokenizer,
    table: File,
    lo: Vec<f32>,
    scale: Vec<f32>,
    branches: Vec<Branch>,
    ln_g_branches: Array1<f32>,
    ln_b_branches: Array1<f32>,
    ln_g: Array1<f32>,
    ln_b: Array1<f32>,
    cnn_w: Array2<f32>,
    cnn_b: Array1<f32>,
    d0: Array2<f32>,
    d1: Array2<f32>,
    p1: Array2<f32>,
    d2: Array2<f32>,
    p3: Array2<f32>,
    d3: Array2<f32>,
    eps: f32,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder").finish_non_exhaustive()
    }
}

impl Encoder {
    /// Load from the files `model install` wrote into `dir`.
    pub fn load(dir: &Path) -> Result<Self, EmbedError> {
        let read = |name: &str| {
            std::fs::read(dir.join(name)).map_err(|e| EmbedError::io(&dir.join(name), e))
        };
        let tokenizer = Tokenizer::from_bytes(&read("sp.model")?)?;
        let dense = weights::split_dense(&read("dense.f32")?)?;
        let table_path = dir.join("table.u8");
        let table = File::open(&table_path).map_err(|e| EmbedError::io(&table_path, e))?;
        let len = table
            .metadata()
            .map_err(|e| EmbedError::io(&table_path, e))?
            .len();
        if len != (TABLE_ROWS * EMB_DIM) as u64 {
            return Err(EmbedError::Corrupt(format!(
                "table.u8 is {len} bytes, expected {}",
                TABLE_ROWS * EMB_DIM
            )));
        }

        let mut tensors = dense.into_iter();
        let mut next = || tensors.next().unwrap_or_default();
        let mut matrix = |rows: usize, cols: usize| -> Result<Array2<f32>, EmbedError> {
            Array2::from_shape_vec((rows, cols), next())
                .map_err(|e| EmbedError::Corrupt(format!("dense.f32: {e}")))
        };
        // Follow weights::DENSE exactly.
        let lo = matrix(1, CHUNKS)?.into_raw_vec_and_offset().0;
        let scale = matrix(1, CHUNKS)?.into_raw_vec_and_offset().0;
        let mut branches = Vec::new();
        for (order, left) in [(2, 0), (3, 1), (5, 2)] {
            let proj = matrix(EMB_DIM, CNN_DIM)?;
            let proj_b = matrix(1, CNN_DIM)?.row(0).to_owned();
            let w1 = matrix(order * CNN_DIM, CNN_DIM)?;
            let b1 = matrix(1, CNN_DIM)?.row(0).to_owned();
            let w2 = matrix(order * CNN_DIM, CNN_DIM)?;
            let b2 = matrix(1, CNN_DIM)?.row(0).to_owned();
            branches.push(Branch {
                order,
                left,
                proj,
                proj_b,
                w1,
                b1,
                w2,
                b2,
            });
        }
        let mut ln_g_branches = Vec::new();
        let mut ln_b_branches = Vec::new();
        for _ in 0..3 {
            ln_g_branches.extend(matrix(1, CNN_DIM)?.iter());
            ln_b_branches.extend(matrix(1, CNN_DIM)?.iter());
        }
        let ln_g = matrix(1, FEAT_DIM)?.row(0).to_owned();
        let ln_b = matrix(1, FEAT_DIM)?.row(0).to_owned();
        let cnn_w = matrix(FEAT_DIM, EMB_DIM)?;
        let cnn_b = matrix(1, EMB_DIM)?.row(0).to_owned();
        let d0 = matrix(EMB_DIM, weights::HEAD_DIM)?;
        let d1 = matrix(weights::HEAD_DIM, weights::HEAD_DIM)?;
        let p1 = matrix(EMB_DIM, weights::HEAD_DIM)?;
        let d2 = matrix(weights::HEAD_DIM, EMB_DIM)?;
        let p3 = matrix(weights::HEAD_DIM, EMB_DIM)?;
        let d3 = matrix(EMB_DIM, EMB_DIM)?;
        let eps = matrix(1, 1)?[[0, 0]];
        Ok(Self {
            tokenizer,
            table,
            lo,
            scale,
            branches,
            ln_g_branches: Array1::from(ln_g_branches),
            ln_b_branches: Array1::from(ln_b_branches),
            ln_g,
            ln_b,
            cnn_w,
            cnn_b,
            d0,
            d1,
            p1,
            d2,
            p3,
            d3,
            eps,
        })
    }

    /// The piece ids `text` is read as, framed by the sentence markers.
    pub fn token_ids(&self, text: &str) -> Vec<u32> {
        self.tokenizer.encode(text)
    }

    /// The unit vector of `text`.
    pub fn encode(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        let text = match text.char_indices().nth(MAX_CHARS) {
            Some((cut, _)) => &text[..cut],
            None => text,
        };
        let ids = self.tokenizer.encode(text);
        let emb = self.embed_tokens(&ids)?;
        Ok(self.forward(emb))
    }

    /// Dequantised embedding rows of `ids`.
    fn embed_tokens(&self, ids: &[u32]) -> Result<Array2<f32>, EmbedError> {
        let mut emb = Array2::<f32>::zeros((ids.len(), EMB_DIM));
        let mut row = [0u8; EMB_DIM];
        for (t, &id) in ids.iter().enumerate() {
            let id = (id as usize).min(TABLE_ROWS - 1);
            self.table
                .read_exact_at(&mut row, (id * EMB_DIM) as u64)
                .map_err(|e| EmbedError::Corrupt(format!("table.u8 could not be read: {e}")))?;
            let (scale, lo) = (self.scale[id % CHUNKS], self.lo[id % CHUNKS]);
            for (dst, &q) in emb.row_mut(t).iter_mut().zip(row.iter()) {
                *dst = f32::from(q) * scale + lo;
            }
        }
        Ok(emb)
    }

    fn forward(&self, emb: Array2<f32>) -> Vec<f32> {
        let tokens = emb.nrows();
        // All three branch projections at once, normalised together.
        let mut x = Array2::<f32>::zeros((tokens, 3 * CNN_DIM));
        for (i, b) in self.branches.iter().enumerate() {
            let mut part = x.slice_axis_mut(Axis(1), Slice::from(i * CNN_DIM..(i + 1) * CNN_DIM));
            part.assign(&(emb.dot(&b.proj) + &b.proj_b));
        }
        layer_norm(&mut x, &self.ln_g_branches, &self.ln_b_branches, self.eps);

        let mut feats = Array2::<f32>::zeros((tokens, FEAT_DIM));
        feats
            .slice_axis_mut(Axis(1), Slice::from(..EMB_DIM))
            .assign(&emb);
        for (i, b) in self.branches.iter().enumerate() {
            let xs = x
                .slice_axis(Axis(1), Slice::from(i * CNN_DIM..(i + 1) * CNN_DIM))
                .to_owned();
            let mut h = window(&xs, b.order, b.left).dot(&b.w1) + &b.b1;
            h.mapv_inplace(|v| v.max(0.0));
            h += &xs;
            let mut c = window(&h, b.order, b.left).dot(&b.w2) + &b.b2;
            c.mapv_inplace(|v| v.max(0.0));
            c += &h;
            let off = EMB_DIM + i * CNN_DIM;
            feats
                .slice_axis_mut(Axis(1), Slice::from(off..off + CNN_DIM))
                .assign(&c);
        }
        layer_norm(&mut feats, &self.ln_g, &self.ln_b, self.eps);

        // The sum over tokens commutes with the linear projection.
        let n = tokens as f32;
        let sum = feats.sum_axis(Axis(0));
        let mean = (sum.dot(&self.cnn_w) + &self.cnn_b * n) / n.sqrt();
        let relu = |a: Array1<f32>| a.mapv(|v| v.max(0.0));
        let y0 = relu(mean.dot(&self.d0));
        let y1 = relu(mean.dot(&self.p1) + y0.dot(&self.d1));
        let y2 = relu(y1.dot(&self.d2));
        let z = (y1.dot(&self.p3) + y2.dot(&self.d3)).mapv(f32::tanh);
        let norm = z.dot(&z).max(self.eps).sqrt();
        z.iter().map(|v| v / norm).collect()
    }
}

/// Row t holds the rows t-left .. t-left+order of `x` side by side, zero
/// where the window leaves the text.
fn window(x: &Array2<f32>, order: usize, left: usize) -> Array2<f32> {
    let (tokens, width) = x.dim();
    let mut out = Array2::<f32>::zeros((tokens, order * width));
    for t in 0..tokens {
        for k in 0..order {
            let Some(src) = (t + k).checked_sub(left).filter(|&p| p < tokens) else {
                continue;
            };
            out.row_mut(t)
                .slice_axis_mut(Axis(0), Slice::from(k * width..(k + 1) * width))
                .assign(&x.row(src));
        }
    }
    out
}

/// Normalise each row to zero mean and unit variance, then scale and shift.
fn layer_norm(x: &mut Array2<f32>, gamma: &Array1<f32>, beta: &Array1<f32>, eps: f32) {
    let width = x.ncols() as f32;
    for mut row in x.rows_mut() {
        let mean = row.sum() / width;
        row.mapv_inplace(|v| v - mean);
        let var = row.dot(&row) / width;
        let inv = 1.0 / (var + eps).sqrt();
        row.zip_mut_with(gamma, |v, g| *v *= inv * g);
        row += beta;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_stop_at_the_edges_of_the_text() {
        let x = Array2::from_shape_vec((3, 1), vec![1.0, 2.0, 3.0]).unwrap();
        let w = window(&x, 3, 1);
        assert_eq!(w.row(0).to_vec(), vec![0.0, 1.0, 2.0]);
        assert_eq!(w.row(1).to_vec(), vec![1.0, 2.0, 3.0]);
        assert_eq!(w.row(2).to_vec(), vec![2.0, 3.0, 0.0]);
    }

    #[test]
    fn layer_norm_centres_and_scales_rows() {
        let mut x = Array2::from_shape_vec((1, 4), vec![1.0, 2.0, 3.0, 4.0]).unwrap();
        layer_norm(
            &mut x,
            &Array1::from(vec![1.0; 4]),
            &Array1::from(vec![0.5; 4]),
            0.0,
        );
        let row = x.row(0);
        assert!((row.sum() - 2.0).abs() < 1e-5);
        assert!(row[0] < row[3]);
    }
}
