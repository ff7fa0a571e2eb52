//! Durations: the `7d`/`12h`/`30m` flags, and adding one to a time.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::error::{Error, Result};
use crate::time::clock::Timestamp;

/// Parses a duration such as `30d`, `12h`, `30m`, `90s`, `1w` or `7days`.
pub fn parse_duration(s: &str) -> Result<Duration> {
    humantime::parse_duration(s.trim())
        .map_err(|e| Error::usage(format!("{s:?} is not a duration (like 30d, 12h, 30m): {e}")))
}

/// Adds a std duration to a timestamp, saturating at the far future.
pub fn add(t: &Timestamp, d: Duration) -> Timestamp {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| t.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(
            parse_duration("30d").unwrap(),
            Duration::from_secs(30 * 86400)
        );
        assert_eq!(
            parse_duration("12h").unwrap(),
            Duration::from_secs(12 * 3600)
        );
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn adding_saturates() {
        let t = crate::time::clock::from_epoch(0).unwrap();
        assert_eq!(add(&t, Duration::from_secs(60)).timestamp(), 60);
        assert_eq!(add(&t, Duration::MAX), DateTime::<Utc>::MAX_UTC);
    }
}
