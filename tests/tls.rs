//! `kioku-mesh tls`: a CA host and a peer host (two sandboxes) run the
//! copy-paste flow; every bad input is refused with the reference's exit
//! status and leaves the store untouched; the Python reference signs our
//! requests and installs our bundles, and the other way round.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::harness::{Run, Sandbox, reference_bin, run_bounded};

fn tls_dir(s: &Sandbox) -> PathBuf {
    s.config_dir().join("tls")
}

/// Every file of the store with its bytes, mode and modification time.
type Snapshot = BTreeMap<String, (Vec<u8>, u32, SystemTime)>;

fn snapshot(s: &Sandbox) -> Snapshot {
    let Ok(entries) = std::fs::read_dir(tls_dir(s)) else {
        return Snapshot::new();
    };
    entries
        .map(|e| {
            let e = e.unwrap();
            let meta = e.metadata().unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                (
                    std::fs::read(e.path()).unwrap(),
                    meta.permissions().mode() & 0o777,
                    meta.modified().unwrap(),
                ),
            )
        })
        .collect()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn ca_host() -> Sandbox {
    let s = Sandbox::new();
    s.km(&["tls", "init-ca"]).ok();
    s
}

/// The peer's request blob (stdout of `tls request`).
fn request(peer: &Sandbox, sans: &[&str]) -> String {
    let mut args = vec!["tls", "request"];
    for san in sans {
        args.extend(["--san", san]);
    }
    peer.km(&args).ok().to_owned()
}

fn sign(ca: &Sandbox, blob: &str) -> String {
    ca.km_stdin(&["tls", "sign"], blob).ok().to_owned()
}

