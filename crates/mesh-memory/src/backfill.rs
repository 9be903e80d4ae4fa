//! Repairing old observations stored without subject or summary.
//!
//! A repair never rewrites a stored observation (they are immutable): it
//! appends a copy with the derived fields, a fresh id and `supersedes`
//! naming the original, which search then hides. Identity and created_at
//! are copied so the repair neither re-attributes nor re-dates the entry.

use std::collections::HashSet;

use mesh_core::Observation;

use crate::metadata::{derive_subject, derive_summary, is_missing};

/// One planned repair.
#[derive(Debug, Clone, PartialEq)]
pub struct BackfillItem {
    /// The observation missing metadata.
    pub original: Observation,
    /// Subject the copy will carry.
    pub subject: String,
    /// Summary the copy will carry.
    pub summary: String,
}

impl BackfillItem {
    /// The replacement observation to append.
    pub fn replacement(&self) -> Observation {
        let mut copy = self.original.clone();
        copy.observation_id = Observation::new_id();
        copy.subject = self.subject.clone();
        copy.summary = self.summary.clone();
        copy.supersedes.push(self.original.observation_id.clone());
        copy
    }
}

/// The outcome of scanning for missing metadata.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BackfillPlan {
    /// Live observations scanned.
    pub scanned: usize,
    /// Repairs that can be made.
    pub items: Vec<BackfillItem>,
    /// Entries with nothing to derive from (empty content).
    pub unrepairable: usize,
    /// Entries a superseding repair already covers.
    pub already_repaired: usize,
    /// Entries whose agent_family is unknown (reported, never rewritten).
    pub unknown_family: usize,
}

impl BackfillPlan {
    /// Plan repairs for `observations` (live, newest first).
    pub fn from_observations(observations: &[Observation]) -> Self {
        let superseded: HashSet<&str> = observations
            .iter()
            .flat_map(|o| o.supersedes.iter().map(String::as_str))
            .collect();
        let mut plan = Self {
            scanned: observations.len(),
            unknown_family: observations
                .iter()
                .filter(|o| o.agent_family.is_empty() || o.agent_family == "unknown")
                .count(),
            ..Self::default()
        };
        for obs in observations {
            let needs_subject = is_missing(&obs.subject);
            let needs_summary = is_missing(&obs.summary);
            if !(needs_subject || needs_summary) {
                continue;
            }
            if superseded.contains(obs.observation_id.as_str()) {
                plan.already_repaired += 1;
                continue;
            }
            let subject = if needs_subject {
                derive_subject(&obs.content)
            } else {
                obs.subject.clone()
            };
            let summary = if needs_summary {
                derive_summary(&obs.content)
            } else {
                obs.summary.clone()
            };
            if is_missing(&subject) || is_missing(&summary) {
                plan.unrepairable += 1;
                continue;
            }
            plan.items.push(BackfillItem {
                original: obs.clone(),
                subject,
                summary,
            });
        }
        plan
    }

    /// Entries missing metadata, repairable or not.
    pub fn missing(&self) -> usize {
        self.items.len() + self.unrepairable + self.already_repaired
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(id: char, content: &str, subject: &str, summary: &str) -> Observation {
        let mut o = Observation::from_json(&format!(
            r#"{{"content": "", "observation_id": "{}", "agent_family": "claude"}}"#,
            id.to_string().repeat(32)
        ))
        .unwrap();
        o.content = content.into();
        o.subject = subject.into();
        o.summary = summary.into();
        o
    }

    #[test]
    fn plans_repairs_and_counts_the_rest() {
        let mut done = obs('d', "Fixed. More", "s", "m");
        done.supersedes.push("c".repeat(32));
        let all = vec![
            obs('a', "Title\nBody text. More.", "", ""),
            obs('b', "", "", "-"),
            obs('c', "x", "", ""),
            done,
            obs('e', "ok", "s", "m"),
        ];
        let plan = BackfillPlan::from_observations(&all);
        assert_eq!(plan.scanned, 5);
        assert_eq!(plan.items.len(), 1);
        assert_eq!(plan.items[0].subject, "Title");
        assert_eq!(plan.items[0].summary, "Title Body text.");
        assert_eq!(plan.unrepairable, 1);
        assert_eq!(plan.already_repaired, 1);
        let copy = plan.items[0].replacement();
        assert_ne!(copy.observation_id, plan.items[0].original.observation_id);
        assert_eq!(copy.supersedes, vec!["a".repeat(32)]);
        assert_eq!(copy.created_at, plan.items[0].original.created_at);
    }
}
