//! Agents messaging each other: on one machine with no daemon (local
//! mode), through two real MCP servers driven by the Python SDK, and across
//! real daemons on loopback, including a recipient that is offline at send
//! time and a scope the recipient's host does not hold.

use std::path::PathBuf;
use std::time::Duration;

use crate::harness::{Sandbox, bin, eventually, run_bounded};
use crate::mesh_fixture::{CONVERGE, Node};

fn inbox_ids(s: &Sandbox, agent: &str, extra: &[&str]) -> Vec<String> {
    let mut args = vec!["msg", "inbox", "--format", "json"];
    args.extend_from_slice(extra);
    let run = as_agent(s, agent, &args);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let v: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
    v["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["msg_id"].as_str().unwrap().to_owned())
        .collect()
}

/// The CLI as `agent`, no input.
fn as_agent(s: &Sandbox, agent: &str, args: &[&str]) -> crate::harness::Run {
    crate::harness::as_agent(s, agent, args, None)
}

/// Every key in the local mailbox.
pub(crate) fn mailbox_keys(s: &Sandbox) -> Vec<String> {
    let path = s.state_dir().join("local/messages.db");
    if !path.exists() {
        return Vec::new();
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&path)
            .read_only(true);
        let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
        let keys: Vec<(String,)> = sqlx::query_as("SELECT key FROM mailbox ORDER BY key")
            .fetch_all(&pool)
            .await
            .unwrap_or_default();
        pool.close().await;
        keys.into_iter().map(|k| k.0).collect()
    })
}

