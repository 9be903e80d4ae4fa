//! Whether this host's store can carry mTLS links: what `init --tls` checks
//! before it writes a configuration that points Zenoh at the store.

use chrono::{DateTime, Utc};

use super::error::PkiError;
use super::files::{self, TlsFiles};
use super::inspect::{self, CertInfo};

/// Check that `ca.crt`, `peer.key` and `peer.crt` are present, that the CA
/// signed the peer certificate, that the certificate holds this host's key,
/// and that it has not expired at `now`. Returns the certificate's summary.
pub fn check_peer_ready(files: &TlsFiles, now: DateTime<Utc>) -> Result<CertInfo, PkiError> {
    let missing: Vec<String> = [files.ca_cert(), files.peer_cert(), files.peer_key()]
        .into_iter()
        .filter(|p| !p.is_file())
        .map(|p| p.display().to_string())
        .collect();
    if !missing.is_empty() {
        return Err(PkiError::NotEnrolled {
            missing: missing.join("\n  "),
        });
    }
    let cert_pem = files::read_public(&files.peer_cert())?;
    let ca_pem = files::read_public(&files.ca_cert())?;
    let key_path = files.peer_key();
    let key_pem = files::read_secret(&key_path)?;
    let cert = inspect::parse_cert(&cert_pem, "peer")?;
    let ca = inspect::parse_cert(&ca_pem, "CA")?;
    if !inspect::issued_by(&cert, &ca) {
        return Err(PkiError::NotIssuedByCa);
    }
    let key = rcgen::KeyPair::from_pem(&key_pem).map_err(|_| PkiError::BadKey {
        path: key_path.clone(),
    })?;
    if cert.public_key != key.public_key_raw() {
        return Err(PkiError::KeyMismatch { path: key_path });
    }
    let info = inspect::inspect_cert(&cert_pem)?;
    if info.expired(now) {
        return Err(PkiError::PeerCertExpired {
            path: files.peer_cert(),
            not_after: info.not_after.to_rfc3339(),
        });
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::{DEFAULT_CA_DAYS, ca, csr, install};

    fn enrolled(dir: &std::path::Path, name: &str) -> TlsFiles {
        let files = TlsFiles::at(dir.join(name));
        ca::init_ca(&files, "test-ca", DEFAULT_CA_DAYS, false).unwrap();
        let csr_pem = csr::request(&files, &["127.0.0.1".to_owned()], Some(name)).unwrap();
        let (cert, ca_pem) = ca::sign(&files, &csr_pem, 30).unwrap();
        install::install(&files, &cert, &ca_pem).unwrap();
        files
    }

    #[test]
    fn an_enrolled_store_is_ready_until_its_cert_expires() {
        let dir = tempfile::tempdir().unwrap();
        let files = enrolled(dir.path(), "a");
        let now = Utc::now();
        let info = check_peer_ready(&files, now).unwrap();
        assert_eq!(info.sans, vec!["127.0.0.1".to_owned()]);
        let later = now + chrono::Duration::days(31);
        let err = check_peer_ready(&files, later).unwrap_err();
        assert!(matches!(err, PkiError::PeerCertExpired { .. }), "{err}");
        assert!(err.to_string().contains("tls request"), "{err}");
    }

    #[test]
    fn missing_files_are_listed_with_the_way_to_get_them() {
        let dir = tempfile::tempdir().unwrap();
        let files = TlsFiles::at(dir.path().join("tls"));
        let err = check_peer_ready(&files, Utc::now()).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("peer.crt") && text.contains("ca.crt"),
            "{text}"
        );
        assert!(text.contains("kioku-mesh tls request"), "{text}");
        assert!(err.is_usage());
    }

    #[test]
    fn a_cert_from_another_ca_or_for_another_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let a = enrolled(dir.path(), "a");
        let b = enrolled(dir.path(), "b");
        // b's CA beside a's certificate: not issued by it.
        std::fs::copy(b.ca_cert(), a.ca_cert()).unwrap();
        let err = check_peer_ready(&a, Utc::now()).unwrap_err();
        assert!(matches!(err, PkiError::NotIssuedByCa), "{err}");
        // b's certificate beside b's CA but a's key: not this host's key.
        std::fs::copy(b.peer_cert(), a.peer_cert()).unwrap();
        let err = check_peer_ready(&a, Utc::now()).unwrap_err();
        assert!(matches!(err, PkiError::KeyMismatch { .. }), "{err}");
    }
}
