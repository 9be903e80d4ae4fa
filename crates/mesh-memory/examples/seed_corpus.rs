//! Fill a local-mode database with the benchmark corpus.
//!
//! `cargo run --release -p mesh-memory --example seed_corpus -- <raw.db> <count> [<terms-file>]`
//! (used by `cargo xtask bench` to give the CLI and MCP timings a realistic
//! store). With a terms file, writes one line per marker kind, each a
//! space-separated list of 1,000 terms that match ten observations each:
//! identifier-like markers, then the common-prefix markers.

#[path = "../benches/corpus.rs"]
mod corpus;

use mesh_memory::LocalStore;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("usage: seed_corpus <raw.db> <count>")?;
    let n: usize = args
        .next()
        .ok_or("usage: seed_corpus <raw.db> <count>")?
        .parse()?;
    let store = LocalStore::open(std::path::Path::new(&path)).await?;
    for chunk in (0..n).collect::<Vec<_>>().chunks(5000) {
        let batch: Vec<_> = chunk.iter().map(|&i| corpus::observation(i, n)).collect();
        store.put_many(&batch).await?;
    }
    use mesh_memory::MemoryStore;
    store.close().await;
    if let Some(terms) = args.next() {
        let pick = |f: fn(usize, usize) -> String| -> String {
            (0..1000)
                .map(|k| f(k * 7919 % n, n))
                .collect::<Vec<_>>()
                .join(" ")
        };
        std::fs::write(
            &terms,
            format!(
                "{}\n{}\n",
                pick(corpus::marker),
                pick(corpus::common_prefix_marker)
            ),
        )?;
    }
    println!("seeded {n} observations into {path}");
    Ok(())
}
