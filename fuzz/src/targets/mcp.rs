//! The MCP tools' arguments, sent to a real `kioku-mesh-mcp` process over
//! stdio, as an agent would send them.
//!
//! An input is `<tool>\n<arguments JSON>`. Inputs whose arguments are not
//! JSON are not sent (framing is rmcp's job, and the transport is not what
//! we test). The properties: the server answers every call within 10 s with
//! a result or a JSON-RPC error, and stays up.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::Duration;

use serde_json::{Value, json};
use tempfile::TempDir;

use super::tokens;
use crate::engine::{Target, error_signature, signature};

/// How long one call may take before the server counts as hung.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// The tools and one valid call of each.
const SEEDS: &[(&str, &str)] = &[
    (
        "save_observation",
        r#"{"content": "retry with backoff", "subject": "retry policy", "summary": "exponential backoff", "project": "kioku", "tags": ["net"], "memory_type": "decision", "importance": 3, "visibility": "mesh", "ttl_sec": 0}"#,
    ),
    (
        "search_memory",
        r#"{"query": "retry", "project": "kioku", "limit": 5, "since_iso": "2026-01-01", "search_mode": "and_or"}"#,
    ),
    (
        "get_memory",
        r#"{"observation_id": "f597bcfe09de41d3a9e048f63a37942a"}"#,
    ),
    (
        "recall_context",
        r#"{"query": "retry", "memory_types": ["decision"], "limit": 3}"#,
    ),
    (
        "delete_memory",
        r#"{"observation_id": "f597bcfe09de41d3a9e048f63a37942a", "reason": "wrong"}"#,
    ),
    ("get_memory_status", "{}"),
    ("drain_pending_puts", r#"{"limit": 10}"#),
    (
        "send_message",
        r#"{"to_agent": "bob@desk", "body": "hello", "subject": "hi", "ttl_sec": 60, "requires_ack": true}"#,
    ),
    (
        "check_messages",
        r#"{"limit": 10, "include_acked": false, "since_iso": "2026-01-01"}"#,
    ),
    (
        "ack_message",
        r#"{"msg_id": "0123456789abcdef0123456789abcdef"}"#,
    ),
    ("purge_expired_messages", "{}"),
];

/// A running `kioku-mesh-mcp` in its own scratch home and state directory.
pub struct McpArgs {
    bin: std::path::PathBuf,
    dir: TempDir,
    server: Option<Server>,
    next_id: u64,
    calls: u64,
}

struct Server {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl McpArgs {
    /// A target that drives the server binary at `bin`.
    pub fn new(bin: &Path) -> anyhow::Result<Self> {
        anyhow::ensure!(
            bin.is_file(),
            "no MCP server at {} (build kioku-mesh-mcp first)",
            bin.display()
        );
        let dir = tempfile::Builder::new()
            .prefix("kioku-fuzz-mcp")
            .tempdir()?;
        Ok(Self {
            bin: bin.to_owned(),
            dir,
            server: None,
            next_id: 1,
            calls: 0,
        })
    }

    fn start(&mut self) -> anyhow::Result<Server> {
        let home = self.dir.path().join("home");
        std::fs::create_dir_all(&home)?;
        let mut child = Command::new(&self.bin)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", &home)
            .env("KIOKU_MESH_STATE_DIR", self.dir.path().join("state"))
            .env("KIOKU_MESH_AGENT_FAMILY", "claude")
            .env("KIOKU_MESH_CLIENT_ID", "fuzz@host")
            .current_dir(self.dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let stdin = child
            .stdin
            .take()
            .ok_or_else(|| anyhow::anyhow!("no stdin"))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = Server {
            child,
            stdin,
            lines,
        };
        let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "kioku-fuzz", "version": "0"}}});
        send(&mut server, &init)?;
        wait_for(&server, 0)
            .ok_or_else(|| anyhow::anyhow!("the server did not answer initialize"))?;
        send(
            &mut server,
            &json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        )?;
        Ok(server)
    }
}

fn send(server: &mut Server, message: &Value) -> std::io::Result<()> {
    let mut line = message.to_string();
    line.push('\n');
    server.stdin.write_all(line.as_bytes())?;
    server.stdin.flush()
}

