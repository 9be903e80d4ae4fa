//! `kioku-mesh mcp install --client <client>`: register the MCP server, or
//! with `--repair` rename the retired identity keys of a registration.

use std::path::PathBuf;

use mesh_core::Environment;

use super::{FAILED, OK, USAGE};
use crate::args::{ClientArg, McpInstallArgs};
use crate::output;
use crate::setup::codex_hooks;
use crate::setup::hooks;
use crate::setup::mcp_clients::{self, McpClient, Outcome};
use crate::setup::repair::{self, Repair};
use crate::setup::{Result, SetupError};

/// Run the command, printing its errors here: the set-up errors carry their
/// own exit status.
pub fn run(a: &McpInstallArgs, env: &Environment) -> anyhow::Result<u8> {
    let client = match a.client {
        ClientArg::ClaudeCode => McpClient::ClaudeCode,
        ClientArg::CodexCli => McpClient::CodexCli,
        ClientArg::GeminiCli => McpClient::GeminiCli,
        ClientArg::ClaudeDesktop => McpClient::ClaudeDesktop,
    };
    let result = if a.repair {
        run_repair(client, a, env)
    } else {
        install(client, a, env)
    };
    Ok(result.unwrap_or_else(|e: SetupError| {
        output::note(format!("error: {e}"));
        if e.is_usage() { USAGE } else { FAILED }
    }))
}

fn install(client: McpClient, a: &McpInstallArgs, env: &Environment) -> Result<u8> {
    if a.with_hooks && !matches!(client, McpClient::ClaudeCode | McpClient::CodexCli) {
        output::note(format!(
            "error: --with-hooks writes Claude Code and Codex CLI hooks; for {} run `kioku-mesh msg hook --event ...` from its own hook settings (see the README)",
            client.display_name()
        ));
        return Ok(USAGE);
    }
    let code = register(client, a, env)?;
    if a.with_hooks && code == OK {
        install_hooks(client, a, env)?;
    }
    Ok(code)
}

/// The mail hooks: Claude Code's settings.json, or Codex's hooks.json and
/// their trust in its config.toml.
fn install_hooks(client: McpClient, a: &McpInstallArgs, env: &Environment) -> Result<()> {
    let cli = std::env::current_exe().map_err(|source| SetupError::Io {
        action: "cannot find",
        path: PathBuf::from("kioku-mesh"),
        source,
    })?;
    let lines = if client == McpClient::CodexCli {
        let files = codex_hooks::codex_hook_files(env)?;
        codex_hooks::install_codex_hooks(&files, &cli, a.dry_run)?.lines()
    } else {
        hooks::install_hooks(&hooks::settings_path(env)?, &cli, a.dry_run)?.lines()
    };
    for line in lines {
        output::line(line);
    }
    Ok(())
}

fn register(client: McpClient, a: &McpInstallArgs, env: &Environment) -> Result<u8> {
    let overrides = mcp_clients::parse_env_pairs(&a.env)?;
    let server = mcp_clients::find_server_binary(std::env::current_exe().ok().as_deref(), env)?;
    let plan = mcp_clients::plan(client, &a.name, server, &overrides)?;
    match mcp_clients::install(&plan, env, a.force, a.dry_run)? {
        Outcome::DryRun(text) => output::line(text),
        Outcome::Registered { via } => {
            output::line(format!(
                "registered {} with Claude Code via {}",
                plan.name,
                via.display()
            ));
        }
        Outcome::Written { key, path, backup } => {
            output::line(format!("wrote {key} to {}", path.display()));
            if let Some(b) = backup {
                output::line(format!("previous file kept as {}", b.display()));
            }
        }
        Outcome::AlreadyRegistered { key, location } => {
            let message = if client == McpClient::ClaudeCode {
                format!(
                    "error: '{key}' is already registered with {location}. Use --force to overwrite."
                )
            } else {
                format!("error: {key} already exists in {location}. Use --force to overwrite.")
            };
            output::note(message);
            return Ok(FAILED);
        }
    }
    Ok(OK)
}

fn run_repair(client: McpClient, a: &McpInstallArgs, env: &Environment) -> Result<u8> {
    match repair::repair(client, &a.name, env)? {
        Repair::Renamed { message, renames } => {
            output::line(message);
            for (legacy, current) in renames {
                output::line(format!("  {legacy} -> {current}"));
            }
            Ok(OK)
        }
        Repair::Current(message) => {
            output::line(message);
            Ok(OK)
        }
        Repair::Missing(message) => {
            output::note(message);
            Ok(FAILED)
        }
    }
}
