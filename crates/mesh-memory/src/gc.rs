//! Retention: which hidden rows are old enough to remove for good, and
//! which expired rows are due a tombstone.

use crate::error::{MemoryError, Result};
use crate::index::ListedRow;

/// Default retention of tombstones and shadows, in days.
pub const DEFAULT_RETENTION_DAYS: i64 = 30;

/// Check a retention given by a user.
pub fn check_retention(days: i64) -> Result<u32> {
    u32::try_from(days).map_err(|_| {
        MemoryError::InvalidArgument(format!("retention_days must be >= 0, got {days}"))
    })
}

/// What a retention sweep removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Tombstoned observations physically deleted.
    pub tombstones: u64,
    /// Shadowed observations physically deleted.
    pub shadows: u64,
}

/// One row a stale-observation sweep would act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcCandidate {
    /// The observation.
    pub observation_id: String,
    /// `expired-ttl`, `expired-tombstone` or `expired-shadow`.
    pub reason: &'static str,
    /// `tombstone` or `physical-delete`.
    pub action: &'static str,
    /// Its project, `""` when unknown.
    pub project: String,
    /// Why it qualifies, for the report.
    pub detail: String,
}

/// Candidates of a stale-observation sweep, by bucket.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcCandidates {
    /// Live rows past their lifetime: tombstoned by `--execute`.
    pub expired_ttl: Vec<GcCandidate>,
    /// Tombstones past retention: physically deleted.
    pub expired_tombstones: Vec<GcCandidate>,
    /// Shadows past retention: physically deleted.
    pub expired_shadows: Vec<GcCandidate>,
}

impl GcCandidates {
    /// Candidates in every bucket.
    pub fn total(&self) -> usize {
        self.expired_ttl.len() + self.expired_tombstones.len() + self.expired_shadows.len()
    }

    /// Build the buckets from index listings.
    pub fn from_listings(
        expired: Vec<ListedRow>,
        tombstones: Vec<ListedRow>,
        shadows: Vec<ListedRow>,
        cutoff: &str,
    ) -> Self {
        let ttl = expired
            .into_iter()
            .map(|r| GcCandidate {
                detail: format!(
                    "expires_at={} summary={}",
                    r.at,
                    r.summary.chars().take(60).collect::<String>()
                ),
                observation_id: r.observation_id,
                reason: "expired-ttl",
                action: "tombstone",
                project: r.project,
            })
            .collect();
        let bucket = |rows: Vec<ListedRow>, reason: &'static str, what: &str| {
            rows.into_iter()
                .map(|r| GcCandidate {
                    observation_id: r.observation_id,
                    reason,
                    action: "physical-delete",
                    project: r.project,
                    detail: format!("{what} before {cutoff}"),
                })
                .collect()
        };
        Self {
            expired_ttl: ttl,
            expired_tombstones: bucket(tombstones, "expired-tombstone", "tombstoned"),
            expired_shadows: bucket(shadows, "expired-shadow", "shadowed"),
        }
    }
}

/// What `gc-observations --execute` did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GcExecuteReport {
    /// Expired observations tombstoned.
    pub tombstoned: u64,
    /// Tombstoned observations physically deleted.
    pub tombstones_purged: u64,
    /// Shadows physically deleted.
    pub shadows_purged: u64,
    /// Rows that could not be acted on.
    pub failures: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_retention_is_refused() {
        assert_eq!(check_retention(0).unwrap(), 0);
        assert_eq!(
            check_retention(-1).unwrap_err().to_string(),
            "retention_days must be >= 0, got -1"
        );
    }

    #[test]
    fn buckets_carry_the_reference_details() {
        let row = |id: &str| ListedRow {
            observation_id: id.into(),
            project: "p".into(),
            at: "2026-01-01T00:00:00.000000Z".into(),
            summary: "s".repeat(80),
        };
        let c = GcCandidates::from_listings(vec![row("a")], vec![row("b")], vec![], "CUT");
        assert_eq!(c.total(), 2);
        assert_eq!(
            c.expired_ttl[0].detail,
            format!(
                "expires_at=2026-01-01T00:00:00.000000Z summary={}",
                "s".repeat(60)
            )
        );
        assert_eq!(c.expired_tombstones[0].detail, "tombstoned before CUT");
        assert_eq!(c.expired_tombstones[0].action, "physical-delete");
    }
}
