//! NDJSON output: stdout (locked once, buffered) or `-o FILE`, written to a
//! temporary file beside FILE and renamed into place only when complete.
//! A FILE that exists and is not a regular file (a character device such as
//! `/dev/null`, a FIFO, a socket) is written directly: renaming over it would
//! replace the device or pipe with a regular file.
//! Gzip when asked for or when FILE ends in `.gz`.

use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
use flate2::Compression;
use serde::Serialize;
use tempfile::NamedTempFile;

use crate::error::{Error, Result};

/// Where an [`Output`] writes: stdout, a temporary file renamed into place on
/// finish, or the same gzip-compressed.
enum Destination {
    Stdout(BufWriter<io::StdoutLock<'static>>),
    File {
        path: PathBuf,
        writer: BufWriter<Target>,
    },
    GzFile {
        path: PathBuf,
        writer: GzEncoder<BufWriter<Target>>,
    },
}

/// What a file output writes to: a temporary file renamed into place on
/// finish (removed if dropped), or an existing non-regular file written in place.
enum Target {
    Temp(NamedTempFile),
    Direct(fs::File),
}

impl Write for Target {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Target::Temp(f) => f.write(buf),
            Target::Direct(f) => f.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Target::Temp(f) => f.flush(),
            Target::Direct(f) => f.flush(),
        }
    }
}

/// Opens the target for `path`: an existing file that is not a regular file
/// (device, FIFO, socket) directly, anything else through a temporary file.
fn target(path: &Path) -> Result<Target> {
    match fs::metadata(path) {
        Ok(m) if !m.is_file() && !m.is_dir() => fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map(Target::Direct)
            .map_err(|e| Error::io(path, e)),
        _ => temp_beside(path).map(Target::Temp),
    }
}

/// Where records go. Call [`Output::finish`] to flush (and rename a file into place);
/// a file dropped without `finish` is removed, never left half-written.
pub struct Output {
    dest: Destination,
}

/// Creates a temporary file in the directory of `path`, so the rename is atomic.
fn temp_beside(path: &Path) -> Result<NamedTempFile> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(&dir)
        .map_err(|e| Error::io(path, e))
}

impl Output {
    pub fn stdout() -> Self {
        Output {
            dest: Destination::Stdout(BufWriter::with_capacity(256 * 1024, io::stdout().lock())),
        }
    }

    /// `None` or `-` is stdout; a path is written atomically.
    pub fn open(path: Option<&Path>, gzip: bool) -> Result<Self> {
        match path {
            None => Ok(Self::stdout()),
            Some(p) if p == Path::new("-") => Ok(Self::stdout()),
            Some(p) => Self::file(p, gzip || p.extension().is_some_and(|e| e == "gz")),
        }
    }

    pub fn file(path: &Path, gzip: bool) -> Result<Self> {
        let writer = BufWriter::with_capacity(256 * 1024, target(path)?);
        let path = path.to_path_buf();
        let dest = if gzip {
            Destination::GzFile {
                path,
                writer: GzEncoder::new(writer, Compression::default()),
            }
        } else {
            Destination::File { path, writer }
        };
        Ok(Output { dest })
    }

    fn map_err(&self, e: io::Error) -> Error {
        match &self.dest {
            Destination::Stdout(_) => Error::stdout(e),
            Destination::File { path, .. } | Destination::GzFile { path, .. } => Error::io(path, e),
        }
    }

    fn writer(&mut self) -> &mut dyn Write {
        match &mut self.dest {
            Destination::Stdout(w) => w,
            Destination::File { writer, .. } => writer,
            Destination::GzFile { writer, .. } => writer,
        }
    }

    /// Writes one value as one JSON line.
    pub fn write_json<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        let w = self.writer();
        let res = serde_json::to_writer(&mut *w, value)
            .map_err(io::Error::from)
            .and_then(|_| w.write_all(b"\n"));
        res.map_err(|e| self.map_err(e))
    }

    /// Writes one line of raw bytes (a newline is added).
    pub fn write_line(&mut self, line: &[u8]) -> Result<()> {
        let w = self.writer();
        let res = w.write_all(line).and_then(|_| w.write_all(b"\n"));
        res.map_err(|e| self.map_err(e))
    }

    /// Writes bytes as they are (whole lines gathered by the caller).
    pub fn write_bytes(&mut self, bytes: &[u8]) -> Result<()> {
        let res = self.writer().write_all(bytes);
        res.map_err(|e| self.map_err(e))
    }

    /// Flushes stdout, or completes and renames the file into place.
    pub fn finish(self) -> Result<()> {
        match self.dest {
            Destination::Stdout(mut w) => w.flush().map_err(Error::stdout),
            Destination::File { path, writer } => persist(&path, writer),
            Destination::GzFile { path, writer } => {
                let inner = writer.finish().map_err(|e| Error::io(&path, e))?;
                persist(&path, inner)
            }
        }
    }
}

/// Flushes `writer`; a temporary file is synced and renamed into place, a
/// file written in place is left as it is. On error a temporary file is removed.
fn persist(path: &Path, writer: BufWriter<Target>) -> Result<()> {
    let target = writer
        .into_inner()
        .map_err(|e| Error::io(path, e.into_error()))?;
    match target {
        Target::Temp(tmp) => {
            tmp.as_file().sync_all().map_err(|e| Error::io(path, e))?;
            tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
        }
        Target::Direct(_) => {}
    }
    Ok(())
}

/// Writes `bytes` to `path` atomically (temporary file + rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut tmp = temp_beside(path)?;
    tmp.write_all(bytes).map_err(|e| Error::io(path, e))?;
    tmp.as_file().sync_all().map_err(|e| Error::io(path, e))?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}

/// Removes a file if it exists (used for stale `.next` files and the like).
pub fn remove_if_exists(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An output to NAME in a new directory, with one line written.
    fn one_line(name: &str) -> (tempfile::TempDir, PathBuf, Output) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        let mut out = Output::open(Some(&path), false).unwrap();
        out.write_line(b"x").unwrap();
        (dir, path, out)
    }

    #[test]
    fn file_appears_only_when_finished() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.ndjson");
        let mut out = Output::open(Some(&path), false).unwrap();
        out.write_json(&serde_json::json!({"a": 1})).unwrap();
        assert!(!path.exists());
        out.finish().unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "{\"a\":1}\n");
    }

    #[test]
    fn dropped_output_leaves_nothing() {
        let (dir, _, out) = one_line("out.ndjson");
        drop(out);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn fifo_is_written_in_place_not_replaced() {
        use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pipe");
        let st = std::process::Command::new("mkfifo")
            .arg(&path)
            .status()
            .unwrap();
        assert!(st.success());
        // Non-blocking: opening waits for no writer, and the data waits in the pipe.
        let mut reader = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&path)
            .unwrap();
        let mut out = Output::open(Some(&path), false).unwrap();
        out.write_line(b"x").unwrap();
        out.finish().unwrap();
        let mut got = Vec::new();
        io::Read::read_to_end(&mut reader, &mut got).unwrap();
        assert_eq!(got, b"x\n");
        assert!(fs::metadata(&path).unwrap().file_type().is_fifo());
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary file left"
        );
    }

    #[test]
    fn gz_name_means_gzip() {
        let (_dir, path, out) = one_line("out.ndjson.gz");
        out.finish().unwrap();
        assert_eq!(&fs::read(&path).unwrap()[..2], &[0x1f, 0x8b]);
    }
}
