//! What every output format of `ioc-map` implements: the writer that takes
//! one attribute's indicators at a time, with their context, and writes zero
//! or more records.

use crate::error::Result;
use crate::map::context::Context;
use crate::map::indicator::{Indicator, SkipReason};

/// What one attribute's indicators became.
#[derive(Debug, PartialEq)]
pub enum Emitted {
    /// This many records were written (at least one).
    Written(usize),
    /// None was written, for this reason.
    Skipped(SkipReason),
}

/// What became of one indicator.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Written,
    Skipped(SkipReason),
}

/// An output format's writer: takes the indicators of one attribute at a time.
pub trait FormatWriter {
    /// Writes the records for one attribute's indicators (`parts` is never empty;
    /// the primary part comes first), with the attribute's galaxy clusters
    /// (`Context::NONE` with `--context none`). A part the format cannot
    /// express is left out; when nothing is written the first part's reason
    /// is returned.
    fn write(&mut self, parts: &[Indicator], context: &Context<'_>) -> Result<Emitted>;

    /// Records written besides indicators (STIX context objects), so far.
    fn context_objects(&self) -> u64 {
        0
    }

    /// Flushes and completes the output (renames `-o FILE` into place).
    fn finish(self: Box<Self>) -> Result<()>;
}

/// Writes `parts` one record each with `write` and sums up what became of
/// them: the records written, or, when there is none, the reason of the first
/// part left out.
#[inline]
pub fn write_each(
    parts: &[Indicator],
    mut write: impl FnMut(&Indicator) -> Result<Outcome>,
) -> Result<Emitted> {
    let mut written = 0;
    let mut first_skip = None;
    for ind in parts {
        match write(ind)? {
            Outcome::Written => written += 1,
            Outcome::Skipped(reason) => {
                first_skip.get_or_insert(reason);
            }
        }
    }
    Ok(match first_skip {
        Some(reason) if written == 0 => Emitted::Skipped(reason),
        _ => Emitted::Written(written),
    })
}
