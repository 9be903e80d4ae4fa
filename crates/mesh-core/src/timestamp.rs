//! Timestamps in the reference's wire form, `%Y-%m-%dT%H:%M:%S.%fZ`.
//!
//! Every stored instant (created_at, deleted_at, expires_at) uses this one
//! fixed-width UTC form, so ordering and range filters are plain string
//! comparisons. Input from users is parsed leniently (any ISO 8601 shape the
//! reference accepts) and normalised to that form before it reaches a query.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, Utc};

use crate::error::{CoreError, Result};

const WIRE_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.6fZ";

/// The current instant in wire form.
pub fn now() -> String {
    format(Utc::now())
}

/// `instant` in wire form.
pub fn format(instant: DateTime<Utc>) -> String {
    instant.format(WIRE_FORMAT).to_string()
}

/// Parse an ISO 8601 date or date-time. A value without an offset is UTC.
///
/// Accepts `2026-11-23`, `2026-11-23T09`, `2026-11-23T09:30`,
/// `2026-11-23 09:30:00`, fractional seconds of any length, and `Z` or
/// `±HH[:MM]` offsets. Returns `None` for anything else.
pub fn parse(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if text.len() < 10 {
        return None;
    }
    let (date_part, rest) = text.split_at_checked(10)?;
    // Exactly YYYY-MM-DD: chrono's %Y also takes a sign and fewer digits,
    // whose wire form (`-0026-...`) would neither parse back nor sort.
    let shape_ok = date_part.bytes().enumerate().all(|(i, b)| {
        if i == 4 || i == 7 {
            b == b'-'
        } else {
            b.is_ascii_digit()
        }
    });
    if !shape_ok {
        return None;
    }
    let date = NaiveDate::parse_from_str(date_part, "%Y-%m-%d").ok()?;
    if rest.is_empty() {
        return Some(date.and_time(NaiveTime::MIN).and_utc());
    }
    let rest = rest.strip_prefix(['T', ' '])?;
    let (time_text, offset_secs) = split_offset(rest)?;
    let time = parse_time(time_text)?;
    let local = NaiveDateTime::new(date, time);
    let utc = local.checked_sub_signed(TimeDelta::try_seconds(offset_secs)?)?;
    Some(utc.and_utc())
}

/// Parse `text` and return it in wire form, or an error naming `what`.
pub fn normalize(text: &str, what: &str) -> Result<String> {
    parse(text)
        .map(format)
        .ok_or_else(|| CoreError::InvalidTimestamp {
            what: what.to_owned(),
            value: text.to_owned(),
        })
}

/// Resolve an observation's lifetime to a wire timestamp, or `""` for none.
///
/// `expires_at` wins when non-empty; otherwise a positive `ttl_sec` counts
/// from `created_at` (or now when that does not parse).
pub fn resolve_expires_at(expires_at: &str, ttl_sec: i64, created_at: &str) -> Result<String> {
    if !expires_at.is_empty() {
        return parse(expires_at)
            .map(format)
            .ok_or_else(|| CoreError::InvalidExpiresAt(expires_at.to_owned()));
    }
    if ttl_sec > 0 {
        let base = parse(created_at).unwrap_or_else(Utc::now);
        // try_seconds: a lifetime past chrono's range is an error, not a panic.
        let end = TimeDelta::try_seconds(ttl_sec)
            .and_then(|d| base.checked_add_signed(d))
            .ok_or(CoreError::TtlTooLarge(ttl_sec))?;
        return Ok(format(end));
    }
    Ok(String::new())
}

/// The wire timestamp `days` before now (retention cut-offs). A retention
/// longer than the calendar reaches back to its first instant, which every
/// stored timestamp follows.
pub fn days_ago(days: u32) -> String {
    let cutoff = Utc::now().checked_sub_signed(TimeDelta::days(i64::from(days)));
    format(cutoff.unwrap_or(DateTime::<Utc>::MIN_UTC))
}

fn split_offset(rest: &str) -> Option<(&str, i64)> {
    if let Some(t) = rest.strip_suffix(['Z', 'z']) {
        return Some((t, 0));
    }
    // An offset sign can only follow the time, which starts with two digits.
    if let Some(pos) = rest.rfind(['+', '-']).filter(|&p| p >= 2) {
        let (t, off) = rest.split_at(pos);
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let digits: String = off[1..].chars().filter(|c| *c != ':').collect();
        if !(digits.len() == 2 || digits.len() == 4) || !digits.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let hours: i64 = digits[..2].parse().ok()?;
        let minutes: i64 = if digits.len() == 4 {
            digits[2..].parse().ok()?
        } else {
            0
        };
        if hours > 23 || minutes > 59 {
            return None;
        }
        return Some((t, sign * (hours * 3600 + minutes * 60)));
    }
    Some((rest, 0))
}

