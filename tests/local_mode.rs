//! Every command of local mode, run as a process.

use crate::harness::{Sandbox, saved_id};

#[test]
fn version_prints_the_package_version() {
    let out = Sandbox::new().km(&["--version"]);
    assert_eq!(
        out.ok().trim(),
        format!("kioku-mesh {}", env!("CARGO_PKG_VERSION"))
    );
}

/// `kioku-mesh` carries GCC's unwinder instead of loading `libgcc_s.so.1`
/// at every start (ADR 0017), when the C compiler ships the static one; the
/// daemon and the MCP server load it as usual.
#[test]
fn the_cli_starts_without_loading_the_unwinder_library() {
    let compiler = std::env::var("CC").unwrap_or_else(|_| "cc".to_owned());
    let archive = std::process::Command::new(compiler)
        .arg("-print-file-name=libgcc_eh.a")
        .output()
        .map(|out| std::path::PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
    if !cfg!(all(target_os = "linux", target_env = "gnu"))
        || !archive.is_ok_and(|a| a.is_absolute() && a.is_file())
    {
        return;
    }
    let needs_unwinder = |name: &str| {
        let bytes = std::fs::read(crate::harness::bin(name)).unwrap();
        bytes.windows(13).any(|w| w == b"libgcc_s.so.1")
    };
    assert!(!needs_unwinder("kioku-mesh"));
    assert!(needs_unwinder("kioku-mesh-daemon"));
    let out = Sandbox::new().km(&["--version"]);
    assert!(out.ok().starts_with("kioku-mesh "));
}

#[test]
fn save_works_on_a_fresh_machine_with_no_config_and_no_init() {
    let s = Sandbox::new();
    assert!(!s.config_dir().exists() && !s.state_dir().exists());
    let out = s.km(&[
        "save",
        "first note",
        "--subject",
        "hello",
        "--summary",
        "first",
    ]);
    let stdout = out.ok();
    let id = saved_id(stdout);
    assert_eq!(stdout.trim(), format!("saved: {id} (visibility=mesh)"));
    assert!(s.local_db().exists());
    assert!(
        !s.config_dir().join("config.yaml").exists(),
        "no config is written by a save"
    );
    let pc_id = std::fs::read_to_string(s.state_dir().join("pc_id")).unwrap();
    assert_eq!(pc_id.trim().len(), 32);
}

#[test]
fn search_formats_and_empty_contracts() {
    let s = Sandbox::new();
    assert_eq!(s.km(&["search"]).ok(), "No matching memories.\n");
    assert_eq!(s.km(&["search", "x", "--format", "json"]).ok(), "[]\n");
    assert_eq!(s.km(&["search", "x", "--format", "markdown"]).ok(), "");

    let id = saved_id(
        s.km(&[
            "save",
            "Use FTS5 trigram for Japanese search 日本語",
            "--subject",
            "FTS tokenizer",
            "--summary",
            "trigram chosen",
            "-p",
            "demo",
            "-t",
            "fts,search",
            "--memory-type",
            "decision",
            "--importance",
            "4",
            "--references",
            "#67,PR#68",
        ])
        .ok(),
    );
    let text = s.km(&["search", "trigram"]);
    let lines: Vec<&str> = text.ok().lines().collect();
    assert_eq!(lines.len(), 2);
    assert!(lines[0].starts_with("[decision][4] 20"), "{}", lines[0]);
    assert!(
        lines[0].ends_with(" (demo) FTS tokenizer (refs: #67, PR#68)"),
        "{}",
        lines[0]
    );
    assert_eq!(lines[1], format!("trigram chosen <id={id}>"));

    let md = s.km(&["search", "日本語", "--format", "markdown"]);
    assert!(md.ok().starts_with("- **[decision][4]** 20"));
    assert!(md.ok().trim_end().ends_with(&format!(
        "FTS tokenizer — trigram chosen (refs: #67, PR#68) <id={id}>"
    )));

    let docs = s.search_json(&["trigram"]);
    assert_eq!(docs.len(), 1);
    let d = &docs[0];
    assert_eq!(d["observation_id"], id.as_str());
    assert_eq!(d["tags"], serde_json::json!(["fts", "search"]));
    assert_eq!(d["agent_family"], "claude");
    assert_eq!(d["client_id"], "tester@host");
    let keys: Vec<&String> = d.as_object().unwrap().keys().collect();
    assert_eq!(keys[0], "content");
    assert_eq!(keys[18], "expires_at");

    // Several results are separated by --- lines; -n limits them.
    s.save("second trigram note", &[]);
    let both = s.km(&["search", "trigram"]);
    assert_eq!(both.ok().matches("\n---\n").count(), 1);
    assert_eq!(s.search_json(&["trigram", "-n", "1"]).len(), 1);
}

#[test]
fn search_filters_and_modes() {
    let s = Sandbox::new();
    let a = s.save("alpha beta gamma", &["-p", "one"]);
    let b = s.save("alpha only", &["-p", "two"]);
    let ids = |args: &[&str]| -> Vec<String> {
        s.search_json(args)
            .iter()
            .map(|d| d["observation_id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids(&["alpha beta"]), vec![a.clone()]);
    assert_eq!(ids(&["alpha", "-p", "two"]), vec![b.clone()]);
    assert_eq!(ids(&["beta only", "--search-mode", "or"]).len(), 2);
    assert_eq!(ids(&["beta only", "--search-mode", "and_or"]).len(), 2);
    assert!(ids(&["beta only"]).is_empty());
    assert_eq!(ids(&["--agent-family", "claude"]).len(), 2);
    assert!(ids(&["--agent-family", "codex"]).is_empty());
    assert_eq!(ids(&["--client-id", "tester@host"]).len(), 2);
    assert!(ids(&["--since", "2999-01-01"]).is_empty());
    assert_eq!(ids(&["--since", "2000-01-01T00:00:00+09:00"]).len(), 2);
    let pc = std::fs::read_to_string(s.state_dir().join("pc_id")).unwrap();
    assert_eq!(ids(&["--pc-id", pc.trim()]).len(), 2);
}

#[test]
fn get_memory_prints_fields_and_state() {
    let s = Sandbox::new();
    let id = s.save(
        "body text\nsecond line",
        &["-p", "demo", "-t", "a,b", "--source-files", "src/x.rs"],
    );
    let out = s.km(&["get-memory", &id]);
    let text = out.ok();
    let expected_head = format!("id: {id}\nmemory_type: note\nimportance: 2\ncreated_at: ");
    assert!(text.starts_with(&expected_head), "{text}");
    for line in [
        "project: demo",
        "subject: subject",
        "summary: summary",
        "agent: claude/tester@host",
        "tags: a, b",
        "source_files: src/x.rs",
        "references: -",
        "supersedes: -",
        "state: live",
        "---\nbody text\nsecond line\n",
    ] {
        assert!(text.contains(line), "missing {line:?} in {text}");
    }
    s.km(&["delete", &id]).ok();
    assert!(
        s.km(&["get-memory", &id])
            .ok()
            .contains("state: tombstoned")
    );
    let missing = "0".repeat(32);
    let err = s.km(&["get-memory", &missing]).fails_with(1).to_owned();
    assert_eq!(err.trim(), format!("observation_id {missing} not found."));
}

#[test]
fn delete_one_and_not_found() {
    let s = Sandbox::new();
    let id = s.save("to delete", &[]);
    assert_eq!(
        s.km(&["delete", &id, "-r", "obsolete"]).ok().trim(),
        format!("deleted (tombstone): {id}")
    );
    assert!(s.search_json(&["delete"]).is_empty());
    let missing = "f".repeat(32);
    assert!(
        s.km(&["delete", &missing])
            .fails_with(1)
            .contains("not found")
    );
    let err = s.km(&["delete", &id, "--dry-run"]).fails_with(2).to_owned();
    assert!(err.contains("--dry-run is only valid for bulk delete."));
    assert!(
        s.km(&["delete", &id, "--yes"])
            .fails_with(2)
            .contains("--yes is only valid")
    );
    assert!(
        s.km(&["delete", &id, "-p", "x"])
            .fails_with(2)
            .contains("cannot be combined")
    );
    assert!(
        s.km(&["delete"])
            .fails_with(2)
            .contains("bulk delete requires one of")
    );
}

#[test]
fn bulk_delete_dry_run_confirmation_and_progress() {
    let s = Sandbox::new();
    for i in 0..5 {
        s.save(&format!("bulk row {i}"), &["-p", "bulk"]);
    }
    let keep = s.save("keep this", &["-p", "keep"]);

    let dry = s.km(&["delete", "-p", "bulk", "--dry-run"]);
    assert_eq!(dry.ok(), "Dry run — pass --yes to actually delete.\n");
    assert!(
        dry.stderr
            .contains("bulk delete target: 5 entries (project='bulk')"),
        "{}",
        dry.stderr
    );

    // Not interactive and no --yes: refused, nothing deleted.
    let refused = s.km(&["delete", "-p", "bulk"]);
    assert!(
        refused
            .fails_with(2)
            .contains("Pass --yes for non-interactive use.")
    );
    assert_eq!(s.search_json(&["bulk"]).len(), 5);

    let done = s.km(&["delete", "-p", "bulk", "--yes", "--batch-size", "2"]);
    assert_eq!(done.ok(), "deleted (tombstone): 5 entries\n");
    assert!(
        done.stderr.contains("  progress: 2/5 (ok=2, fail=0)"),
        "{}",
        done.stderr
    );
    assert!(
        done.stderr.contains("  progress: 4/5 (ok=4, fail=0)"),
        "{}",
        done.stderr
    );
    assert!(s.search_json(&["bulk"]).is_empty());
    assert_eq!(s.search_json(&[]).len(), 1);
    assert_eq!(s.search_json(&[])[0]["observation_id"], keep.as_str());

    let none = s.km(&["delete", "-p", "bulk", "--yes"]);
    assert_eq!(
        none.ok(),
        "no targets — no observations matched the selector.\n"
    );
    assert!(
        s.km(&["delete", "--until", "soon", "--yes"])
            .fails_with(2)
            .contains("--until must be in ISO8601 format.")
    );
}

#[test]
fn status_reports_counts_and_identity() {
    let s = Sandbox::new();
    let id = s.save("one", &[]);
    s.save("two", &[]);
    s.km(&["delete", &id]).ok();
    let out = s.km(&["status"]);
    let text = out.ok();
    for line in [
        format!("kioku-mesh version: {}", env!("CARGO_PKG_VERSION")),
        "backend: local".to_owned(),
        "agent_family: claude (from KIOKU_MESH_AGENT_FAMILY)".to_owned(),
        "client_id: tester@host (from KIOKU_MESH_CLIENT_ID)".to_owned(),
        "zenoh_session: n/a".to_owned(),
        "last_put_at_iso: -".to_owned(),
        "pending_puts: 0".to_owned(),
        "observations_live: 1".to_owned(),
        "observations_tombstoned: 1".to_owned(),
        "observations_shadowed: 0".to_owned(),
        "count (within limit 10000): 1".to_owned(),
        "  family claude: 1".to_owned(),
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
}

#[test]
fn gc_retention_force_id_and_by_pc_id() {
    let s = Sandbox::new();
    let a = s.save("deleted soon", &[]);
    let b = s.save("purge me", &[]);
    s.km(&["delete", &a]).ok();
    assert_eq!(
        s.km(&["gc"]).ok(),
        "retention 30-day sweep: physically deleted 0 tombstones / 0 shadows (revived 0)\n"
    );
    assert_eq!(
        s.km(&["gc", "--retention-days", "0"]).ok(),
        "retention 0-day sweep: physically deleted 1 tombstones / 0 shadows (revived 0)\n"
    );
    assert!(
        s.km(&["get-memory", &a])
            .fails_with(1)
            .contains("not found")
    );
    assert_eq!(
        s.km(&["gc", "--force-id", &b]).ok(),
        format!("physically deleted (obs): {b}\n")
    );
    assert_eq!(
        s.km(&["gc", "--force-id", &b]).ok(),
        format!("observation_id {b} not present on this replica.\n")
    );
    assert!(
        s.km(&["gc", "--force-id", "abc"])
            .fails_with(2)
            .contains("--force-id requires a full 32-character")
    );
    let pc = "a".repeat(32);
    assert!(
        s.km(&["gc", "--by-pc-id", &pc])
            .fails_with(2)
            .contains("not supported in local mode")
    );
    assert!(
        s.km(&["gc", "--retention-days", "-1"])
            .fails_with(2)
            .contains("retention_days must be >= 0")
    );
    assert_eq!(
        s.km(&["gc", "-p", "x", "--no-shadow-prune"]).ok(),
        "retention 30-day sweep (project=x): physically deleted 0 tombstones (shadow prune skipped)\n"
    );
}

#[test]
fn gc_observations_reports_then_executes() {
    let s = Sandbox::new();
    assert!(
        s.km(&["gc-observations"])
            .ok()
            .ends_with("total candidates: 0\nnothing to clean up.\n")
    );
    let expired = s.save("scratch", &["--expires-at", "2001-01-01T00:00:00Z"]);
    let gone = s.save("gone", &[]);
    s.km(&["delete", &gone]).ok();
    let report = s.km(&["gc-observations", "--retention-days", "0"]);
    let text = report.ok();
    assert!(
        text.starts_with(
            "stale observation sweep, retention 0 days:\nexpired TTL (live → tombstone): 1\n"
        ),
        "{text}"
    );
    assert!(text.contains(&format!(
        "  {expired}  reason=expired-ttl  expires_at=2001-01-01T00:00:00.000000Z summary=summary"
    )));
    assert!(text.contains("expired tombstones (→ physical delete): 1"));
    assert!(text.ends_with(
        "total candidates: 2\nDry run — pass --execute to tombstone / delete the entries above.\n"
    ));
    assert!(
        s.km(&["gc-observations", "--retention-days", "0", "--execute"])
            .fails_with(2)
            .contains("--yes")
    );
    let done = s.km(&[
        "gc-observations",
        "--retention-days",
        "0",
        "--execute",
        "--yes",
    ]);
    assert!(done.ok().ends_with(
        "tombstoned 1 expired-TTL observations; physically deleted 1 tombstones / 0 shadows (revived 0, failures 0)\n"
    ));
    assert!(
        s.km(&["get-memory", &expired])
            .ok()
            .contains("state: tombstoned")
    );
}

#[test]
fn backfill_metadata_reports_and_repairs() {
    let s = Sandbox::new();
    // An entry saved before subject and summary were required.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use mesh_memory::MemoryStore;
        let store = mesh_memory::LocalStore::open(&s.local_db()).await.unwrap();
        let obs = mesh_core::Observation::from_json(
            r#"{"content": "Root cause: the cache key lacked the tenant. Fixed.", "observation_id": "22222222222222222222222222222222", "agent_family": "unknown", "client_id": "c", "pc_id": "p", "session_id": "s", "created_at": "2026-01-02T03:04:05.000000Z", "visibility": "mesh"}"#,
        )
        .unwrap();
        store.put_observation(&obs).await.unwrap();
        store.close().await;
    });
    let dry = s.km(&["backfill-metadata"]);
    let text = dry.ok();
    assert!(text.contains("scanned: 1 live observation(s)"), "{text}");
    assert!(text.contains("missing subject/summary: 1 (repairable: 1, no content to derive from: 0, already repaired by a superseding entry: 0)"));
    assert!(text.contains("agent_family unknown: 1"));
    assert!(text.contains("mode: dry-run (no writes; pass --apply to write)"));
    assert!(
        text.contains("    subject: '' -> 'Root cause: the cache key lacked the tenant. Fixed.'"),
        "{text}"
    );
    let applied = s.km(&["backfill-metadata", "--apply"]);
    assert!(
        applied
            .ok()
            .ends_with("repaired: 1/1 (originals kept and superseded)\n")
    );
    assert!(
        s.km(&["get-memory", "22222222222222222222222222222222"])
            .ok()
            .contains("state: superseded")
    );
    assert!(
        s.km(&["backfill-metadata"])
            .ok()
            .contains("planned repairs: 0")
    );
}

#[test]
fn init_local_writes_refuses_and_forces() {
    let s = Sandbox::new();
    let out = s.km(&["init", "--mode", "local"]);
    let config = s.config_dir().join("config.yaml");
    assert!(
        out.ok()
            .starts_with(&format!("wrote {}\n", config.display()))
    );
    assert_eq!(
        std::fs::read_to_string(&config).unwrap(),
        "backend: local\n"
    );
    assert!(
        s.km(&["init"])
            .fails_with(1)
            .contains("already exists. Use --force to overwrite.")
    );
    std::fs::write(&config, "# mine\nuser_id: me\nbackend: zenoh\n").unwrap();
    s.km(&["init", "--force"]).ok();
    assert_eq!(
        std::fs::read_to_string(&config).unwrap(),
        "# mine\nuser_id: me\nbackend: local\n"
    );
    assert_eq!(
        s.km(&["init", "--force", "--print"]).ok(),
        "backend: local\n"
    );
    assert!(
        s.km(&["init", "--tls"])
            .fails_with(2)
            .contains("--tls applies only")
    );
}

#[test]
fn save_suggests_supersede_candidates_and_supersedes_hide() {
    let s = Sandbox::new();
    let old = s.save("use redis", &["--memory-type", "decision", "-p", "app"]);
    let out = s.km(&[
        "save",
        "use postgres",
        "--subject",
        "Subject",
        "--summary",
        "new",
        "--memory-type",
        "decision",
        "-p",
        "app",
    ]);
    let text = out.ok();
    assert!(
        text.contains("supersede candidates (1 live entry with the same subject/type):"),
        "{text}"
    );
    assert!(text.contains(&format!(
        "  hint: if this revises them, save with --supersedes {old} so"
    )));
    let new = saved_id(text);
    s.km(&[
        "save",
        "final",
        "--subject",
        "subject",
        "--summary",
        "s",
        "--memory-type",
        "decision",
        "-p",
        "app",
        "--supersedes",
        &format!("{old},{new}"),
    ])
    .ok();
    assert_eq!(s.search_json(&["-p", "app"]).len(), 1);
}

#[test]
fn rebuild_flag_rebuilds_the_index_and_keeps_answers() {
    let s = Sandbox::new();
    s.save("stable answer", &[]);
    let before = s.search_json(&["stable"]);
    let out = s.km(&["--rebuild", "search", "stable", "--format", "json"]);
    assert!(
        out.stderr
            .contains("rebuilt the index: 1 observations, 0 tombstones"),
        "{}",
        out.stderr
    );
    let after: Vec<serde_json::Value> = serde_json::from_str(out.ok().trim()).unwrap();
    assert_eq!(before, after);
}

#[test]
fn drain_in_local_mode_has_nothing_to_do() {
    let s = Sandbox::new();
    assert_eq!(
        s.km(&["drain", "--pending"]).ok(),
        "pending_puts drain complete: drained=0, remaining=0\n"
    );
    assert!(
        s.km(&["drain"])
            .fails_with(2)
            .contains("only supports --pending")
    );
}

#[test]
fn completions_and_man_page_are_generated() {
    let s = Sandbox::new();
    for shell in ["bash", "zsh", "fish"] {
        let out = s.km(&["completions", shell]);
        assert!(out.ok().contains("kioku-mesh"), "{shell}");
        assert!(
            out.stdout.contains("get-memory"),
            "{shell} completes subcommands"
        );
    }
    assert!(s.km(&["manpage"]).ok().starts_with(".ie \\n(.g .ds Aq"));
    assert!(
        s.km(&["completions", "tcsh"])
            .fails_with(2)
            .contains("invalid value")
    );
}

#[test]
fn bulk_delete_asks_on_a_terminal_and_honours_the_answer() {
    // `script` gives the command a pseudo-terminal, as a person at a shell has.
    let script = std::path::Path::new("/usr/bin/script");
    if !script.exists() {
        eprintln!("skipping: util-linux `script` is not installed");
        return;
    }
    let s = Sandbox::new();
    for i in 0..3 {
        s.save(&format!("tty row {i}"), &["-p", "tty"]);
    }
    let cmd = format!(
        "{} delete -p tty",
        crate::harness::bin("kioku-mesh").display()
    );
    let refused = crate::harness::run_bounded(
        s.command(script).args(["-qec", &cmd, "/dev/null"]),
        Some("no\n"),
    );
    assert_eq!(refused.code, 1, "{}", refused.stdout);
    assert!(
        refused
            .stdout
            .contains("Tombstone 3 entries? type 'yes' to confirm:"),
        "{}",
        refused.stdout
    );
    assert_eq!(s.search_json(&["-p", "tty"]).len(), 3);
    let accepted = crate::harness::run_bounded(
        s.command(script).args(["-qec", &cmd, "/dev/null"]),
        Some("yes\n"),
    );
    assert_eq!(accepted.code, 0, "{}", accepted.stdout);
    assert!(
        accepted.stdout.contains("deleted (tombstone): 3 entries"),
        "{}",
        accepted.stdout
    );
    assert!(s.search_json(&["-p", "tty"]).is_empty());
}
