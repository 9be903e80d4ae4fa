//! The daemon's Zenoh configuration: endpoints, one storage per declared
//! scope, and the JSON5 document `init --mode hub|spoke` writes.
//!
//! The document uses zenohd's own keys, so a stock zenohd given the same
//! file (and the RocksDB backend) is a valid peer of `kioku-mesh serve`.
//! Storage alignment only pairs storages whose key expression and
//! replication block are identical, so both are fixed here, in one place.

use std::fmt::Write as _;
use std::path::PathBuf;

use crate::config::Settings;
use crate::error::{CoreError, Result};
use crate::keyspace::{Visibility, is_scope_slug};

/// The port routers listen on.
pub const ROUTER_PORT: u16 = 7447;
/// The port of the try-out router started by `mesh start`.
pub const TRYOUT_PORT: u16 = 17447;
/// Where clients (CLI, MCP server) connect when `ZENOH_CONNECT` is unset.
pub const DEFAULT_CONNECT: &str = "tcp/127.0.0.1:7447";
/// The daemon's listen endpoint when no configuration file exists.
pub const DEFAULT_LISTEN: &str = "tcp/127.0.0.1:7447";
/// The volume id of the RocksDB backend in the storage manager.
pub const ROCKSDB_VOLUME: &str = "rocksdb";

/// Storage alignment parameters, identical on every peer (the reference's):
/// interval between digests, in milliseconds.
pub const REPLICA_INTERVAL_MS: u64 = 10_000;
/// Sub-intervals per interval.
pub const REPLICA_SUB_INTERVALS: u32 = 5;
/// Intervals in the hot era.
pub const REPLICA_HOT: u64 = 6;
/// Intervals in the warm era.
pub const REPLICA_WARM: u64 = 30;
/// Propagation delay, in milliseconds.
pub const REPLICA_PROPAGATION_DELAY_MS: u64 = 250;

/// The `replication` block every storage carries.
fn replication_block() -> String {
    format!(
        "interval: {}.0,
            sub_intervals: {REPLICA_SUB_INTERVALS},
            hot: {REPLICA_HOT},
            warm: {REPLICA_WARM},
            propagation_delay: {REPLICA_PROPAGATION_DELAY_MS},",
        REPLICA_INTERVAL_MS / 1000
    )
}

/// The protocols Zenoh endpoints may name.
const PROTOCOLS: &[&str] = &[
    "tcp",
    "tls",
    "udp",
    "quic",
    "ws",
    "unixsock-stream",
    "unixpipe",
];

/// What a host is in the mesh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeshRole {
    /// Listens; spokes dial in.
    Hub,
    /// Dials one or more hubs.
    Spoke,
}

impl MeshRole {
    /// `hub` or `spoke`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hub => "hub",
            Self::Spoke => "spoke",
        }
    }
}

/// Turn a user's endpoint spec into a Zenoh endpoint: a bare host becomes
/// `tcp/<host>:7447`, `host:port` becomes `tcp/host:port`, and an endpoint
/// that already names its protocol is kept.
pub fn normalize_endpoint(spec: &str) -> Result<String> {
    let spec = spec.trim();
    let bad = |reason: &str| CoreError::InvalidEndpoint {
        spec: spec.to_owned(),
        reason: reason.to_owned(),
    };
    if spec.is_empty() {
        return Err(bad("it is empty"));
    }
    if spec.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("it contains whitespace"));
    }
    if let Some((proto, rest)) = spec.split_once('/') {
        if PROTOCOLS.contains(&proto) {
            if rest.is_empty() {
                return Err(bad("the address after the protocol is missing"));
            }
            return Ok(spec.to_owned());
        }
        return Err(bad(&format!(
            "'{proto}' is not a Zenoh protocol (use tcp/, tls/, udp/, quic/ or a bare host)"
        )));
    }
    // A bare IPv6 address has several colons and no brackets.
    if spec.matches(':').count() > 1 && !spec.starts_with('[') {
        return Ok(format!("tcp/[{spec}]:{ROUTER_PORT}"));
    }
    match spec.rsplit_once(':') {
        Some((host, port)) => {
            let port: u16 = port
                .parse()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| bad("the port must be a number from 1 to 65535"))?;
            if host.is_empty() {
                return Err(bad("the host is missing"));
            }
            Ok(format!("tcp/{host}:{port}"))
        }
        None => Ok(format!("tcp/{spec}:{ROUTER_PORT}")),
    }
}

