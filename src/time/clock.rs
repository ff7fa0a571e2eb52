//! The run's clock and points in time: `--now` for reproducible runs, times
//! read from RFC 3339 text, MISP's `first_seen`/`last_seen`, dates and epoch
//! seconds, and RFC 3339 text written with chrono (the fast writer for output
//! records is `time::text`).

use chrono::{DateTime, NaiveDate, NaiveTime, SecondsFormat, TimeZone, Utc};

use crate::error::{Error, Result};

/// A point in time, in UTC.
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

/// `YYYY-MM-DD` at 00:00Z.
pub fn parse_date(s: &str) -> Option<Timestamp> {
    let d = NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok()?;
    Some(Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0)?))
}

/// Epoch seconds to a time.
pub fn from_epoch(secs: i64) -> Option<Timestamp> {
    Utc.timestamp_opt(secs, 0).single()
}

/// [`from_epoch`] that keeps the date of the last day it read: times read
/// one after another mostly fall on the same day, and the date is the
/// costly part of chrono's conversion.
pub struct EpochDays(std::cell::Cell<(i64, Option<NaiveDate>)>);

impl Default for EpochDays {
    fn default() -> Self {
        EpochDays(std::cell::Cell::new((0, None)))
    }
}

impl EpochDays {
    /// [`from_epoch`]`(secs)`, the same time (chrono's own steps, the date reused).
    pub fn from_epoch(&self, secs: i64) -> Option<Timestamp> {
        let day = secs.div_euclid(86_400);
        match self.0.get() {
            (d, Some(date)) if d == day => {
                let sod = secs.rem_euclid(86_400) as u32;
                let time = NaiveTime::from_num_seconds_from_midnight_opt(sod, 0)?;
                Some(date.and_time(time).and_utc())
            }
            _ => {
                let t = from_epoch(secs)?;
                self.0.set((day, Some(t.date_naive())));
                Some(t)
            }
        }
    }
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

    proptest::proptest! {
        #[test]
        fn epoch_days_are_from_epoch(
            secs in proptest::collection::vec(
                proptest::prop_oneof![
                    -200_000i64..200_000,
                    1_795_000_000i64..1_795_400_000,
                    proptest::num::i64::ANY,
                ],
                1..20,
            )
        ) {
            let days = EpochDays::default();
            for s in secs {
                proptest::prop_assert_eq!(days.from_epoch(s), from_epoch(s), "{}", s);
            }
        }
    }

    #[test]
    fn now_flag() {
        assert!(now(Some("yesterday")).is_err());
        assert_eq!(
            fmt_secs(&now(Some("2026-11-28T00:00:00Z")).unwrap()),
            "2026-11-28T00:00:00Z"
        );
    }
}
