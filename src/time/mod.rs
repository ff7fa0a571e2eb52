//! Time: the run's clock (`--now` for reproducible runs), STIX timestamps with
//! milliseconds, MISP epoch seconds, and the `7d`/`12h`/`30m` durations.

/// The clock, `Timestamp`, reading times and writing them with chrono.
pub mod clock;
/// Durations: parsing the flags, adding to a time.
pub mod duration;
/// Fast timestamp text for output records.
pub mod text;

pub use clock::{
    fmt_millis, fmt_secs, from_epoch, now, parse_date, parse_misp_time, parse_rfc3339,
    start_of_day, EpochDays, Timestamp,
};
pub use duration::{add, parse_duration};