/// Normalize every spec and drop repeats, keeping the first occurrence.
pub fn normalize_endpoints<S: AsRef<str>>(specs: &[S]) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::with_capacity(specs.len());
    for spec in specs {
        let endpoint = normalize_endpoint(spec.as_ref())?;
        if !out.contains(&endpoint) {
            out.push(endpoint);
        }
    }
    Ok(out)
}

/// True when the endpoint's host is a loopback address or `localhost`.
pub fn is_loopback_endpoint(endpoint: &str) -> bool {
    let address = endpoint.split_once('/').map_or(endpoint, |(_, a)| a);
    address.starts_with("127.") || address.starts_with("localhost") || address.starts_with("[::1]")
}

/// Under `--tls`, links that leave the host ride on TLS: a non-loopback
/// `tcp/` endpoint becomes `tls/`. Loopback stays plain so this host's CLI
/// and MCP server, which hold no certificate, still reach their daemon.
pub fn to_tls_endpoints(endpoints: &[String]) -> Vec<String> {
    endpoints
        .iter()
        .map(|e| match e.strip_prefix("tcp/") {
            Some(address) if !is_loopback_endpoint(e) => format!("tls/{address}"),
            _ => e.clone(),
        })
        .collect()
}

/// The files Zenoh's TLS links use (this host's certificate store).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsLinks {
    /// The mesh CA's certificate: peers must present a certificate it signed.
    pub ca_cert: PathBuf,
    /// This host's private key, for both accepted and dialled links.
    pub key: PathBuf,
    /// This host's certificate, for both accepted and dialled links.
    pub cert: PathBuf,
}

impl TlsLinks {
    /// The links of the store `files` (`<config>/tls/`).
    pub fn from_files(files: &crate::pki::TlsFiles) -> Self {
        Self {
            ca_cert: files.ca_cert(),
            key: files.peer_key(),
            cert: files.peer_cert(),
        }
    }

    /// The `transport` block: mutual TLS, the dialled name checked against
    /// the peer's SAN, links closed when the far certificate expires.
    fn render(&self) -> String {
        let path = |p: &PathBuf| quote(&p.display().to_string());
        format!(
            "
  // mTLS: both ends present a certificate signed by the mesh CA, and the
  // certificate of the host dialled must name the address dialled.
  transport: {{
    link: {{
      tls: {{
        root_ca_certificate: {ca},
        enable_mtls: true,
        verify_name_on_connect: true,
        listen_private_key: {key},
        listen_certificate: {cert},
        connect_private_key: {key},
        connect_certificate: {cert},
        close_link_on_expiration: true,
      }},
    }},
  }},
",
            ca = path(&self.ca_cert),
            key = path(&self.key),
            cert = path(&self.cert),
        )
    }
}

/// One scope this host stores: `mesh`, `user/<id>` or `team/<id>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageScope {
    visibility: Visibility,
    scope_id: String,
}

impl StorageScope {
    /// The mesh-wide scope.
    pub fn mesh() -> Self {
        Self {
            visibility: Visibility::Mesh,
            scope_id: String::new(),
        }
    }

    /// Parse `mesh`, `user/<id>` or `team/<id>`.
    pub fn parse(text: &str) -> Result<Self> {
        let text = text.trim();
        let bad = || CoreError::InvalidStorageScope(text.to_owned());
        if text == "mesh" {
            return Ok(Self::mesh());
        }
        let (kind, id) = text.split_once('/').ok_or_else(bad)?;
        let visibility = match kind {
            "user" => Visibility::User,
            "team" => Visibility::Team,
            _ => return Err(bad()),
        };
        if !is_scope_slug(id) {
            return Err(bad());
        }
        Ok(Self {
            visibility,
            scope_id: id.to_owned(),
        })
    }

    /// The scope's visibility.
    pub fn visibility(&self) -> Visibility {
        self.visibility
    }

    /// The user or team id; empty for the mesh scope.
    pub fn scope_id(&self) -> &str {
        &self.scope_id
    }

    /// `mesh`, `user/<id>` or `team/<id>`, as written in `storage_scopes`.
    pub fn label(&self) -> String {
        match self.visibility {
            Visibility::User | Visibility::Team => {
                format!("{}/{}", self.visibility.as_str(), self.scope_id)
            }
            _ => "mesh".to_owned(),
        }
    }

