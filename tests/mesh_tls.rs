//! `init --tls`: hosts linked over Zenoh's TLS transport with mutual
//! authentication. Hosts enrolled by one CA replicate to each other; a host
//! whose certificate comes from another CA never exchanges a memory with
//! them; a host without a usable store is refused before anything is
//! written. Every host runs on loopback, its TLS endpoint an explicit
//! `tls/127.0.0.1:<port>` named by its certificate's SAN.

use std::time::Duration;

use crate::harness::{Daemon, Sandbox, enroll, eventually, free_port};
use crate::mesh_fixture::{CONVERGE, Node};

/// How long a host outside the mesh is watched for a leak.
const NO_LEAK: Duration = Duration::from_secs(8);

/// A node that is its own CA and enrolled with it.
fn own_ca_node(cn: &str) -> Node {
    let node = Node::new();
    node.sb.km(&["tls", "init-ca"]).ok();
    enroll(&node.sb, &node.sb, cn, &[]);
    node
}

fn tcp(port: u16) -> String {
    format!("tcp/127.0.0.1:{port}")
}

fn tls(port: u16) -> String {
    format!("tls/127.0.0.1:{port}")
}

/// `init --mode hub --tls`, listening on the node's plain loopback port for
/// its own clients and on `tls_port` for the other hosts.
fn init_hub(node: &Node, tls_port: u16) {
    let (plain, secure) = (tcp(node.port), tls(tls_port));
    let run = node.sb.km(&[
        "init", "--mode", "hub", "--tls", "--listen", &plain, "--listen", &secure,
    ]);
    run.ok();
    let text = std::fs::read_to_string(node.sb.config_dir().join("zenohd.json5")).unwrap();
    assert!(text.contains("enable_mtls: true"), "{text}");
    assert!(text.contains(&format!("\"{secure}\"")), "{text}");
}

/// `init --mode spoke --tls` dialing `hub_tls_port` over TLS.
fn init_spoke(node: &Node, hub_tls_port: u16) {
    let (plain, hub) = (tcp(node.port), tls(hub_tls_port));
    node.sb
        .km(&[
            "init",
            "--mode",
            "spoke",
            "--tls",
            "--listen",
            &plain,
            "--connect",
            &hub,
        ])
        .ok();
}

/// `serve` with the configuration `init` wrote.
fn serve(node: &Node) -> Daemon {
    Daemon::spawn(&node.sb, node.port, &["serve"])
}

#[test]
fn hosts_enrolled_by_one_ca_replicate_over_mtls() {
    let a = own_ca_node("hub-a");
    let b = Node::new();
    enroll(&a.sb, &b.sb, "spoke-b", &[]);
    let a_tls = free_port();
    init_hub(&a, a_tls);
    init_spoke(&b, a_tls);
    let a_daemon = serve(&a);
    let b_daemon = serve(&b);
    let logs = || {
        format!(
            "hub:\n{}\nspoke:\n{}",
            a_daemon.log_text(),
            b_daemon.log_text()
        )
    };
    // The link is up once the spoke sees the hub's storage beside its own.
    assert!(
        eventually(CONVERGE, || b
            .sb
            .km(&["status"])
            .stdout
            .contains("storages_seen: 2")),
        "the spoke never linked to the hub over TLS\n{}",
        logs()
    );

    let from_a = a.sb.save("written on the tls hub", &[]);
    assert!(
        eventually(CONVERGE, || b.found("tls").contains(&from_a)),
        "the hub's save did not reach the spoke over TLS\n{}",
        logs()
    );
    let from_b = b.sb.save("written on the tls spoke", &[]);
    assert!(
        eventually(CONVERGE, || a.found("tls").contains(&from_b)),
        "the spoke's save did not reach the hub over TLS\n{}",
        logs()
    );
    // doctor sees the store the links use.
    let doctor = b.sb.km(&["doctor"]);
    assert!(
        doctor
            .stdout
            .contains("[PASS] tls_certs — peer certificate CN=spoke-b"),
        "{}",
        doctor.stdout
    );
    std::fs::remove_file(b.sb.config_dir().join("tls/peer.crt")).unwrap();
    let doctor = b.sb.km(&["doctor"]);
    assert!(
        doctor.stdout.contains("[FAIL] tls_certs"),
        "{}",
        doctor.stdout
    );
}

