//! Fast timestamp text for output records: `2026-11-28T00:00:00.000Z`
//! (STIX, milliseconds) and `2026-11-28T00:00:00Z` (Defender, Graph), written
//! from a stack buffer without allocating.

use std::fmt;

use serde::{Serialize, Serializer};

use crate::time::Timestamp;

/// Serialises as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
#[derive(Clone, Copy)]
pub struct Millis(pub Timestamp);

/// Serialises as `YYYY-MM-DDTHH:MM:SSZ`.
#[derive(Clone, Copy)]
pub struct Secs(pub Timestamp);

fn put(buf: &mut [u8], mut n: u32) {
    for b in buf.iter_mut().rev() {
        *b = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

/// Formats into `buf`; returns the used length (20 or 24). Years outside
/// 0–9999 fall back to chrono's formatting.
fn format(t: &Timestamp, millis: bool, buf: &mut [u8; 24]) -> Option<usize> {
    let secs = t.timestamp();
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    if !(0..=9999).contains(&y) {
        return None;
    }
    let sod = secs.rem_euclid(86_400) as u32;
    *buf = *b"0000-00-00T00:00:00.000Z";
    put(&mut buf[0..4], y as u32);
    put(&mut buf[5..7], m);
    put(&mut buf[8..10], d);
    put(&mut buf[11..13], sod / 3600);
    put(&mut buf[14..16], sod / 60 % 60);
    put(&mut buf[17..19], sod % 60);
    if millis {
        put(&mut buf[20..23], t.timestamp_subsec_millis().min(999));
        Some(24)
    } else {
        buf[19] = b'Z';
        Some(20)
    }
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian
/// (H. Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn write(t: &Timestamp, millis: bool, f: impl FnOnce(&str) -> fmt::Result) -> fmt::Result {
    let mut buf = [0u8; 24];
    match format(t, millis, &mut buf) {
        Some(n) => f(std::str::from_utf8(&buf[..n]).expect("ASCII")),
        None if millis => f(&crate::time::fmt_millis(t)),
        None => f(&crate::time::fmt_secs(t)),
    }
}

impl Millis {
    /// Appends the text to a byte buffer.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        let mut buf = [0u8; 24];
        match format(&self.0, true, &mut buf) {
            Some(_) => out.extend_from_slice(&buf), // always 24 bytes with milliseconds
            None => out.extend_from_slice(crate::time::fmt_millis(&self.0).as_bytes()),
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
        None if millis => s.serialize_str(&crate::time::fmt_millis(t)),
        None => s.serialize_str(&crate::time::fmt_secs(t)),
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
    use crate::time::{fmt_millis, fmt_secs, parse_rfc3339};

    #[test]
    fn same_as_chrono() {
        for s in [
            "2026-11-28T00:00:00Z",
            "1999-01-02T03:04:05.006Z",
            "2026-03-02T10:15:00.999+01:00",
        ] {
            let t = parse_rfc3339(s).unwrap();
            assert_eq!(Millis(t).to_string(), fmt_millis(&t));
            assert_eq!(Secs(t).to_string(), fmt_secs(&t));
        }
    }
}