    /// The key expression the storage (and the index subscriber) covers.
    pub fn key_expr(&self) -> String {
        format!("{}/**", self.prefix())
    }

    /// The prefix the storage strips before writing to RocksDB. The mesh
    /// scope strips only `mem`, so its RocksDB keys are the reference's.
    pub fn strip_prefix(&self) -> String {
        match self.visibility {
            Visibility::User | Visibility::Team => self.prefix(),
            _ => "mem".to_owned(),
        }
    }

    /// The key expression of the scope's message storage (`msg/<scope>/**`):
    /// mail kept until it expires, so an offline recipient gets it later.
    pub fn message_key_expr(&self) -> String {
        format!("{}/**", self.message_prefix())
    }

    /// The prefix the message storage strips.
    pub fn message_strip_prefix(&self) -> String {
        self.message_prefix()
    }

    /// The message storage's name, also its RocksDB directory.
    pub fn message_storage_name(&self) -> String {
        match self.visibility {
            Visibility::User | Visibility::Team => {
                format!("agent_msg_{}_{}", self.visibility.as_str(), self.scope_id)
            }
            _ => "agent_msg".to_owned(),
        }
    }

    fn message_prefix(&self) -> String {
        format!("msg/{}", self.label())
    }

    /// The storage's name, also its directory under the RocksDB root.
    pub fn storage_name(&self) -> String {
        match self.visibility {
            Visibility::User | Visibility::Team => {
                format!("agent_mem_{}_{}", self.visibility.as_str(), self.scope_id)
            }
            _ => "agent_mem".to_owned(),
        }
    }

    fn prefix(&self) -> String {
        match self.visibility {
            Visibility::User | Visibility::Team => {
                format!("mem/{}/{}", self.visibility.as_str(), self.scope_id)
            }
            _ => "mem/mesh".to_owned(),
        }
    }
}

/// The scopes this host stores. `storage_scopes` in config.yaml wins when
/// set; otherwise the mesh scope plus the configured user and team scopes,
/// so that a host always keeps what its own agents write.
pub fn declared_scopes(settings: &Settings) -> Result<Vec<StorageScope>> {
    let mut scopes = Vec::new();
    let mut push = |scope: StorageScope| {
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    };
    if settings.storage_scopes.is_empty() {
        push(StorageScope::mesh());
        if let Some(user_id) = &settings.user_id {
            push(StorageScope::parse(&format!("user/{user_id}"))?);
        }
        if let Some(team_id) = &settings.team_id {
            push(StorageScope::parse(&format!("team/{team_id}"))?);
        }
    } else {
        for text in &settings.storage_scopes {
            push(StorageScope::parse(text)?);
        }
    }
    Ok(scopes)
}

/// The `storages` block of the storage manager for `scopes`, indented to sit
/// inside `plugins.storage_manager`.
pub fn render_storages(scopes: &[StorageScope]) -> String {
    let mut out = String::from("storages: {\n");
    let both = scopes.iter().flat_map(|scope| {
        [
            (scope.storage_name(), scope.key_expr(), scope.strip_prefix()),
            (
                scope.message_storage_name(),
                scope.message_key_expr(),
                scope.message_strip_prefix(),
            ),
        ]
    });
    for (name, key_expr, strip) in both {
        let _ = write!(
            out,
            "        {name}: {{
          key_expr: {key_expr},
          strip_prefix: {strip},
          replication: {{
            {replication}
          }},
          volume: {{
            id: \"{ROCKSDB_VOLUME}\",
            dir: {dir},
            create_db: true,
          }},
        }},
",
            key_expr = quote(&key_expr),
            strip = quote(&strip),
            dir = quote(&name),
            replication = replication_block(),
        );
    }
    out.push_str("      },");
    out
}

