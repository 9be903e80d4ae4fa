//! The peer's side: a fresh P-256 key that stays on this host, and a
//! certificate signing request naming the addresses peers dial it on.

use std::net::IpAddr;

use rcgen::{
    CertificateParams, CertificateSigningRequestParams, DistinguishedName, DnType, KeyPair,
    PKCS_ECDSA_P256_SHA256, SanType,
};

use super::error::PkiError;
use super::files::{self, TlsFiles};

/// A new key and its request, still in memory.
pub struct KeyAndRequest {
    /// The private key, PKCS#8 PEM. Never printed, logged or sent.
    pub(crate) key_pem: String,
    /// The request, PEM.
    pub csr_pem: String,
}

impl std::fmt::Debug for KeyAndRequest {
    // The key is left out on purpose: a Debug print must never show it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyAndRequest")
            .field("csr_pem", &self.csr_pem)
            .finish_non_exhaustive()
    }
}

/// Classify `--san` values: an IP address, else a DNS name. Blank values
/// are skipped; nothing usable at all is refused.
fn subject_alt_names(values: &[String]) -> Result<Vec<SanType>, PkiError> {
    let mut names = Vec::new();
    for raw in values {
        let value = raw.trim();
        if value.is_empty() {
            continue;
        }
        let name = match value.parse::<IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName(
                value
                    .try_into()
                    .map_err(|_| PkiError::InvalidSan(value.to_owned()))?,
            ),
        };
        names.push(name);
    }
    if names.is_empty() {
        return Err(PkiError::NoSan);
    }
    Ok(names)
}

/// Build a key and a request in memory; nothing is written. The common
/// name defaults to the first SAN, as in the reference.
pub fn build_key_and_request(sans: &[String], cn: Option<&str>) -> Result<KeyAndRequest, PkiError> {
    let names = subject_alt_names(sans)?;
    let cn = match cn.filter(|c| !c.is_empty()) {
        Some(c) => c.to_owned(),
        None => sans
            .iter()
            .map(|s| s.trim())
            .find(|s| !s.is_empty())
            .unwrap_or_default()
            .to_owned(),
    };
    if cn.chars().any(char::is_control) {
        return Err(PkiError::InvalidCommonName(cn));
    }
    let mut params = CertificateParams::default();
    params.subject_alt_names = names;
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, cn);
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(|e| PkiError::Crypto {
        action: "generate a P-256 key",
        reason: e.to_string(),
    })?;
    let csr = params
        .serialize_request(&key)
        .and_then(|r| r.pem())
        .map_err(|e| PkiError::Crypto {
            action: "build the certificate request",
            reason: e.to_string(),
        })?;
    Ok(KeyAndRequest {
        key_pem: key.serialize_pem(),
        csr_pem: csr,
    })
}

/// Keep a key (0600) and its request (0644) in the store.
pub fn write_peer_material(files: &TlsFiles, material: &KeyAndRequest) -> Result<(), PkiError> {
    files::write_secret(&files.peer_key(), material.key_pem.as_bytes())?;
    files::write_public(&files.peer_csr(), material.csr_pem.as_bytes())
}

/// `tls request`: a new key and request, kept in the store. Returns the
/// request PEM, the only part that travels.
pub fn request(files: &TlsFiles, sans: &[String], cn: Option<&str>) -> Result<String, PkiError> {
    let material = build_key_and_request(sans, cn)?;
    write_peer_material(files, &material)?;
    Ok(material.csr_pem)
}

/// Parse a request PEM and check its signature.
pub(crate) fn parse_request(csr_pem: &str) -> Result<CertificateSigningRequestParams, PkiError> {
    CertificateSigningRequestParams::from_pem(csr_pem).map_err(|e| match e {
        rcgen::Error::InvalidCertificationRequestSignature => PkiError::CsrSignature,
        other => PkiError::BadCsr(other.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn request_carries_the_sans_and_the_first_as_common_name() {
        let m = build_key_and_request(&strings(&["10.0.0.2", "host.lan"]), None).unwrap();
        let parsed = parse_request(&m.csr_pem).unwrap();
        assert_eq!(
            parsed.params.subject_alt_names,
            vec![
                SanType::IpAddress("10.0.0.2".parse().unwrap()),
                SanType::DnsName("host.lan".try_into().unwrap())
            ]
        );
        let cn = parsed.params.distinguished_name.get(&DnType::CommonName);
        assert_eq!(cn, Some(&rcgen::DnValue::Utf8String("10.0.0.2".into())));
        assert!(m.key_pem.contains("BEGIN PRIVATE KEY"));
        assert!(!format!("{m:?}").contains("PRIVATE"));
    }

    #[test]
    fn no_usable_san_is_refused() {
        assert!(matches!(
            build_key_and_request(&strings(&[]), None),
            Err(PkiError::NoSan)
        ));
        assert!(matches!(
            build_key_and_request(&strings(&["  "]), None),
            Err(PkiError::NoSan)
        ));
        assert!(matches!(
            build_key_and_request(&strings(&["hôte"]), None),
            Err(PkiError::InvalidSan(_))
        ));
    }

    #[test]
    fn request_writes_a_private_key_and_the_csr() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let files = TlsFiles::at(dir.path());
        let csr = request(&files, &strings(&["peer.lan"]), Some("peer")).unwrap();
        assert_eq!(std::fs::read_to_string(files.peer_csr()).unwrap(), csr);
        let mode = std::fs::metadata(files.peer_key())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_tampered_request_is_refused() {
        let m = build_key_and_request(&strings(&["10.0.0.2"]), None).unwrap();
        let der = pem_body(&m.csr_pem);
        let mut bytes =
            base64::Engine::decode(&base64::engine::general_purpose::STANDARD, der).unwrap();
        // Flip a bit inside the signed part (the SAN's IP address).
        let at = bytes.windows(4).position(|w| w == [10, 0, 0, 2]).unwrap();
        bytes[at + 3] = 3;
        let pem = format!(
            "-----BEGIN CERTIFICATE REQUEST-----\n{}\n-----END CERTIFICATE REQUEST-----\n",
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, bytes)
        );
        assert!(matches!(parse_request(&pem), Err(PkiError::CsrSignature)));
    }

    fn pem_body(pem: &str) -> String {
        pem.lines().filter(|l| !l.starts_with("-----")).collect()
    }
}
