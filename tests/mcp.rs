//! The MCP server driven by real MCP clients: the official Python SDK (every
//! tool and error path, the output cap, stdout purity) and the official
//! TypeScript SDK (a second, independent implementation).

use std::path::PathBuf;
use std::time::Duration;

use crate::harness::{Sandbox, bin, run_bounded, wait_bounded};

fn clients_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("mcp_clients")
}

/// Python with the MCP SDK (the reference's venv has it), when installed.
fn python() -> Option<PathBuf> {
    crate::harness::reference_bin()?;
    std::env::var_os("KIOKU_MESH_REF_PYTHON").map(PathBuf::from)
}

/// An observation written on another host, for the origin notes.
fn seed_foreign_observation(s: &Sandbox) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use mesh_memory::MemoryStore;
        let store = mesh_memory::LocalStore::open(&s.local_db()).await.unwrap();
        let obs = mesh_core::Observation::from_json(&format!(
            r#"{{"content": "foreign marker written elsewhere", "agent_family": "codex", "client_id": "bob@elsewhere", "pc_id": "{}", "session_id": "s", "observation_id": "{}", "created_at": "2026-01-01T00:00:00.000000Z", "subject": "foreign", "summary": "from another host", "visibility": "mesh"}}"#,
            "0".repeat(32),
            "f".repeat(32)
        ))
        .unwrap();
        store.put_observation(&obs).await.unwrap();
        store.close().await;
    });
}

#[test]
fn python_sdk_drives_every_tool() {
    let Some(python) = python() else { return };
    let mut s = Sandbox::new();
    s.set("EXPECTED_VERSION", env!("CARGO_PKG_VERSION"));
    seed_foreign_observation(&s);
    let stdout_log = s.dir.path().join("server-stdout.log");
    let stderr_log = s.dir.path().join("server-stderr.log");
    let script = clients_dir().join("python_client.py");
    let server = bin("kioku-mesh-mcp");
    let mut cmd = s.command(&python);
    cmd.arg(&script)
        .arg(&server)
        .arg(&stdout_log)
        .arg(&stderr_log);
    let out = run_bounded(&mut cmd, None);
    assert_eq!(
        out.code,
        0,
        "python client failed\nstdout: {}\nstderr: {}\nserver stderr: {}",
        out.stdout,
        out.stderr,
        std::fs::read_to_string(&stderr_log).unwrap_or_default()
    );
    assert!(out.stdout.starts_with("ok: "), "{}", out.stdout);
}

#[test]
fn typescript_sdk_lists_saves_and_searches() {
    let Some(modules) = crate::harness::test_tool("KIOKU_MESH_NODE_MODULES") else {
        return;
    };
    let mut s = Sandbox::new();
    s.set("NODE_PATH", modules.to_str().unwrap());
    let mut cmd = s.command(std::path::Path::new("node"));
    cmd.arg(clients_dir().join("ts_client.mjs"))
        .arg(bin("kioku-mesh-mcp"));
    let out = run_bounded(&mut cmd, None);
    assert_eq!(
        out.code, 0,
        "node client failed\nstdout: {}\nstderr: {}",
        out.stdout, out.stderr
    );
    assert_eq!(out.stdout.trim(), "ok");
}

#[test]
fn refuses_an_interactive_terminal_unless_allowed() {
    let script = std::path::Path::new("/usr/bin/script");
    if !script.exists() {
        eprintln!("skipping: util-linux `script` is not installed");
        return;
    }
    let mut s = Sandbox::new();
    let cmd = bin("kioku-mesh-mcp").display().to_string();
    let refused = run_bounded(s.command(script).args(["-qec", &cmd, "/dev/null"]), None);
    assert_eq!(refused.code, 2, "{}", refused.stdout);
    assert!(
        refused
            .stdout
            .contains("kioku-mesh mcp install --client claude-code"),
        "{}",
        refused.stdout
    );
    assert!(refused.stdout.contains("KIOKU_MESH_MCP_ALLOW_TTY=1"));

    s.set("KIOKU_MESH_MCP_ALLOW_TTY", "1");
    let mut allowed = s.command(script);
    allowed.args(["-qec", &cmd, "/dev/null"]);
    allowed
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .stdin(std::process::Stdio::piped());
    let child = allowed.spawn().unwrap();
    // No protocol arrives; the server waits. It must not print the usage.
    std::thread::sleep(Duration::from_millis(700));
    let _ = std::process::Command::new("kill")
        .args(["-s", "TERM", &child.id().to_string()])
        .status();
    let out = wait_bounded(child, Duration::from_secs(10));
    assert!(
        !out.stdout.contains("not meant to be run by hand"),
        "{}",
        out.stdout
    );
}

#[test]
fn a_closed_stdin_ends_the_server_cleanly() {
    let s = Sandbox::new();
    let out = s.run(&bin("kioku-mesh-mcp"), &[]);
    assert!(
        out.stdout.is_empty(),
        "stdout carries protocol only: {:?}",
        out.stdout
    );
    assert!(out.code == 0 || out.code == 1, "{}", out.stderr);
}
