//! Client side of the mesh benchmarks (`cargo xtask bench --mesh` starts the
//! daemons and runs this).
//!
//! ```text
//! mesh_probe latency <endpoint-A> <index-db-of-B> <count>
//!     saves <count> observations through A, timing each from the start of
//!     the save until its row is in B's index; prints p50/p90/p99/max in ms.
//! mesh_probe seed <endpoint> <count>
//!     puts <count> corpus observations straight onto the mesh (pipelined,
//!     no confirmation), then waits until the storages hold all of them.
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
    for i in 0..n {
        let started = Instant::now();
        let saved = memory
            .save(&SaveRequest::new(
                format!("latency probe {i} crosses the mesh"),
                "latency probe",
                format!("probe {i}"),
            ))
            .await?;
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
            tokio::time::sleep(Duration::from_micros(100)).await;
        }
        samples.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    memory.close().await;
    let _ = std::fs::remove_dir_all(&dir);
    samples.sort_by(f64::total_cmp);
    println!(
        "put on A to visible in B's index over {n} saves: p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        percentile(&samples, 0.5),
        percentile(&samples, 0.9),
        percentile(&samples, 0.99),
        percentile(&samples, 1.0)
    );
    Ok(())
}

async fn seed(endpoint: &str, n: usize) -> Result<(), BoxError> {
    let session =
        mesh_core::session::open_client(&[endpoint.to_owned()], Duration::from_secs(5)).await?;
    let started = Instant::now();
    for i in 0..n {
        let obs = corpus::observation(i, n);
        z(session.put(obs.key()?, obs.to_json()).await)?;
    }
    // Wait until the storages answer for all of them.
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let replies = z(session
            .get("mem/mesh/obs/**")
            .target(zenoh::query::QueryTarget::All)
            .consolidation(zenoh::query::ConsolidationMode::None)
            .timeout(Duration::from_secs(60))
            .await)?;
        let mut keys = std::collections::HashSet::new();
        while let Ok(reply) = replies.recv_async().await {
            if let Ok(sample) = reply.result() {
                keys.insert(sample.key_expr().as_str().to_owned());
            }
        }
        if keys.len() >= n || Instant::now() > deadline {
            println!(
                "seeded {} of {n} observations in {:.1} s",
                keys.len(),
                started.elapsed().as_secs_f64()
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let _ = session.close().await;
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
        "seed" => seed(arg(1)?, arg(2)?.parse()?).await,
        "wait" => wait(arg(1)?, arg(2)?.parse()?, arg(3)?.parse()?).await,
        other => Err(format!("unknown command {other}").into()),
    }
}
