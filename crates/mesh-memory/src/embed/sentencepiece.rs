//! A SentencePiece unigram tokenizer read from a `.model` file: the
//! precompiled normalizer (a darts-clone double-array trie of replacement
//! rules), whitespace handling, and Viterbi segmentation over the pieces.
//!
//! Only what the bundled model uses is implemented: unigram pieces, the
//! `nmt_nfkc` charsmap, dummy prefix, whitespace escaping and collapsing.

use std::collections::HashMap;

use super::EmbedError;

/// Id of the unknown piece.
const UNK: u32 = 0;
/// Id of the beginning-of-sentence marker.
pub const BOS: u32 = 1;
/// Id of the end-of-sentence marker.
pub const EOS: u32 = 2;
/// The escaped space, U+2581.
const SPACE: char = '\u{2581}';

/// Piece types that never match text (unknown and control pieces).
const TYPE_UNKNOWN: u64 = 2;
const TYPE_CONTROL: u64 = 3;

/// A loaded tokenizer.
#[derive(Debug)]
pub struct Tokenizer {
    pieces: HashMap<Box<str>, (u32, f32)>,
    /// Longest piece, in characters: the Viterbi never looks further.
    max_chars: usize,
    unk_score: f32,
    normalizer: Normalizer,
}

impl Tokenizer {
    /// Parse a serialized `ModelProto`.
    pub fn from_bytes(data: &[u8]) -> Result<Self, EmbedError> {
        let bad = |what: &str| EmbedError::Corrupt(format!("sp.model: {what}"));
        let mut pieces = HashMap::with_capacity(130_000);
        let mut max_chars = 1;
        let mut min_score = f32::MAX;
        let mut charsmap: &[u8] = &[];
        let mut id = 0u32;
        for field in Fields::new(data) {
            match field.map_err(|_| bad("not a SentencePiece model"))? {
                (1, Value::Bytes(msg)) => {
                    let mut text = None;
                    let mut score = 0.0f32;
                    let mut kind = 1;
                    for f in Fields::new(msg) {
                        match f.map_err(|_| bad("damaged piece"))? {
                            (1, Value::Bytes(b)) => {
                                text = Some(
                                    std::str::from_utf8(b).map_err(|_| bad("piece not UTF-8"))?,
                                )
                            }
                            (2, Value::Fixed32(bits)) => score = f32::from_bits(bits),
                            (3, Value::Varint(v)) => kind = v,
                            _ => {}
                        }
                    }
                    let text = text.ok_or_else(|| bad("piece without text"))?;
                    min_score = min_score.min(score);
                    if kind != TYPE_UNKNOWN && kind != TYPE_CONTROL && !text.is_empty() {
                        max_chars = max_chars.max(text.chars().count());
                        pieces.insert(text.into(), (id, score));
                    }
                    id += 1;
                }
                (3, Value::Bytes(spec)) => {
                    for f in Fields::new(spec) {
                        if let (2, Value::Bytes(b)) = f.map_err(|_| bad("damaged normalizer"))? {
                            charsmap = b;
                        }
                    }
                }
                _ => {}
            }
        }
        if pieces.len() < 1000 {
            return Err(bad("too few pieces"));
        }
        Ok(Self {
            pieces,
            max_chars,
            unk_score: min_score - 10.0,
            normalizer: Normalizer::new(charsmap)?,
        })
    }

