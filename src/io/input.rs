//! NDJSON input: FILE arguments read in order (none or `-` = stdin), gzip
//! recognised by its magic bytes, blank lines skipped, every line located as
//! `FILE:LINE`, lines longer than `--max-line` reported without buffering them.
//! A stream (stdin, a pipe) can be read on a thread of its own, so that a
//! reader waiting on a silent producer still notices a signal.

use std::fmt;
use std::io::{self, BufRead};
use std::sync::Arc;
use std::time::Duration;

use crate::error::Result;
use crate::io::open::{display_name, is_stream, open, stream_error};
use crate::io::read_ahead::{StreamReader, Wait};

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

/// What [`Lines::poll_line`] found.
pub enum Polled {
    Line(Next),
    /// The end of the last input.
    End,
    /// A stream sent nothing within the wait.
    Idle,
}

/// Reads the lines of a list of inputs, one after another.
pub struct Lines {
    pending: std::vec::IntoIter<String>,
    current: Option<(Arc<str>, Source, u64)>,
    max_line: usize,
    files_only: bool,
    streams_on_thread: bool,
}

/// Where the current input's lines come from.
enum Source {
    Direct(Box<dyn BufRead>),
    Thread(StreamReader),
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
            streams_on_thread: false,
        }
    }

    /// Reads streams (stdin, pipes) on a thread of their own, a few MiB ahead
    /// at most, so that [`Lines::poll_line`] can give up waiting on them.
    pub fn with_streams_on_thread(mut self) -> Self {
        self.streams_on_thread = true;
        self
    }

    /// From now on, read only regular files: stdin and other streams end like an
    /// empty input (what a stream's thread has already read still comes).
    /// For reading what is left of the files once a run has stopped.
    pub fn stop_at_streams(&mut self) {
        self.files_only = true;
        if let Some((name, Source::Direct(_), _)) = &self.current {
            if &**name == "stdin" {
                self.current = None;
            }
        }
    }

    /// From now on, only the lines a stream's thread has already read: no other
    /// input is read on.
    pub fn only_read_ahead(&mut self) {
        self.files_only = true;
        self.pending = Vec::new().into_iter();
        if let Some((_, Source::Direct(_), _)) = &self.current {
            self.current = None;
        }
    }

    /// Whether the current input is a stream read on a thread (the line last
    /// returned was read ahead of the caller).
    pub fn on_thread(&self) -> bool {
        matches!(self.current, Some((_, Source::Thread(_), _)))
    }

    /// Reads the next non-blank line into `buf` (without its line ending).
    /// Returns `None` at the end of the last input.
    pub fn next_line(&mut self, buf: &mut Vec<u8>) -> Result<Option<Next>> {
        match self.poll(buf, None)? {
            Polled::Line(next) => Ok(Some(next)),
            Polled::End => Ok(None),
            Polled::Idle => unreachable!("no wait, no idle"),
        }
    }

    /// Like [`Lines::next_line`], but a stream read on a thread that sends
    /// nothing for `wait` gives `Idle`.
    pub fn poll_line(&mut self, buf: &mut Vec<u8>, wait: Duration) -> Result<Polled> {
        self.poll(buf, Some(wait))
    }

    fn poll(&mut self, buf: &mut Vec<u8>, wait: Option<Duration>) -> Result<Polled> {
        loop {
            if self.current.is_none() {
                match self.pending.next() {
                    None => return Ok(Polled::End),
                    Some(arg) if self.files_only && is_stream(&arg) => continue,
                    Some(arg) => {
                        let source = if self.streams_on_thread && is_stream(&arg) {
                            Source::Thread(StreamReader::spawn(&arg, self.max_line)?)
                        } else {
                            Source::Direct(open(&arg)?)
                        };
                        self.current = Some((display_name(&arg), source, 0));
                    }
                }
            }
            let files_only = self.files_only;
            let (name, source, line_no) = self.current.as_mut().expect("an input is open");
            buf.clear();
            let (read, too_long) = match source {
                Source::Direct(reader) => read_line_limited(reader.as_mut(), buf, self.max_line)
                    .map_err(|e| stream_error(name, e))?,
                Source::Thread(stream) => {
                    // After a stop only what the thread has read already; else wait.
                    let wait = if files_only { Wait::No } else { Wait::Up(wait) };
                    match stream.next_line(buf, wait) {
                        None => return Ok(Polled::Idle),
                        Some(got) => match got? {
                            Some(too_long) => (1, too_long),
                            None => (0, false),
                        },
                    }
                }
            };
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
                return Ok(Polled::Line(Next::TooLong(at)));
            }
            while matches!(buf.last(), Some(b'\n' | b'\r')) {
                buf.pop();
            }
            if buf.iter().all(|b| b.is_ascii_whitespace()) {
                continue;
            }
            return Ok(Polled::Line(Next::Line(at)));
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
        let (take, done) = match memchr::memchr(b'\n', chunk) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::time::Duration;

    /// Every line's number and text (`None`: too long).
    fn read_all(lines: &mut Lines) -> Vec<(u64, Option<String>)> {
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

    fn lines_of(content: &[u8], max: usize) -> Vec<(u64, Option<String>)> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.ndjson");
        std::fs::write(&path, content).unwrap();
        let mut lines = Lines::new(&[path.to_string_lossy().into_owned()], max);
        read_all(&mut lines)
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

    fn polled(lines: &mut Lines, buf: &mut Vec<u8>, wait: Duration) -> String {
        match lines.poll_line(buf, wait).unwrap() {
            Polled::Line(Next::Line(at)) => format!("{}={}", at.line, String::from_utf8_lossy(buf)),
            Polled::Line(Next::TooLong(at)) => format!("{}=too long", at.line),
            Polled::End => "end".into(),
            Polled::Idle => "idle".into(),
        }
    }

    #[test]
    fn a_silent_stream_is_idle_and_its_lines_come_in_order() {
        use std::os::fd::AsRawFd;
        let (rx, mut tx) = std::io::pipe().unwrap();
        let path = format!("/proc/self/fd/{}", rx.as_raw_fd());
        let dir = tempfile::tempdir().unwrap();
        let after = dir.path().join("after.ndjson");
        std::fs::write(&after, b"f1\n").unwrap();
        let args = [path.clone(), after.to_string_lossy().into_owned()];
        let mut lines = Lines::new(&args, 10).with_streams_on_thread();
        let mut buf = Vec::new();
        // A line comes at once; "idle" is 50 ms of nothing.
        let (line, idle) = (Duration::from_secs(10), Duration::from_millis(50));
        let b = &mut buf;
        assert_eq!(polled(&mut lines, b, idle), "idle", "nothing sent yet");
        tx.write_all(b"a\n\nbb\n0123456789abc\nc").unwrap();
        assert_eq!(polled(&mut lines, b, line), "1=a");
        assert_eq!(polled(&mut lines, b, line), "3=bb");
        assert_eq!(polled(&mut lines, b, line), "4=too long");
        assert_eq!(polled(&mut lines, b, idle), "idle", "c has no line end yet");
        tx.write_all(b"c\nd\n").unwrap();
        assert_eq!(polled(&mut lines, b, line), "5=cc", "the line end came");
        // The thread read "d" with "cc" (one read): it is on its way.
        std::thread::sleep(Duration::from_millis(100));
        // A stop: what the thread has read still comes, then the files; the
        // stream is not waited on again.
        lines.stop_at_streams();
        assert_eq!(polled(&mut lines, b, line), "6=d");
        assert_eq!(polled(&mut lines, b, line), "1=f1");
        assert_eq!(polled(&mut lines, b, line), "end");
        drop(tx);
    }

    #[test]
    fn a_stream_ends_and_reads_ahead_within_its_budget() {
        use std::os::fd::AsRawFd;
        let (rx, tx) = std::io::pipe().unwrap();
        let path = format!("/proc/self/fd/{}", rx.as_raw_fd());
        // 12 MiB of 1 MiB lines: the thread stays within READ_AHEAD_BYTES.
        let writer = std::thread::spawn(move || {
            let mut tx = tx;
            let line = [b'x'; 1 << 20];
            for _ in 0..12 {
                tx.write_all(&line).unwrap();
                tx.write_all(b"\n").unwrap();
            }
        });
        let mut lines = Lines::new(&[path], 2 << 20).with_streams_on_thread();
        let mut buf = Vec::new();
        let mut n = 0;
        loop {
            match lines.next_line(&mut buf).unwrap() {
                Some(Next::Line(_)) => n += 1,
                Some(Next::TooLong(_)) => panic!("not too long"),
                None => break,
            }
            std::thread::sleep(Duration::from_millis(5));
            let Some((_, Source::Thread(s), _)) = &lines.current else {
                continue;
            };
            let (ahead, budget) = s.ahead_and_budget();
            assert!(ahead <= budget, "{ahead} bytes read ahead");
        }
        writer.join().unwrap();
        assert_eq!(n, 12);
    }

    /// Every line of `content` as `Lines` gives it (location, text or too long),
    /// read from a pipe on a thread, the writer sending `piece` bytes at a time.
    fn piped_lines(content: &[u8], max: usize, piece: usize) -> Vec<(u64, Option<String>)> {
        use std::os::fd::AsRawFd;
        let (rx, tx) = std::io::pipe().unwrap();
        let path = format!("/proc/self/fd/{}", rx.as_raw_fd());
        let content = content.to_vec();
        let writer = std::thread::spawn(move || {
            let mut tx = tx;
            for part in content.chunks(piece) {
                tx.write_all(part).unwrap();
                std::thread::yield_now();
            }
        });
        let mut lines = Lines::new(&[path], max).with_streams_on_thread();
        assert!(is_stream(&format!("/proc/self/fd/{}", rx.as_raw_fd())));
        let out = read_all(&mut lines);
        writer.join().unwrap();
        drop(rx);
        out
    }

    #[test]
    fn a_pipe_read_on_a_thread_gives_what_a_file_gives() {
        let long = "y".repeat(300);
        let plain = format!("a\n\n  \r\nb\r\n{long}\nok\n{long}\nlast");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(plain.as_bytes()).unwrap();
        let gz = gz.finish().unwrap();
        for content in [plain.as_bytes(), &gz[..], b"", b"\n\n", b"one"] {
            let want = lines_of(content, 100);
            for piece in [1, 7, 4096] {
                assert_eq!(
                    piped_lines(content, 100, piece),
                    want,
                    "{piece}-byte writes"
                );
            }
        }
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