/// The daemon configuration `init` writes, in zenohd's JSON5 format. With
/// `tls`, links use mutual TLS and gossip scouting is off too, so that no
/// host learns of (and dials) peers other than the ones configured.
pub fn render_daemon_config(
    role: MeshRole,
    listen: &[String],
    connect: &[String],
    scopes: &[StorageScope],
    tls: Option<&TlsLinks>,
) -> String {
    let list = |endpoints: &[String]| -> String {
        if endpoints.is_empty() {
            return "[]".to_owned();
        }
        let items: Vec<String> = endpoints
            .iter()
            .map(|e| format!("      {},\n", quote(e)))
            .collect();
        format!("[\n{}    ]", items.concat())
    };
    let note = match role {
        MeshRole::Hub => "hub: spokes dial in",
        MeshRole::Spoke => "spoke: dials the hub",
    };
    format!(
        "// Written by `kioku-mesh init --mode {role}` ({note}).
// `kioku-mesh serve` runs it; a stock zenohd with the RocksDB backend and
// ZENOH_BACKEND_ROCKSDB_ROOT set may run it too. Keep the storages and their
// replication blocks identical on every host: alignment pairs only equal ones.
{{
  mode: \"router\",

  listen: {{
    endpoints: {listen},
  }},

  connect: {{
    endpoints: {connect},
  }},

  scouting: {{
    multicast: {{ enabled: false }},{gossip}
  }},
{transport}
  // Lets `kioku-mesh status` and `doctor` see which storages each host runs.
  adminspace: {{
    enabled: true,
    permissions: {{ read: true, write: false }},
  }},

  timestamping: {{
    enabled: {{ router: true, peer: true, client: true }},
  }},

  plugins: {{
    storage_manager: {{
      volumes: {{
        {ROCKSDB_VOLUME}: {{}},
      }},
      {storages}
    }},
  }},
}}
",
        role = role.as_str(),
        listen = list(listen),
        connect = list(connect),
        storages = render_storages(scopes),
        gossip = if tls.is_some() {
            "\n    gossip: { enabled: false },"
        } else {
            ""
        },
        transport = tls.map(TlsLinks::render).unwrap_or_default(),
    )
}

fn quote(text: &str) -> String {
    serde_json::Value::String(text.to_owned()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_normalized() {
        assert_eq!(normalize_endpoint("10.0.0.5").unwrap(), "tcp/10.0.0.5:7447");
        assert_eq!(
            normalize_endpoint(" hub.lan:9000 ").unwrap(),
            "tcp/hub.lan:9000"
        );
        assert_eq!(
            normalize_endpoint("tls/hub.lan:7447").unwrap(),
            "tls/hub.lan:7447"
        );
        assert_eq!(normalize_endpoint("::1").unwrap(), "tcp/[::1]:7447");
        for bad in ["", "a b", "http/x", "host:0", "host:99999", ":7447", "tcp/"] {
            assert!(normalize_endpoint(bad).is_err(), "{bad:?} was accepted");
        }
        assert_eq!(
            normalize_endpoints(&["a", "tcp/a:7447", "b"]).unwrap(),
            vec!["tcp/a:7447", "tcp/b:7447"]
        );
    }

    #[test]
    fn scopes_parse_and_map_to_storages() {
        let user = StorageScope::parse("user/alice").unwrap();
        assert_eq!(user.key_expr(), "mem/user/alice/**");
        assert_eq!(user.strip_prefix(), "mem/user/alice");
        assert_eq!(user.storage_name(), "agent_mem_user_alice");
        assert_eq!(user.label(), "user/alice");
        let mesh = StorageScope::parse("mesh").unwrap();
        assert_eq!(mesh.key_expr(), "mem/mesh/**");
        assert_eq!(mesh.strip_prefix(), "mem");
        for bad in [
            "", "user", "user/", "user/a/b", "user/*", "org/x", "team/$x",
        ] {
            assert!(StorageScope::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn tls_swaps_only_links_that_leave_the_host() {
        let endpoints: Vec<String> = [
            "tcp/127.0.0.1:7447",
            "tcp/10.0.0.5:7447",
            "tls/127.0.0.1:7448",
            "udp/10.0.0.5:7447",
        ]
        .map(str::to_owned)
        .to_vec();
        assert_eq!(
            to_tls_endpoints(&endpoints),
            vec![
                "tcp/127.0.0.1:7447",
                "tls/10.0.0.5:7447",
                "tls/127.0.0.1:7448",
                "udp/10.0.0.5:7447"
            ]
        );
    }

    #[test]
    fn loopback_endpoints_are_recognized() {
        assert!(is_loopback_endpoint("tcp/127.0.0.1:7447"));
        assert!(is_loopback_endpoint("tcp/localhost:7447"));
        assert!(!is_loopback_endpoint("tcp/10.0.0.1:7447"));
    }
}
