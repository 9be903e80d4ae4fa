//! Keeping every router's admission policy current: a daemon service that
//! answers for the policy in force on [`POLICY_KEY`], asks the mesh (and
//! its own `tls/policy.json`, which `tls sign`, `grant` and `revoke` write
//! on the CA host) for a newer one every second, and, when a newer version
//! verifies against the CA, stores it and asks the daemon to restart: Zenoh
//! reads access control only when a router starts.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use zenoh::Session;
use zenoh::query::{ConsolidationMode, QueryTarget};

use crate::access::POLICY_KEY;
use crate::daemon::{ReloadHandle, ServiceError};
use crate::pki::TlsFiles;
use crate::pki::policy::{self, Policy, SignedPolicy};

/// How often the mesh and the local file are asked for a newer policy.
const POLL: Duration = Duration::from_secs(1);
/// How many refused documents are remembered (to warn once about each).
const MAX_REMEMBERED: usize = 64;
/// How long one ask of the mesh waits for answers.
const ASK_TIMEOUT: Duration = Duration::from_millis(800);

/// Serve the policy in force and watch for a newer one until `stop`.
pub async fn run(
    session: Session,
    files: TlsFiles,
    in_force: Option<(SignedPolicy, Policy)>,
    reload: ReloadHandle,
    mut stop: watch::Receiver<bool>,
) -> Result<(), ServiceError> {
    let current: Arc<Option<String>> =
        Arc::new(in_force.as_ref().map(|(s, _)| s.as_str().to_owned()));
    let served = current.clone();
    let _queryable = session
        .declare_queryable(POLICY_KEY)
        .callback(move |query| {
            if let Some(text) = served.as_ref() {
                let _ = zenoh::Wait::wait(query.reply(POLICY_KEY, text.as_str()));
            }
        })
        .await?;
    let version = in_force.as_ref().map(|(_, p)| p.clone());
    let mut refused = HashSet::new();
    loop {
        tokio::select! {
            _ = stop.changed() => return Ok(()),
            () = tokio::time::sleep(POLL) => {}
        }
        if let Some(newer) = newer_policy(&session, &files, version.as_ref(), &mut refused).await {
            reload.request(format!(
                "admission policy version {} (issued {})",
                newer.version, newer.issued_at
            ));
            return Ok(());
        }
    }
}

/// A policy newer than `in_force`, from the local file or any router,
/// already stored as this host's policy.
async fn newer_policy(
    session: &Session,
    files: &TlsFiles,
    in_force: Option<&Policy>,
    refused: &mut HashSet<String>,
) -> Option<Policy> {
    let Ok(ca_pem) = std::fs::read_to_string(files.ca_cert()) else {
        return None;
    };
    let mut offers = Vec::new();
    if let Ok(text) = std::fs::read_to_string(files.policy()) {
        offers.push((SignedPolicy::from_text(text), true));
    }
    if let Ok(replies) = session
        .get(POLICY_KEY)
        .target(QueryTarget::All)
        .consolidation(ConsolidationMode::None)
        .timeout(ASK_TIMEOUT)
        .await
    {
        while let Ok(reply) = replies.recv_async().await {
            if let Ok(sample) = reply.result()
                && let Ok(text) = sample.payload().try_to_string()
            {
                offers.push((SignedPolicy::from_text(text.into_owned()), false));
            }
        }
    }
    let mut best: Option<(SignedPolicy, Policy, bool)> = None;
    for (offer, from_file) in offers {
        match policy::accept(&offer, &ca_pem, in_force) {
            Ok(p) if best.as_ref().is_none_or(|(_, b, _)| p.version > b.version) => {
                best = Some((offer, p, from_file));
            }
            Ok(_) | Err(crate::pki::PkiError::PolicyStale { .. }) => {}
            // Once per distinct document: a peer offering a forged policy
            // every second must not flood the log.
            Err(e) => {
                if refused.len() < MAX_REMEMBERED && refused.insert(offer.as_str().to_owned()) {
                    tracing::warn!("refused an admission policy: {e}");
                }
            }
        }
    }
    let (signed, newer, from_file) = best?;
    if !from_file && let Err(e) = policy::store(files, &signed) {
        tracing::warn!(
            "cannot store admission policy version {}: {e}",
            newer.version
        );
        return None;
    }
    Some(newer)
}
