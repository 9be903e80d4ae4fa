//! The local store against a real SQLite file: search semantics, hidden
//! states, deletes, retention, rebuild, and rows written by other programs.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use mesh_core::identity::IdentitySource;
use mesh_core::{Environment, Identity, MemoryType, Paths, Settings};
use mesh_memory::{
    BulkSelector, LocalStore, Memory, MemoryError, MemoryStore, ObservationState, SaveRequest,
    SearchMode, SearchQuery,
};

struct Fixture {
    dir: tempfile::TempDir,
    memory: Memory<LocalStore>,
}

fn identity(session: &str) -> Identity {
    Identity {
        agent_family: "claude".into(),
        agent_family_source: IdentitySource::Env,
        client_id: "alice@mbp".into(),
        client_id_source: IdentitySource::Env,
        pc_id: "fceb8fdac7294bf1a986de3608142308".into(),
        session_id: session.into(),
    }
}

async fn open_at(dir: &Path, session: &str) -> Memory<LocalStore> {
    let paths = Paths::at(dir.join("state"), dir.join("config"));
    let settings =
        Settings::load_with_paths(&Environment::empty(dir, None), paths.clone()).unwrap();
    let store = LocalStore::open(&paths.local_db()).await.unwrap();
    Memory::with_identity(store, settings, identity(session))
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let memory = open_at(dir.path(), "s1").await;
    Fixture { dir, memory }
}

fn req(content: &str, subject: &str) -> SaveRequest {
    SaveRequest::new(content, subject, format!("summary of {subject}"))
}

impl Fixture {
    async fn save(&self, r: SaveRequest) -> String {
        self.memory
            .save(&r)
            .await
            .unwrap()
            .observation
            .observation_id
    }
    async fn ids(&self, q: SearchQuery) -> Vec<String> {
        self.memory
            .search(&q)
            .await
            .unwrap()
            .into_iter()
            .map(|o| o.observation_id)
            .collect()
    }
}

#[tokio::test]
async fn saved_observations_are_found_by_long_short_and_japanese_terms() {
    let f = fixture().await;
    let a = f
        .save(req(
            "Use FTS5 trigram tokenizer for 日本語検索",
            "tokenizer",
        ))
        .await;
    let b = f
        .save(req(
            "WAL mode keeps readers unblocked; db is fine",
            "sqlite wal",
        ))
        .await;
    assert_eq!(f.ids(SearchQuery::text("trigram")).await, vec![a.clone()]);
    assert_eq!(
        f.ids(SearchQuery::text("TRIGRAM")).await,
        vec![a.clone()],
        "case-insensitive"
    );
    assert_eq!(
        f.ids(SearchQuery::text("本語検")).await,
        vec![a.clone()],
        "substring of Japanese"
    );
    assert_eq!(
        f.ids(SearchQuery::text("検索")).await,
        vec![a.clone()],
        "two characters go through LIKE"
    );
    assert_eq!(f.ids(SearchQuery::text("db")).await, vec![b.clone()]);
    assert_eq!(
        f.ids(SearchQuery::text("wal")).await,
        vec![b.clone()],
        "subject is searchable"
    );
    assert!(f.ids(SearchQuery::text("postgres")).await.is_empty());
}

#[tokio::test]
async fn modes_and_or_and_or_combine_terms_like_the_reference() {
    let f = fixture().await;
    let both = f.save(req("alpha and beta together", "both")).await;
    let alpha = f.save(req("only alpha here", "one")).await;
    let gamma = f.save(req("gamma stands alone", "other")).await;
    let and = f.ids(SearchQuery::text("alpha beta")).await;
    assert_eq!(and, vec![both.clone()]);
    let mut or = f
        .ids(SearchQuery::text("alpha gamma").mode(SearchMode::Or))
        .await;
    or.sort();
    let mut expect = vec![both.clone(), alpha.clone(), gamma.clone()];
    expect.sort();
    assert_eq!(or, expect);
    let and_or = f
        .ids(SearchQuery::text("alpha beta").mode(SearchMode::AndOr))
        .await;
    assert_eq!(and_or[0], both, "AND hits come first");
    assert_eq!(and_or.len(), 2);
    assert!(and_or.contains(&alpha));
}

