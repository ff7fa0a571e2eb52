//! The `--format` choice of `ioc-map` and the opening of its writer. Each
//! format is a [`FormatWriter`] (see `writer.rs`) that receives the indicators
//! of one attribute at a time (its parts, primary first) and writes zero or
//! more records. Adding a format = a [`Format`] variant, a `FormatWriter`
//! implementation and one arm in [`open`].

use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::io::output::Output;
use crate::map::format::csv::{CsvFormat, CsvOptions, CsvWriter};
use crate::map::format::writer::FormatWriter;

/// `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// STIX 2.1 indicators for Sentinel's STIX objects upload API (NDJSON).
    Stix,
    /// Defender for Endpoint indicator import objects (NDJSON).
    Defender,
    /// Legacy Microsoft Graph tiIndicator objects (NDJSON; the API is deprecated).
    Tiindicator,
    /// Sentinel's CSV file import (needs -o FILE; split at 50 MB).
    SentinelCsv,
    /// Defender's CSV file import (needs -o FILE; 500 rows a file).
    DefenderCsv,
}

impl Format {
    /// Whether the format carries retirements of single attributes (docs/design.md#retirement).
    pub fn retirements(self) -> bool {
        matches!(self, Format::Stix)
    }

    /// Whether the format wants file-name parts as context of their hash (one record for both).
    pub fn filename_context(self) -> bool {
        matches!(self, Format::Tiindicator)
    }
}

/// Options of all formats (each format reads its own).
#[derive(Debug, Clone)]
pub struct FormatOptions {
    /// `-o FILE`; `None` is stdout.
    pub output: Option<PathBuf>,
    pub stix: crate::map::format::stix::StixOptions,
    pub defender: crate::map::format::defender::DefenderOptions,
    pub tiindicator: crate::map::format::tiindicator::TiOptions,
    /// CSV formats: `--max-rows` (`None`: the format's default; 0: no row limit).
    pub max_rows: Option<u64>,
}

/// Opens the writer of a format.
pub fn open(format: Format, opts: &FormatOptions) -> Result<Box<dyn FormatWriter>> {
    let out = || Output::open(opts.output.as_deref(), false);
    Ok(match format {
        Format::Stix => Box::new(crate::map::format::stix::StixWriter::new(
            out()?,
            opts.stix.clone(),
        )),
        Format::Defender => Box::new(crate::map::format::defender::DefenderWriter::new(
            out()?,
            opts.defender.clone(),
        )),
        Format::Tiindicator => Box::new(crate::map::format::tiindicator::TiWriter::new(
            out()?,
            opts.tiindicator.clone(),
        )),
        Format::SentinelCsv | Format::DefenderCsv => {
            let csv = if format == Format::SentinelCsv {
                CsvFormat::Sentinel
            } else {
                CsvFormat::Defender
            };
            let mut o = CsvOptions::for_format(csv, opts.max_rows);
            o.defender = opts.defender.clone();
            let path = opts.output.as_deref().unwrap_or(Path::new("-"));
            Box::new(CsvWriter::create(csv, path, o)?)
        }
    })
}
