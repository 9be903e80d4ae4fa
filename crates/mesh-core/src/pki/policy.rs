//! The admission policy: which host (certificate common name) holds which
//! scopes, and which names are revoked. The CA host keeps it, signs each
//! version with the CA key, and every router turns the version in force
//! into Zenoh access control (`crate::access`).
//!
//! On disk and on the wire it is one JSON envelope,
//! `{"v": 1, "policy": "<body>", "signature": "<base64>"}`, where the body is
//! the policy's own JSON text and the signature is ECDSA P-256 / SHA-256
//! over exactly those bytes. A policy is used only after its signature
//! verifies against `ca.crt`, and only if its version is newer than the one
//! in force, so a replayed older policy cannot undo a revocation.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rcgen::{KeyPair, SigningKey as _};
use serde::{Deserialize, Serialize};

use super::error::PkiError;
use super::files::{self, TlsFiles};
use crate::daemon_config::StorageScope;

/// Envelope format version.
const ENVELOPE_VERSION: u64 = 1;

/// One admitted host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostGrant {
    /// Scopes beyond `mesh` (every admitted host holds `mesh`).
    pub scopes: Vec<StorageScope>,
    /// Serial of the last certificate signed for this name (hex).
    pub serial: Option<String>,
}

/// One revoked name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    /// The common name; no certificate with it is admitted again.
    pub cn: String,
    /// The serial last signed for it, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// When it was revoked (RFC 3339).
    pub at: String,
}

/// A version of the admission policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Monotonic version; each change on the CA host adds one.
    pub version: u64,
    /// When this version was signed (RFC 3339).
    pub issued_at: String,
    hosts: BTreeMap<String, HostGrant>,
    revoked: Vec<Revocation>,
}

#[derive(Serialize, Deserialize)]
struct RawGrant {
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    serial: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct RawPolicy {
    version: u64,
    issued_at: String,
    #[serde(default)]
    hosts: BTreeMap<String, RawGrant>,
    #[serde(default)]
    revoked: Vec<Revocation>,
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    v: u64,
    policy: String,
    signature: String,
}

impl Policy {
    /// The policy before any host is admitted (version 0).
    pub fn empty() -> Self {
        Self {
            version: 0,
            issued_at: String::new(),
            hosts: BTreeMap::new(),
            revoked: Vec::new(),
        }
    }

    /// Admitted hosts by common name.
    pub fn hosts(&self) -> &BTreeMap<String, HostGrant> {
        &self.hosts
    }

    /// Revoked names.
    pub fn revoked(&self) -> &[Revocation] {
        &self.revoked
    }

    /// Whether `cn` was revoked.
    pub fn is_revoked(&self, cn: &str) -> bool {
        self.revoked.iter().any(|r| r.cn == cn)
    }

    /// Every scope `cn` may read and write, `mesh` first; `None` when the
    /// name is not admitted (unknown or revoked).
    pub fn scopes_of(&self, cn: &str) -> Option<Vec<StorageScope>> {
        if self.is_revoked(cn) {
            return None;
        }
        let grant = self.hosts.get(cn)?;
        let mut scopes = vec![StorageScope::mesh()];
        for scope in &grant.scopes {
            if !scopes.contains(scope) {
                scopes.push(scope.clone());
            }
        }
        Some(scopes)
    }

    /// Admit `cn` (a certificate was just signed for it) with `scopes`
    /// added to what it already holds. A revoked name is never admitted
    /// again: the routers know a host only by its name, so the lost
    /// laptop's certificate would come back with it.
    pub fn admit(
        &mut self,
        cn: &str,
        serial: Option<String>,
        scopes: &[StorageScope],
    ) -> Result<(), PkiError> {
        if self.is_revoked(cn) {
            return Err(PkiError::RevokedName { cn: cn.to_owned() });
        }
        let grant = self.hosts.entry(cn.to_owned()).or_insert(HostGrant {
            scopes: Vec::new(),
            serial: None,
        });
        if serial.is_some() {
            grant.serial = serial;
        }
        for scope in scopes {
            if scope.visibility() != crate::keyspace::Visibility::Mesh
                && !grant.scopes.contains(scope)
            {
                grant.scopes.push(scope.clone());
            }
        }
        Ok(())
    }

