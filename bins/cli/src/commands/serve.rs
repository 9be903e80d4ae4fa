//! `kioku-mesh serve` and the try-out `mesh start` / `mesh join`: the
//! per-host daemon. Starts the router with its storages, then keeps the
//! index current until SIGTERM or SIGINT.

use anyhow::{Context, Result};
use mesh_core::access;
use mesh_core::daemon::{Daemon, DaemonExit};
use mesh_core::daemon_config::{self, MeshRole};
use mesh_core::pki::TlsFiles;
use mesh_core::pki::policy::{self, Policy, SignedPolicy};
use mesh_core::session::DaemonConfig;
use mesh_core::{Environment, Settings};

use super::{FAILED, OK, USAGE};
use crate::args::{MeshJoinArgs, MeshStartArgs, ServeArgs};
use crate::output;

/// The daemon with the configured (or default) endpoints.
pub async fn serve(a: &ServeArgs, env: Environment, settings: Settings) -> Result<u8> {
    let scopes = daemon_config::declared_scopes(&settings)?;
    let mut config = match &a.config {
        Some(path) => match explicit_config(path, &scopes) {
            Ok(config) => config,
            Err(message) => {
                output::note(format!("error: {message}"));
                return Ok(USAGE);
            }
        },
        None => DaemonConfig::load(&settings.paths.daemon_config_file(), &scopes)?,
    };
    if !a.listen.is_empty() {
        config.set_listen(&daemon_config::normalize_endpoints(&a.listen)?)?;
    }
    if !a.connect.is_empty() {
        config.set_connect(&daemon_config::normalize_endpoints(&a.connect)?)?;
    }
    run_daemon(config, env, settings).await
}

