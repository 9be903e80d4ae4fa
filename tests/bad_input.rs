//! Bad input gets a clear error and changes nothing.

use std::os::unix::fs::PermissionsExt;

use crate::harness::{Sandbox, is_root};

/// Number of observations visible to search (0 when nothing was stored).
fn count(s: &Sandbox) -> usize {
    s.search_json(&[]).len()
}

#[test]
fn invalid_memory_type_and_importance_are_usage_errors() {
    let s = Sandbox::new();
    let err = s
        .try_save(&["--memory-type", "insight"])
        .fails_with(2)
        .to_owned();
    assert!(err.contains("insight") && err.contains("decision"), "{err}");
    for imp in ["0", "6", "x"] {
        let err = s.try_save(&["--importance", imp]).fails_with(2).to_owned();
        assert!(err.contains("--importance"), "{err}");
    }
    assert!(!s.local_db().exists(), "argument errors touch nothing");
}

/// A store command's help and argument errors come from the full parser
/// (bins/cli/src/parse.rs only accepts clean parses): the command's own
/// description, the usage line, exit 2 for a typo, and nothing written.
#[test]
fn store_command_help_and_typos_come_from_the_full_parser() {
    let s = Sandbox::new();
    let help = s.km(&["save", "--help"]);
    assert!(
        help.ok().starts_with("Save an observation"),
        "{}",
        help.stdout
    );
    assert!(
        help.stdout.contains("Usage: kioku-mesh save"),
        "{}",
        help.stdout
    );
    let err = s.km(&["search", "--no-such-flag"]).fails_with(2).to_owned();
    assert!(err.contains("--no-such-flag"), "{err}");
    assert!(err.contains("Usage: kioku-mesh search"), "{err}");
    let err = s.km(&["status", "extra"]).fails_with(2).to_owned();
    assert!(err.contains("extra"), "{err}");
    assert!(!s.local_db().exists(), "argument errors touch nothing");
}

#[test]
fn a_lifetime_past_the_calendar_is_refused() {
    // Found by fuzzing: chrono panicked on a TTL this large (exit 101).
    let s = Sandbox::new();
    s.save("kept", &[]);
    for ttl in ["9223372036854775807", "9223372036854775"] {
        let err = s.try_save(&["--ttl-sec", ttl]).fails_with(2).to_owned();
        assert!(
            err.contains(ttl) && err.contains("give fewer seconds"),
            "{err}"
        );
    }
    assert_eq!(count(&s), 1);
}

#[test]
fn missing_or_placeholder_metadata_is_refused() {
    let s = Sandbox::new();
    for (subject, summary, expect) in [
        ("", "", "subject and summary required"),
        ("s", "", "summary required"),
        ("N/A", "ok", "subject required"),
        ("s", "TBD", "summary required"),
        ("  ", "-", "subject and summary required"),
    ] {
        let err = s
            .km(&["save", "c", "--subject", subject, "--summary", summary])
            .fails_with(2)
            .to_owned();
        assert!(err.starts_with(&format!("error: {expect}")), "{err}");
    }
    s.save("valid", &[]);
    assert_eq!(count(&s), 1);
}

#[test]
fn ids_that_are_not_32_hex_are_refused() {
    let s = Sandbox::new();
    for bad in ["abc", &"g".repeat(32), &"A".repeat(32), &"0".repeat(33)] {
        assert!(
            s.km(&["get-memory", bad])
                .fails_with(2)
                .contains("observation_id must be a full 32-character match.")
        );
        assert!(
            s.km(&["delete", bad])
                .fails_with(2)
                .contains("observation_id must be a full 32-character match.")
        );
    }
    let err = s
        .try_save(&["--supersedes", "not-an-id"])
        .fails_with(2)
        .to_owned();
    assert!(
        err.contains("supersedes entries must be full 32-character observation ids"),
        "{err}"
    );
}

#[test]
fn malformed_timestamps_are_refused() {
    let s = Sandbox::new();
    s.save("x", &[]);
    assert!(
        s.km(&["search", "--since", "yesterday"])
            .fails_with(2)
            .contains("--since must be an ISO 8601 timestamp")
    );
    assert!(
        s.km(&["delete", "--since", "2026-13-45", "--yes"])
            .fails_with(2)
            .contains("--since must be in ISO8601 format.")
    );
    let err = s
        .try_save(&["--expires-at", "soon"])
        .fails_with(2)
        .to_owned();
    assert!(
        err.contains("expires_at must be ISO 8601; got 'soon'"),
        "{err}"
    );
    assert_eq!(count(&s), 1);
}

#[test]
fn scope_ids_that_would_inject_into_keys_are_refused() {
    for bad in ["a/b", "a*", "$x", "a#b", "a?b", "-lead"] {
        let mut s = Sandbox::new();
        s.set("KIOKU_MESH_USER_ID", bad)
            .set("KIOKU_MESH_TEAM_ID", bad);
        for vis in ["user", "team"] {
            let err = s.try_save(&["--visibility", vis]).fails_with(2).to_owned();
            assert!(err.contains("scope_id"), "{bad}: {err}");
        }
        assert!(!s.local_db().exists() || count(&s) == 0);
    }
    let s = Sandbox::new();
    let err = s
        .try_save(&["--visibility", "user"])
        .fails_with(2)
        .to_owned();
    assert!(
        err.contains("requires a user_id: set KIOKU_MESH_USER_ID"),
        "{err}"
    );
}

