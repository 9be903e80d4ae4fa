//! `cargo xtask fuzz`: build the fuzz runner and the MCP server (release)
//! and run every fuzz target for `--time` seconds each.

use anyhow::{Context, Result, bail};

use crate::{cargo, run, workspace};

/// Parse `[--time S] [--seed N] [--target NAME]` and run the targets.
pub fn run_fuzz(args: &[String]) -> Result<()> {
    let mut time = 30u64;
    let mut seed = 1u64;
    let mut target: Option<String> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .with_context(|| format!("{a} needs a value"))
        };
        match a.as_str() {
            "--time" => time = value()?.parse().context("--time needs whole seconds")?,
            "--seed" => seed = value()?.parse().context("--seed needs a whole number")?,
            "--target" => target = Some(value()?),
            other => bail!(
                "unknown fuzz argument '{other}' (expected --time S, --seed N, --target NAME)"
            ),
        }
    }
    let ws = workspace()?;
    run(cargo().current_dir(&ws.root).args([
        "build",
        "--release",
        "-p",
        "kioku-fuzz",
        "-p",
        "kioku-mesh-mcp",
    ]))?;
    let release = ws.target.join("release");
    let out = ws.target.join("fuzz-out");
    let mut cmd = std::process::Command::new(release.join("kioku-fuzz"));
    match &target {
        Some(name) => cmd.arg("run").arg(name),
        None => cmd.arg("all"),
    };
    cmd.arg("--time")
        .arg(time.to_string())
        .arg("--seed")
        .arg(seed.to_string())
        .arg("--out")
        .arg(&out)
        .arg("--mcp-bin")
        .arg(release.join("kioku-mesh-mcp"));
    run(&mut cmd).with_context(|| {
        format!(
            "fuzzing found crashes; their inputs are in {}. Fix each, then copy its input to \
             fuzz/regressions/<target>/<what-it-found> so the suite replays it",
            out.display()
        )
    })
}
