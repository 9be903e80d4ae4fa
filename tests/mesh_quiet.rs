//! A command that succeeds prints no error: Zenoh's own messages (replies
//! routed after a query timed out, channels closed at session end) stay
//! below the user's log level unless `RUST_LOG` asks for them.

use crate::harness::Run;
use crate::mesh_fixture::{Host, Mesh};

/// Lines a save may print on stderr that are ours: none for a plain save,
/// the queue notice when no storage confirmed in time.
fn assert_only_our_lines(run: &Run) {
    for line in run.stderr.lines() {
        assert!(
            line.contains("pending queue")
                || line.contains("the mesh daemon is unreachable")
                || line.starts_with("WARNING: the mesh is not ready"),
            "stderr holds a line that is not ours: {line:?}\nstderr: {}",
            run.stderr
        );
    }
}

#[test]
fn saves_on_a_spoke_print_nothing_but_the_result_even_with_the_hub_paused() {
    let mut mesh = Mesh::running();
    // As a user runs it: no RUST_LOG.
    mesh.a.sb.unset("RUST_LOG");
    for i in 0..3 {
        let run = mesh.a.sb.save_run(&format!("quiet spoke save {i}"), &[]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(run.stdout.starts_with("saved: "), "{}", run.stdout);
        assert_eq!(run.stderr, "", "a successful save printed on stderr");
        let search = mesh.a.sb.km(&["search", "quiet spoke"]);
        assert_eq!(search.code, 0);
        assert_eq!(search.stderr, "", "a successful search printed on stderr");
    }

    // The hub stops answering mid-mesh (a laptop lid, a stalled VM).
    mesh.daemon(Host::Hub).signal("STOP");
    let paused: Vec<Run> = (0..2)
        .map(|i| mesh.a.sb.save_run(&format!("quiet paused save {i}"), &[]))
        .collect();
    mesh.daemon(Host::Hub).signal("CONT");
    for run in &paused {
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(
            run.stdout.starts_with("saved: ") || run.stdout.starts_with("queued: "),
            "{}",
            run.stdout
        );
        assert_only_our_lines(run);
    }
    let status = mesh.a.sb.km(&["status"]);
    assert_eq!(status.code, 0);
    assert_only_our_lines(&status);
}
