//! The error type of the private CA and the CSR flow. Every message says
//! what to do next, and none of them carries key material.

use std::path::PathBuf;

/// Errors raised by `kioku-mesh tls ...`: bad blobs, bad requests, files
/// that are missing or too open, certificates that do not belong together.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// `init-ca` would replace an existing CA.
    #[error(
        "{path} already exists. Use --force to replace the CA.\n  warning: replacing the CA invalidates every peer cert it signed."
    )]
    CaExists {
        /// The existing CA key.
        path: PathBuf,
    },

    /// `sign` was run on a host without a CA.
    #[error("no CA at {path}. Run `kioku-mesh tls init-ca` on this host first.")]
    NoCa {
        /// Where the CA key was looked for.
        path: PathBuf,
    },

    /// `install` was run before `request` on this host.
    #[error(
        "no private key at {path}. Run `kioku-mesh tls request` on this host first so the key that matches this cert exists locally."
    )]
    NoPeerKey {
        /// Where the peer key was looked for.
        path: PathBuf,
    },

    /// A private key file that group or others may read.
    #[error(
        "{path} is readable by other users (mode {mode:o}); a private key must be private: run `chmod 600 {path}`"
    )]
    KeyTooOpen {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },

    /// A private key file that does not hold a usable P-256 key.
    #[error(
        "{path} does not hold a usable private key; restore it, or create a new one (`kioku-mesh tls request` for a peer key, `kioku-mesh tls init-ca --force` for the CA key)"
    )]
    BadKey {
        /// The key file.
        path: PathBuf,
    },

    /// `--san` gave nothing usable.
    #[error("at least one --san (the address peers dial this host on) is required")]
    NoSan,

    /// A `--san` value that is neither an IP address nor a DNS name.
    #[error(
        "--san '{0}' is neither an IP address nor an ASCII host name; give the address peers dial this host on"
    )]
    InvalidSan(String),

    /// `--cn` cannot be used as a common name.
    #[error("--cn '{0}' cannot be used as a certificate common name; use plain text")]
    InvalidCommonName(String),

    /// A validity that is not a positive number of days within the cap.
    #[error("--days must be between 1 and {max}; got {days}")]
    InvalidDays {
        /// The rejected value.
        days: i64,
        /// The largest accepted value.
        max: i64,
    },

    /// The expected blob is not in the text.
    #[error(
        "no \"{label}\" block found in the pasted text — copy the whole block, including the -----BEGIN and -----END lines"
    )]
    NoBlock {
        /// The blob's label, e.g. `KIOKU-MESH CSR`.
        label: &'static str,
    },

    /// The blob is there but its base64 does not decode.
    #[error("the \"{label}\" block is corrupt (a truncated or mangled paste); copy it again")]
    CorruptBlock {
        /// The blob's label.
        label: &'static str,
    },

    /// Input for `sign` that is neither a CSR blob nor a CSR PEM.
    #[error(
        "input is neither a KIOKU-MESH CSR block nor a PEM certificate request; paste the block printed by `kioku-mesh tls request`, or pass a .csr file"
    )]
    NotACsr,

    /// A bundle whose payload is not `{"v": 1, "cert": ..., "ca": ...}`.
    #[error(
        "the cert bundle decoded but is not the expected cert+ca structure ({0}); ask the CA host for a new bundle from `kioku-mesh tls sign`"
    )]
    BadBundle(String),

    /// A certificate signing request that does not parse.
    #[error(
        "the certificate request cannot be read ({0}); regenerate it with `kioku-mesh tls request --san ...`"
    )]
    BadCsr(String),

    /// A request whose signature does not verify.
    #[error(
        "CSR signature is invalid (corrupt or tampered request); regenerate it with `kioku-mesh tls request --san ...`"
    )]
    CsrSignature,

    /// A request without subject alternative names.
    #[error(
        "CSR has no SubjectAlternativeName; regenerate it with `kioku-mesh tls request --san ...`"
    )]
    CsrWithoutSan,

    /// A certificate that does not parse.
    #[error("the {what} certificate cannot be read ({reason}); {fix}")]
    BadCert {
        /// Which certificate ("peer", "CA").
        what: &'static str,
        /// The parser's reason.
        reason: String,
        /// What to do.
        fix: &'static str,
    },

    /// The peer certificate was not signed by the bundled CA.
    #[error(
        "peer certificate was not issued by the supplied CA certificate; ask the CA host for a new bundle from `kioku-mesh tls sign`"
    )]
    NotIssuedByCa,

    /// The certificate's public key is not this host's key.
    #[error(
        "signed certificate does not match the local private key at {path}; it appears to have been issued for a different peer. Send this host's own request (`kioku-mesh tls request`) to the CA host"
    )]
    KeyMismatch {
        /// The local key file.
        path: PathBuf,
    },

    /// `enroll` got back a certificate for another key than the one it sent.
    #[error(
        "signed certificate does not match the generated private key; nothing was written. Check that the CA host signs the request it is sent, then run `kioku-mesh tls enroll` again"
    )]
    NewKeyMismatch,

    /// `ca.crt` does not belong to `ca.key` on the CA host.
    #[error(
        "{cert} does not match the CA key {key}; restore the pair, or create a new CA with `kioku-mesh tls init-ca --force`"
    )]
    CaPairMismatch {
        /// The CA certificate.
        cert: PathBuf,
        /// The CA key.
        key: PathBuf,
    },

    /// `init --tls` on a host whose store lacks the files links need.
    #[error(
        "--tls needs certificates that are not present yet:\n  {missing}\nProvision them first: `kioku-mesh tls init-ca` (CA host), then on this host `kioku-mesh tls enroll <ca-host> --san <addr>` (with SSH), or the copy-paste flow `kioku-mesh tls request --san <addr>` -> `tls sign` (CA host) -> `kioku-mesh tls install`"
    )]
    NotEnrolled {
        /// The missing files, one a line.
        missing: String,
    },

    /// This host's certificate has expired.
    #[error(
        "{path} expired on {not_after}; rotate it: `kioku-mesh tls request --san <addr>` -> `tls sign` on the CA host -> `kioku-mesh tls install`"
    )]
    PeerCertExpired {
        /// The certificate file.
        path: PathBuf,
        /// When it expired (RFC 3339).
        not_after: String,
    },

    /// A certificate is asked for a name that was revoked.
    #[error(
        "the name {cn} was revoked; a host is known to the routers by its certificate's common name, so it is never admitted again. Request a certificate with a new name (`kioku-mesh tls request --cn <new-name> --san ...`)"
    )]
    RevokedName {
        /// The revoked common name.
        cn: String,
    },

    /// `tls revoke` of a name already revoked.
    #[error("{cn} is already revoked; `kioku-mesh tls status` lists the policy in force")]
    AlreadyRevoked {
        /// The name.
        cn: String,
    },

    /// A name or serial the admission policy does not know.
    #[error(
        "no admitted host is named {who} (common name or certificate serial); `kioku-mesh tls status` lists them"
    )]
    UnknownHost {
        /// What was asked for.
        who: String,
    },

    /// A policy document that does not parse.
    #[error(
        "the admission policy is not readable ({reason}); restore tls/policy.json from the CA host, or delete it and let the daemon fetch the policy in force from the mesh"
    )]
    BadPolicy {
        /// Why.
        reason: String,
    },

    /// A policy whose signature does not verify against this host's CA.
    #[error(
        "the admission policy is not signed by this mesh's CA; it was refused and the policy in force stays. Check that ca.crt is the mesh's CA certificate"
    )]
    PolicySignature,

    /// A policy older than (or as old as) the one in force.
    #[error(
        "policy version {offered} is not newer than version {in_force} in force; it was refused (an older policy could undo a revocation)"
    )]
    PolicyStale {
        /// The version offered.
        offered: u64,
        /// The version in force.
        in_force: u64,
    },

    /// The certificate library refused to build or sign something.
    #[error("cannot {action}: {reason}")]
    Crypto {
        /// What was being done.
        action: &'static str,
        /// The library's reason.
        reason: String,
    },

    /// A file could not be read or written.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done ("cannot read", "cannot write").
        action: &'static str,
        /// The file concerned.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
}

impl PkiError {
    /// True when the user's input or files need fixing (exit status 2);
    /// false for an existing CA (the reference exits 1) and for I/O or
    /// library failures.
    pub fn is_usage(&self) -> bool {
        !matches!(
            self,
            Self::CaExists { .. } | Self::Io { .. } | Self::Crypto { .. }
        )
    }

    pub(crate) fn io(action: &'static str, path: &std::path::Path, source: std::io::Error) -> Self {
        Self::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}
