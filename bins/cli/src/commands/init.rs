//! `kioku-mesh init`: write the configuration of a deployment shape.

use anyhow::Result;
use mesh_core::daemon_config::{self, MeshRole};
use mesh_core::{BackendMode, Settings, config};

use super::{FAILED, OK, USAGE};
use crate::args::{InitArgs, InitMode};
use crate::output;

pub fn run(a: &InitArgs, settings: &Settings) -> Result<u8> {
    match a.mode {
        InitMode::Local => local(a, settings),
        InitMode::Hub => mesh(a, settings, MeshRole::Hub),
        InitMode::Spoke => mesh(a, settings, MeshRole::Spoke),
    }
}

fn mesh(a: &InitArgs, settings: &Settings, role: MeshRole) -> Result<u8> {
    if a.tls {
        output::note(
            "error: --tls is not available in this version; omit it (links are plain TCP).",
        );
        return Ok(USAGE);
    }
    if a.listen.is_empty() {
        output::note(format!(
            "error: --listen required for --mode {} (for example --listen 127.0.0.1 --listen <this-host-lan-ip>).",
            role.as_str()
        ));
        return Ok(USAGE);
    }
    let listen = daemon_config::normalize_endpoints(&a.listen)?;
    let connect = daemon_config::normalize_endpoints(&a.connect)?;
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
    let scopes = daemon_config::declared_scopes(settings)?;
    let body = daemon_config::render_daemon_config(role, &listen, &connect, &scopes);
    let config_path = settings.paths.daemon_config_file();
    let unit_path = systemd_unit_path(settings);
    let unit = if a.install_systemd {
        Some(systemd_unit(&config_path)?)
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
        settings.paths.ensure_config_dir()?;
        config::write_atomically(&config_path, body.as_bytes())?;
        output::line(format!("wrote {}", config_path.display()));
    }
    let written = config::write_backend(&settings.paths, BackendMode::Zenoh)?;
    output::line(format!("wrote {} (backend: zenoh)", written.display()));
    if let Some(unit) = unit {
        if let Some(dir) = unit_path.parent() {
            mesh_core::paths::create_dir(dir, "systemd unit", "XDG_CONFIG_HOME")?;
        }
        config::write_atomically(&unit_path, unit.as_bytes())?;
        output::line(format!("wrote {}", unit_path.display()));
        output::line(
            "enable: systemctl --user daemon-reload && systemctl --user enable --now kioku-mesh",
        );
    } else {
        output::line(
            "next: kioku-mesh serve   (or re-run with --install-systemd to run it as a user service)",
        );
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
                "on each spoke: kioku-mesh init --mode spoke --listen 127.0.0.1 --connect {host}:{}",
                daemon_config::ROUTER_PORT
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

fn systemd_unit_path(settings: &Settings) -> std::path::PathBuf {
    // The config dir is <XDG_CONFIG_HOME>/kioku-mesh; units live beside it.
    let base = settings.paths.config_dir.parent().map_or_else(
        || settings.paths.config_dir.clone(),
        std::path::Path::to_path_buf,
    );
    base.join("systemd").join("user").join("kioku-mesh.service")
}

fn systemd_unit(config_path: &std::path::Path) -> Result<String> {
    let exe = std::env::current_exe()?;
    let quote = |p: &std::path::Path| {
        format!(
            "\"{}\"",
            p.display()
                .to_string()
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
        )
    };
    Ok(format!(
        "# Written by `kioku-mesh init --install-systemd`. Safe to edit; re-running
# with --force overwrites this file.
[Unit]
Description=kioku-mesh daemon (Zenoh router, storages, index keeper)
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
ExecStart={} serve
Restart=on-failure
RestartSec=5s
# The daemon reads {} and keeps its state in ~/.local/share/kioku-mesh.

[Install]
WantedBy=default.target
",
        quote(&exe),
        config_path.display()
    ))
}

fn local(a: &InitArgs, settings: &Settings) -> Result<u8> {
    if a.tls {
        output::note("error: --tls applies only to --mode hub / spoke.");
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
