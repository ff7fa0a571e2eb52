//! The files a CSV format writes: parts of at most so many rows and bytes,
//! each written to a temporary file beside the target and renamed into place
//! only when the whole run has succeeded. One part keeps the name given;
//! several are numbered (`out.csv` → `out-0001.csv`, `out-0002.csv`, …).

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

use crate::error::{Error, Result};
use crate::io::output::remove_if_exists;

/// One part being written: a temporary file beside the target.
struct Part {
    writer: BufWriter<NamedTempFile>,
    rows: u64,
    bytes: u64,
}

/// The parts of one CSV output, each starting with the header.
pub(super) struct CsvFiles {
    path: PathBuf,
    header: Vec<u8>,
    /// Data rows per part (the header is not counted); `None`: no limit.
    max_rows: Option<u64>,
    /// Bytes per part, header included.
    max_bytes: u64,
    done: Vec<NamedTempFile>,
    current: Option<Part>,
}

impl CsvFiles {
    /// Prepares to write `path` for `--format {format}`. Refuses stdout and
    /// compressed names (the portals import plain files), and a size limit
    /// the header alone reaches.
    pub(super) fn create(
        format: &str,
        path: &Path,
        header: Vec<u8>,
        max_rows: Option<u64>,
        max_bytes: u64,
    ) -> Result<Self> {
        if path.as_os_str().is_empty() || path == Path::new("-") {
            return Err(Error::usage(format!(
                "--format {format} writes files: give -o FILE (for example -o indicators.csv)"
            )));
        }
        if path.extension().is_some_and(|e| e == "gz") {
            return Err(Error::usage(format!(
                "--format {format}: the portals import plain CSV; -o {} must not end in .gz",
                path.display()
            )));
        }
        if path.file_name().is_none() {
            return Err(Error::usage(format!(
                "-o {}: not a file name",
                path.display()
            )));
        }
        if header.len() as u64 >= max_bytes {
            return Err(Error::usage(
                "the file size limit is smaller than the header",
            ));
        }
        Ok(CsvFiles {
            path: path.to_path_buf(),
            header,
            max_rows,
            max_bytes,
            done: Vec::new(),
            current: None,
        })
    }

    /// Appends one encoded row, to a new part when the current one is full.
    pub(super) fn append(&mut self, row: &[u8]) -> Result<()> {
        let len = row.len() as u64;
        let max_bytes = self.max_bytes;
        let full = |p: &Part| {
            self.max_rows.is_some_and(|m| p.rows >= m) || (p.rows > 0 && p.bytes + len > max_bytes)
        };
        if self.current.as_ref().is_some_and(full) {
            let part = self.current.take().expect("checked above");
            self.done.push(self.close(part)?);
        }
        if self.current.is_none() {
            self.current = Some(self.open_part()?);
        }
        let part = self.current.as_mut().expect("opened above");
        if part.bytes + len > max_bytes {
            return Err(Error::Other(format!(
                "{}: one row is {len} bytes, more than a whole file may hold",
                self.path.display()
            )));
        }
        part.writer
            .write_all(row)
            .map_err(|e| Error::io(&self.path, e))?;
        part.rows += 1;
        part.bytes += len;
        Ok(())
    }

    fn open_part(&self) -> Result<Part> {
        let dir = match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let tmp = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempfile_in(&dir)
            .map_err(|e| Error::io(&self.path, e))?;
        let mut writer = BufWriter::with_capacity(256 * 1024, tmp);
        writer
            .write_all(&self.header)
            .map_err(|e| Error::io(&self.path, e))?;
        Ok(Part {
            writer,
            rows: 0,
            bytes: self.header.len() as u64,
        })
    }

    fn close(&self, part: Part) -> Result<NamedTempFile> {
        let tmp = part
            .writer
            .into_inner()
            .map_err(|e| Error::io(&self.path, e.into_error()))?;
        tmp.as_file()
            .sync_all()
            .map_err(|e| Error::io(&self.path, e))?;
        Ok(tmp)
    }

    /// Renames the parts into place and returns their paths. A run without a
    /// row still writes one file with the header. Numbered parts left by an
    /// earlier run beyond this run's count (and the unnumbered file when this
    /// run is split, or the numbered ones when it is not) are removed, so the
    /// directory holds exactly this run's files.
    pub(super) fn finish(mut self) -> Result<Vec<PathBuf>> {
        let part = match self.current.take() {
            Some(p) => p,
            None if self.done.is_empty() => self.open_part()?,
            None => return Err(Error::Other("no part open".into())),
        };
        let last = self.close(part)?;
        self.done.push(last);
        let parts = std::mem::take(&mut self.done);
        let mut paths = Vec::with_capacity(parts.len());
        if parts.len() == 1 {
            paths.push(self.path.clone());
        } else {
            paths.extend((1..=parts.len()).map(|n| numbered(&self.path, n)));
        }
        for (tmp, path) in parts.into_iter().zip(&paths) {
            tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
        }
        self.remove_stale(paths.len())?;
        Ok(paths)
    }

