//! The history of client operations and the checker run over it once the
//! mesh has healed.
//!
//! Only what a client was told counts: a save reported `saved` or `queued`
//! must be on every host holding its scope; a delete reported done must
//! stay done everywhere; an operation that failed or timed out may or may
//! not have happened, so the ids it touched are left out of both checks.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// What the client was told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Saved,
    Queued,
    Refused,
    Failed,
}

impl Outcome {
    pub fn acked(self) -> bool {
        matches!(self, Self::Saved | Self::Queued)
    }
}

/// One client operation.
#[derive(Debug, Clone)]
pub enum Op {
    Save {
        host: &'static str,
        scope: String,
        id: Option<String>,
        /// The id this save supersedes.
        supersedes: Option<String>,
        outcome: Outcome,
    },
    Delete {
        host: &'static str,
        id: String,
        outcome: Outcome,
    },
    /// `msg send` from `host` to the writer of host `to`.
    Send {
        host: &'static str,
        to: &'static str,
        scope: String,
        id: Option<String>,
        outcome: Outcome,
    },
    /// `msg ack` on `host` of a message sent to its writer.
    Ack {
        host: &'static str,
        id: String,
        outcome: Outcome,
    },
}

impl Op {
    fn outcome(&self) -> Outcome {
        match self {
            Op::Save { outcome, .. }
            | Op::Delete { outcome, .. }
            | Op::Send { outcome, .. }
            | Op::Ack { outcome, .. } => *outcome,
        }
    }
}

/// Every operation, in the order issued (one client at a time).
#[derive(Default)]
pub struct History {
    pub ops: Vec<(Duration, Op)>,
}

/// What one host should show once healed.
pub struct Expected {
    /// Live ids it must show.
    pub live: HashSet<String>,
    /// Ids it must not show (acknowledged deletes).
    pub gone: HashSet<String>,
}

impl History {
    pub fn record(&mut self, at: Duration, op: Op) {
        self.ops.push((at, op));
    }

    /// One line per operation: seconds, host, kind, id, outcome.
    pub fn lines(&self) -> String {
        let mut out = String::new();
        for (at, op) in &self.ops {
            let line = match op {
                Op::Save {
                    host,
                    scope,
                    id,
                    supersedes,
                    outcome,
                } => format!(
                    "{:8.3} {host:3} save {scope} {} supersedes={} {outcome:?}",
                    at.as_secs_f64(),
                    id.as_deref().unwrap_or("-"),
                    supersedes.as_deref().unwrap_or("-"),
                ),
                Op::Delete { host, id, outcome } => {
                    format!("{:8.3} {host:3} delete {id} {outcome:?}", at.as_secs_f64())
                }
                Op::Send {
                    host,
                    to,
                    scope,
                    id,
                    outcome,
                } => format!(
                    "{:8.3} {host:3} send to={to} {scope} {} {outcome:?}",
                    at.as_secs_f64(),
                    id.as_deref().unwrap_or("-"),
                ),
                Op::Ack { host, id, outcome } => {
                    format!("{:8.3} {host:3} ack {id} {outcome:?}", at.as_secs_f64())
                }
            };
            out.push_str(&line);
            out.push('\n');
        }
        out
    }

    pub fn acked(&self) -> usize {
        self.ops
            .iter()
            .filter(|(_, op)| op.outcome().acked())
            .count()
    }

    /// Saves acknowledged, by id: (scope, superseded id).
    fn acked_saves(&self) -> HashMap<&str, (&str, Option<&str>)> {
        self.ops
            .iter()
            .filter_map(|(_, op)| match op {
                Op::Save {
                    scope,
                    id: Some(id),
                    supersedes,
                    outcome,
                    ..
                } if outcome.acked() => {
                    Some((id.as_str(), (scope.as_str(), supersedes.as_deref())))
                }
                _ => None,
            })
            .collect()
    }

    /// Ids whose fate is unknown: touched by an operation that failed.
    fn uncertain(&self) -> HashSet<&str> {
        let mut ids = HashSet::new();
        for (_, op) in &self.ops {
            match op {
                Op::Delete { id, outcome, .. } if !outcome.acked() => {
                    ids.insert(id.as_str());
                }
                Op::Save {
                    supersedes: Some(old),
                    outcome,
                    ..
                } if !outcome.acked() => {
                    ids.insert(old.as_str());
                }
                _ => {}
            }
        }
        ids
    }

    /// What a host holding `holds` must show.
    pub fn expected(&self, holds: impl Fn(&str) -> bool) -> Expected {
        let saves = self.acked_saves();
        let uncertain = self.uncertain();
        let deleted: HashSet<&str> = self
            .ops
            .iter()
            .filter_map(|(_, op)| match op {
                Op::Delete { id, outcome, .. } if outcome.acked() => Some(id.as_str()),
                _ => None,
            })
            .collect();
        // An old entry is hidden while a live acknowledged entry supersedes it.
        let superseded: HashSet<&str> = saves
            .iter()
            .filter(|(id, _)| !deleted.contains(*id))
            .filter_map(|(_, (_, old))| *old)
            .collect();
        let mut expected = Expected {
            live: HashSet::new(),
            gone: HashSet::new(),
        };
        for (id, (scope, _)) in &saves {
            if !holds(scope) || uncertain.contains(id) {
                continue;
            }
            if deleted.contains(id) {
                expected.gone.insert((*id).to_owned());
            } else if !superseded.contains(id) {
                expected.live.insert((*id).to_owned());
            }
        }
        expected
    }

