//! The peer's last step: take the signed certificate and the CA
//! certificate into the store, only once both checks pass: the CA signed
//! the certificate, and the certificate holds this host's public key.

use rcgen::KeyPair;

use super::csr::{self, KeyAndRequest};
use super::error::PkiError;
use super::files::{self, TlsFiles};
use super::inspect::{self, CertDer};

fn check_pair(cert: &CertDer, ca: &CertDer) -> Result<(), PkiError> {
    if inspect::issued_by(cert, ca) {
        Ok(())
    } else {
        Err(PkiError::NotIssuedByCa)
    }
}

/// Check a bundle against a key held in memory (`enroll`, before it
/// writes anything). Errors never contain the key.
pub fn validate_bundle(cert_pem: &str, ca_pem: &str, key_pem: &str) -> Result<(), PkiError> {
    let cert = inspect::parse_cert(cert_pem, "peer")?;
    let ca = inspect::parse_cert(ca_pem, "CA")?;
    check_pair(&cert, &ca)?;
    let key = KeyPair::from_pem(key_pem).map_err(|e| PkiError::Crypto {
        action: "read the new private key",
        reason: e.to_string(),
    })?;
    if cert.public_key != key.public_key_raw() {
        return Err(PkiError::NewKeyMismatch);
    }
    Ok(())
}

/// `tls enroll`'s last step: check the bundle against the key still in
/// memory, and only then keep the key and request and install the bundle.
pub fn install_with_new_key(
    files: &TlsFiles,
    material: &KeyAndRequest,
    cert_pem: &str,
    ca_pem: &str,
) -> Result<(), PkiError> {
    validate_bundle(cert_pem, ca_pem, &material.key_pem)?;
    csr::write_peer_material(files, material)?;
    install(files, cert_pem, ca_pem)
}

/// `tls install`: write `peer.crt` and `ca.crt` after every check passed.
/// A refused bundle leaves the store as it was.
pub fn install(files: &TlsFiles, cert_pem: &str, ca_pem: &str) -> Result<(), PkiError> {
    let key_path = files.peer_key();
    if !key_path.is_file() {
        return Err(PkiError::NoPeerKey { path: key_path });
    }
    let cert = inspect::parse_cert(cert_pem, "peer")?;
    let ca = inspect::parse_cert(ca_pem, "CA")?;
    check_pair(&cert, &ca)?;
    let key_pem = files::read_secret(&key_path)?;
    let key = KeyPair::from_pem(&key_pem).map_err(|_| PkiError::BadKey {
        path: key_path.clone(),
    })?;
    if cert.public_key != key.public_key_raw() {
        return Err(PkiError::KeyMismatch { path: key_path });
    }
    files::write_public(&files.peer_cert(), cert_pem.as_bytes())?;
    files::write_public(&files.ca_cert(), ca_pem.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::{DEFAULT_CA_DAYS, ca};

    fn host() -> (tempfile::TempDir, TlsFiles) {
        let dir = tempfile::tempdir().unwrap();
        let files = TlsFiles::at(dir.path().join("tls"));
        (dir, files)
    }

    fn sans() -> Vec<String> {
        vec!["10.0.0.2".to_owned()]
    }

    #[test]
    fn the_peer_installs_its_own_signed_cert() {
        let (_a, ca_host) = host();
        let (_b, peer) = host();
        ca::init_ca(&ca_host, "kioku-mesh-ca", DEFAULT_CA_DAYS, false).unwrap();
        let req = csr::request(&peer, &sans(), None).unwrap();
        let (cert, ca_pem) = ca::sign(&ca_host, &req, 825).unwrap();
        install(&peer, &cert, &ca_pem).unwrap();
        assert_eq!(std::fs::read_to_string(peer.peer_cert()).unwrap(), cert);
        assert_eq!(std::fs::read_to_string(peer.ca_cert()).unwrap(), ca_pem);
    }

    #[test]
    fn a_cert_from_another_ca_is_refused_and_nothing_changes() {
        let (_a, ca_host) = host();
        let (_c, other_ca) = host();
        let (_b, peer) = host();
        ca::init_ca(&ca_host, "kioku-mesh-ca", DEFAULT_CA_DAYS, false).unwrap();
        ca::init_ca(&other_ca, "kioku-mesh-ca", DEFAULT_CA_DAYS, false).unwrap();
        let req = csr::request(&peer, &sans(), None).unwrap();
        let (cert, _) = ca::sign(&other_ca, &req, 825).unwrap();
        let ca_pem = std::fs::read_to_string(ca_host.ca_cert()).unwrap();
        assert!(matches!(
            install(&peer, &cert, &ca_pem),
            Err(PkiError::NotIssuedByCa)
        ));
        assert!(!peer.peer_cert().exists());
        assert!(!peer.ca_cert().exists());
    }

    #[test]
    fn a_cert_for_another_key_is_refused() {
        let (_a, ca_host) = host();
        let (_b, peer) = host();
        let (_c, stranger) = host();
        ca::init_ca(&ca_host, "kioku-mesh-ca", DEFAULT_CA_DAYS, false).unwrap();
        csr::request(&peer, &sans(), None).unwrap();
        let theirs = csr::request(&stranger, &sans(), None).unwrap();
        let (cert, ca_pem) = ca::sign(&ca_host, &theirs, 825).unwrap();
        let err = install(&peer, &cert, &ca_pem).unwrap_err();
        assert!(matches!(err, PkiError::KeyMismatch { .. }), "{err}");
        assert!(!peer.peer_cert().exists());
        // And the in-memory check agrees.
        let mine = csr::build_key_and_request(&sans(), None).unwrap();
        assert!(matches!(
            validate_bundle(&cert, &ca_pem, &mine.key_pem),
            Err(PkiError::NewKeyMismatch)
        ));
    }

    #[test]
    fn install_before_request_says_to_request() {
        let (_b, peer) = host();
        let err = install(&peer, "x", "y").unwrap_err();
        assert!(err.to_string().contains("tls request"), "{err}");
    }
}
