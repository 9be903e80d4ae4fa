//! `kioku-mesh-mcp`: the MCP server over stdio. MCP clients (Claude Code,
//! Codex CLI, Gemini CLI, Claude Desktop) start it; standard output carries
//! the protocol and nothing else, logs go to standard error.

mod cap;
mod channel;
mod instructions;
mod message_tools;
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
    let settings = mesh_core::Settings::load(&env).context("loading the configuration")?;
    let memory = Arc::new(
        mesh_memory::open(env.clone())
            .await
            .context("opening the memory")?,
    );
    // The same session id as the memory's identity: one session, one inbox.
    let session_id = memory
        .identity()
        .map(|id| id.session_id.clone())
        .unwrap_or_else(|_| mesh_core::identity::new_session_id());
    let me = mesh_messaging::Me::from_env(&env, || session_id);
    let messaging = mesh_messaging::Messaging::open(&settings, &env, me)
        .await
        .context("opening messaging")?;
    let messages = Arc::new(message_tools::MessageTools::new(messaging));
    let tools = Arc::new(tools::Tools::new(memory.clone()));
    let maintenance = tokio::spawn(maintain(memory.clone()));
    let (family, _) = mesh_core::identity::resolve_agent_family(&env);
    let mesh_opt_in = env.var(mesh_messaging::presence::PRESENCE_MESH_ENV) == Some("1");
    let presence = tokio::spawn(heartbeat(messages.clone(), family, mesh_opt_in));
    let running = server::KiokuServer::new(tools, messages.clone())
        // Non-blocking pipes: no thread hand-off per message.
        .serve(rmcp::transport::stdio_pipes())
        .await
        .context("starting the MCP session")?;
    let channel = tokio::spawn(channel::run(
        running.peer().clone(),
        messages.clone(),
        memory.clone(),
    ));
    let reason = running.waiting().await;
    channel.abort();
    tracing::debug!("MCP session ended: {reason:?}");
    maintenance.abort();
    presence.abort();
    messages.close().await;
    memory.close().await;
    Ok(())
}

/// Presence heartbeats while the server runs.
async fn heartbeat(messages: Arc<message_tools::MessageTools>, family: String, mesh_opt_in: bool) {
    let mut tick = tokio::time::interval(mesh_messaging::presence::HEARTBEAT);
    loop {
        tick.tick().await;
        if let Err(e) = messages.messaging().announce(&family, mesh_opt_in).await {
            tracing::debug!("presence heartbeat failed: {e}");
        }
    }
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
