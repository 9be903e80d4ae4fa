//! `cargo xtask bench`: whole-command timings against the Python reference
//! on the same data, then the library's criterion benchmarks.
//!
//! Each command runs as a fresh process, as a user or an agent runs it, and
//! is timed from spawn to exit. Both implementations get the same store: our
//! database is seeded with the benchmark corpus, and the reference is given
//! a copy (it reads the same raw tables and builds its own index).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::{cargo, run, tools, workspace};

struct Side {
    name: &'static str,
    bin: PathBuf,
    home: PathBuf,
    runs: usize,
}

impl Side {
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", &self.home)
            .env("KIOKU_MESH_STATE_DIR", self.home.join("state"))
            .env("KIOKU_MESH_BACKEND", "local")
            .env("KIOKU_MESH_AGENT_FAMILY", "bench")
            .env("KIOKU_MESH_CLIENT_ID", "bench@host")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        cmd
    }

    /// Wall time of each run of `args` (`{i}` is replaced by the run number).
    fn time(&self, args: &[&str]) -> Result<Vec<Duration>> {
        let mut samples = Vec::with_capacity(self.runs);
        for i in 0..self.runs + 1 {
            let args: Vec<String> = args
                .iter()
                .map(|a| a.replace("{i}", &i.to_string()))
                .collect();
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let started = Instant::now();
            let status = self
                .command(&args)
                .status()
                .with_context(|| format!("running {}", self.name))?;
            let took = started.elapsed();
            if !status.success() {
                bail!("{} {args:?} failed with {status}", self.name);
            }
            // The first run warms caches (and lets the reference build its index).
            if i > 0 {
                samples.push(took);
            }
        }
        samples.sort();
        Ok(samples)
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn summary(samples: &[Duration]) -> (f64, f64, f64) {
    let mean = samples.iter().map(|d| ms(*d)).sum::<f64>() / samples.len() as f64;
    let p = |q: f64| ms(samples[((samples.len() as f64 - 1.0) * q).round() as usize]);
    (mean, p(0.5), p(0.95))
}

fn seed(seeder: &Path, db: &Path, n: usize) -> Result<PathBuf> {
    let terms = db.with_extension("terms");
    if db.exists() && terms.exists() {
        return Ok(terms);
    }
    std::fs::create_dir_all(db.parent().context("db parent")?)?;
    run(Command::new(seeder).arg(db).arg(n.to_string()).arg(&terms))?;
    Ok(terms)
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * q).round() as usize]
}

