//! `kioku-fuzz`: run the fuzz targets (see the library's docs).
//!
//! ```text
//! kioku-fuzz all [--time S] [--seed N] [--out DIR] [--mcp-bin PATH]
//! kioku-fuzz run TARGET [--time S] [--execs N] [--seed N] [--out DIR] [--mcp-bin PATH] [--careful FILE]
//! kioku-fuzz replay TARGET FILE... [--mcp-bin PATH]
//! ```
//!
//! `all` runs each target in a child process, so an abort that unwinding
//! cannot catch (a stack overflow) ends one target, not the run; the child
//! is then replayed with `--careful`, which writes each input to a file
//! before running it, and that file is the crash input.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use kioku_fuzz::engine::{self, Budget, Stats};
use kioku_fuzz::targets;

struct Options {
    time: Duration,
    execs: Option<u64>,
    seed: u64,
    out: PathBuf,
    mcp_bin: Option<PathBuf>,
    careful: Option<PathBuf>,
    positional: Vec<String>,
}

fn parse(args: &[String]) -> Result<Options> {
    let mut o = Options {
        time: Duration::from_secs(10),
        execs: None,
        seed: 1,
        out: PathBuf::from("fuzz-out"),
        mcp_bin: None,
        careful: None,
        positional: Vec::new(),
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |what: &str| {
            it.next()
                .with_context(|| format!("{arg} needs {what}"))
                .cloned()
        };
        match arg.as_str() {
            "--time" => {
                o.time =
                    Duration::from_secs_f64(value("seconds")?.parse().context("--time: seconds")?)
            }
            "--execs" => o.execs = Some(value("a count")?.parse().context("--execs: a count")?),
            "--seed" => o.seed = value("a number")?.parse().context("--seed: a number")?,
            "--out" => o.out = PathBuf::from(value("a directory")?),
            "--mcp-bin" => o.mcp_bin = Some(PathBuf::from(value("a path")?)),
            "--careful" => o.careful = Some(PathBuf::from(value("a file")?)),
            flag if flag.starts_with("--") => bail!("unknown option {flag}"),
            _ => o.positional.push(arg.clone()),
        }
    }
    Ok(o)
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = args.split_first() else {
        bail!("usage: kioku-fuzz all|run TARGET|replay TARGET FILE... (see the source's header)");
    };
    let options = parse(rest)?;
    match command.as_str() {
        "all" => all(&options),
        "run" => {
            let name = options.positional.first().context("run needs a TARGET")?;
            let stats = run_one(name, &options)?;
            if stats.crashes.is_empty() {
                Ok(())
            } else {
                std::process::exit(1)
            }
        }
        "replay" => replay(&options),
        other => bail!("unknown command '{other}' (all, run, replay)"),
    }
}

/// Run one target in this process and print its line.
fn run_one(name: &str, o: &Options) -> Result<Stats> {
    let mut target = targets::make(name, o.mcp_bin.as_deref())?;
    let budget = Budget {
        time: o.time,
        max_execs: o.execs,
    };
    let stats = match &o.careful {
        Some(file) => {
            let mut write_input = |input: &[u8]| {
                // Best effort: the careful replay exists for this file.
                let _ = std::fs::write(file, input);
            };
            engine::fuzz(target.as_mut(), o.seed, budget, Some(&mut write_input))
        }
        None => engine::fuzz(target.as_mut(), o.seed, budget, None),
    };
    for crash in &stats.crashes {
        let path = save_crash(&o.out, name, &crash.input)?;
        println!(
            "crash: target={name} input={} panic={}",
            path.display(),
            crash.message
        );
    }
    let secs = stats.elapsed.as_secs_f64().max(1e-9);
    println!(
        "fuzz: target={name} execs={} execs_per_s={:.0} corpus={} outcomes={} crashes={} seed={}{}",
        stats.execs,
        stats.execs as f64 / secs,
        stats.corpus,
        stats.outcomes,
        stats.crashes.len(),
        o.seed,
        target.report()
    );
    Ok(stats)
}

fn save_crash(out: &Path, name: &str, input: &[u8]) -> Result<PathBuf> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let path = out.join(format!("{name}-{:016x}.bin", engine::signature(&[input])));
    std::fs::write(&path, input).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// Every target, each in a child process; an abnormal exit is replayed
/// carefully to capture its input.
fn all(o: &Options) -> Result<()> {
    let me = std::env::current_exe().context("locating kioku-fuzz")?;
    let mut total_execs: u64 = 0;
    let mut crashes = 0;
    for name in targets::NAMES {
        if *name == "mcp_args" && o.mcp_bin.is_none() {
            println!("fuzz: target=mcp_args skipped (no --mcp-bin)");
            continue;
        }
        let mut cmd = child(&me, name, o);
        let output = cmd
            .output()
            .with_context(|| format!("running target {name}"))?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        print!("{stdout}");
        total_execs += stdout
            .lines()
            .filter_map(|l| l.strip_prefix("fuzz: "))
            .filter_map(|l| l.split(' ').find_map(|f| f.strip_prefix("execs=")))
            .filter_map(|n| n.parse::<u64>().ok())
            .sum::<u64>();
        crashes += stdout.lines().filter(|l| l.starts_with("crash: ")).count();
        if output.status.code().is_none() || !stdout.contains("fuzz: target=") {
            // Killed by a signal or aborted: replay the same seed writing
            // each input first; the last one written is the culprit.
            std::fs::create_dir_all(&o.out)?;
            let last = o.out.join(format!("{name}.last"));
            let mut careful = child(&me, name, o);
            careful.arg("--careful").arg(&last);
            let _ = careful.output();
            let input = std::fs::read(&last).unwrap_or_default();
            let path = save_crash(&o.out, name, &input)?;
            println!(
                "crash: target={name} input={} panic=the process aborted ({}); stderr: {}",
                path.display(),
                output.status,
                String::from_utf8_lossy(&output.stderr)
                    .lines()
                    .last()
                    .unwrap_or("")
            );
            crashes += 1;
        }
    }
    println!(
        "fuzz: targets={} execs={total_execs} crashes={crashes}",
        targets::NAMES.len()
    );
    if crashes > 0 {
        std::process::exit(1);
    }
    Ok(())
}

fn child(me: &Path, name: &str, o: &Options) -> Command {
    let mut cmd = Command::new(me);
    cmd.arg("run")
        .arg(name)
        .arg("--time")
        .arg(o.time.as_secs_f64().to_string())
        .arg("--seed")
        .arg(o.seed.to_string())
        .arg("--out")
        .arg(&o.out);
    if let Some(n) = o.execs {
        cmd.arg("--execs").arg(n.to_string());
    }
    if let Some(bin) = &o.mcp_bin {
        cmd.arg("--mcp-bin").arg(bin);
    }
    cmd
}

/// Run saved inputs through their target once each.
fn replay(o: &Options) -> Result<()> {
    let (name, files) = o
        .positional
        .split_first()
        .context("replay needs TARGET FILE...")?;
    let mut target = targets::make(name, o.mcp_bin.as_deref())?;
    let mut failed = 0;
    for file in files {
        let input = std::fs::read(file).with_context(|| format!("reading {file}"))?;
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| target.run(&input)));
        match result {
            Ok(_) => println!("ok: {file}"),
            Err(_) => {
                println!("FAILED: {file}");
                failed += 1;
            }
        }
    }
    if failed > 0 {
        bail!("{failed} input(s) still fail");
    }
    Ok(())
}
