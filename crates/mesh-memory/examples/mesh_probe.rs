//! Client side of the mesh benchmarks (`cargo xtask bench --mesh` starts the
//! daemons and runs this).
//!
//! ```text
//! mesh_probe latency <endpoint-A> <index-db-of-B> <count>
//!     saves <count> observations through A, timing each from the start of
//!     the save until its row is in B's index; prints p50/p90/p99/max in ms.
//! mesh_probe seed <endpoint> <first> <count>
//!     puts corpus rows <first>..<first+count> straight onto the mesh
//!     (pipelined, blocking when the router is busy), then checks that the
//!     storages hold all of them.
//! mesh_probe wait <index-db> <count> <timeout-s>
//!     waits until the index holds <count> live rows; prints the seconds.
//! ```

#[path = "../benches/corpus.rs"]
mod corpus;

use std::time::{Duration, Instant};

use mesh_memory::{PutOutcome, SaveRequest};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};

type BoxError = Box<dyn std::error::Error>;

/// Zenoh's errors are `Send + Sync` boxes, which `?` cannot widen.
fn z<T>(r: zenoh::Result<T>) -> Result<T, BoxError> {
    r.map_err(|e| e.to_string().into())
}

async fn open_index(path: &str) -> Result<SqlitePool, BoxError> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .busy_timeout(Duration::from_secs(5));
    Ok(SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await?)
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn latency(endpoint: &str, index: &str, n: usize) -> Result<(), BoxError> {
    let dir = std::env::temp_dir().join(format!("mesh-probe-{}", std::process::id()));
    let env = mesh_core::Environment::from_process()
        .with_var("KIOKU_MESH_BACKEND", "zenoh")
        .with_var("ZENOH_CONNECT", endpoint)
        .with_var("KIOKU_MESH_STATE_DIR", &dir.display().to_string())
        .with_var("KIOKU_MESH_SKIP_REBUILD", "1")
        .with_var("KIOKU_MESH_AGENT_FAMILY", "bench");
    let memory = mesh_memory::open(env).await?;
    let pool = open_index(index).await?;
    let mut samples = Vec::with_capacity(n);
    let mut returned = Vec::with_capacity(n);
    for i in 0..n {
        let started = Instant::now();
        let saved = memory
            .save(&SaveRequest::new(
                format!("latency probe {i} crosses the mesh"),
                "latency probe",
                format!("probe {i}"),
            ))
            .await?;
        returned.push(started.elapsed().as_secs_f64() * 1000.0);
        if saved.put != PutOutcome::Stored {
            return Err(format!("save {i} was not confirmed: {:?}", saved.put).into());
        }
        let id = saved.observation.observation_id;
        let deadline = started + Duration::from_secs(10);
        loop {
            let found: Option<i64> =
                sqlx::query_scalar("SELECT 1 FROM ix_obs WHERE observation_id = ?")
                    .bind(&id)
                    .fetch_optional(&pool)
                    .await?;
            if found.is_some() {
                break;
            }
            if Instant::now() > deadline {
                return Err(format!("{id} never reached the other index").into());
            }
            // A real 200 us pause: tokio's timer would round it up to 1 ms.
            std::thread::sleep(Duration::from_micros(200));
        }
        samples.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    memory.close().await;
    let _ = std::fs::remove_dir_all(&dir);
    for (what, mut times) in [
        ("save on A returned (confirmed by a storage)", returned),
        ("save on A to visible in B's index", samples),
    ] {
        times.sort_by(f64::total_cmp);
        println!(
            "{what}, {n} saves: p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            percentile(&times, 0.5),
            percentile(&times, 0.9),
            percentile(&times, 0.99),
            percentile(&times, 1.0)
        );
    }
    Ok(())
}

async fn seed(endpoint: &str, first: usize, n: usize) -> Result<(), BoxError> {
    let session =
        mesh_core::session::open_client(&[endpoint.to_owned()], Duration::from_secs(5)).await?;
    let started = Instant::now();
    let mut seeded = std::collections::HashSet::with_capacity(n);
    // Distinct corpus rows per call: ids derive from the row number.
    for i in first..first + n {
        let obs = corpus::observation(i, first + n);
        let key = obs.key()?;
        // Block rather than drop when the router is busy: every put counts.
        z(session
            .put(key.clone(), obs.to_json())
            .congestion_control(zenoh::qos::CongestionControl::Block)
            .await)?;
        seeded.insert(key);
    }
    let put_secs = started.elapsed().as_secs_f64();
    // One full query per round (each moves every value), a few rounds at most.
    let mut found = 0;
    for round in 0..5 {
        if round > 0 {
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
        let replies = z(session
            .get("mem/mesh/obs/**")
            .target(zenoh::query::QueryTarget::All)
            .consolidation(zenoh::query::ConsolidationMode::None)
            .timeout(Duration::from_secs(120))
            .await)?;
        let mut keys = std::collections::HashSet::new();
        while let Ok(reply) = replies.recv_async().await {
            if let Ok(sample) = reply.result()
                && seeded.contains(sample.key_expr().as_str())
            {
                keys.insert(sample.key_expr().as_str().to_owned());
            }
        }
        found = keys.len();
        if found >= n {
            break;
        }
    }
    println!(
        "seeded {found} of {n} observations: puts took {put_secs:.1} s, stored after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let _ = session.close().await;
    if found < n {
        return Err(format!("only {found} of {n} seeded observations are stored").into());
    }
    Ok(())
}

async fn wait(index: &str, n: i64, timeout: f64) -> Result<(), BoxError> {
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(timeout);
    loop {
        let count: i64 = match open_index(index).await {
            Ok(pool) => {
                let c = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM ix_obs WHERE deleted_at IS NULL AND shadowed_at IS NULL",
                )
                .fetch_one(&pool)
                .await
                .unwrap_or(0);
                pool.close().await;
                c
            }
            Err(_) => 0,
        };
        if count >= n {
            println!("{:.3}", started.elapsed().as_secs_f64());
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("only {count} of {n} rows after {timeout} s").into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| -> Result<&str, BoxError> {
        args.get(i)
            .map(String::as_str)
            .ok_or_else(|| "missing argument; see the file's documentation".into())
    };
    match arg(0)? {
        "latency" => latency(arg(1)?, arg(2)?, arg(3)?.parse()?).await,
        "seed" => seed(arg(1)?, arg(2)?.parse()?, arg(3)?.parse()?).await,
        "wait" => wait(arg(1)?, arg(2)?.parse()?, arg(3)?.parse()?).await,
        other => Err(format!("unknown command {other}").into()),
    }
}
