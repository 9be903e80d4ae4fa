//! The arguments of `kioku-mesh tls ...`: the reference's CA and CSR flow,
//! and the admission policy (grant, revoke-scope, revoke, status).

use clap::{Args, Subcommand};

/// The long help of `kioku-mesh tls`.
pub const TLS_ABOUT: &str = "\
Provision mutual-TLS certificates so only peers holding a cert signed
by your CA can join the mesh. Trust model: one private CA, one key per
peer that never leaves the peer (only the CSR travels).

Copy-paste flow (no SSH, no file shuffling):
  CA host:   kioku-mesh tls init-ca
  each peer: kioku-mesh tls request --san <addr-peers-dial>
             (copy the printed CSR block to the CA host)
  CA host:   kioku-mesh tls sign        (paste the CSR block)
             (copy the printed bundle block back to the peer)
  each peer: kioku-mesh tls install     (paste the bundle block)

Have SSH to the CA host? One command does all three:
  each peer: kioku-mesh tls enroll <ca-host> --san <addr-peers-dial>

The blocks (CSR, signed bundle) are not secret; move them however is
convenient. The CA key and each peer key are secret and never appear
in a block or leave their host.";

#[derive(Debug, Subcommand)]
pub enum TlsCommand {
    /// Create the mesh CA (run once, on the CA host).
    #[command(name = "init-ca")]
    InitCa(TlsInitCaArgs),
    /// Generate this peer key (local) + a CSR blob to copy to the CA host.
    Request(TlsRequestArgs),
    /// Sign a peer CSR with the local CA (run on the CA host).
    Sign(TlsSignArgs),
    /// Install a signed cert + CA cert into this host (from a bundle blob or files).
    Install(TlsInstallArgs),
    /// One command: request + sign over SSH + install (needs SSH to the CA host).
    Enroll(TlsEnrollArgs),
    /// Show local CA / peer certificate details and expiry.
    Info,
    /// Give an admitted host more scopes (CA host; updates the signed policy).
    Grant(TlsGrantArgs),
    /// Take scopes away from a host (CA host; it keeps `mesh`).
    #[command(name = "revoke-scope")]
    RevokeScope(TlsGrantArgs),
    /// Cut a host off the mesh by common name or certificate serial (CA host).
    Revoke(TlsRevokeArgs),
    /// Show the admission policy in force: version, hosts and their scopes, revocations.
    Status,
}

/// Parse `user/<id>` or `team/<id>` (or `mesh`) at the boundary.
fn parse_scope(text: &str) -> Result<mesh_core::daemon_config::StorageScope, String> {
    mesh_core::daemon_config::StorageScope::parse(text).map_err(|e| e.to_string())
}

#[derive(Debug, Args)]
pub struct TlsGrantArgs {
    /// The host's certificate common name.
    pub cn: String,
    /// A scope: user/<id> or team/<id>. Repeatable.
    #[arg(long = "scope", value_name = "SCOPE", required = true, value_parser = parse_scope)]
    pub scopes: Vec<mesh_core::daemon_config::StorageScope>,
}

#[derive(Debug, Args)]
pub struct TlsRevokeArgs {
    /// The host's certificate common name, or its certificate's serial (hex).
    #[arg(value_name = "CN|SERIAL")]
    pub who: String,
}

#[derive(Debug, Args)]
pub struct TlsInitCaArgs {
    /// CA common name.
    #[arg(long, default_value = "kioku-mesh-ca")]
    pub name: String,
    /// CA validity in days.
    #[arg(long, default_value_t = mesh_core::pki::DEFAULT_CA_DAYS, allow_hyphen_values = true)]
    pub days: i64,
    /// Replace an existing CA (invalidates signed peer certs).
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct TlsRequestArgs {
    /// Address peers dial this host on (IP or hostname). Repeatable; include every reachable address.
    #[arg(long, value_name = "ADDR", required = true)]
    pub san: Vec<String>,
    /// Certificate common name (default: first --san).
    #[arg(long, default_value = "")]
    pub cn: String,
    /// Write the CSR blob to a file instead of stdout.
    #[arg(short = 'o', long, default_value = "")]
    pub out: String,
}

#[derive(Debug, Args)]
pub struct TlsSignArgs {
    /// Path to a .csr file or saved CSR blob; omit to paste/pipe one on stdin.
    pub csr: Option<std::path::PathBuf>,
    /// Write the signed cert bundle to a file instead of stdout.
    #[arg(short = 'o', long, default_value = "")]
    pub out: String,
    /// Certificate validity in days (at most 825).
    #[arg(long, default_value_t = mesh_core::pki::DEFAULT_CERT_DAYS, allow_hyphen_values = true)]
    pub days: i64,
    /// Admit the host to this scope too (user/<id> or team/<id>); every host holds mesh. Repeatable.
    #[arg(long = "scope", value_name = "SCOPE", value_parser = parse_scope)]
    pub scopes: Vec<mesh_core::daemon_config::StorageScope>,
}

#[derive(Debug, Args)]
pub struct TlsInstallArgs {
    /// Path to a saved cert-bundle blob; omit to paste/pipe one on stdin.
    pub bundle: Option<std::path::PathBuf>,
    /// (file mode) Path to this peer signed certificate; use with --ca.
    #[arg(long)]
    pub cert: Option<std::path::PathBuf>,
    /// (file mode) Path to the CA certificate; use with --cert.
    #[arg(long)]
    pub ca: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
pub struct TlsEnrollArgs {
    /// SSH destination of the CA host (e.g. user@hub).
    #[arg(value_name = "CA-HOST")]
    pub ca_host: String,
    /// Address peers dial this host on (IP or hostname). Repeatable.
    #[arg(long, value_name = "ADDR", required = true)]
    pub san: Vec<String>,
    /// Certificate common name (default: first --san).
    #[arg(long, default_value = "")]
    pub cn: String,
    /// Certificate validity in days (at most 825).
    #[arg(long, default_value_t = mesh_core::pki::DEFAULT_CERT_DAYS, allow_hyphen_values = true)]
    pub days: i64,
    /// kioku-mesh command name on the CA host.
    #[arg(long, default_value = "kioku-mesh")]
    pub remote_mesh: String,
    /// SSH port for the CA host (default: ssh default).
    #[arg(long, default_value_t = 0)]
    pub ssh_port: u16,
    /// Pass an -o option to ssh (repeatable), e.g. --ssh-opt 'StrictHostKeyChecking=accept-new'.
    #[arg(long, value_name = "OPT")]
    pub ssh_opt: Vec<String>,
    /// SSH timeout in seconds.
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
    /// Ask the CA host to admit this host to a scope too (user/<id> or team/<id>). Repeatable.
    #[arg(long = "scope", value_name = "SCOPE", value_parser = parse_scope)]
    pub scopes: Vec<mesh_core::daemon_config::StorageScope>,
}
