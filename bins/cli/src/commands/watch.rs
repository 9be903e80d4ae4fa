//! `kioku-mesh watch`: new mail and new observations as they arrive, one
//! line each (text or JSON), for scripts, tmux panes and hooks. Mail is
//! what this session had not seen; observations are rows newly indexed on
//! this host (saved here or arrived from the mesh). Runs until interrupted
//! or until its output is closed, and announces its presence meanwhile.

use std::collections::HashSet;
use std::io::Write as _;
use std::time::Duration;

use anyhow::Result;
use mesh_core::{Environment, Settings};
use mesh_messaging::presence::{HEARTBEAT, PRESENCE_MESH_ENV};
use mesh_messaging::{Me, Messaging};
use serde_json::{Value, json};

use super::OK;
use crate::args::{MsgFormat, WatchArgs};

/// How often the inbox and the index are looked at.
const POLL: Duration = Duration::from_millis(50);

/// Print `line`; false once the reader has gone.
fn emit(line: &str) -> bool {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").and_then(|()| out.flush()).is_ok()
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Run until SIGINT, SIGTERM or a closed output.
pub async fn run(a: &WatchArgs, env: Environment, settings: Settings) -> Result<u8> {
    let both = !a.messages && !a.observations;
    let pc_id = mesh_core::identity::load_or_create_pc_id(&settings.paths)?;
    let me = Me::from_env(&env, || format!("watch-{pc_id}"));
    let (family, _) = mesh_core::identity::resolve_agent_family(&env);
    let mesh_opt_in = env.var(PRESENCE_MESH_ENV) == Some("1");
    let tmux = settings.tmux.clone();
    let messaging = Messaging::open(&settings, &env, me).await?;
    let memory = mesh_memory::open_with(env, settings).await?;
    let mut cursor = memory.arrivals_cursor().await?;
    let mut shown: HashSet<String> = HashSet::new();
    let mut stop = Box::pin(async {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            },
            _ => std::future::pending::<()>().await,
        }
    });
    let mut beat = tokio::time::interval(HEARTBEAT);
    let json = a.format == MsgFormat::Json;
    'watch: loop {
        tokio::select! {
            () = &mut stop => break,
            _ = beat.tick() => {
                if let Err(e) = messaging.announce(&family, mesh_opt_in).await {
                    tracing::debug!("presence heartbeat failed: {e}");
                }
                continue;
            }
            () = tokio::time::sleep(POLL) => {}
        }
        if both || a.messages {
            match messaging.new_arrivals().await {
                Ok(mail) => {
                    for (msg, m) in mail {
                        if let Err(e) = mesh_bridge::promote_if_marked(&memory, &msg).await {
                            tracing::warn!("cannot keep message {} as memory: {e}", msg.msg_id);
                        }
                        if let Some(pane) = &a.tmux_pane
                            && let Err(why) = mesh_bridge::tmux::deliver(&msg, pane, &tmux)
                        {
                            crate::output::note(format!(
                                "tmux: message {} not typed into {pane}: {why}",
                                msg.msg_id
                            ));
                        }
                        let line = if json {
                            let mut v = m.clone();
                            v["kind"] = json!("message");
                            v.to_string()
                        } else {
                            format!(
                                "message {} from {} ({}): {}",
                                text_of(&m["msg_id"]),
                                text_of(&m["sender"]["agent_id"]),
                                text_of(&m["scope"]),
                                text_of(&m["body"]).lines().next().unwrap_or_default()
                            )
                        };
                        if !emit(&line) {
                            break 'watch;
                        }
                    }
                }
                Err(e) => tracing::debug!("checking mail failed: {e}"),
            }
        }
        if both || a.observations {
            match memory.arrivals(cursor).await {
                Ok((observations, next)) => {
                    cursor = next;
                    for obs in observations {
                        if !shown.insert(obs.observation_id.clone()) {
                            continue;
                        }
                        let line = if json {
                            let mut v: Value =
                                serde_json::from_str(&obs.to_json()).unwrap_or_default();
                            v["kind"] = json!("observation");
                            v.to_string()
                        } else {
                            format!(
                                "observation {} [{}] {}: {} ({})",
                                obs.observation_id,
                                obs.memory_type,
                                obs.subject,
                                obs.summary,
                                obs.client_id
                            )
                        };
                        if !emit(&line) {
                            break 'watch;
                        }
                    }
                }
                Err(e) => tracing::debug!("reading new observations failed: {e}"),
            }
        }
    }
    messaging.close().await;
    memory.close().await;
    Ok(OK)
}
