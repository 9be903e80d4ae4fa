//! Storage scopes: user scopes stay on the hosts that declare them, the
//! storages block lists the declared scopes, and legacy keys migrate into
//! a scope.

use std::time::Duration;

use crate::harness::{Sandbox, eventually, saved_id};
use crate::mesh_fixture::{Mesh, Node, REPLICATE};

#[test]
fn a_user_scope_stays_on_hosts_that_declare_it() {
    let mut mesh = Mesh::new();
    mesh.hub.sb.set("KIOKU_MESH_USER_ID", "");
    mesh.a.sb.set("KIOKU_MESH_USER_ID", "alice");
    mesh.b.sb.set("KIOKU_MESH_USER_ID", "alice");
    mesh.start();
    let (hub, a, b) = (&mesh.hub, &mesh.a, &mesh.b);
    let other = Node::new();
    let _o_d = other.serve(&[hub]);

    let out =
        a.sb.save_run("alice only privatenote", &["--visibility", "user"]);
    let id = saved_id(out.ok());
    assert!(
        out.stdout.contains("visibility=user/alice"),
        "{}",
        out.stdout
    );
    let mesh_id = a.sb.save("everyone publicnote", &[]);

    assert!(eventually(REPLICATE, || b.found("privatenote") == vec![id.clone()]));
    assert!(eventually(REPLICATE, || other.found("publicnote")
        == vec![mesh_id.clone()]));
    // Give a wrongly routed copy every chance to arrive, including repairs.
    std::thread::sleep(Duration::from_secs(7));
    for node in [hub, &other] {
        assert!(node.found("privatenote").is_empty());
        assert_eq!(node.state_of(&id), None);
        let stores: Vec<String> = std::fs::read_dir(node.sb.state_dir())
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            !stores.iter().any(|s| s.contains("user")),
            "a host without the scope made a storage for it: {stores:?}"
        );
    }
}

#[test]
fn render_storages_lists_the_declared_scopes() {
    let mut sb = Sandbox::new();
    sb.set("KIOKU_MESH_USER_ID", "alice");
    sb.set("KIOKU_MESH_TEAM_ID", "core");
    let text = sb.km(&["config", "render-storages"]).ok().to_owned();
    for needle in [
        "key_expr: \"mem/mesh/**\"",
        "key_expr: \"mem/user/alice/**\"",
        "strip_prefix: \"mem/user/alice\"",
        "key_expr: \"mem/team/core/**\"",
        "sub_intervals: 5",
    ] {
        assert!(text.contains(needle), "{needle} missing from\n{text}");
    }
    std::fs::create_dir_all(sb.config_dir()).unwrap();
    std::fs::write(
        sb.config_dir().join("config.yaml"),
        "storage_scopes: [mesh, team/*]\n",
    )
    .unwrap();
    let bad = sb.km(&["config", "render-storages"]);
    assert!(
        bad.fails_with(2).contains("storage scope 'team/*'"),
        "{}",
        bad.stderr
    );
}

#[test]
fn migrate_visibility_moves_legacy_keys_into_a_scope() {
    let mut node = Node::new();
    // A storage over all of mem/**, as the reference's zenohd config has,
    // so that legacy keys have somewhere to live.
    let printed = node
        .sb
        .km(&["init", "--mode", "hub", "--listen", "127.0.0.1", "--print"])
        .ok()
        .replace("key_expr: \"mem/mesh/**\"", "key_expr: \"mem/**\"");
    std::fs::create_dir_all(node.sb.config_dir()).unwrap();
    std::fs::write(node.sb.config_dir().join("zenohd.json5"), printed).unwrap();
    node.sb.set("KIOKU_MESH_BACKEND", "local");
    let local = node
        .sb
        .km(&["migrate-visibility", "--from", "legacy", "--to", "mesh"]);
    assert!(local.fails_with(2).contains("works on the mesh"));
    node.sb.set("KIOKU_MESH_BACKEND", "zenoh");
    let _d = node.serve(&[]);

    let ids = crate::mesh_seed::put_legacy(&node.sb, 5, "legacymove");
    let dry = node.sb.km(&[
        "migrate-visibility",
        "--from",
        "legacy",
        "--to",
        "mesh",
        "--dry-run",
    ]);
    let text = dry.ok();
    assert!(
        text.contains("observations: 5") && text.contains("tombstones: 1"),
        "{text}"
    );
    // Legacy entries are never indexed.
    assert!(node.found("legacymove").is_empty());

    let refused = node
        .sb
        .km(&["migrate-visibility", "--from", "legacy", "--to", "mesh"]);
    assert!(refused.fails_with(2).contains("--yes"));
    let done = node.sb.km(&[
        "migrate-visibility",
        "--from",
        "legacy",
        "--to",
        "mesh",
        "--yes",
    ]);
    assert!(
        done.ok().contains(
            "migrate-visibility complete: planned=6 copied=6 deleted=6 conflicts=0 failures=0"
        ),
        "{}",
        done.stdout
    );
    // Four live (one was tombstoned in the legacy layout too), now in the mesh scope.
    let mut found = node.found("legacymove");
    found.sort();
    let mut want = ids[1..].to_vec();
    want.sort();
    assert!(
        eventually(REPLICATE, || {
            let mut f = node.found("legacymove");
            f.sort();
            f == want
        }),
        "{found:?}"
    );
    let again = node.sb.km(&[
        "migrate-visibility",
        "--from",
        "legacy",
        "--to",
        "mesh",
        "--dry-run",
    ]);
    assert!(again.ok().contains("observations: 0"), "{}", again.stdout);
}