    /// Add `scopes` to a host, admitting it if it is not yet (a host whose
    /// certificate was signed before the policy existed).
    pub fn grant(&mut self, cn: &str, scopes: &[StorageScope]) -> Result<(), PkiError> {
        self.admit(cn, None, scopes)
    }

    /// Take `scopes` away from an admitted host (it keeps `mesh`).
    pub fn revoke_scopes(&mut self, cn: &str, scopes: &[StorageScope]) -> Result<(), PkiError> {
        self.known(cn)?;
        if let Some(grant) = self.hosts.get_mut(cn) {
            grant.scopes.retain(|s| !scopes.contains(s));
        }
        Ok(())
    }

    /// Revoke the host named `who` (a common name, or the serial of the
    /// certificate last signed for one). Returns the revocation.
    pub fn revoke(&mut self, who: &str, at: &str) -> Result<Revocation, PkiError> {
        let wanted = who.trim().to_ascii_lowercase().replace(':', "");
        let cn = if self.hosts.contains_key(who) {
            who.to_owned()
        } else if let Some((cn, _)) = self
            .hosts
            .iter()
            .find(|(_, g)| g.serial.as_deref() == Some(wanted.as_str()))
        {
            cn.clone()
        } else if self.is_revoked(who) {
            return Err(PkiError::AlreadyRevoked { cn: who.to_owned() });
        } else {
            return Err(PkiError::UnknownHost {
                who: who.to_owned(),
            });
        };
        let grant = self.hosts.remove(&cn);
        let revocation = Revocation {
            cn,
            serial: grant.and_then(|g| g.serial),
            at: at.to_owned(),
        };
        self.revoked.push(revocation.clone());
        Ok(revocation)
    }

    fn known(&self, cn: &str) -> Result<(), PkiError> {
        if self.hosts.contains_key(cn) {
            Ok(())
        } else {
            Err(PkiError::UnknownHost { who: cn.to_owned() })
        }
    }

    /// The policy document, as signed.
    pub fn to_json(&self) -> String {
        let raw = RawPolicy {
            version: self.version,
            issued_at: self.issued_at.clone(),
            hosts: self
                .hosts
                .iter()
                .map(|(cn, g)| {
                    (
                        cn.clone(),
                        RawGrant {
                            scopes: g.scopes.iter().map(StorageScope::label).collect(),
                            serial: g.serial.clone(),
                        },
                    )
                })
                .collect(),
            revoked: self.revoked.clone(),
        };
        serde_json::to_string(&raw).unwrap_or_default()
    }

