//! Embedding mesh-memory in another Rust program.
//!
//! Run with `cargo run -p mesh-memory --example embed`. It uses a temporary
//! store so it leaves nothing behind; a real agent would call
//! `mesh_memory::open(Environment::from_process())` to share the user's
//! memory (local mode by default, the mesh when configured).

use mesh_memory::{
    Environment, Identity, LocalStore, Memory, MemoryType, Paths, SaveRequest, SearchQuery,
    Settings,
};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("kioku-embed-{}", std::process::id()));
    let paths = Paths::at(dir.join("state"), dir.join("config"));
    let settings = Settings::load_with_paths(&Environment::from_process(), paths.clone())?;
    let store = LocalStore::open(&paths.local_db()).await?;
    // An embedding program names itself; the CLI and MCP server resolve this
    // from the environment instead.
    let identity = Identity::named("my-agent", "embed-example", &paths)?;
    let memory = Memory::with_identity(store, settings, identity);

    let mut decision = SaveRequest::new(
        "Retries use exponential backoff capped at 30 s; unbounded retries took the API down on 2026-11-02.",
        "retry policy",
        "exponential backoff, 30 s cap",
    );
    decision.memory_type = MemoryType::Decision;
    decision.importance = 4;
    decision.project = "payments".into();
    let saved = memory.save(&decision).await?;
    println!(
        "saved {} (scope {})",
        saved.observation.observation_id, saved.scope
    );

    for obs in memory
        .search(&SearchQuery::text("backoff").project("payments"))
        .await?
    {
        println!(
            "[{}][{}] {} — {}",
            obs.memory_type, obs.importance, obs.subject, obs.summary
        );
    }
    memory.close().await;
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