#[test]
fn agents_on_one_machine_message_each_other_without_a_daemon() {
    let s = Sandbox::new();
    let sent = as_agent(
        &s,
        "bob@desk",
        &[
            "msg",
            "send",
            "--to",
            "alice@mbp",
            "--subject",
            "review",
            "please review",
        ],
    );
    assert_eq!(sent.code, 0, "{}", sent.stderr);
    let id = sent.stdout.trim().to_owned();
    assert_eq!(id.len(), 32, "{}", sent.stdout);

    let text = as_agent(&s, "alice@mbp", &["msg", "inbox"]);
    assert!(
        text.stdout.contains(&format!("[{id}]")) && text.stdout.contains("from bob@desk"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains("  subject: review") && text.stdout.contains("  please review"),
        "{}",
        text.stdout
    );
    // Not for bob.
    assert!(inbox_ids(&s, "bob@desk", &[]).is_empty());

    let status = as_agent(&s, "bob@desk", &["msg", "status", &id]);
    assert!(
        status.stdout.contains("received: alice@mbp"),
        "{}",
        status.stdout
    );
    assert!(!status.stdout.contains("acked:"), "{}", status.stdout);

    let ack = as_agent(&s, "alice@mbp", &["msg", "ack", &id]);
    assert_eq!(ack.stdout.trim(), format!("acked: {id} (scope=mesh)"));
    assert!(inbox_ids(&s, "alice@mbp", &[]).is_empty());
    assert_eq!(inbox_ids(&s, "alice@mbp", &["--all"]), vec![id.clone()]);
    let status = as_agent(&s, "bob@desk", &["msg", "status", &id]);
    assert!(
        status.stdout.contains("acked:    alice@mbp"),
        "{}",
        status.stdout
    );

    // Another session of alice sees the agent's mail as read.
    let mut other = s.command(&bin("kioku-mesh"));
    other
        .env("KIOKU_MESH_CLIENT_ID", "alice@mbp")
        .env("KIOKU_MESH_SESSION_ID", "20260101T000000Z-other")
        .args(["msg", "inbox", "--format", "json"]);
    let run = run_bounded(&mut other, None);
    assert!(run.stdout.contains("\"count\":0"), "{}", run.stdout);

    // A message becomes memory on request.
    let promoted = as_agent(&s, "alice@mbp", &["msg", "promote", &id]);
    assert_eq!(promoted.code, 0, "{}", promoted.stderr);
    assert!(
        promoted.stdout.starts_with(&format!("promoted: {id} -> ")),
        "{}",
        promoted.stdout
    );
    let found = s.search_json(&["please review"]);
    assert_eq!(found.len(), 1, "{found:?}");
    let summary = found[0]["summary"].as_str().unwrap();
    assert!(
        summary.starts_with(&format!("[promoted from msg:{}] 20", &id[..8])),
        "{summary}"
    );
    let tags = found[0]["tags"].to_string();
    assert!(
        tags.contains("messaging-promoted") && tags.contains("sender:bob@desk"),
        "{tags}"
    );
    let missing = as_agent(&s, "alice@mbp", &["msg", "promote", &"e".repeat(32)]);
    assert_eq!(missing.code, 1, "{}", missing.stderr);

    // A reply joins the thread.
    let reply = as_agent(
        &s,
        "alice@mbp",
        &["msg", "send", "--to", "bob@desk", "--reply-to", &id, "done"],
    );
    assert_eq!(reply.code, 0, "{}", reply.stderr);
    let thread = as_agent(&s, "bob@desk", &["msg", "thread", &id]);
    assert!(
        thread.stdout.contains("please review") && thread.stdout.contains("done"),
        "{}",
        thread.stdout
    );
}

#[test]
fn bad_messages_are_refused_and_nothing_is_sent() {
    let s = Sandbox::new();
    let before = || mailbox_keys(&s);
    let cases: &[(&[&str], &str)] = &[
        (
            &["msg", "send", "--to", "a/b", "hi"],
            "cannot be part of a key",
        ),
        (
            &["msg", "send", "--to", "alice", "   "],
            "the message body is empty",
        ),
        (
            &["msg", "send", "--to", "alice", "--ttl", "0", "hi"],
            "--ttl 0",
        ),
        // Found by fuzzing: a lifetime past chrono's range panicked.
        (
            &[
                "msg",
                "send",
                "--to",
                "alice",
                "--ttl",
                "18446744073709551615",
                "hi",
            ],
            "give fewer seconds",
        ),
        (
            &["msg", "send", "--to", "alice", "--reply-to", "nope", "hi"],
            "is not a msg_id",
        ),
        (
            &["msg", "send", "--to", "alice", "--visibility", "team", "hi"],
            "needs a team id",
        ),
        (
            &[
                "msg",
                "send",
                "--to",
                "alice",
                "--visibility",
                "galaxy",
                "hi",
            ],
            "not a scope",
        ),
        (&["msg", "send", "hi"], "--to"),
        (
            &["msg", "ack", "short"],
            "msg_id must be a full 32-hex string.",
        ),
    ];
    for (args, needle) in cases {
        let snapshot = before();
        let run = as_agent(&s, "bob@desk", args);
        assert_eq!(run.code, 2, "{args:?}: {}{}", run.stdout, run.stderr);
        assert!(run.stderr.contains(needle), "{args:?}: {}", run.stderr);
        assert_eq!(before(), snapshot, "{args:?} changed the mailbox");
    }
    let big = "a".repeat(65_537);
    let run = as_agent(&s, "bob@desk", &["msg", "send", "--to", "alice", &big]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains(
            "message body is 65537 bytes, over the 65536-byte (64 KiB) limit for the mcp channel."
        ),
        "{}",
        run.stderr
    );
    assert!(inbox_ids(&s, "alice", &[]).is_empty());
    assert!(mailbox_keys(&s).is_empty());
    let unknown = as_agent(&s, "bob@desk", &["msg", "ack", &"f".repeat(32)]);
    assert_eq!(unknown.code, 1, "{}", unknown.stderr);
    assert!(
        unknown.stderr.contains("unknown msg_id"),
        "{}",
        unknown.stderr
    );
}

#[test]
fn two_mcp_servers_message_each_other_through_the_python_sdk() {
    let Some(_) = crate::harness::reference_bin() else {
        return;
    };
    let Some(python) = std::env::var_os("KIOKU_MESH_REF_PYTHON").map(PathBuf::from) else {
        return;
    };
    let s = Sandbox::new();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("mcp_clients/python_messaging.py");
    let mut cmd = s.command(&python);
    cmd.arg(&script).arg(bin("kioku-mesh-mcp"));
    let out = run_bounded(&mut cmd, None);
    assert_eq!(
        out.code, 0,
        "stdout: {}\nstderr: {}",
        out.stdout, out.stderr
    );
    assert_eq!(out.stdout.trim(), "ok");
}

#[test]
fn messages_cross_daemons_wait_for_an_offline_recipient_and_report_receipts() {
    let hub = Node::new();
    let mut desk = Node::new();
    desk.sb.set("KIOKU_MESH_CLIENT_ID", "bob@desk");
    let mut laptop = Node::new();
    laptop.sb.set("KIOKU_MESH_CLIENT_ID", "alice@laptop");
    let _hub_d = hub.serve(&[]);
    let _desk_d = desk.serve(&[&hub]);

    // alice's laptop is off: the message waits in the mesh's storages.
    let sent = desk.sb.km(&[
        "msg",
        "send",
        "--to",
        "alice@laptop",
        "can you review the migration?",
    ]);
    assert_eq!(sent.code, 0, "{}", sent.stderr);
    let id = sent.stdout.trim().to_owned();
    let status = desk.sb.km(&["msg", "status", &id]);
    assert!(
        status.stdout.contains("received: nobody yet"),
        "{}",
        status.stdout
    );

    let _laptop_d = laptop.serve(&[&hub]);
    let got = eventually(CONVERGE, || {
        laptop
            .sb
            .km(&["msg", "inbox", "--format", "json"])
            .stdout
            .contains(&id)
    });
    assert!(got, "the offline recipient never got its mail");
    laptop.sb.km(&["msg", "ack", &id]).ok();
    assert!(
        eventually(CONVERGE, || {
            let s = desk.sb.km(&["msg", "status", &id]).stdout;
            s.contains("received: alice@laptop") && s.contains("acked:    alice@laptop")
        }),
        "the sender never saw the receipt and the ack"
    );

    // An expired message is gone from storage and inboxes after a purge.
    let short = desk.sb.km(&[
        "msg",
        "send",
        "--to",
        "alice@laptop",
        "--ttl",
        "1",
        "short-lived",
    ]);
    let short_id = short.stdout.trim().to_owned();
    std::thread::sleep(Duration::from_millis(1500));
    let purge = desk.sb.km(&["msg", "purge"]);
    assert!(
        purge.stdout.contains("purged 1 expired message(s)"),
        "{}",
        purge.stdout
    );
    let inbox = laptop
        .sb
        .km(&["msg", "inbox", "--format", "json", "--all"])
        .stdout;
    assert!(!inbox.contains(&short_id), "{inbox}");
}

#[test]
fn the_reference_models_and_ours_read_each_others_messages() {
    let Some(_) = crate::harness::reference_bin() else {
        return;
    };
    let Some(python) = std::env::var_os("KIOKU_MESH_REF_PYTHON").map(PathBuf::from) else {
        return;
    };
    let mut node = Node::new();
    node.sb.set("KIOKU_MESH_CLIENT_ID", "alice@laptop");
    let _d = node.serve(&[]);
    let endpoint = format!("tcp/127.0.0.1:{}", node.port);
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("mcp_clients/reference_messaging.py");
    let py = |args: &[&str]| {
        let mut cmd = node.sb.command(&python);
        cmd.arg(&script).arg(&endpoint).args(args);
        run_bounded(&mut cmd, None)
    };

    // Theirs to ours: written by the reference's models, read by our inbox.
    let put = py(&["put", "alice@laptop", "pymarker from the reference"]);
    assert_eq!(put.code, 0, "{}{}", put.stdout, put.stderr);
    let their_id = put.stdout.trim().to_owned();
    let inbox = node.sb.km(&["msg", "inbox", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(inbox.stdout.trim()).unwrap();
    let item = &v["messages"][0];
    assert_eq!(item["msg_id"], their_id.as_str(), "{v}");
    assert_eq!(item["body"], "pymarker from the reference", "{v}");
    assert_eq!(item["sender"]["agent_id"], "py@reference", "{v}");

    // An oversized body written straight to the mesh is withheld on
    // receipt, never truncated, with the reference's notice.
    let big = py(&["put-big", "alice@laptop", "bigmarker"]);
    assert_eq!(big.code, 0, "{}{}", big.stdout, big.stderr);
    let big_id = big.stdout.trim().to_owned();
    let inbox = node.sb.km(&["msg", "inbox", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(inbox.stdout.trim()).unwrap();
    let item = v["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["msg_id"] == big_id.as_str())
        .unwrap_or_else(|| panic!("{v}"));
    assert_eq!(item["body_rejected"], true, "{item}");
    let notice = item["body"].as_str().unwrap();
    assert!(
        notice.starts_with("[kioku-mesh: message body withheld \u{2014} message body is 70010 bytes, over the 65536-byte (64 KiB) limit for the mcp channel"),
        "{notice}"
    );
    assert!(!inbox.stdout.contains("xxxxxxxxxx"), "the body leaked");

    // Ours to theirs: a reply, parsed by the reference's models.
    let sent = node.sb.km(&[
        "msg",
        "send",
        "--to",
        "py@reference",
        "--reply-to",
        &their_id,
        "rustmarker",
    ]);
    assert_eq!(sent.code, 0, "{}", sent.stderr);
    let key = format!("msg/mesh/inbox/agent/py@reference/{}", sent.stdout.trim());
    let parsed = py(&["parse", &key]);
    assert_eq!(parsed.code, 0, "{}{}", parsed.stdout, parsed.stderr);
    assert_eq!(
        parsed.stdout.trim(),
        format!("alice@laptop agent rustmarker {their_id}")
    );
}

#[test]
fn a_user_scope_message_never_reaches_a_host_without_that_scope() {
    let mut hub = Node::new();
    hub.sb.set("KIOKU_MESH_USER_ID", "alice");
    hub.sb.set("KIOKU_MESH_CLIENT_ID", "alice@hub");
    let mut laptop = Node::new();
    laptop.sb.set("KIOKU_MESH_USER_ID", "alice");
    let outsider = Node::new();
    let _h = hub.serve(&[]);
    let _l = laptop.serve(&[&hub]);
    let _o = outsider.serve(&[&hub]);
    let sent = laptop.sb.km(&[
        "msg",
        "send",
        "--to",
        "alice@hub",
        "--visibility",
        "user",
        "userscopemarker private",
    ]);
    assert_eq!(sent.code, 0, "{}", sent.stderr);
    assert!(
        eventually(CONVERGE, || hub
            .sb
            .km(&["msg", "inbox", "--format", "json"])
            .stdout
            .contains("userscopemarker")),
        "the user-scope message did not reach the other host of the user"
    );
    // Longer than a storage alignment interval.
    std::thread::sleep(Duration::from_secs(12));
    let hits = crate::mesh_enforced::files_containing(&outsider.sb.state_dir(), "userscopemarker");
    assert!(
        hits.is_empty(),
        "a user-scope message on a host without the scope: {hits:?}"
    );
}

#[test]
fn kill_9_of_the_daemon_during_a_burst_of_sends_loses_no_message_reported_sent() {
    let mut node = Node::new();
    node.sb.set("KIOKU_MESH_CLIENT_ID", "bob@desk");
    let daemon = node.serve(&[]);
    let (tx, rx) = std::sync::mpsc::channel();
    let sender = {
        let mut cmds = Vec::new();
        for i in 0..400 {
            let mut cmd = node.sb.command(&bin("kioku-mesh"));
            cmd.args(["msg", "send", "--to", "alice@laptop", &format!("burst {i}")]);
            cmds.push(cmd);
        }
        std::thread::spawn(move || {
            for mut cmd in cmds {
                let run = run_bounded(&mut cmd, None);
                // The daemon is gone: later sends fail the same way.
                if run.code != 0 {
                    break;
                }
                let _ = tx.send(run.stdout.trim().to_owned());
            }
        })
    };
    std::thread::sleep(Duration::from_millis(400));
    daemon.kill9();
    sender.join().unwrap();
    let reported: Vec<String> = rx.try_iter().collect();
    assert!(!reported.is_empty(), "no send finished before the kill");
    let _again = node.serve(&[]);
    let mut cmd = node.sb.command(&bin("kioku-mesh"));
    cmd.env("KIOKU_MESH_CLIENT_ID", "alice@laptop")
        .args(["msg", "inbox", "--format", "json", "-n", "100"]);
    let mut inbox = String::new();
    let all = eventually(CONVERGE, || {
        inbox = run_bounded(&mut cmd, None).stdout;
        reported.iter().all(|id| inbox.contains(id.as_str()))
    });
    assert!(all, "{} reported sent, inbox: {inbox}", reported.len());
    assert!(reported.len() < 400, "the kill came after the burst");
    println!(
        "{} of 400 sends reported sent before the kill; all delivered",
        reported.len()
    );
}

#[test]
fn agents_starting_together_on_a_fresh_machine_all_open_their_stores() {
    // Two processes creating a database at once could find it locked while
    // the other switched it to WAL (seen when two MCP servers started
    // together); every process must wait its turn, not fail.
    for round in 0..15 {
        let s = Sandbox::new();
        let children: Vec<_> = (0..4)
            .flat_map(|j| {
                let mut inbox = s.command(&bin("kioku-mesh"));
                inbox
                    .env("KIOKU_MESH_CLIENT_ID", format!("agent{j}@x"))
                    .args(["msg", "inbox"]);
                let mut search = s.command(&bin("kioku-mesh"));
                search.args(["search", "anything"]);
                [inbox, search]
            })
            .map(|mut cmd| {
                cmd.stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for child in children {
            let out = crate::harness::wait_bounded(child, Duration::from_secs(60));
            assert_eq!(out.code, 0, "round {round}: {}", out.stderr);
        }
    }
}
