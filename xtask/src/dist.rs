//! `cargo xtask dist`: release archives with checksums, shell completions
//! and the man page, in `target/dist/`.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

use crate::install::{build_release, copy_release};
use crate::{run, tools, workspace};

pub fn run_dist(_args: &[String]) -> Result<()> {
    let ws = workspace()?;
    tools::ensure_libclang()
        .context("the RocksDB backend's build (librocksdb-sys) needs libclang")?;
    let release = build_release(&ws)?;
    let version = env!("CARGO_PKG_VERSION");
    let target = host_triple()?;
    let name = format!("kioku-mesh-{version}-{target}");
    let dist = ws.target.join("dist");
    let stage = dist.join(&name);
    let _ = std::fs::remove_dir_all(&stage);
    for dir in ["bin", "completions", "man/man1"] {
        std::fs::create_dir_all(stage.join(dir)).with_context(|| format!("creating {dir}"))?;
    }
    // The storage manager loads the RocksDB volume from the library; `serve`
    // looks for it beside its executable (docs/adr/0006).
    copy_release(&release, &stage.join("bin"))?;
    let cli = release
        .path("kioku-mesh")
        .context("the release build made no kioku-mesh")?;
    for (shell, file) in [
        ("bash", "kioku-mesh.bash"),
        ("zsh", "_kioku-mesh"),
        ("fish", "kioku-mesh.fish"),
        ("elvish", "kioku-mesh.elv"),
        ("powershell", "_kioku-mesh.ps1"),
    ] {
        let out = capture(Command::new(cli).args(["completions", shell]))?;
        std::fs::write(stage.join("completions").join(file), out)?;
    }
    std::fs::write(
        stage.join("man/man1/kioku-mesh.1"),
        capture(Command::new(cli).arg("manpage"))?,
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