/// The response to request `id`, skipping notifications; `None` on timeout
/// or when the server's output ended.
fn wait_for(server: &Server, id: u64) -> Option<Value> {
    let deadline = std::time::Instant::now() + CALL_TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match server.lines.recv_timeout(left) {
            Ok(line) => {
                let Ok(value) = serde_json::from_str::<Value>(&line) else {
                    continue;
                };
                if value.get("id").and_then(Value::as_u64) == Some(id) {
                    return Some(value);
                }
            }
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return None,
        }
    }
}

impl Target for McpArgs {
    fn name(&self) -> &'static str {
        "mcp_args"
    }
    fn seeds(&self) -> Vec<Vec<u8>> {
        SEEDS
            .iter()
            .map(|(tool, args)| format!("{tool}\n{args}").into_bytes())
            .collect()
    }
    fn dictionary(&self) -> Vec<Vec<u8>> {
        tokens(&[
            "null",
            "true",
            "[]",
            "{}",
            "\"\"",
            "-1",
            "0",
            "1e400",
            "9223372036854775808",
            "\"mesh\"",
            "\"user\"",
            "\"team\"",
            "\"hybrid\"",
            "\"N/A\"",
            "\"-\"",
            "\"\\u0000\"",
            "\"../../etc\"",
            "\"visibility\": ",
            "\"supersedes\": [\"x\"]",
            "\"expires_at\": \"2020-01-01\"",
            "\"queries\": [\"\"]",
            ", ",
        ])
    }
    fn max_len(&self) -> usize {
        2048
    }
    fn report(&self) -> String {
        format!(" calls={}", self.calls)
    }
    fn run(&mut self, input: &[u8]) -> u64 {
        let text = String::from_utf8_lossy(input);
        let (tool, args) = text.split_once('\n').unwrap_or((&text, ""));
        let Ok(arguments) = serde_json::from_str::<Value>(args) else {
            return signature(&[b"not json"]);
        };
        self.calls += 1;
        if self.server.is_none() {
            match self.start() {
                Ok(server) => self.server = Some(server),
                Err(e) => panic!("the MCP server did not start: {e}"),
            }
        }
        let id = self.next_id;
        self.next_id += 1;
        let call = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": tool, "arguments": arguments}});
        let Some(server) = self.server.as_mut() else {
            return 0;
        };
        let sent = send(server, &call);
        let reply = sent.ok().and_then(|()| wait_for(server, id));
        let Some(reply) = reply else {
            let status = server.child.try_wait().ok().flatten();
            self.server = None;
            panic!("no answer from the MCP server to {tool} (exit status {status:?})");
        };
        // A mangled tool name is one outcome, not one per spelling.
        let known = SEEDS.iter().any(|(name, _)| *name == tool);
        let tool_sig = signature(&[if known {
            tool.as_bytes()
        } else {
            b"unknown tool"
        }])
        .to_le_bytes();
        if let Some(error) = reply.get("error") {
            let message = error.get("message").and_then(Value::as_str).unwrap_or("");
            return signature(&[&tool_sig, &error_signature("rpc", message).to_le_bytes()]);
        }
        let result = reply.get("result");
        let is_error = result
            .and_then(|r| r.get("isError"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let first_text = result
            .and_then(|r| r.get("content"))
            .and_then(|c| c.get(0))
            .and_then(|c| c.get("text"))
            .and_then(Value::as_str)
            .unwrap_or("");
        assert!(
            result.is_some(),
            "a reply with neither result nor error: {reply}"
        );
        assert!(
            !is_error || !first_text.trim().is_empty(),
            "a tool error must say what went wrong: {reply}"
        );
        // Up to the first echoed value or detail, less ids and numbers.
        let head = first_text
            .split(['\'', '"', '`', ':', '(', '\n'])
            .next()
            .unwrap_or_default();
        let stem: Vec<String> = head
            .split_whitespace()
            .take(4)
            .filter(|w| !w.chars().any(|c| c.is_ascii_digit()))
            .map(|w| {
                w.chars()
                    .filter(char::is_ascii_alphabetic)
                    .collect::<String>()
            })
            .filter(|w| !w.is_empty() && w.len() < 20)
            .collect();
        signature(&[
            &tool_sig,
            &[u8::from(is_error)],
            &error_signature("text", &stem.join(" ")).to_le_bytes(),
        ])
    }
}
