//! Command-line contracts kept from the reference and their extensions:
//! `search --limit` below 1, `init --out`, `serve --config`.

use crate::harness::Sandbox;

#[test]
fn search_limit_of_zero_or_less_means_one() {
    let s = Sandbox::new();
    s.save("first limitnote", &[]);
    s.save("second limitnote", &[]);
    assert_eq!(s.search_json(&["limitnote"]).len(), 2);
    for limit in ["-5", "0", "1"] {
        let found = s.search_json(&["limitnote", "-n", limit]);
        assert_eq!(found.len(), 1, "-n {limit}");
    }
    let text = s.km(&["search", "limitnote", "--limit", "-1"]);
    assert_eq!(text.ok().matches("<id=").count(), 1, "{}", text.stdout);
}

#[test]
fn init_out_writes_that_file_refuses_to_overwrite_and_forces() {
    let s = Sandbox::new();
    let hub = ["init", "--mode", "hub", "--listen", "127.0.0.1"];
    let with = |extra: &[&str]| {
        let mut all = hub.to_vec();
        all.extend_from_slice(extra);
        s.km(&all)
    };
    // Relative to the working directory, as given.
    let path = s.dir.path().join("conf/hub.json5");
    let out = with(&["--out", "conf/hub.json5"]);
    let text = out.ok();
    assert!(text.starts_with("wrote conf/hub.json5\n"), "{text}");
    assert!(
        text.contains("next: kioku-mesh serve --config conf/hub.json5"),
        "{text}"
    );
    assert!(text.contains("also: set `backend: zenoh`"), "{text}");
    let written = std::fs::read_to_string(&path).unwrap();
    assert!(written.contains("key_expr: \"mem/mesh/**\""), "{written}");
    assert!(written.contains("\"tcp/127.0.0.1:7447\""), "{written}");
    // Only that file: neither config.yaml nor the default daemon config.
    assert!(!s.config_dir().join("config.yaml").exists());
    assert!(!s.config_dir().join("zenohd.json5").exists());

    std::fs::write(&path, "// mine\n").unwrap();
    let again = with(&["--out", "conf/hub.json5"]);
    assert!(
        again
            .fails_with(1)
            .contains("error: conf/hub.json5 already exists. Use --force to overwrite."),
        "{}",
        again.stderr
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "// mine\n");

    with(&["--out", "conf/hub.json5", "--force"]).ok();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), written);

    assert!(
        s.km(&["init", "--mode", "local", "--out", "x.json5"])
            .fails_with(2)
            .contains("--out applies only to --mode hub / spoke")
    );
    assert!(!s.dir.path().join("x.json5").exists());
}

#[test]
fn init_out_with_systemd_runs_serve_with_that_config() {
    let s = Sandbox::new();
    let out = s.km(&[
        "init",
        "--mode",
        "spoke",
        "--listen",
        "127.0.0.1",
        "--connect",
        "hub.lan",
        "--out",
        "spoke.json5",
        "--install-systemd",
    ]);
    out.ok();
    let unit_path = s.home().join(".config/systemd/user/kioku-mesh.service");
    let unit = std::fs::read_to_string(&unit_path).unwrap();
    let absolute = s.dir.path().join("spoke.json5");
    assert!(
        unit.contains(&format!(" serve --config \"{}\"\n", absolute.display())),
        "{unit}"
    );
    assert!(absolute.is_file());
    assert!(!s.config_dir().join("zenohd.json5").exists());
}

#[test]
fn serve_config_that_is_missing_or_malformed_is_a_usage_error() {
    let s = Sandbox::new();
    let missing = s.km(&["serve", "--config", "missing.json5"]);
    let err = missing.fails_with(2);
    assert!(
        err.contains("--config missing.json5: no such file"),
        "{err}"
    );
    assert!(
        err.contains("init --mode hub|spoke --out missing.json5"),
        "{err}"
    );

    std::fs::write(s.dir.path().join("bad.json5"), "{ listen: [ }").unwrap();
    let bad = s.km(&["serve", "--config", "bad.json5"]);
    assert!(
        bad.fails_with(2)
            .contains("--config bad.json5: not a daemon configuration"),
        "{}",
        bad.stderr
    );
    // Nothing started: no router announced itself.
    assert!(!bad.stderr.contains("listening on"), "{}", bad.stderr);
}