#[tokio::test]
async fn ranking_is_importance_then_relevance_and_browse_is_recency() {
    let f = fixture().await;
    let low = f
        .save(SaveRequest {
            importance: 1,
            ..req("cache cache cache cache", "c1")
        })
        .await;
    let high = f
        .save(SaveRequest {
            importance: 5,
            ..req("a note that mentions cache once", "c2")
        })
        .await;
    let mid = f
        .save(SaveRequest {
            importance: 3,
            ..req("cache policy", "c3")
        })
        .await;
    assert_eq!(
        f.ids(SearchQuery::text("cache")).await,
        vec![high.clone(), mid.clone(), low.clone()]
    );
    assert_eq!(
        f.ids(SearchQuery::browse()).await,
        vec![mid, high, low],
        "browse is newest first"
    );
}

#[tokio::test]
async fn tombstoned_superseded_and_expired_rows_are_hidden_with_their_state() {
    let f = fixture().await;
    let old = f
        .save(SaveRequest {
            memory_type: MemoryType::Decision,
            ..req("use redis for sessions", "session store")
        })
        .await;
    let outcome = f
        .memory
        .save(&SaveRequest {
            memory_type: MemoryType::Decision,
            ..req("use postgres for sessions", "Session  Store")
        })
        .await
        .unwrap();
    assert_eq!(
        outcome
            .supersede_candidates
            .iter()
            .map(|o| o.observation_id.clone())
            .collect::<Vec<_>>(),
        vec![old.clone()],
        "same normalised subject and type is suggested"
    );
    let new = f
        .save(SaveRequest {
            memory_type: MemoryType::Decision,
            supersedes: vec![old.clone()],
            ..req("use postgres for sessions, final", "session store")
        })
        .await;
    assert!(!f.ids(SearchQuery::text("sessions")).await.contains(&old));
    assert_eq!(
        f.memory.get(&old).await.unwrap().unwrap().state,
        ObservationState::Superseded
    );

    // Deleting the superseder brings the old entry back.
    f.memory.delete(&new, "wrong").await.unwrap();
    assert_eq!(
        f.memory.get(&new).await.unwrap().unwrap().state,
        ObservationState::Tombstoned
    );
    assert!(f.ids(SearchQuery::text("sessions")).await.contains(&old));
    assert!(!f.ids(SearchQuery::text("sessions")).await.contains(&new));

    let short = f
        .save(SaveRequest {
            expires_at: Some("2000-01-01T00:00:00Z".into()),
            ..req("scratch ping", "ping")
        })
        .await;
    assert!(f.ids(SearchQuery::text("scratch")).await.is_empty());
    assert_eq!(
        f.memory.get(&short).await.unwrap().unwrap().state,
        ObservationState::Expired
    );
    let q = SearchQuery {
        include_expired: true,
        ..SearchQuery::text("scratch")
    };
    assert_eq!(f.ids(q).await, vec![short]);
}

#[tokio::test]
async fn filters_narrow_results() {
    let f = fixture().await;
    let a = f
        .save(SaveRequest {
            project: "alpha".into(),
            memory_type: MemoryType::Bug,
            source_files: vec!["src/a.rs".into()],
            references: vec!["#67".into()],
            ..req("panic on empty input", "parser")
        })
        .await;
    let b = f
        .save(SaveRequest {
            project: "beta".into(),
            ..req("panic in beta", "beta")
        })
        .await;
    let q = |mut q: SearchQuery, edit: &dyn Fn(&mut SearchQuery)| {
        edit(&mut q);
        q
    };
    let panic = SearchQuery::text("panic");
    assert_eq!(
        f.ids(q(panic.clone(), &|q| q.projects = vec!["alpha".into()]))
            .await,
        vec![a.clone()]
    );
    let mut both = f
        .ids(q(panic.clone(), &|q| {
            q.projects = vec!["alpha".into(), "beta".into()]
        }))
        .await;
    both.sort();
    let mut ab = vec![a.clone(), b.clone()];
    ab.sort();
    assert_eq!(both, ab);
    assert_eq!(
        f.ids(q(panic.clone(), &|q| q.memory_types = vec![MemoryType::Bug]))
            .await,
        vec![a.clone()]
    );
    assert_eq!(
        f.ids(q(panic.clone(), &|q| q.source_files = vec!["src/a.rs".into()]))
            .await,
        vec![a.clone()]
    );
    assert_eq!(
        f.ids(q(panic.clone(), &|q| q.references = vec!["#67".into()]))
            .await,
        vec![a.clone()]
    );
    assert!(
        f.ids(q(panic.clone(), &|q| q.references = vec!["#6".into()]))
            .await
            .is_empty()
    );
    assert_eq!(
        f.ids(q(panic.clone(), &|q| q.session_id = "s1".into()))
            .await
            .len(),
        2
    );
    assert!(
        f.ids(q(panic.clone(), &|q| q.agent_family = "codex".into()))
            .await
            .is_empty()
    );
    assert!(
        f.ids(q(panic.clone(), &|q| q.since =
            Some("2999-01-01T00:00:00.000000Z".into())))
            .await
            .is_empty()
    );
    assert_eq!(f.ids(q(panic, &|q| q.limit = 1)).await.len(), 1);
}

