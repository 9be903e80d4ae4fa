//! `kioku-mesh msg ...`: messages between agents. Parses, calls
//! `mesh_messaging::Messaging`, prints.

use std::io::Read as _;

use anyhow::{Context, Result};
use mesh_core::{Environment, Settings};
use mesh_messaging::{CheckQuery, Me, Messaging, Recipient, SendRequest};
use serde_json::Value;

use super::{FAILED, OK};
use crate::args::{MsgCommand, MsgFormat, MsgInboxArgs, MsgSendArgs};
use crate::output;

/// Run one `msg` subcommand.
pub async fn run(command: &MsgCommand, env: &Environment, settings: &Settings) -> Result<u8> {
    let pc_id = mesh_core::identity::load_or_create_pc_id(&settings.paths)?;
    let me = Me::from_env(env, || format!("cli-{pc_id}"));
    let messaging = Messaging::open(settings, env, me).await?;
    let result = match command {
        MsgCommand::Send(a) => send(a, &messaging).await,
        MsgCommand::Inbox(a) => inbox(a, &messaging).await,
        MsgCommand::Ack(a) => {
            let scope = messaging.ack(&a.msg_id, None).await?;
            output::line(format!("acked: {} (scope={scope})", a.msg_id));
            Ok(OK)
        }
        MsgCommand::Status(a) => status(&a.msg_id, &messaging).await,
        MsgCommand::Thread(a) => thread(&a.msg_id, &messaging).await,
        MsgCommand::Purge => {
            let n = messaging.purge_expired().await?;
            output::line(format!("purged {n} expired message(s)"));
            Ok(OK)
        }
        MsgCommand::Who => who(&messaging).await,
        MsgCommand::Promote(a) => promote(&a.msg_id, &messaging, env, settings).await,
        MsgCommand::Hook(a) => super::msg_hook::run(a, &messaging).await,
    };
    messaging.close().await;
    result
}

async fn send(a: &MsgSendArgs, messaging: &Messaging) -> Result<u8> {
    let body = if a.body == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read the body from standard input")?;
        text
    } else {
        a.body.clone()
    };
    let to = match (&a.to, &a.session) {
        (Some(agent), _) => Recipient::Agent(agent.clone()),
        (None, Some(session)) => Recipient::Session(session.clone()),
        (None, None) => unreachable!("clap requires --to or --session"),
    };
    let msg = messaging
        .send(SendRequest {
            to,
            visibility: a.visibility,
            ttl_sec: a.ttl,
            subject: a.subject.clone(),
            reply_to: a.reply_to.clone(),
            requires_ack: a.requires_ack,
            promote: a.promote,
            body,
        })
        .await?;
    output::line(&msg.msg_id);
    Ok(OK)
}

fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

async fn inbox(a: &MsgInboxArgs, messaging: &Messaging) -> Result<u8> {
    let result = messaging
        .check(&CheckQuery {
            limit: Some(a.limit),
            visibility: a.visibility,
            include_acked: a.all,
            ..CheckQuery::default()
        })
        .await?;
    if a.format == MsgFormat::Json {
        output::line(result.to_json().to_string());
        return Ok(OK);
    }
    if result.messages.is_empty() {
        output::line("no unread messages.");
    }
    for m in &result.messages {
        let field = |path: &[&str]| {
            path.iter()
                .try_fold(m, |v, k| v.get(*k))
                .map(text_of)
                .unwrap_or_default()
        };
        let subject = field(&["subject"]);
        let read = if m["acked"] == Value::Bool(true) {
            " (read)"
        } else {
            ""
        };
        output::line(format!(
            "[{}] {} from {} ({}){read}",
            field(&["msg_id"]),
            field(&["created_at"]),
            field(&["sender", "agent_id"]),
            field(&["scope"]),
        ));
        if !subject.is_empty() {
            output::line(format!("  subject: {subject}"));
        }
        for line in field(&["body"]).lines() {
            output::line(format!("  {line}"));
        }
    }
    if result.truncated {
        output::line("(more messages: raise -n or acknowledge some)");
    }
    for d in &result.diagnostics {
        output::note(format!(
            "note: {} {}: {}",
            text_of(&d["code"]),
            text_of(&d["msg_id"]),
            text_of(&d["remedy"])
        ));
    }
    Ok(OK)
}

async fn promote(
    msg_id: &str,
    messaging: &Messaging,
    env: &Environment,
    settings: &Settings,
) -> Result<u8> {
    let Some(msg) = messaging.find(msg_id).await? else {
        output::note(format!(
            "error: no message {msg_id} addressed to this agent or sent from this host"
        ));
        return Ok(FAILED);
    };
    let memory = mesh_memory::open_with(env.clone(), settings.clone()).await?;
    let outcome = mesh_bridge::promote(&memory, &msg).await;
    memory.close().await;
    let outcome = outcome?;
    output::line(format!(
        "promoted: {} -> {} (visibility={})",
        msg_id, outcome.observation.observation_id, outcome.scope
    ));
    Ok(OK)
}

async fn who(messaging: &Messaging) -> Result<u8> {
    let online = messaging.who().await?;
    if online.is_empty() {
        output::line(
            "nobody online (sessions announce themselves while an MCP server or `kioku-mesh watch` runs).",
        );
    }
    for p in online {
        output::line(format!(
            "{}  {}  session {}  on {}  ({}, last seen {})",
            p.agent_id, p.agent_family, p.session_id, p.host, p.scope, p.last_seen
        ));
    }
    Ok(OK)
}

async fn status(msg_id: &str, messaging: &Messaging) -> Result<u8> {
    let r = messaging.receipts(msg_id).await?;
    output::line(format!("{} (scope={})", r.msg_id, r.scope));
    if r.received.is_empty() {
        output::line("  received: nobody yet");
    }
    for (agent, session, at) in &r.received {
        output::line(format!("  received: {agent} session {session} at {at}"));
    }
    for (agent, session, at) in &r.acked {
        output::line(format!("  acked:    {agent} session {session} at {at}"));
    }
    Ok(if r.received.is_empty() && r.acked.is_empty() {
        FAILED
    } else {
        OK
    })
}

async fn thread(msg_id: &str, messaging: &Messaging) -> Result<u8> {
    let messages = messaging.thread(msg_id).await?;
    if messages.is_empty() {
        output::line(format!("no messages in the thread of {msg_id}"));
        return Ok(FAILED);
    }
    for m in messages {
        output::line(format!(
            "[{}] {} {} -> {}",
            m.msg_id,
            m.created_at,
            m.sender_agent(),
            m.recipient().map_or_else(String::new, |r| match r {
                Recipient::Agent(a) => a,
                Recipient::Session(s) => format!("session {s}"),
            })
        ));
        for line in text_of(m.visible_body()).lines() {
            output::line(format!("  {line}"));
        }
    }
    Ok(OK)
}
