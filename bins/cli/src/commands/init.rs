//! `kioku-mesh init`: write the configuration of a deployment shape.

use std::path::Path;

use anyhow::{Context, Result};
use mesh_core::daemon_config::{self, MeshRole};
use mesh_core::{BackendMode, Settings, config, pki};

use super::{FAILED, OK, USAGE};
use crate::args::{InitArgs, InitMode};
use crate::output;
use crate::setup::systemd;

pub fn run(a: &InitArgs, settings: &Settings) -> Result<u8> {
    match a.mode {
        InitMode::Local => local(a, settings),
        InitMode::Hub => mesh(a, settings, MeshRole::Hub),
        InitMode::Spoke => mesh(a, settings, MeshRole::Spoke),
    }
}

fn mesh(a: &InitArgs, settings: &Settings, role: MeshRole) -> Result<u8> {
    if a.listen.is_empty() {
        output::note(format!(
            "error: --listen required for --mode {} (for example --listen 127.0.0.1 --listen <this-host-lan-ip>).",
            role.as_str()
        ));
        return Ok(USAGE);
    }
    let mut listen = daemon_config::normalize_endpoints(&a.listen)?;
    let mut connect = daemon_config::normalize_endpoints(&a.connect)?;
    match role {
        MeshRole::Spoke if connect.is_empty() => {
            output::note("error: --connect required for --mode spoke (the hub endpoint to dial).");
            return Ok(USAGE);
        }
        MeshRole::Hub if !connect.is_empty() => {
            output::note("error: --connect is not used with --mode hub (hubs only listen).");
            return Ok(USAGE);
        }
        _ => {}
    }
    if !listen
        .iter()
        .any(|e| daemon_config::is_loopback_endpoint(e))
    {
        output::note(
            "note: 127.0.0.1 is not in --listen; local MCP clients will need ZENOH_CONNECT pointed at one of \
             the listed endpoints.",
        );
    }
    let tls = if a.tls {
        match tls_links(settings, &mut listen, &mut connect) {
            Ok(links) => Some(links),
            Err(message) => {
                output::note(format!("error: {message}"));
                return Ok(USAGE);
            }
        }
    } else {
        None
    };
    let scopes = daemon_config::declared_scopes(settings)?;
    let body = daemon_config::render_daemon_config(role, &listen, &connect, &scopes, tls.as_ref());
    // `--out ""` is the reference's spelling of "the default path".
    let out = a.out.as_deref().filter(|p| !p.as_os_str().is_empty());
    let config_path = out.map_or_else(|| settings.paths.daemon_config_file(), Path::to_path_buf);
    let unit_path = systemd::unit_path(&settings.paths.config_dir);
    let unit = if a.install_systemd {
        // systemd needs an absolute path; `--out` may be relative.
        let absolute = std::path::absolute(&config_path)?;
        let exe = std::env::current_exe()?;
        Some(systemd::unit(&exe, &absolute, out.is_some()))
    } else {
        None
    };

    if a.to_stdout {
        output::line(body.trim_end());
        if let Some(unit) = &unit {
            output::line(format!(
                "\n# --- systemd unit ({}) ---",
                unit_path.display()
            ));
            output::line(unit.trim_end());
        }
        return Ok(OK);
    }

    if config_path.is_dir() {
        output::note(format!(
            "error: {} is a directory; give --out the path of a file to write.",
            config_path.display()
        ));
        return Ok(USAGE);
    }
    // Adding the unit to an existing configuration keeps that configuration.
    let reuse = config_path.exists() && !a.force && a.install_systemd;
    if config_path.exists() && !a.force && !reuse {
        output::note(format!(
            "error: {} already exists. Use --force to overwrite.",
            config_path.display()
        ));
        return Ok(FAILED);
    }
    if a.install_systemd && unit_path.exists() && !a.force {
        output::note(format!(
            "error: {} already exists. Use --force to overwrite.",
            unit_path.display()
        ));
        return Ok(FAILED);
    }
    if reuse {
        output::line(format!(
            "using existing config {} (unchanged)",
            config_path.display()
        ));
    } else {
        if out.is_some() {
            if let Some(dir) = config_path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create the directory {}", dir.display()))?;
            }
        } else {
            settings.paths.ensure_config_dir()?;
        }
        config::write_atomically(&config_path, body.as_bytes())?;
        output::line(format!("wrote {}", config_path.display()));
    }
    // Like the reference, `--out` writes only that file (a config for a
    // service or another host); config.yaml is left as it is.
    if out.is_none() {
        let written = config::write_backend(&settings.paths, BackendMode::Zenoh)?;
        output::line(format!("wrote {} (backend: zenoh)", written.display()));
    }
    if let Some(unit) = unit {
        if let Some(dir) = unit_path.parent() {
            mesh_core::paths::create_dir(dir, "systemd unit", "XDG_CONFIG_HOME")?;
        }
        config::write_atomically(&unit_path, unit.as_bytes())?;
        output::line(format!("wrote {}", unit_path.display()));
        output::line(
            "enable: systemctl --user daemon-reload && systemctl --user enable --now kioku-mesh",
        );
    } else if out.is_some() {
        output::line(format!(
            "next: kioku-mesh serve --config {}   (or re-run with --install-systemd to run it as a user service)",
            config_path.display()
        ));
    } else {
        output::line(
            "next: kioku-mesh serve   (or re-run with --install-systemd to run it as a user service)",
        );
    }
    if out.is_some() && settings.backend != BackendMode::Zenoh {
        output::line(format!(
            "also: set `backend: zenoh` in {} (or KIOKU_MESH_BACKEND=zenoh) for this host's CLI and MCP server to use the daemon",
            settings.paths.config_file().display()
        ));
    }
    match role {
        MeshRole::Hub => {
            let host = listen
                .iter()
                .filter_map(|e| e.split_once('/').map(|(_, a)| a))
                .filter_map(|a| a.rsplit_once(':').map(|(h, _)| h))
                .find(|h| !h.starts_with("127.") && *h != "0.0.0.0" && *h != "localhost")
                .unwrap_or("<this-host-ip>");
            output::line(format!(
                "on each spoke: kioku-mesh init --mode spoke --listen 127.0.0.1 --connect {host}:{}{}",
                daemon_config::ROUTER_PORT,
                if tls.is_some() { " --tls" } else { "" }
            ));
            output::line(format!(
                "firewall: allow TCP {} from the spokes to this host.",
                daemon_config::ROUTER_PORT
            ));
        }
        MeshRole::Spoke => {
            output::line(
                "then: kioku-mesh status   (shows zenoh_session: connected once serve is running; \
                 memories already on the hub appear within seconds)",
            );
        }
    }
    Ok(OK)
}

