//! The model's tensors: read from the published `.npz` once, at install,
//! and kept in two plain files that load in milliseconds.
//!
//! - `table.u8`: the 8-bit embedding table, one 512-byte row per piece id
//!   (the `.npz` splits it into 17 interleaved blocks; rows are put back in
//!   id order here so that one read fetches one token).
//! - `dense.f32`: every other tensor, little-endian f32, in [`DENSE`] order.

use std::io::{Cursor, Read};

use super::EmbedError;

/// Width of a token embedding.
pub const EMB_DIM: usize = 512;
/// Width of one n-gram branch.
pub const CNN_DIM: usize = 256;
/// Width of the feature row: raw embedding plus three branches.
pub const FEAT_DIM: usize = EMB_DIM + 3 * CNN_DIM;
/// Blocks the table is quantized in (one scale and offset per block).
pub const CHUNKS: usize = 17;
/// Rows per block.
const CHUNK_ROWS: usize = 7530;
/// Rows of the embedding table.
pub const TABLE_ROWS: usize = CHUNKS * CHUNK_ROWS;
/// Width of the hidden layers of the output head.
pub const HEAD_DIM: usize = 320;

/// Every dense tensor, in file order: name and shape.
pub const DENSE: &[(&str, &[usize])] = &[
    ("lo", &[CHUNKS]),
    ("scale", &[CHUNKS]),
    ("proj2", &[EMB_DIM, CNN_DIM]),
    ("proj_b2", &[CNN_DIM]),
    ("w1_2", &[2 * CNN_DIM, CNN_DIM]),
    ("b1_2", &[CNN_DIM]),
    ("w2_2", &[2 * CNN_DIM, CNN_DIM]),
    ("b2_2", &[CNN_DIM]),
    ("proj3", &[EMB_DIM, CNN_DIM]),
    ("proj_b3", &[CNN_DIM]),
    ("w1_3", &[3 * CNN_DIM, CNN_DIM]),
    ("b1_3", &[CNN_DIM]),
    ("w2_3", &[3 * CNN_DIM, CNN_DIM]),
    ("b2_3", &[CNN_DIM]),
    ("proj5", &[EMB_DIM, CNN_DIM]),
    ("proj_b5", &[CNN_DIM]),
    ("w1_5", &[5 * CNN_DIM, CNN_DIM]),
    ("b1_5", &[CNN_DIM]),
    ("w2_5", &[5 * CNN_DIM, CNN_DIM]),
    ("b2_5", &[CNN_DIM]),
    ("ln_g2", &[CNN_DIM]),
    ("ln_b2", &[CNN_DIM]),
    ("ln_g3", &[CNN_DIM]),
    ("ln_b3", &[CNN_DIM]),
    ("ln_g5", &[CNN_DIM]),
    ("ln_b5", &[CNN_DIM]),
    ("ln_g", &[FEAT_DIM]),
    ("ln_b", &[FEAT_DIM]),
    ("cnn_W", &[FEAT_DIM, EMB_DIM]),
    ("cnn_b", &[EMB_DIM]),
    ("d0", &[EMB_DIM, HEAD_DIM]),
    ("d1", &[HEAD_DIM, HEAD_DIM]),
    ("p1", &[EMB_DIM, HEAD_DIM]),
    ("d2", &[HEAD_DIM, EMB_DIM]),
    ("p3", &[HEAD_DIM, EMB_DIM]),
    ("d3", &[EMB_DIM, EMB_DIM]),
    ("eps", &[]),
];

/// Number of f32 values in `dense.f32`.
pub fn dense_len() -> usize {
    DENSE.iter().map(|(_, s)| s.iter().product::<usize>()).sum()
}

/// The two converted files, in memory.
pub struct Converted {
    /// `table.u8`.
    pub table: Vec<u8>,
    /// `dense.f32`.
    pub dense: Vec<u8>,
}

/// Convert the published `weights.npz` into the two files.
pub fn convert_npz(npz: &[u8]) -> Result<Converted, EmbedError> {
    let corrupt = |what: String| EmbedError::Corrupt(format!("weights.npz: {what}"));
    let mut zip = zip::ZipArchive::new(Cursor::new(npz)).map_err(|e| corrupt(e.to_string()))?;
    let mut read = |name: &str| -> Result<Npy, EmbedError> {
        let mut entry = zip
            .by_name(&format!("{name}.npy"))
            .map_err(|_| corrupt(format!("{name} is missing")))?;
        let mut bytes = Vec::with_capacity(usize::try_from(entry.size()).unwrap_or(0));
        entry
            .read_to_end(&mut bytes)
            .map_err(|e| corrupt(e.to_string()))?;
        Npy::parse(&bytes).map_err(|e| corrupt(format!("{name}: {e}")))
    };

    let mut table = vec![0u8; TABLE_ROWS * EMB_DIM];
    for chunk in 0..CHUNKS {
        let block = read(&format!("q{}", chunk + 1))?;
        block
            .expect("|u1", &[CHUNK_ROWS, EMB_DIM])
            .map_err(|e| corrupt(format!("q{}: {e}", chunk + 1)))?;
        for (row, src) in block.data.chunks_exact(EMB_DIM).enumerate() {
            let id = row * CHUNKS + chunk;
            table[id * EMB_DIM..(id + 1) * EMB_DIM].copy_from_slice(src);
        }
    }

    let mut dense = Vec::with_capacity(dense_len() * 4);
    for (name, shape) in DENSE {
        let t = read(name)?;
        if *name == "eps" {
            t.expect("<f8", shape)
                .map_err(|e| corrupt(format!("{name}: {e}")))?;
            let mut b = [0u8; 8];
            b.copy_from_slice(&t.data[..8]);
            dense.extend((f64::from_le_bytes(b) as f32).to_le_bytes());
        } else {
            t.expect("<f4", shape)
                .map_err(|e| corrupt(format!("{name}: {e}")))?;
            dense.extend_from_slice(&t.data);
        }
    }
    Ok(Converted { table, dense })
}