    /// Piece ids of `text`, framed by [`BOS`] and [`EOS`].
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let normalized = self.normalizer.normalize(text);
        let mut ids = Vec::with_capacity(normalized.len() / 3 + 2);
        ids.push(BOS);
        if normalized.is_empty() {
            ids.push(UNK);
        } else {
            self.viterbi(&normalized, &mut ids);
        }
        ids.push(EOS);
        ids
    }

    /// Best segmentation of `s` by total piece score; a character no piece
    /// covers becomes one unknown piece.
    fn viterbi(&self, s: &str, out: &mut Vec<u32>) {
        let bounds: Vec<usize> = s
            .char_indices()
            .map(|(i, _)| i)
            .chain(std::iter::once(s.len()))
            .collect();
        let n = bounds.len() - 1;
        let mut best = vec![f32::NEG_INFINITY; n + 1];
        let mut from = vec![0usize; n + 1];
        let mut piece = vec![UNK; n + 1];
        best[0] = 0.0;
        for i in 0..n {
            let base = best[i];
            let stop = (i + self.max_chars).min(n);
            let mut single = false;
            for j in i + 1..=stop {
                if let Some(&(id, score)) = self.pieces.get(&s[bounds[i]..bounds[j]]) {
                    // Strictly greater keeps the earliest start on ties, as
                    // SentencePiece does.
                    if base + score > best[j] {
                        best[j] = base + score;
                        from[j] = i;
                        piece[j] = id;
                    }
                    single |= j == i + 1;
                }
            }
            if !single && base + self.unk_score > best[i + 1] {
                best[i + 1] = base + self.unk_score;
                from[i + 1] = i;
                piece[i + 1] = UNK;
            }
        }
        let start = out.len();
        let mut p = n;
        while p > 0 {
            out.push(piece[p]);
            p = from[p];
        }
        out[start..].reverse();
    }
}

/// The precompiled normalizer: longest-match replacement rules, then
/// whitespace collapsing and escaping.
#[derive(Debug)]
struct Normalizer {
    units: Vec<u32>,
    replacements: Vec<u8>,
}

