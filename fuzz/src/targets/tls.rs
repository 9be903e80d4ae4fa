//! Targets for the TLS material people paste between hosts: request and
//! bundle blobs, certificates, signed admission policies, and the requests
//! a CA is asked to sign.

use mesh_core::daemon_config::StorageScope;
use mesh_core::pki::policy::{Policy, SignedPolicy};
use mesh_core::pki::{TlsFiles, blob, ca, csr, inspect, install};
use tempfile::TempDir;

use super::tokens;
use crate::engine::{Target, outcome, signature};

/// A scratch CA and a signed peer, made once; inputs are decoded as every
/// blob kind, and request-looking ones are offered to the CA to sign.
pub struct TlsBlobs {
    _dir: TempDir,
    files: TlsFiles,
    ca_pem: String,
    seeds: Vec<Vec<u8>>,
}

impl TlsBlobs {
    /// Make the CA, a request, a bundle and a signed policy to start from.
    pub fn new() -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("kioku-fuzz-tls")
            .tempdir()?;
        let files = TlsFiles::at(dir.path());
        ca::init_ca(&files, "fuzz-ca", 30, false)?;
        let csr_pem = csr::request(
            &files,
            &["hub.local".to_owned(), "10.0.0.1".to_owned()],
            Some("hub"),
        )?;
        let (cert_pem, ca_pem) = ca::sign(&files, &csr_pem, 30)?;
        let mut policy = Policy::empty();
        policy.grant(
            "hub",
            &[StorageScope::mesh(), StorageScope::parse("team/core")?],
        )?;
        let signed = SignedPolicy::sign(&policy, &files)?;
        let seeds = vec![
            blob::encode_csr_blob(&csr_pem).into_bytes(),
            csr_pem.into_bytes(),
            blob::encode_cert_bundle(&cert_pem, &ca_pem).into_bytes(),
            cert_pem.into_bytes(),
            signed.as_str().as_bytes().to_vec(),
            policy.to_json().into_bytes(),
        ];
        Ok(Self {
            _dir: dir,
            files,
            ca_pem,
            seeds,
        })
    }
}

impl Target for TlsBlobs {
    fn name(&self) -> &'static str {
        "tls"
    }
    fn seeds(&self) -> Vec<Vec<u8>> {
        self.seeds.clone()
    }
    fn dictionary(&self) -> Vec<Vec<u8>> {
        tokens(&[
            "-----BEGIN CERTIFICATE-----\n",
            "-----END CERTIFICATE-----\n",
            "-----BEGIN CERTIFICATE REQUEST-----\n",
            "-----END CERTIFICATE REQUEST-----\n",
            "=",
            "==",
            "\n",
            "\"v\": 2",
            "\"hosts\": ",
            "\"revoked\": ",
            "\"scopes\": [\"user/x\"]",
            "\"signature\": ",
            "\"policy\": ",
            "MII",
            "AAAA",
        ])
    }
    fn max_len(&self) -> usize {
        8192
    }
    fn run(&mut self, input: &[u8]) -> u64 {
        let text = String::from_utf8_lossy(input);
        let request = blob::decode_csr_blob(&text);
        if let Ok(pem) = &request {
            let again = blob::decode_csr_blob(&blob::encode_csr_blob(pem));
            assert_eq!(
                again.as_ref().ok(),
                Some(pem),
                "a request blob must carry its PEM unchanged"
            );
        }
        // Signing is the CA's exposure to strangers: only try requests.
        let signed = match &request {
            Ok(pem) => Some(ca::sign(&self.files, pem, 30)),
            Err(_) => None,
        };
        if let Some(Ok((cert, _))) = &signed {
            let info = inspect::inspect_cert(cert);
            assert!(
                info.is_ok(),
                "a certificate we signed must inspect: {info:?}"
            );
        }
        let bundle = blob::decode_cert_bundle(&text);
        if let Ok((cert, ca_pem)) = &bundle {
            let again = blob::decode_cert_bundle(&blob::encode_cert_bundle(cert, ca_pem));
            assert_eq!(
                again.as_ref().ok(),
                Some(&(cert.clone(), ca_pem.clone())),
                "a bundle must round-trip"
            );
            let _ = install::validate_bundle(cert, ca_pem, "");
        }
        let cert = inspect::inspect_cert(&text);
        let envelope = SignedPolicy::from_text(text.as_ref()).verify(&self.ca_pem);
        let policy = Policy::from_json(&text);
        if let Ok(p) = &policy {
            let again = Policy::from_json(&p.to_json());
            assert_eq!(
                again.as_ref().ok(),
                Some(p),
                "a policy must read back as itself"
            );
        }
        signature(&[
            &outcome("csr", &request, |_| 0).to_le_bytes(),
            &signed
                .map_or(0, |s| outcome("sign", &s, |_| 0))
                .to_le_bytes(),
            &outcome("bundle", &bundle, |_| 0).to_le_bytes(),
            &outcome("cert", &cert, |_| 0).to_le_bytes(),
            &outcome("envelope", &envelope, |_| 0).to_le_bytes(),
            &outcome("policy", &policy, |p| p.hosts().len().min(4) as u64).to_le_bytes(),
        ])
    }
}