fn parse_time(text: &str) -> Option<NaiveTime> {
    let (hms, frac) = match text.split_once(['.', ',']) {
        Some((hms, frac)) => (hms, Some(frac)),
        None => (text, None),
    };
    let fields: Vec<&str> = hms.split(':').collect();
    if fields.is_empty()
        || fields.len() > 3
        || fields
            .iter()
            .any(|f| f.len() != 2 || !f.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let num = |i: usize| fields.get(i).map_or(Some(0), |f| f.parse::<u32>().ok());
    let (h, m, s) = (num(0)?, num(1)?, num(2)?);
    let nanos = match frac {
        None => 0,
        Some(f) if fields.len() == 3 && !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()) => {
            let mut digits: String = f.chars().take(9).collect();
            while digits.len() < 9 {
                digits.push('0');
            }
            digits.parse::<u32>().ok()?
        }
        Some(_) => return None,
    };
    NaiveTime::from_hms_nano_opt(h, m, s, nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retention_beyond_the_calendar_cuts_before_every_timestamp() {
        let cutoff = days_ago(u32::MAX);
        assert!(cutoff.as_str() < "0000-01-01T00:00:00.000000Z", "{cutoff}");
        assert!(days_ago(0).as_str() > "2026-01-01");
    }

    fn n(s: &str) -> String {
        normalize(s, "--since").unwrap()
    }

    #[test]
    fn wire_form_has_six_fraction_digits_and_z() {
        let t = now();
        assert_eq!(t.len(), 27, "{t}");
        assert!(t.ends_with('Z'));
        assert_eq!(&t[19..20], ".");
    }

    #[test]
    fn accepts_the_shapes_python_fromisoformat_accepts() {
        assert_eq!(n("2026-11-23"), "2026-11-23T00:00:00.000000Z");
        assert_eq!(n("2026-11-23T09"), "2026-11-23T09:00:00.000000Z");
        assert_eq!(n("2026-11-23T09:30"), "2026-11-23T09:30:00.000000Z");
        assert_eq!(n("2026-11-23 09:30:05"), "2026-11-23T09:30:05.000000Z");
        assert_eq!(n("2026-11-23T09:30:05.5Z"), "2026-11-23T09:30:05.500000Z");
        assert_eq!(
            n("2026-11-23T16:24:14.167231Z"),
            "2026-11-23T16:24:14.167231Z"
        );
    }

    #[test]
    fn offsets_are_converted_to_utc() {
        assert_eq!(
            n("2026-11-23T09:00:00+09:00"),
            "2026-11-23T00:00:00.000000Z"
        );
        assert_eq!(n("2026-11-23T09:00:00-0130"), "2026-11-23T10:30:00.000000Z");
        assert_eq!(n("2026-11-23T00:30:00+01"), "2026-11-22T23:30:00.000000Z");
    }

    #[test]
    fn rejects_what_is_not_a_timestamp() {
        for bad in [
            "yesterday",
            "",
            "2026-13-01",
            "2026-11-23T25:00",
            "2026-11-23X09:00",
            "2026-11-23T9:00",
            "2026-11-23T09:00:00+9",
            "2026/11/23",
            // Found by fuzzing: a signed three-digit year parsed, and its
            // wire form `-0026-...` did not parse back.
            "-026-11-23",
            "+026-11-23T09:30",
            "２０２６-11-23",
        ] {
            let err = normalize(bad, "--since").unwrap_err().to_string();
            assert!(err.contains("--since"), "{bad}: {err}");
        }
    }

    #[test]
    fn expires_at_wins_over_ttl_and_ttl_counts_from_created_at() {
        let base = "2026-11-23T10:00:00.000000Z";
        assert_eq!(
            resolve_expires_at("2026-12-01", 60, base).unwrap(),
            "2026-12-01T00:00:00.000000Z"
        );
        assert_eq!(
            resolve_expires_at("", 90, base).unwrap(),
            "2026-11-23T10:01:30.000000Z"
        );
        assert_eq!(resolve_expires_at("", 0, base).unwrap(), "");
        assert_eq!(resolve_expires_at("", -5, base).unwrap(), "");
        let err = resolve_expires_at("soon", 0, base).unwrap_err().to_string();
        assert_eq!(err, "expires_at must be ISO 8601; got 'soon'");
    }
}
