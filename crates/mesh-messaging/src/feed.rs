//! New mail as it arrives, for push (`watch`, channel notifications): the
//! first call follows this session's and agent's inboxes (a Zenoh
//! subscriber in the mesh, a row cursor over the local mailbox) and then
//! lists the backlog once; every later call only looks at what arrived
//! since, so the cost does not grow with the size of the inbox.

use std::collections::HashSet;

use chrono::Utc;
use mesh_core::daemon_config::StorageScope;
use serde_json::Value;

use crate::error::Result;
use crate::keys;
use crate::messaging::{Arrived, CheckQuery, Found, Messaging};
use crate::model::{Message, Recipient};

impl Messaging {
    /// Mail this session had not seen before this call (each message once),
    /// oldest first, as listing items.
    pub async fn new_mail(&self) -> Result<Vec<Value>> {
        Ok(self
            .new_arrivals()
            .await?
            .into_iter()
            .map(|(_, item)| item)
            .collect())
    }

    /// [`Messaging::new_mail`], with each item's message.
    pub async fn new_arrivals(&self) -> Result<Vec<(Message, Value)>> {
        let q = CheckQuery {
            limit: Some(100),
            ..CheckQuery::default()
        };
        let mut feed = self.feed().lock().await;
        let Some(follower) = feed.as_mut() else {
            // Follow first, then list: nothing arriving in between is lost
            // (what both see is classified once).
            let mut selectors = Vec::new();
            for scope in self.scopes() {
                for r in self.recipients() {
                    selectors.push(keys::inbox_selector(scope, &r)?);
                }
            }
            *feed = Some(self.transport().follow(&selectors).await?);
            drop(feed);
            let (listing, messages) = self.scan(&q, true).await?;
            return Ok(messages.into_iter().zip(listing.messages).collect());
        };
        let entries = self.transport().drain(follower).await?;
        drop(feed);
        let now = Utc::now();
        let none = HashSet::new();
        let mut seen = HashSet::new();
        let mut items = Vec::new();
        for (key, text) in entries {
            let Some((scope, agent_mail)) = self.place_of(&key) else {
                continue;
            };
            let found = Found {
                scope: &scope,
                agent_mail,
                settled: &none,
                now,
            };
            if let Arrived::Item(sort, item, msg) = self
                .arrive(&key, &text, &found, &q, true, &mut seen)
                .await?
            {
                items.push((sort, *msg, item));
            }
        }
        items.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(items.into_iter().map(|i| (i.1, i.2)).collect())
    }

    fn recipients(&self) -> [Recipient; 2] {
        [
            Recipient::Session(self.me().session_id.clone()),
            Recipient::Agent(self.me().agent_id.clone()),
        ]
    }

    /// The scope of an inbox key of ours, and whether it is agent mail.
    fn place_of(&self, key: &str) -> Option<(StorageScope, bool)> {
        for scope in self.scopes() {
            for r in self.recipients() {
                let selector = keys::inbox_selector(scope, &r).ok()?;
                if key.starts_with(selector.trim_end_matches("**")) {
                    return Some((scope.clone(), matches!(r, Recipient::Agent(_))));
                }
            }
        }
        None
    }
}
