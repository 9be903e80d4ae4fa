//! Scopes the routers enforce. Three hosts over mTLS on loopback: the CA
//! host `hub` and a spoke `member` hold `team/core`; the spoke `outsider`
//! holds only `mesh` but is configured as if it were in the team (its
//! daemon declares the same team storage, its keeper subscribes to it).
//! Team observations never reach the outsider, not even through a Zenoh
//! session of its own holding its valid certificate that asks for
//! everything; mesh observations still do; the outsider's own team write
//! is refused with the reason. Then `tls revoke` cuts the member off a
//! running mesh.

use std::time::{Duration, Instant};

use crate::harness::{Daemon, Sandbox, enroll, eventually, free_port, reference_bin, saved_id};
use crate::mesh_fixture::{CONVERGE, Node};

/// How long a host outside a scope is watched for a leak: longer than a
/// storage alignment interval (10 s), so replication had its chance.
const NO_LEAK: Duration = Duration::from_secs(14);

fn team_node() -> Node {
    let mut node = Node::new();
    node.sb.set("KIOKU_MESH_TEAM_ID", "core");
    node
}

fn init(node: &Node, mode: &str, tls_port: Option<u16>, hub_tls: Option<u16>) {
    let plain = format!("tcp/127.0.0.1:{}", node.port);
    let mut args = vec![
        "init".to_owned(),
        "--mode".to_owned(),
        mode.to_owned(),
        "--tls".to_owned(),
        "--listen".to_owned(),
        plain,
    ];
    if let Some(port) = tls_port {
        args.extend(["--listen".to_owned(), format!("tls/127.0.0.1:{port}")]);
    }
    if let Some(port) = hub_tls {
        args.extend(["--connect".to_owned(), format!("tls/127.0.0.1:{port}")]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    node.sb.km(&args).ok();
}

fn serve(node: &Node) -> Daemon {
    Daemon::spawn(&node.sb, node.port, &["serve"])
}

/// Every file under `dir` whose bytes contain `needle`.
pub fn files_containing(dir: &std::path::Path, needle: &str) -> Vec<String> {
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if std::fs::read(&path)
                .is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle.as_bytes()))
            {
                hits.push(path.display().to_string());
            }
        }
    }
    hits
}

/// A Zenoh client configuration dialing the hub's TLS port with the
/// `ca.crt`, `peer.key` and `peer.crt` found in `tls_dir` (a missing file
/// is left out, as a host without a certificate would).
fn client_config(tls_dir: &std::path::Path, hub_tls: u16) -> String {
    let entry = |field: &str, name: &str| {
        let path = tls_dir.join(name);
        if path.is_file() {
            format!("{field}: \"{}\",", path.display())
        } else {
            String::new()
        }
    };
    format!(
        r#"{{
          mode: "client",
          connect: {{ endpoints: ["tls/127.0.0.1:{hub_tls}"], timeout_ms: 3000 }},
          scouting: {{ multicast: {{ enabled: false }}, gossip: {{ enabled: false }} }},
          transport: {{ link: {{ tls: {{
            {ca}
            enable_mtls: true,
            verify_name_on_connect: true,
            {key}
            {cert}
          }} }} }},
        }}"#,
        ca = entry("root_ca_certificate", "ca.crt"),
        key = entry("connect_private_key", "peer.key"),
        cert = entry("connect_certificate", "peer.crt"),
    )
}

/// A runtime for this test's own Zenoh clients.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Whether a Zenoh client with the credentials in `tls_dir` gets a session
/// with the hub at all.
fn links(tls_dir: &std::path::Path, hub_tls: u16) -> bool {
    let config = client_config(tls_dir, hub_tls);
    runtime().block_on(async move {
        let Ok(config) = zenoh::Config::from_json5(&config) else {
            return false;
        };
        match tokio::time::timeout(Duration::from_secs(10), zenoh::open(config)).await {
            Ok(Ok(session)) => {
                let _ = session.close().await;
                true
            }
            _ => false,
        }
    })
}

/// Credentials the hub must turn away, each in its own directory under
/// `root`: a self-signed certificate, one from the mesh CA that expired, and
/// none at all. Each directory holds the mesh's `ca.crt`, so the client
/// itself trusts the hub.
fn bad_credentials(
    hub: &Sandbox,
    root: &std::path::Path,
) -> Vec<(&'static str, std::path::PathBuf)> {
    use rcgen::{CertificateParams, DnType, ExtendedKeyUsagePurpose, Issuer, KeyPair};
    let tls = hub.config_dir().join("tls");
    let ca_pem = std::fs::read_to_string(tls.join("ca.crt")).unwrap();
    let ca_key = KeyPair::from_pem(&std::fs::read_to_string(tls.join("ca.key")).unwrap()).unwrap();
    let issuer = Issuer::from_ca_cert_pem(&ca_pem, ca_key).unwrap();
    let params = |cn: &str| {
        let mut p = CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
        p.distinguished_name.push(DnType::CommonName, cn);
        p.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        p
    };
    let mut out = Vec::new();
    let mut write = |label: &'static str, cert: Option<(String, String)>| {
        let dir = root.join(label);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("ca.crt"), &ca_pem).unwrap();
        if let Some((cert, key)) = cert {
            std::fs::write(dir.join("peer.crt"), cert).unwrap();
            std::fs::write(dir.join("peer.key"), key).unwrap();
        }
        out.push((label, dir));
    };
    let key = KeyPair::generate().unwrap();
    let cert = params("hub").self_signed(&key).unwrap();
    write("self-signed", Some((cert.pem(), key.serialize_pem())));
    let key = KeyPair::generate().unwrap();
    let mut expired = params("member");
    expired.not_before = rcgen::date_time_ymd(2020, 1, 1);
    expired.not_after = rcgen::date_time_ymd(2021, 1, 1);
    let cert = expired.signed_by(&key, &issuer).unwrap();
    write("expired", Some((cert.pem(), key.serialize_pem())));
    write("no certificate", None);
    out
}

