//! [`Messaging`]: send, check, acknowledge, receipts, threads and purge,
//! written once over the mesh or the local mailbox.
//!
//! Several sessions of one agent (issue #193 of the reference): mail to an
//! agent is classified per session, as in the reference, but an ack by any
//! session of the addressed agent settles it for the agent: every session
//! then sees it as read.

use std::collections::HashSet;

use chrono::Utc;
use mesh_core::daemon_config::StorageScope;
use mesh_core::{BackendMode, Environment, Settings, Visibility};
use serde_json::{Value, json};

use crate::error::{MessagingError, Result};
use crate::inbox::{Arrival, Inbox};
use crate::keys;
use crate::limits::{self, Channel};
use crate::listing::{ingress_error, message_diagnostic, message_item};
use crate::model::{Ack, Message, Recipient, is_msg_id, new_id};
use crate::transport::Transport;

/// Who is acting: this process's agent and session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Me {
    /// The agent id (client id, e.g. `alice@laptop`).
    pub agent_id: String,
    /// The session id.
    pub session_id: String,
}

impl Me {
    /// This process: the agent id is the client id (`KIOKU_MESH_CLIENT_ID`,
    /// else user@host); the session is `KIOKU_MESH_SESSION_ID`, else
    /// `fallback` (the MCP server's own session; for the CLI a stable
    /// `cli-<host id>`, so that `msg inbox` and `msg ack` agree across runs).
    pub fn from_env(env: &Environment, fallback: impl FnOnce() -> String) -> Self {
        let (agent_id, _) = mesh_core::identity::resolve_client_id(env);
        let session_id = env
            .var(mesh_core::identity::SESSION_ID_ENV)
            .map_or_else(fallback, str::to_owned);
        Self {
            agent_id,
            session_id,
        }
    }
}

/// What to send.
#[derive(Debug, Clone)]
pub struct SendRequest {
    /// The addressee.
    pub to: Recipient,
    /// The scope; `None` is mesh.
    pub visibility: Option<Visibility>,
    /// Lifetime in seconds.
    pub ttl_sec: Option<u64>,
    /// A subject line.
    pub subject: Option<String>,
    /// The message this one answers.
    pub reply_to: Option<String>,
    /// Whether the sender wants an acknowledgement.
    pub requires_ack: bool,
    /// Ask recipients to keep it as memory (`metadata.promote_hint`).
    pub promote: bool,
    /// The text.
    pub body: String,
}

/// What to list.
#[derive(Debug, Clone, Default)]
pub struct CheckQuery {
    /// At most this many (1-100; default 20).
    pub limit: Option<i64>,
    /// One scope only; `None` checks every scope this host holds.
    pub visibility: Option<Visibility>,
    /// Include mail already acknowledged.
    pub include_acked: bool,
    /// Include expired mail (as diagnostics when it expired on arrival).
    pub include_expired: bool,
    /// Only mail created at or after this wire timestamp.
    pub since: Option<String>,
}

/// The answer of a check, in the reference's JSON shape.
#[derive(Debug, Clone)]
pub struct CheckResult {
    /// Message items, oldest first.
    pub messages: Vec<Value>,
    /// Whether more than `limit` matched.
    pub truncated: bool,
    /// Arrivals that are not mail (duplicates of retired ids, expired ones, unreadable ones).
    pub diagnostics: Vec<Value>,
}

impl CheckResult {
    /// `{"messages", "count", "truncated", "diagnostics"}`.
    pub fn to_json(&self) -> Value {
        json!({
            "messages": self.messages,
            "count": self.messages.len(),
            "truncated": self.truncated,
            "diagnostics": self.diagnostics,
        })
    }
}

/// Who received and who acknowledged a sent message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipts {
    /// The message.
    pub msg_id: String,
    /// Its scope.
    pub scope: String,
    /// Sessions that received it: `(agent, session, when)`.
    pub received: Vec<(String, String, String)>,
    /// Sessions that acknowledged it: `(agent, session, when)`.
    pub acked: Vec<(String, String, String)>,
}

