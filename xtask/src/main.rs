//! `cargo xtask`: test orchestration, benchmarks and release archives.
//!
//! - `cargo xtask test` installs what the tests need (the Python reference
//!   in its own virtual environment), builds the binaries and runs every
//!   test of the workspace;
//! - `cargo xtask bench` runs the criterion benchmarks and times whole
//!   commands against the Python reference;
//! - `cargo xtask dist` builds release archives with checksums.

mod bench;
mod bench_mesh;
mod dist;
mod tools;

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (task, rest) = args
        .split_first()
        .map_or(("help", &[][..]), |(t, r)| (t.as_str(), r));
    match task {
        "test" => test(rest),
        "bench" => bench::run_bench(rest),
        "dist" => dist::run_dist(rest),
        "tools" => tools::ensure_all().map(|_| ()),
        _ => {
            eprintln!(
                "usage: cargo xtask <task>\n\n\
                 tasks:\n  \
                 test [--quick] [-- <cargo test args>]   install test tools, lint, build, run all tests\n  \
                 bench [--quick]                         criterion benches and whole-command timings\n  \
                 dist                                    release archives with checksums and completions\n  \
                 tools                                   install the test tools only"
            );
            if task == "help" {
                Ok(())
            } else {
                bail!("unknown task '{task}'")
            }
        }
    }
}

/// The workspace root and target directory.
pub struct Workspace {
    pub root: PathBuf,
    pub target: PathBuf,
}

pub fn workspace() -> Result<Workspace> {
    let meta = cargo_metadata::MetadataCommand::new()
        .no_deps()
        .exec()
        .context("running cargo metadata")?;
    Ok(Workspace {
        root: meta.workspace_root.into_std_path_buf(),
        target: meta.target_directory.into_std_path_buf(),
    })
}

/// Run `cmd`, failing with its description when it fails.
pub fn run(cmd: &mut Command) -> Result<()> {
    eprintln!("$ {}", describe(cmd));
    let status = cmd
        .status()
        .with_context(|| format!("starting {}", describe(cmd)))?;
    if !status.success() {
        bail!("{} failed with {status}", describe(cmd));
    }
    Ok(())
}

pub fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program().to_string_lossy().into_owned())
        .chain(cmd.get_args().map(|a| a.to_string_lossy().into_owned()))
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
}

fn test(args: &[String]) -> Result<()> {
    let quick = args.iter().any(|a| a == "--quick");
    let passthrough: Vec<&String> = args.iter().skip_while(|a| *a != "--").skip(1).collect();
    let ws = workspace()?;
    let tools = tools::ensure_all()?;

    if !quick {
        run(cargo()
            .current_dir(&ws.root)
            .args(["fmt", "--all", "--check"]))?;
        run(cargo().current_dir(&ws.root).args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]))?;
    }
    run(cargo()
        .current_dir(&ws.root)
        .args(["build", "--workspace", "--bins"]))?;
    let mut cmd = cargo();
    cmd.current_dir(&ws.root)
        .args(["test", "--workspace"])
        .args(&passthrough)
        .env("KIOKU_MESH_BIN_DIR", ws.target.join("debug"))
        .env("KIOKU_MESH_REQUIRE_REFERENCE", "1");
    tools.export(&mut cmd);
    run(&mut cmd)
}
