//! `cargo xtask bench --mesh`: real daemons on loopback, timed from the
//! outside. Starts a hub and two spokes (`kioku-mesh serve`), then measures
//! put-to-visible latency between the spokes, the catch-up of a fresh spoke,
//! a full index rebuild and the daemon's resident memory.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::{Workspace, run};

/// A running daemon, killed when dropped.
struct Daemon {
    child: Child,
    port: u16,
    state: PathBuf,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Daemon {
    fn start(bin: &Path, root: &Path, name: &str, connect: Option<u16>) -> Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        Self::spawn(bin, &root.join(name), port, connect)
    }

    /// Start `serve` with its home at `home` (kept if it exists).
    fn spawn(bin: &Path, home: &Path, port: u16, connect: Option<u16>) -> Result<Self> {
        let name = home.display();
        let state = home.join("state");
        std::fs::create_dir_all(&state)?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(home.join("serve.log"))?;
        let mut cmd = Command::new(bin);
        cmd.args(["serve", "--listen", &format!("tcp/127.0.0.1:{port}")])
            .env("HOME", home)
            .env("KIOKU_MESH_STATE_DIR", &state)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log);
        if let Some(hub) = connect {
            cmd.args(["--connect", &format!("tcp/127.0.0.1:{hub}")]);
        }
        let child = cmd.spawn().context("starting kioku-mesh serve")?;
        let daemon = Self { child, port, state };
        let deadline = Instant::now() + Duration::from_secs(30);
        // Ready once it listens and has created its index (just after).
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err()
            || !daemon.state.join("mesh/index.db").exists()
        {
            if Instant::now() > deadline {
                bail!("{name} did not listen on {port} and open its index");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(daemon)
    }

    fn endpoint(&self) -> String {
        format!("tcp/127.0.0.1:{}", self.port)
    }

    fn index(&self) -> String {
        self.state.join("mesh/index.db").display().to_string()
    }

    /// Resident memory, split into anonymous (heap) and file-backed pages
    /// (the memory-mapped index and RocksDB files, which the kernel can drop).
    fn rss(&self) -> String {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let mib = |field: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
                .map_or(0.0, |kib| kib / 1024.0)
        };
        format!(
            "{:.0} MiB (anonymous {:.0} MiB, file-backed {:.0} MiB)",
            mib("VmRSS:"),
            mib("RssAnon:"),
            mib("RssFile:")
        )
    }
}

fn probe(bin: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new(bin)
        .args(args)
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("running mesh_probe {}", args.join(" ")))?;
    if !out.status.success() {
        bail!("mesh_probe {} failed", args.join(" "));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

pub fn mesh_bench(ws: &Workspace, release: &Path, quick: bool) -> Result<()> {
    let bin = release.join("kioku-mesh");
    let probe_bin = release.join("examples/mesh_probe");
    let root = ws.target.join("bench-mesh");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root)?;
    let (saves, catch_up, big) = if quick {
        (200, 2_000, 0)
    } else {
        (1_000, 10_000, 100_000)
    };

    let hub = Daemon::start(&bin, &root, "hub", None)?;
    let a = Daemon::start(&bin, &root, "a", Some(hub.port))?;
    let b = Daemon::start(&bin, &root, "b", Some(hub.port))?;
    println!("\n## mesh (3 daemons on loopback: hub, spokes A and B)\n");
    println!(
        "{}",
        probe(
            &probe_bin,
            &["latency", &a.endpoint(), &b.index(), &saves.to_string()]
        )?
    );

    println!(
        "{}",
        probe(
            &probe_bin,
            &["seed", &hub.endpoint(), "0", &catch_up.to_string()]
        )?
    );
    let total = saves + catch_up;
    let started = Instant::now();
    let late = Daemon::start(&bin, &root, "late", Some(hub.port))?;
    let waited = probe(
        &probe_bin,
        &["wait", &late.index(), &total.to_string(), "120"],
    )?;
    println!(
        "fresh spoke catch-up of {total} observations: {:.2} s from spawn to a complete index (the probe waited {waited} s)",
        started.elapsed().as_secs_f64()
    );
    println!("daemon RSS at {total} observations: hub {}", hub.rss());
    drop(late);
    drop(b);
    drop(a);

    if big > 0 {
        println!(
            "{}",
            probe(
                &probe_bin,
                &[
                    "seed",
                    &hub.endpoint(),
                    &catch_up.to_string(),
                    &(big - total).to_string()
                ]
            )?
        );
        let n = big;
        probe(&probe_bin, &["wait", &hub.index(), &n.to_string(), "600"])?;
        println!(
            "daemon RSS at {n} observations, after taking them in: hub {}",
            hub.rss()
        );
        let home = hub.state.parent().context("home")?.to_owned();
        let port = hub.port;
        drop(hub);
        let started = Instant::now();
        let hub = Daemon::spawn(&bin, &home, port, None)?;
        println!(
            "daemon restart at {n} observations: listening with its index open in {:.2} s",
            started.elapsed().as_secs_f64()
        );
        // The start-up repair (a full scan) runs in the first seconds.
        std::thread::sleep(Duration::from_secs(15));
        println!(
            "daemon RSS at {n} observations, 15 s after a restart: hub {}",
            hub.rss()
        );
        for args in [&["--rebuild", "status"][..], &["realign-index"][..]] {
            let started = Instant::now();
            run(Command::new(&bin)
                .args(args)
                .env("HOME", hub.state.parent().context("home")?)
                .env("KIOKU_MESH_STATE_DIR", &hub.state)
                .env("KIOKU_MESH_BACKEND", "zenoh")
                .env("ZENOH_CONNECT", hub.endpoint())
                .stdout(Stdio::null()))?;
            println!(
                "`kioku-mesh {}` at {n} observations: {:.2} s",
                args.join(" "),
                started.elapsed().as_secs_f64()
            );
        }
    }
    Ok(())
}