/// Where an arrival was found, for [`Messaging::arrive`].
pub(crate) struct Found<'a> {
    pub(crate) scope: &'a StorageScope,
    pub(crate) agent_mail: bool,
    pub(crate) settled: &'a HashSet<String>,
    pub(crate) now: chrono::DateTime<Utc>,
}

/// What a listing shows of one arrival.
pub(crate) enum Arrived {
    /// A message item, with its sort key.
    Item((String, i64, String), Value, Box<Message>),
    /// A diagnostic instead of mail.
    Diagnostic(Value),
    /// Nothing (seen already in this call, read, expired, or not new).
    Skip,
}

/// Messaging for one process.
pub struct Messaging {
    pub(crate) transport: Transport,
    pub(crate) feed: tokio::sync::Mutex<Option<crate::transport::Follower>>,
    pub(crate) inbox: Inbox,
    pub(crate) me: Me,
    pub(crate) scopes: Vec<StorageScope>,
}

fn scope_of(visibility: Option<Visibility>, settings: &Settings) -> Result<StorageScope> {
    let text = match visibility.unwrap_or(Visibility::Mesh) {
        Visibility::User => format!(
            "user/{}",
            settings.user_id.as_deref().ok_or_else(|| MessagingError::InvalidArgument(
                "visibility 'user' needs a user id: set KIOKU_MESH_USER_ID or user_id in config.yaml".to_owned()
            ))?
        ),
        Visibility::Team => format!(
            "team/{}",
            settings.team_id.as_deref().ok_or_else(|| MessagingError::InvalidArgument(
                "visibility 'team' needs a team id: set KIOKU_MESH_TEAM_ID or team_id in .kioku-mesh.yaml".to_owned()
            ))?
        ),
        _ => "mesh".to_owned(),
    };
    Ok(StorageScope::parse(&text)?)
}

impl Messaging {
    /// Open for this process: the mesh or the local mailbox as configured,
    /// the inbox database, and the identity to act as.
    pub async fn open(settings: &Settings, env: &Environment, me: Me) -> Result<Self> {
        for (what, value) in [("agent id", &me.agent_id), ("session id", &me.session_id)] {
            if let Some(problem) = mesh_core::keyspace::key_segment_problem(value) {
                return Err(MessagingError::InvalidArgument(format!(
                    "{what} '{}' cannot be part of a key: {problem}",
                    value.escape_debug()
                )));
            }
        }
        let state = &settings.paths.state_dir;
        let transport = match settings.backend {
            BackendMode::Local => {
                Transport::local(&state.join("local").join("messages.db")).await?
            }
            _ => Transport::mesh(mesh_core::session::client_endpoints(env)?),
        };
        let inbox = Inbox::open(&state.join("messaging").join("inbox.db")).await?;
        let mut scopes = vec![StorageScope::mesh()];
        for v in [Visibility::User, Visibility::Team] {
            if let Ok(scope) = scope_of(Some(v), settings) {
                scopes.push(scope);
            }
        }
        Ok(Self {
            transport,
            feed: tokio::sync::Mutex::new(None),
            inbox,
            me,
            scopes,
        })
    }

    /// The scopes this process checks.
    pub fn scopes(&self) -> &[StorageScope] {
        &self.scopes
    }

    /// Who this process acts as.
    pub fn me(&self) -> &Me {
        &self.me
    }

    /// Whether messages travel through the local mailbox (local mode).
    pub fn is_local(&self) -> bool {
        matches!(self.transport, Transport::Local { .. })
    }

    pub(crate) fn transport(&self) -> &Transport {
        &self.transport
    }

    pub(crate) fn feed(&self) -> &tokio::sync::Mutex<Option<crate::transport::Follower>> {
        &self.feed
    }

