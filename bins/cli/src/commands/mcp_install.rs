//! `kioku-mesh mcp install --client <client>`: register the MCP server.

use anyhow::Result;
use mesh_core::Environment;
use mesh_core::mcp_clients::{self, McpClient, Outcome};

use super::{FAILED, OK};
use crate::args::{ClientArg, McpInstallArgs};
use crate::output;

pub fn run(a: &McpInstallArgs, env: &Environment) -> Result<u8> {
    let client = match a.client {
        ClientArg::ClaudeCode => McpClient::ClaudeCode,
        ClientArg::CodexCli => McpClient::CodexCli,
        ClientArg::GeminiCli => McpClient::GeminiCli,
        ClientArg::ClaudeDesktop => McpClient::ClaudeDesktop,
    };
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
