//! `cargo xtask chaos`: a hub and two spokes (or four, `--hosts 5`), each
//! in its own network namespace, real daemons and CLI writers (memory and
//! messages), a seeded nemesis, and a checker over the history once the
//! mesh has healed.
//!
//! Hosts and scopes ([`LAYOUT`]): the hub holds `mesh` and `team/core`;
//! spoke `a` holds `mesh`, `user/alice` and `team/core`; spoke `b` holds
//! `mesh` and `user/alice`; `c` and `d` repeat `a` and `b` for `user/bob`.
//! So every scope has a host without it, where nothing of it may appear
//! (storage, index or queue).
//!
//! Faults, one at a time, each lasting 2-6 s: a host's link down, one-way
//! loss and delay with loss (`tc netem`, when the kernel has it), SIGKILL
//! then restart, SIGSTOP then SIGCONT, a full disk (each state directory is
//! a 512 MB tmpfs, filled by a file), and a torn index (SIGKILL, garbage
//! over the tail of `index.db`, restart).

mod check;
mod history;
mod host;
mod mail;
mod net;

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use history::{History, Op, Outcome};
use host::Host;
use net::Net;

/// Longest wait for the mesh to converge after healing.
const CONVERGE_LIMIT: Duration = Duration::from_secs(120);

/// A seeded xorshift generator: the same seed gives the same schedule.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// A fault in force.
enum Fault {
    Partition(usize),
    Netem(usize),
    Kill(usize),
    Pause(usize),
    DiskFull(usize),
    CorruptIndex(usize),
}

/// `cargo xtask chaos [--duration SECONDS] [--seed N] [--hosts 3|5] [--smoke]`.
pub fn run_chaos(args: &[String]) -> Result<()> {
    let mut duration: Option<u64> = None;
    let mut seed: Option<u64> = None;
    let mut smoke = false;
    let mut n_hosts = 3usize;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let value = |it: &mut std::slice::Iter<String>| -> Result<u64> {
            it.next()
                .with_context(|| format!("{a} needs a number"))?
                .parse()
                .with_context(|| format!("{a} needs a whole number"))
        };
        match a.as_str() {
            "--duration" => duration = Some(value(&mut it)?.clamp(5, 3600)),
            "--seed" => seed = Some(value(&mut it)?.max(1)),
            "--smoke" => smoke = true,
            "--hosts" => n_hosts = value(&mut it)? as usize,
            other => {
                bail!(
                    "unknown chaos argument '{other}' (expected --duration N, --seed N, --hosts 3|5, --smoke)"
                )
            }
        }
    }
    let ws = crate::workspace()?;
    if smoke {
        return run_smoke(&ws, duration.unwrap_or(SMOKE_SECS), seed.unwrap_or(1), true);
    }
    let duration = duration.unwrap_or(60);
    let seed = seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64 | 1)
    });
    let release = crate::install::build_release(&ws)?;
    let bin = release
        .path("kioku-mesh")
        .context("the release build made no kioku-mesh")?
        .to_path_buf();
    let summary = run(&bin, Duration::from_secs(duration), seed, n_hosts)?;
    if !summary.clean() {
        bail!(
            "chaos found lost, resurrected or leaked observations (replay: cargo xtask chaos --seed {seed} --duration {duration} --hosts {n_hosts})"
        );
    }
    Ok(())
}

/// Length of the smoke run in `cargo xtask test`.
pub const SMOKE_SECS: u64 = 20;

/// A short run on the debug build (`cargo xtask test` has just built it),
/// skipped with one line where namespaces cannot be made.
/// `build`: build the CLI and the storage library first (`test` has just
/// built the whole workspace; building two packages alone would resolve
/// other zenoh features and rebuild both).
pub fn run_smoke(ws: &crate::Workspace, secs: u64, seed: u64, build: bool) -> Result<()> {
    if !available() {
        println!("chaos smoke: skipped (needs root and iproute2 for network namespaces)");
        return Ok(());
    }
    if build {
        crate::run(
            crate::cargo()
                .current_dir(&ws.root)
                .args(["build", "--workspace"]),
        )?;
    }
    let bin = ws.target.join("debug").join("kioku-mesh");
    let summary = run(&bin, Duration::from_secs(secs), seed, 3)?;
    if !summary.clean() {
        bail!(
            "the chaos smoke run found lost, resurrected or leaked observations (replay: cargo xtask chaos --smoke --seed {seed} --duration {secs})"
        );
    }
    Ok(())
}

