//! The CSV formats' writer: each indicator becomes the row of its format
//! (Defender's rows once per key and run), written into the parts of the
//! output file.

use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::map::context::Context;
use crate::map::format::csv::defender::{defender_row, DEFENDER_HEADER, DEFENDER_MAX_ROWS};
use crate::map::format::csv::files::CsvFiles;
use crate::map::format::csv::record::encode;
use crate::map::format::csv::sentinel::{sentinel_row, SENTINEL_HEADER, SENTINEL_MAX_BYTES};
use crate::map::format::defender::{DefenderOptions, WrittenKeys};
use crate::map::format::writer::{write_each, Emitted, FormatWriter, Outcome};
use crate::map::indicator::{Indicator, SkipReason};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CsvFormat {
    Sentinel,
    Defender,
}

impl CsvFormat {
    fn name(self) -> &'static str {
        match self {
            CsvFormat::Sentinel => "sentinel-csv",
            CsvFormat::Defender => "defender-csv",
        }
    }

    fn header(self) -> &'static [&'static str; 12] {
        match self {
            CsvFormat::Sentinel => &SENTINEL_HEADER,
            CsvFormat::Defender => &DEFENDER_HEADER,
        }
    }
}

/// How the files are cut and what the Defender rows say.
#[derive(Debug, Clone)]
pub struct CsvOptions {
    /// Data rows per file (the header is not counted); `None` or 0: no limit.
    pub max_rows: Option<u64>,
    /// Bytes per file, header included.
    pub max_bytes: u64,
    /// Defender `Action` and `GenerateAlert` (as `--format defender`).
    pub defender: DefenderOptions,
}

impl CsvOptions {
    /// The defaults for a format (`--max-rows` given or not): Defender 500 rows
    /// a file, Sentinel 50 MB a file; Defender rows `Audit` with an alert.
    pub fn for_format(format: CsvFormat, max_rows: Option<u64>) -> Self {
        let max_rows = match (format, max_rows) {
            (_, Some(0)) => None,
            (_, Some(n)) => Some(n),
            (CsvFormat::Defender, None) => Some(DEFENDER_MAX_ROWS),
            (CsvFormat::Sentinel, None) => None,
        };
        CsvOptions {
            max_rows,
            max_bytes: SENTINEL_MAX_BYTES,
            defender: DefenderOptions::default(),
        }
    }
}

/// Writes indicators as CSV rows into one or more files.
pub struct CsvWriter {
    format: CsvFormat,
    defender: DefenderOptions,
    files: CsvFiles,
    /// Defender keys already written.
    seen: WrittenKeys,
    rows: u64,
    /// Scratch space for names and descriptions.
    text: (String, String),
}

impl CsvWriter {
    /// Prepares to write `path`. Refuses stdout and compressed names: the
    /// portals import plain files.
    pub fn create(format: CsvFormat, path: &Path, opts: CsvOptions) -> Result<Self> {
        let header = encode(format.header().iter().copied())?;
        let files = CsvFiles::create(format.name(), path, header, opts.max_rows, opts.max_bytes)?;
        Ok(CsvWriter {
            format,
            defender: opts.defender,
            files,
            seen: WrittenKeys::default(),
            rows: 0,
            text: Default::default(),
        })
    }

    /// Rows written so far, over all parts.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Writes one indicator, or says why it cannot be written in this format.
    pub fn write(&mut self, ind: &Indicator) -> Result<Outcome> {
        self.write_in(ind, &Context::NONE)
    }

    /// [`CsvWriter::write`] with the attribute's clusters.
    pub fn write_in(&mut self, ind: &Indicator, ctx: &Context<'_>) -> Result<Outcome> {
        let fields = match self.format {
            CsvFormat::Sentinel => sentinel_row(ind, ctx, &mut self.text),
            CsvFormat::Defender => defender_row(ind, ctx, &self.defender, &mut self.text),
        };
        let fields = match fields {
            Ok(f) => f,
            Err(reason) => return Ok(Outcome::Skipped(reason)),
        };
        // Defender keys indicators by type and value: one row per key and run.
        if self.format == CsvFormat::Defender && !self.seen.first(&fields[0], &fields[1]) {
            return Ok(Outcome::Skipped(SkipReason::DuplicateKey));
        }
        self.files
            .append(&encode(fields.iter().map(String::as_str))?)?;
        self.rows += 1;
        Ok(Outcome::Written)
    }

    /// Renames the parts into place and returns their paths (see `CsvFiles::finish`).
    pub fn finish(self) -> Result<Vec<PathBuf>> {
        self.files.finish()
    }
}

impl FormatWriter for CsvWriter {
    fn write(&mut self, parts: &[Indicator], ctx: &Context<'_>) -> Result<Emitted> {
        write_each(parts, |ind| CsvWriter::write_in(self, ind, ctx))
    }

    fn finish(self: Box<Self>) -> Result<()> {
        let paths = CsvWriter::finish(*self)?;
        if paths.len() > 1 {
            eprintln!(
                "ioc-map: {} files: {} … {}",
                paths.len(),
                paths[0].display(),
                paths[paths.len() - 1].display()
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::map::format::csv::fixture::ind;
    use crate::map::indicator::ValueKind;
    use std::fs;

    #[test]
    fn limits_per_format() {
        let rows = |f, n| CsvOptions::for_format(f, n).max_rows;
        assert_eq!(rows(CsvFormat::Defender, None), Some(DEFENDER_MAX_ROWS));
        assert_eq!(rows(CsvFormat::Sentinel, None), None);
        assert_eq!(rows(CsvFormat::Defender, Some(0)), None);
        assert_eq!(rows(CsvFormat::Sentinel, Some(7)), Some(7));
        let opts = CsvOptions::for_format(CsvFormat::Sentinel, None);
        assert_eq!(opts.max_bytes, SENTINEL_MAX_BYTES);
    }

    #[test]
    fn refuses_stdout() {
        let opts = CsvOptions::for_format(CsvFormat::Defender, None);
        let err = CsvWriter::create(CsvFormat::Defender, Path::new("-"), opts)
            .err()
            .unwrap();
        assert_eq!(err.exit_code(), crate::cli::exit::USAGE);
        assert!(err
            .to_string()
            .contains("--format defender-csv writes files"));
    }

    #[test]
    fn defender_writes_each_key_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.csv");
        let mut writer = CsvWriter::create(
            CsvFormat::Defender,
            &path,
            CsvOptions::for_format(CsvFormat::Defender, None),
        )
        .unwrap();
        let a = ind(ValueKind::Domain, "domain", "c2.example.net");
        assert_eq!(writer.write(&a).unwrap(), Outcome::Written);
        assert_eq!(
            writer.write(&a).unwrap(),
            Outcome::Skipped(SkipReason::DuplicateKey)
        );
        assert_eq!(
            writer
                .write(&ind(ValueKind::Url, "url", "http://c2.example.net"))
                .unwrap(),
            Outcome::Written
        );
        assert_eq!(writer.rows(), 2);
        writer.finish().unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap().lines().count(), 3);
    }
}
