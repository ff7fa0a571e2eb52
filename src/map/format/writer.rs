//! What every output format of `ioc-map` implements: the writer that takes
//! one attribute's indicators at a time and writes zero or more records.

use crate::error::Result;
use crate::map::indicator::{Indicator, SkipReason};

/// What one attribute's indicators became.
#[derive(Debug, PartialEq)]
pub enum Emitted {
    /// This many records were written (at least one).
    Written(usize),
    /// None was written, for this reason.
    Skipped(SkipReason),
}

/// An output format's writer: takes the indicators of one attribute at a time.
pub trait FormatWriter {
    /// Writes the records for one attribute's indicators (`parts` is never empty;
    /// the primary part comes first). A part the format cannot express is left
    /// out; when nothing is written the first part's reason is returned.
    fn write(&mut self, parts: &[Indicator]) -> Result<Emitted>;

    /// Flushes and completes the output (renames `-o FILE` into place).
    fn finish(self: Box<Self>) -> Result<()>;
}
