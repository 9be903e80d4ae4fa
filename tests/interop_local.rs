//! Differential tests against the Python reference kioku-mesh 1.2.0 in
//! local mode: the same saves and searches on both, compared field by
//! field, and each implementation reading the other's stored rows.

use std::path::Path;

use serde_json::Value;

use crate::harness::{Run, Sandbox, reference_bin};

/// Identity and backend shared by both sides so documents are comparable.
fn sandbox() -> Sandbox {
    let mut s = Sandbox::new();
    s.set("KIOKU_MESH_SESSION_ID", "20261123T000000Z-00000000");
    // The reference defaults to the zenoh backend; ours to local.
    s.set("KIOKU_MESH_BACKEND", "local");
    std::fs::create_dir_all(s.state_dir()).unwrap();
    std::fs::write(
        s.state_dir().join("pc_id"),
        "fceb8fdac7294bf1a986de3608142308\n",
    )
    .unwrap();
    s
}

fn reference(s: &Sandbox, bin: &Path, args: &[&str]) -> Run {
    s.run(bin, args)
}

/// Saves exercising every field; the same list runs on both sides.
const SAVES: &[&[&str]] = &[
    &[
        "save",
        "Use FTS5 trigram for Japanese search 日本語の全文検索",
        "--subject",
        "FTS tokenizer",
        "--summary",
        "trigram chosen over unicode61",
        "-p",
        "demo",
        "-t",
        "fts,search",
        "--memory-type",
        "decision",
        "--importance",
        "4",
        "--references",
        "#67,PR#68",
        "--source-files",
        "src/index.rs",
    ],
    &[
        "save",
        "WAL mode with synchronous=NORMAL keeps readers unblocked",
        "--subject",
        "sqlite wal",
        "--summary",
        "WAL for concurrency",
        "-p",
        "demo",
        "--memory-type",
        "config",
        "--importance",
        "3",
    ],
    &[
        "save",
        "Panic when the query is empty: guard added before FTS MATCH",
        "--subject",
        "empty query panic",
        "--summary",
        "guard empty MATCH",
        "-p",
        "other",
        "--memory-type",
        "bug",
        "--importance",
        "5",
        "-t",
        "panic",
    ],
    &[
        "save",
        "Prefer small immutable notes; updates are new observations that supersede",
        "--subject",
        "immutability",
        "--summary",
        "append-only notes",
        "--memory-type",
        "pattern",
    ],
    &[
        "save",
        "Session summary: trigram search and WAL settled",
        "--subject",
        "session wrap-up",
        "--summary",
        "search and storage decided",
        "-p",
        "demo",
        "--memory-type",
        "summary",
        "--importance",
        "1",
    ],
    &[
        "save",
        "Quotes \"inside\" and back\\slash and tab\tchar",
        "--subject",
        "escaping",
        "--summary",
        "json escapes",
        "-p",
        "demo",
    ],
];

/// Searches compared between the two sides.
const SEARCHES: &[&[&str]] = &[
    &["search", "--format", "json"],
    &["search", "trigram", "--format", "json"],
    &["search", "日本語", "--format", "json"],
    &["search", "全文検索", "--format", "json"],
    &["search", "WAL", "--format", "json"],
    &["search", "trigram WAL", "--format", "json"],
    &[
        "search",
        "trigram WAL",
        "--search-mode",
        "or",
        "--format",
        "json",
    ],
    &[
        "search",
        "trigram WAL",
        "--search-mode",
        "and_or",
        "--format",
        "json",
    ],
    &["search", "-p", "demo", "--format", "json"],
    &["search", "search", "-p", "demo", "--format", "json"],
    &[
        "search",
        "--agent-family",
        "claude",
        "-n",
        "2",
        "--format",
        "json",
    ],
    &["search", "guard", "--format", "json"],
    &["search", "inside", "--format", "json"],
    &["search", "nothing-matches-this", "--format", "json"],
];

/// Drop the fields that differ between two independent saves.
fn comparable(docs: &[Value]) -> Vec<Value> {
    docs.iter()
        .map(|d| {
            let mut d = d.clone();
            let m = d.as_object_mut().unwrap();
            m.remove("observation_id");
            m.remove("created_at");
            d
        })
        .collect()
}

fn parse(out: &Run) -> Vec<Value> {
    serde_json::from_str(out.ok().trim())
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", out.stdout))
}

