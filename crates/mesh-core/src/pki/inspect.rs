//! Reading certificates: the summary `tls info` prints, and the two facts
//! the other modules check (who signed a certificate, whose key it holds).

use chrono::{DateTime, Utc};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::objects::{oid_registry, oid2abbrev};
use x509_parser::x509::X509Name;

use super::error::PkiError;
use super::files::{self, TlsFiles};

/// A certificate decoded from PEM, kept as DER so it can be re-read.
pub(crate) struct CertDer {
    der: Vec<u8>,
    /// The subject public key (for EC keys, the uncompressed point).
    pub public_key: Vec<u8>,
    /// Whether it carries the usages `tls sign` gives a peer.
    #[cfg_attr(not(test), allow(dead_code))]
    pub usages_are_a_peers: bool,
}

fn bad(what: &'static str, reason: impl ToString) -> PkiError {
    PkiError::BadCert {
        what,
        reason: reason.to_string(),
        fix: "ask the CA host for a new bundle from `kioku-mesh tls sign`",
    }
}

/// Parse one PEM certificate. `what` names it in errors ("peer", "CA").
pub(crate) fn parse_cert(pem: &str, what: &'static str) -> Result<CertDer, PkiError> {
    let (_, block) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).map_err(|e| bad(what, e))?;
    if block.label != "CERTIFICATE" {
        return Err(bad(
            what,
            format!("a {} block, not a CERTIFICATE", block.label),
        ));
    }
    let der = block.contents;
    let (public_key, usages_are_a_peers) = {
        let cert = decode(&der, what)?;
        let usages = cert
            .key_usage()
            .ok()
            .flatten()
            .is_some_and(|k| k.value.digital_signature() && k.value.key_encipherment())
            && cert
                .extended_key_usage()
                .ok()
                .flatten()
                .is_some_and(|e| e.value.server_auth && e.value.client_auth);
        (cert.public_key().subject_public_key.data.to_vec(), usages)
    };
    Ok(CertDer {
        der,
        public_key,
        usages_are_a_peers,
    })
}

fn decode<'a>(der: &'a [u8], what: &'static str) -> Result<X509Certificate<'a>, PkiError> {
    x509_parser::parse_x509_certificate(der)
        .map(|(_, cert)| cert)
        .map_err(|e| bad(what, e))
}

/// Whether `ca`'s key made `cert`'s signature.
pub(crate) fn issued_by(cert: &CertDer, ca: &CertDer) -> bool {
    let (Ok(cert), Ok(ca)) = (decode(&cert.der, "peer"), decode(&ca.der, "CA")) else {
        return false;
    };
    cert.verify_signature(Some(ca.public_key())).is_ok()
}

/// What `tls info` shows about one certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// The subject, RFC 4514 (`CN=peer-a`).
    pub subject: String,
    /// The issuer, RFC 4514.
    pub issuer: String,
    /// Subject alternative names: IP addresses and DNS names.
    pub sans: Vec<String>,
    /// End of validity.
    pub not_after: DateTime<Utc>,
    /// Whether basic constraints say CA:true.
    pub is_ca: bool,
    /// The subject's first common name: what Zenoh's access control and
    /// the admission policy identify a host by.
    pub common_name: Option<String>,
    /// The serial number, lower-case hex.
    pub serial: String,
}

impl CertInfo {
    /// Whole days left at `now`, rounded down (negative once expired).
    pub fn days_remaining(&self, now: DateTime<Utc>) -> i64 {
        (self.not_after - now).num_seconds().div_euclid(86_400)
    }

    /// Whether the certificate has expired at `now`.
    pub fn expired(&self, now: DateTime<Utc>) -> bool {
        now >= self.not_after
    }
}

