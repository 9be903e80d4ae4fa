//! `kioku-mesh`: the command-line interface. Parses arguments, calls the
//! libraries and formats their answers; the rules live in the libraries.

mod args;
mod commands;
mod format;
mod msg_args;
mod output;
mod setup;
mod tls_args;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    mesh_core::logging::init(if cli.command.runs_daemon() {
        mesh_core::logging::DAEMON_FILTER
    } else {
        mesh_core::logging::CLIENT_FILTER
    });
    if cli.command.runs_daemon()
        && let Err(e) = rocksdb_root_in_environment()
    {
        output::note(format!("error: {}", commands::describe(&e)));
        return ExitCode::from(1);
    }
    let runtime = if cli.command.runs_daemon() || !local_mode() {
        mesh_core::session::runtime()
    } else {
        mesh_core::session::local_runtime()
    };
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(e) => {
            output::note(format!("error: cannot start the async runtime: {e}"));
            return ExitCode::from(1);
        }
    };
    let code = runtime.block_on(commands::run(cli));
    ExitCode::from(code)
}

/// True when configuration selects local mode, where no command uses Zenoh.
/// A configuration that does not load counts as not local: the command
/// then reports the problem itself.
fn local_mode() -> bool {
    let env = mesh_core::Environment::from_process();
    mesh_core::Settings::load(&env).is_ok_and(|s| s.backend == mesh_core::BackendMode::Local)
}

/// The RocksDB backend reads its data root from the environment when the
/// daemon starts its storages. Changing our own environment is unsafe once
/// threads exist, so when it is not already right the process re-executes
/// itself with the variable set.
fn rocksdb_root_in_environment() -> anyhow::Result<()> {
    use std::os::unix::process::CommandExt;

    let env = mesh_core::Environment::from_process();
    let paths = mesh_core::Paths::resolve(&env)?;
    let root = paths.rocksdb_root();
    paths.ensure_state_dir()?;
    let var = mesh_core::session::ROCKSDB_ROOT_ENV;
    if std::env::var_os(var).is_some_and(|v| std::path::Path::new(&v) == root) {
        return Ok(());
    }
    let exe = std::env::current_exe()?;
    let error = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env(var, &root)
        .exec();
    Err(anyhow::anyhow!("cannot restart with {var} set: {error}"))
}