#[test]
fn same_saves_and_searches_give_the_same_documents() {
    let Some(py) = reference_bin() else { return };
    let ours = sandbox();
    let theirs = sandbox();
    for args in SAVES {
        let a = ours.km(args);
        let b = reference(&theirs, &py, args);
        assert_eq!(
            a.code, b.code,
            "{args:?}\nours: {}\nreference: {}",
            a.stderr, b.stderr
        );
        assert!(a.ok().starts_with("saved: ") && b.ok().starts_with("saved: "));
        assert_eq!(
            a.stdout.split_once(" (").unwrap().1,
            b.stdout.split_once(" (").unwrap().1
        );
    }
    for args in SEARCHES {
        let a = parse(&ours.km(args));
        let b = parse(&reference(&theirs, &py, args));
        assert_eq!(
            comparable(&a),
            comparable(&b),
            "results differ for {args:?}"
        );
    }
    // Text and markdown forms agree too, apart from ids and times.
    for args in [
        &["search", "trigram"][..],
        &["search", "WAL", "--format", "markdown"][..],
    ] {
        // Drop the id and every timestamp token; the rest must be equal.
        let strip = |s: &str| {
            s.lines()
                .map(|l| {
                    l.split("<id=")
                        .next()
                        .unwrap_or_default()
                        .split(' ')
                        .filter(|t| {
                            !(t.len() >= 16 && t.as_bytes()[4] == b'-' && t.as_bytes()[10] == b'T')
                        })
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .collect::<Vec<_>>()
        };
        let a = ours.km(args);
        let b = reference(&theirs, &py, args);
        assert_eq!(strip(a.ok()), strip(b.ok()), "{args:?}");
    }
}

#[test]
fn refusals_agree_with_the_reference() {
    let Some(py) = reference_bin() else { return };
    let ours = sandbox();
    let theirs = sandbox();
    for args in [
        &["save", "x"][..],
        &["save", "x", "--subject", "-", "--summary", "ok"][..],
        &[
            "save",
            "x",
            "--subject",
            "s",
            "--summary",
            "m",
            "--memory-type",
            "insight",
        ][..],
        &[
            "save",
            "x",
            "--subject",
            "s",
            "--summary",
            "m",
            "--importance",
            "9",
        ][..],
        &["get-memory", "abc"][..],
        &["get-memory", "0123456789abcdef0123456789abcdef"][..],
        &["delete"][..],
        &["gc", "--force-id", "short"][..],
    ] {
        let a = ours.km(args);
        let b = reference(&theirs, &py, args);
        assert_eq!(
            a.code, b.code,
            "{args:?}\nours: {}\nreference: {}",
            a.stderr, b.stderr
        );
    }
}

/// Give `to` a copy of `from`'s local database.
fn copy_store(from: &Sandbox, to: &Sandbox) {
    std::fs::create_dir_all(to.local_db().parent().unwrap()).unwrap();
    std::fs::copy(from.local_db(), to.local_db()).unwrap();
}

fn ids(docs: &[Value]) -> Vec<String> {
    docs.iter()
        .map(|d| d["observation_id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn each_side_reads_the_others_stored_rows() {
    let Some(py) = reference_bin() else { return };
    // Reference writes; we read its database.
    let theirs = sandbox();
    for args in SAVES {
        reference(&theirs, &py, args).ok();
    }
    let victim = ids(&parse(&reference(
        &theirs,
        &py,
        &["search", "guard", "--format", "json"],
    )));
    reference(&theirs, &py, &["delete", &victim[0]]).ok();
    let ours = sandbox();
    copy_store(&theirs, &ours);
    for args in SEARCHES {
        let a = parse(&ours.km(args));
        let b = parse(&reference(&theirs, &py, args));
        assert_eq!(a, b, "reading the reference's rows: {args:?}");
    }
    assert!(
        ours.km(&["get-memory", &victim[0]])
            .ok()
            .contains("state: tombstoned")
    );

    // We write; the reference reads our database.
    let ours = sandbox();
    for args in SAVES {
        ours.km(args).ok();
    }
    let theirs = sandbox();
    copy_store(&ours, &theirs);
    for args in SEARCHES {
        let a = parse(&ours.km(args));
        let b = parse(&reference(&theirs, &py, args));
        assert_eq!(a, b, "the reference reading our rows: {args:?}");
    }
}

#[test]
fn one_state_directory_shared_by_both_implementations() {
    let Some(py) = reference_bin() else { return };
    let shared = sandbox();
    let mut expected = Vec::new();
    for (i, args) in SAVES.iter().enumerate() {
        let out = if i % 2 == 0 {
            shared.km(args)
        } else {
            reference(&shared, &py, args)
        };
        expected.push(crate::harness::saved_id(out.ok()));
    }
    // A delete from each side.
    reference(&shared, &py, &["delete", &expected[0]]).ok();
    shared.km(&["delete", &expected[1]]).ok();
    let mut a = ids(&parse(&shared.km(&["search", "--format", "json"])));
    let mut b = ids(&parse(&reference(
        &shared,
        &py,
        &["search", "--format", "json"],
    )));
    a.sort();
    b.sort();
    let mut live: Vec<String> = expected[2..].to_vec();
    live.sort();
    assert_eq!(a, live, "we see every live row, whoever wrote it");
    assert_eq!(
        b, live,
        "the reference sees every live row, whoever wrote it"
    );
}
