//! One chaos host: a namespace, a HOME and state directory, the scopes it
//! declares, its `kioku-mesh serve` daemon, and its CLI run with a bound
//! on time.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::net::{Net, in_ns};

/// The port every daemon listens on, in its own namespace.
const PORT: u16 = 7447;
/// Longest a CLI command may run before it is killed and counted failed.
const CLI_TIMEOUT: Duration = Duration::from_secs(20);
/// Size of each host's state directory (a tmpfs, so a disk can fill).
const STATE_MB: u32 = 512;
/// The file that fills a host's disk while that fault is in force.
const FILLER: &str = "chaos-filler";

/// What one CLI run printed.
pub struct Output {
    /// Exit status; `None` when killed at the time bound.
    pub code: Option<i32>,
    pub stdout: String,
}

pub struct Host {
    pub name: &'static str,
    pub index: usize,
    /// `user/<id>` scope declared here, if any.
    pub user: Option<&'static str>,
    /// `team/<id>` scope declared here, if any.
    pub team: Option<&'static str>,
    pub home: PathBuf,
    bin: PathBuf,
    daemon: Option<Child>,
    paused: bool,
}

impl Host {
    pub fn new(
        name: &'static str,
        index: usize,
        user: Option<&'static str>,
        team: Option<&'static str>,
        root: &Path,
        bin: &Path,
    ) -> Result<Self> {
        let home = root.join(name);
        let state = home.join("state");
        std::fs::create_dir_all(&state).with_context(|| format!("creating {}", home.display()))?;
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={STATE_MB}m"), "tmpfs"])
            .arg(&state)
            .status()
            .is_ok_and(|s| s.success());
        anyhow::ensure!(mounted, "could not mount a tmpfs on {}", state.display());
        Ok(Self {
            name,
            index,
            user,
            team,
            home,
            bin: bin.to_path_buf(),
            daemon: None,
            paused: false,
        })
    }

    pub fn state_dir(&self) -> PathBuf {
        self.home.join("state")
    }

    /// Whether this host holds `scope` (`mesh`, `user/alice`, `team/core`).
    pub fn holds(&self, scope: &str) -> bool {
        scope == "mesh"
            || self.user.is_some_and(|u| scope == format!("user/{u}"))
            || self.team.is_some_and(|t| scope == format!("team/{t}"))
    }