    /// Acknowledged saves of scopes `holds` rejects: they must not be on
    /// that host in any form.
    pub fn foreign(&self, holds: impl Fn(&str) -> bool) -> Vec<String> {
        let mail = self.ops.iter().filter_map(|(_, op)| match op {
            Op::Send {
                scope,
                id: Some(id),
                outcome,
                ..
            } if outcome.acked() && !holds(scope) => Some(id.clone()),
            _ => None,
        });
        self.acked_saves()
            .into_iter()
            .filter(|(_, (scope, _))| !holds(scope))
            .map(|(id, _)| id.to_owned())
            .chain(mail)
            .collect()
    }

    /// Messages reported sent to `host`'s writer, in a scope it holds.
    pub fn mail_to(&self, host: &str, holds: impl Fn(&str) -> bool) -> HashSet<String> {
        self.ops
            .iter()
            .filter_map(|(_, op)| match op {
                Op::Send {
                    to,
                    scope,
                    id: Some(id),
                    outcome,
                    ..
                } if *to == host && outcome.acked() && holds(scope) => Some(id.clone()),
                _ => None,
            })
            .collect()
    }

    /// Messages `host`'s writer acknowledged (the ack reported done).
    pub fn acked_by(&self, host: &str) -> HashSet<String> {
        self.ops
            .iter()
            .filter_map(|(_, op)| match op {
                Op::Ack {
                    host: h,
                    id,
                    outcome,
                } if *h == host && outcome.acked() => Some(id.clone()),
                _ => None,
            })
            .collect()
    }
}

/// What one host's writer must see in its inbox once healed.
pub struct ExpectedMail {
    /// Every message reported sent to it.
    pub delivered: HashSet<String>,
    /// Messages it acknowledged: never listed as unread again.
    pub acked: HashSet<String>,
}

/// Missing and resurrected ids on one host.
pub fn compare(expected: &Expected, live: &HashSet<String>) -> (usize, usize) {
    let missing = expected
        .live
        .iter()
        .filter(|id| !live.contains(*id))
        .count();
    let resurrected = expected.gone.iter().filter(|id| live.contains(*id)).count();
    (missing, resurrected)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn save(id: &str, scope: &str, supersedes: Option<&str>, outcome: Outcome) -> Op {
        Op::Save {
            host: "a",
            scope: scope.into(),
            id: Some(id.into()),
            supersedes: supersedes.map(str::to_owned),
            outcome,
        }
    }

    #[test]
    fn the_checker_counts_only_what_clients_were_told() {
        let mut h = History::default();
        let t = Duration::ZERO;
        h.record(t, save("s1", "mesh", None, Outcome::Saved));
        h.record(t, save("s2", "mesh", None, Outcome::Queued));
        h.record(t, save("s3", "user/alice", None, Outcome::Saved));
        h.record(t, save("s4", "mesh", Some("s1"), Outcome::Saved));
        h.record(t, save("s5", "mesh", None, Outcome::Failed));
        h.record(
            t,
            Op::Delete {
                host: "a",
                id: "s2".into(),
                outcome: Outcome::Saved,
            },
        );
        h.record(t, save("s6", "mesh", None, Outcome::Saved));
        h.record(
            t,
            Op::Delete {
                host: "b",
                id: "s6".into(),
                outcome: Outcome::Failed,
            },
        );
        let hub = h.expected(|s| s == "mesh");
        assert_eq!(hub.live, ["s4".to_owned()].into());
        assert_eq!(hub.gone, ["s2".to_owned()].into());
        assert_eq!(h.foreign(|s| s == "mesh"), vec!["s3".to_owned()]);
        let live: HashSet<String> = ["s4".into(), "s2".into()].into();
        assert_eq!(compare(&hub, &live), (0, 1));
        assert_eq!(compare(&hub, &HashSet::new()), (1, 0));
        assert_eq!(h.acked(), 6);
    }

    #[test]
    fn mail_is_expected_where_it_was_sent_and_foreign_elsewhere() {
        let mut h = History::default();
        let t = Duration::ZERO;
        let send = |id: &str, to: &'static str, scope: &str, outcome| Op::Send {
            host: "a",
            to,
            scope: scope.into(),
            id: Some(id.into()),
            outcome,
        };
        h.record(t, send("m1", "b", "mesh", Outcome::Saved));
        h.record(t, send("m2", "b", "user/alice", Outcome::Saved));
        h.record(t, send("m3", "b", "mesh", Outcome::Failed));
        h.record(t, send("m4", "hub", "mesh", Outcome::Saved));
        h.record(
            t,
            Op::Ack {
                host: "b",
                id: "m1".into(),
                outcome: Outcome::Saved,
            },
        );
        let b_holds = |s: &str| s == "mesh" || s == "user/alice";
        assert_eq!(h.mail_to("b", b_holds), ["m1".into(), "m2".into()].into());
        assert_eq!(h.acked_by("b"), ["m1".to_owned()].into());
        assert_eq!(h.foreign(|s| s == "mesh"), vec!["m2".to_owned()]);
        assert_eq!(h.acked(), 4);
    }
}
