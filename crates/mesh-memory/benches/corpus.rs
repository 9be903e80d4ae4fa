//! A deterministic synthetic corpus for benchmarks: realistic sizes, a mix
//! of English and Japanese text, and marker terms of known selectivity.
//!
//! Every observation `i` carries three marker terms that each match exactly
//! ten rows of the corpus (the "selective query" of the performance
//! targets): `marker`, an identifier-like ASCII word whose trigrams are rare;
//! `kana_marker`, four hiragana (a selective Japanese term); and
//! `common_prefix_marker`, whose first trigram every row shares, the worst
//! case for trigram matching.

use mesh_core::{MemoryType, Observation, Visibility};

/// Projects observations are spread over.
pub const PROJECTS: usize = 20;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*: deterministic, no dependency.
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn vocabulary() -> Vec<String> {
    let syllables = [
        "ka", "to", "ri", "mo", "sen", "dar", "vel", "qui", "no", "ex", "pra", "lin", "cor", "sta",
        "bel", "mun",
    ];
    let mut words = Vec::new();
    for a in syllables {
        for b in syllables {
            for c in ["", "ch", "ne", "ter"] {
                words.push(format!("{a}{b}{c}"));
            }
        }
    }
    for w in [
        "検索", "設定", "障害", "原因", "対策", "索引", "全文", "同期", "分散", "記憶", "判断",
        "性能",
    ] {
        words.push(w.to_owned());
    }
    words
}

fn marker_key(i: usize, n: usize) -> u64 {
    // A fixed permutation of the marker number, so neighbours do not share
    // prefixes.
    ((i % (n / 10).max(1)) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 16
}

/// Identifier-like marker of observation `i` in a corpus of `n`.
pub fn marker(i: usize, n: usize) -> String {
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut k = marker_key(i, n);
    (0..6)
        .map(|_| {
            let c = ALPHABET[(k % 36) as usize] as char;
            k /= 36;
            c
        })
        .collect()
}

/// Four-hiragana marker of observation `i` in a corpus of `n`.
pub fn kana_marker(i: usize, n: usize) -> String {
    let mut k = marker_key(i, n) >> 7;
    (0..4)
        .map(|_| {
            let c = char::from_u32(0x3042 + (k % 80) as u32).unwrap_or('あ');
            k /= 80;
            c
        })
        .collect()
}

/// Marker of observation `i` whose first trigram every row shares.
pub fn common_prefix_marker(i: usize, n: usize) -> String {
    format!("ref{:05}", i % (n / 10).max(1))
}

/// The project of observation `i`.
pub fn project(i: usize) -> String {
    format!("project-{:02}", i % PROJECTS)
}

/// Generate observation `i` of a corpus of `n`.
pub fn observation(i: usize, n: usize) -> Observation {
    let words = vocabulary();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (i as u64 + 1));
    let mut pick = |count: usize| -> String {
        (0..count)
            .map(|_| words[rng.below(words.len())].as_str())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let content = format!(
        "{} {} {} {} {}",
        pick(25),
        marker(i, n),
        kana_marker(i, n),
        common_prefix_marker(i, n),
        pick(25)
    );
    let subject = pick(3);
    let summary = pick(8);
    let tags = vec![pick(1), pick(1)];
    let types = [
        MemoryType::Note,
        MemoryType::Decision,
        MemoryType::Bug,
        MemoryType::Pattern,
        MemoryType::Config,
        MemoryType::Summary,
    ];
    let secs = i as i64;
    let created = chrono_like(secs);
    Observation {
        content,
        agent_family: ["claude", "codex", "gemini"][i % 3].to_owned(),
        client_id: format!("user{}@host{}", i % 4, i % 7),
        pc_id: format!("{:032x}", i % 5),
        session_id: format!("20260101T000000Z-{:08x}", i / 100),
        project: project(i),
        tags,
        observation_id: format!("{:032x}", (i as u128 + 1) * 0x9E37_79B9_7F4A_7C15_u128),
        created_at: created,
        memory_type: types[i % types.len()],
        importance: (i % 5) as u8 + 1,
        subject,
        summary,
        source_files: vec![format!("src/module{}.rs", i % 50)],
        references: vec![format!("#{}", i % 300)],
        supersedes: Vec::new(),
        visibility: Visibility::Mesh,
        scope_id: String::new(),
        expires_at: String::new(),
        extras: serde_json::Map::new(),
    }
}

/// `2026-01-01T00:00:00Z` plus `secs`, in wire form.
fn chrono_like(secs: i64) -> String {
    let day = secs / 86_400;
    let rem = secs % 86_400;
    // 2026-01-01 plus up to a few years of seconds; good enough for ordering.
    let (h, m, s) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    let month = 1 + (day / 28) % 12;
    let year = 2026 + day / (28 * 12);
    let dom = 1 + day % 28;
    format!("{year:04}-{month:02}-{dom:02}T{h:02}:{m:02}:{s:02}.000000Z")
}
