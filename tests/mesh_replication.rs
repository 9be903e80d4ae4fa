//! Replication between hosts: a save on one host is found on the others,
//! through one hub, two hubs, a stock zenohd, or the try-out `mesh start`
//! and `mesh join`, and a late host catches up.

use std::time::Duration;

use crate::harness::{Daemon, eventually, saved_id};
use crate::mesh_fixture::{CONVERGE, Host, Mesh, Node, REPLICATE};

#[test]
fn a_save_on_one_spoke_is_found_on_another_through_the_hub() {
    let mesh = Mesh::running();
    let (hub, a, b) = (&mesh.hub, &mesh.a, &mesh.b);

    let out = a.sb.km(&[
        "save",
        "spoke A decided on zstd level 3 for the archive",
        "--subject",
        "compression",
        "--summary",
        "zstdlevelthree",
    ]);
    let id = saved_id(out.ok());
    assert!(out.stdout.contains("visibility=mesh"), "{}", out.stdout);
    assert!(
        eventually(REPLICATE, || b.found("zstdlevelthree") == vec![id.clone()]),
        "spoke B never found the save"
    );
    assert!(eventually(REPLICATE, || hub.found("zstdlevelthree")
        == vec![id.clone()]));

    // A delete on B hides it on A.
    b.sb.km(&["delete", &id, "--reason", "superseded"]).ok();
    assert!(
        eventually(REPLICATE, || a.found("zstdlevelthree").is_empty()),
        "the tombstone did not reach spoke A"
    );
    assert_eq!(a.state_of(&id).as_deref(), Some("tombstoned"));
}

#[test]
fn a_late_spoke_catches_up_with_a_thousand_saves() {
    let mut mesh = Mesh::new();
    mesh.serve(Host::Hub);
    mesh.serve(Host::A);
    let ids = crate::mesh_seed::seed(&mesh.a.sb, 1000, "catchup");
    assert_eq!(ids.len(), 1000);

    // B is the late spoke.
    mesh.serve(Host::B);
    let late = &mesh.b;
    assert!(
        eventually(CONVERGE, || late.status_count("observations_live") == 1000),
        "the late spoke has {} of 1000",
        late.status_count("observations_live")
    );
    let found = late.found("catchup");
    assert_eq!(found.len(), 1000);
}

#[test]
fn a_spoke_listing_two_hubs_works_through_whichever_is_up() {
    let down = Node::new();
    let up = Node::new();
    let a = Node::new();
    let b = Node::new();
    let _up_d = up.serve(&[]);
    // `down` never starts: A must not wait for it.
    let _a_d = a.serve(&[&down, &up]);
    let _b_d = b.serve(&[&up]);
    let id = b.sb.save("through the second hub twohubs", &[]);
    assert!(eventually(REPLICATE, || a.found("twohubs") == vec![id.clone()]));
    let id2 = a.sb.save("and back twohubsback", &[]);
    assert!(eventually(REPLICATE, || b.found("twohubsback") == vec![id2.clone()]));
}

#[test]
fn mesh_start_and_join_share_memory_without_configuration() {
    let a = Node::new();
    let b = Node::new();
    let _start = Daemon::spawn(
        &a.sb,
        a.port,
        &[
            "mesh",
            "start",
            "--listen",
            &format!("tcp/127.0.0.1:{}", a.port),
        ],
    );
    let _join = Daemon::spawn(
        &b.sb,
        b.port,
        &[
            "mesh",
            "join",
            &format!("127.0.0.1:{}", a.port),
            "--listen",
            &format!("tcp/127.0.0.1:{}", b.port),
        ],
    );
    let id = b.sb.save("tried the mesh tryoutmesh", &[]);
    assert!(eventually(REPLICATE, || a.found("tryoutmesh") == vec![id.clone()]));
}

/// A child process killed when dropped.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_stock_zenohd_runs_the_hub_config_init_writes() {
    let Some(zenohd) = crate::harness::test_tool("KIOKU_MESH_ZENOHD") else {
        return;
    };
    let hub = Node::new();
    let endpoint = format!("tcp/127.0.0.1:{}", hub.port);
    hub.sb
        .km(&["init", "--mode", "hub", "--listen", &endpoint])
        .ok();
    let config = hub.sb.config_dir().join("zenohd.json5");
    let log = hub.sb.home().join("zenohd.log");
    // zenohd finds no storage plugin library here (ours is linked into
    // `serve`), so it runs as a plain router: the config must still load.
    let _router = Killed(
        hub.sb
            .command(&zenohd)
            .arg("-c")
            .arg(&config)
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::create(log.with_extension("err")).unwrap())
            .spawn()
            .unwrap(),
    );
    assert!(
        eventually(Duration::from_secs(20), || crate::harness::listening(
            hub.port
        )),
        "zenohd did not listen: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    let a = Node::new();
    let b = Node::new();
    let _a_d = a.serve(&[&hub]);
    let _b_d = b.serve(&[&hub]);
    let id = a.sb.save("routed by a stock zenohd stockrouter", &[]);
    assert!(eventually(REPLICATE, || b.found("stockrouter") == vec![id.clone()]));
}