#[test]
fn project_file_cannot_set_user_id_but_sets_team() {
    let mut s = Sandbox::new();
    std::fs::write(
        s.dir.path().join(".kioku-mesh.yaml"),
        "user_id: evil\nteam_id: core\ndefault_visibility: team\n",
    )
    .unwrap();
    let out = s.try_save(&[]);
    assert!(
        out.ok().ends_with("(visibility=team/core)\n"),
        "{}",
        out.stdout
    );
    let err = s
        .try_save(&["--visibility", "user"])
        .fails_with(2)
        .to_owned();
    assert!(err.contains("requires a user_id"), "{err}");
    s.set("KIOKU_MESH_USER_ID", "me");
    assert!(
        s.try_save(&["--visibility", "user"])
            .ok()
            .ends_with("(visibility=user/me)\n")
    );
}

#[test]
fn identity_values_that_would_inject_into_keys_are_refused() {
    for (var, bad) in [
        ("KIOKU_MESH_CLIENT_ID", "a/b"),
        ("KIOKU_MESH_AGENT_FAMILY", "cl*ude"),
        ("KIOKU_MESH_SESSION_ID", "s$1"),
        ("KIOKU_MESH_CLIENT_ID", "x#y"),
        ("KIOKU_MESH_AGENT_FAMILY", "who?"),
    ] {
        let mut s = Sandbox::new();
        s.set(var, bad);
        let err = s.try_save(&[]).fails_with(2).to_owned();
        assert!(
            err.contains(var) && err.contains("cannot be used in a key"),
            "{err}"
        );
        assert_eq!(count(&s), 0);
    }
}

#[test]
fn malformed_config_is_reported_with_its_path() {
    let s = Sandbox::new();
    std::fs::create_dir_all(s.config_dir()).unwrap();
    std::fs::write(s.config_dir().join("config.yaml"), "backend: [local\n").unwrap();
    let err = s.try_save(&[]).fails_with(1).to_owned();
    assert!(err.contains("config.yaml is not valid YAML"), "{err}");
    std::fs::write(s.config_dir().join("config.yaml"), "backend: cloud\n").unwrap();
    assert!(
        s.km(&["search"])
            .fails_with(1)
            .contains("must be 'local' or 'zenoh'")
    );
    assert!(!s.local_db().exists());
}

#[test]
fn a_corrupt_database_is_reported_and_not_touched() {
    let s = Sandbox::new();
    std::fs::create_dir_all(s.local_db().parent().unwrap()).unwrap();
    let garbage = b"definitely not sqlite ".repeat(500);
    std::fs::write(s.local_db(), &garbage).unwrap();
    let err = s.try_save(&[]).fails_with(1).to_owned();
    assert!(
        err.contains("is damaged") && err.contains("Nothing was changed"),
        "{err}"
    );
    assert!(s.km(&["search"]).fails_with(1).contains("is damaged"));
    assert_eq!(std::fs::read(s.local_db()).unwrap(), garbage);
}

#[test]
fn a_state_dir_that_cannot_be_created_is_reported() {
    let mut s = Sandbox::new();
    let blocker = s.dir.path().join("blocker");
    std::fs::write(&blocker, "a file where a directory should be").unwrap();
    let state = blocker.join("state");
    s.set("KIOKU_MESH_STATE_DIR", state.to_str().unwrap());
    let err = s.try_save(&[]).fails_with(1).to_owned();
    assert!(err.contains("cannot create the state directory"), "{err}");
    assert!(
        err.contains("set KIOKU_MESH_STATE_DIR to a writable directory"),
        "{err}"
    );
}

/// Set the mode of `dir` and of every file in it.
fn chmod_tree(dir: &std::path::Path, dir_mode: u32, file_mode: u32) {
    for f in std::fs::read_dir(dir).unwrap() {
        std::fs::set_permissions(
            f.unwrap().path(),
            std::fs::Permissions::from_mode(file_mode),
        )
        .unwrap();
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(dir_mode)).unwrap();
}

#[test]
fn a_read_only_database_refuses_writes_and_keeps_its_rows() {
    let s = Sandbox::new();
    s.save("kept", &[]);
    let db = s.local_db();
    let db_dir = db.parent().unwrap().to_path_buf();
    // Permissions do not stop root, so the command then runs as nobody.
    for d in [s.dir.path().to_path_buf(), s.home(), s.state_dir()] {
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    chmod_tree(&db_dir, 0o555, 0o444);
    let before = std::fs::read(&db).unwrap();
    let args = ["save", "more", "--subject", "s", "--summary", "m"];
    let km = crate::harness::bin("kioku-mesh");
    let out = if is_root() {
        let mut full = vec![
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            km.to_str().unwrap(),
        ];
        full.extend(args);
        s.run(std::path::Path::new("/usr/bin/setpriv"), &full)
    } else {
        s.km(&args)
    };
    let err = out.fails_with(1);
    assert!(
        err.contains("database") && err.contains("writable"),
        "{err}"
    );
    assert_eq!(std::fs::read(&db).unwrap(), before);
    chmod_tree(&db_dir, 0o755, 0o644);
    assert_eq!(count(&s), 1);
}

#[test]
fn oversized_content_is_refused() {
    let s = Sandbox::new();
    // Too large for argv, so the content comes on stdin (`save -`).
    let big = "x".repeat(300 * 1024);
    let err = s
        .km_stdin(&["save", "-", "--subject", "s", "--summary", "m"], &big)
        .fails_with(2)
        .to_owned();
    assert!(err.contains("the limit is 262144 bytes"), "{err}");
    assert_eq!(count(&s), 0);
}

#[test]
fn content_can_come_from_stdin() {
    let s = Sandbox::new();
    let out = s.km_stdin(
        &["save", "-", "--subject", "s", "--summary", "m"],
        "multi\nline body from stdin\n",
    );
    crate::harness::saved_id(out.ok());
    assert_eq!(
        s.search_json(&["stdin"])[0]["content"],
        "multi\nline body from stdin\n"
    );
}
