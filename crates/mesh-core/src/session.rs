//! Zenoh sessions: the daemon's router, which embeds Zenoh's storage manager
//! with the RocksDB backend, and the client sessions that the CLI and the
//! MCP server open to it.
//!
//! The storage manager is linked in as a static plugin; the RocksDB backend
//! is the shared library the storage manager loads by name
//! (`libzenoh_backend_rocksdb.so`), found beside our executable. Both are
//! Zenoh's published crates, unchanged. See docs/adr/0006.

use std::path::{Path, PathBuf};
use std::time::Duration;

use zenoh::Config;

use crate::daemon_config::{self, DEFAULT_CONNECT, DEFAULT_LISTEN, MeshRole, StorageScope};
use crate::environment::Environment;
use crate::error::{CoreError, Result};

/// Environment variable naming the routers a client dials.
pub const CONNECT_ENV: &str = "ZENOH_CONNECT";
/// Environment variable the RocksDB backend reads its data root from.
pub const ROCKSDB_ROOT_ENV: &str = "ZENOH_BACKEND_ROCKSDB_ROOT";

/// The Zenoh session type, re-exported so dependants name one version.
pub use zenoh::Session;

/// The daemon's configuration together with where it came from.
#[derive(Debug)]
pub struct DaemonConfig {
    config: Config,
    /// The file it was read from, or `None` for the built-in default.
    pub source: Option<PathBuf>,
}

impl DaemonConfig {
    /// Read `path` when it exists; otherwise the built-in configuration: a
    /// router on [`DEFAULT_LISTEN`] storing `scopes`.
    pub fn load(path: &Path, scopes: &[StorageScope]) -> Result<Self> {
        if path.exists() {
            let config = Config::from_file(path).map_err(|e| CoreError::DaemonConfig {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
            return Ok(Self {
                config,
                source: Some(path.to_owned()),
            });
        }
        let text = daemon_config::render_daemon_config(
            MeshRole::Hub,
            &[DEFAULT_LISTEN.to_owned()],
            &[],
            scopes,
            None,
        );
        Self::from_json5(&text)
    }

    /// Parse a configuration document (zenohd's JSON5 format).
    pub fn from_json5(text: &str) -> Result<Self> {
        let config = Config::from_json5(text).map_err(|e| CoreError::DaemonConfig {
            path: "built-in configuration".to_owned(),
            message: e.to_string(),
        })?;
        Ok(Self {
            config,
            source: None,
        })
    }

    /// Replace the listen endpoints (`serve --listen`).
    pub fn set_listen(&mut self, endpoints: &[String]) -> Result<()> {
        self.insert("listen/endpoints", &json_list(endpoints))
    }

    /// Replace the connect endpoints (`serve --connect`).
    pub fn set_connect(&mut self, endpoints: &[String]) -> Result<()> {
        self.insert("connect/endpoints", &json_list(endpoints))
    }

    /// Enforce `access_control` (an `access_control` block, see
    /// [`crate::access::access_control`]).
    pub fn set_access_control(&mut self, access_control: &serde_json::Value) -> Result<()> {
        self.insert("access_control", &access_control.to_string())
    }

    /// The key expressions of the storages this configuration declares.
    pub fn storage_key_exprs(&self) -> Vec<String> {
        let Ok(text) = self.config.get_json("plugins/storage_manager/storages") else {
            return Vec::new();
        };
        let Ok(serde_json::Value::Object(storages)) = serde_json::from_str(&text) else {
            return Vec::new();
        };
        storages
            .values()
            .filter_map(|s| s.get("key_expr")?.as_str().map(str::to_owned))
            .collect()
    }

    /// The listen endpoints.
    pub fn listen_endpoints(&self) -> Vec<String> {
        self.string_list("listen/endpoints")
    }

    /// The connect endpoints.
    pub fn connect_endpoints(&self) -> Vec<String> {
        self.string_list("connect/endpoints")
    }

    /// The certificate and key files the TLS links name (empty when the
    /// configuration sets none), so `serve` can refuse to start without
    /// them rather than listen on links that cannot complete a handshake.
    pub fn tls_files(&self) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = Vec::new();
        for key in [
            "root_ca_certificate",
            "listen_private_key",
            "listen_certificate",
            "connect_private_key",
            "connect_certificate",
        ] {
            let value = self
                .config
                .get_json(&format!("transport/link/tls/{key}"))
                .ok()
                .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok());
            if let Some(path) = value.as_ref().and_then(serde_json::Value::as_str) {
                let path = PathBuf::from(path);
                if !out.contains(&path) {
                    out.push(path);
                }
            }
        }
        out
    }

