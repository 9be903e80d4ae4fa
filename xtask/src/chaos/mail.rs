//! Messaging among the chaos writers: `msg send` to another host's writer,
//! `msg ack` of mail sent to this host's writer, and the check that every
//! message reported sent arrived and no acknowledged one reads as unread.

use std::collections::HashSet;

use super::history::{ExpectedMail, History, Op, Outcome};
use super::host::Host;
use super::{Rng, scopes, visibility};

/// Most messages sent to one writer: its inbox lists at most 100.
const MAX_PER_RECIPIENT: usize = 90;
/// How old a message must be before its recipient tries to ack it.
const ACK_AFTER_OPS: usize = 20;

/// `msg send` from `from` to the writer of `to`, in a scope both hold;
/// `None` when `to`'s inbox already has its share.
pub fn send(
    from: &Host,
    to: &Host,
    history: &History,
    rng: &mut Rng,
    n: u64,
    seed: u64,
) -> Option<Op> {
    let sent_to = history
        .ops
        .iter()
        .filter(|(_, op)| matches!(op, Op::Send { to: t, outcome, .. } if *t == to.name && outcome.acked()))
        .count();
    if sent_to >= MAX_PER_RECIPIENT {
        return None;
    }
    let shared: Vec<String> = scopes(from).into_iter().filter(|s| to.holds(s)).collect();
    let scope = shared[rng.below(shared.len())].clone();
    let body = format!("chaos mail {n} of run {seed} from {} in {scope}", from.name);
    let recipient = format!("writer@{}", to.name);
    let out = from.cli(&[
        "msg",
        "send",
        "--to",
        &recipient,
        "--visibility",
        visibility(&scope),
        &body,
    ]);
    let id = out.stdout.trim();
    let outcome = match out.code {
        Some(0) if id.len() == 32 => Outcome::Saved,
        Some(2) => Outcome::Refused,
        _ => Outcome::Failed,
    };
    Some(Op::Send {
        host: from.name,
        to: to.name,
        scope,
        id: (outcome == Outcome::Saved).then(|| id.to_owned()),
        outcome,
    })
}

/// `msg ack` on `h` of a message sent to its writer a while ago and not
/// acknowledged yet; `None` when there is none.
pub fn ack(h: &Host, history: &History, rng: &mut Rng) -> Option<Op> {
    let done: HashSet<&String> = history
        .ops
        .iter()
        .filter_map(|(_, op)| match op {
            Op::Ack { id, .. } => Some(id),
            _ => None,
        })
        .collect();
    let recent = history.ops.len().saturating_sub(ACK_AFTER_OPS);
    let candidates: Vec<&String> = history.ops[..recent]
        .iter()
        .filter_map(|(_, op)| match op {
            Op::Send {
                to,
                scope,
                id: Some(id),
                outcome,
                ..
            } if *to == h.name && outcome.acked() && h.holds(scope) && !done.contains(id) => {
                Some(id)
            }
            _ => None,
        })
        .collect();
    if candidates.is_empty() {
        return None;
    }
    let id = candidates[rng.below(candidates.len())].clone();
    // An agent acks what it has read: the inbox listing receives the mail
    // (as `check_messages` does), and an ack of mail not received yet is
    // refused as unknown.
    if !inbox(h, true).is_some_and(|ids| ids.contains(&id)) {
        return None;
    }
    let out = h.cli(&["msg", "ack", &id]);
    let outcome = match out.code {
        Some(0) => Outcome::Saved,
        Some(2) => Outcome::Refused,
        _ => Outcome::Failed,
    };
    Some(Op::Ack {
        host: h.name,
        id,
        outcome,
    })
}

/// What `h`'s writer must see.
pub fn expected(h: &Host, history: &History) -> ExpectedMail {
    ExpectedMail {
        delivered: history.mail_to(h.name, |s| h.holds(s)),
        acked: history.acked_by(h.name),
    }
}

/// Ids in `h`'s writer's inbox: all of it, or only what is unread.
fn inbox(h: &Host, all: bool) -> Option<HashSet<String>> {
    let mut args = vec!["msg", "inbox", "--format", "json", "-n", "100"];
    if all {
        args.push("--all");
    }
    let out = h.cli(&args);
    if out.code != Some(0) {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).ok()?;
    Some(
        v["messages"]
            .as_array()?
            .iter()
            .filter_map(|m| m["msg_id"].as_str().map(str::to_owned))
            .collect(),
    )
}

/// (messages missing, acknowledged messages listed as unread) on `h`, or
/// `None` when the inbox could not be read.
pub fn check(h: &Host, expected: &ExpectedMail) -> Option<(usize, usize)> {
    let all = inbox(h, true)?;
    let unread = inbox(h, false)?;
    let missing = expected
        .delivered
        .iter()
        .filter(|id| !all.contains(*id))
        .count();
    let unacked = expected
        .acked
        .iter()
        .filter(|id| unread.contains(*id))
        .count();
    Some((missing, unacked))
}

/// (sends attempted, sends reported sent, acks reported done).
pub fn tally(history: &History) -> (usize, usize, usize) {
    let mut t = (0, 0, 0);
    for (_, op) in &history.ops {
        match op {
            Op::Send { outcome, .. } => {
                t.0 += 1;
                t.1 += usize::from(outcome.acked());
            }
            Op::Ack { outcome, .. } => t.2 += usize::from(outcome.acked()),
            _ => {}
        }
    }
    t
}