/// Split `dense.f32` into its tensors, in [`DENSE`] order.
pub fn split_dense(bytes: &[u8]) -> Result<Vec<Vec<f32>>, EmbedError> {
    if bytes.len() != dense_len() * 4 {
        return Err(EmbedError::Corrupt(format!(
            "dense.f32 is {} bytes, expected {}",
            bytes.len(),
            dense_len() * 4
        )));
    }
    let mut at = 0;
    Ok(DENSE
        .iter()
        .map(|(_, shape)| {
            let n: usize = shape.iter().product();
            let v = bytes[at..at + n * 4]
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            at += n * 4;
            v
        })
        .collect())
}

/// One `.npy` array: dtype, shape and raw little-endian data.
struct Npy {
    descr: String,
    shape: Vec<usize>,
    data: Vec<u8>,
}

impl Npy {
    fn parse(bytes: &[u8]) -> Result<Self, String> {
        if bytes.get(..6) != Some(b"\x93NUMPY") {
            return Err("not an .npy array".into());
        }
        let (header_len, start) = match bytes.get(6) {
            Some(1) => (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10),
            Some(2 | 3) if bytes.len() >= 12 => (
                u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
                12,
            ),
            _ => return Err("unknown .npy version".into()),
        };
        let header = bytes
            .get(start..start + header_len)
            .and_then(|h| std::str::from_utf8(h).ok())
            .ok_or("truncated header")?;
        let descr = between(header, "'descr': '", "'").ok_or("no dtype")?;
        if header.contains("'fortran_order': True") {
            return Err("Fortran order is not supported".into());
        }
        let shape = between(header, "'shape': (", ")")
            .ok_or("no shape")?
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| s.parse::<usize>().map_err(|_| format!("bad shape {s}")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            descr: descr.to_owned(),
            shape,
            data: bytes[start + header_len..].to_vec(),
        })
    }

    fn expect(&self, descr: &str, shape: &[usize]) -> Result<(), String> {
        let width = if descr.ends_with('8') {
            8
        } else if descr.ends_with('4') {
            4
        } else {
            1
        };
        let n = shape.iter().product::<usize>().max(1) * width;
        if self.descr != descr || self.shape != shape || self.data.len() < n {
            return Err(format!(
                "expected {descr} {shape:?}, found {} {:?} ({} bytes)",
                self.descr,
                self.shape,
                self.data.len()
            ));
        }
        Ok(())
    }
}

fn between<'a>(s: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let from = s.find(open)? + open.len();
    let len = s[from..].find(close)?;
    Some(&s[from..from + len])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npy(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
        let header =
            format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': ({shape}), }}\n");
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend((header.len() as u16).to_le_bytes());
        out.extend(header.as_bytes());
        out.extend(data);
        out
    }

    #[test]
    fn reads_npy_headers_and_checks_shapes() {
        let bytes = npy("<f4", "2, 3", &[0u8; 24]);
        let a = Npy::parse(&bytes).unwrap();
        assert_eq!(a.shape, vec![2, 3]);
        assert!(a.expect("<f4", &[2, 3]).is_ok());
        assert!(a.expect("<f4", &[3, 2]).is_err());
        assert!(a.expect("<f8", &[2, 3]).is_err());
        let scalar = npy("<f8", "", &[0u8; 8]);
        assert!(Npy::parse(&scalar).unwrap().expect("<f8", &[]).is_ok());
        let short = npy("<f4", "2, 3", &[0u8; 20]);
        assert!(Npy::parse(&short).unwrap().expect("<f4", &[2, 3]).is_err());
        assert!(Npy::parse(b"garbage").is_err());
    }

    #[test]
    fn a_broken_archive_is_reported_as_corrupt() {
        assert!(matches!(
            convert_npz(b"PK not really"),
            Err(EmbedError::Corrupt(_))
        ));
        assert!(split_dense(&[0u8; 12]).is_err());
    }
}