/// MCP servers through the Python SDK: spawn to initialize reply, and
/// `search_memory` latency in one session, at 10,000 observations.
fn mcp_bench(
    ws: &crate::Workspace,
    tools: &tools::Tools,
    release: &Path,
    seeder: &Path,
    quick: bool,
) -> Result<()> {
    let n = 10_000;
    let root = ws.target.join("bench-mcp");
    let _ = std::fs::remove_dir_all(&root);
    let ours_home = root.join("ours");
    let ref_home = root.join("reference");
    let db = ours_home.join("state/local/raw.db");
    let terms = seed(seeder, &db, n)?;
    let ref_db = ref_home.join("state/local/raw.db");
    std::fs::create_dir_all(ref_db.parent().context("db parent")?)?;
    std::fs::copy(&db, &ref_db)?;
    let script = ws.root.join("xtask/scripts/mcp_bench.py");
    let (inits, searches) = if quick { ("3", "100") } else { ("10", "500") };
    println!(
        "\n| MCP server, {n} obs | initialize p50 / max (ms) | search_memory, selective term p50 / p99 (ms) | search_memory, common-prefix term p50 / p99 (ms) | trivial call p50 (ms) |"
    );
    println!("|---|---|---|---|---|");
    for (name, server, home) in [
        (
            "kioku-mesh-mcp (Rust)",
            release.join("kioku-mesh-mcp"),
            &ours_home,
        ),
        (
            "reference kioku-mesh-mcp",
            tools.python_venv.join("bin/kioku-mesh-mcp"),
            &ref_home,
        ),
    ] {
        let out = Command::new(tools.python())
            .arg(&script)
            .arg(&server)
            .args([inits, searches])
            .arg(&terms)
            .env("HOME", home)
            .env("KIOKU_MESH_STATE_DIR", home.join("state"))
            .env("KIOKU_MESH_BACKEND", "local")
            .env("KIOKU_MESH_AGENT_FAMILY", "bench")
            .env("FASTMCP_SHOW_CLI_BANNER", "false")
            .stderr(Stdio::null())
            .output()
            .with_context(|| format!("running the MCP benchmark against {name}"))?;
        if !out.status.success() {
            bail!(
                "MCP benchmark against {name} failed: {}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
        let v: serde_json::Value =
            serde_json::from_slice(&out.stdout).context("reading the MCP benchmark result")?;
        let list = |v: &serde_json::Value| -> Vec<f64> {
            v.as_array()
                .map(|a| a.iter().filter_map(|x| x.as_f64()).collect())
                .unwrap_or_default()
        };
        let init = list(&v["initialize_ms"]);
        let selective = list(&v["search_ms"]["selective"]);
        let common = list(&v["search_ms"]["common_prefix"]);
        let trivial = list(&v["trivial_call_ms"]);
        println!(
            "| {name} | {:.1} / {:.1} | {:.2} / {:.2} | {:.2} / {:.2} | {:.2} |",
            percentile(&init, 0.5),
            init.last().copied().unwrap_or_default(),
            percentile(&selective, 0.5),
            percentile(&selective, 0.99),
            percentile(&common, 0.5),
            percentile(&common, 0.99),
            percentile(&trivial, 0.5)
        );
    }
    Ok(())
}

pub fn run_bench(args: &[String]) -> Result<()> {
    let quick = args.iter().any(|a| a == "--quick");
    let cli_only = args.iter().any(|a| a == "--cli-only");
    let mcp_only = args.iter().any(|a| a == "--mcp-only");
    let mesh_only = args.iter().any(|a| a == "--mesh-only");
    let tls_only = args.iter().any(|a| a == "--tls-only");
    let msg_only = args.iter().any(|a| a == "--msg-only");
    let ws = workspace()?;
    let tools = tools::ensure_all()?;
    // One build of everything the benchmarks run, whichever part runs.
    run(cargo().current_dir(&ws.root).args([
        "build",
        "--release",
        "-p",
        "kioku-mesh",
        "-p",
        "kioku-mesh-mcp",
        "-p",
        "mesh-memory",
        "-p",
        "mesh-messaging",
        // The library the mesh benchmark's daemons load from release/deps.
        "-p",
        "mesh-rocksdb-backend",
        "--lib",
        "--bins",
        "--example",
        "seed_corpus",
        "--example",
        "mesh_probe",
        "--example",
        "msg_probe",
    ]))?;
    if mesh_only {
        return crate::bench_mesh::mesh_bench(&ws, &ws.target.join("release"), quick);
    }
    if msg_only {
        return crate::bench_tls::msg_bench(&ws, &ws.target.join("release"));
    }
    if tls_only {
        return crate::bench_tls::tls_bench(&ws, &ws.target.join("release"));
    }
    let release = ws.target.join("release");
    let seeder = release.join("examples/seed_corpus");
    if mcp_only {
        return mcp_bench(&ws, &tools, &release, &seeder, quick);
    }
    // 50 observations is what a new user and every agent hook sees: there
    // the whole command (start-up, open, close) is the cost.
    let sizes: &[usize] = if quick {
        &[50, 1_000]
    } else {
        &[50, 1_000, 10_000]
    };

    println!(
        "\n| store | command | kioku-mesh (Rust) mean / p50 / p95 ms | Python reference mean / p50 / p95 ms | speed-up (mean) |"
    );
    println!("|---|---|---|---|---|");
    for &n in sizes {
        let root = ws.target.join(format!("bench-cli/n{n}"));
        let _ = std::fs::remove_dir_all(&root);
        let ours = Side {
            name: "kioku-mesh",
            bin: release.join("kioku-mesh"),
            home: root.join("ours"),
            runs: if quick { 20 } else { 50 },
        };
        let reference = Side {
            name: "reference",
            bin: tools.reference_bin(),
            home: root.join("reference"),
            runs: if quick { 5 } else { 15 },
        };
        let db = ours.home.join("state/local/raw.db");
        seed(&seeder, &db, n)?;
        let ref_db = reference.home.join("state/local/raw.db");
        std::fs::create_dir_all(ref_db.parent().context("db parent")?)?;
        std::fs::copy(&db, &ref_db).context("copying the corpus for the reference")?;

        // Terms of the corpus (crates/mesh-memory/benches/corpus.rs): a word
        // that matches about 1% of rows and a marker shared by ten rows.
        let cases: [(&str, Vec<&str>); 3] = [
            (
                "save",
                vec![
                    "save",
                    "benchmark note {i} about retries",
                    "--subject",
                    "bench",
                    "--summary",
                    "timing run",
                    "-p",
                    "bench",
                ],
            ),
            ("search (selective term)", vec!["search", "ref00042"]),
            ("search (browse, 50 newest)", vec!["search"]),
        ];
        for (label, args) in &cases {
            let a = summary(&ours.time(args)?);
            let b = summary(&reference.time(args)?);
            println!(
                "| {n} obs | `{label}` | {:.1} / {:.1} / {:.1} | {:.0} / {:.0} / {:.0} | {:.0}x |",
                a.0,
                a.1,
                a.2,
                b.0,
                b.1,
                b.2,
                b.0 / a.0
            );
        }
    }
    if !cli_only {
        mcp_bench(&ws, &tools, &release, &seeder, quick)?;
        crate::bench_mesh::mesh_bench(&ws, &release, quick)?;
    }
    if !cli_only {
        let mut cmd = cargo();
        cmd.current_dir(&ws.root)
            .args(["bench", "-p", "mesh-memory", "--bench", "search"]);
        if quick {
            cmd.env("KIOKU_BENCH_QUICK", "1");
        }
        run(&mut cmd)?;
    }
    Ok(())
}
