//! Crashes and concurrency against real processes.

use std::collections::HashSet;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::Duration;

use crate::harness::{Sandbox, eventually, wait_bounded};

#[test]
fn parallel_writers_lose_nothing() {
    let s = Sandbox::new();
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let script = format!(
                "for i in $(seq 1 10); do \"$0\" save \"writer {w} row $i\" --subject s --summary m >/dev/null || exit 1; done"
            );
            s.shell(&script, &[]).spawn().unwrap()
        })
        .collect();
    for w in writers {
        let out = wait_bounded(w, Duration::from_secs(120));
        assert_eq!(out.code, 0, "{}", out.stderr);
    }
    assert_eq!(s.search_json(&["row", "-n", "1000"]).len(), 40);
}

#[test]
fn kill_9_during_a_save_burst_loses_no_acknowledged_save() {
    let s = Sandbox::new();
    let acked = s.dir.path().join("acked.txt");
    // Every save the CLI reports is appended to `acked` before the next starts.
    let script = "i=0; while [ $i -lt 400 ]; do i=$((i+1)); \"$0\" save \"burst $i\" --subject s --summary m >> \"$1\" || exit 1; done";
    let mut sh = s.shell(script, &[acked.as_os_str()]);
    sh.process_group(0);
    let child = sh.spawn().unwrap();
    let pgid = child.id();
    // Let the burst get going, then kill the whole group (the shell and the
    // save in flight) without warning.
    let started = eventually(Duration::from_secs(30), || {
        std::fs::read_to_string(&acked).is_ok_and(|t| t.lines().count() >= 25)
    });
    assert!(started, "the burst did not start");
    Command::new("kill")
        .args(["-s", "KILL", "--", &format!("-{pgid}")])
        .status()
        .unwrap();
    let _ = wait_bounded(child, Duration::from_secs(10));

    let acked_ids: Vec<String> = std::fs::read_to_string(&acked)
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("saved: "))
        .map(|l| l[..32].to_owned())
        .collect();
    assert!(acked_ids.len() >= 25);
    let stored: HashSet<String> = s
        .search_json(&["burst", "-n", "10000"])
        .iter()
        .map(|d| d["observation_id"].as_str().unwrap().to_owned())
        .collect();
    for id in &acked_ids {
        assert!(stored.contains(id), "acknowledged save {id} was lost");
    }
    // The store still works after the crash.
    s.save("after the crash", &[]);
}

/// A command leaves its saves in `raw.db` itself, with the log cleared
/// (ADR 0018): copying the database file alone, as a backup or a move to
/// another machine does, loses nothing. The files the command leaves beside
/// it do not trouble the next one.
#[test]
fn after_each_command_the_database_file_alone_holds_every_save() {
    let s = Sandbox::new();
    let ids: HashSet<String> = (0..3)
        .map(|i| s.save(&format!("copied alone {i}"), &[]))
        .collect();
    let db = s.local_db();
    let mut wal = db.clone().into_os_string();
    wal.push("-wal");
    // No frames: the log is missing, empty, or its header is cleared.
    let log = std::fs::read(&wal).unwrap_or_default();
    assert!(
        log.iter().take(32).all(|&b| b == 0),
        "a command left commits in the log"
    );

    let copy = Sandbox::new();
    std::fs::create_dir_all(copy.local_db().parent().unwrap()).unwrap();
    std::fs::copy(&db, copy.local_db()).unwrap();
    let found: HashSet<String> = copy
        .search_json(&["copied alone"])
        .iter()
        .map(|d| d["observation_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(found, ids);
    // The original store goes on past the files its commands left.
    s.save("after the copy", &[]);
    assert_eq!(s.search_json(&["copied alone"]).len(), 3);
}