#[test]
fn init_out_naming_a_directory_is_a_usage_error() {
    let s = Sandbox::new();
    std::fs::create_dir(s.dir.path().join("d")).unwrap();
    let run = s.km(&[
        "init",
        "--mode",
        "hub",
        "--listen",
        "127.0.0.1",
        "--out",
        "d",
        "--force",
    ]);
    assert!(
        run.fails_with(2).contains("d is a directory"),
        "{}",
        run.stderr
    );
}

/// The rows of docs/adr/0005 that are not pinned elsewhere.
#[test]
fn deliberate_differences_from_the_reference_hold() {
    let s = Sandbox::new();
    // The bulk-delete hint about mesh-only index rows: mesh mode only.
    let none = s.km(&["delete", "-p", "nothing", "--dry-run"]);
    none.ok();
    assert!(!none.stderr.contains("hint:"), "{}", none.stderr);

    // gc --force-id names both rows it removed.
    let gone = s.save("purged with its tombstone", &[]);
    s.km(&["delete", &gone]).ok();
    assert_eq!(
        s.km(&["gc", "--force-id", &gone]).ok(),
        format!("physically deleted (obs, tomb): {gone}\n")
    );

    // A superseded entry is live again once its replacement is deleted.
    let old = s.save("use redis", &[]);
    let new = s.save("use valkey", &["--supersedes", &old]);
    let state = |id: &str| {
        let out = s.km(&["get-memory", id]);
        out.ok()
            .lines()
            .find(|l| l.starts_with("state: "))
            .unwrap()
            .to_owned()
    };
    assert_eq!(state(&old), "state: superseded");
    s.km(&["delete", &new]).ok();
    assert_eq!(state(&old), "state: live");

    // gc-observations counts tombstones of entries without a project.
    let text = s.km(&["gc-observations", "--retention-days", "0"]);
    assert!(
        text.ok()
            .contains("expired tombstones (→ physical delete): 1"),
        "{}",
        text.stdout
    );

    // --until is parsed like --since: an offset is converted to UTC.
    let created = s.search_json(&["redis"])[0]["created_at"]
        .as_str()
        .unwrap()
        .to_owned();
    // The minute it was saved, an hour west of UTC: an hour after the save
    // once converted, and before it (the seconds dropped) if the offset
    // were ignored. Any time of day works.
    let an_hour_later = format!("{}T{}-01:00", &created[..10], &created[11..16]);
    let until = s.km(&["delete", "--until", &an_hour_later, "--dry-run"]);
    until.ok();
    assert!(
        until.stderr.contains("bulk delete target: 1 entries"),
        "{}",
        until.stderr
    );

    // Clean errors where the reference raises.
    assert!(
        s.km(&["search", "-n", "99999999999999999999999"])
            .fails_with(2)
            .contains("--limit")
    );
    assert!(
        s.km(&["gc", "--retention-days", "-1"])
            .fails_with(2)
            .contains("retention_days must be >= 0")
    );
    assert_eq!(
        s.km(&["gc", "--retention-days", "100000000"]).ok(),
        "retention 100000000-day sweep: physically deleted 0 tombstones / 0 shadows (revived 0)\n"
    );

    // Generated daemon configurations do not scout by multicast.
    let printed = s.km(&["init", "--mode", "hub", "--listen", "127.0.0.1", "--print"]);
    assert!(
        printed.ok().contains("multicast: { enabled: false }"),
        "{}",
        printed.stdout
    );
}