    fn pick_scope(&self, visibility: Option<Visibility>) -> Result<StorageScope> {
        let Some(v) = visibility.filter(|v| *v != Visibility::Mesh) else {
            return Ok(StorageScope::mesh());
        };
        self.scopes
            .iter()
            .find(|s| s.visibility() == v)
            .cloned()
            .ok_or_else(|| {
                MessagingError::InvalidArgument(format!(
                    "visibility '{v}' needs a {v} id: set KIOKU_MESH_{}_ID (or {v}_id in the configuration)",
                    v.as_str().to_uppercase()
                ))
            })
    }

    /// Send a message; returns it as stored.
    pub async fn send(&self, req: SendRequest) -> Result<Message> {
        let scope = self.pick_scope(req.visibility)?;
        if req.body.trim().is_empty() {
            return Err(MessagingError::InvalidArgument(
                "the message body is empty; say what the recipient should know or do".to_owned(),
            ));
        }
        let msg_id = new_id();
        let body = Value::String(req.body);
        limits::check_body(&body, limits::MAX_BODY_BYTES, Channel::Mcp, "")
            .map_err(MessagingError::TooLarge)?;
        if let Some(subject) = &req.subject
            && subject.len() > limits::MAX_SUBJECT_BYTES
        {
            return Err(MessagingError::InvalidArgument(format!(
                "the subject is {} bytes, over the {}-byte limit; shorten it",
                subject.len(),
                limits::MAX_SUBJECT_BYTES
            )));
        }
        let correlation_id = match &req.reply_to {
            None => None,
            Some(id) if !is_msg_id(id) => {
                return Err(MessagingError::InvalidArgument(format!(
                    "--reply-to '{id}' is not a msg_id (32 lowercase hex characters)"
                )));
            }
            // The thread is named by its first message.
            Some(id) => Some(self.thread_root(id).await.unwrap_or_else(|_| id.clone())),
        };
        let mut extras = serde_json::Map::new();
        if let Some(subject) = req.subject.filter(|s| !s.trim().is_empty()) {
            extras.insert("subject".to_owned(), Value::String(subject));
        }
        if let Some(id) = &req.reply_to {
            extras.insert("reply_to".to_owned(), Value::String(id.clone()));
        }
        if req.promote {
            extras.insert("metadata".to_owned(), json!({ "promote_hint": true }));
        }
        let now = Utc::now();
        let msg = Message {
            msg_id: msg_id.clone(),
            sender_id: self.me.agent_id.clone(),
            scope: scope.label(),
            payload: json!({}),
            created_at: mesh_core::timestamp::format(now),
            expires_at: req.ttl_sec.and_then(|t| {
                let at = now
                    .checked_add_signed(chrono::TimeDelta::try_seconds(i64::try_from(t).ok()?)?)?;
                Some(mesh_core::timestamp::format(at))
            }),
            ttl_sec: req.ttl_sec,
            sender_seq: None,
            schema_version: crate::model::SCHEMA_VERSION.to_owned(),
            kind: "direct".to_owned(),
            sender: json!({ "agent_id": self.me.agent_id, "session_id": self.me.session_id }),
            recipient: req.to.to_json(),
            body,
            content_type: "text/plain".to_owned(),
            requires_ack: req.requires_ack,
            delivery_adapters: Vec::new(),
            correlation_id,
            extras,
        };
        if req.ttl_sec == Some(0) {
            return Err(MessagingError::InvalidArgument(
                "--ttl 0 would expire the message before anyone reads it; give seconds > 0, or leave it out for no expiry".to_owned(),
            ));
        }
        if let (Some(ttl), None) = (req.ttl_sec, &msg.expires_at) {
            return Err(MessagingError::InvalidArgument(format!(
                "a lifetime of {ttl} seconds reaches past the year 262143; give fewer seconds, or leave it out for no expiry"
            )));
        }
        let key = keys::inbox_key(&scope, &req.to, &msg_id)?;
        let text = msg.to_json();
        if text.len() > limits::MAX_ENVELOPE_BYTES {
            return Err(MessagingError::TooLarge(limits::too_large(
                text.len(),
                limits::MAX_ENVELOPE_BYTES,
                Channel::Envelope,
                &msg_id,
            )));
        }
        self.transport.put(&key, &text).await?;
        self.inbox.record_sent(&msg, &key).await?;
        Ok(msg)
    }

