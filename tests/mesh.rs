//! Mesh mode with real daemons: each node is its own `kioku-mesh serve`
//! process with its own state directory and a loopback port asked from the
//! OS. Every wait is bounded.

use std::time::Duration;

use crate::harness::{Daemon, Sandbox, eventually, free_port, saved_id};

/// Long enough for storage alignment (10 s interval) plus repairs.
const CONVERGE: Duration = Duration::from_secs(60);
/// Live replication should be near-instant; allow for a loaded machine.
const REPLICATE: Duration = Duration::from_secs(15);

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

#[test]
fn a_save_on_one_spoke_is_found_on_another_through_the_hub() {
    let hub = Node::new();
    let a = Node::new();
    let b = Node::new();
    let _hub_d = hub.serve(&[]);
    let _a_d = a.serve(&[&hub]);
    let _b_d = b.serve(&[&hub]);

    let out = a.sb.km(&[
        "save",
        "spoke A decided on zstd level 3 for the archive",
        "--subject",
        "compression",
        "--summary",
        "zstdlevelthree",
    ]);
    let id = saved_id(out.ok());
    assert!(out.stdout.contains("visibility=mesh"), "{}", out.stdout);
    assert!(
        eventually(REPLICATE, || b.found("zstdlevelthree") == vec![id.clone()]),
        "spoke B never found the save"
    );
    assert!(eventually(REPLICATE, || hub.found("zstdlevelthree")
        == vec![id.clone()]));

    // A delete on B hides it on A.
    b.sb.km(&["delete", &id, "--reason", "superseded"]).ok();
    assert!(
        eventually(REPLICATE, || a.found("zstdlevelthree").is_empty()),
        "the tombstone did not reach spoke A"
    );
    assert_eq!(a.state_of(&id).as_deref(), Some("tombstoned"));
}

#[test]
fn serve_stops_cleanly_on_sigterm_and_keeps_its_data() {
    let node = Node::new();
    let daemon = node.serve(&[]);
    let id = node.sb.save("kept across restarts keepacross", &[]);
    assert_eq!(daemon.stop(), 0, "serve exits 0 on SIGTERM");

    // With the daemon down reads still work from the index.
    assert_eq!(node.found("keepacross"), vec![id.clone()]);

    // The storage survives: a fresh index is refilled from it.
    std::fs::remove_file(node.sb.state_dir().join("mesh/index.db")).unwrap();
    let _daemon = node.serve(&[]);
    assert!(eventually(REPLICATE, || node.found("keepacross") == vec![id.clone()]));
}

