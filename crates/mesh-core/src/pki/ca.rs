//! The CA host's side: create the private CA, and sign peers' requests.
//! The CA key is read only here and never leaves the host.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, SerialNumber,
};
use time::{Duration, OffsetDateTime};

use super::error::PkiError;
use super::files::{self, TlsFiles};
use super::{DEFAULT_CA_DAYS, MAX_CERT_DAYS, csr};

/// How far back validity starts, so a peer whose clock lags a little
/// accepts a certificate signed a moment ago.
const CLOCK_SKEW: Duration = Duration::minutes(5);

/// A fresh serial number: 16 random bytes, positive.
fn random_serial() -> SerialNumber {
    let mut bytes = *uuid::Uuid::new_v4().as_bytes();
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    SerialNumber::from_slice(&bytes)
}

fn crypto(action: &'static str) -> impl FnOnce(rcgen::Error) -> PkiError {
    move |e| PkiError::Crypto {
        action,
        reason: e.to_string(),
    }
}

fn validity(params: &mut CertificateParams, days: i64) {
    let now = OffsetDateTime::now_utc();
    params.not_before = now - CLOCK_SKEW;
    params.not_after = now + Duration::days(days);
}

/// `tls init-ca`: create `ca.key` (0600) and the self-signed `ca.crt`.
/// Refuses to replace an existing CA unless `force`.
pub fn init_ca(files: &TlsFiles, name: &str, days: i64, force: bool) -> Result<(), PkiError> {
    let key_path = files.ca_key();
    if key_path.exists() && !force {
        return Err(PkiError::CaExists { path: key_path });
    }
    if !(1..=10 * DEFAULT_CA_DAYS).contains(&days) {
        return Err(PkiError::InvalidDays {
            days,
            max: 10 * DEFAULT_CA_DAYS,
        });
    }
    if name.is_empty() || name.chars().any(char::is_control) {
        return Err(PkiError::InvalidCommonName(name.to_owned()));
    }
    let key =
        KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(crypto("generate the CA key"))?;
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.serial_number = Some(random_serial());
    validity(&mut params, days);
    let cert = params
        .self_signed(&key)
        .map_err(crypto("sign the CA certificate"))?;
    files::write_secret(&key_path, key.serialize_pem().as_bytes())?;
    files::write_public(&files.ca_cert(), cert.pem().as_bytes())
}

/// Check a leaf validity against the cap.
pub fn check_cert_days(days: i64) -> Result<(), PkiError> {
    if (1..=MAX_CERT_DAYS).contains(&days) {
        Ok(())
    } else {
        Err(PkiError::InvalidDays {
            days,
            max: MAX_CERT_DAYS,
        })
    }
}

