//! Outages: saves queued with the daemon down, a hub that goes away and
//! comes back, a partition, and a daemon killed mid-burst.

use std::time::Duration;

use crate::harness::{eventually, saved_id};
use crate::mesh_fixture::{CONVERGE, Host, Mesh, Node, REPLICATE};

#[test]
fn a_save_with_the_daemon_down_is_queued_and_drained_in_order() {
    // The CLI's own daemon would drain the queue itself as soon as it is up;
    // pointing the CLI at another host's daemon leaves the draining to it.
    let hub = Node::new();
    let mut node = Node::new();
    let first = node.sb.save_run("queued first queuedorder", &[]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert!(first.stdout.starts_with("queued: "), "{}", first.stdout);
    assert!(first.stderr.contains("pending queue"), "{}", first.stderr);
    let second = node.sb.save_run("queued second queuedorder", &[]);
    assert!(second.stdout.starts_with("queued: "));
    assert_eq!(node.status_count("pending_puts"), 2);
    // Read-your-writes: queued saves are searchable here at once.
    assert_eq!(node.found("queuedorder").len(), 2);

    let drain = node.sb.km(&["drain", "--pending"]);
    assert_eq!(
        drain.code, 1,
        "drain without a daemon fails: {}",
        drain.stdout
    );
    assert!(
        drain.stderr.contains("kioku-mesh serve"),
        "{}",
        drain.stderr
    );

    let _hub_d = hub.serve(&[]);
    node.sb
        .set("ZENOH_CONNECT", &format!("tcp/127.0.0.1:{}", hub.port));
    let drain = node.sb.km(&["drain", "--pending"]);
    assert_eq!(
        drain.ok().trim(),
        "pending_puts drain complete: drained=2, remaining=0"
    );
    assert_eq!(node.status_count("pending_puts"), 0);

    assert!(eventually(REPLICATE, || hub.found("queuedorder").len() == 2));

    // The next save also delivers what is queued: queue one, then save.
    let mut other = Node::new();
    let queued = saved_id(
        &other
            .sb
            .save_run("before the daemon nextsave", &[])
            .stdout
            .replace("queued: ", "saved: "),
    );
    other
        .sb
        .set("ZENOH_CONNECT", &format!("tcp/127.0.0.1:{}", hub.port));
    let stored = other.sb.save("after the daemon nextsave", &[]);
    assert_eq!(other.status_count("pending_puts"), 0);
    assert!(eventually(REPLICATE, || hub.found("nextsave").len() == 2));
    let mut both = other.found("nextsave");
    both.sort();
    let mut want = vec![queued, stored];
    want.sort();
    assert_eq!(both, want);
}

#[test]
fn saves_during_a_hub_outage_reach_the_other_spoke_after_it_returns() {
    let mut mesh = Mesh::running();
    mesh.stop(Host::Hub);

    // A's own storage takes the saves while the hub is away.
    let ids: Vec<String> = (0..3)
        .map(|i| {
            mesh.a
                .sb
                .save(&format!("during the outage {i} outagesave"), &[])
        })
        .collect();
    assert!(mesh.b.found("outagesave").is_empty());

    mesh.serve(Host::Hub);
    let b = &mesh.b;
    let mut want = ids.clone();
    want.sort();
    assert!(
        eventually(CONVERGE, || {
            let mut got = b.found("outagesave");
            got.sort();
            got == want
        }),
        "spoke B has {:?} of {want:?}",
        b.found("outagesave")
    );
}

#[test]
fn a_tombstone_made_during_a_partition_hides_everywhere_and_gc_stays_gone() {
    let mut mesh = Mesh::running();
    let id = mesh.a.sb.save("soon deleted partitiondelete", &[]);
    let keep = mesh.a.sb.save("kept partitiondelete", &[]);
    assert!(eventually(REPLICATE, || mesh
        .b
        .found("partitiondelete")
        .len()
        == 2));

    mesh.stop(Host::Hub);
    mesh.a.sb.km(&["delete", &id]).ok();
    assert_eq!(mesh.a.found("partitiondelete"), vec![keep.clone()]);
    assert_eq!(
        mesh.b.found("partitiondelete").len(),
        2,
        "B cannot know yet"
    );

    mesh.serve(Host::Hub);
    let (hub, a, b) = (&mesh.hub, &mesh.a, &mesh.b);
    assert!(
        eventually(CONVERGE, || b.found("partitiondelete")
            == vec![keep.clone()]),
        "the tombstone never reached B"
    );
    assert!(eventually(REPLICATE, || hub.found("partitiondelete")
        == vec![keep.clone()]));

    // Physically removed on A: gone from every index, and it stays gone
    // through later repairs.
    let gc = a.sb.km(&["gc", "--force-id", &id]);
    assert!(gc.ok().contains(&id), "{}", gc.stdout);
    assert!(
        eventually(CONVERGE, || b.state_of(&id).is_none()
            && hub.state_of(&id).is_none()),
        "B: {:?}, hub: {:?}",
        b.state_of(&id),
        hub.state_of(&id)
    );
    std::thread::sleep(Duration::from_secs(8));
    assert_eq!(b.state_of(&id), None);
    assert_eq!(a.state_of(&id), None);
    assert_eq!(b.found("partitiondelete"), vec![keep]);
}

#[test]
fn kill_9_during_a_save_burst_loses_nothing_reported() {
    let hub = Node::new();
    let a = Node::new();
    let _hub_d = hub.serve(&[]);
    let a_d = a.serve(&[&hub]);

    let burst = std::thread::scope(|scope| {
        let saver = scope.spawn(|| {
            let mut reported = Vec::new();
            for i in 0..60 {
                let run = a.sb.save_run(&format!("burst {i} burstsave"), &[]);
                // Saved or queued both promise the write survives.
                if run.code == 0 {
                    let line = run.stdout.lines().next().unwrap_or_default().to_owned();
                    reported.push(saved_id(&line.replace("queued: ", "saved: ")));
                }
            }
            reported
        });
        std::thread::sleep(Duration::from_millis(400));
        a_d.kill9();
        saver.join().unwrap()
    });
    assert!(
        burst.len() >= 50,
        "only {} of 60 saves were answered",
        burst.len()
    );

    let _a_d = a.serve(&[&hub]);
    a.sb.km(&["drain", "--pending"]).ok();
    let mut want = burst.clone();
    want.sort();
    assert!(
        eventually(CONVERGE, || {
            let mut got = hub.found("burstsave");
            got.sort();
            want.iter().all(|id| got.contains(id))
        }),
        "the hub is missing {:?}",
        want.iter()
            .filter(|id| !hub.found("burstsave").contains(id))
            .collect::<Vec<_>>()
    );
}
