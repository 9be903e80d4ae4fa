//! `cargo xtask dist`: release archives with checksums, shell completions
//! and the man page, in `target/dist/`.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

use crate::{cargo, run, workspace};

pub fn run_dist(_args: &[String]) -> Result<()> {
    let ws = workspace()?;
    run(cargo().current_dir(&ws.root).args([
        "build",
        "--release",
        "--bins",
        "-p",
        "kioku-mesh",
        "-p",
        "kioku-mesh-mcp",
    ]))?;
    let version = env!("CARGO_PKG_VERSION");
    let target = host_triple()?;
    let name = format!("kioku-mesh-{version}-{target}");
    let dist = ws.target.join("dist");
    let stage = dist.join(&name);
    let _ = std::fs::remove_dir_all(&stage);
    for dir in ["bin", "completions", "man/man1"] {
        std::fs::create_dir_all(stage.join(dir)).with_context(|| format!("creating {dir}"))?;
    }
    let release = ws.target.join("release");
    for bin in ["kioku-mesh", "kioku-mesh-mcp"] {
        std::fs::copy(release.join(bin), stage.join("bin").join(bin))
            .with_context(|| format!("copying {bin}"))?;
    }
    // The storage manager loads the RocksDB volume from this library; `serve`
    // looks for it beside its executable (docs/adr/0006).
    let library = newest_backend_library(&release.join("deps"))?;
    std::fs::copy(
        &library,
        stage.join("bin").join("libzenoh_backend_rocksdb.so"),
    )
    .with_context(|| format!("copying {}", library.display()))?;
    let cli = release.join("kioku-mesh");
    for (shell, file) in [
        ("bash", "kioku-mesh.bash"),
        ("zsh", "_kioku-mesh"),
        ("fish", "kioku-mesh.fish"),
        ("elvish", "kioku-mesh.elv"),
        ("powershell", "_kioku-mesh.ps1"),
    ] {
        let out = capture(Command::new(&cli).args(["completions", shell]))?;
        std::fs::write(stage.join("completions").join(file), out)?;
    }
    std::fs::write(
        stage.join("man/man1/kioku-mesh.1"),
        capture(Command::new(&cli).arg("manpage"))?,
    )?;
    std::fs::copy(ws.root.join("README.md"), stage.join("README.md"))?;
    let archive = dist.join(format!("{name}.tar.gz"));
    run(Command::new("tar")
        .arg("-czf")
        .arg(&archive)
        .arg("-C")
        .arg(&dist)
        .arg(&name))?;
    let sums = dist.join("SHA256SUMS");
    let line = format!("{}  {}.tar.gz\n", sha256_hex(&archive)?, name);
    std::fs::write(&sums, &line)?;
    println!("{}\n{}", archive.display(), line.trim_end());
    Ok(())
}

/// The RocksDB backend library cargo built (named with a hash in `deps/`).
fn newest_backend_library(deps: &Path) -> Result<std::path::PathBuf> {
    let mut found: Vec<(std::time::SystemTime, std::path::PathBuf)> = Vec::new();
    for entry in std::fs::read_dir(deps).with_context(|| format!("reading {}", deps.display()))? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("libzenoh_backend_rocksdb") && name.ends_with(".so") {
            found.push((entry.metadata()?.modified()?, entry.path()));
        }
    }
    found
        .into_iter()
        .max()
        .map(|(_, path)| path)
        .with_context(|| format!("no libzenoh_backend_rocksdb*.so in {}", deps.display()))
}

fn capture(cmd: &mut Command) -> Result<Vec<u8>> {
    let out = cmd
        .output()
        .with_context(|| format!("running {}", crate::describe(cmd)))?;
    anyhow::ensure!(out.status.success(), "{} failed", crate::describe(cmd));
    Ok(out.stdout)
}

fn sha256_hex(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

fn host_triple() -> Result<String> {
    let out = capture(Command::new("rustc").arg("-vV"))?;
    String::from_utf8_lossy(&out)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_owned))
        .context("rustc -vV printed no host triple")
}