    fn string_list(&self, key: &str) -> Vec<String> {
        let value = self
            .config
            .get_json(key)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok());
        // Mode-dependent values are objects; list the router's.
        let list = match value {
            Some(serde_json::Value::Object(map)) => map.get("router").cloned(),
            other => other,
        };
        list.and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
            .into_iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect()
    }

    fn insert(&mut self, key: &str, value: &str) -> Result<()> {
        self.config
            .insert_json5(key, value)
            .map_err(|e| CoreError::DaemonConfig {
                path: self.source.as_ref().map_or_else(
                    || "built-in configuration".to_owned(),
                    |p| p.display().to_string(),
                ),
                message: format!("cannot set {key}: {e}"),
            })
    }
}

/// The file name of the RocksDB backend library the storage manager loads.
pub const BACKEND_LIBRARY: &str = "libzenoh_backend_rocksdb.so";

/// Find the RocksDB backend library in `dirs`: its plain name first (an
/// installed archive), else the newest hashed copy cargo leaves in `deps/`.
pub fn find_backend_library(dirs: &[PathBuf]) -> Option<PathBuf> {
    for dir in dirs {
        let plain = dir.join(BACKEND_LIBRARY);
        if plain.is_file() {
            return Some(plain);
        }
    }
    let mut hashed: Vec<(std::time::SystemTime, PathBuf)> = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with("libzenoh_backend_rocksdb-") && name.ends_with(".so") {
                let modified = entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .unwrap_or(std::time::UNIX_EPOCH);
                hashed.push((modified, entry.path()));
            }
        }
    }
    hashed.into_iter().max().map(|(_, path)| path)
}

/// Start the daemon's router with the storage manager, its RocksDB volume
/// loaded from `backend_library`. The backend's data root must already be
/// in [`ROCKSDB_ROOT_ENV`]. Needs a multi-thread tokio runtime.
pub async fn start_router(mut daemon: DaemonConfig, backend_library: &Path) -> Result<Session> {
    use zenoh::internal::plugins::PluginsManager;
    use zenoh::internal::runtime::RuntimeBuilder;

    // Storages refuse samples without timestamps; the daemon is what adds
    // them to client puts.
    daemon.insert("mode", "\"router\"")?;
    daemon.insert(
        "timestamping/enabled",
        "{ router: true, peer: true, client: true }",
    )?;
    daemon.insert("plugins_loading/enabled", "true")?;
    daemon.insert("adminspace/enabled", "true")?;
    daemon.insert(
        &format!(
            "plugins/storage_manager/volumes/{}/__path__",
            daemon_config::ROCKSDB_VOLUME
        ),
        &json_list(&[backend_library.display().to_string()]),
    )?;

    let mut plugins = PluginsManager::static_plugins_only();
    plugins.declare_static_plugin::<zenoh_plugin_storage_manager::StoragesPlugin, &str>(
        "storage_manager",
        true,
    );
    let zenoh_error = |action: &str| {
        let action = action.to_owned();
        move |e: zenoh::Error| CoreError::Zenoh {
            action: action.clone(),
            message: e.to_string(),
            hint: "Check the daemon configuration (`kioku-mesh doctor`) and that no other \
                   daemon holds the same ports, then start `kioku-mesh serve` again",
        }
    };
    let expected = daemon.storage_key_exprs().len();
    let mut runtime = RuntimeBuilder::new(daemon.config)
        .plugins_manager(plugins)
        .build()
        .await
        .map_err(zenoh_error("cannot start the Zenoh router"))?;
    let session = zenoh::session::init(runtime.clone().into())
        .await
        .map_err(zenoh_error("cannot open the daemon's session"))?;
    // Listeners open only once every storage subscribes: a put that arrived
    // earlier would be routed to nobody and lost (writers that do not
    // confirm, such as the reference CLI, would never know).
    let ready = storages_ready(&session, expected, STORAGE_START_TIMEOUT).await;
    if ready < expected {
        tracing::warn!(
            "only {ready} of {expected} storages started within {} s; see the messages above",
            STORAGE_START_TIMEOUT.as_secs()
        );
    }
    runtime.start().await.map_err(zenoh_error(
        "cannot start the Zenoh router (is the port already in use?)",
    ))?;
    Ok(session)
}