#[test]
fn a_save_with_the_daemon_down_is_queued_and_drained_in_order() {
    // The CLI's own daemon would drain the queue itself as soon as it is up;
    // pointing the CLI at another host's daemon leaves the draining to it.
    let hub = Node::new();
    let mut node = Node::new();
    let first = node.sb.save_run("queued first queuedorder", &[]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert!(first.stdout.starts_with("queued: "), "{}", first.stdout);
    assert!(first.stderr.contains("pending queue"), "{}", first.stderr);
    let second = node.sb.save_run("queued second queuedorder", &[]);
    assert!(second.stdout.starts_with("queued: "));
    assert_eq!(node.status_count("pending_puts"), 2);
    // Read-your-writes: queued saves are searchable here at once.
    assert_eq!(node.found("queuedorder").len(), 2);

    let drain = node.sb.km(&["drain", "--pending"]);
    assert_eq!(
        drain.code, 1,
        "drain without a daemon fails: {}",
        drain.stdout
    );
    assert!(
        drain.stderr.contains("kioku-mesh serve"),
        "{}",
        drain.stderr
    );

    let _hub_d = hub.serve(&[]);
    node.sb
        .set("ZENOH_CONNECT", &format!("tcp/127.0.0.1:{}", hub.port));
    let drain = node.sb.km(&["drain", "--pending"]);
    assert_eq!(
        drain.ok().trim(),
        "pending_puts drain complete: drained=2, remaining=0"
    );
    assert_eq!(node.status_count("pending_puts"), 0);

    assert!(eventually(REPLICATE, || hub.found("queuedorder").len() == 2));

    // The next save also delivers what is queued: queue one, then save.
    let mut other = Node::new();
    let queued = saved_id(
        &other
            .sb
            .save_run("before the daemon nextsave", &[])
            .stdout
            .replace("queued: ", "saved: "),
    );
    other
        .sb
        .set("ZENOH_CONNECT", &format!("tcp/127.0.0.1:{}", hub.port));
    let stored = other.sb.save("after the daemon nextsave", &[]);
    assert_eq!(other.status_count("pending_puts"), 0);
    assert!(eventually(REPLICATE, || hub.found("nextsave").len() == 2));
    let mut both = other.found("nextsave");
    both.sort();
    let mut want = vec![queued, stored];
    want.sort();
    assert_eq!(both, want);
}

#[test]
fn a_late_spoke_catches_up_with_a_thousand_saves() {
    let hub = Node::new();
    let a = Node::new();
    let _hub_d = hub.serve(&[]);
    let _a_d = a.serve(&[&hub]);
    let ids = crate::mesh_seed::seed(&a.sb, 1000, "catchup");
    assert_eq!(ids.len(), 1000);

    let late = Node::new();
    let _late_d = late.serve(&[&hub]);
    assert!(
        eventually(CONVERGE, || late.status_count("observations_live") == 1000),
        "the late spoke has {} of 1000",
        late.status_count("observations_live")
    );
    let found = late.found("catchup");
    assert_eq!(found.len(), 1000);
}

#[test]
fn saves_during_a_hub_outage_reach_the_other_spoke_after_it_returns() {
    let hub = Node::new();
    let a = Node::new();
    let b = Node::new();
    let hub_d = hub.serve(&[]);
    let _a_d = a.serve(&[&hub]);
    let _b_d = b.serve(&[&hub]);
    hub_d.stop();

    // A's own storage takes the saves while the hub is away.
    let ids: Vec<String> = (0..3)
        .map(|i| a.sb.save(&format!("during the outage {i} outagesave"), &[]))
        .collect();
    assert!(b.found("outagesave").is_empty());

    let _hub_d = hub.serve(&[]);
    let mut want = ids.clone();
    want.sort();
    assert!(
        eventually(CONVERGE, || {
            let mut got = b.found("outagesave");
            got.sort();
            got == want
        }),
        "spoke B has {:?} of {want:?}",
        b.found("outagesave")
    );
}

#[test]
fn a_tombstone_made_during_a_partition_hides_everywhere_and_gc_stays_gone() {
    let hub = Node::new();
    let a = Node::new();
    let b = Node::new();
    let hub_d = hub.serve(&[]);
    let _a_d = a.serve(&[&hub]);
    let _b_d = b.serve(&[&hub]);
    let id = a.sb.save("soon deleted partitiondelete", &[]);
    let keep = a.sb.save("kept partitiondelete", &[]);
    assert!(eventually(REPLICATE, || b.found("partitiondelete").len() == 2));

    hub_d.stop();
    a.sb.km(&["delete", &id]).ok();
    assert_eq!(a.found("partitiondelete"), vec![keep.clone()]);
    assert_eq!(b.found("partitiondelete").len(), 2, "B cannot know yet");

    let _hub_d = hub.serve(&[]);
    assert!(
        eventually(CONVERGE, || b.found("partitiondelete")
            == vec![keep.clone()]),
        "the tombstone never reached B"
    );
    assert!(eventually(REPLICATE, || hub.found("partitiondelete")
        == vec![keep.clone()]));

    // Physically removed on A: gone from every index, and it stays gone
    // through later repairs.
    let gc = a.sb.km(&["gc", "--force-id", &id]);
    assert!(gc.ok().contains(&id), "{}", gc.stdout);
    assert!(
        eventually(CONVERGE, || b.state_of(&id).is_none()
            && hub.state_of(&id).is_none()),
        "B: {:?}, hub: {:?}",
        b.state_of(&id),
        hub.state_of(&id)
    );
    std::thread::sleep(Duration::from_secs(8));
    assert_eq!(b.state_of(&id), None);
    assert_eq!(a.state_of(&id), None);
    assert_eq!(b.found("partitiondelete"), vec![keep]);
}

#[test]
fn a_user_scope_stays_on_hosts_that_declare_it() {
    let mut hub = Node::new();
    hub.sb.set("KIOKU_MESH_USER_ID", "");
    let mut a = Node::new();
    a.sb.set("KIOKU_MESH_USER_ID", "alice");
    let mut b = Node::new();
    b.sb.set("KIOKU_MESH_USER_ID", "alice");
    let other = Node::new();
    let _hub_d = hub.serve(&[]);
    let _a_d = a.serve(&[&hub]);
    let _b_d = b.serve(&[&hub]);
    let _o_d = other.serve(&[&hub]);

    let out =
        a.sb.save_run("alice only privatenote", &["--visibility", "user"]);
    let id = saved_id(out.ok());
    assert!(
        out.stdout.contains("visibility=user/alice"),
        "{}",
        out.stdout
    );
    let mesh_id = a.sb.save("everyone publicnote", &[]);

    assert!(eventually(REPLICATE, || b.found("privatenote") == vec![id.clone()]));
    assert!(eventually(REPLICATE, || other.found("publicnote")
        == vec![mesh_id.clone()]));
    // Give a wrongly routed copy every chance to arrive, including repairs.
    std::thread::sleep(Duration::from_secs(7));
    for node in [&hub, &other] {
        assert!(node.found("privatenote").is_empty());
        assert_eq!(node.state_of(&id), None);
        let stores: Vec<String> = std::fs::read_dir(node.sb.state_dir())
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            !stores.iter().any(|s| s.contains("user")),
            "a host without the scope made a storage for it: {stores:?}"
        );
    }
}

