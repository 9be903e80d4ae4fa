//! `kioku-mesh tls grant | revoke-scope | revoke | status`, and the
//! admission `tls sign` records: the signed policy that routers enforce.
//! Changes are made on the CA host; its daemon picks the new version up
//! within a second and every other router fetches it from the mesh.

use mesh_core::daemon_config::StorageScope;
use mesh_core::pki::TlsFiles;
use mesh_core::pki::inspect::CertInfo;
use mesh_core::pki::policy::{self, Policy};

use super::OK;
use super::tls::{Failure, Outcome};
use crate::args::{TlsGrantArgs, TlsRevokeArgs};
use crate::output;

fn now() -> String {
    mesh_core::timestamp::now()
}

fn labels(scopes: &[StorageScope]) -> String {
    scopes
        .iter()
        .map(StorageScope::label)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Record the host a certificate was just signed for, with `scopes`.
pub(super) fn admit(files: &TlsFiles, cert_pem: &str, scopes: &[StorageScope]) -> Outcome {
    let info = mesh_core::pki::inspect::inspect_cert(cert_pem)?;
    let cn = info.common_name.ok_or_else(|| {
        Failure::Usage(
            "the request has no common name, and routers tell hosts apart by it; \
             run `kioku-mesh tls request --cn <unique-name> --san ...` again"
                .to_owned(),
        )
    })?;
    let policy = policy::update(files, &now(), |p| p.admit(&cn, Some(info.serial), scopes))?;
    output::note(format!(
        "admitted {cn} to {} (policy version {})",
        labels(&policy.scopes_of(&cn).unwrap_or_default()),
        policy.version
    ));
    Ok(OK)
}

/// `tls grant CN --scope ...`.
pub(super) fn grant(a: &TlsGrantArgs, files: &TlsFiles) -> Outcome {
    let policy = policy::update(files, &now(), |p| p.grant(&a.cn, &a.scopes))?;
    print_holdings(&a.cn, &policy);
    Ok(OK)
}

/// `tls revoke-scope CN --scope ...`.
pub(super) fn revoke_scope(a: &TlsGrantArgs, files: &TlsFiles) -> Outcome {
    let policy = policy::update(files, &now(), |p| p.revoke_scopes(&a.cn, &a.scopes))?;
    print_holdings(&a.cn, &policy);
    Ok(OK)
}

fn print_holdings(cn: &str, policy: &Policy) {
    output::line(format!(
        "{cn} now holds {} (policy version {}); routers apply it within seconds",
        labels(&policy.scopes_of(cn).unwrap_or_default()),
        policy.version
    ));
}

/// `tls revoke CN|SERIAL`.
pub(super) fn revoke(a: &TlsRevokeArgs, files: &TlsFiles) -> Outcome {
    let mut revoked = None;
    let policy = policy::update(files, &now(), |p| {
        revoked = Some(p.revoke(&a.who, &now())?);
        Ok(())
    })?;
    if let Some(r) = revoked {
        output::line(format!(
            "revoked {}{} (policy version {}); every router refuses it within seconds",
            r.cn,
            r.serial
                .map(|s| format!(" (serial {s})"))
                .unwrap_or_default(),
            policy.version
        ));
    }
    Ok(OK)
}

/// `tls status`: the policy in force on this host.
pub(super) fn status(files: &TlsFiles) -> Outcome {
    let Some((_, policy)) = policy::load(files)? else {
        return Err(Failure::Usage(format!(
            "no admission policy at {}. On the CA host, `kioku-mesh tls sign` creates it; \
             on other hosts the daemon fetches it from the mesh (`kioku-mesh serve` with --tls links).",
            files.policy().display()
        )));
    };
    print_policy(&policy);
    Ok(OK)
}

fn print_policy(policy: &Policy) {
    output::line(format!(
        "policy version {} (issued {})",
        policy.version, policy.issued_at
    ));
    if policy.hosts().is_empty() {
        output::line("  no hosts admitted");
    }
    for (cn, grant) in policy.hosts() {
        let scopes = labels(&policy.scopes_of(cn).unwrap_or_default());
        let serial = grant
            .serial
            .as_deref()
            .map(|s| format!("  serial {s}"))
            .unwrap_or_default();
        output::line(format!("  {cn}: {scopes}{serial}"));
    }
    for r in policy.revoked() {
        output::line(format!("  {} REVOKED {}", r.cn, r.at));
    }
}

/// What `tls info` shows on the peer certificate's `scopes:` line; `None`
/// on a host without an admission policy, where `info` prints what the
/// reference prints.
pub(super) fn scopes_line(files: &TlsFiles, info: &CertInfo) -> Option<String> {
    if !files.policy().exists() {
        return None;
    }
    let Some(cn) = info.common_name.as_deref() else {
        return Some("none (the certificate has no common name)".to_owned());
    };
    Some(match policy::load(files) {
        Ok(Some((_, p))) if p.is_revoked(cn) => format!("none: {cn} is REVOKED"),
        Ok(Some((_, p))) => p.scopes_of(cn).map_or_else(
            || format!("none: {cn} is not admitted by policy version {}", p.version),
            |s| format!("{} (policy version {})", labels(&s), p.version),
        ),
        Ok(None) => "not enforced (no admission policy on this host)".to_owned(),
        Err(_) => {
            "unknown (the policy file does not verify; see `kioku-mesh tls status`)".to_owned()
        }
    })
}
