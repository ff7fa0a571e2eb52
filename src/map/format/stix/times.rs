//! The text of a STIX record's four times (`created`, `modified`,
//! `valid_from`, `valid_until`: quoted, millisecond UTC), from a cache:
//! consecutive indicators of one event mostly share them, and formatting
//! dates is not free.

use crate::json::write as jsonw;
use crate::time::text::Millis;
use crate::time::Timestamp;

/// Dates kept (see [`TimeTexts::days`]).
const DAYS_CACHED: usize = 4;

/// Texts of `valid_until` kept (see [`TimeTexts::write`]).
const UNTIL_CACHED: usize = 4;

pub(super) struct TimeTexts {
    /// The last text of each of the four time fields (of `valid_until`, the
    /// last few), quoted; an entry not written yet starts with a zero byte.
    stamps: [(Timestamp, [u8; 26]); 3 + UNTIL_CACHED],
    /// The `valid_until` entry to replace next.
    until_next: usize,
    /// The text of the last few dates written (`YYYY-MM-DD`): one event's
    /// times fall on a few days, and a date is the costly part of a time to write.
    days: [(Option<chrono::NaiveDate>, [u8; 10]); DAYS_CACHED],
    /// The `days` entry to replace next.
    day_next: usize,
}

impl TimeTexts {
    pub(super) fn new() -> Self {
        TimeTexts {
            stamps: [(Timestamp::default(), [0; 26]); 3 + UNTIL_CACHED],
            until_next: 0,
            days: [(None, [0; 10]); DAYS_CACHED],
            day_next: 0,
        }
    }

    /// Appends time field `i` (0 `created`, 1 `modified`, 2 `valid_from`,
    /// 3 `valid_until`), quoted, from the cache when unchanged. The last
    /// field, `valid_until`, takes one of a few values per event (one per
    /// expiry), which alternate: it has [`UNTIL_CACHED`] entries.
    #[inline]
    pub(super) fn write(&mut self, out: &mut Vec<u8>, mut i: usize, t: Timestamp) {
        if i == 3 {
            match self.stamps[3..].iter().position(|(last, _)| *last == t) {
                Some(k) => i = 3 + k,
                None => {
                    i = 3 + self.until_next;
                    self.until_next = (self.until_next + 1) % UNTIL_CACHED;
                }
            }
        }
        // The usual case, written where it is called; a new text out of line.
        match &self.stamps[i] {
            (last, text) if *last == t && text[0] == b'"' => out.extend_from_slice(text),
            _ => self.write_new(out, i, t),
        }
    }

    /// [`TimeTexts::write`] of a time whose text is not in entry `i`: it is now.
    #[inline(never)]
    fn write_new(&mut self, out: &mut Vec<u8>, i: usize, t: Timestamp) {
        let (last, text) = &mut self.stamps[i];
        let date = t.date_naive();
        let written = text[0] == b'"';
        let digits: &mut [u8; 24] = (&mut text[1..25]).try_into().expect("24 bytes");
        match self.days.iter().find(|(d, _)| *d == Some(date)) {
            // A text written before: only the date and time are new.
            Some((_, ymd)) if written => Millis(t).on_date(ymd, digits),
            _ => {
                let Some(fixed) = Millis(t).fixed() else {
                    jsonw::time(out, Millis(t)); // outside years 0–9999: not cached
                    return;
                };
                *digits = fixed;
                text[0] = b'"';
                text[25] = b'"';
                let ymd = fixed[..10].try_into().expect("10 bytes");
                self.days[self.day_next] = (Some(date), ymd);
                self.day_next = (self.day_next + 1) % DAYS_CACHED;
            }
        }
        *last = t;
        out.extend_from_slice(text);
    }
}
