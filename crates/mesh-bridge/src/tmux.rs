//! Opt-in delivery of a message into a tmux pane (`watch --tmux-pane`),
//! for agents that read only their terminal. Off unless configured
//! (`messaging.tmux` in config.yaml), and only for allowed panes, senders
//! and scopes, and bodies within `max_body_bytes` (8 KiB by default). The
//! typed line says it is another agent's message, not the user's.

use std::process::Command;

use mesh_core::config::TmuxAdapterConfig;
use mesh_messaging::Message;
use mesh_messaging::limits::{self, Channel};
use serde_json::Value;

/// The line to type for `msg` into `pane`, or why it must not be typed.
pub fn line_for(msg: &Message, pane: &str, cfg: &TmuxAdapterConfig) -> Result<String, String> {
    if !cfg.enabled {
        return Err(
            "tmux delivery is off; set messaging.tmux.enabled: true in config.yaml".to_owned(),
        );
    }
    if !cfg.pane_allowlist.iter().any(|p| p == pane) {
        return Err(format!(
            "pane {pane} is not in messaging.tmux.pane_allowlist"
        ));
    }
    let sender = msg.sender_agent();
    if !cfg.sender_allowlist.iter().any(|s| s == sender) {
        return Err(format!(
            "sender {sender} is not in messaging.tmux.sender_allowlist"
        ));
    }
    // `user` allows every `user/<id>` scope (the reference compared the
    // whole label, so its default never matched a real scope).
    let kind = msg.scope.split('/').next().unwrap_or_default();
    if !cfg
        .scope_allowlist
        .iter()
        .any(|s| *s == msg.scope || s == kind)
    {
        return Err(format!(
            "scope {} is not in messaging.tmux.scope_allowlist",
            msg.scope
        ));
    }
    let body = match msg.visible_body() {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let limit = usize::try_from(cfg.max_body_bytes).unwrap_or(usize::MAX);
    limits::check_body(
        &Value::String(body.clone()),
        limit,
        Channel::Tmux,
        &msg.msg_id,
    )?;
    // One line: a newline typed into a prompt would submit half of it.
    let flat: String = body
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    Ok(format!(
        "[kioku-mesh message from {sender}, not from the user] {flat}"
    ))
}

/// Type `msg` into `pane` and press Enter.
pub fn deliver(msg: &Message, pane: &str, cfg: &TmuxAdapterConfig) -> Result<(), String> {
    let line = line_for(msg, pane, cfg)?;
    let send = |args: &[&str]| -> Result<(), String> {
        let out = Command::new("tmux")
            .args(args)
            .output()
            .map_err(|e| format!("cannot run tmux: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "tmux {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    };
    send(&["send-keys", "-t", pane, "-l", &line])?;
    send(&["send-keys", "-t", pane, "Enter"])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(scope: &str, body: &str) -> Message {
        Message::from_json(&format!(
            r#"{{"sender_id": "bob@desk", "scope": "{scope}", "payload": {{}}, "body": {}}}"#,
            serde_json::Value::String(body.to_owned())
        ))
        .unwrap()
    }

    fn cfg() -> TmuxAdapterConfig {
        TmuxAdapterConfig {
            enabled: true,
            pane_allowlist: vec!["%1".into()],
            sender_allowlist: vec!["bob@desk".into()],
            scope_allowlist: vec!["user".into(), "mesh".into()],
            max_body_bytes: 16,
        }
    }

    #[test]
    fn every_guard_refuses_with_the_setting_to_change() {
        let m = msg("user/alice", "two\nlines");
        assert_eq!(
            line_for(&m, "%1", &cfg()).unwrap(),
            "[kioku-mesh message from bob@desk, not from the user] two lines"
        );
        let off = TmuxAdapterConfig {
            enabled: false,
            ..cfg()
        };
        assert!(line_for(&m, "%1", &off).unwrap_err().contains("enabled"));
        assert!(
            line_for(&m, "%2", &cfg())
                .unwrap_err()
                .contains("pane_allowlist")
        );
        assert!(
            line_for(&msg("team/core", "x"), "%1", &cfg())
                .unwrap_err()
                .contains("scope_allowlist")
        );
        let big = line_for(&msg("mesh", &"x".repeat(17)), "%1", &cfg()).unwrap_err();
        assert!(
            big.contains("over the 16-byte (0 KiB) limit for the tmux channel"),
            "{big}"
        );
        let stranger = TmuxAdapterConfig {
            sender_allowlist: vec![],
            ..cfg()
        };
        assert!(
            line_for(&m, "%1", &stranger)
                .unwrap_err()
                .contains("sender_allowlist")
        );
    }
}