#[test]
fn kill_9_during_a_save_burst_loses_nothing_reported() {
    let hub = Node::new();
    let a = Node::new();
    let _hub_d = hub.serve(&[]);
    let a_d = a.serve(&[&hub]);

    let burst = std::thread::scope(|scope| {
        let saver = scope.spawn(|| {
            let mut reported = Vec::new();
            for i in 0..60 {
                let run = a.sb.save_run(&format!("burst {i} burstsave"), &[]);
                // Saved or queued both promise the write survives.
                if run.code == 0 {
                    let line = run.stdout.lines().next().unwrap_or_default().to_owned();
                    reported.push(saved_id(&line.replace("queued: ", "saved: ")));
                }
            }
            reported
        });
        std::thread::sleep(Duration::from_millis(400));
        a_d.kill9();
        saver.join().unwrap()
    });
    assert!(
        burst.len() >= 50,
        "only {} of 60 saves were answered",
        burst.len()
    );

    let _a_d = a.serve(&[&hub]);
    a.sb.km(&["drain", "--pending"]).ok();
    let mut want = burst.clone();
    want.sort();
    assert!(
        eventually(CONVERGE, || {
            let mut got = hub.found("burstsave");
            got.sort();
            want.iter().all(|id| got.contains(id))
        }),
        "the hub is missing {:?}",
        want.iter()
            .filter(|id| !hub.found("burstsave").contains(id))
            .collect::<Vec<_>>()
    );
}

#[test]
fn garbage_off_the_wire_is_dropped_and_the_daemon_keeps_working() {
    let node = Node::new();
    let daemon = node.serve(&[]);
    let dropped = crate::mesh_seed::put_garbage(&node.sb);
    let id = node.sb.save("after the garbage garbagecheck", &[]);
    assert_eq!(node.found("garbagecheck"), vec![id]);
    assert_eq!(
        node.status_count("observations_live"),
        1,
        "garbage reached the index: {dropped:?}"
    );
    let mut daemon = daemon;
    assert!(daemon.exited().is_none(), "{}", daemon.log_text());
}