    /// Parse a policy document, the payload of a signed envelope. Policies
    /// from files or the wire come through [`SignedPolicy::verify`], which
    /// checks the signature first.
    pub fn from_json(text: &str) -> Result<Self, PkiError> {
        let raw: RawPolicy = serde_json::from_str(text).map_err(|e| PkiError::BadPolicy {
            reason: e.to_string(),
        })?;
        let mut hosts = BTreeMap::new();
        for (cn, g) in raw.hosts {
            let scopes = g
                .scopes
                .iter()
                .map(|s| {
                    StorageScope::parse(s).map_err(|_| PkiError::BadPolicy {
                        reason: format!("host {cn} holds an invalid scope '{s}'"),
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            hosts.insert(
                cn,
                HostGrant {
                    scopes,
                    serial: g.serial,
                },
            );
        }
        Ok(Self {
            version: raw.version,
            issued_at: raw.issued_at,
            hosts,
            revoked: raw.revoked,
        })
    }
}

/// A policy with the CA's signature, as stored and sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedPolicy {
    text: String,
}

impl SignedPolicy {
    /// Sign `policy` with the CA key of `files`.
    pub fn sign(policy: &Policy, files: &TlsFiles) -> Result<Self, PkiError> {
        let key_path = files.ca_key();
        if !key_path.is_file() {
            return Err(PkiError::NoCa { path: key_path });
        }
        let key = KeyPair::from_pem(&files::read_secret(&key_path)?)
            .map_err(|_| PkiError::BadKey { path: key_path })?;
        let body = policy.to_json();
        let signature = key.sign(body.as_bytes()).map_err(|e| PkiError::Crypto {
            action: "sign the policy",
            reason: e.to_string(),
        })?;
        let envelope = Envelope {
            v: ENVELOPE_VERSION,
            policy: body,
            signature: BASE64.encode(signature),
        };
        Ok(Self {
            text: serde_json::to_string(&envelope).unwrap_or_default(),
        })
    }

    /// Take an envelope as read from a file or the wire (not yet verified).
    pub fn from_text(text: impl Into<String>) -> Self {
        Self { text: text.into() }
    }

    /// The envelope's JSON text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Check the signature against the CA certificate `ca_pem` and return
    /// the policy it carries.
    pub fn verify(&self, ca_pem: &str) -> Result<Policy, PkiError> {
        let envelope: Envelope =
            serde_json::from_str(self.text.trim()).map_err(|e| PkiError::BadPolicy {
                reason: e.to_string(),
            })?;
        if envelope.v != ENVELOPE_VERSION {
            return Err(PkiError::BadPolicy {
                reason: format!("envelope version {} is not supported", envelope.v),
            });
        }
        let signature = BASE64
            .decode(envelope.signature.trim())
            .map_err(|_| PkiError::PolicySignature)?;
        let ca = super::inspect::parse_cert(ca_pem, "CA")?;
        ring::signature::UnparsedPublicKey::new(
            &ring::signature::ECDSA_P256_SHA256_ASN1,
            &ca.public_key,
        )
        .verify(envelope.policy.as_bytes(), &signature)
        .map_err(|_| PkiError::PolicySignature)?;
        Policy::from_json(&envelope.policy)
    }
}

/// Verify `incoming` and return its policy if it is newer than `in_force`.
pub fn accept(
    incoming: &SignedPolicy,
    ca_pem: &str,
    in_force: Option<&Policy>,
) -> Result<Policy, PkiError> {
    let policy = incoming.verify(ca_pem)?;
    if let Some(current) = in_force
        && policy.version <= current.version
    {
        return Err(PkiError::PolicyStale {
            offered: policy.version,
            in_force: current.version,
        });
    }
    Ok(policy)
}

/// The policy stored on this host, verified against its `ca.crt`; `None`
/// when there is none yet.
pub fn load(files: &TlsFiles) -> Result<Option<(SignedPolicy, Policy)>, PkiError> {
    let path = files.policy();
    if !path.is_file() {
        return Ok(None);
    }
    let signed = SignedPolicy::from_text(files::read_public(&path)?);
    let ca_pem = files::read_public(&files.ca_cert())?;
    let policy = signed.verify(&ca_pem)?;
    Ok(Some((signed, policy)))
}

/// Store `signed` as this host's policy in force.
pub fn store(files: &TlsFiles, signed: &SignedPolicy) -> Result<(), PkiError> {
    files::write_public(&files.policy(), signed.as_str().as_bytes())
}

/// On the CA host: apply `change` to the stored policy (or an empty one),
/// give it the next version, sign and store it. Nothing is written when
/// `change` fails.
pub fn update(
    files: &TlsFiles,
    now: &str,
    change: impl FnOnce(&mut Policy) -> Result<(), PkiError>,
) -> Result<Policy, PkiError> {
    if !files.ca_key().is_file() {
        return Err(PkiError::NoCa {
            path: files.ca_key(),
        });
    }
    let mut policy = load(files)?.map_or_else(Policy::empty, |(_, p)| p);
    change(&mut policy)?;
    policy.version += 1;
    policy.issued_at = now.to_owned();
    let signed = SignedPolicy::sign(&policy, files)?;
    store(files, &signed)?;
    Ok(policy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::ca;

    fn ca_store() -> (tempfile::TempDir, TlsFiles) {
        let dir = tempfile::tempdir().unwrap();
        let files = TlsFiles::at(dir.path().join("tls"));
        ca::init_ca(&files, "test-ca", 30, false).unwrap();
        (dir, files)
    }

    fn team() -> StorageScope {
        StorageScope::parse("team/core").unwrap()
    }

    #[test]
    fn a_signed_policy_round_trips_and_grants_mesh_to_every_admitted_host() {
        let (_dir, files) = ca_store();
        let policy = update(&files, "2026-01-01T00:00:00Z", |p| {
            p.admit("hub", Some("aa".into()), &[team()])?;
            p.admit("laptop", None, &[])
        })
        .unwrap();
        assert_eq!(policy.version, 1);
        let (_, loaded) = load(&files).unwrap().unwrap();
        assert_eq!(loaded, policy);
        assert_eq!(
            loaded.scopes_of("hub").unwrap(),
            vec![StorageScope::mesh(), team()]
        );
        assert_eq!(
            loaded.scopes_of("laptop").unwrap(),
            vec![StorageScope::mesh()]
        );
        assert!(loaded.scopes_of("stranger").is_none());
    }

    #[test]
    fn a_policy_signed_by_another_ca_is_refused() {
        let (_a, files) = ca_store();
        let (_b, other) = ca_store();
        update(&other, "t", |p| p.admit("x", None, &[])).unwrap();
        let (forged, _) = load(&other).unwrap().unwrap();
        let ca_pem = std::fs::read_to_string(files.ca_cert()).unwrap();
        assert!(matches!(
            forged.verify(&ca_pem),
            Err(PkiError::PolicySignature)
        ));
    }

    #[test]
    fn a_changed_body_breaks_the_signature() {
        let (_dir, files) = ca_store();
        update(&files, "t", |p| p.admit("laptop", None, &[])).unwrap();
        let text = std::fs::read_to_string(files.policy()).unwrap();
        let tampered = SignedPolicy::from_text(text.replace("laptop", "lapto2"));
        let ca_pem = std::fs::read_to_string(files.ca_cert()).unwrap();
        assert!(matches!(
            tampered.verify(&ca_pem),
            Err(PkiError::PolicySignature)
        ));
    }

    #[test]
    fn an_older_or_equal_version_is_refused_as_a_replay() {
        let (_dir, files) = ca_store();
        update(&files, "t", |p| p.admit("laptop", None, &[])).unwrap();
        let (old, _) = load(&files).unwrap().unwrap();
        let newer = update(&files, "t", |p| p.revoke("laptop", "t").map(drop)).unwrap();
        let ca_pem = std::fs::read_to_string(files.ca_cert()).unwrap();
        let e = accept(&old, &ca_pem, Some(&newer)).unwrap_err();
        assert!(matches!(
            e,
            PkiError::PolicyStale {
                offered: 1,
                in_force: 2
            }
        ));
    }

    #[test]
    fn a_revoked_name_loses_everything_and_is_never_admitted_again() {
        let mut p = Policy::empty();
        p.admit("laptop", Some("0a1b".into()), &[team()]).unwrap();
        let r = p.revoke("0A:1B", "t").unwrap();
        assert_eq!(r.cn, "laptop");
        assert!(p.scopes_of("laptop").is_none());
        assert!(matches!(
            p.admit("laptop", None, &[]),
            Err(PkiError::RevokedName { .. })
        ));
        assert!(matches!(
            p.revoke("laptop", "t"),
            Err(PkiError::AlreadyRevoked { .. })
        ));
        assert!(matches!(
            p.revoke("nobody", "t"),
            Err(PkiError::UnknownHost { .. })
        ));
    }

    #[test]
    fn a_failed_change_writes_nothing() {
        let (_dir, files) = ca_store();
        update(&files, "t", |p| p.admit("a", None, &[])).unwrap();
        let before = std::fs::read_to_string(files.policy()).unwrap();
        assert!(update(&files, "t", |p| p.revoke_scopes("nobody", &[team()])).is_err());
        assert_eq!(std::fs::read_to_string(files.policy()).unwrap(), before);
    }

    #[test]
    fn garbage_is_a_clear_error() {
        let (_dir, files) = ca_store();
        let ca_pem = std::fs::read_to_string(files.ca_cert()).unwrap();
        for text in [
            "",
            "{}",
            "not json",
            r#"{"v":9,"policy":"{}","signature":""}"#,
        ] {
            let e = SignedPolicy::from_text(text).verify(&ca_pem).unwrap_err();
            assert!(
                matches!(e, PkiError::BadPolicy { .. } | PkiError::PolicySignature),
                "{text}: {e}"
            );
        }
    }
}