    /// Acks of every message in `scope`, by msg_id.
    async fn acked_ids(&self, scope: &StorageScope) -> Result<HashSet<String>> {
        let selector = format!("msg/{}/ack/**", scope.label());
        Ok(self
            .transport
            .get(&selector)
            .await?
            .into_iter()
            .filter_map(|(key, _)| key.split('/').rev().nth(1).map(str::to_owned))
            .collect())
    }

    /// List mail for this session and agent (the reference's `check_messages`).
    pub async fn check(&self, q: &CheckQuery) -> Result<CheckResult> {
        Ok(self.scan(q, false).await?.0)
    }

    /// A listing, and the messages behind its items (same order).
    pub(crate) async fn scan(
        &self,
        q: &CheckQuery,
        only_new: bool,
    ) -> Result<(CheckResult, Vec<Message>)> {
        let limit = usize::try_from(q.limit.unwrap_or(20).clamp(1, 100)).unwrap_or(20);
        let scopes: Vec<StorageScope> = match q.visibility {
            None => self.scopes.clone(),
            Some(v) => vec![self.pick_scope(Some(v))?],
        };
        let now = Utc::now();
        let mut seen = HashSet::new();
        let mut items: Vec<(String, i64, String, Value, Box<Message>)> = Vec::new();
        let mut diagnostics = Vec::new();
        for scope in &scopes {
            let settled = self.acked_ids(scope).await.unwrap_or_default();
            for recipient in [
                Recipient::Session(self.me.session_id.clone()),
                Recipient::Agent(self.me.agent_id.clone()),
            ] {
                let selector = keys::inbox_selector(scope, &recipient)?;
                for (key, text) in self.transport.get(&selector).await? {
                    let ctx = Found {
                        scope,
                        agent_mail: matches!(recipient, Recipient::Agent(_)),
                        settled: &settled,
                        now,
                    };
                    match self
                        .arrive(&key, &text, &ctx, q, only_new, &mut seen)
                        .await?
                    {
                        Arrived::Item(sort, item, msg) => {
                            items.push((sort.0, sort.1, sort.2, item, msg));
                        }
                        Arrived::Diagnostic(d) => diagnostics.push(d),
                        Arrived::Skip => {}
                    }
                }
            }
        }
        let _ = self.inbox.purge_expired().await;
        items.sort_by(|a, b| (&a.0, a.1, &a.2).cmp(&(&b.0, b.1, &b.2)));
        let truncated = items.len() > limit;
        let kept: Vec<_> = items.into_iter().take(limit).collect();
        Ok((
            CheckResult {
                messages: kept.iter().map(|i| i.3.clone()).collect(),
                truncated,
                diagnostics,
            },
            kept.into_iter().map(|i| *i.4).collect(),
        ))
    }

