//! The Python reference 1.2.0 on our mesh: its CLI, as a Zenoh client of
//! our daemon, and ours exchange saves and deletes in both directions.

use std::time::Duration;

use crate::harness::{Sandbox, eventually, reference_bin, saved_id};
use crate::mesh_fixture::Node;

const WAIT: Duration = Duration::from_secs(20);

/// A reference client with its own state directory, dialing `node`.
fn reference_client(node: &Node) -> Sandbox {
    let mut sb = Sandbox::new();
    sb.set("KIOKU_MESH_BACKEND", "zenoh");
    sb.set("ZENOH_CONNECT", &format!("tcp/127.0.0.1:{}", node.port));
    sb
}

fn reference_ids(sb: &Sandbox, bin: &std::path::Path, term: &str) -> Vec<String> {
    // --rebuild: the reference CLI fills its index from a scan only then.
    let run = sb.run(bin, &["--rebuild", "search", term, "--format", "json"]);
    assert_eq!(run.code, 0, "reference search failed: {}", run.stderr);
    serde_json::from_str::<Vec<serde_json::Value>>(run.stdout.trim())
        .unwrap_or_default()
        .iter()
        .filter_map(|o| o["observation_id"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn the_reference_and_we_share_saves_and_deletes_over_our_daemon() {
    let Some(bin) = reference_bin() else { return };
    let node = Node::new();
    let daemon = node.serve(&[]);
    let py = reference_client(&node);

    // Theirs to ours.
    let theirs = py.run(
        &bin,
        &[
            "save",
            "saved by the reference pyorigin",
            "--subject",
            "s",
            "--summary",
            "from python",
        ],
    );
    assert_eq!(theirs.code, 0, "{}", theirs.stderr);
    let their_id = saved_id(&theirs.stdout);
    assert!(
        eventually(WAIT, || node.found("pyorigin") == vec![their_id.clone()]),
        "our index never saw the reference's save {}: {}\n{}",
        theirs.stdout,
        theirs.stderr,
        daemon.log_text()
    );

    // Ours to theirs.
    let our_id = node.sb.save("saved by us rustorigin", &[]);
    assert_eq!(reference_ids(&py, &bin, "rustorigin"), vec![our_id.clone()]);

    // Their delete hides it here; ours hides it there.
    let del = py.run(&bin, &["delete", &their_id]);
    assert_eq!(del.code, 0, "{}", del.stderr);
    assert!(
        eventually(WAIT, || node.found("pyorigin").is_empty()),
        "the reference's tombstone did not reach our index"
    );
    assert_eq!(node.state_of(&their_id).as_deref(), Some("tombstoned"));
    node.sb.km(&["delete", &our_id]).ok();
    assert!(reference_ids(&py, &bin, "rustorigin").is_empty());
}
