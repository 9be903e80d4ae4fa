//! Library search latency over the synthetic corpus at 10k and 100k
//! observations: criterion timings plus p50/p99 over many distinct queries.
//!
//! `cargo bench -p mesh-memory --bench search` (or `cargo xtask bench`).
//! The corpus databases are cached in the target directory.

// Benchmark code: a failed unwrap is a failed run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod corpus;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion};
use mesh_memory::{Index, LocalStore, MemoryStore, SearchQuery};
use tokio::runtime::Runtime;

const SIZES: [usize; 2] = [10_000, 100_000];

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Open (seeding on first use) the corpus of `n` observations.
fn corpus_store(rt: &Runtime, n: usize) -> LocalStore {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench-corpus");
    let path = dir.join(format!("corpus-v4-{n}.db"));
    let ready = dir.join(format!("corpus-v4-{n}.ready"));
    rt.block_on(async {
        if !ready.exists() {
            let _ = std::fs::remove_file(&path);
            std::fs::create_dir_all(&dir).unwrap();
            let store = LocalStore::open(&path).await.unwrap();
            let started = Instant::now();
            let all: Vec<usize> = (0..n).collect();
            for chunk in all.chunks(5000) {
                let batch: Vec<_> = chunk.iter().map(|&i| corpus::observation(i, n)).collect();
                store.put_many(&batch).await.unwrap();
            }
            eprintln!("seeded {n} observations in {:.1?}", started.elapsed());
            store.close().await;
            std::fs::write(&ready, "").unwrap();
        }
        LocalStore::open(&path).await.unwrap()
    })
}

/// Builds the k-th query of a shape.
type QueryMaker = Box<dyn Fn(usize) -> SearchQuery>;

/// The query shapes the targets speak of.
fn queries(n: usize) -> Vec<(&'static str, QueryMaker)> {
    vec![
        (
            "selective_term",
            Box::new(move |k| SearchQuery::text(corpus::marker(k * 7919, n))),
        ),
        (
            "selective_japanese",
            Box::new(move |k| SearchQuery::text(corpus::kana_marker(k * 7919, n))),
        ),
        (
            "selective_common_trigram",
            Box::new(move |k| SearchQuery::text(corpus::common_prefix_marker(k * 7919, n))),
        ),
        (
            "selective_term_in_project",
            Box::new(move |k| {
                SearchQuery::text(corpus::marker(k * 7919, n)).project(corpus::project(k * 7919))
            }),
        ),
        (
            "two_terms_and",
            Box::new(move |k| {
                let i = k * 7919;
                SearchQuery::text(format!(
                    "{} {}",
                    corpus::marker(i, n),
                    corpus::kana_marker(i, n)
                ))
            }),
        ),
        ("browse_recent_50", Box::new(|_| SearchQuery::browse())),
        (
            "browse_project_50",
            Box::new(|k| SearchQuery::browse().project(corpus::project(k))),
        ),
    ]
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}

fn latency_report(rt: &Runtime, index: &Index, n: usize) {
    let segments = rt.block_on(index.fts_segments()).unwrap();
    println!("corpus n={n}: {segments} full-text segment(s)");
    for (name, make) in queries(n) {
        let mut samples = Vec::with_capacity(2000);
        for k in 0..2000 {
            let q = make(k);
            let t = Instant::now();
            let hits = rt.block_on(index.search(&q)).unwrap();
            samples.push(t.elapsed());
            assert!(!hits.is_empty(), "{name} found nothing");
        }
        samples.sort();
        println!(
            "latency {name:<26} n={n:<6} p50={:>8.3} ms  p99={:>8.3} ms  max={:>8.3} ms",
            percentile(&samples, 0.50).as_secs_f64() * 1e3,
            percentile(&samples, 0.99).as_secs_f64() * 1e3,
            samples.last().unwrap().as_secs_f64() * 1e3,
        );
    }
}

fn main() {
    let rt = runtime();
    let mut c = Criterion::default()
        .sample_size(50)
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    let quick = std::env::var_os("KIOKU_BENCH_QUICK").is_some();
    let sizes: &[usize] = if quick { &SIZES[..1] } else { &SIZES };
    let mut stores = Vec::new();
    for &n in sizes {
        let store = corpus_store(&rt, n);
        let mut group = c.benchmark_group(format!("search_{n}"));
        for (name, make) in queries(n) {
            let mut k = 0;
            group.bench_function(BenchmarkId::from_parameter(name), |b| {
                b.iter(|| {
                    k += 1;
                    rt.block_on(store.index().search(&make(k))).unwrap()
                })
            });
        }
        group.finish();
        stores.push((n, store));
    }
    c.final_summary();
    for (n, store) in &stores {
        latency_report(&rt, store.index(), *n);
        rt.block_on(store.close());
    }
}
