//! The mesh tests' fixtures: a [`Node`] is one host (its own HOME, state
//! directory and loopback port asked from the OS) whose CLI talks to its own
//! daemon; a [`Mesh`] is a hub and two spokes dialing it, with their
//! daemons started and stopped by name. Every wait is bounded.

use std::time::Duration;

use crate::harness::{Daemon, Sandbox, free_port};

/// Long enough for storage alignment (10 s interval) plus repairs.
pub const CONVERGE: Duration = Duration::from_secs(60);
/// Live replication should be near-instant; allow for a loaded machine.
pub const REPLICATE: Duration = Duration::from_secs(15);

/// One host: a sandbox whose CLI talks to its own daemon.
pub struct Node {
    pub sb: Sandbox,
    pub port: u16,
}

impl Node {
    pub fn new() -> Self {
        let mut sb = Sandbox::new();
        let port = free_port();
        sb.set("KIOKU_MESH_BACKEND", "zenoh");
        sb.set("ZENOH_CONNECT", &format!("tcp/127.0.0.1:{port}"));
        sb.set("KIOKU_MESH_REPAIR_INTERVAL_SECS", "3");
        sb.set(
            "RUST_LOG",
            &std::env::var("KIOKU_TEST_DAEMON_LOG")
                .unwrap_or_else(|_| "info,zenoh=warn,zenoh_link_tcp=error".to_owned()),
        );
        Self { sb, port }
    }

    /// Start this node's daemon, dialing the given nodes.
    #[track_caller]
    pub fn serve(&self, connect: &[&Node]) -> Daemon {
        let ports: Vec<u16> = connect.iter().map(|n| n.port).collect();
        Daemon::start(&self.sb, self.port, &ports)
    }

    /// Ids found by a search for `term` on this node.
    pub fn found(&self, term: &str) -> Vec<String> {
        let run = self
            .sb
            .km(&["search", term, "--limit", "2000", "--format", "json"]);
        if run.code != 0 {
            return Vec::new();
        }
        serde_json::from_str::<Vec<serde_json::Value>>(run.stdout.trim())
            .unwrap_or_default()
            .iter()
            .filter_map(|o| o["observation_id"].as_str().map(str::to_owned))
            .collect()
    }

    /// The state `get-memory` reports for `id`, or `None` when unknown.
    pub fn state_of(&self, id: &str) -> Option<String> {
        let run = self.sb.km(&["get-memory", id]);
        run.stdout
            .lines()
            .find_map(|l| l.strip_prefix("state: "))
            .map(str::to_owned)
    }

    /// A `status` field as a number.
    pub fn status_count(&self, field: &str) -> u64 {
        let run = self.sb.km(&["status"]);
        run.stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{field}: ")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    }
}

/// One of a [`Mesh`]'s hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Host {
    Hub,
    A,
    B,
}

/// A hub and two spokes, A and B, that dial it.
pub struct Mesh {
    // Declared first so they are dropped (killed) before the sandboxes'
    // directories are removed.
    daemons: [Option<Daemon>; 3],
    pub hub: Node,
    pub a: Node,
    pub b: Node,
}

impl Mesh {
    /// Three hosts, no daemon running: set per-host variables on
    /// `hub.sb`, `a.sb`, `b.sb` first, then [`Mesh::start`].
    pub fn new() -> Self {
        Self {
            daemons: [None, None, None],
            hub: Node::new(),
            a: Node::new(),
            b: Node::new(),
        }
    }

    /// Three hosts with their daemons up: the hub first, then the spokes.
    #[track_caller]
    pub fn running() -> Self {
        let mut mesh = Self::new();
        mesh.start();
        mesh
    }

    /// Start every daemon not running yet, the hub first.
    #[track_caller]
    pub fn start(&mut self) {
        for host in [Host::Hub, Host::A, Host::B] {
            if self.daemons[host as usize].is_none() {
                self.serve(host);
            }
        }
    }

    /// The node of `host`.
    pub fn node(&self, host: Host) -> &Node {
        match host {
            Host::Hub => &self.hub,
            Host::A => &self.a,
            Host::B => &self.b,
        }
    }

    /// Start `host`'s daemon (a spoke dials the hub) and wait until it is
    /// ready.
    #[track_caller]
    pub fn serve(&mut self, host: Host) {
        assert!(
            self.daemons[host as usize].is_none(),
            "{host:?} is already running"
        );
        let daemon = match host {
            Host::Hub => self.hub.serve(&[]),
            Host::A | Host::B => self.node(host).serve(&[&self.hub]),
        };
        self.daemons[host as usize] = Some(daemon);
    }

    /// `host`'s running daemon.
    #[track_caller]
    pub fn daemon(&self, host: Host) -> &Daemon {
        self.daemons[host as usize]
            .as_ref()
            .unwrap_or_else(|| panic!("{host:?} is not running"))
    }

    /// Stop `host`'s daemon with SIGTERM (bounded wait); its exit status.
    #[track_caller]
    pub fn stop(&mut self, host: Host) -> i32 {
        self.daemons[host as usize]
            .take()
            .unwrap_or_else(|| panic!("{host:?} is not running"))
            .stop()
    }
}
