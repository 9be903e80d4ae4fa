//! How much this session has saved, and when to remind an agent to save.
//!
//! A heuristic only: it never saves anything itself. A session that has
//! been alive for ten minutes without a save, or whose last save is twenty
//! minutes old, gets a nudge in `get_memory_status`.

use chrono::{DateTime, Utc};

/// No save after this long in a session: nudge.
pub const NUDGE_NO_SAVES_AFTER_SECS: i64 = 600;
/// Last save older than this: nudge.
pub const NUDGE_LAST_SAVE_AFTER_SECS: i64 = 1200;

/// When a session started, read from a `YYYYMMDDTHHMMSSZ-...` session id.
pub fn session_started_at(session_id: &str) -> Option<DateTime<Utc>> {
    let stamp = session_id.get(..16)?;
    chrono::NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%M%SZ")
        .ok()
        .map(|t| t.and_utc())
}

/// `45s`, `12m05s`, `3h07m`; `-` when unknown.
pub fn format_age(seconds: Option<i64>) -> String {
    let Some(s) = seconds else {
        return "-".to_owned();
    };
    let s = s.max(0);
    if s < 60 {
        return format!("{s}s");
    }
    let (m, rem) = (s / 60, s % 60);
    if m < 60 {
        return format!("{m}m{rem:02}s");
    }
    format!("{}h{:02}m", m / 60, m % 60)
}

/// The reminder to save, if this session looks like it has skipped saves.
pub fn save_nudge(
    saves: u64,
    last_save_age: Option<i64>,
    session_age: Option<i64>,
) -> Option<String> {
    if saves == 0 {
        return session_age.filter(|a| *a >= NUDGE_NO_SAVES_AFTER_SECS).map(|_| {
            "No save_observation calls in this session yet — if any decision, preference, bug root cause, or \
             pattern has been settled, save it now. Ignore if the session is truly read-only / idle."
                .to_owned()
        });
    }
    last_save_age.filter(|a| *a >= NUDGE_LAST_SAVE_AFTER_SECS).map(|a| {
        format!(
            "Last save was {} ago in this session — review whether any newer decision or finding is still unsaved.",
            format_age(Some(a))
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_format_like_the_reference() {
        assert_eq!(format_age(None), "-");
        assert_eq!(format_age(Some(-3)), "0s");
        assert_eq!(format_age(Some(59)), "59s");
        assert_eq!(format_age(Some(65)), "1m05s");
        assert_eq!(format_age(Some(3 * 3600 + 7 * 60 + 9)), "3h07m");
    }

    #[test]
    fn nudges_only_after_the_thresholds() {
        assert!(save_nudge(0, None, Some(599)).is_none());
        assert!(
            save_nudge(0, None, Some(600))
                .unwrap()
                .starts_with("No save_observation calls")
        );
        assert!(save_nudge(0, None, None).is_none());
        assert!(save_nudge(2, Some(1199), Some(9999)).is_none());
        assert!(
            save_nudge(2, Some(1200), None)
                .unwrap()
                .contains("20m00s ago")
        );
    }

    #[test]
    fn session_start_comes_from_the_id() {
        let t = session_started_at("20261123T162414Z-43c46b9d").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-23T16:24:14+00:00");
        assert!(session_started_at("custom-session").is_none());
    }
}
