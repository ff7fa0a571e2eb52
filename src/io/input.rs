//! NDJSON input: FILE arguments read in order (none or `-` = stdin), gzip
//! recognised by its magic bytes, blank lines skipped, every line located as
//! `FILE:LINE`, lines longer than `--max-line` reported without buffering them.

use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::PathBuf;
use std::sync::Arc;

use flate2::read::MultiGzDecoder;

use crate::error::{Error, Result};

/// The default longest accepted line (docs/design.md#memory).
pub const DEFAULT_MAX_LINE: usize = 256 * 1024 * 1024;

/// Where a line came from; displays as `FILE:LINE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: Arc<str>,
    pub line: u64,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// One line read, or one line too long to hold.
pub enum Next {
    Line(Location),
    TooLong(Location),
}

/// Reads the lines of a list of inputs, one after another.
pub struct Lines {
    pending: std::vec::IntoIter<String>,
    current: Option<(Arc<str>, Box<dyn BufRead>, u64)>,
    max_line: usize,
    files_only: bool,
}

/// The display name of an input argument.
fn display_name(arg: &str) -> Arc<str> {
    if arg == "-" {
        Arc::from("stdin")
    } else {
        Arc::from(arg)
    }
}

/// Opens one input (`-` = stdin), decompressing gzip when the magic bytes say so.
pub fn open(arg: &str) -> Result<Box<dyn BufRead>> {
    let raw: Box<dyn Read> = if arg == "-" {
        Box::new(io::stdin())
    } else {
        Box::new(File::open(arg).map_err(|e| Error::io(arg, e))?)
    };
    let mut reader = BufReader::with_capacity(256 * 1024, raw);
    let head = reader.fill_buf().map_err(|e| read_error(arg, e))?;
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(BufReader::with_capacity(
            256 * 1024,
            MultiGzDecoder::new(reader),
        )))
    } else {
        Ok(Box::new(reader))
    }
}

fn read_error(arg: &str, e: io::Error) -> Error {
    if arg == "-" {
        Error::Stream {
            what: "stdin",
            source: e,
        }
    } else {
        Error::io(PathBuf::from(arg), e)
    }
}

impl Lines {
    /// `files` empty means stdin.
    pub fn new(files: &[String], max_line: usize) -> Self {
        let list = if files.is_empty() {
            vec!["-".to_string()]
        } else {
            files.to_vec()
        };
        Lines {
            pending: list.into_iter(),
            current: None,
            max_line,
            files_only: false,
        }
    }

    /// From now on, read only FILE arguments: stdin (`-`) ends like an empty input.
    /// For reading what is left of the files once a run has stopped.
    pub fn stop_at_stdin(&mut self) {
        self.files_only = true;
        if self
            .current
            .as_ref()
            .is_some_and(|(name, _, _)| &**name == "stdin")
        {
            self.current = None;
        }
    }

    /// Reads the next non-blank line into `buf` (without its line ending).
    /// Returns `None` at the end of the last input.
    pub fn next_line(&mut self, buf: &mut Vec<u8>) -> Result<Option<Next>> {
        loop {
            if self.current.is_none() {
                match self.pending.next() {
                    None => return Ok(None),
                    Some(arg) if self.files_only && arg == "-" => continue,
                    Some(arg) => {
                        let reader = open(&arg)?;
                        self.current = Some((display_name(&arg), reader, 0));
                    }
                }
            }
            let (name, reader, line_no) = self.current.as_mut().expect("an input is open");
            buf.clear();
            let (read, too_long) =
                read_line_limited(reader.as_mut(), buf, self.max_line).map_err(|e| {
                    Error::Stream {
                        what: "input",
                        source: io::Error::new(e.kind(), format!("{name}: {e}")),
                    }
                })?;
            if read == 0 {
                self.current = None;
                continue;
            }
            *line_no += 1;
            let at = Location {
                file: name.clone(),
                line: *line_no,
            };
            if too_long {
                buf.clear();
                return Ok(Some(Next::TooLong(at)));
            }
            while matches!(buf.last(), Some(b'\n' | b'\r')) {
                buf.pop();
            }
            if buf.iter().all(|b| b.is_ascii_whitespace()) {
                continue;
            }
            return Ok(Some(Next::Line(at)));
        }
    }
}

/// Reads up to and including the next `\n`. Stops storing bytes once the line
/// exceeds `max` (the rest of the line is consumed and dropped). Returns the
/// number of bytes consumed and whether the line was too long.
fn read_line_limited(
    r: &mut dyn BufRead,
    buf: &mut Vec<u8>,
    max: usize,
) -> io::Result<(usize, bool)> {
    let mut consumed = 0;
    let mut too_long = false;
    loop {
        let chunk = match r.fill_buf() {
            Ok(c) => c,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if chunk.is_empty() {
            return Ok((consumed, too_long));
        }
        let (take, done) = match memchr(chunk) {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        if !too_long {
            let content = if done { take - 1 } else { take };
            if buf.len() + content > max {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(&chunk[..take]);
            }
        }
        r.consume(take);
        consumed += take;
        if done {
            return Ok((consumed, too_long));
        }
    }
}

fn memchr(hay: &[u8]) -> Option<usize> {
    memchr::memchr(b'\n', hay)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn lines_of(content: &[u8], max: usize) -> Vec<(u64, Option<String>)> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.ndjson");
        std::fs::write(&path, content).unwrap();
        let mut lines = Lines::new(&[path.to_string_lossy().into_owned()], max);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        while let Some(next) = lines.next_line(&mut buf).unwrap() {
            match next {
                Next::Line(at) => {
                    out.push((at.line, Some(String::from_utf8(buf.clone()).unwrap())))
                }
                Next::TooLong(at) => out.push((at.line, None)),
            }
        }
        out
    }

    #[test]
    fn skips_blank_lines_and_counts_them() {
        let got = lines_of(b"a\n\n  \r\nb\r\nc", 100);
        assert_eq!(
            got,
            vec![
                (1, Some("a".into())),
                (4, Some("b".into())),
                (5, Some("c".into()))
            ]
        );
    }

    #[test]
    fn reports_long_lines_and_goes_on() {
        let got = lines_of(b"short\n0123456789abc\nok\n", 10);
        assert_eq!(
            got,
            vec![(1, Some("short".into())), (2, None), (3, Some("ok".into()))]
        );
    }

    #[test]
    fn reads_gzip_by_magic_bytes() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"{\"x\":1}\n{\"x\":2}\n").unwrap();
        let got = lines_of(&gz.finish().unwrap(), 100);
        assert_eq!(got.len(), 2);
        assert_eq!(got[1], (2, Some("{\"x\":2}".into())));
    }
}