/// A Zenoh client holding the outsider's valid certificate, dialing the hub
/// directly, that asks for everything it can name for `window`. Returns
/// every payload it received.
fn adversary(outsider: &Sandbox, hub_tls: u16, window: Duration) -> Vec<String> {
    let tls_dir = outsider.config_dir().join("tls");
    let config = client_config(&tls_dir, hub_tls);
    let team = mesh_core::daemon_config::StorageScope::parse("team/core").unwrap();
    let fp = mesh_core::access::replication_fingerprint(&team);
    runtime().block_on(async move {
        let config = zenoh::Config::from_json5(&config).unwrap();
        let session = zenoh::open(config)
            .await
            .expect("the adversary links with a valid cert");
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let mut subscribers = Vec::new();
        for expr in [
            "**".to_owned(),
            "mem/**".to_owned(),
            "mem/team/**".to_owned(),
            "mem/team/core/**".to_owned(),
            format!("@-digest/*/{fp}"),
        ] {
            let seen = seen.clone();
            if let Ok(sub) = session
                .declare_subscriber(expr.as_str())
                .callback(move |sample| {
                    let text = sample
                        .payload()
                        .try_to_string()
                        .unwrap_or_default()
                        .into_owned();
                    seen.lock()
                        .unwrap()
                        .push(format!("{} {text}", sample.key_expr()));
                })
                .await
            {
                subscribers.push(sub);
            }
        }
        let deadline = Instant::now() + window;
        while Instant::now() < deadline {
            for selector in [
                "mem/**".to_owned(),
                "mem/mesh/**".to_owned(),
                "mem/team/core/**".to_owned(),
                format!("@zid/*/{fp}/aligner"),
            ] {
                if let Ok(replies) = session
                    .get(selector.as_str())
                    .timeout(Duration::from_millis(500))
                    .await
                {
                    while let Ok(reply) = replies.recv_async().await {
                        if let Ok(sample) = reply.result() {
                            let text = sample
                                .payload()
                                .try_to_string()
                                .unwrap_or_default()
                                .into_owned();
                            seen.lock()
                                .unwrap()
                                .push(format!("{} {text}", sample.key_expr()));
                        }
                    }
                }
            }
            // A forged team write, straight at the hub.
            let _ = session
                .put(
                    "mem/team/core/obs/claude/adv/adv/adv/0123456789abcdef0123456789abcdef",
                    "forged by the adversary",
                )
                .await;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        drop(subscribers);
        let _ = session.close().await;
        seen.lock().unwrap().clone()
    })
}

#[test]
fn routers_keep_team_memory_from_a_host_outside_the_team_and_revocation_bites() {
    let hub = team_node();
    hub.sb.km(&["tls", "init-ca"]).ok();
    enroll(&hub.sb, &hub.sb, "hub", &["team/core"]);
    let member = team_node();
    enroll(&hub.sb, &member.sb, "member", &["team/core"]);
    let outsider = team_node();
    enroll(&hub.sb, &outsider.sb, "outsider", &[]);
    let status = hub.sb.km(&["tls", "status"]).ok().to_owned();
    assert!(status.contains("member: mesh, team/core"), "{status}");
    assert!(status.contains("outsider: mesh"), "{status}");

    let hub_tls = free_port();
    init(&hub, "hub", Some(hub_tls), None);
    init(&member, "spoke", None, Some(hub_tls));
    init(&outsider, "spoke", None, Some(hub_tls));
    let hub_d = serve(&hub);
    let member_d = serve(&member);
    let outsider_d = serve(&outsider);
    let logs = || {
        format!(
            "hub:\n{}\nmember:\n{}\noutsider:\n{}",
            hub_d.log_text(),
            member_d.log_text(),
            outsider_d.log_text()
        )
    };
    // Spokes fetch the policy from the hub and restart to enforce it.
    for (name, d) in [("member", &member_d), ("outsider", &outsider_d)] {
        assert!(
            eventually(CONVERGE, || d
                .log_text()
                .contains("access control: policy version")),
            "{name} never enforced the hub's policy\n{}",
            logs()
        );
    }
    assert!(
        hub_d
            .log_text()
            .contains("this host (hub) holds mesh, team/core"),
        "{}",
        logs()
    );

    // Team memory flows between members; mesh memory flows to everyone.
    let secret = member
        .sb
        .save("teamsecret kept within core", &["--visibility", "team"]);
    assert!(
        eventually(CONVERGE, || hub.found("teamsecret").contains(&secret)),
        "team memory did not reach the hub\n{}",
        logs()
    );
    let public = hub.sb.save("meshnote for every host", &[]);
    assert!(
        eventually(CONVERGE, || outsider.found("meshnote").contains(&public)),
        "mesh memory did not reach the outsider\n{}",
        logs()
    );

    // A Python reference client of the outsider's router takes part in the
    // mesh scope: its save reaches the hub, and it finds the hub's note.
    if let Some(py) = reference_bin() {
        let mut client = Sandbox::new();
        client.set("KIOKU_MESH_BACKEND", "zenoh");
        client.set("ZENOH_CONNECT", &format!("tcp/127.0.0.1:{}", outsider.port));
        let saved = client.run(
            &py,
            &[
                "save",
                "pyenforced from python",
                "--subject",
                "s",
                "--summary",
                "py",
            ],
        );
        assert_eq!(saved.code, 0, "{}", saved.stderr);
        let py_id = saved_id(&saved.stdout);
        assert!(
            eventually(CONVERGE, || hub.found("pyenforced").contains(&py_id)),
            "the reference's mesh save did not reach the hub\n{}",
            logs()
        );
        let found = client.run(
            &py,
            &["--rebuild", "search", "meshnote", "--format", "json"],
        );
        assert!(
            found.stdout.contains(&public),
            "{}{}",
            found.stdout,
            found.stderr
        );
    }

    // The outsider cannot write the team scope: refused, with the reason.
    let refused = outsider
        .sb
        .save_run("teamforgery from the outsider", &["--visibility", "team"]);
    assert_ne!(refused.code, 0, "{}", refused.stdout);
    assert!(
        refused
            .stderr
            .contains("not admitted to the team/core scope")
            && refused
                .stderr
                .contains("tls grant outsider --scope team/core"),
        "{}",
        refused.stderr
    );

    // An adversarial client with the outsider's valid certificate gets no
    // byte of team memory, and its forged team write lands nowhere.
    let seen = adversary(&outsider.sb, hub_tls, NO_LEAK);
    assert!(
        seen.iter().all(|s| !s.contains("teamsecret")),
        "the adversary received team memory: {seen:?}"
    );
    assert!(
        seen.iter().any(|s| s.contains("meshnote")),
        "the adversary should still read the mesh scope it holds: {seen:?}"
    );
    assert!(hub.found("forged").is_empty() && member.found("forged").is_empty());
    // Hosts that are not in the mesh at all get no session: a self-signed
    // certificate (even one naming an admitted host), an expired one from
    // the mesh CA, and none. A valid one does, as the control.
    let creds = tempfile::tempdir().unwrap();
    for (label, dir) in bad_credentials(&hub.sb, creds.path()) {
        assert!(
            !links(&dir, hub_tls),
            "a client with {label} linked to the hub"
        );
    }
    assert!(links(&outsider.sb.config_dir().join("tls"), hub_tls));

    // Nothing of the team scope anywhere in the outsider's state.
    assert!(outsider.found("teamsecret").is_empty());
    let hits = files_containing(&outsider.sb.state_dir(), "teamsecret");
    assert!(
        hits.is_empty(),
        "team memory on the outsider's disk: {hits:?}"
    );

    // Revocation on a running mesh.
    let started = Instant::now();
    let out = hub.sb.km(&["tls", "revoke", "member"]).ok().to_owned();
    assert!(out.contains("revoked member"), "{out}");
    assert!(
        eventually(CONVERGE, || hub_d
            .log_text()
            .contains("this host (hub) holds mesh, team/core")
            && hub_d
                .log_text()
                .matches("access control: policy version")
                .count()
                >= 2),
        "the hub never applied the revocation\n{}",
        logs()
    );
    let bite = started.elapsed();
    println!(
        "revocation took effect on the hub in {:.2} s",
        bite.as_secs_f64()
    );
    let after = hub
        .sb
        .save("afterrevoke team note", &["--visibility", "team"]);
    let from_member = member
        .sb
        .save_run("afterrevoke from the revoked member", &[]);
    let leaked = eventually(NO_LEAK, || {
        member.found("afterrevoke").contains(&after)
            || hub
                .found("afterrevoke")
                .iter()
                .any(|id| from_member.stdout.contains(id.as_str()))
    });
    assert!(
        !leaked,
        "the revoked member still exchanges memory\n{}",
        logs()
    );
    let status = hub.sb.km(&["tls", "status"]).ok().to_owned();
    assert!(status.contains("member REVOKED"), "{status}");
}