#[test]
fn init_writes_a_hub_or_spoke_config_and_refuses_bad_shapes() {
    let sb = Sandbox::new();
    let out = sb.km(&[
        "init",
        "--mode",
        "hub",
        "--listen",
        "127.0.0.1",
        "--listen",
        "10.0.0.5",
    ]);
    let text = out.ok();
    assert!(text.contains("wrote "), "{text}");
    assert!(
        text.contains("kioku-mesh init --mode spoke --listen 127.0.0.1 --connect 10.0.0.5:7447")
    );
    let config = std::fs::read_to_string(sb.config_dir().join("zenohd.json5")).unwrap();
    assert!(config.contains("\"tcp/127.0.0.1:7447\"") && config.contains("\"tcp/10.0.0.5:7447\""));
    assert!(config.contains("key_expr: \"mem/mesh/**\""));
    assert!(config.contains("propagation_delay: 250"));
    let yaml = std::fs::read_to_string(sb.config_dir().join("config.yaml")).unwrap();
    assert!(yaml.contains("backend: zenoh"), "{yaml}");

    // An existing file needs --force.
    let again = sb.km(&["init", "--mode", "hub", "--listen", "127.0.0.1"]);
    assert!(again.fails_with(1).contains("--force"));

    let refusals: [(&[&str], &str); 4] = [
        (
            &["hub", "--listen", "127.0.0.1", "--connect", "x"],
            "hubs only listen",
        ),
        (&["spoke", "--listen", "127.0.0.1"], "--connect required"),
        (&["spoke", "--connect", "hub"], "--listen required"),
        (
            &["spoke", "--listen", "a b", "--connect", "hub"],
            "invalid endpoint",
        ),
    ];
    for (args, why) in refusals {
        let mut all = vec!["init", "--force", "--mode"];
        all.extend_from_slice(args);
        let run = sb.km(&all);
        assert!(run.fails_with(2).contains(why), "{all:?}: {}", run.stderr);
    }

    let printed = sb.km(&[
        "init",
        "--mode",
        "spoke",
        "--listen",
        "127.0.0.1",
        "--connect",
        "hub.lan",
        "--connect",
        "hub2.lan:7000",
        "--print",
        "--install-systemd",
    ]);
    let text = printed.ok();
    assert!(text.contains("\"tcp/hub.lan:7447\"") && text.contains("\"tcp/hub2.lan:7000\""));
    assert!(
        text.contains("ExecStart=") && text.contains(" serve"),
        "{text}"
    );
    // --print writes nothing.
    let config_after = std::fs::read_to_string(sb.config_dir().join("zenohd.json5")).unwrap();
    assert_eq!(config_after, config);

    // The written config runs.
    let mut sb = sb;
    let port = free_port();
    sb.set("ZENOH_CONNECT", &format!("tcp/127.0.0.1:{port}"));
    let node = Node { sb, port };
    let _d = node.serve(&[]);
    let id = node.sb.save("from an init config initconfig", &[]);
    assert_eq!(node.found("initconfig"), vec![id]);
}

#[test]
fn status_and_doctor_report_the_mesh() {
    let node = Node::new();
    // Daemon down: status still answers from the index; doctor fails.
    let status = node.sb.km(&["status"]);
    assert!(
        status.ok().contains("zenoh_session: disconnected"),
        "{}",
        status.stdout
    );
    assert!(status.stdout.contains("mesh_ready: waiting (no session)"));
    let doctor = node.sb.km(&["doctor"]);
    assert_eq!(doctor.code, 2, "{}", doctor.stdout);
    assert!(
        doctor.stdout.contains("[FAIL] daemon_reachable"),
        "{}",
        doctor.stdout
    );
    assert!(doctor.stdout.contains("kioku-mesh serve"));

    let _d = node.serve(&[]);
    let id = node.sb.save("status probe statusprobe", &[]);
    let status = node.sb.km(&["status"]);
    let text = status.ok();
    assert!(text.contains("zenoh_session: connected"), "{text}");
    assert!(text.contains("last_put_status: ok"));
    assert!(text.contains("pending_puts: 0"));
    assert!(text.contains("mesh_ready: yes"), "{text}");
    assert!(
        text.contains("storages_seen: 1 — agent_mem (mem/mesh/**)"),
        "{text}"
    );
    let doctor = node.sb.km(&["doctor", "--json"]);
    let report: serde_json::Value = serde_json::from_str(&doctor.stdout).unwrap();
    let status_of = |name: &str| {
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .map(|c| c["status"].as_str().unwrap().to_owned())
    };
    assert_eq!(status_of("daemon_reachable").as_deref(), Some("PASS"));
    assert_eq!(status_of("storages").as_deref(), Some("PASS"));
    assert_eq!(status_of("pending_puts").as_deref(), Some("PASS"));
    // No zenohd.json5: serve used its built-in configuration.
    assert_eq!(status_of("daemon_config").as_deref(), Some("WARN"));

    // realign-index rebuilds a lost index from the mesh.
    std::fs::remove_file(node.sb.state_dir().join("mesh/index.db")).unwrap();
    let realign = node.sb.km(&["--rebuild", "realign-index"]);
    assert!(
        realign.ok().contains("realigned the index: seen=1"),
        "{}",
        realign.stdout
    );
    assert_eq!(node.found("statusprobe"), vec![id]);
}

