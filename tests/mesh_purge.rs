//! `gc --by-pc-id`: everything one host wrote, physically deleted from the
//! storages and the index; a dry run first; other hosts' entries untouched.

use crate::harness::Sandbox;
use crate::mesh_fixture::Node;

fn pc_id(sb: &Sandbox) -> String {
    let status = sb.km(&["status"]);
    status
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("pc_id: "))
        .expect("status names the pc_id")
        .trim()
        .to_owned()
}

#[test]
fn purging_a_host_removes_its_entries_and_nothing_else() {
    let node = Node::new();
    let _daemon = node.serve(&[]);
    // A second host's CLI on the same daemon: its own state, its own pc_id.
    let mut other = Sandbox::new();
    for var in ["KIOKU_MESH_BACKEND", "ZENOH_CONNECT"] {
        other.set(var, &node.sb.var(var).unwrap());
    }
    let mine: Vec<String> = (0..3)
        .map(|i| {
            node.sb
                .save(&format!("leaky host entry {i} purgehost"), &[])
        })
        .collect();
    node.sb.km(&["delete", &mine[0]]).ok();
    let theirs = other.save("someone else purgehost", &[]);
    let pc = pc_id(&node.sb);

    // Bad input changes nothing.
    let short = node.sb.km(&["gc", "--by-pc-id", "abc"]);
    assert_eq!(short.code, 2, "{}", short.stderr);
    assert!(
        short.stderr.contains("32-character pc_id"),
        "{}",
        short.stderr
    );

    let dry = node.sb.km(&["gc", "--by-pc-id", &pc]);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert_eq!(
        dry.stdout.trim(),
        "Dry run — pass --execute to actually delete."
    );
    assert!(
        dry.stderr.contains("matched obs: 3 entries"),
        "{}",
        dry.stderr
    );
    assert_eq!(node.found("purgehost").len(), 3, "a dry run deleted");

    let unconfirmed = node.sb.km(&["gc", "--by-pc-id", &pc, "--execute"]);
    assert_eq!(unconfirmed.code, 2);
    assert!(
        unconfirmed.stderr.contains("Pass --yes"),
        "{}",
        unconfirmed.stderr
    );
    assert_eq!(node.found("purgehost").len(), 3);

    let run = node.sb.km(&["gc", "--by-pc-id", &pc, "--execute", "--yes"]);
    assert_eq!(
        run.ok().trim(),
        "physically deleted: obs=3, tombs=3, failures=0 (tomb sweep / broadcast skipped)"
    );
    assert_eq!(node.found("purgehost"), vec![theirs.clone()]);
    for id in &mine {
        let get = node.sb.km(&["get-memory", id]);
        assert_eq!(get.code, 1, "{id} still known: {}", get.stdout);
    }
    // The storages no longer hold them: a fresh index rebuilt from the mesh
    // sees only the other host's entry.
    node.sb.km(&["realign-index"]).ok();
    assert_eq!(node.found("purgehost"), vec![theirs]);
    let again = node.sb.km(&["gc", "--by-pc-id", &pc]);
    assert_eq!(
        again.ok().trim(),
        "no targets — no observations matched the pc_id."
    );
}