/// `serve --config PATH`: the file must be there and parse; a path the user
/// named never falls back to the built-in configuration.
fn explicit_config(
    path: &std::path::Path,
    scopes: &[daemon_config::StorageScope],
) -> Result<DaemonConfig, String> {
    let fix = |force: &str| {
        format!(
            "write one with `kioku-mesh init --mode hub|spoke --out {}{force}`",
            path.display()
        )
    };
    let text = std::fs::read_to_string(path).map_err(|e| {
        let problem = if e.kind() == std::io::ErrorKind::NotFound {
            "no such file".to_owned()
        } else {
            format!("cannot read it ({e})")
        };
        format!("--config {}: {problem}; {}", path.display(), fix(""))
    })?;
    let yaml = path
        .extension()
        .is_some_and(|x| x.eq_ignore_ascii_case("yaml") || x.eq_ignore_ascii_case("yml"));
    // init writes JSON5 whatever the name; zenohd's YAML form is read by name.
    let parsed = if yaml {
        DaemonConfig::load(path, scopes)
    } else {
        DaemonConfig::from_json5(&text)
    };
    let mut config = parsed.map_err(|e| {
        let reason = match e {
            mesh_core::CoreError::DaemonConfig { message, .. } => message,
            other => other.to_string(),
        };
        format!(
            "--config {}: not a daemon configuration ({reason}); fix it, or {}",
            path.display(),
            fix(" --force")
        )
    })?;
    config.source = Some(path.to_owned());
    Ok(config)
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
        None,
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
        None,
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

async fn run_daemon(mut config: DaemonConfig, env: Environment, settings: Settings) -> Result<u8> {
    // Registered before anything listens, so that a SIGTERM during start-up
    // is a clean shutdown too, not the default kill.
    let mut signals = Signals::register()?;
    let missing: Vec<String> = config
        .tls_files()
        .into_iter()
        .filter(|p| !p.is_file())
        .map(|p| p.display().to_string())
        .collect();
    if !missing.is_empty() {
        output::note(format!(
            "error: the daemon configuration uses TLS links but these files are missing:\n  {}\n\
             Restore them, or provision this host again (`kioku-mesh tls request --san <addr>` -> \
             `tls sign` on the CA host -> `kioku-mesh tls install`) and re-run \
             `kioku-mesh init --mode hub|spoke --tls ... --force`.",
            missing.join("\n  ")
        ));
        return Ok(USAGE);
    }
    let enforced = match access_control(&mut config, &settings) {
        Ok(enforced) => enforced,
        Err(message) => {
            output::note(format!("error: {message}"));
            return Ok(USAGE);
        }
    };
    let listen = config.listen_endpoints();
    let connect = config.connect_endpoints();
    let source = config.source.as_ref().map_or_else(
        || "built-in configuration".to_owned(),
        |p| p.display().to_string(),
    );
    let storages = config.storage_key_exprs();
    let config_uses_tls = !config.tls_files().is_empty();

    let mut daemon = Daemon::start(config).await?;
    if let Err(e) = mesh_memory::mesh::serve_index(&mut daemon, &settings, &env).await {
        daemon.close().await;
        return Err(anyhow::Error::new(e).context("cannot open the index"));
    }
    // Announced once the index is open too, so that the line means ready.
    output::note(format!(
        "kioku-mesh serve: router {} listening on {} (config: {source})",
        daemon.zid(),
        listen.join(", ")
    ));
    if !connect.is_empty() {
        output::note(format!("  dialing {}", connect.join(", ")));
    }
    output::note(format!("  storages: {}", storages.join(", ")));
    if let Some(enforced) = &enforced {
        output::note(format!("  {}", enforced.summary));
    }
    if config_uses_tls {
        let files = TlsFiles::from_paths(&settings.paths);
        let stop = daemon.stop_signal();
        let reload = daemon.reload_handle();
        let session = daemon.session().clone();
        let in_force = enforced.map(|e| e.in_force);
        daemon.spawn_service("policy watcher", async move {
            mesh_core::policy_sync::run(session, files, in_force, reload, stop).await
        });
    }

    let exit = daemon
        .run_until(async {
            let signal = signals.next().await;
            output::note(format!("kioku-mesh serve: {signal}, shutting down"));
        })
        .await;
    Ok(match exit {
        DaemonExit::Stopped => OK,
        DaemonExit::Reload { reason } => {
            output::note(format!(
                "kioku-mesh serve: {reason}; restarting to apply it"
            ));
            return restart();
        }
        DaemonExit::ServiceFailed { service, error } => {
            output::note(format!("error: the {service} failed: {error}"));
            FAILED
        }
    })
}

/// The admission policy in force, applied to a configuration.
struct Enforced {
    in_force: (SignedPolicy, Policy),
    summary: String,
}

/// With TLS links and a signed admission policy on this host, make the
/// router enforce it. `Ok(None)` when there is nothing to enforce (plain
/// TCP, or no policy yet: the policy watcher fetches one from the mesh).
fn access_control(
    config: &mut DaemonConfig,
    settings: &Settings,
) -> Result<Option<Enforced>, String> {
    if config.tls_files().is_empty() {
        return Ok(None);
    }
    let files = TlsFiles::from_paths(&settings.paths);
    let Some((signed, policy)) = policy::load(&files).map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    let open = access::open_listeners(&config.listen_endpoints());
    if !open.is_empty() {
        return Err(format!(
            "the admission policy is enforced on TLS links, but {} accepts plain TCP from other \
             hosts; listen on tls/ (or on 127.0.0.1 for this host's clients) instead",
            open.join(", ")
        ));
    }
    let own_cn = std::fs::read_to_string(files.peer_cert())
        .ok()
        .and_then(|pem| mesh_core::pki::inspect::inspect_cert(&pem).ok())
        .and_then(|info| info.common_name);
    let acl = access::access_control(&policy, own_cn.as_deref());
    config.set_access_control(&acl).map_err(|e| e.to_string())?;
    let held = own_cn
        .as_deref()
        .and_then(|cn| policy.scopes_of(cn))
        .map(|scopes| {
            scopes
                .iter()
                .map(|s| s.label())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_else(|| "nothing (not admitted)".to_owned());
    let summary = format!(
        "access control: policy version {}, this host ({}) holds {held}",
        policy.version,
        own_cn.as_deref().unwrap_or("no certificate")
    );
    Ok(Some(Enforced {
        in_force: (signed, policy),
        summary,
    }))
}

/// Start this daemon again in place (same process id, arguments and
/// environment): Zenoh applies access control only when a router starts,
/// and a fresh process also releases every storage's files first.
fn restart() -> Result<u8> {
    use std::os::unix::process::CommandExt;
    let exe = std::env::current_exe().context("cannot find this executable to restart")?;
    let error = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .exec();
    Err(anyhow::anyhow!("cannot restart the daemon: {error}"))
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