    fn remove_stale(&self, written: usize) -> Result<()> {
        if written > 1 {
            remove_if_exists(&self.path)?;
        }
        let first = if written > 1 { written + 1 } else { 1 };
        for n in first.. {
            let p = numbered(&self.path, n);
            if !p.exists() {
                break;
            }
            remove_if_exists(&p)?;
        }
        Ok(())
    }
}

/// `dir/out.csv` → `dir/out-0001.csv`; a name without extension gets the number at its end.
pub fn numbered(path: &Path, n: usize) -> PathBuf {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = match path.extension() {
        Some(ext) => format!("{stem}-{n:04}.{}", ext.to_string_lossy()),
        None => format!("{stem}-{n:04}"),
    };
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    const HEADER: &[u8] = b"IndicatorType,IndicatorValue\r\n";
    /// No limit worth the name.
    const LOTS: u64 = 1 << 40;

    fn rows(n: usize) -> Vec<Vec<u8>> {
        (0..n)
            .map(|i| format!("DomainName,h{i}.example.net\r\n").into_bytes())
            .collect()
    }

    fn create(path: &Path, max_rows: Option<u64>, max_bytes: u64) -> CsvFiles {
        CsvFiles::create("test-csv", path, HEADER.to_vec(), max_rows, max_bytes).unwrap()
    }

    fn write_all(
        path: &Path,
        max_rows: Option<u64>,
        max_bytes: u64,
        rows: &[Vec<u8>],
    ) -> Vec<PathBuf> {
        let mut files = create(path, max_rows, max_bytes);
        for r in rows {
            files.append(r).unwrap();
        }
        files.finish().unwrap()
    }

    fn read_dir(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn splits_by_rows_and_cleans_up_stale_parts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        fs::write(&path, "stale").unwrap();
        fs::write(numbered(&path, 4), "stale").unwrap();
        fs::write(numbered(&path, 6), "not ours").unwrap();
        let paths = write_all(&path, Some(2), LOTS, &rows(5));
        assert_eq!(paths.len(), 3);
        // out-0006.csv survives: only the contiguous run after the last part is cleaned.
        assert_eq!(
            read_dir(dir.path()),
            [
                "out-0001.csv",
                "out-0002.csv",
                "out-0003.csv",
                "out-0006.csv"
            ]
        );
        let counts: Vec<usize> = paths
            .iter()
            .map(|p| fs::read_to_string(p).unwrap().lines().count() - 1)
            .collect();
        assert_eq!(counts, [2, 2, 1]);
        for p in &paths {
            assert!(fs::read(p).unwrap().starts_with(HEADER));
        }

        // A later run that fits one file removes the numbered parts of the earlier one.
        let paths = write_all(&path, None, LOTS, &rows(5));
        assert_eq!(paths, std::slice::from_ref(&path));
        assert_eq!(read_dir(dir.path()), ["out-0006.csv", "out.csv"]);
    }

    #[test]
    fn splits_by_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.csv");
        let one = rows(1).remove(0);
        let max_bytes = (HEADER.len() + 2 * one.len()) as u64;
        let paths = write_all(&path, None, max_bytes, &vec![one.clone(); 5]);
        assert_eq!(paths.len(), 3);
        for p in &paths {
            assert!(fs::metadata(p).unwrap().len() <= max_bytes);
        }
        // A row that fits no file at all is an error, and nothing is left behind.
        let mut files = create(&dir.path().join("t.csv"), None, HEADER.len() as u64 + 10);
        assert!(files.append(&one).is_err());
        drop(files);
        assert!(!dir.path().join("t.csv").exists());
    }

    #[test]
    fn empty_run_writes_the_header() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.csv");
        let paths = write_all(&path, None, LOTS, &[]);
        assert_eq!(paths, std::slice::from_ref(&path));
        assert_eq!(fs::read(&path).unwrap(), HEADER);
    }

    #[test]
    fn nothing_appears_before_finish() {
        let dir = tempfile::tempdir().unwrap();
        let mut files = create(&dir.path().join("d.csv"), Some(1), LOTS);
        for r in rows(2) {
            files.append(&r).unwrap();
        }
        assert!(read_dir(dir.path()).iter().all(|n| n.starts_with(".tmp-")));
        drop(files);
        assert!(read_dir(dir.path()).is_empty());
    }

    #[test]
    fn refuses_stdout_and_gzip() {
        for p in ["-", "", "out.csv.gz"] {
            let err = CsvFiles::create("sentinel-csv", Path::new(p), HEADER.to_vec(), None, LOTS)
                .err()
                .unwrap();
            assert_eq!(err.exit_code(), crate::cli::exit::USAGE, "{p}");
        }
        let err = CsvFiles::create(
            "sentinel-csv",
            Path::new("o.csv"),
            HEADER.to_vec(),
            None,
            10,
        )
        .err()
        .unwrap();
        assert_eq!(err.exit_code(), crate::cli::exit::USAGE);
    }

    #[test]
    fn numbered_names() {
        assert_eq!(
            numbered(Path::new("d/out.csv"), 1),
            Path::new("d/out-0001.csv")
        );
        assert_eq!(numbered(Path::new("out"), 12), Path::new("out-0012"));
        assert_eq!(
            numbered(Path::new("a.b.csv"), 10000),
            Path::new("a.b-10000.csv")
        );
    }
}
