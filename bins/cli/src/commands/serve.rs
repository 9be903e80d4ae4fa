//! `kioku-mesh serve` and the try-out `mesh start` / `mesh join`: the
//! per-host daemon. Starts the router with its storages, then keeps the
//! index current until SIGTERM or SIGINT.

use std::path::PathBuf;

use anyhow::{Context, Result};
use mesh_core::daemon_config::{self, MeshRole};
use mesh_core::session::{self, DaemonConfig};
use mesh_core::{Environment, Settings};
use mesh_memory::MemoryStore;
use mesh_memory::mesh::{KeeperOptions, MeshOptions, MeshStore, keeper};
use tokio::sync::watch;

use super::{FAILED, OK};
use crate::args::{MeshJoinArgs, MeshStartArgs, ServeArgs};
use crate::output;

/// The daemon with the configured (or default) endpoints.
pub async fn serve(a: &ServeArgs, env: Environment, settings: Settings) -> Result<u8> {
    let scopes = daemon_config::declared_scopes(&settings)?;
    let mut config = DaemonConfig::load(&settings.paths.daemon_config_file(), &scopes)?;
    if !a.listen.is_empty() {
        config.set_listen(&daemon_config::normalize_endpoints(&a.listen)?)?;
    }
    if !a.connect.is_empty() {
        config.set_connect(&daemon_config::normalize_endpoints(&a.connect)?)?;
    }
    run_daemon(config, env, settings).await
}

/// `mesh start`: a router on all interfaces with storage, no configuration.
pub async fn mesh_start(a: &MeshStartArgs, env: Environment, settings: Settings) -> Result<u8> {
    let listen = daemon_config::normalize_endpoint(&a.listen)?;
    let scopes = daemon_config::declared_scopes(&settings)?;
    let text = daemon_config::render_daemon_config(
        MeshRole::Hub,
        std::slice::from_ref(&listen),
        &[],
        &scopes,
    );
    let config = DaemonConfig::from_json5(&text)?;
    let local = listen.replace("0.0.0.0", "127.0.0.1");
    output::line(format!("Router listening on {listen}."));
    output::line(format!(
        "  from this host:   ZENOH_CONNECT={local} KIOKU_MESH_BACKEND=zenoh kioku-mesh save ..."
    ));
    output::line(format!(
        "  from other hosts: kioku-mesh mesh join <this-host-ip>:{}",
        port_of(&listen).unwrap_or(daemon_config::TRYOUT_PORT)
    ));
    output::line("Press Ctrl-C to stop.");
    run_daemon(config, env, settings).await
}

/// `mesh join`: a router that dials `peer`, with its own storage, listening
/// locally for this host's CLI and MCP server.
pub async fn mesh_join(a: &MeshJoinArgs, env: Environment, settings: Settings) -> Result<u8> {
    let peer = match daemon_config::normalize_endpoint(&a.peer)? {
        // A bare host means the try-out port here, not the daemon port.
        p if !a.peer.contains(':') && !a.peer.contains('/') => p.replace(
            &format!(":{}", daemon_config::ROUTER_PORT),
            &format!(":{}", daemon_config::TRYOUT_PORT),
        ),
        p => p,
    };
    let listen = daemon_config::normalize_endpoint(&a.listen)?;
    let scopes = daemon_config::declared_scopes(&settings)?;
    let text = daemon_config::render_daemon_config(
        MeshRole::Spoke,
        std::slice::from_ref(&listen),
        std::slice::from_ref(&peer),
        &scopes,
    );
    let config = DaemonConfig::from_json5(&text)?;
    output::line(format!("Joining {peer}; local endpoint {listen}."));
    output::line(format!(
        "  in another terminal: ZENOH_CONNECT={listen} KIOKU_MESH_BACKEND=zenoh kioku-mesh save ..."
    ));
    output::line("Press Ctrl-C to stop.");
    run_daemon(config, env, settings).await
}

fn port_of(endpoint: &str) -> Option<u16> {
    endpoint.rsplit(':').next()?.parse().ok()
}

/// Where the RocksDB backend library may be: beside the executable (an
/// installed archive), in `deps/` beside it (a cargo build), or in a
/// `lib/kioku-mesh` directory next to `bin/`.
fn backend_dirs() -> Vec<PathBuf> {
    let Ok(exe) = std::env::current_exe() else {
        return Vec::new();
    };
    let Some(dir) = exe.parent() else {
        return Vec::new();
    };
    let mut dirs = vec![dir.to_path_buf(), dir.join("deps")];
    if let Some(prefix) = dir.parent() {
        dirs.push(prefix.join("lib").join("kioku-mesh"));
    }
    dirs
}

async fn run_daemon(config: DaemonConfig, env: Environment, settings: Settings) -> Result<u8> {
    // Registered before anything listens, so that a SIGTERM during start-up
    // is a clean shutdown too, not the default kill.
    let mut signals = Signals::register()?;
    let keeper_options = KeeperOptions::from_env(&env)?;
    let mesh_options = MeshOptions::from_settings(&settings, &env)?;
    let listen = config.listen_endpoints();
    let connect = config.connect_endpoints();
    let source = config.source.as_ref().map_or_else(
        || "built-in configuration".to_owned(),
        |p| p.display().to_string(),
    );
    let storages = config.storage_key_exprs();

    let dirs = backend_dirs();
    let library = session::find_backend_library(&dirs).with_context(|| {
        format!(
            "the RocksDB backend library {} is not beside this executable (looked in {}); \
             install kioku-mesh from its release archive, which carries it",
            session::BACKEND_LIBRARY,
            dirs.iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )
    })?;
    tracing::debug!("RocksDB backend: {}", library.display());
    let session = session::start_router(config, &library).await?;
    let store = match MeshStore::with_session(mesh_options, session.clone()).await {
        Ok(store) => store,
        Err(e) => {
            // Close the router first: dropping it mid-flight makes Zenoh
            // warn about its runtime on the way out.
            let _ = session.close().await;
            return Err(anyhow::Error::new(e).context("cannot open the index"));
        }
    };
    // Announced once the index is open too, so that the line means ready.
    output::note(format!(
        "kioku-mesh serve: router {} listening on {} (config: {source})",
        session.zid(),
        listen.join(", ")
    ));
    if !connect.is_empty() {
        output::note(format!("  dialing {}", connect.join(", ")));
    }
    output::note(format!("  storages: {}", storages.join(", ")));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut keeper = tokio::spawn(keeper::run(
        store.clone(),
        session.clone(),
        keeper_options,
        stop_rx,
    ));

    let finished = tokio::select! {
        signal = signals.next() => {
            output::note(format!("kioku-mesh serve: {signal}, shutting down"));
            let _ = stop_tx.send(true);
            keeper.await
        }
        result = &mut keeper => result,
    };
    let code = match finished {
        Ok(Ok(())) => OK,
        Ok(Err(e)) => {
            output::note(format!("error: the index keeper failed: {e}"));
            FAILED
        }
        Err(e) => {
            output::note(format!("error: the index keeper stopped: {e}"));
            FAILED
        }
    };
    store.close().await;
    if let Err(e) = session.close().await {
        tracing::debug!("closing the router: {e}");
    }
    Ok(code)
}

struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn register() -> Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            term: signal(SignalKind::terminate()).context("cannot watch SIGTERM")?,
            int: signal(SignalKind::interrupt()).context("cannot watch SIGINT")?,
        })
    }

    async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        }
    }
}
