//! The MCP server in mesh mode: a save through the TypeScript SDK client
//! reaches the hub, and a long-lived server keeps saving across a daemon
//! restart.

use std::time::Duration;

use crate::harness::{Sandbox, eventually};
use crate::mesh_fixture::{Node, REPLICATE};

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

/// A minimal line-delimited JSON-RPC driver for one long-lived MCP server:
/// enough to keep a session open across a daemon restart, which the SDK
/// clients (one run each) cannot.
pub(crate) struct McpSession {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    lines: std::sync::mpsc::Receiver<String>,
    next_id: u64,
}

impl McpSession {
    pub(crate) fn start(sb: &Sandbox) -> Self {
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

    /// Whether a tool call was flagged as an error, and its text.
    pub(crate) fn call_raw(&mut self, tool: &str, args: serde_json::Value) -> (bool, String) {
        let reply = self.request(
            "tools/call",
            serde_json::json!({"name": tool, "arguments": args}),
        );
        if let Some(error) = reply.get("error") {
            return (
                true,
                error["message"].as_str().unwrap_or_default().to_owned(),
            );
        }
        let text = reply["result"]["content"][0]["text"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        (reply["result"]["isError"] == true, text)
    }

    /// The JSON text a tool call returned.
    pub(crate) fn call(&mut self, tool: &str, args: serde_json::Value) -> serde_json::Value {
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
