//! `kioku-mesh init`: write the configuration of a deployment shape.

use anyhow::Result;
use mesh_core::{BackendMode, Settings, config};

use super::{FAILED, OK, USAGE};
use crate::args::{InitArgs, InitMode};
use crate::output;

pub fn run(a: &InitArgs, settings: &Settings) -> Result<u8> {
    match a.mode {
        InitMode::Local => local(a, settings),
        InitMode::Hub | InitMode::Spoke => {
            output::note(
                "error: --mode hub / spoke needs the mesh backend, which this build does not include yet; \
                 use --mode local",
            );
            Ok(USAGE)
        }
    }
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
