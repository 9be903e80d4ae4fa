//! One module per subcommand. Each returns the process exit status:
//! 0 success, 1 failure or not found, 2 bad input.

mod backfill;
mod delete;
mod doctor;
mod gc;
mod init;
mod mcp_install;
mod migrate;
mod model;
mod msg;
mod msg_hook;
mod save;
mod search;
mod serve;
mod shell;
mod status;
mod tls;
mod tls_policy;
mod watch;

use anyhow::Result;
use mesh_core::{CoreError, Environment, Settings};
use mesh_memory::{AnyStore, Memory, MemoryError};

use crate::args::{Cli, Command};
use crate::output;

/// Exit status for success.
pub const OK: u8 = 0;
/// Exit status for failures and missing rows.
pub const FAILED: u8 = 1;
/// Exit status for bad input.
pub const USAGE: u8 = 2;

/// Run the parsed command line in `env`, with the settings loaded from it.
pub async fn run(cli: Cli, env: Environment, settings: mesh_core::Result<Settings>) -> u8 {
    match dispatch(cli, env, settings).await {
        Ok(code) => code,
        Err(e) => {
            output::note(format!("error: {}", describe(&e)));
            exit_status(&e)
        }
    }
}

/// The error and its causes joined by `: `, skipping a cause whose text
/// the message before it already carries (our error types name their
/// cause in their own message, and anyhow's `{:#}` would print it twice).
pub fn describe(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let part = cause.to_string();
        if text.contains(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}

fn exit_status(e: &anyhow::Error) -> u8 {
    let usage = e
        .downcast_ref::<MemoryError>()
        .map(MemoryError::is_usage)
        .or_else(|| e.downcast_ref::<CoreError>().map(CoreError::is_usage))
        .or_else(|| {
            e.downcast_ref::<mesh_messaging::MessagingError>()
                .map(mesh_messaging::MessagingError::is_usage)
        })
        .unwrap_or(false);
    if usage { USAGE } else { FAILED }
}

async fn dispatch(cli: Cli, env: Environment, settings: mesh_core::Result<Settings>) -> Result<u8> {
    if let Command::Mcp(crate::args::McpCommand::Install(args)) = &cli.command {
        return mcp_install::run(args, &env);
    }
    // The certificate store needs no settings: a broken config.yaml must
    // not stop a host from enrolling.
    if let Command::Tls(command) = &cli.command {
        return tls::run(command, &env);
    }
    let settings = settings?;
    match &cli.command {
        Command::Init(args) => return init::run(args, &settings),
        Command::Serve(args) => return serve::serve(args, env, settings).await,
        Command::Mesh(crate::args::MeshCommand::Start(args)) => {
            return serve::mesh_start(args, env, settings).await;
        }
        Command::Mesh(crate::args::MeshCommand::Join(args)) => {
            return serve::mesh_join(args, env, settings).await;
        }
        Command::Config(crate::args::ConfigCommand::RenderStorages) => {
            return init::render_storages(&settings);
        }
        Command::Completions(args) => return shell::completions(args),
        Command::Manpage => return shell::manpage(),
        Command::Msg(command) => return msg::run(command, &env, &settings).await,
        Command::Watch(args) => return watch::run(args, env, settings).await,
        _ => {}
    }
    let memory = mesh_memory::open_with(env, settings).await?;
    if cli.options.rebuild {
        let stats = memory.rebuild_index().await?;
        output::note(format!(
            "rebuilt the index: {} observations, {} tombstones ({} malformed rows skipped)",
            stats.observations, stats.tombstones, stats.malformed
        ));
    }
    let result = run_with(&cli.command, &memory).await;
    // The process exits next: the operating system releases what a full
    // close would tear down (ADR 0018).
    memory.close_for_exit().await;
    result
}

async fn run_with(command: &Command, memory: &Memory<AnyStore>) -> Result<u8> {
    match command {
        Command::Save(a) => save::run(a, memory).await,
        Command::Search(a) => search::run(a, memory).await,
        Command::GetMemory(a) => search::get(a, memory).await,
        Command::Delete(a) => delete::run(a, memory).await,
        Command::Status(a) => status::run(a, memory).await,
        Command::Gc(a) => gc::run(a, memory).await,
        Command::GcObservations(a) => gc::observations(a, memory).await,
        Command::BackfillMetadata(a) => backfill::run(a, memory).await,
        Command::Drain(a) => status::drain(a, memory).await,
        Command::RealignIndex => status::realign(memory).await,
        Command::Doctor(a) => doctor::run(a, memory).await,
        Command::MigrateVisibility(a) => migrate::run(a, memory).await,
        Command::Model(crate::args::ModelCommand::Install(a)) => model::install(a, memory).await,
        Command::Model(crate::args::ModelCommand::Status(a)) => model::status(a, memory).await,
        Command::Index(crate::args::IndexCommand::Embed) => model::embed(memory).await,
        Command::Init(_)
        | Command::Completions(_)
        | Command::Manpage
        | Command::Mcp(_)
        | Command::Msg(_)
        | Command::Watch(_)
        | Command::Serve(_)
        | Command::Mesh(_)
        | Command::Config(_)
        | Command::Tls(_) => Ok(OK),
    }
}

/// Split a comma-separated list, dropping blanks.
pub fn csv(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Ask for a typed `yes` on an interactive terminal. Returns `Err(status)`
/// when the answer is not yes or there is no terminal to ask.
pub fn confirm(question: &str, non_interactive_error: &str) -> Result<(), u8> {
    use std::io::IsTerminal;
    if !std::io::stdin().is_terminal() {
        output::note(non_interactive_error);
        return Err(USAGE);
    }
    output::prompt(question);
    let mut answer = String::new();
    match std::io::stdin().read_line(&mut answer) {
        Ok(0) | Err(_) => {
            output::note("\ncancelled.");
            Err(FAILED)
        }
        Ok(_) if answer.trim() == "yes" => Ok(()),
        Ok(_) => {
            output::note("cancelled.");
            Err(FAILED)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cause_already_in_the_message_is_not_repeated() {
        let io = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "denied");
        let e = anyhow::Error::new(CoreError::Io {
            action: "cannot read",
            path: "/x".into(),
            source: io,
        })
        .context("loading settings");
        assert_eq!(describe(&e), "loading settings: cannot read /x: denied");
    }
}
