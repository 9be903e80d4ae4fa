//! The mesh's private CA and the CSR flow behind `kioku-mesh tls ...`,
//! interoperable with the reference:
//!
//! - [`files`]: the store under `<config>/tls/` and how keys are written;
//! - [`ca`]: create the CA (`init-ca`) and sign requests (`sign`);
//! - [`csr`]: a peer's key and request (`request`);
//! - [`install`]: check and take a signed bundle (`install`);
//! - [`blob`]: the copy-paste blobs;
//! - [`inspect`]: what `info` prints;
//! - [`ready`]: whether the store can carry mTLS links (`init --tls`);
//! - [`policy`]: the signed admission policy (who holds which scope, who
//!   is revoked) that routers enforce.
//!
//! EC P-256 with SHA-256 throughout. Private keys are generated on the host
//! that uses them and never leave it: no blob, log line or error carries one.

pub mod blob;
pub mod ca;
pub mod csr;
pub mod error;
pub mod files;
pub mod inspect;
pub mod install;
pub mod policy;
pub mod ready;

pub use error::PkiError;
pub use files::TlsFiles;

/// Validity of a new CA, in days.
pub const DEFAULT_CA_DAYS: i64 = 3650;
/// Default validity of a peer certificate, in days.
pub const DEFAULT_CERT_DAYS: i64 = 825;
/// The longest peer certificate `sign` issues.
pub const MAX_CERT_DAYS: i64 = 825;
