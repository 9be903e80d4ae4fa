//! The copy-paste blobs that carry a request to the CA host and the signed
//! certificate back, in the reference's format: base64 of the payload,
//! wrapped at 64 columns between `-----BEGIN <label>-----` and
//! `-----END <label>-----`. Only public material is ever wrapped.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::error::PkiError;

/// Label of a certificate request blob.
pub const CSR_LABEL: &str = "KIOKU-MESH CSR";
/// Label of a signed certificate bundle blob.
pub const BUNDLE_LABEL: &str = "KIOKU-MESH CERT BUNDLE";

/// Width of the base64 lines.
const COLUMNS: usize = 64;

/// Wrap `payload` in a framed, 64-column base64 block (no final newline).
fn armor(label: &str, payload: &[u8]) -> String {
    let b64 = STANDARD.encode(payload);
    let mut out = format!("-----BEGIN {label}-----\n");
    // base64 is ASCII, so every byte boundary is a char boundary.
    for chunk in b64.as_bytes().chunks(COLUMNS) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----"));
    out
}

/// Decode the first `label` block in `text`, whatever surrounds it and
/// however its lines are indented.
fn dearmor(text: &str, label: &'static str) -> Result<Vec<u8>, PkiError> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin).ok_or(PkiError::NoBlock { label })? + begin.len();
    let len = text[start..]
        .find(&end)
        .ok_or(PkiError::NoBlock { label })?;
    let body: String = text[start..start + len]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    STANDARD
        .decode(body)
        .map_err(|_| PkiError::CorruptBlock { label })
}

/// The blob `tls request` prints for a CSR PEM.
pub fn encode_csr_blob(csr_pem: &str) -> String {
    armor(CSR_LABEL, csr_pem.as_bytes())
}

/// The CSR PEM from a blob, or from a raw PEM request (the older file flow).
pub fn decode_csr_blob(text: &str) -> Result<String, PkiError> {
    if text.contains(CSR_LABEL) {
        let bytes = dearmor(text, CSR_LABEL)?;
        return String::from_utf8(bytes).map_err(|_| PkiError::CorruptBlock { label: CSR_LABEL });
    }
    if text.contains("BEGIN CERTIFICATE REQUEST") {
        return Ok(text.to_owned());
    }
    Err(PkiError::NotACsr)
}

/// The bundle's payload, in the reference's key order.
#[derive(serde::Serialize, serde::Deserialize)]
struct Bundle {
    v: u32,
    cert: String,
    ca: String,
}

/// The blob `tls sign` prints: the signed certificate and the CA certificate.
pub fn encode_cert_bundle(cert_pem: &str, ca_pem: &str) -> String {
    let payload = crate::json_text::to_string(&Bundle {
        v: 1,
        cert: cert_pem.to_owned(),
        ca: ca_pem.to_owned(),
    });
    armor(BUNDLE_LABEL, payload.as_bytes())
}

/// `(cert_pem, ca_pem)` from a bundle blob.
pub fn decode_cert_bundle(text: &str) -> Result<(String, String), PkiError> {
    let payload = dearmor(text, BUNDLE_LABEL)?;
    let value: serde_json::Value =
        serde_json::from_slice(&payload).map_err(|e| PkiError::BadBundle(e.to_string()))?;
    if let Some(v) = value.get("v")
        && v != 1
    {
        return Err(PkiError::BadBundle(format!("unsupported version {v}")));
    }
    let field = |name: &str| {
        value
            .get(name)
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| PkiError::BadBundle(format!("no \"{name}\" string")))
    };
    Ok((field("cert")?, field("ca")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CSR: &str =
        "-----BEGIN CERTIFICATE REQUEST-----\nMIIBfake\n-----END CERTIFICATE REQUEST-----\n";

    #[test]
    fn csr_blob_round_trips_in_64_columns() {
        let blob = encode_csr_blob(CSR);
        let lines: Vec<&str> = blob.lines().collect();
        assert_eq!(lines[0], "-----BEGIN KIOKU-MESH CSR-----");
        assert_eq!(*lines.last().unwrap(), "-----END KIOKU-MESH CSR-----");
        let body = &lines[1..lines.len() - 1];
        assert!(body[..body.len() - 1].iter().all(|l| l.len() == 64));
        assert!(body.last().unwrap().len() <= 64);
        assert_eq!(decode_csr_blob(&blob).unwrap(), CSR);
    }

    #[test]
    fn bundle_payload_is_the_reference_json() {
        let blob = encode_cert_bundle("C\n", "A\n");
        let body: String = blob.lines().filter(|l| !l.starts_with("-----")).collect();
        let json = String::from_utf8(STANDARD.decode(body).unwrap()).unwrap();
        assert_eq!(json, r#"{"v": 1, "cert": "C\n", "ca": "A\n"}"#);
        assert_eq!(
            decode_cert_bundle(&blob).unwrap(),
            ("C\n".to_owned(), "A\n".to_owned())
        );
    }

    #[test]
    fn surrounding_noise_and_indentation_are_tolerated() {
        let blob = encode_cert_bundle("cert", "ca");
        let pasted = format!(
            "$ kioku-mesh tls sign\npaste this:\n{}\n$ ",
            blob.lines()
                .map(|l| format!("    {l}  "))
                .collect::<Vec<_>>()
                .join("\r\n")
        );
        assert_eq!(
            decode_cert_bundle(&pasted).unwrap(),
            ("cert".to_owned(), "ca".to_owned())
        );
    }

    #[test]
    fn a_truncated_blob_is_a_clear_error() {
        let blob = encode_csr_blob(CSR);
        let no_end = &blob[..blob.len() - 10];
        assert!(matches!(
            decode_csr_blob(no_end),
            Err(PkiError::NoBlock { .. })
        ));
        // Lose one character of base64 but keep the frame.
        let lines: Vec<&str> = blob.lines().collect();
        let mut cut = lines.clone();
        let last = lines[lines.len() - 2];
        let shorter = &last[..last.len() - 1];
        let n = cut.len();
        cut[n - 2] = shorter;
        assert!(matches!(
            decode_csr_blob(&cut.join("\n")),
            Err(PkiError::CorruptBlock { .. })
        ));
    }

    #[test]
    fn corrupt_payloads_are_clear_errors() {
        let garbage =
            "-----BEGIN KIOKU-MESH CERT BUNDLE-----\n!!!!\n-----END KIOKU-MESH CERT BUNDLE-----";
        assert!(matches!(
            decode_cert_bundle(garbage),
            Err(PkiError::CorruptBlock { .. })
        ));
        let not_json = armor(BUNDLE_LABEL, b"hello");
        assert!(matches!(
            decode_cert_bundle(&not_json),
            Err(PkiError::BadBundle(_))
        ));
        let no_ca = armor(BUNDLE_LABEL, br#"{"v": 1, "cert": "x"}"#);
        assert!(matches!(
            decode_cert_bundle(&no_ca),
            Err(PkiError::BadBundle(_))
        ));
        // A CSR where a bundle is expected names the missing block.
        let csr = encode_csr_blob(CSR);
        let err = decode_cert_bundle(&csr).unwrap_err();
        assert!(err.to_string().contains("KIOKU-MESH CERT BUNDLE"), "{err}");
        assert!(matches!(decode_csr_blob("hello"), Err(PkiError::NotACsr)));
    }
}