    fn command(&self) -> Command {
        let mut c = in_ns(&Net::ns(self.name), &self.bin.to_string_lossy());
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.home)
            .env("KIOKU_MESH_STATE_DIR", self.state_dir())
            .env("KIOKU_MESH_BACKEND", "zenoh")
            .env("KIOKU_MESH_AGENT_FAMILY", "chaos")
            .env("KIOKU_MESH_CLIENT_ID", format!("writer@{}", self.name))
            .env("ZENOH_CONNECT", format!("tcp/127.0.0.1:{PORT}"))
            .env("KIOKU_MESH_REPAIR_INTERVAL_SECS", "3")
            .env("KIOKU_MESH_USER_ID", self.user.unwrap_or(""))
            .env("KIOKU_MESH_TEAM_ID", self.team.unwrap_or(""))
            // KIOKU_CHAOS_LOG: the daemons' log filter, for a closer look.
            .env(
                "RUST_LOG",
                std::env::var("KIOKU_CHAOS_LOG")
                    .unwrap_or_else(|_| "info,zenoh=warn,zenoh_link_tcp=error".to_owned()),
            )
            .current_dir(&self.home);
        c
    }

    /// Start the daemon: the hub listens, the spokes also dial the hub.
    pub fn start(&mut self) -> Result<()> {
        let mut c = self.command();
        c.args(["serve", "--listen", &format!("tcp/0.0.0.0:{PORT}")]);
        if self.index > 0 {
            c.args(["--connect", &format!("tcp/{}:{PORT}", Net::addr(0))]);
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.home.join("serve.log"))?;
        c.stdout(log.try_clone()?).stderr(log).stdin(Stdio::null());
        self.daemon = Some(c.spawn().context("starting kioku-mesh serve")?);
        self.paused = false;
        Ok(())
    }

    pub fn running(&mut self) -> bool {
        self.daemon
            .as_mut()
            .is_some_and(|c| c.try_wait().ok().flatten().is_none())
    }

    fn signal(&self, signal: &str) {
        if let Some(c) = &self.daemon {
            // `ip netns exec` execs the program: the child's pid is the daemon's.
            let _ = Command::new("kill")
                .args(["-s", signal, &c.id().to_string()])
                .status();
        }
    }

    /// SIGKILL, no chance to clean up.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.daemon.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.paused = false;
    }

    pub fn pause(&mut self) {
        self.signal("STOP");
        self.paused = true;
    }

    pub fn resume(&mut self) {
        self.signal("CONT");
        self.paused = false;
    }

    /// Resume, or restart a daemon that is gone.
    pub fn heal(&mut self) -> Result<()> {
        self.free_disk();
        if self.paused {
            self.resume();
        }
        if !self.running() {
            self.start()?;
        }
        Ok(())
    }

    /// Run the CLI with `args`, killed after [`CLI_TIMEOUT`].
    pub fn cli(&self, args: &[&str]) -> Output {
        self.cli_with(args, &[])
    }

    /// Run the CLI with `args` and extra environment variables.
    pub fn cli_with(&self, args: &[&str], env: &[(&str, &Path)]) -> Output {
        let mut c = self.command();
        c.args(args).stdout(Stdio::piped()).stderr(Stdio::null());
        for (name, value) in env {
            c.env(name, value);
        }
        let Ok(mut child) = c.spawn() else {
            return Output {
                code: None,
                stdout: String::new(),
            };
        };
        // Read while it runs: a full pipe would stall it.
        let reader = child.stdout.take().map(|mut out| {
            std::thread::spawn(move || {
                use std::io::Read;
                let mut text = String::new();
                let _ = out.read_to_string(&mut text);
                text
            })
        });
        let deadline = Instant::now() + CLI_TIMEOUT;
        let code = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status.code(),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break None;
                }
            }
        };
        let stdout = reader.and_then(|r| r.join().ok()).unwrap_or_default();
        Output { code, stdout }
    }

    /// Ids of every live observation in this host's index.
    pub fn live_ids(&self) -> Option<std::collections::HashSet<String>> {
        self.live_ids_in(None)
    }

    /// Ids of every live observation in `index` (default: the host's own).
    pub fn live_ids_in(&self, index: Option<&Path>) -> Option<std::collections::HashSet<String>> {
        let env: Vec<(&str, &Path)> = index
            .map(|p| ("KIOKU_MESH_INDEX_DB", p))
            .into_iter()
            .collect();
        let out = self.cli_with(&["search", "--format", "json", "-n", "10000"], &env);
        if out.code != Some(0) {
            return None;
        }
        let docs: Vec<serde_json::Value> = serde_json::from_str(out.stdout.trim()).ok()?;
        Some(
            docs.iter()
                .filter_map(|d| d["observation_id"].as_str().map(str::to_owned))
                .collect(),
        )
    }

    /// Fill the state directory's disk: a file grows until the tmpfs
    /// refuses more. Returns the bytes written.
    pub fn fill_disk(&self) -> u64 {
        use std::io::Write;
        let Ok(mut file) = std::fs::File::create(self.state_dir().join(FILLER)) else {
            return 0;
        };
        let chunk = vec![0u8; 1 << 20];
        let mut written = 0u64;
        // Bounded: the tmpfs is STATE_MB big.
        for _ in 0..=STATE_MB {
            match file.write(&chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => written += n as u64,
            }
        }
        written
    }

    /// Give the disk back.
    pub fn free_disk(&self) {
        let _ = std::fs::remove_file(self.state_dir().join(FILLER));
    }

    /// Kill the daemon, overwrite the tail of its index with garbage (a
    /// torn write), and start it again. Returns the bytes overwritten.
    pub fn corrupt_index(&mut self, noise: u64) -> Result<u64> {
        use std::io::{Seek, SeekFrom, Write};
        self.kill9();
        let path = self.state_dir().join("mesh").join("index.db");
        let mut damaged = 0;
        if let Ok(mut file) = std::fs::OpenOptions::new().write(true).open(&path) {
            let len = file.metadata().map(|m| m.len()).unwrap_or(0);
            let span = (len / 4).min(16 * 1024);
            if span > 0 {
                let garbage: Vec<u8> = (0..span)
                    .map(|i| (noise.rotate_left((i % 64) as u32) ^ i) as u8)
                    .collect();
                file.seek(SeekFrom::Start(len - span))?;
                file.write_all(&garbage)?;
                damaged = span;
            }
        }
        self.start()?;
        Ok(damaged)
    }

    /// Stop the daemon for good.
    pub fn shutdown(&mut self) {
        if self.paused {
            self.resume();
        }
        self.kill9();
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        self.shutdown();
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.state_dir())
            .status();
    }
}

/// Unmount the state directories a killed run left behind.
pub fn sweep_mounts() {
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    for line in mounts.lines() {
        if let Some(point) = line.split_whitespace().nth(1)
            && point.contains("/kioku-chaos-")
        {
            let _ = Command::new("umount").args(["-l", point]).status();
        }
    }
}
