//! The admission policy's commands on the CA host (`tls sign --scope`,
//! `grant`, `revoke-scope`, `revoke`, `status`, the `scopes:` line of
//! `info`), and every bad input refused with the fix and no file changed.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::harness::{Sandbox, enroll};

fn policy_file(s: &Sandbox) -> PathBuf {
    s.config_dir().join("tls/policy.json")
}

/// Every file of the TLS store and its bytes.
fn store(s: &Sandbox) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(s.config_dir().join("tls"))
        .map(|entries| {
            entries
                .flatten()
                .map(|e| {
                    (
                        e.file_name().to_string_lossy().into_owned(),
                        std::fs::read(e.path()).unwrap(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[track_caller]
fn refused(s: &Sandbox, args: &[&str], code: i32, needle: &str) {
    let before = store(s);
    let err = s.km(args).fails_with(code).to_owned();
    assert!(err.contains(needle), "{args:?}: {err}");
    assert_eq!(store(s), before, "{args:?} changed the store");
}

#[test]
fn the_ca_host_admits_grants_and_revokes_and_every_host_reads_the_policy() {
    let ca = Sandbox::new();
    ca.km(&["tls", "init-ca"]).ok();
    enroll(&ca, &ca, "hub", &["team/core"]);
    let laptop = Sandbox::new();
    enroll(&ca, &laptop, "laptop", &[]);

    let status = ca.km(&["tls", "status"]).ok().to_owned();
    assert!(status.starts_with("policy version 2"), "{status}");
    assert!(
        status.contains("  hub: mesh, team/core  serial "),
        "{status}"
    );
    assert!(status.contains("  laptop: mesh  serial "), "{status}");

    let out = ca
        .km(&["tls", "grant", "laptop", "--scope", "user/alice"])
        .ok()
        .to_owned();
    assert!(
        out.contains("laptop now holds mesh, user/alice (policy version 3)"),
        "{out}"
    );
    let out = ca
        .km(&["tls", "revoke-scope", "hub", "--scope", "team/core"])
        .ok()
        .to_owned();
    assert!(
        out.contains("hub now holds mesh (policy version 4)"),
        "{out}"
    );

    // `info` on the CA host shows its own scopes from the policy.
    let info = ca.km(&["tls", "info"]).ok().to_owned();
    assert!(
        info.contains("  scopes:  mesh (policy version 4)"),
        "{info}"
    );
    // A host without the policy file prints what the reference prints.
    let info = laptop.km(&["tls", "info"]).ok().to_owned();
    assert!(!info.contains("scopes:"), "{info}");

    let out = ca.km(&["tls", "revoke", "laptop"]).ok().to_owned();
    assert!(out.contains("revoked laptop (serial "), "{out}");
    let status = ca.km(&["tls", "status"]).ok().to_owned();
    assert!(status.contains("  laptop REVOKED "), "{status}");
    assert!(!status.contains("laptop: mesh"), "{status}");

    // The replacement laptop is refused under the old name, before any
    // bundle is printed, and admitted under a new one.
    let again = Sandbox::new();
    let blob = again
        .km(&["tls", "request", "--san", "127.0.0.1", "--cn", "laptop"])
        .ok()
        .to_owned();
    let before = store(&ca);
    let run = ca.km_stdin(&["tls", "sign"], &blob);
    let err = run.fails_with(2);
    assert!(
        err.contains("the name laptop was revoked") && err.contains("--cn <new-name>"),
        "{err}"
    );
    assert!(!run.stdout.contains("CERT BUNDLE"), "{}", run.stdout);
    assert_eq!(store(&ca), before);
    enroll(&ca, &again, "laptop-2", &[]);
}

#[test]
fn bad_policy_input_is_refused_and_changes_nothing() {
    let ca = Sandbox::new();
    ca.km(&["tls", "init-ca"]).ok();
    enroll(&ca, &ca, "hub", &[]);

    refused(
        &ca,
        &["tls", "revoke", "nobody"],
        2,
        "no admitted host is named nobody",
    );
    refused(
        &ca,
        &["tls", "revoke-scope", "nobody", "--scope", "team/core"],
        2,
        "no admitted host is named nobody",
    );
    let err = ca
        .km(&["tls", "grant", "hub", "--scope", "team/*"])
        .fails_with(2)
        .to_owned();
    assert!(err.contains("team/*"), "{err}");
    ca.km(&["tls", "revoke", "hub"]).ok();
    refused(&ca, &["tls", "revoke", "hub"], 2, "hub is already revoked");
    refused(
        &ca,
        &["tls", "grant", "hub", "--scope", "team/core"],
        2,
        "was revoked",
    );

    // A host without the CA cannot change the policy.
    let peer = Sandbox::new();
    enroll(&ca, &peer, "peer", &[]);
    refused(
        &peer,
        &["tls", "grant", "peer", "--scope", "team/core"],
        2,
        "no CA at",
    );
    refused(&peer, &["tls", "revoke", "peer"], 2, "no CA at");
    refused(&peer, &["tls", "status"], 2, "no admission policy at");

    // A policy signed by another CA, a tampered one, and garbage: `status`
    // refuses each, `grant` on the CA host writes nothing over it.
    let other = Sandbox::new();
    other.km(&["tls", "init-ca"]).ok();
    enroll(&other, &other, "hub", &["team/core"]);
    std::fs::copy(policy_file(&other), policy_file(&peer)).unwrap();
    refused(&peer, &["tls", "status"], 2, "not signed by this mesh's CA");
    let genuine = std::fs::read_to_string(policy_file(&ca)).unwrap();
    std::fs::write(
        policy_file(&ca),
        genuine.replace("\\\"hub\\\"", "\\\"hux\\\""),
    )
    .unwrap();
    refused(&ca, &["tls", "status"], 2, "not signed by this mesh's CA");
    refused(
        &ca,
        &["tls", "grant", "peer", "--scope", "team/core"],
        2,
        "not signed by this mesh's CA",
    );
    std::fs::write(policy_file(&ca), "{ truncated").unwrap();
    refused(
        &ca,
        &["tls", "status"],
        2,
        "the admission policy is not readable",
    );
    let info = ca.km(&["tls", "info"]).ok().to_owned();
    assert!(
        info.contains("scopes:  unknown (the policy file does not verify"),
        "{info}"
    );
}