impl Normalizer {
    fn new(charsmap: &[u8]) -> Result<Self, EmbedError> {
        if charsmap.is_empty() {
            return Ok(Self {
                units: Vec::new(),
                replacements: Vec::new(),
            });
        }
        let corrupt = || EmbedError::Corrupt("sp.model: damaged normalization rules".into());
        let size = charsmap
            .get(..4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
            .ok_or_else(corrupt)?;
        let trie = charsmap.get(4..4 + size).ok_or_else(corrupt)?;
        if size % 4 != 0 || size == 0 {
            return Err(corrupt());
        }
        let units = trie
            .chunks_exact(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        Ok(Self {
            units,
            replacements: charsmap[4 + size..].to_vec(),
        })
    }

    /// The longest rule matching at the start of `input`: (replacement,
    /// bytes consumed). Without one, the first character stands for itself.
    fn prefix<'a>(&'a self, input: &'a str) -> (&'a str, usize) {
        let bytes = input.as_bytes();
        let mut best: Option<(usize, usize)> = None;
        if let Some(&root) = self.units.first() {
            let mut node = offset(root);
            for (i, &c) in bytes.iter().enumerate() {
                node ^= c as usize;
                let Some(&unit) = self.units.get(node) else {
                    break;
                };
                if unit & 0x8000_00FF != u32::from(c) {
                    break;
                }
                node ^= offset(unit);
                if unit & 0x100 != 0
                    && let Some(&leaf) = self.units.get(node)
                {
                    best = Some((i + 1, (leaf & 0x7FFF_FFFF) as usize));
                }
            }
        }
        // A rule never ends inside a character of valid input, and its
        // replacement is UTF-8; anything else is ignored.
        if let Some((len, at)) = best
            && let Some(rest) = self.replacements.get(at..)
            && input.is_char_boundary(len)
        {
            let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
            if let Ok(r) = std::str::from_utf8(&rest[..end]) {
                return (r, len);
            }
        }
        let len = input.chars().next().map_or(0, char::len_utf8);
        (&input[..len], len)
    }

    fn normalize(&self, text: &str) -> String {
        let mut pos = 0;
        while pos < text.len() {
            let (p, adv) = self.prefix(&text[pos..]);
            if p != " " {
                break;
            }
            pos += adv;
        }
        if pos >= text.len() {
            return String::new();
        }
        let mut out = String::with_capacity(text.len() + 8);
        out.push(SPACE);
        let mut prev_space = true;
        while pos < text.len() {
            let (mut p, adv) = self.prefix(&text[pos..]);
            pos += adv.max(1);
            if prev_space {
                p = p.trim_start_matches(' ');
            }
            if let Some(last) = p.chars().last() {
                out.extend(p.chars().map(|c| if c == ' ' { SPACE } else { c }));
                prev_space = last == ' ';
            }
        }
        while out.ends_with(SPACE) {
            out.pop();
        }
        out
    }
}

/// darts-clone: where a unit's children start.
fn offset(unit: u32) -> usize {
    ((unit >> 10) << ((unit & 0x200) >> 6)) as usize
}

/// A protobuf field value.
enum Value<'a> {
    Varint(u64),
    Fixed32(u32),
    Bytes(&'a [u8]),
    Fixed64,
}

/// The top-level fields of one protobuf message.
struct Fields<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Fields<'a> {
    fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    fn varint(&mut self) -> Result<u64, ()> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.data.get(self.pos).ok_or(())?;
            self.pos += 1;
            value |= u64::from(b & 0x7F) << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(())
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], ()> {
        let end = self.pos.checked_add(n).ok_or(())?;
        let slice = self.data.get(self.pos..end).ok_or(())?;
        self.pos = end;
        Ok(slice)
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u64, Value<'a>), ()>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.data.len() {
            return None;
        }
        let item = (|| {
            let tag = self.varint()?;
            let value = match tag & 7 {
                0 => Value::Varint(self.varint()?),
                1 => {
                    self.take(8)?;
                    Value::Fixed64
                }
                2 => {
                    let len = usize::try_from(self.varint()?).map_err(|_| ())?;
                    Value::Bytes(self.take(len)?)
                }
                5 => {
                    let b = self.take(4)?;
                    Value::Fixed32(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                }
                _ => return Err(()),
            };
            Ok((tag >> 3, value))
        })();
        if item.is_err() {
            self.pos = self.data.len();
        }
        Some(item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A model of a few pieces, serialized by hand.
    fn tiny_model(extra: usize) -> Vec<u8> {
        fn piece(text: &str, score: f32, kind: u64) -> Vec<u8> {
            let mut m = vec![0x0A, text.len() as u8];
            m.extend(text.as_bytes());
            m.push(0x15);
            m.extend(score.to_le_bytes());
            m.extend([0x18, kind as u8]);
            m
        }
        let mut out = Vec::new();
        let mut pieces = vec![
            piece("<unk>", 0.0, 2),
            piece("<s>", 0.0, 3),
            piece("</s>", 0.0, 3),
            piece("\u{2581}ab", -1.0, 1),
            piece("\u{2581}a", -2.0, 1),
            piece("b", -2.0, 1),
            piece("c", -3.0, 1),
            piece("\u{2581}", -4.0, 1),
        ];
        for i in 0..extra {
            pieces.push(piece(&format!("zz{i}"), -9.0, 1));
        }
        for p in pieces {
            out.push(0x0A);
            out.push(p.len() as u8);
            out.extend(p);
        }
        out
    }

    #[test]
    fn segments_by_best_score_and_frames_with_markers() {
        let t = Tokenizer::from_bytes(&tiny_model(1000)).unwrap();
        // "▁ab" (-1) beats "▁a" + "b" (-4).
        assert_eq!(t.encode("ab"), vec![BOS, 3, EOS]);
        // Extra spaces collapse; "d" is covered by no piece.
        assert_eq!(t.encode("  ab   c d "), vec![BOS, 3, 7, 6, 7, UNK, EOS]);
        assert_eq!(t.encode("   "), vec![BOS, UNK, EOS]);
        // Control pieces never match text.
        let ids = t.encode("<s>");
        assert!(!ids[1..ids.len() - 1].contains(&BOS), "{ids:?}");
    }

    #[test]
    fn rejects_what_is_not_a_model() {
        assert!(Tokenizer::from_bytes(b"not a model at all").is_err());
        assert!(Tokenizer::from_bytes(&tiny_model(3)).is_err());
        assert!(Tokenizer::from_bytes(&[]).is_err());
    }
}
