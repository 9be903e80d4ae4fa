//! The daemon's index keeper: changes that meet a locked index, a damaged
//! index, and a burst that overflows the keeper's queue all end up in the
//! index.

use std::time::Duration;

use crate::harness::eventually;
use crate::mesh_fixture::{Node, REPLICATE};

#[test]
fn changes_that_meet_a_locked_index_arrive_by_the_repair_that_follows() {
    let hub = Node::new();
    let mut b = Node::new();
    // No scheduled repair within the test: only the retry can bring it in.
    b.sb.set("KIOKU_MESH_REPAIR_INTERVAL_SECS", "600");
    let _hub_d = hub.serve(&[]);
    let _b_d = b.serve(&[&hub]);
    let index = b.sb.state_dir().join("mesh/index.db");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let id = rt.block_on(async {
        use sqlx::ConnectOptions;
        let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&index)
            .connect()
            .await
            .unwrap();
        // Hold the write lock past the daemon's 5 s busy timeout, as a
        // long `--rebuild` would.
        sqlx::raw_sql("BEGIN IMMEDIATE")
            .execute(&mut conn)
            .await
            .unwrap();
        let id = hub.sb.save("met a locked index lockedindex", &[]);
        // A save on B itself goes through; only B's index has to wait.
        let local =
            b.sb.save_run("saved while the index is locked lockedlocal", &[]);
        assert!(local.ok().starts_with("saved: "), "{}", local.stdout);
        assert!(
            local.stderr.contains("cannot show it yet"),
            "{}",
            local.stderr
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
        sqlx::raw_sql("COMMIT").execute(&mut conn).await.unwrap();
        id
    });
    assert!(eventually(Duration::from_secs(30), || b
        .found("lockedindex")
        == vec![id.clone()]));
    assert!(eventually(Duration::from_secs(30), || b
        .found("lockedlocal")
        .len()
        == 1));
    assert!(b.sb.km(&["status"]).ok().contains("mesh"));
}

#[test]
fn the_daemon_moves_a_damaged_index_aside_and_rebuilds_it() {
    let node = Node::new();
    let daemon = node.serve(&[]);
    let id = node.sb.save("survives a damaged index damagedindex", &[]);
    assert_eq!(daemon.stop(), 0);

    let mesh_dir = node.sb.state_dir().join("mesh");
    for name in ["index.db-wal", "index.db-shm"] {
        let _ = std::fs::remove_file(mesh_dir.join(name));
    }
    std::fs::write(mesh_dir.join("index.db"), "not a database at all").unwrap();
    // The CLI refuses clearly and changes nothing.
    let refused = node.sb.km(&["search", "damagedindex"]);
    assert!(
        refused.fails_with(1).contains("damaged"),
        "{}",
        refused.stderr
    );

    let _daemon = node.serve(&[]);
    assert!(eventually(REPLICATE, || node.found("damagedindex") == vec![id.clone()]));
    let aside = broken_copies(&mesh_dir);
    assert_eq!(aside.len(), 1);
    assert_eq!(
        std::fs::read_to_string(&aside[0]).unwrap(),
        "not a database at all"
    );
}

/// The damaged indexes the daemon moved aside (`index.db.broken-*`).
fn broken_copies(mesh_dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(mesh_dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .starts_with("index.db.broken-")
                })
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_torn_index_tail_is_found_at_run_time_and_rebuilt() {
    // Found by the fault suite: garbage over the tail of index.db passes
    // the open (the header is intact), then every write of the keeper
    // failed on it until someone ran doctor.
    let node = Node::new();
    let daemon = node.serve(&[]);
    // `saved:` or, when the daemon is busy, `queued:`; both are kept.
    let save = |body: &str| {
        let run = node
            .sb
            .km(&["save", body, "--subject", "s", "--summary", "m"]);
        assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
        run.stdout
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_owned()
    };
    let mut ids = Vec::new();
    for i in 0..40 {
        ids.push(save(&format!(
            "tornindex note {i} {}",
            "padding ".repeat(120)
        )));
    }
    assert!(eventually(REPLICATE, || node.found("tornindex").len() == 40));
    daemon.kill9();
    let mesh_dir = node.sb.state_dir().join("mesh");
    let index = mesh_dir.join("index.db");
    // Fold the journal in first, so that the garbage lands on real pages.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", index.display()))
            .await
            .unwrap();
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    });
    let mut bytes = std::fs::read(&index).unwrap();
    let half = bytes.len() / 2;
    for (i, b) in bytes[half..].iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(151) ^ 0x5a;
    }
    std::fs::write(&index, &bytes).unwrap();

    let _daemon = node.serve(&[]);
    // The daemon's first repair meets the damage and rebuilds the index.
    assert!(
        eventually(REPLICATE, || broken_copies(&mesh_dir).len() == 1),
        "the damaged index was not moved aside"
    );
    let later = save("tornindex written after the damage");
    ids.push(later);
    ids.sort();
    assert!(
        eventually(REPLICATE, || {
            let mut found = node.found("tornindex");
            found.sort();
            found == ids
        }),
        "the index was not rebuilt: {:?}",
        node.found("tornindex").len()
    );
    assert_eq!(
        broken_copies(&mesh_dir).len(),
        1,
        "one damaged copy is kept aside"
    );
}

#[test]
fn a_burst_that_overflows_the_keeper_queue_arrives_by_a_repair() {
    let mut node = Node::new();
    // A queue of four, and no scheduled repair within the test: only the
    // repair the overflow schedules can bring the dropped changes in.
    node.sb.set("KIOKU_MESH_KEEPER_QUEUE", "4");
    node.sb.set("KIOKU_MESH_REPAIR_INTERVAL_SECS", "600");
    let mut daemon = node.serve(&[]);
    let index = node.sb.state_dir().join("mesh/index.db");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // Keep the keeper busy: it blocks on the index's write lock with the
    // first change in hand while the rest of the burst arrives.
    let mut conn = rt.block_on(async {
        use sqlx::ConnectOptions;
        let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&index)
            .connect()
            .await
            .unwrap();
        sqlx::raw_sql("BEGIN IMMEDIATE")
            .execute(&mut conn)
            .await
            .unwrap();
        conn
    });
    let mut ids = crate::mesh_seed::put_burst(&node.sb, 200, "overflowburst");
    // Released within the keeper's 5 s busy timeout, so its apply succeeds
    // (a failed apply would schedule a repair of its own; checked below).
    rt.block_on(async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        sqlx::raw_sql("COMMIT").execute(&mut conn).await.unwrap();
    });

    ids.sort();
    assert!(
        eventually(REPLICATE, || {
            let mut found = node.found("overflowburst");
            found.sort();
            found == ids
        }),
        "{} of 200 in the index",
        node.found("overflowburst").len()
    );
    let log = daemon.log_text();
    assert!(
        log.contains("behind by 4 live changes"),
        "the queue never overflowed, so this proves nothing:\n{log}"
    );
    assert!(
        !log.contains("could not apply"),
        "the keeper's apply met the lock past its busy timeout:\n{log}"
    );
    assert!(daemon.exited().is_none(), "{log}");
}