#[test]
fn render_storages_lists_the_declared_scopes() {
    let mut sb = Sandbox::new();
    sb.set("KIOKU_MESH_USER_ID", "alice");
    sb.set("KIOKU_MESH_TEAM_ID", "core");
    let text = sb.km(&["config", "render-storages"]).ok().to_owned();
    for needle in [
        "key_expr: \"mem/mesh/**\"",
        "key_expr: \"mem/user/alice/**\"",
        "strip_prefix: \"mem/user/alice\"",
        "key_expr: \"mem/team/core/**\"",
        "sub_intervals: 5",
    ] {
        assert!(text.contains(needle), "{needle} missing from\n{text}");
    }
    std::fs::create_dir_all(sb.config_dir()).unwrap();
    std::fs::write(
        sb.config_dir().join("config.yaml"),
        "storage_scopes: [mesh, team/*]\n",
    )
    .unwrap();
    let bad = sb.km(&["config", "render-storages"]);
    assert!(
        bad.fails_with(2).contains("storage scope 'team/*'"),
        "{}",
        bad.stderr
    );
}

#[test]
fn mesh_start_and_join_share_memory_without_configuration() {
    let a = Node::new();
    let b = Node::new();
    let _start = Daemon::spawn(
        &a.sb,
        a.port,
        &[
            "mesh",
            "start",
            "--listen",
            &format!("tcp/127.0.0.1:{}", a.port),
        ],
    );
    let _join = Daemon::spawn(
        &b.sb,
        b.port,
        &[
            "mesh",
            "join",
            &format!("127.0.0.1:{}", a.port),
            "--listen",
            &format!("tcp/127.0.0.1:{}", b.port),
        ],
    );
    let id = b.sb.save("tried the mesh tryoutmesh", &[]);
    assert!(eventually(REPLICATE, || a.found("tryoutmesh") == vec![id.clone()]));
}

#[test]
fn migrate_visibility_moves_legacy_keys_into_a_scope() {
    let mut node = Node::new();
    // A storage over all of mem/**, as the reference's zenohd config has,
    // so that legacy keys have somewhere to live.
    let printed = node
        .sb
        .km(&["init", "--mode", "hub", "--listen", "127.0.0.1", "--print"])
        .ok()
        .replace("key_expr: \"mem/mesh/**\"", "key_expr: \"mem/**\"");
    std::fs::create_dir_all(node.sb.config_dir()).unwrap();
    std::fs::write(node.sb.config_dir().join("zenohd.json5"), printed).unwrap();
    node.sb.set("KIOKU_MESH_BACKEND", "local");
    let local = node
        .sb
        .km(&["migrate-visibility", "--from", "legacy", "--to", "mesh"]);
    assert!(local.fails_with(2).contains("works on the mesh"));
    node.sb.set("KIOKU_MESH_BACKEND", "zenoh");
    let _d = node.serve(&[]);

    let ids = crate::mesh_seed::put_legacy(&node.sb, 5, "legacymove");
    let dry = node.sb.km(&[
        "migrate-visibility",
        "--from",
        "legacy",
        "--to",
        "mesh",
        "--dry-run",
    ]);
    let text = dry.ok();
    assert!(
        text.contains("observations: 5") && text.contains("tombstones: 1"),
        "{text}"
    );
    // Legacy entries are never indexed.
    assert!(node.found("legacymove").is_empty());

    let refused = node
        .sb
        .km(&["migrate-visibility", "--from", "legacy", "--to", "mesh"]);
    assert!(refused.fails_with(2).contains("--yes"));
    let done = node.sb.km(&[
        "migrate-visibility",
        "--from",
        "legacy",
        "--to",
        "mesh",
        "--yes",
    ]);
    assert!(
        done.ok().contains(
            "migrate-visibility complete: planned=6 copied=6 deleted=6 conflicts=0 failures=0"
        ),
        "{}",
        done.stdout
    );
    // Four live (one was tombstoned in the legacy layout too), now in the mesh scope.
    let mut found = node.found("legacymove");
    found.sort();
    let mut want = ids[1..].to_vec();
    want.sort();
    assert!(
        eventually(REPLICATE, || {
            let mut f = node.found("legacymove");
            f.sort();
            f == want
        }),
        "{found:?}"
    );
    let again = node.sb.km(&[
        "migrate-visibility",
        "--from",
        "legacy",
        "--to",
        "mesh",
        "--dry-run",
    ]);
    assert!(again.ok().contains("observations: 0"), "{}", again.stdout);
}

