//! `kioku-mesh`: the command-line interface. Parses arguments, calls the
//! libraries and formats their answers; the rules live in the libraries.

mod args;
mod commands;
mod format;
mod output;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    mesh_core::logging::init("warn");
    let cli = args::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            output::note(format!("error: cannot start the async runtime: {e}"));
            return ExitCode::from(1);
        }
    };
    let code = runtime.block_on(commands::run(cli));
    ExitCode::from(code)
}