#[tokio::test]
async fn bulk_delete_pages_past_timestamp_ties_and_leaves_the_rest() {
    let f = fixture().await;
    for i in 0..25 {
        f.save(SaveRequest {
            project: "bulk".into(),
            ..req(&format!("row {i}"), "bulk")
        })
        .await;
    }
    let keep = f
        .save(SaveRequest {
            project: "keep".into(),
            ..req("keep me", "keep")
        })
        .await;
    let selector = BulkSelector {
        project: "bulk".into(),
        ..BulkSelector::default()
    };
    let ids = f.memory.bulk_targets(&selector, 7).await.unwrap();
    assert_eq!(ids.len(), 25);
    let mut calls = 0;
    let done = f
        .memory
        .bulk_delete(&ids, "cleanup", 10, |_| calls += 1)
        .await
        .unwrap();
    assert_eq!((done.ok, done.failed, calls), (25, 0, 2));
    assert_eq!(f.ids(SearchQuery::browse()).await, vec![keep]);
    assert!(
        f.memory
            .bulk_targets(&BulkSelector::default(), 10)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn gc_removes_old_tombstones_and_force_id_purges_now() {
    let f = fixture().await;
    let a = f.save(req("to be deleted", "a")).await;
    let b = f.save(req("to be purged", "b")).await;
    f.memory.delete(&a, "").await.unwrap();
    let report = f.memory.gc(30, None).await.unwrap();
    assert_eq!(
        report.tombstones, 0,
        "a fresh tombstone is kept for the retention"
    );
    let report = f.memory.gc(0, None).await.unwrap();
    assert_eq!(report.tombstones, 1);
    assert!(f.memory.get(&a).await.unwrap().is_none());
    let removed = f.memory.gc_force_id(&b).await.unwrap();
    assert!(removed.observation && !removed.tombstone);
    assert!(f.memory.get(&b).await.unwrap().is_none());
    assert!(f.memory.gc(-1, None).await.is_err());
}

#[tokio::test]
async fn gc_candidates_list_then_execute_exactly_those() {
    let f = fixture().await;
    let expired = f
        .save(SaveRequest {
            expires_at: Some("2001-01-01".into()),
            ..req("old ping", "ping")
        })
        .await;
    let gone = f.save(req("deleted", "gone")).await;
    f.memory.delete(&gone, "").await.unwrap();
    let c = f.memory.gc_candidates(0, None).await.unwrap();
    assert_eq!(c.expired_ttl.len(), 1);
    assert_eq!(c.expired_tombstones.len(), 1);
    let r = f.memory.gc_execute(&c).await.unwrap();
    assert_eq!((r.tombstoned, r.tombstones_purged, r.failures), (1, 1, 0));
    assert_eq!(
        f.memory.get(&expired).await.unwrap().unwrap().state,
        ObservationState::Tombstoned
    );
    assert!(f.memory.get(&gone).await.unwrap().is_none());
}

#[tokio::test]
async fn rebuild_reproduces_the_same_answers() {
    let f = fixture().await;
    for i in 0..30 {
        let id = f
            .save(SaveRequest {
                importance: (i % 5) + 1,
                ..req(&format!("entry number {i} about caching"), "cache")
            })
            .await;
        if i % 7 == 0 {
            f.memory.delete(&id, "").await.unwrap();
        }
    }
    let before = f.ids(SearchQuery::text("caching")).await;
    let stats = f.memory.rebuild_index().await.unwrap();
    assert_eq!(stats.observations, 30);
    assert_eq!(stats.tombstones, 5);
    assert_eq!(f.ids(SearchQuery::text("caching")).await, before);
}

#[tokio::test]
async fn rows_written_by_another_program_are_indexed_on_open() {
    let f = fixture().await;
    let mine = f.save(req("written by us", "ours")).await;
    f.memory.close().await;
    // Another writer (the reference, sharing the state directory) adds a
    // row and tombstones ours, knowing nothing about the index.
    let db = f.dir.path().join("state/local/raw.db");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let theirs = "0123456789abcdef0123456789abcdef";
    let payload = format!(
        r#"{{"content": "written by python", "agent_family": "codex", "client_id": "bob@x", "pc_id": "p", "session_id": "s", "project": "", "tags": [], "observation_id": "{theirs}", "created_at": "2026-11-23T10:00:00.000000Z", "memory_type": "note", "importance": 2, "subject": "py", "summary": "from python", "source_files": [], "references": [], "supersedes": [], "visibility": "mesh", "scope_id": "", "expires_at": ""}}"#
    );
    sqlx::query("INSERT OR REPLACE INTO local_obs(observation_id, payload_json, created_at) VALUES (?, ?, ?)")
        .bind(theirs)
        .bind(&payload)
        .bind("2026-11-23T10:00:00.000000Z")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("INSERT OR REPLACE INTO local_tomb(observation_id, tomb_json, deleted_at) VALUES (?, ?, ?)")
        .bind(&mine)
        .bind(format!(r#"{{"observation_id": "{mine}", "reason": "", "deleted_at": "2026-11-23T11:00:00.000000Z"}}"#))
        .bind("2026-11-23T11:00:00.000000Z")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;

    let reopened = open_at(f.dir.path(), "s2").await;
    let hits: Vec<String> = reopened
        .search(&SearchQuery::text("written"))
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.observation_id)
        .collect();
    assert_eq!(hits, vec![theirs.to_owned()]);
    assert_eq!(
        reopened.get(&mine).await.unwrap().unwrap().state,
        ObservationState::Tombstoned
    );
}

#[tokio::test]
async fn a_damaged_database_is_reported_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("local/raw.db");
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    let garbage =
        b"this is not a sqlite database, it is a text file that got in the way".repeat(100);
    std::fs::write(&db, &garbage).unwrap();
    let err = LocalStore::open(&db).await.unwrap_err();
    assert!(matches!(err, MemoryError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("Move it aside"), "{err}");
    assert_eq!(std::fs::read(&db).unwrap(), garbage);
}

#[tokio::test]
async fn invalid_ids_and_missing_rows_are_distinct_errors() {
    let f = fixture().await;
    assert!(matches!(
        f.memory.get("abc").await,
        Err(MemoryError::InvalidObservationId)
    ));
    assert!(matches!(
        f.memory.get(&"A".repeat(32)).await,
        Err(MemoryError::InvalidObservationId)
    ));
    let missing = "0".repeat(32);
    assert!(f.memory.get(&missing).await.unwrap().is_none());
    assert!(matches!(
        f.memory.delete(&missing, "").await,
        Err(MemoryError::NotFound(_))
    ));
}

#[tokio::test]
async fn backfill_appends_superseding_copies() {
    let f = fixture().await;
    // Simulate an old entry stored without metadata by writing it directly.
    let mut old = mesh_core::Observation::from_json(
        r#"{"content": "Root cause: stale cache. Fixed by keying on tenant.", "observation_id": "11111111111111111111111111111111", "agent_family": "claude", "client_id": "c", "pc_id": "p", "session_id": "s", "visibility": "mesh"}"#,
    )
    .unwrap();
    old.created_at = "2026-01-01T00:00:00.000000Z".into();
    f.memory.store().put_observation(&old).await.unwrap();
    let plan = f.memory.backfill_plan("").await.unwrap();
    assert_eq!(plan.items.len(), 1);
    assert_eq!(f.memory.backfill_apply(&plan.items).await.unwrap(), 1);
    assert_eq!(
        f.memory
            .get(&old.observation_id)
            .await
            .unwrap()
            .unwrap()
            .state,
        ObservationState::Superseded
    );
    let again = f.memory.backfill_plan("").await.unwrap();
    assert!(again.items.is_empty(), "a second run repairs nothing");
}

/// Closing the last connection checkpoints: the database file alone then
/// holds every save, so copying `raw.db` (a backup, a move to another
/// machine) loses nothing, and a store opened afterwards sees them all.
#[tokio::test]
async fn after_close_the_database_file_alone_holds_every_save() {
    let f = fixture().await;
    let mut saved = Vec::new();
    for i in 0..5 {
        saved.push(f.save(req(&format!("log entry {i}"), "wal")).await);
    }
    f.memory.close().await;
    let db = f.dir.path().join("state/local/raw.db");
    let mut wal = db.clone().into_os_string();
    wal.push("-wal");
    let wal_len = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    assert_eq!(wal_len, 0, "closing left commits in the log");

    let copy = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(copy.path().join("state/local")).unwrap();
    std::fs::copy(&db, copy.path().join("state/local/raw.db")).unwrap();
    let reopened = open_at(copy.path(), "s2").await;
    let found: Vec<String> = reopened
        .search(&SearchQuery::text("log entry"))
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.observation_id)
        .collect();
    for id in &saved {
        assert!(found.contains(id), "{id} missing from the copied file");
    }
    reopened.close().await;
}
