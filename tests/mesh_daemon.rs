//! The daemon itself: clean stop and restart, garbage off the wire, the
//! configuration `init` writes, and what `status` and `doctor` report.

use crate::harness::{Sandbox, eventually, free_port};
use crate::mesh_fixture::{Node, REPLICATE};

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

/// `kioku-mesh` is linked at a fixed address, for start-up speed; `serve`
/// continues in `kioku-mesh-daemon`, which keeps address-space
/// randomisation, as does the MCP server (ADR 0013). The process id and the
/// command line stay those the user started.
#[test]
fn serve_runs_in_the_position_independent_daemon_executable() {
    const ET_EXEC: u16 = 2;
    const ET_DYN: u16 = 3;
    let elf_type = |name: &str| {
        let bytes = std::fs::read(crate::harness::bin(name)).unwrap();
        assert_eq!(&bytes[..4], b"\x7fELF", "{name} is not an ELF file");
        u16::from_le_bytes([bytes[16], bytes[17]])
    };
    assert_eq!(elf_type("kioku-mesh"), ET_EXEC);
    assert_eq!(elf_type("kioku-mesh-daemon"), ET_DYN);
    assert_eq!(elf_type("kioku-mesh-mcp"), ET_DYN);

    let node = Node::new();
    let daemon = node.serve(&[]);
    let exe = daemon.executable();
    assert_eq!(
        exe.file_name().and_then(|n| n.to_str()),
        Some("kioku-mesh-daemon"),
        "serve runs from {}",
        exe.display()
    );
    let command_line = daemon.command_line();
    assert!(
        command_line
            .first()
            .is_some_and(|arg0| arg0.ends_with("/kioku-mesh"))
            && command_line.get(1).map(String::as_str) == Some("serve"),
        "{command_line:?}"
    );
    let id = node
        .sb
        .save("served by the daemon executable pieprobe", &[]);
    assert_eq!(node.found("pieprobe"), vec![id]);
    assert_eq!(daemon.stop(), 0, "serve exits 0 on SIGTERM");
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

/// A `kioku-mesh` installed without the RocksDB storage library (say by
/// `cargo install --path bins/cli`) cannot serve; it says which command
/// installs the library, and starts nothing.
#[test]
fn serve_without_the_storage_library_names_the_command_that_installs_it() {
    let sb = Sandbox::new();
    let alone = sb.dir.path().join("bin-alone");
    std::fs::create_dir_all(&alone).unwrap();
    let exe = alone.join("kioku-mesh");
    std::fs::copy(crate::harness::bin("kioku-mesh"), &exe).unwrap();
    let port = free_port();
    let listen = format!("tcp/127.0.0.1:{port}");
    let run = sb.run(&exe, &["serve", "--listen", &listen]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("libzenoh_backend_rocksdb.so")
            && run.stderr.contains("cargo xtask install")
            && run.stderr.contains(&alone.display().to_string()),
        "{}",
        run.stderr
    );
    assert!(
        !crate::harness::listening(port),
        "something listens on {port}"
    );
}
