//! In-process helpers for the mesh tests: seeding many observations through
//! the library (a thousand CLI processes would only measure process start),
//! and putting malformed values on the wire.

use mesh_memory::{PutOutcome, SaveRequest};

use crate::harness::Sandbox;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// Save `n` observations containing `term` through `sb`'s daemon; returns
/// their ids. Every save must be confirmed by a storage.
pub fn seed(sb: &Sandbox, n: usize, term: &str) -> Vec<String> {
    runtime().block_on(async {
        let memory = mesh_memory::open(sb.environment())
            .await
            .expect("opening the mesh store");
        let mut ids = Vec::with_capacity(n);
        for i in 0..n {
            let out = memory
                .save(&SaveRequest::new(
                    format!("seeded observation {i} {term}"),
                    "seed",
                    format!("seeded {i}"),
                ))
                .await
                .expect("a seeded save");
            assert_eq!(out.put, PutOutcome::Stored, "save {i} was not confirmed");
            ids.push(out.observation.observation_id);
        }
        memory.close().await;
        ids
    })
}

/// Put values no ingest path may accept, straight onto `sb`'s daemon.
/// Returns what was put, for failure messages.
pub fn put_garbage(sb: &Sandbox) -> Vec<String> {
    let endpoint = sb.var("ZENOH_CONNECT").expect("ZENOH_CONNECT");
    runtime().block_on(async {
        let session = mesh_core::session::open_client(&[endpoint], std::time::Duration::from_secs(5))
            .await
            .expect("a client session");
        let id = "0123456789abcdef0123456789abcdef";
        let other = "fedcba9876543210fedcba9876543210";
        let key = format!("mem/mesh/obs/claude/c/pc/s/{id}");
        let obs = |oid: &str, content: &str| {
            format!(
                r#"{{"observation_id":"{oid}","content":"{content}","created_at":"2026-11-23T10:00:00.000000Z","agent_family":"claude","client_id":"c","pc_id":"pc","session_id":"s","visibility":"mesh","subject":"s","summary":"m"}}"#
            )
        };
        let huge = "x".repeat(400 * 1024);
        let cases: Vec<(String, Vec<u8>)> = vec![
            (key.clone(), b"{not json".to_vec()),
            (key.clone(), obs(other, "id differs").into_bytes()),
            (key.clone(), vec![0xff, 0xfe, 0x00]),
            (key.clone(), obs(id, &huge).into_bytes()),
            ("mem/mesh/obs/claude/c/pc/s/not-an-id".to_owned(), obs(id, "bad id").into_bytes()),
            (format!("mem/mesh/obs/claude/c/pc/{id}"), obs(id, "short key").into_bytes()),
            (format!("mem/mesh/tomb/claude/c/pc/s/{id}"), b"[]".to_vec()),
        ];
        let mut described = Vec::new();
        for (k, v) in cases {
            session.put(k.as_str(), v.clone()).await.expect("a put");
            described.push(format!("{k}: {} bytes", v.len()));
        }
        // Let the daemon's subscriber see them before anyone checks.
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let _ = session.close().await;
        described
    })
}

/// Put `n` observations containing `term` under the legacy layout
/// (`mem/obs/...`, no visibility field), plus a legacy tombstone for the
/// first one. Returns their ids.
pub fn put_legacy(sb: &Sandbox, n: usize, term: &str) -> Vec<String> {
    let endpoint = sb.var("ZENOH_CONNECT").expect("ZENOH_CONNECT");
    runtime().block_on(async {
        let session = mesh_core::session::open_client(&[endpoint], std::time::Duration::from_secs(5))
            .await
            .expect("a client session");
        let mut ids = Vec::new();
        for i in 0..n {
            let id = mesh_core::Observation::new_id();
            let payload = format!(
                r#"{{"content":"legacy {i} {term}","agent_family":"claude","client_id":"old","pc_id":"pc","session_id":"s","observation_id":"{id}","created_at":"2025-01-01T00:00:0{i}.000000Z","subject":"legacy","summary":"old layout"}}"#
            );
            session
                .put(format!("mem/obs/claude/old/pc/s/{id}"), payload)
                .await
                .expect("a legacy put");
            ids.push(id);
        }
        let tomb = mesh_core::Tombstone::new(&ids[0], "old delete");
        session
            .put(format!("mem/tomb/claude/old/pc/s/{}", ids[0]), tomb.to_json())
            .await
            .expect("a legacy tombstone");
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let _ = session.close().await;
        ids
    })
}

/// Put `n` valid observations containing `term` straight onto `sb`'s
/// daemon as fast as one client can, without waiting for any storage to
/// confirm them (a burst, unlike [`seed`]). Returns their ids.
pub fn put_burst(sb: &Sandbox, n: usize, term: &str) -> Vec<String> {
    let endpoint = sb.var("ZENOH_CONNECT").expect("ZENOH_CONNECT");
    runtime().block_on(async {
        let session = mesh_core::session::open_client(&[endpoint], std::time::Duration::from_secs(5))
            .await
            .expect("a client session");
        let mut ids = Vec::with_capacity(n);
        for i in 0..n {
            let id = mesh_core::Observation::new_id();
            let payload = format!(
                r#"{{"observation_id":"{id}","content":"burst {i} {term}","created_at":"2026-11-23T10:00:00.000000Z","agent_family":"claude","client_id":"c","pc_id":"pc","session_id":"s","visibility":"mesh","subject":"burst","summary":"burst {i}"}}"#
            );
            session
                .put(format!("mem/mesh/obs/claude/c/pc/s/{id}"), payload)
                .await
                .expect("a put");
            ids.push(id);
        }
        // Flush: a put is sent asynchronously, the session must not close first.
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let _ = session.close().await;
        ids
    })
}