/// `--tls`: links that leave the host become `tls/`, and this host's store
/// must hold a CA certificate and an unexpired certificate, signed by it,
/// for this host's key. Checked before anything is written.
fn tls_links(
    settings: &Settings,
    listen: &mut Vec<String>,
    connect: &mut Vec<String>,
) -> Result<daemon_config::TlsLinks, String> {
    *listen = daemon_config::to_tls_endpoints(listen);
    *connect = daemon_config::to_tls_endpoints(connect);
    let udp: Vec<&String> = listen
        .iter()
        .chain(connect.iter())
        .filter(|e| e.starts_with("udp/") && !daemon_config::is_loopback_endpoint(e))
        .collect();
    if !udp.is_empty() {
        return Err(format!(
            "--tls cannot secure cross-host UDP endpoints (mTLS rides on TCP). Use tcp/ for these, or drop --tls:\n  {}",
            udp.iter()
                .map(|e| e.as_str())
                .collect::<Vec<_>>()
                .join("\n  ")
        ));
    }
    let files = pki::TlsFiles::from_paths(&settings.paths);
    pki::ready::check_peer_ready(&files, chrono::Utc::now()).map_err(|e| e.to_string())?;
    if !listen
        .iter()
        .any(|e| e.starts_with("tcp/") && daemon_config::is_loopback_endpoint(e))
    {
        output::note(
            "warning: --tls with no plain loopback listen endpoint. Local save / search / MCP clients connect \
             over tcp/127.0.0.1 without a certificate and cannot reach a TLS-only daemon. Add \
             `--listen 127.0.0.1` so the local hop stays reachable; only cross-host links are encrypted.",
        );
    }
    Ok(daemon_config::TlsLinks::from_files(&files))
}

fn local(a: &InitArgs, settings: &Settings) -> Result<u8> {
    if a.tls {
        output::note("error: --tls applies only to --mode hub / spoke.");
        return Ok(USAGE);
    }
    if a.out.as_ref().is_some_and(|p| !p.as_os_str().is_empty()) {
        output::note(
            "error: --out applies only to --mode hub / spoke (local mode writes config.yaml, which has a fixed place).",
        );
        return Ok(USAGE);
    }
    let path = settings.paths.config_file();
    if path.exists() && !a.force {
        output::note(format!(
            "error: {} already exists. Use --force to overwrite.",
            path.display()
        ));
        return Ok(FAILED);
    }
    if a.to_stdout {
        output::line("backend: local");
        return Ok(OK);
    }
    let written = config::write_backend(&settings.paths, BackendMode::Local)?;
    output::line(format!("wrote {}", written.display()));
    output::line("local backend ready — no daemon required.");
    output::line("next: kioku-mesh save \"hello local\" --subject hello --summary \"first note\"");
    output::line(
        "scale up: for a multi-host mesh, run `kioku-mesh init --mode hub --force` (see README, Multi-host).",
    );
    Ok(OK)
}

pub fn render_storages(settings: &Settings) -> Result<u8> {
    let scopes = mesh_core::daemon_config::declared_scopes(settings)?;
    output::line(format!(
        "// storage_manager storages for {} (paste under plugins.storage_manager)\n      {}",
        scopes
            .iter()
            .map(|s| s.label())
            .collect::<Vec<_>>()
            .join(", "),
        mesh_core::daemon_config::render_storages(&scopes)
    ));
    Ok(OK)
}
