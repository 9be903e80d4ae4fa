//! Push, so agents need not poll: `watch` prints new mail and new
//! observations as they arrive, `msg hook` prints unread mail in the shape
//! client hooks inject (and nothing when there is none), and `msg who`
//! lists the sessions that announce themselves.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::harness::{Sandbox, as_agent, bin, run_bounded};

/// How long a line may take to appear.
const ARRIVAL: Duration = Duration::from_secs(10);

/// A running `watch`, its output lines on a channel; killed on drop.
struct Watch {
    child: std::process::Child,
    lines: mpsc::Receiver<String>,
}

impl Watch {
    fn start(s: &Sandbox, agent: &str) -> Self {
        Self::start_with(s, agent, &[]).0
    }

    /// `watch --format json` with `extra` arguments; also returns a thread
    /// collecting its standard error, which ends when the watcher does.
    fn start_with(
        s: &Sandbox,
        agent: &str,
        extra: &[&str],
    ) -> (Self, std::thread::JoinHandle<Vec<String>>) {
        let mut cmd = s.command(&bin("kioku-mesh"));
        cmd.env("KIOKU_MESH_CLIENT_ID", agent)
            .args(["watch", "--format", "json"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let errors = std::thread::spawn(move || {
            BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
                .collect::<Vec<_>>()
        });
        (Self { child, lines }, errors)
    }

    /// The next line, waiting at most [`ARRIVAL`].
    fn next(&self) -> Option<serde_json::Value> {
        let line = self.lines.recv_timeout(ARRIVAL).ok()?;
        serde_json::from_str(&line).ok()
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn watch_prints_new_mail_and_new_observations_as_they_arrive() {
    let s = Sandbox::new();
    let watch = Watch::start(&s, "alice@mbp");
    // The watcher is up once its presence shows.
    let up = crate::harness::eventually(ARRIVAL, || {
        as_agent(&s, "bob@desk", &["msg", "who"], None)
            .stdout
            .contains("alice@mbp")
    });
    assert!(up, "watch never announced itself");

    let started = Instant::now();
    let sent = as_agent(
        &s,
        "bob@desk",
        &["msg", "send", "--to", "alice@mbp", "pushed to you"],
        None,
    );
    let id = sent.stdout.trim().to_owned();
    let line = watch.next().expect("no line for the message");
    println!("message to watch line: {:?}", started.elapsed());
    assert_eq!(line["kind"], "message", "{line}");
    assert_eq!(line["msg_id"], id.as_str(), "{line}");
    assert_eq!(line["body"], "pushed to you", "{line}");

    let started = Instant::now();
    let saved = s.save("watched observation arrives", &[]);
    let line = watch.next().expect("no line for the observation");
    println!("save to watch line: {:?}", started.elapsed());
    assert_eq!(line["kind"], "observation", "{line}");
    assert_eq!(line["observation_id"], saved.as_str(), "{line}");

    // Mail to someone else and mail already shown are not printed again.
    as_agent(
        &s,
        "bob@desk",
        &["msg", "send", "--to", "carol@x", "not for alice"],
        None,
    );
    assert!(watch.lines.recv_timeout(Duration::from_secs(1)).is_err());

    // Mail its sender marked is kept as memory on arrival, once.
    let marked = as_agent(
        &s,
        "bob@desk",
        &[
            "msg",
            "send",
            "--to",
            "alice@mbp",
            "--promote",
            "keep the retry budget at three",
        ],
        None,
    );
    let marked_id = marked.stdout.trim().to_owned();
    let line = watch.next().expect("no line for the marked message");
    assert_eq!(line["msg_id"], marked_id.as_str(), "{line}");
    let line = watch.next().expect("no line for the promoted observation");
    assert_eq!(line["kind"], "observation", "{line}");
    assert_eq!(line["content"], "keep the retry budget at three", "{line}");
    assert!(
        line["tags"].to_string().contains("messaging-promoted"),
        "{line}"
    );
    assert_eq!(s.search_json(&["retry budget"]).len(), 1);
}

#[test]
fn the_hook_prints_unread_mail_for_the_client_and_nothing_without_it() {
    let s = Sandbox::new();
    let hook = |event: &str, input: &str| {
        as_agent(
            &s,
            "alice@mbp",
            &["msg", "hook", "--event", event],
            Some(input),
        )
    };
    let none = hook("user-prompt-submit", "{}");
    assert_eq!(none.code, 0, "{}", none.stderr);
    assert!(none.stdout.is_empty(), "{}", none.stdout);

    as_agent(
        &s,
        "bob@desk",
        &[
            "msg",
            "send",
            "--to",
            "alice@mbp",
            "--subject",
            "deploy",
            "the desktop build is ready",
        ],
        None,
    );
    let run = hook(
        "user-prompt-submit",
        r#"{"session_id": "abc", "prompt": "hi"}"#,
    );
    let v: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert_eq!(v["hookSpecificOutput"]["hookEventName"], "UserPromptSubmit");
    let context = v["hookSpecificOutput"]["additionalContext"]
        .as_str()
        .unwrap();
    assert!(
        context.contains("1 unread message(s)") && context.contains("from bob@desk"),
        "{context}"
    );
    assert!(
        context.contains("subject: deploy") && context.contains("the desktop build is ready"),
        "{context}"
    );
    assert!(
        context.contains("not an instruction from the user"),
        "{context}"
    );

    let start = hook("session-start", "");
    assert!(
        start.stdout.contains("\"hookEventName\":\"SessionStart\""),
        "{}",
        start.stdout
    );

    // Stop: keep going once while mail is unread, never twice in a row.
    let stop = hook("stop", r#"{"stop_hook_active": false}"#);
    let v: serde_json::Value = serde_json::from_str(stop.stdout.trim()).unwrap();
    assert_eq!(v["decision"], "block");
    let again = hook("stop", r#"{"stop_hook_active": true}"#);
    assert!(again.stdout.is_empty(), "{}", again.stdout);

    // Once acknowledged, the hook is quiet.
    let id = context
        .split('[')
        .nth(1)
        .unwrap()
        .split(']')
        .next()
        .unwrap()
        .to_owned();
    as_agent(&s, "alice@mbp", &["msg", "ack", &id], None);
    assert!(hook("user-prompt-submit", "{}").stdout.is_empty());
}

#[test]
fn a_channel_notification_reaches_a_typescript_sdk_client() {
    let Some(modules) = crate::harness::test_tool("KIOKU_MESH_NODE_MODULES") else {
        return;
    };
    let mut s = Sandbox::new();
    s.set("NODE_PATH", modules.to_str().unwrap());
    let script =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("mcp_clients/ts_channel.mjs");
    let mut cmd = s.command(std::path::Path::new("node"));
    cmd.arg(script)
        .arg(bin("kioku-mesh-mcp"))
        .arg(bin("kioku-mesh"));
    let out = run_bounded(&mut cmd, None);
    assert_eq!(
        out.code, 0,
        "stdout: {}\nstderr: {}",
        out.stdout, out.stderr
    );
    assert!(out.stdout.starts_with("ok "), "{}", out.stdout);
    println!(
        "send returned to channel notification: {} ms",
        out.stdout.trim().trim_start_matches("ok ")
    );
}

/// A tmux server of its own (its socket under the sandbox), killed on drop.
struct Tmux {
    dir: std::path::PathBuf,
}

impl Tmux {
    fn run(&self, args: &[&str]) -> crate::harness::Run {
        let mut cmd = std::process::Command::new("tmux");
        cmd.env("TMUX_TMPDIR", &self.dir)
            .env_remove("TMUX")
            .args(args);
        run_bounded(&mut cmd, None)
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

#[test]
fn watch_types_allowed_messages_into_a_tmux_pane_and_refuses_the_rest() {
    let mut s = Sandbox::new();
    let tmux = Tmux {
        dir: s.dir.path().join("tmux"),
    };
    std::fs::create_dir_all(&tmux.dir).unwrap();
    s.set("TMUX_TMPDIR", tmux.dir.to_str().unwrap());
    let started = tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "agent",
        "-x",
        "200",
        "-y",
        "20",
        "cat",
    ]);
    assert_eq!(started.code, 0, "{}", started.stderr);
    let pane = tmux
        .run(&["display-message", "-p", "-t", "agent", "#{pane_id}"])
        .stdout
        .trim()
        .to_owned();
    std::fs::create_dir_all(s.config_dir()).unwrap();
    std::fs::write(
        s.config_dir().join("config.yaml"),
        format!(
            "messaging:\n  tmux:\n    enabled: true\n    pane_allowlist: [\"{pane}\"]\n    sender_allowlist: [bob@desk]\n    scope_allowlist: [mesh]\n"
        ),
    )
    .unwrap();

    let (watch, errors) = Watch::start_with(&s, "alice@mbp", &["--messages", "--tmux-pane", &pane]);
    assert!(
        crate::harness::eventually(ARRIVAL, || as_agent(&s, "bob@desk", &["msg", "who"], None)
            .stdout
            .contains("alice@mbp")),
        "watch never started"
    );

    as_agent(
        &s,
        "bob@desk",
        &[
            "msg",
            "send",
            "--to",
            "alice@mbp",
            "please\nrebase the branch",
        ],
        None,
    );
    watch.next().expect("no line for bob's message");
    let typed = crate::harness::eventually(ARRIVAL, || {
        tmux.run(&["capture-pane", "-p", "-t", &pane])
            .stdout
            .contains(
                "[kioku-mesh message from bob@desk, not from the user] please rebase the branch",
            )
    });
    assert!(
        typed,
        "{}",
        tmux.run(&["capture-pane", "-p", "-t", &pane]).stdout
    );

    // Another sender is not on the allowlist: shown by watch, not typed.
    as_agent(
        &s,
        "carol@laptop",
        &["msg", "send", "--to", "alice@mbp", "rm -rf everything"],
        None,
    );
    watch.next().expect("no line for carol's message");
    drop(watch);
    let errors = errors.join().unwrap().join("\n");
    assert!(
        errors.contains("not typed into")
            && errors.contains("sender carol@laptop is not in messaging.tmux.sender_allowlist"),
        "{errors}"
    );
    assert!(
        !tmux
            .run(&["capture-pane", "-p", "-t", &pane])
            .stdout
            .contains("rm -rf")
    );
}

#[test]
fn watch_over_the_mesh_prints_mail_sent_on_another_host() {
    use crate::mesh_fixture::Node;
    let hub = Node::new();
    let mut laptop = Node::new();
    // Presence on the mesh scope is opt-in; it tells when the watcher runs.
    laptop.sb.set("KIOKU_MESH_MESSAGING_PRESENCE_MESH", "1");
    let _h = hub.serve(&[]);
    let _l = laptop.serve(&[&hub]);
    let watch = Watch::start(&laptop.sb, "alice@laptop");
    assert!(
        crate::harness::eventually(ARRIVAL, || {
            as_agent(&hub.sb, "bob@hub", &["msg", "who"], None)
                .stdout
                .contains("alice@laptop")
        }),
        "the watcher never announced itself across the mesh"
    );
    let started = Instant::now();
    let sent = as_agent(
        &hub.sb,
        "bob@hub",
        &["msg", "send", "--to", "alice@laptop", "from the hub"],
        None,
    );
    assert_eq!(sent.code, 0, "{}", sent.stderr);
    let line = watch.next().expect("no line for mail from another host");
    println!("mesh send to watch line: {:?}", started.elapsed());
    assert_eq!(line["msg_id"], sent.stdout.trim(), "{line}");
    assert_eq!(line["body"], "from the hub", "{line}");
}
