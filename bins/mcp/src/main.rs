//! `kioku-mesh-mcp`: the MCP server over stdio. MCP clients (Claude Code,
//! Codex CLI, Gemini CLI, Claude Desktop) start it; standard output carries
//! the protocol and nothing else, logs go to standard error.

mod cap;
mod instructions;
mod params;
mod server;
mod tools;

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use mesh_core::Environment;
use rmcp::ServiceExt;

const TTY_USAGE: &str = "\
kioku-mesh-mcp is the stdio MCP server. MCP clients (Claude Code, Codex CLI, Gemini CLI,
Claude Desktop) start it; it is not meant to be run by hand.

To register it with a client, run one of:
    kioku-mesh mcp install --client claude-code
    kioku-mesh mcp install --client codex-cli
    kioku-mesh mcp install --client gemini-cli
    kioku-mesh mcp install --client claude-desktop

To start it in a terminal anyway (debugging), give it another stdin:
    kioku-mesh-mcp < /dev/null
or set KIOKU_MESH_MCP_ALLOW_TTY=1.";

/// How often the server looks whether the search index needs merging.
const MAINTENANCE_EVERY: Duration = Duration::from_secs(600);

fn main() -> ExitCode {
    // Install our stderr subscriber before anything else can log to stdout.
    mesh_core::logging::init(mesh_core::logging::CLIENT_FILTER);
    let env = Environment::from_process();
    if std::io::stdin().is_terminal() && env.raw_var("KIOKU_MESH_MCP_ALLOW_TTY") != Some("1") {
        eprintln!("{TTY_USAGE}");
        return ExitCode::from(2);
    }
    let runtime = match mesh_core::session::runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(serve(env)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::from(1)
        }
    }
}

async fn serve(env: Environment) -> anyhow::Result<()> {
    let memory = Arc::new(mesh_memory::open(env).await.context("opening the memory")?);
    let tools = Arc::new(tools::Tools::new(memory.clone()));
    let maintenance = tokio::spawn(maintain(memory.clone()));
    let running = server::KiokuServer::new(tools)
        // Non-blocking pipes: no thread hand-off per message.
        .serve(rmcp::transport::stdio_pipes())
        .await
        .context("starting the MCP session")?;
    let reason = running.waiting().await;
    tracing::debug!("MCP session ended: {reason:?}");
    maintenance.abort();
    memory.close().await;
    Ok(())
}

/// Idle-time upkeep on a timer; the policy is the library's.
async fn maintain(memory: Arc<mesh_memory::Memory<mesh_memory::AnyStore>>) {
    let mut tick = tokio::time::interval(MAINTENANCE_EVERY);
    tick.tick().await;
    loop {
        tick.tick().await;
        memory.maintain().await;
    }
}