/// Summarise a PEM certificate.
pub fn inspect_cert(pem: &str) -> Result<CertInfo, PkiError> {
    let parsed = parse_cert(pem, "inspected")?;
    let cert = decode(&parsed.der, "inspected")?;
    let sans = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|ext| {
            ext.value
                .general_names
                .iter()
                .filter_map(general_name)
                .collect()
        })
        .unwrap_or_default();
    let is_ca = cert
        .basic_constraints()
        .ok()
        .flatten()
        .is_some_and(|bc| bc.value.ca);
    let not_after = DateTime::from_timestamp(cert.validity().not_after.timestamp(), 0)
        .ok_or_else(|| bad("inspected", "its expiry date is out of range"))?;
    let common_name = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_owned);
    Ok(CertInfo {
        subject: rfc4514(cert.subject()),
        issuer: rfc4514(cert.issuer()),
        sans,
        not_after,
        is_ca,
        common_name,
        serial: cert.raw_serial_as_string().replace(':', ""),
    })
}

fn general_name(name: &GeneralName<'_>) -> Option<String> {
    match name {
        GeneralName::DNSName(dns) => Some((*dns).to_owned()),
        GeneralName::IPAddress(octets) => match octets.len() {
            4 => <[u8; 4]>::try_from(*octets)
                .ok()
                .map(|o| std::net::Ipv4Addr::from(o).to_string()),
            16 => <[u8; 16]>::try_from(*octets)
                .ok()
                .map(|o| std::net::Ipv6Addr::from(o).to_string()),
            _ => None,
        },
        other => Some(other.to_string()),
    }
}

/// A name as RFC 4514 writes it (most specific first, `,` between RDNs),
/// the form the reference prints.
fn rfc4514(name: &X509Name<'_>) -> String {
    let rdns: Vec<String> = name
        .iter()
        .map(|rdn| {
            rdn.iter()
                .map(|attr| {
                    let key = oid2abbrev(attr.attr_type(), oid_registry())
                        .map(str::to_owned)
                        .unwrap_or_else(|_| attr.attr_type().to_id_string());
                    let value = attr.as_str().map(escape).unwrap_or_else(|_| "#".to_owned());
                    format!("{key}={value}")
                })
                .collect::<Vec<_>>()
                .join("+")
        })
        .collect();
    rdns.into_iter().rev().collect::<Vec<_>>().join(",")
}

fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for (i, c) in value.chars().enumerate() {
        let edge =
            (i == 0 && (c == '#' || c == ' ')) || (i + 1 == value.chars().count() && c == ' ');
        if edge || matches!(c, '\\' | ',' | '+' | '"' | '<' | '>' | ';') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// One certificate of the local store, as `tls info` lists it.
#[derive(Debug)]
pub struct StoredCert {
    /// `CA` or `peer`.
    pub label: &'static str,
    /// The file.
    pub path: std::path::PathBuf,
    /// Its summary, or why it cannot be read.
    pub info: Result<CertInfo, PkiError>,
}

/// The CA and peer certificates present in the store (missing ones left out).
pub fn stored_certs(files: &TlsFiles) -> Vec<StoredCert> {
    [("CA", files.ca_cert()), ("peer", files.peer_cert())]
        .into_iter()
        .filter(|(_, path)| path.is_file())
        .map(|(label, path)| {
            let info = files::read_public(&path).and_then(|pem| inspect_cert(&pem));
            StoredCert { label, path, info }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_left_round_down_like_the_reference() {
        let now = Utc::now();
        let info = CertInfo {
            subject: String::new(),
            issuer: String::new(),
            sans: vec![],
            not_after: now + chrono::Duration::hours(47),
            is_ca: false,
            common_name: None,
            serial: String::new(),
        };
        assert_eq!(info.days_remaining(now), 1);
        assert!(!info.expired(now));
        let later = now + chrono::Duration::hours(48);
        assert_eq!(info.days_remaining(later), -1);
        assert!(info.expired(later));
    }

    #[test]
    fn special_characters_are_escaped() {
        assert_eq!(escape("a,b"), "a\\,b");
        assert_eq!(escape(" x "), "\\ x\\ ");
        assert_eq!(escape("plain"), "plain");
    }

    #[test]
    fn a_non_certificate_is_a_clear_error() {
        let err = inspect_cert("hello").unwrap_err();
        assert!(matches!(err, PkiError::BadCert { .. }), "{err}");
    }
}