/// How long the daemon waits for its storages before listening anyway.
const STORAGE_START_TIMEOUT: Duration = Duration::from_secs(15);

/// Storages of `session`'s own router that answer their status, waiting
/// (bounded) until `expected` do.
async fn storages_ready(session: &Session, expected: usize, timeout: Duration) -> usize {
    let selector = format!(
        "@/{}/router/status/plugins/storage_manager/storages/*",
        session.zid()
    );
    let deadline = tokio::time::Instant::now() + timeout;
    let mut ready = 0;
    loop {
        if let Ok(replies) = session
            .get(selector.as_str())
            .timeout(Duration::from_secs(1))
            .await
        {
            ready = 0;
            while let Ok(reply) = replies.recv_async().await {
                if reply.result().is_ok() {
                    ready += 1;
                }
            }
        }
        if ready >= expected || tokio::time::Instant::now() >= deadline {
            return ready;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The endpoints a client dials: `ZENOH_CONNECT` (comma-separated) or the
/// local daemon.
pub fn client_endpoints(env: &Environment) -> Result<Vec<String>> {
    match env
        .var(CONNECT_ENV)
        .map(str::trim)
        .filter(|v| !v.is_empty())
    {
        Some(value) => {
            let specs: Vec<&str> = value.split(',').filter(|s| !s.trim().is_empty()).collect();
            daemon_config::normalize_endpoints(&specs)
        }
        None => Ok(vec![DEFAULT_CONNECT.to_owned()]),
    }
}

/// Open a client session to `endpoints`. Fails fast (within `timeout`) when
/// no router answers, so that a write can be queued instead.
pub async fn open_client(endpoints: &[String], timeout: Duration) -> Result<Session> {
    let fail = |message: String| CoreError::Zenoh {
        action: format!(
            "cannot reach the kioku-mesh daemon at {}",
            endpoints.join(", ")
        ),
        message,
        hint: "Start the daemon with `kioku-mesh serve` (or check ZENOH_CONNECT)",
    };
    let mut config = Config::default();
    let settings = [
        ("mode", "\"client\"".to_owned()),
        ("connect/endpoints", json_list(endpoints)),
        ("scouting/multicast/enabled", "false".to_owned()),
        ("scouting/gossip/enabled", "false".to_owned()),
        // The CLI exits right after its work; no admin space needed.
        ("adminspace/enabled", "false".to_owned()),
    ];
    for (key, value) in settings {
        config
            .insert_json5(key, &value)
            .map_err(|e| fail(format!("bad client setting {key}: {e}")))?;
    }
    match tokio::time::timeout(timeout, zenoh::open(config)).await {
        Ok(Ok(session)) => Ok(session),
        Ok(Err(e)) => Err(fail(e.to_string())),
        Err(_) => Err(fail(format!("no answer within {} ms", timeout.as_millis()))),
    }
}

fn json_list(items: &[String]) -> String {
    serde_json::Value::from(items.to_vec()).to_string()
}

/// The tokio runtime the binaries run on when Zenoh may be used (mesh
/// mode, the daemon, the MCP server): Zenoh needs a multi-thread one; two
/// workers match what these processes can use.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
}

/// The runtime of a command that never touches Zenoh (local mode): one
/// thread. A command runs for milliseconds; worker threads and the
/// hand-offs between them were a measurable part of that.
pub fn local_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// The runtime of a local-mode store command (save, search and the like):
/// one thread and timers, no I/O driver. Such a command talks only to
/// SQLite's worker thread, which wakes it through a futex; an I/O driver
/// would add its epoll set, eventfd and signal socket at start and a
/// system call to every wake-up. Tokio sockets, processes and signals
/// panic on this runtime, so nothing that uses them may run on it.
pub fn store_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendered_configs_are_valid_zenoh_configs() {
        let scopes = [
            StorageScope::mesh(),
            StorageScope::parse("user/alice").unwrap(),
        ];
        for (role, connect) in [
            (MeshRole::Hub, vec![]),
            (MeshRole::Spoke, vec!["tcp/10.0.0.1:7447".to_owned()]),
        ] {
            let text = daemon_config::render_daemon_config(
                role,
                &[
                    "tcp/127.0.0.1:7447".to_owned(),
                    "tcp/0.0.0.0:7447".to_owned(),
                ],
                &connect,
                &scopes,
                None,
            );
            let config = DaemonConfig::from_json5(&text).unwrap();
            // Memory and messages, per scope.
            assert_eq!(config.storage_key_exprs().len(), 4, "storages of\n{text}");
            assert!(
                config
                    .storage_key_exprs()
                    .contains(&"mem/user/alice/**".to_owned())
            );
            assert_eq!(config.listen_endpoints().len(), 2);
            assert_eq!(config.connect_endpoints(), connect);
            assert!(config.tls_files().is_empty());
        }
    }

    #[test]
    fn a_tls_config_is_a_valid_zenoh_config_naming_its_files() {
        let links = daemon_config::TlsLinks {
            ca_cert: "/c/tls/ca.crt".into(),
            key: "/c/tls/peer.key".into(),
            cert: "/c/tls/peer.crt".into(),
        };
        let text = daemon_config::render_daemon_config(
            MeshRole::Spoke,
            &["tcp/127.0.0.1:7447".to_owned()],
            &["tls/10.0.0.1:7447".to_owned()],
            &[StorageScope::mesh()],
            Some(&links),
        );
        // Zenoh rejects unknown keys, so parsing checks the key names.
        let config = DaemonConfig::from_json5(&text).unwrap();
        assert_eq!(
            config.tls_files(),
            vec![links.ca_cert.clone(), links.key.clone(), links.cert.clone()]
        );
        let get = |key: &str| config.config.get_json(key).unwrap();
        assert_eq!(get("transport/link/tls/enable_mtls"), "true");
        assert_eq!(get("transport/link/tls/verify_name_on_connect"), "true");
        assert_eq!(get("transport/link/tls/close_link_on_expiration"), "true");
        assert_eq!(get("scouting/gossip/enabled"), "false");
        assert_eq!(get("scouting/multicast/enabled"), "false");
    }

    #[test]
    fn client_endpoints_come_from_the_environment() {
        let env =
            Environment::empty("/", None).with_var("ZENOH_CONNECT", "10.0.0.1, tcp/10.0.0.2:7000");
        assert_eq!(
            client_endpoints(&env).unwrap(),
            vec!["tcp/10.0.0.1:7447", "tcp/10.0.0.2:7000"]
        );
        let env = Environment::empty("/", None);
        assert_eq!(client_endpoints(&env).unwrap(), vec![DEFAULT_CONNECT]);
    }
}