/// Whether this machine can make network namespaces (root and iproute2).
fn available() -> bool {
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    root && std::process::Command::new("ip")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The figures of one run.
struct Summary {
    ops: usize,
    acked: usize,
    faults: usize,
    lost: usize,
    resurrected: usize,
    leaked: usize,
    converge: Vec<f64>,
}

impl Summary {
    fn clean(&self) -> bool {
        self.lost == 0 && self.resurrected == 0 && self.leaked == 0
    }
}

/// One run with the binary `bin`: set up, write under the nemesis, heal,
/// check, tear down. Prints the summary line.
/// Hosts: name, user scope, team scope. Every scope has a host without it.
const LAYOUT: [(&str, Option<&str>, Option<&str>); 5] = [
    ("hub", None, Some("core")),
    ("a", Some("alice"), Some("core")),
    ("b", Some("alice"), None),
    ("c", Some("bob"), Some("core")),
    ("d", Some("bob"), None),
];

fn run(bin: &Path, duration: Duration, seed: u64, n_hosts: usize) -> Result<Summary> {
    if !available() {
        bail!("chaos needs root and iproute2 (it makes network namespaces)");
    }
    let n_hosts = n_hosts.clamp(3, LAYOUT.len());
    println!(
        "chaos: seed={seed} duration={}s hosts={n_hosts} (replay: cargo xtask chaos --seed {seed} --duration {} --hosts {n_hosts})",
        duration.as_secs(),
        duration.as_secs()
    );
    let root = std::env::temp_dir().join(format!("kioku-chaos-{}", std::process::id()));
    host::sweep_mounts();
    let _ = std::fs::remove_dir_all(&root);
    let layout = &LAYOUT[..n_hosts];
    let names: Vec<&str> = layout.iter().map(|(name, _, _)| *name).collect();
    let net = Net::create(&names)?;
    let mut hosts = Vec::new();
    for (i, (name, user, team)) in layout.iter().enumerate() {
        hosts.push(Host::new(name, i, *user, *team, &root, bin)?);
    }
    for h in &mut hosts {
        h.start()?;
    }
    wait_ready(&mut hosts)?;
    let netem = net.has_netem();
    // Two streams, so that the fault schedule does not depend on how many
    // operations fitted between faults: the same seed, the same faults.
    let mut rng = Rng(seed);
    let mut work = Rng(seed.rotate_left(29) ^ 0x9E37_79B9_7F4A_7C15 | 1);
    let mut history = History::default();
    let started = Instant::now();
    let mut faults = 0;
    let mut fault: Option<(Fault, Instant)> = None;
    let mut next_fault = started + Duration::from_secs(2);
    let mut n = 0u64;
    while started.elapsed() < duration {
        let now = Instant::now();
        if let Some((f, until)) = &fault
            && now >= *until
        {
            undo(f, &net, &mut hosts)?;
            fault = None;
            next_fault = now + Duration::from_millis(500 + rng.below(2500) as u64);
        }
        if fault.is_none() && now >= next_fault {
            let f = pick_fault(&mut rng, netem, hosts.len());
            let what = apply(&f, &net, &mut hosts, &mut rng)?;
            println!("chaos: {:6.1}s {what}", started.elapsed().as_secs_f64());
            faults += 1;
            fault = Some((
                f,
                now + Duration::from_millis(2000 + rng.below(4000) as u64),
            ));
        }
        n += 1;
        let op = operate(&hosts, &history, &mut work, n, seed);
        history.record(started.elapsed(), op);
    }
    if let Some((f, _)) = &fault {
        undo(f, &net, &mut hosts)?;
    }
    net.heal();
    for h in &mut hosts {
        h.heal()?;
    }
    let healed = Instant::now();
    let _ = std::fs::write(root.join("history.txt"), history.lines());
    let expected: Vec<_> = hosts
        .iter()
        .map(|h| history.expected(|s| h.holds(s)))
        .collect();
    let expected_mail: Vec<_> = hosts.iter().map(|h| mail::expected(h, &history)).collect();
    let mut converged: Vec<Option<f64>> = vec![None; hosts.len()];
    let mut last = vec![(0, 0); hosts.len()];
    let mut last_mail = vec![(0, 0); hosts.len()];
    while healed.elapsed() < CONVERGE_LIMIT && converged.iter().any(Option::is_none) {
        for (i, h) in hosts.iter().enumerate() {
            if converged[i].is_some() {
                continue;
            }
            if let Some(live) = h.live_ids() {
                last[i] = history::compare(&expected[i], &live);
            }
            if let Some(m) = mail::check(h, &expected_mail[i]) {
                last_mail[i] = m;
            }
            if last[i] == (0, 0) && last_mail[i] == (0, 0) {
                converged[i] = Some(healed.elapsed().as_secs_f64());
            }
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let leaked = check::leaks(&hosts, &history);
    let (index_only, storage_only) = check::index_against_storages(&net, &hosts);
    let mut converge: Vec<f64> = converged
        .iter()
        .map(|c| c.unwrap_or(CONVERGE_LIMIT.as_secs_f64()))
        .collect();
    converge.sort_by(f64::total_cmp);
    let summary = Summary {
        ops: history.ops.len(),
        acked: history.acked(),
        faults,
        lost: last.iter().chain(&last_mail).map(|l| l.0).sum::<usize>() + storage_only,
        resurrected: last.iter().chain(&last_mail).map(|l| l.1).sum::<usize>() + index_only,
        leaked,
        converge,
    };
    for ((h, l), m) in hosts.iter().zip(&last).zip(&last_mail) {
        if *l != (0, 0) || *m != (0, 0) {
            println!(
                "chaos: host {} missing {} resurrected {}; mail missing {} acked but unread {} (logs: {})",
                h.name,
                l.0,
                l.1,
                m.0,
                m.1,
                h.home.display()
            );
        }
    }
    let (sends, sent, acks) = mail::tally(&history);
    println!("chaos: messages: {sends} sends, {sent} reported sent, {acks} acks");
    println!(
        "chaos: ops={} acked={} faults={} lost={} resurrected={} leaked={} converge_p50_s={:.1} converge_max_s={:.1}",
        summary.ops,
        summary.acked,
        summary.faults,
        summary.lost,
        summary.resurrected,
        summary.leaked,
        summary.converge[summary.converge.len() / 2],
        summary.converge.last().copied().unwrap_or(0.0)
    );
    drop(hosts);
    drop(net);
    if summary.clean() {
        let _ = std::fs::remove_dir_all(&root);
    }
    Ok(summary)
}

fn wait_ready(hosts: &mut [Host]) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    for h in hosts.iter_mut() {
        loop {
            let log = std::fs::read_to_string(h.home.join("serve.log")).unwrap_or_default();
            if log.contains("kioku-mesh serve: router ") {
                break;
            }
            if !h.running() || Instant::now() > deadline {
                bail!("the daemon of {} did not start:\n{log}", h.name);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    Ok(())
}

fn pick_fault(rng: &mut Rng, netem: bool, n_hosts: usize) -> Fault {
    let host = rng.below(n_hosts);
    match rng.below(if netem { 6 } else { 5 }) {
        0 => Fault::Partition(host),
        1 => Fault::Kill(host),
        2 => Fault::Pause(host),
        3 => Fault::DiskFull(host),
        4 => Fault::CorruptIndex(host),
        _ => Fault::Netem(host),
    }
}

/// Put `f` in force; says what it did.
fn apply(f: &Fault, net: &Net, hosts: &mut [Host], rng: &mut Rng) -> Result<String> {
    Ok(match f {
        Fault::Partition(h) => {
            net.link_down(hosts[*h].name)?;
            format!("partition {}", hosts[*h].name)
        }
        Fault::Netem(h) => {
            let spec = if rng.chance(50) {
                "loss 100%"
            } else {
                "delay 150ms 50ms loss 15%"
            };
            net.netem(hosts[*h].name, spec)?;
            format!("netem {spec} towards {}", hosts[*h].name)
        }
        Fault::Kill(h) => {
            hosts[*h].kill9();
            format!("kill -9 the daemon of {}", hosts[*h].name)
        }
        Fault::Pause(h) => {
            hosts[*h].pause();
            format!("SIGSTOP the daemon of {}", hosts[*h].name)
        }
        Fault::DiskFull(h) => {
            let bytes = hosts[*h].fill_disk();
            format!("fill the disk of {} ({} MB)", hosts[*h].name, bytes >> 20)
        }
        Fault::CorruptIndex(h) => {
            let bytes = hosts[*h].corrupt_index(rng.next())?;
            format!(
                "kill -9 {}, overwrite the last {bytes} bytes of its index, restart",
                hosts[*h].name
            )
        }
    })
}

fn undo(f: &Fault, net: &Net, hosts: &mut [Host]) -> Result<()> {
    match f {
        Fault::Partition(h) => net.link_up(hosts[*h].name),
        Fault::Netem(h) => {
            net.clear(hosts[*h].name);
            Ok(())
        }
        Fault::Kill(h) => hosts[*h].start(),
        Fault::Pause(h) => {
            hosts[*h].resume();
            Ok(())
        }
        Fault::DiskFull(h) => {
            hosts[*h].free_disk();
            Ok(())
        }
        // Restarted at once; the daemon's repair is what is under test.
        Fault::CorruptIndex(_) => Ok(()),
    }
}

/// The scopes `h` may write to.
fn scopes(h: &Host) -> Vec<String> {
    let mut s = vec!["mesh".to_owned()];
    if let Some(u) = h.user {
        s.push(format!("user/{u}"));
    }
    if let Some(t) = h.team {
        s.push(format!("team/{t}"));
    }
    s
}

fn visibility(scope: &str) -> &'static str {
    match scope.split('/').next() {
        Some("user") => "user",
        Some("team") => "team",
        _ => "mesh",
    }
}

/// One client operation on a random host: mostly saves, some deletes and
/// supersedes of earlier acknowledged saves the host can see.
fn operate(hosts: &[Host], history: &History, rng: &mut Rng, n: u64, seed: u64) -> Op {
    let h = &hosts[rng.below(hosts.len())];
    // 8% messages to a random writer, 4% acks of mail to this one.
    let mail_roll = rng.below(100);
    if mail_roll < 8 {
        let to = &hosts[rng.below(hosts.len())];
        if let Some(op) = mail::send(h, to, history, rng, n, seed) {
            return op;
        }
    } else if mail_roll < 12
        && let Some(op) = mail::ack(h, history, rng)
    {
        return op;
    }
    let own = scopes(h);
    // Entries already deleted or superseded are left alone: a second
    // delete of the same id would only blur the history.
    let touched: HashSet<&String> = history
        .ops
        .iter()
        .filter_map(|(_, op)| match op {
            Op::Delete { id, .. } => Some(id),
            Op::Save { supersedes, .. } => supersedes.as_ref(),
            Op::Send { .. } | Op::Ack { .. } => None,
        })
        .collect();
    let candidates: Vec<(&String, &String)> = history
        .ops
        .iter()
        .filter_map(|(_, op)| match op {
            Op::Save {
                id: Some(id),
                scope,
                outcome,
                ..
            } if outcome.acked() && h.holds(scope) && !touched.contains(id) => Some((id, scope)),
            _ => None,
        })
        .collect();
    let roll = rng.below(100);
    if roll >= 70 && !candidates.is_empty() {
        let (id, scope) = candidates[rng.below(candidates.len())];
        if roll < 88 {
            let out = h.cli(&["delete", id, "--reason", "chaos"]);
            return Op::Delete {
                host: h.name,
                id: id.clone(),
                outcome: outcome_of(out.code, true),
            };
        }
        return save(h, scope, Some(id), n, seed);
    }
    let scope = own[rng.below(own.len())].clone();
    save(h, &scope, None, n, seed)
}

fn save(h: &Host, scope: &str, supersedes: Option<&String>, n: u64, seed: u64) -> Op {
    let content = format!(
        "chaos note {n} of run {seed} written on {} in {scope}",
        h.name
    );
    let mut args = vec![
        "save",
        content.as_str(),
        "--subject",
        "chaos",
        "--summary",
        "a chaos run note",
        "--visibility",
        visibility(scope),
    ];
    if let Some(old) = supersedes {
        args.extend(["--supersedes", old.as_str()]);
    }
    let out = h.cli(&args);
    let mut words = out.stdout.split_whitespace();
    let kind = words.next().unwrap_or_default();
    let id = words.next().map(str::to_owned);
    let outcome = match (out.code, kind) {
        (Some(0), "saved:") => Outcome::Saved,
        (Some(0), "queued:") => Outcome::Queued,
        (Some(2), _) => Outcome::Refused,
        _ => Outcome::Failed,
    };
    Op::Save {
        host: h.name,
        scope: scope.to_owned(),
        id: id.filter(|_| outcome.acked()),
        supersedes: supersedes.cloned(),
        outcome,
    }
}

fn outcome_of(code: Option<i32>, done: bool) -> Outcome {
    match code {
        Some(0) if done => Outcome::Saved,
        Some(2) => Outcome::Refused,
        _ => Outcome::Failed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_gives_the_same_schedule() {
        let (mut a, mut b) = (Rng(7), Rng(7));
        let one: Vec<usize> = (0..20).map(|_| a.below(100)).collect();
        let two: Vec<usize> = (0..20).map(|_| b.below(100)).collect();
        assert_eq!(one, two);
        assert!(one.iter().any(|v| *v != one[0]));
    }
}
