//! Wall-clock time as stored (Unix milliseconds) and as shown (RFC 3339, UTC).

use std::fmt::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The earliest time shown: the Unix epoch.
pub const MIN_MILLIS: i64 = 0;

/// The last millisecond RFC 3339 can show with its four-digit year
/// (`9999-12-31T23:59:59.999Z`).
pub const MAX_MILLIS: i64 = 253_402_300_799_999;

/// What [`rfc3339`] shows if formatting ever failed (it cannot for clamped input).
const FALLBACK: &str = "1970-01-01T00:00:00Z";

/// Milliseconds since the Unix epoch.
pub fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Whether `millis` is a time [`rfc3339`] shows as it is (not clamped). Stored times must be:
/// `history/import` refuses others.
pub fn in_range(millis: i64) -> bool {
    (MIN_MILLIS..=MAX_MILLIS).contains(&millis)
}

/// RFC 3339 in UTC, to the second (`2026-11-29T10:04:40Z`).
///
/// Never fails: a time before 1970 shows as the epoch and one after year 9999 as its last
/// second, so no stored value can make a listing, a search or an export fail (humantime's
/// formatter returns an error past year 9999, which `to_string` turns into a panic).
pub fn rfc3339(millis: i64) -> String {
    let clamped = millis.clamp(MIN_MILLIS, MAX_MILLIS).unsigned_abs();
    let time = UNIX_EPOCH + Duration::from_millis(clamped);
    let mut out = String::with_capacity(FALLBACK.len());
    match write!(out, "{}", humantime::format_rfc3339_seconds(time)) {
        Ok(()) => out,
        Err(_) => FALLBACK.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_ordinary_times() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_764_410_680_123), "2025-11-29T10:04:40Z");
    }

    #[test]
    fn never_fails_at_the_extremes() {
        assert_eq!(rfc3339(MAX_MILLIS), "9999-12-31T23:59:59Z");
        for past_the_end in [MAX_MILLIS + 1, 253_402_300_800_000, i64::MAX] {
            assert_eq!(rfc3339(past_the_end), "9999-12-31T23:59:59Z");
        }
        for before_the_epoch in [-1, -86_400_000, i64::MIN] {
            assert_eq!(rfc3339(before_the_epoch), "1970-01-01T00:00:00Z");
        }
    }

    #[test]
    fn the_range_is_what_shows_unclamped() {
        assert!(in_range(0) && in_range(MAX_MILLIS) && in_range(now_millis()));
        assert!(!in_range(-1) && !in_range(MAX_MILLIS + 1) && !in_range(i64::MAX));
    }
}