#[test]
fn the_mcp_server_saves_through_the_mesh() {
    let Some(modules) = crate::harness::test_tool("KIOKU_MESH_NODE_MODULES") else {
        return;
    };
    let hub = Node::new();
    let mut a = Node::new();
    let _hub_d = hub.serve(&[]);
    let _a_d = a.serve(&[&hub]);
    a.sb.set("NODE_PATH", modules.to_str().unwrap());
    let mut cmd = a.sb.command(std::path::Path::new("node"));
    cmd.arg(std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("mcp_clients/ts_client.mjs"))
        .arg(crate::harness::bin("kioku-mesh-mcp"));
    let out = crate::harness::run_bounded(&mut cmd, None);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    // The client checked `status: saved`; the hub has it too.
    assert!(eventually(REPLICATE, || hub.found("typescript").len() == 1));
}

#[test]
fn a_spoke_listing_two_hubs_works_through_whichever_is_up() {
    let down = Node::new();
    let up = Node::new();
    let a = Node::new();
    let b = Node::new();
    let _up_d = up.serve(&[]);
    // `down` never starts: A must not wait for it.
    let _a_d = a.serve(&[&down, &up]);
    let _b_d = b.serve(&[&up]);
    let id = b.sb.save("through the second hub twohubs", &[]);
    assert!(eventually(REPLICATE, || a.found("twohubs") == vec![id.clone()]));
    let id2 = a.sb.save("and back twohubsback", &[]);
    assert!(eventually(REPLICATE, || b.found("twohubsback") == vec![id2.clone()]));
}

/// A minimal line-delimited JSON-RPC driver for one long-lived MCP server:
/// enough to keep a session open across a daemon restart, which the SDK
/// clients (one run each) cannot.
struct McpSession {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    lines: std::sync::mpsc::Receiver<String>,
    next_id: u64,
}

impl McpSession {
    fn start(sb: &Sandbox) -> Self {
        use std::io::BufRead;
        let mut child = sb
            .command(&crate::harness::bin("kioku-mesh-mcp"))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut s = Self {
            child,
            stdin,
            lines,
            next_id: 1,
        };
        s.request(
            "initialize",
            serde_json::json!({"protocolVersion": "2025-03-26", "capabilities": {},
                "clientInfo": {"name": "e2e", "version": "0"}}),
        );
        s.send(&serde_json::json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        s
    }

    fn send(&mut self, value: &serde_json::Value) {
        use std::io::Write;
        writeln!(self.stdin, "{value}").unwrap();
        self.stdin.flush().unwrap();
    }

    fn request(&mut self, method: &str, params: serde_json::Value) -> serde_json::Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(
            &serde_json::json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}),
        );
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        // Bounded: each wait is capped by the remaining time.
        while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
            let Ok(line) = self.lines.recv_timeout(left) else {
                break;
            };
            let reply: serde_json::Value = serde_json::from_str(&line).unwrap();
            if reply["id"] == id {
                return reply;
            }
        }
        panic!("no reply to {method} within 30 s");
    }

    /// The JSON text a tool call returned.
    fn call(&mut self, tool: &str, args: serde_json::Value) -> serde_json::Value {
        let reply = self.request(
            "tools/call",
            serde_json::json!({"name": tool, "arguments": args}),
        );
        let text = reply["result"]["content"][0]["text"]
            .as_str()
            .unwrap_or_default();
        serde_json::from_str(text).unwrap_or_else(|_| serde_json::json!({"text": text}))
    }
}

impl Drop for McpSession {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_long_lived_mcp_server_saves_again_after_the_daemon_restarts() {
    let node = Node::new();
    let daemon = node.serve(&[]);
    let mut mcp = McpSession::start(&node.sb);
    let save = |mcp: &mut McpSession, content: &str| {
        mcp.call(
            "save_observation",
            serde_json::json!({"content": content, "memory_type": "note",
                "subject": "daemon restart", "summary": content}),
        )
    };
    let first = save(&mut mcp, "before the restart mcprestart");
    assert_eq!(first["status"], "saved", "{first}");

