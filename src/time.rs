//! Time: the run's clock (`--now` for reproducible runs), STIX timestamps with
//! milliseconds, MISP epoch seconds, and the `7d`/`12h`/`30m` durations.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveTime, SecondsFormat, TimeZone, Utc};

use crate::error::{Error, Result};

pub type Timestamp = DateTime<Utc>;

/// The clock: `--now` when given (RFC 3339), else the system time.
pub fn now(flag: Option<&str>) -> Result<Timestamp> {
    match flag {
        Some(s) => parse_rfc3339(s).ok_or_else(|| {
            Error::usage(format!(
                "--now {s:?}: expected an RFC 3339 time such as 2026-11-28T00:00:00Z"
            ))
        }),
        None => Ok(Utc::now()),
    }
}

/// Parses an RFC 3339 / ISO 8601 time with an offset (`Z`, `+00:00`), any precision.
pub fn parse_rfc3339(s: &str) -> Option<Timestamp> {
    DateTime::parse_from_rfc3339(s.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Parses MISP's `first_seen`/`last_seen` (`2026-02-08T00:00:00.000000+00:00`),
/// also without an offset (taken as UTC) or as a bare date.
pub fn parse_misp_time(s: &str) -> Option<Timestamp> {
    let s = s.trim();
    if let Some(t) = parse_utc(s) {
        return Some(t);
    }
    if let Some(t) = parse_rfc3339(s) {
        return Some(t);
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
    ] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, fmt) {
            return Some(Utc.from_utc_datetime(&t));
        }
    }
    parse_date(s)
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|+00:00)`, the form MISP writes, read
/// directly: chrono's general RFC 3339 parser costs far more. `None` for any
/// other form (the general parsers read those), and for what they reject.
fn parse_utc(s: &str) -> Option<Timestamp> {
    let b = s.as_bytes();
    let num = |from: usize, to: usize| -> Option<u32> {
        (b.get(from..to)?.iter()).try_fold(0, |n, &d| {
            d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
        })
    };
    if b.len() < 20 || [b[4], b[7], b[10], b[13], b[16]] != *b"--T::" {
        return None;
    }
    let (mut nano, mut end) = (0, 19);
    if b[19] == b'.' {
        let digits = b[20..].iter().take_while(|d| d.is_ascii_digit()).count();
        if !(1..=9).contains(&digits) {
            return None;
        }
        nano = num(20, 20 + digits)? * 10u32.pow(9 - digits as u32);
        end = 20 + digits;
    }
    if !matches!(&b[end..], b"Z" | b"+00:00") {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(num(0, 4)? as i32, num(5, 7)?, num(8, 10)?)?;
    // (A leap second, :60, is left to chrono.)
    let time = NaiveTime::from_hms_nano_opt(num(11, 13)?, num(14, 16)?, num(17, 19)?, nano)?;
    Some(Utc.from_utc_datetime(&date.and_time(time)))
}

/// `YYYY-MM-DD` at 00:00Z.
pub fn parse_date(s: &str) -> Option<Timestamp> {
    let d = NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok()?;
    Some(Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0)?))
}

/// Epoch seconds to a time.
pub fn from_epoch(secs: i64) -> Option<Timestamp> {
    Utc.timestamp_opt(secs, 0).single()
}

/// `2026-11-28T00:00:00.000Z`: STIX and Sentinel want milliseconds and `Z`.
pub fn fmt_millis(t: &Timestamp) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `2026-11-28T00:00:00Z`: seconds precision, for Defender and Graph.
pub fn fmt_secs(t: &Timestamp) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The start (00:00Z) of the day of `t`.
pub fn start_of_day(t: &Timestamp) -> Timestamp {
    Utc.from_utc_datetime(
        &t.date_naive()
            .and_hms_opt(0, 0, 0)
            .expect("midnight exists"),
    )
}

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
    fn millis_format() {
        let t = parse_rfc3339("2026-11-28T10:15:00+01:00").unwrap();
        assert_eq!(fmt_millis(&t), "2026-11-28T09:15:00.000Z");
        assert_eq!(fmt_secs(&t), "2026-11-28T09:15:00Z");
    }

    #[test]
    fn misp_times() {
        let t = parse_misp_time("2026-02-08T00:00:00.123456+00:00").unwrap();
        assert_eq!(fmt_millis(&t), "2026-02-08T00:00:00.123Z");
        assert_eq!(
            fmt_millis(&parse_misp_time("2026-02-08").unwrap()),
            "2026-02-08T00:00:00.000Z"
        );
        assert_eq!(
            fmt_millis(&from_epoch(1772445300).unwrap()),
            "2026-03-02T09:55:00.000Z"
        );
    }

    #[test]
    fn fast_parse_agrees_with_chrono() {
        for s in [
            "2026-02-08T00:00:00.123456+00:00",
            "2026-02-08T23:59:59Z",
            "2024-02-29T12:34:56.7Z",
            "2026-02-08T01:02:03.123456789+00:00",
            "1999-12-31T00:00:00.000000+00:00",
        ] {
            assert_eq!(parse_utc(s), parse_rfc3339(s), "{s}");
            assert!(parse_utc(s).is_some(), "{s}");
        }
        // Left to chrono: other offsets, leap seconds, more than 9 digits, invalid dates.
        for s in [
            "2026-02-08T00:00:00+01:00",
            "2026-12-31T23:59:60Z",
            "2026-02-08T00:00:00.1234567891Z",
            "2026-02-30T00:00:00Z",
            "2026-02-08T00:00:00.Z",
            "2026-02-08 00:00:00Z",
            "2026-02-08T0a:00:00Z",
            "+2026-02-08T00:00:00Z",
        ] {
            assert_eq!(parse_utc(s), None, "{s}");
        }
        assert_eq!(
            parse_misp_time("2026-12-31T23:59:60Z"),
            parse_rfc3339("2026-12-31T23:59:60Z")
        );
    }

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
        assert!(now(Some("yesterday")).is_err());
    }
}