    /// Classify one stored message and decide what a listing shows of it.
    pub(crate) async fn arrive(
        &self,
        key: &str,
        text: &str,
        ctx: &Found<'_>,
        q: &CheckQuery,
        only_new: bool,
        seen: &mut HashSet<String>,
    ) -> Result<Arrived> {
        let mut msg = match Message::from_json(text) {
            Ok(m) => m,
            Err(e) => return Ok(Arrived::Diagnostic(ingress_error(key, &e.to_string()))),
        };
        if !seen.insert(msg.msg_id.clone()) {
            return Ok(Arrived::Skip);
        }
        if msg.scope.is_empty() {
            msg.scope = ctx.scope.label();
        }
        let envelope_error = (text.len() > limits::MAX_ENVELOPE_BYTES).then(|| {
            limits::too_large(
                text.len(),
                limits::MAX_ENVELOPE_BYTES,
                Channel::Envelope,
                &msg.msg_id,
            )
        });
        let mut verdict = self.inbox.classify(&msg, &self.me.session_id).await?;
        if matches!(
            verdict.arrival,
            Arrival::Registered | Arrival::DuplicateLive
        ) {
            if verdict.arrival == Arrival::Registered {
                self.put_receipt(ctx.scope, &msg).await;
            }
            if ctx.agent_mail && ctx.settled.contains(&msg.msg_id) && !verdict.acked {
                self.inbox.settle(&msg.msg_id, &self.me.session_id).await?;
                verdict.acked = true;
            }
        }
        let expired = msg.is_expired(ctx.now);
        if expired && !q.include_expired {
            let _ = self.transport.delete(key).await;
        }
        if verdict.arrival.is_diagnostic()
            && !(q.include_expired && verdict.arrival == Arrival::ExpiredOnArrival)
        {
            return Ok(Arrived::Diagnostic(message_diagnostic(
                &msg,
                &self.me.session_id,
                &verdict,
            )));
        }
        if (only_new && verdict.arrival != Arrival::Registered)
            || (expired && !q.include_expired)
            || (verdict.acked && !q.include_acked)
            || q.since
                .as_deref()
                .is_some_and(|s| msg.created_at.as_str() < s)
        {
            return Ok(Arrived::Skip);
        }
        let item = message_item(&msg, verdict.acked, envelope_error.as_deref());
        Ok(Arrived::Item(
            (
                msg.created_at.clone(),
                msg.sender_seq.unwrap_or(0),
                msg.msg_id.clone(),
            ),
            item,
            Box::new(msg),
        ))
    }

    async fn put_receipt(&self, scope: &StorageScope, msg: &Message) {
        let Ok(key) = keys::receipt_key(scope, &msg.msg_id, &self.me.session_id) else {
            return;
        };
        let receipt = json!({
            "msg_id": msg.msg_id,
            "recipient_session_id": self.me.session_id,
            "recipient_agent_id": self.me.agent_id,
            "received_at": mesh_core::timestamp::now(),
        });
        if let Err(e) = self.transport.put(&key, &receipt.to_string()).await {
            tracing::debug!("no delivery receipt for {}: {e}", msg.msg_id);
        }
    }

    /// Acknowledge `msg_id` for this session; returns the scope.
    pub async fn ack(&self, msg_id: &str, visibility: Option<Visibility>) -> Result<String> {
        if msg_id.len() != 32 {
            return Err(MessagingError::InvalidArgument(
                "msg_id must be a full 32-hex string.".to_owned(),
            ));
        }
        let known = self.inbox.record_ack(msg_id, &self.me.session_id).await?;
        let Some(scope_label) = known else {
            return Err(MessagingError::UnknownMessage(msg_id.to_owned()));
        };
        let scope = StorageScope::parse(&scope_label).or_else(|_| self.pick_scope(visibility))?;
        let ack = Ack {
            msg_id: msg_id.to_owned(),
            recipient_session_id: self.me.session_id.clone(),
            status: "acknowledged".to_owned(),
            acked_at: Some(mesh_core::timestamp::now()),
            recipient_agent_id: Some(self.me.agent_id.clone()),
        };
        let key = keys::ack_key(&scope, msg_id, &self.me.session_id)?;
        self.transport
            .put(&key, &serde_json::to_string(&ack).unwrap_or_default())
            .await?;
        Ok(scope.label())
    }

    /// Close the mesh session, if one was opened.
    pub async fn close(&self) {
        self.transport.close().await;
    }
}