fn write(s: &Sandbox, name: &str, text: &str) -> String {
    let path = s.dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// Run `args` expecting `code`, with stderr mentioning `needle`, and the
/// store of `s` exactly as before.
#[track_caller]
fn refused(s: &Sandbox, args: &[&str], input: Option<&str>, code: i32, needle: &str) {
    let before = snapshot(s);
    let run = match input {
        Some(text) => s.km_stdin(args, text),
        None => s.km(args),
    };
    let err = run.fails_with(code);
    assert!(err.contains(needle), "{args:?}: {err}");
    assert!(!err.contains("PRIVATE KEY"), "{err}");
    assert_eq!(snapshot(s), before, "{args:?} changed the store");
}

#[test]
fn a_peer_enrolls_with_the_ca_host_by_copy_paste() {
    let ca = Sandbox::new();
    let out = ca.km(&["tls", "init-ca"]);
    assert!(
        out.ok().contains("ca.key (keep this secret"),
        "{}",
        out.stdout
    );
    assert_eq!(mode(&tls_dir(&ca).join("ca.key")), 0o600);
    assert_eq!(mode(&tls_dir(&ca).join("ca.crt")), 0o644);

    let peer = Sandbox::new();
    let run = peer.km(&["tls", "request", "--san", "10.0.0.2", "--san", "host.lan"]);
    let blob = run.ok();
    // stdout is the blob alone; guidance goes to stderr.
    assert!(
        blob.starts_with("-----BEGIN KIOKU-MESH CSR-----\n"),
        "{blob}"
    );
    assert!(blob.ends_with("-----END KIOKU-MESH CSR-----\n"), "{blob}");
    assert!(blob.lines().all(|l| l.len() <= 64));
    assert!(!blob.contains("PRIVATE") && !run.stderr.contains("PRIVATE"));
    assert_eq!(mode(&tls_dir(&peer).join("peer.key")), 0o600);
    assert!(tls_dir(&peer).join("peer.csr").is_file());

    // The blob arrives indented inside a chat message.
    let pasted = format!(
        "here you go:\n{}\nthanks",
        blob.lines()
            .map(|l| format!("  {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let bundle = sign(&ca, &pasted);
    assert!(bundle.starts_with("-----BEGIN KIOKU-MESH CERT BUNDLE-----\n"));
    let file = write(&peer, "bundle.txt", &bundle);
    let out = peer.km(&["tls", "install", &file]);
    assert!(out.ok().contains("installed "), "{}", out.stdout);
    assert!(
        out.stdout
            .contains("next: kioku-mesh init --mode <hub|spoke> --tls --listen ... --force"),
        "{}",
        out.stdout
    );
    assert_eq!(
        std::fs::read(tls_dir(&peer).join("ca.crt")).unwrap(),
        std::fs::read(tls_dir(&ca).join("ca.crt")).unwrap()
    );

    let info = peer.km(&["tls", "info"]);
    let text = info.ok();
    assert!(text.contains("CA: "), "{text}");
    assert!(text.contains("  subject: CN=kioku-mesh-ca"), "{text}");
    assert!(text.contains("  subject: CN=10.0.0.2"), "{text}");
    assert!(text.contains("  SAN:     10.0.0.2, host.lan"), "{text}");
    assert!(text.contains("d left)"), "{text}");
    assert!(
        text.contains("(824d left)") || text.contains("(825d left)"),
        "{text}"
    );
}

#[test]
fn a_shorter_validity_and_a_common_name_are_honoured() {
    let ca = ca_host();
    let peer = Sandbox::new();
    let blob = peer
        .km(&["tls", "request", "--san", "node.lan", "--cn", "node-a"])
        .ok()
        .to_owned();
    let bundle = ca
        .km_stdin(&["tls", "sign", "--days", "30"], &blob)
        .ok()
        .to_owned();
    peer.km_stdin(&["tls", "install"], &bundle).ok();
    let info = peer.km(&["tls", "info"]).ok().to_owned();
    assert!(info.contains("subject: CN=node-a"), "{info}");
    assert!(
        info.contains("(29d left)") || info.contains("(30d left)"),
        "{info}"
    );
}

#[test]
fn init_ca_twice_without_force_is_refused() {
    let ca = ca_host();
    refused(&ca, &["tls", "init-ca"], None, 1, "--force");
    let before = snapshot(&ca);
    ca.km(&["tls", "init-ca", "--force"]).ok();
    assert_ne!(snapshot(&ca)["ca.key"].0, before["ca.key"].0);
}

#[test]
fn bad_requests_are_refused_and_change_nothing() {
    let ca = ca_host();
    let peer = Sandbox::new();
    let blob = request(&peer, &["10.0.0.2"]);

    let truncated = &blob[..blob.len() / 2];
    refused(
        &ca,
        &["tls", "sign"],
        Some(truncated),
        2,
        "copy the whole block",
    );
    // A character of the base64 body lost and one mistyped.
    let mut lines: Vec<String> = blob.lines().map(str::to_owned).collect();
    lines[1].replace_range(10..12, "*");
    let mangled = lines.join("\n");
    refused(&ca, &["tls", "sign"], Some(&mangled), 2, "corrupt");
    refused(&ca, &["tls", "sign"], Some("hello\n"), 2, "tls request");
    refused(
        &ca,
        &["tls", "sign", "--days", "0"],
        Some(&blob),
        2,
        "--days",
    );
    refused(
        &ca,
        &["tls", "sign", "--days", "826"],
        Some(&blob),
        2,
        "--days",
    );
    refused(
        &ca,
        &["tls", "sign", "/nonexistent.csr"],
        None,
        2,
        "CSR not found",
    );

    // A request without SAN, built by another tool.
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = rcgen::CertificateParams::default();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "nosan");
    let pem = params.serialize_request(&key).unwrap().pem().unwrap();
    let file = write(&ca, "nosan.csr", &pem);
    refused(
        &ca,
        &["tls", "sign", &file],
        None,
        2,
        "SubjectAlternativeName",
    );

    // A host without a CA does not wait for a paste.
    refused(&peer, &["tls", "sign"], None, 2, "tls init-ca");
    refused(&peer, &["tls", "request", "--san", " "], None, 2, "--san");
}

#[test]
fn bad_bundles_are_refused_and_leave_the_installed_files() {
    let ca = ca_host();
    let peer = Sandbox::new();
    let bundle = sign(&ca, &request(&peer, &["10.0.0.2"]));
    peer.km_stdin(&["tls", "install"], &bundle).ok();

    // A new request replaced the key: the old bundle is for another key.
    let stranger = Sandbox::new();
    let theirs = sign(&ca, &request(&stranger, &["10.0.0.3"]));
    refused(
        &peer,
        &["tls", "install"],
        Some(&theirs),
        2,
        "different peer",
    );

    // A certificate signed by another CA, bundled with our CA's certificate.
    let other_ca = ca_host();
    let peer_csr = std::fs::read_to_string(tls_dir(&peer).join("peer.csr")).unwrap();
    let foreign = other_ca
        .km_stdin(&["tls", "sign"], &peer_csr)
        .ok()
        .to_owned();
    let (cert, _) = mesh_core::pki::blob::decode_cert_bundle(&foreign).unwrap();
    let ca_pem = std::fs::read_to_string(tls_dir(&ca).join("ca.crt")).unwrap();
    let mixed = mesh_core::pki::blob::encode_cert_bundle(&cert, &ca_pem);
    refused(&peer, &["tls", "install"], Some(&mixed), 2, "not issued by");

    let truncated: String = bundle.lines().take(4).collect::<Vec<_>>().join("\n");
    refused(
        &peer,
        &["tls", "install"],
        Some(&truncated),
        2,
        "copy the whole block",
    );
    // `{"v": 1, ` becomes `{"v": 2, `: well-formed base64, unknown payload.
    let future = bundle.replacen("eyJ2IjogMSwg", "eyJ2IjogMiwg", 1);
    refused(&peer, &["tls", "install"], Some(&future), 2, "cert bundle");
    let mut lines: Vec<String> = bundle.lines().map(str::to_owned).collect();
    lines[2].replace_range(5..7, "!");
    refused(
        &peer,
        &["tls", "install"],
        Some(&lines.join("\n")),
        2,
        "corrupt",
    );
    refused(
        &peer,
        &["tls", "install", "/nonexistent"],
        None,
        2,
        "not found",
    );
    refused(
        &peer,
        &["tls", "install", "--cert", "/x"],
        None,
        2,
        "together",
    );

    // Install before request on a fresh host.
    let fresh = Sandbox::new();
    refused(&fresh, &["tls", "install"], Some(&bundle), 2, "tls request");
    assert!(!tls_dir(&fresh).exists());
}

#[test]
fn a_key_readable_by_others_is_refused_with_the_fix() {
    let ca = ca_host();
    let peer = Sandbox::new();
    let blob = request(&peer, &["10.0.0.2"]);
    let bundle = sign(&ca, &blob);

    let ca_key = tls_dir(&ca).join("ca.key");
    std::fs::set_permissions(&ca_key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let fix = format!("chmod 600 {}", ca_key.display());
    refused(&ca, &["tls", "sign"], Some(&blob), 2, &fix);

    let peer_key = tls_dir(&peer).join("peer.key");
    std::fs::set_permissions(&peer_key, std::fs::Permissions::from_mode(0o640)).unwrap();
    let fix = format!("chmod 600 {}", peer_key.display());
    refused(&peer, &["tls", "install"], Some(&bundle), 2, &fix);
}

#[test]
fn info_without_certificates_says_how_to_make_them() {
    let s = Sandbox::new();
    let run = s.km(&["tls", "info"]);
    assert_eq!(run.code, 1);
    assert!(run.stdout.contains("tls init-ca"), "{}", run.stdout);
}

/// A fake `ssh` on PATH running `body` (a shell script).
fn fake_ssh(peer: &Sandbox, name: &str, body: &str) -> PathBuf {
    let dir = peer.dir.path().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let ssh = dir.join("ssh");
    std::fs::write(&ssh, format!("#!/bin/sh\n{body}")).unwrap();
    std::fs::set_permissions(&ssh, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// An `ssh` that runs the remote command locally with the CA host's HOME,
/// so `enroll` is tested without a network.
fn ssh_to(ca: &Sandbox, peer: &Sandbox) -> PathBuf {
    let body = format!(
        "for a; do last=$a; done\nexport HOME='{}'\nexec sh -c \"$last\"\n",
        ca.home().display()
    );
    fake_ssh(peer, "ssh-ok", &body)
}

fn enroll(peer: &Sandbox, fakebin: &Path, extra: &[&str]) -> Run {
    let km = crate::harness::bin("kioku-mesh");
    let path = format!(
        "{}:{}",
        fakebin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = peer.command(&km);
    cmd.env("PATH", path)
        .args(["tls", "enroll", "ca-host", "--san", "10.0.0.7"])
        .args(["--remote-mesh", &km.display().to_string()])
        .args(extra);
    run_bounded(&mut cmd, None)
}

#[test]
fn enroll_signs_over_ssh_and_a_failure_keeps_the_old_key() {
    let ca = ca_host();
    let peer = Sandbox::new();
    let run = enroll(&peer, &ssh_to(&ca, &peer), &["--days", "90"]);
    assert!(run.ok().contains("enrolled via ca-host"), "{}", run.stdout);
    let info = peer.km(&["tls", "info"]).ok().to_owned();
    assert!(info.contains("SAN:     10.0.0.7"), "{info}");
    let before = snapshot(&peer);

    let failing = fake_ssh(
        &peer,
        "ssh-fail",
        "cat >/dev/null\necho 'remote trouble' >&2\nexit 3\n",
    );
    let err = enroll(&peer, &failing, &[]).fails_with(2).to_owned();
    assert!(
        err.contains("remote trouble") && err.contains("exit 3"),
        "{err}"
    );
    assert_eq!(snapshot(&peer), before);

    // The CA host answers with a valid bundle for someone else's key.
    let stranger = Sandbox::new();
    let theirs = write(
        &peer,
        "theirs.txt",
        &sign(&ca, &request(&stranger, &["10.0.0.8"])),
    );
    let wrong = fake_ssh(
        &peer,
        "ssh-wrong",
        &format!("cat >/dev/null\ncat '{theirs}'\n"),
    );
    let err = enroll(&peer, &wrong, &[]).fails_with(2).to_owned();
    assert!(
        err.contains("does not match the generated private key"),
        "{err}"
    );
    assert_eq!(snapshot(&peer), before);

    let slow = fake_ssh(&peer, "ssh-slow", "sleep 30\n");
    let err = enroll(&peer, &slow, &["--timeout", "1"])
        .fails_with(2)
        .to_owned();
    assert!(err.contains("timed out after 1s"), "{err}");
    assert_eq!(snapshot(&peer), before);
}

#[test]
fn the_reference_and_we_sign_each_others_requests() {
    let Some(py) = reference_bin() else { return };

    // Their request, our CA; they install our bundle.
    let ours_ca = ca_host();
    let their_peer = Sandbox::new();
    let blob = their_peer
        .run(
            &py,
            &["tls", "request", "--san", "10.0.0.9", "--cn", "py-peer"],
        )
        .ok()
        .to_owned();
    let bundle = sign(&ours_ca, &blob);
    let file = write(&their_peer, "bundle.txt", &bundle);
    let installed = their_peer.run(&py, &["tls", "install", &file]);
    assert!(
        installed.ok().contains("installed "),
        "{}",
        installed.stdout
    );
    let info = their_peer.run(&py, &["tls", "info"]).ok().to_owned();
    assert!(info.contains("subject: CN=py-peer"), "{info}");
    assert!(info.contains("SAN:     10.0.0.9"), "{info}");
    // It went where our layout says.
    assert!(tls_dir(&their_peer).join("peer.crt").is_file());

    // Our request, their CA; we install their bundle.
    let their_ca = Sandbox::new();
    their_ca.run(&py, &["tls", "init-ca"]).ok();
    let our_peer = Sandbox::new();
    let blob = request(&our_peer, &["fe80::1", "node.lan"]);
    let file = write(&their_ca, "req.txt", &blob);
    let bundle = their_ca.run(&py, &["tls", "sign", &file]).ok().to_owned();
    our_peer.km_stdin(&["tls", "install"], &bundle).ok();
    let ours = our_peer.km(&["tls", "info"]).ok().to_owned();
    let theirs = our_peer.run(&py, &["tls", "info"]).ok().to_owned();
    assert_eq!(ours, theirs, "the two `tls info` disagree");
    assert!(ours.contains("SAN:     fe80::1, node.lan"), "{ours}");

    // Their sign refuses a bundle for another key just as ours does.
    let stranger = Sandbox::new();
    let other = their_ca
        .run(
            &py,
            &[
                "tls",
                "sign",
                &write(&their_ca, "s.txt", &request(&stranger, &["10.0.0.5"])),
            ],
        )
        .ok()
        .to_owned();
    refused(
        &our_peer,
        &["tls", "install"],
        Some(&other),
        2,
        "different peer",
    );
}