#[test]
fn a_host_certified_by_another_ca_cannot_join() {
    let a = own_ca_node("hub-a");
    let intruder = own_ca_node("intruder");
    let a_tls = free_port();
    init_hub(&a, a_tls);
    init_spoke(&intruder, a_tls);
    let _a_daemon = serve(&a);
    let mut intruder_daemon = serve(&intruder);

    let from_a = a.sb.save("hub secret over mtls", &[]);
    let from_intruder = intruder.sb.save("intruder note over mtls", &[]);
    let leaked = eventually(NO_LEAK, || {
        intruder.found("mtls").contains(&from_a) || a.found("mtls").contains(&from_intruder)
    });
    assert!(!leaked, "a memory crossed between hosts of different CAs");
    // Both still serve their own clients.
    assert_eq!(a.found("mtls"), vec![from_a]);
    assert_eq!(intruder.found("mtls"), vec![from_intruder]);
    assert!(intruder_daemon.exited().is_none());
}

#[test]
fn init_tls_without_a_usable_store_is_refused_and_writes_nothing() {
    let s = Sandbox::new();
    let config = s.config_dir();
    let hub = ["init", "--mode", "hub", "--tls", "--listen", "127.0.0.1"];
    let err = s.km(&hub).fails_with(2).to_owned();
    assert!(err.contains("peer.crt") && err.contains("ca.crt"), "{err}");
    assert!(err.contains("kioku-mesh tls request"), "{err}");
    assert!(!config.join("zenohd.json5").exists());
    assert!(!config.join("config.yaml").exists());

    // A store whose CA did not sign the certificate.
    let node = own_ca_node("a");
    let other = own_ca_node("b");
    std::fs::copy(
        other.sb.config_dir().join("tls/ca.crt"),
        node.sb.config_dir().join("tls/ca.crt"),
    )
    .unwrap();
    let err = node.sb.km(&hub).fails_with(2).to_owned();
    assert!(err.contains("not issued by"), "{err}");
    assert!(!node.sb.config_dir().join("zenohd.json5").exists());

    // Cross-host UDP cannot ride on TLS.
    let err = other
        .sb
        .km(&[
            "init",
            "--mode",
            "hub",
            "--tls",
            "--listen",
            "udp/10.0.0.1:7447",
        ])
        .fails_with(2)
        .to_owned();
    assert!(err.contains("UDP"), "{err}");
}

#[test]
fn serve_refuses_a_tls_config_whose_files_vanished() {
    let node = own_ca_node("a");
    let a_tls = free_port();
    init_hub(&node, a_tls);
    std::fs::remove_file(node.sb.config_dir().join("tls/peer.crt")).unwrap();
    let err = node.sb.km(&["serve"]).fails_with(2).to_owned();
    assert!(
        err.contains("peer.crt") && err.contains("tls install"),
        "{err}"
    );
    assert!(!crate::harness::listening(node.port));
    assert!(!crate::harness::listening(a_tls));
}

#[test]
fn bare_hosts_become_tls_endpoints_and_loopback_stays_plain() {
    let node = own_ca_node("a");
    let out = node
        .sb
        .km(&[
            "init",
            "--mode",
            "spoke",
            "--tls",
            "--listen",
            "127.0.0.1",
            "--listen",
            "10.0.0.2",
            "--connect",
            "10.0.0.1",
            "--print",
        ])
        .ok()
        .to_owned();
    for expected in [
        "\"tcp/127.0.0.1:7447\"",
        "\"tls/10.0.0.2:7447\"",
        "\"tls/10.0.0.1:7447\"",
        "close_link_on_expiration: true",
        "gossip: { enabled: false }",
    ] {
        assert!(out.contains(expected), "{expected} missing from\n{out}");
    }
    let tls_dir = node.sb.config_dir().join("tls");
    assert!(
        out.contains(&format!("{}", tls_dir.join("peer.key").display())),
        "{out}"
    );
}
