//! The portals' CSV import files (docs/design.md#portal-csv-files): `sentinel-csv` (Sentinel's
//! "Import using a file", template "All other indicator types") and
//! `defender-csv` (Defender for Endpoint's indicator import).
//!
//! CSV goes to files only (`-o FILE`): a portal imports files, a file may have
//! to be split, and each part is written to a temporary file and renamed into
//! place only when the whole run has succeeded. One part keeps the name given;
//! several are numbered (`out.csv` → `out-0001.csv`, `out-0002.csv`, …).
//!
//! - `writer`: [`CsvWriter`], an indicator in, its format's row out.
//! - `sentinel`, `defender`: the rows and headers of the two formats.
//! - `record`: a row's cells as one CSV record.
//! - `files`: the parts of the output, their limits and their renaming into place.

mod defender;
mod files;
#[cfg(test)]
mod fixture;
mod record;
mod sentinel;
mod writer;

pub use defender::DEFENDER_MAX_ROWS;
pub use files::numbered;
pub use sentinel::{sentinel_observable, SENTINEL_MAX_BYTES};
pub use writer::{CsvFormat, CsvOptions, CsvWriter};
