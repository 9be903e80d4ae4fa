//! Presence: while an MCP server or `watch` runs, it puts a heartbeat at
//! `msg/{scope}/presence/{agent_id}/{session_id}` every 30 s, in the
//! reference's payload; a peer counts as online for 90 s after its last
//! beat. As in the reference, beats go to the user and team scopes, and to
//! the mesh scope only with `KIOKU_MESH_MESSAGING_PRESENCE_MESH=1` (or in
//! local mode, where the mesh scope is this machine).

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use mesh_core::daemon_config::StorageScope;
use mesh_core::keyspace::Visibility;
use serde_json::{Value, json};

use crate::error::Result;
use crate::messaging::Messaging;

/// Time between heartbeats.
pub const HEARTBEAT: Duration = Duration::from_secs(30);
/// How long after its last beat a peer counts as online, in seconds.
pub const PRESENCE_TTL_SECS: i64 = 90;
/// The variable that opts in to presence on the mesh scope.
pub const PRESENCE_MESH_ENV: &str = "KIOKU_MESH_MESSAGING_PRESENCE_MESH";

/// One online session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presence {
    /// The agent.
    pub agent_id: String,
    /// Its agent family (claude, codex, ...).
    pub agent_family: String,
    /// The session.
    pub session_id: String,
    /// The host it runs on.
    pub host: String,
    /// The scope the beat was seen in.
    pub scope: String,
    /// Its last beat (wire form).
    pub last_seen: String,
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default()
}

impl Messaging {
    fn presence_scopes(&self, mesh_opt_in: bool) -> Vec<StorageScope> {
        self.scopes()
            .iter()
            .filter(|s| s.visibility() != Visibility::Mesh || mesh_opt_in || self.is_local())
            .cloned()
            .collect()
    }

    /// Put one heartbeat in every presence scope; `mesh_opt_in` is the
    /// value of [`PRESENCE_MESH_ENV`] being `1`.
    pub async fn announce(&self, agent_family: &str, mesh_opt_in: bool) -> Result<()> {
        let now = Utc::now();
        let scopes = self.presence_scopes(mesh_opt_in);
        let me = self.me();
        let payload = json!({
            "schema_version": 1,
            "agent_id": me.agent_id,
            "agent_family": agent_family,
            "client_id": me.agent_id,
            "session_id": me.session_id,
            "host": host_name(),
            "pid": std::process::id(),
            "last_seen": mesh_core::timestamp::format(now),
            "expires_at": mesh_core::timestamp::format(now + TimeDelta::seconds(PRESENCE_TTL_SECS)),
            "ttl_sec": PRESENCE_TTL_SECS,
            "capabilities": ["mcp_poll", "ack"],
            "delivery_adapters": ["mcp"],
            "scopes": scopes.iter().map(StorageScope::label).collect::<Vec<_>>(),
        })
        .to_string();
        for scope in &scopes {
            let key = crate::keys::presence_key(scope, &me.agent_id, &me.session_id)?;
            self.transport().put(&key, &payload).await?;
        }
        Ok(())
    }

    /// Sessions whose last beat is at most 90 s old, per scope.
    pub async fn who(&self) -> Result<Vec<Presence>> {
        let now = Utc::now();
        let mut out = Vec::new();
        for scope in self.scopes() {
            let selector = format!("msg/{}/presence/**", scope.label());
            for (_, text) in self.transport().get(&selector).await? {
                let Ok(v) = serde_json::from_str::<Value>(&text) else {
                    continue;
                };
                let field = |n: &str| {
                    v.get(n)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned()
                };
                let Some(seen) = mesh_core::timestamp::parse(&field("last_seen")) else {
                    continue;
                };
                if (now - seen).num_seconds() > PRESENCE_TTL_SECS {
                    continue;
                }
                out.push(Presence {
                    agent_id: field("agent_id"),
                    agent_family: field("agent_family"),
                    session_id: field("session_id"),
                    host: field("host"),
                    scope: scope.label(),
                    last_seen: field("last_seen"),
                });
            }
        }
        out.sort_by(|a, b| {
            (&a.agent_id, &a.session_id, &a.scope).cmp(&(&b.agent_id, &b.session_id, &b.scope))
        });
        Ok(out)
    }
}
