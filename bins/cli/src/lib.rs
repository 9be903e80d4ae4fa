//! The `kioku-mesh` command-line interface as a library, so that two
//! executables share it: `kioku-mesh` itself, linked for fast start-up, and
//! `kioku-mesh-daemon`, the position-independent executable that
//! `kioku-mesh serve` hands over to (ADR 0013). Parses arguments, calls the
//! libraries and formats their answers; the rules live in the libraries.

mod args;
mod commands;
mod format;
mod msg_args;
mod output;
mod parse;
mod setup;
mod short_command;
mod tls_args;

use std::path::PathBuf;
use std::process::ExitCode;

/// Which executable is running the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Executable {
    /// `kioku-mesh`: one-shot commands; hands daemon commands to
    /// [`DAEMON_EXECUTABLE`] when it is installed beside it.
    Cli,
    /// `kioku-mesh-daemon`: runs every command itself.
    Daemon,
}

/// The file name of the daemon executable, looked up beside `kioku-mesh`.
pub const DAEMON_EXECUTABLE: &str = "kioku-mesh-daemon";

/// Run the command line given to this process and return its exit status.
pub fn main(executable: Executable) -> ExitCode {
    let cli = parse::parse();
    mesh_core::logging::init(if cli.command.runs_daemon() {
        mesh_core::logging::DAEMON_FILTER
    } else {
        mesh_core::logging::CLIENT_FILTER
    });
    if cli.command.runs_daemon()
        && let Err(e) = enter_daemon_executable(executable)
    {
        output::note(format!("error: {}", commands::describe(&e)));
        return ExitCode::from(1);
    }
    // Loaded once: the mode picks the runtime, and the command uses it.
    let env = mesh_core::Environment::from_process();
    let settings = mesh_core::Settings::load(&env);
    // A configuration that does not load counts as not local: the command
    // then reports the problem itself.
    let local = settings
        .as_ref()
        .is_ok_and(|s| s.backend == mesh_core::BackendMode::Local);
    let runtime = if cli.command.runs_daemon() || !local {
        mesh_core::session::runtime()
    } else if cli.command.is_store_command() {
        short_command::prepare();
        mesh_core::session::store_runtime()
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
    let code = runtime.block_on(commands::run(cli, env, settings));
    ExitCode::from(code)
}

/// Make sure a daemon command runs in the right executable with the right
/// environment, re-executing (same process id, same arguments) when not:
///
/// - `kioku-mesh` is linked without position independence for fast start-up
///   (ADR 0013); the long-running, network-facing daemon runs from
///   `kioku-mesh-daemon` beside it, which keeps address-space randomisation.
///   Without that file (a build of `kioku-mesh` alone) the daemon runs here.
/// - The RocksDB backend reads its data root from the environment when the
///   daemon starts its storages. Changing our own environment is unsafe once
///   threads exist, so the variable is set for the new executable instead.
fn enter_daemon_executable(executable: Executable) -> anyhow::Result<()> {
    use std::os::unix::process::CommandExt;

    let env = mesh_core::Environment::from_process();
    let paths = mesh_core::Paths::resolve(&env)?;
    let root = paths.rocksdb_root();
    paths.ensure_state_dir()?;
    let var = mesh_core::session::ROCKSDB_ROOT_ENV;
    let root_set = std::env::var_os(var).is_some_and(|v| std::path::Path::new(&v) == root);
    let current = std::env::current_exe()?;
    let daemon = match executable {
        Executable::Cli => daemon_beside(&current),
        Executable::Daemon => None,
    };
    if root_set && daemon.is_none() {
        return Ok(());
    }
    let target = daemon.unwrap_or(current);
    tracing::debug!("running the daemon from {}", target.display());
    let mut command = std::process::Command::new(&target);
    if let Some(arg0) = std::env::args_os().next() {
        // Keep the name the user typed in `ps`, usage lines and unit logs.
        command.arg0(arg0);
    }
    let error = command
        .args(std::env::args_os().skip(1))
        .env(var, &root)
        .exec();
    Err(anyhow::anyhow!(
        "cannot start {} for the daemon: {error}",
        target.display()
    ))
}

/// `kioku-mesh-daemon` in the directory of `exe`, when it is a file.
fn daemon_beside(exe: &std::path::Path) -> Option<PathBuf> {
    let path = exe.parent()?.join(DAEMON_EXECUTABLE);
    path.is_file().then_some(path)
}