/// `tls sign`: sign `csr_pem` with this host's CA. The certificate keeps
/// the request's subject and SANs; everything else (CA:false, key usage,
/// serverAuth + clientAuth, validity) is the CA's choice, whatever the
/// request asked for. Returns `(cert_pem, ca_pem)`.
pub fn sign(files: &TlsFiles, csr_pem: &str, days: i64) -> Result<(String, String), PkiError> {
    let key_path = files.ca_key();
    if !key_path.is_file() {
        return Err(PkiError::NoCa { path: key_path });
    }
    check_cert_days(days)?;
    let request = csr::parse_request(csr_pem)?;
    if request.params.subject_alt_names.is_empty() {
        return Err(PkiError::CsrWithoutSan);
    }
    let ca_key_pem = files::read_secret(&key_path)?;
    let ca_key = KeyPair::from_pem(&ca_key_pem).map_err(|_| PkiError::BadKey {
        path: key_path.clone(),
    })?;
    let ca_cert_path = files.ca_cert();
    let ca_pem = files::read_public(&ca_cert_path)?;
    let ca = super::inspect::parse_cert(&ca_pem, "CA")?;
    if ca.public_key != ca_key.public_key_raw() {
        return Err(PkiError::CaPairMismatch {
            cert: ca_cert_path,
            key: key_path,
        });
    }
    let issuer = Issuer::from_ca_cert_pem(&ca_pem, ca_key).map_err(|e| PkiError::BadCert {
        what: "CA",
        reason: e.to_string(),
        fix: "restore ca.crt, or create a new CA with `kioku-mesh tls init-ca --force`",
    })?;

    let mut leaf = request.clone();
    let params = &mut leaf.params;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.serial_number = Some(random_serial());
    params.use_authority_key_identifier_extension = true;
    validity(params, days);
    let cert = leaf
        .signed_by(&issuer)
        .map_err(crypto("sign the certificate"))?;
    Ok((cert.pem(), ca_pem))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::{DEFAULT_CERT_DAYS, inspect};

    fn store() -> (tempfile::TempDir, TlsFiles) {
        let dir = tempfile::tempdir().unwrap();
        let files = TlsFiles::at(dir.path().join("tls"));
        (dir, files)
    }

    #[test]
    fn init_ca_refuses_to_overwrite_without_force() {
        let (_d, files) = store();
        init_ca(&files, "kioku-mesh-ca", DEFAULT_CA_DAYS, false).unwrap();
        let before = std::fs::read(files.ca_key()).unwrap();
        let err = init_ca(&files, "kioku-mesh-ca", DEFAULT_CA_DAYS, false).unwrap_err();
        assert!(matches!(err, PkiError::CaExists { .. }));
        assert!(!err.is_usage());
        assert_eq!(std::fs::read(files.ca_key()).unwrap(), before);
        init_ca(&files, "kioku-mesh-ca", DEFAULT_CA_DAYS, true).unwrap();
        assert_ne!(std::fs::read(files.ca_key()).unwrap(), before);
    }

    #[test]
    fn the_ca_is_a_constrained_p256_ca() {
        let (_d, files) = store();
        init_ca(&files, "team-ca", DEFAULT_CA_DAYS, false).unwrap();
        let info =
            inspect::inspect_cert(&std::fs::read_to_string(files.ca_cert()).unwrap()).unwrap();
        assert!(info.is_ca);
        assert_eq!(info.subject, "CN=team-ca");
        let days = info.days_remaining(chrono::Utc::now());
        assert!((3649..=3650).contains(&days), "{days}");
    }

    #[test]
    fn a_leaf_copies_subject_and_sans_and_gets_the_cas_usages() {
        let (_d, files) = store();
        init_ca(&files, "kioku-mesh-ca", DEFAULT_CA_DAYS, false).unwrap();
        let peer = csr::build_key_and_request(
            &["10.0.0.2".to_owned(), "host.lan".to_owned()],
            Some("peer-a"),
        )
        .unwrap();
        let (cert, ca) = sign(&files, &peer.csr_pem, DEFAULT_CERT_DAYS).unwrap();
        let info = inspect::inspect_cert(&cert).unwrap();
        assert_eq!(info.subject, "CN=peer-a");
        assert_eq!(info.issuer, "CN=kioku-mesh-ca");
        assert_eq!(info.sans, vec!["10.0.0.2", "host.lan"]);
        assert!(!info.is_ca);
        assert!((824..=825).contains(&info.days_remaining(chrono::Utc::now())));
        let parsed = inspect::parse_cert(&cert, "peer").unwrap();
        assert!(parsed.usages_are_a_peers);
        super::super::install::validate_bundle(&cert, &ca, &peer.key_pem).unwrap();
    }

    #[test]
    fn a_request_without_san_is_refused() {
        let (_d, files) = store();
        init_ca(&files, "kioku-mesh-ca", DEFAULT_CA_DAYS, false).unwrap();
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, "nosan");
        let pem = params.serialize_request(&key).unwrap().pem().unwrap();
        assert!(matches!(
            sign(&files, &pem, DEFAULT_CERT_DAYS),
            Err(PkiError::CsrWithoutSan)
        ));
    }

    #[test]
    fn a_request_asking_to_be_a_ca_gets_a_leaf() {
        let (_d, files) = store();
        init_ca(&files, "kioku-mesh-ca", DEFAULT_CA_DAYS, false).unwrap();
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = CertificateParams::new(vec!["evil.lan".to_owned()]).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let pem = params.serialize_request(&key).unwrap().pem().unwrap();
        let (cert, _) = sign(&files, &pem, 30).unwrap();
        assert!(!inspect::inspect_cert(&cert).unwrap().is_ca);
    }

    #[test]
    fn days_are_bounded() {
        let (_d, files) = store();
        init_ca(&files, "kioku-mesh-ca", DEFAULT_CA_DAYS, false).unwrap();
        let peer = csr::build_key_and_request(&["p.lan".to_owned()], None).unwrap();
        for bad in [0, -1, 826] {
            assert!(matches!(
                sign(&files, &peer.csr_pem, bad),
                Err(PkiError::InvalidDays { .. })
            ));
        }
        let (cert, _) = sign(&files, &peer.csr_pem, 1).unwrap();
        assert_eq!(
            inspect::inspect_cert(&cert)
                .unwrap()
                .days_remaining(chrono::Utc::now()),
            0
        );
    }

    #[test]
    fn sign_without_a_ca_says_to_create_one() {
        let (_d, files) = store();
        let peer = csr::build_key_and_request(&["p.lan".to_owned()], None).unwrap();
        let err = sign(&files, &peer.csr_pem, 30).unwrap_err();
        assert!(err.to_string().contains("tls init-ca"), "{err}");
    }
}
