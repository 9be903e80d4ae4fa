//! What happened to messages: receipts for what this host sent, threads,
//! looking a message up, and the purge of expired mail everywhere.

use std::collections::HashSet;

use chrono::Utc;
use mesh_core::daemon_config::StorageScope;
use serde_json::Value;

use crate::error::{MessagingError, Result};
use crate::keys;
use crate::messaging::{Messaging, Receipts};
use crate::model::{Message, Recipient};

impl Messaging {
    /// The first message of the thread `msg_id` belongs to.
    pub(crate) async fn thread_root(&self, msg_id: &str) -> Result<String> {
        if let Some((m, _)) = self.inbox.sent(msg_id).await? {
            return Ok(m.correlation_id.unwrap_or(m.msg_id));
        }
        for (_, m) in self.mail().await? {
            if m.msg_id == msg_id {
                return Ok(m.correlation_id.unwrap_or(m.msg_id));
            }
        }
        Ok(msg_id.to_owned())
    }

    /// A message addressed here or sent from here, by id.
    pub async fn find(&self, msg_id: &str) -> Result<Option<Message>> {
        if let Some((m, _)) = self.inbox.sent(msg_id).await? {
            return Ok(Some(m));
        }
        Ok(self
            .mail()
            .await?
            .into_iter()
            .map(|(_, m)| m)
            .find(|m| m.msg_id == msg_id))
    }

    /// Every message currently addressed to this session or agent, per scope.
    pub(crate) async fn mail(&self) -> Result<Vec<(String, Message)>> {
        let mut out = Vec::new();
        for scope in &self.scopes {
            for recipient in [
                Recipient::Session(self.me.session_id.clone()),
                Recipient::Agent(self.me.agent_id.clone()),
            ] {
                let selector = keys::inbox_selector(scope, &recipient)?;
                for (key, text) in self.transport.get(&selector).await? {
                    if let Ok(m) = Message::from_json(&text) {
                        out.push((key, m));
                    }
                }
            }
        }
        Ok(out)
    }

    /// Who received and acknowledged a message this host sent.
    pub async fn receipts(&self, msg_id: &str) -> Result<Receipts> {
        let Some((msg, _)) = self.inbox.sent(msg_id).await? else {
            return Err(MessagingError::UnknownMessage(msg_id.to_owned()));
        };
        let scope = StorageScope::parse(&msg.scope)?;
        let read = |entries: Vec<(String, String)>, when: &str| -> Vec<(String, String, String)> {
            let mut out: Vec<(String, String, String)> = entries
                .into_iter()
                .map(|(key, text)| {
                    let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                    let field = |n: &str| {
                        v.get(n)
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned()
                    };
                    (
                        field("recipient_agent_id"),
                        keys::last_segment(&key).to_owned(),
                        field(when),
                    )
                })
                .collect();
            out.sort();
            out
        };
        let received = read(
            self.transport
                .get(&keys::receipt_selector(&scope, msg_id)?)
                .await?,
            "received_at",
        );
        let acked = read(
            self.transport
                .get(&keys::ack_selector(&scope, msg_id)?)
                .await?,
            "acked_at",
        );
        Ok(Receipts {
            msg_id: msg_id.to_owned(),
            scope: scope.label(),
            received,
            acked,
        })
    }

    /// The thread `msg_id` belongs to: what this host sent in it and the
    /// mail addressed here, oldest first.
    pub async fn thread(&self, msg_id: &str) -> Result<Vec<Message>> {
        let root = self.thread_root(msg_id).await?;
        let mut out = self.inbox.sent_in_thread(&root).await?;
        for (_, m) in self.mail().await? {
            let in_thread = m.msg_id == root || m.correlation_id.as_deref() == Some(root.as_str());
            if in_thread && !out.iter().any(|o| o.msg_id == m.msg_id) {
                out.push(m);
            }
        }
        out.sort_by(|a, b| a.created_at.cmp(&b.created_at));
        Ok(out)
    }

    /// Delete every expired message (and its acks and receipts) in the
    /// scopes this host holds; returns how many messages.
    pub async fn purge_expired(&self) -> Result<u64> {
        let now = Utc::now();
        let mut count = 0;
        for scope in &self.scopes {
            let entries = self.transport.get(&keys::scope_selector(scope)).await?;
            let mut expired = HashSet::new();
            for (key, text) in &entries {
                if key.contains("/inbox/")
                    && let Ok(m) = Message::from_json(text)
                    && m.is_expired(now)
                {
                    self.transport.delete(key).await?;
                    expired.insert(m.msg_id);
                    count += 1;
                }
            }
            for (key, _) in &entries {
                let parts: Vec<&str> = key.split('/').collect();
                let is_trail = parts.iter().any(|p| *p == "ack" || *p == "receipt");
                if is_trail
                    && parts
                        .iter()
                        .rev()
                        .nth(1)
                        .is_some_and(|id| expired.contains(*id))
                {
                    self.transport.delete(key).await?;
                }
            }
        }
        let _ = self.inbox.purge_expired().await;
        Ok(count)
    }
}
