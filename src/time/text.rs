//! Fast timestamp text for output records: `2026-11-28T00:00:00.000Z`
//! (STIX, milliseconds) and `2026-11-28T00:00:00Z` (Defender, Graph), written
//! from a stack buffer without allocating.

use std::fmt;

use chrono::{Datelike, Timelike};
use serde::{Serialize, Serializer};

use crate::time::clock::Timestamp;

/// Serialises as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
#[derive(Clone, Copy)]
pub struct Millis(pub Timestamp);

/// Serialises as `YYYY-MM-DDTHH:MM:SSZ`.
#[derive(Clone, Copy)]
pub struct Secs(pub Timestamp);

/// Two digits of `n` (< 100) at `buf[at..at + 2]`.
fn put2(buf: &mut [u8; 24], at: usize, n: u32) {
    buf[at] = b'0' + (n / 10) as u8;
    buf[at + 1] = b'0' + (n % 10) as u8;
}

/// Formats into `buf`; returns the used length (20 or 24). Years outside
/// 0–9999 fall back to chrono's formatting.
fn format(t: &Timestamp, millis: bool, buf: &mut [u8; 24]) -> Option<usize> {
    // The fields chrono keeps (no round trip through epoch seconds).
    let t = t.naive_utc();
    let y = t.year();
    if !(0..=9999).contains(&y) {
        return None;
    }
    *buf = *b"0000-00-00T00:00:00.000Z";
    let y = y as u32;
    put2(buf, 0, y / 100);
    put2(buf, 2, y % 100);
    put2(buf, 5, t.month());
    put2(buf, 8, t.day());
    put_time(&t, millis, buf);
    Some(if millis { 24 } else { 20 })
}

/// The time of day of `t` into `buf` (from byte 11; the separators are left as they are).
fn put_time(t: &chrono::NaiveDateTime, millis: bool, buf: &mut [u8; 24]) {
    let sod = t.num_seconds_from_midnight();
    put2(buf, 11, sod / 3600);
    put2(buf, 14, sod / 60 % 60);
    put2(buf, 17, sod % 60);
    if millis {
        // A leap second carries 1000 ms or more: written as 999.
        let ms = (t.nanosecond() / 1_000_000).min(999);
        buf[20] = b'0' + (ms / 100) as u8;
        put2(buf, 21, ms % 100);
    } else {
        buf[19] = b'Z';
    }
}

fn write(t: &Timestamp, millis: bool, f: impl FnOnce(&str) -> fmt::Result) -> fmt::Result {
    let mut buf = [0u8; 24];
    match format(t, millis, &mut buf) {
        Some(n) => f(std::str::from_utf8(&buf[..n]).expect("ASCII")),
        None if millis => f(&crate::time::clock::fmt_millis(t)),
        None => f(&crate::time::clock::fmt_secs(t)),
    }
}

impl Millis {
    /// The 24 bytes of the text; `None` outside years 0–9999.
    pub fn fixed(&self) -> Option<[u8; 24]> {
        let mut buf = [0u8; 24];
        format(&self.0, true, &mut buf).map(|_| buf)
    }

    /// Rewrites `text`, the [`Millis::fixed`] text of a time, to this time
    /// on `date` (`YYYY-MM-DD`, the text of this time's date).
    pub fn on_date(&self, date: &[u8; 10], text: &mut [u8; 24]) {
        text[..10].copy_from_slice(date);
        put_time(&self.0.naive_utc(), true, text);
    }

    /// Appends the text to a byte buffer.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        let mut buf = [0u8; 24];
        match format(&self.0, true, &mut buf) {
            Some(_) => out.extend_from_slice(&buf), // always 24 bytes with milliseconds
            None => out.extend_from_slice(crate::time::clock::fmt_millis(&self.0).as_bytes()),
        }
    }
}

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write(&self.0, true, |s| f.write_str(s))
    }
}

impl fmt::Display for Secs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write(&self.0, false, |s| f.write_str(s))
    }
}

fn ser<S: Serializer>(t: &Timestamp, millis: bool, s: S) -> Result<S::Ok, S::Error> {
    let mut buf = [0u8; 24];
    match format(t, millis, &mut buf) {
        Some(n) => s.serialize_str(std::str::from_utf8(&buf[..n]).expect("ASCII")),
        None if millis => s.serialize_str(&crate::time::clock::fmt_millis(t)),
        None => s.serialize_str(&crate::time::clock::fmt_secs(t)),
    }
}

impl Serialize for Millis {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        ser(&self.0, true, s)
    }
}

impl Serialize for Secs {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        ser(&self.0, false, s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::clock::{fmt_millis, fmt_secs, parse_rfc3339};

    #[test]
    fn same_as_chrono() {
        for s in [
            "2026-11-28T00:00:00Z",
            "1999-01-02T03:04:05.006Z",
            "2026-03-02T10:15:00.999+01:00",
            "0000-01-01T00:00:00Z",
            "0999-12-31T23:59:59.090Z",
            "2000-02-29T12:34:56.789Z",
            "9999-12-31T23:59:59.999Z",
        ] {
            let t = parse_rfc3339(s).unwrap();
            assert_eq!(Millis(t).to_string(), fmt_millis(&t));
            assert_eq!(Secs(t).to_string(), fmt_secs(&t));
            let mut text = *b"1999-01-02T03:04:05.006Z";
            let date = Millis(t).fixed().unwrap()[..10].try_into().unwrap();
            Millis(t).on_date(&date, &mut text);
            assert_eq!(text, Millis(t).fixed().unwrap());
        }
    }
}