    assert_eq!(daemon.stop(), 0);
    let _daemon = node.serve(&[]);
    let second = save(&mut mcp, "after the restart mcprestart");
    assert_eq!(second["status"], "saved", "{second}");
    assert_eq!(node.found("mcprestart").len(), 2);
    let status = node.sb.km(&["status"]);
    assert!(status.ok().contains("pending_puts: 0"), "{}", status.stdout);
}

/// A child process killed when dropped.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_stock_zenohd_runs_the_hub_config_init_writes() {
    let Some(zenohd) = crate::harness::test_tool("KIOKU_MESH_ZENOHD") else {
        return;
    };
    let hub = Node::new();
    let endpoint = format!("tcp/127.0.0.1:{}", hub.port);
    hub.sb
        .km(&["init", "--mode", "hub", "--listen", &endpoint])
        .ok();
    let config = hub.sb.config_dir().join("zenohd.json5");
    let log = hub.sb.home().join("zenohd.log");
    // zenohd finds no storage plugin library here (ours is linked into
    // `serve`), so it runs as a plain router: the config must still load.
    let _router = Killed(
        hub.sb
            .command(&zenohd)
            .arg("-c")
            .arg(&config)
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::create(log.with_extension("err")).unwrap())
            .spawn()
            .unwrap(),
    );
    assert!(
        eventually(Duration::from_secs(20), || crate::harness::listening(
            hub.port
        )),
        "zenohd did not listen: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    let a = Node::new();
    let b = Node::new();
    let _a_d = a.serve(&[&hub]);
    let _b_d = b.serve(&[&hub]);
    let id = a.sb.save("routed by a stock zenohd stockrouter", &[]);
    assert!(eventually(REPLICATE, || b.found("stockrouter") == vec![id.clone()]));
}

#[test]
fn changes_that_meet_a_locked_index_arrive_by_the_repair_that_follows() {
    let hub = Node::new();
    let mut b = Node::new();
    // No scheduled repair within the test: only the retry can bring it in.
    b.sb.set("KIOKU_MESH_REPAIR_INTERVAL_SECS", "600");
    let _hub_d = hub.serve(&[]);
    let _b_d = b.serve(&[&hub]);
    let index = b.sb.state_dir().join("mesh/index.db");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let id = rt.block_on(async {
        use sqlx::ConnectOptions;
        let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&index)
            .connect()
            .await
            .unwrap();
        // Hold the write lock past the daemon's 5 s busy timeout, as a
        // long `--rebuild` would.
        sqlx::raw_sql("BEGIN IMMEDIATE")
            .execute(&mut conn)
            .await
            .unwrap();
        let id = hub.sb.save("met a locked index lockedindex", &[]);
        // A save on B itself goes through; only B's index has to wait.
        let local =
            b.sb.save_run("saved while the index is locked lockedlocal", &[]);
        assert!(local.ok().starts_with("saved: "), "{}", local.stdout);
        assert!(
            local.stderr.contains("cannot show it yet"),
            "{}",
            local.stderr
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
        sqlx::raw_sql("COMMIT").execute(&mut conn).await.unwrap();
        id
    });
    assert!(eventually(Duration::from_secs(30), || b
        .found("lockedindex")
        == vec![id.clone()]));
    assert!(eventually(Duration::from_secs(30), || b
        .found("lockedlocal")
        .len()
        == 1));
    assert!(b.sb.km(&["status"]).ok().contains("mesh"));
}

#[test]
fn the_daemon_moves_a_damaged_index_aside_and_rebuilds_it() {
    let node = Node::new();
    let daemon = node.serve(&[]);
    let id = node.sb.save("survives a damaged index damagedindex", &[]);
    assert_eq!(daemon.stop(), 0);

    let mesh_dir = node.sb.state_dir().join("mesh");
    for name in ["index.db-wal", "index.db-shm"] {
        let _ = std::fs::remove_file(mesh_dir.join(name));
    }
    std::fs::write(mesh_dir.join("index.db"), "not a database at all").unwrap();
    // The CLI refuses clearly and changes nothing.
    let refused = node.sb.km(&["search", "damagedindex"]);
    assert!(
        refused.fails_with(1).contains("damaged"),
        "{}",
        refused.stderr
    );

    let _daemon = node.serve(&[]);
    assert!(eventually(REPLICATE, || node.found("damagedindex") == vec![id.clone()]));
    let aside: Vec<_> = std::fs::read_dir(&mesh_dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("index.db.broken-")
        })
        .collect();
    assert_eq!(aside.len(), 1);
    assert_eq!(
        std::fs::read_to_string(aside[0].path()).unwrap(),
        "not a database at all"
    );
}
