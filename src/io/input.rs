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
    /// What a regular input is read into (`Direct`'s `pos..filled` not
    /// returned yet); lent to a [`Text`] with the line it holds.
    read: Vec<u8>,
    lent: bool,
}

/// Where the current input's lines come from.
enum Source {
    Direct(Direct),
    Thread(StreamReader),
}

/// An input read in this thread, into [`Lines`]'s `read`.
struct Direct {
    reader: Box<dyn BufRead>,
    /// Where the next line starts.
    pos: usize,
    /// The end of the bytes read.
    filled: usize,
    eof: bool,
}

/// `read` starts this large and keeps this much room for each read (the
/// input's own buffer size: larger reads bypass that buffer).
const READ_BYTES: usize = 256 * 1024;
const FIRST_BYTES: usize = 4 * READ_BYTES;

/// A line's text, read by [`Lines::next_text`]: where it arrived whole in
/// the buffer it was read into, that buffer, lent (no copy of the line).
#[derive(Default)]
pub struct Text {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// `buf` is the input's read buffer, to be given back.
    lent: bool,
}

impl Text {
    /// Text of its own.
    pub fn owned(buf: Vec<u8>) -> Self {
        Text {
            start: 0,
            end: buf.len(),
            buf,
            lent: false,
        }
    }
}

impl std::ops::Deref for Text {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }
}

/// A line [`Lines::step`] found.
enum Step {
    /// In `read[start..end]`, or (`None`) in the caller's buffer.
    Line(Location, Option<(usize, usize)>),
    TooLong(Location),
    End,
    Idle,
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
            read: Vec::new(),
            lent: false,
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

    /// Like [`Lines::next_line`], into `text`: a line that arrived whole
    /// is not copied (`text` holds the read buffer until the next call).
    pub fn next_text(&mut self, text: &mut Text) -> Result<Option<Next>> {
        self.reclaim(text);
        let step = self.step(&mut text.buf, None)?;
        Ok(match step {
            Step::Line(at, window) => {
                match window {
                    Some((start, end)) => {
                        std::mem::swap(&mut self.read, &mut text.buf);
                        (text.start, text.end, text.lent) = (start, end, true);
                        self.lent = true;
                    }
                    None => (text.start, text.end) = (0, text.buf.len()),
                }
                Some(Next::Line(at))
            }
            Step::TooLong(at) => {
                (text.start, text.end) = (0, 0);
                Some(Next::TooLong(at))
            }
            Step::End => {
                (text.start, text.end) = (0, 0);
                None
            }
            Step::Idle => unreachable!("no wait, no idle"),
        })
    }

    /// Takes back the read buffer `text` holds, if it does.
    pub fn reclaim(&mut self, text: &mut Text) {
        if text.lent {
            std::mem::swap(&mut self.read, &mut text.buf);
            self.lent = false;
            *text = Text {
                buf: std::mem::take(&mut text.buf),
                ..Text::default()
            };
        }
        text.buf.clear();
    }

    fn poll(&mut self, buf: &mut Vec<u8>, wait: Option<Duration>) -> Result<Polled> {
        Ok(match self.step(buf, wait)? {
            Step::Line(at, window) => {
                if let Some((start, end)) = window {
                    buf.clear();
                    buf.extend_from_slice(&self.read[start..end]);
                }
                Polled::Line(Next::Line(at))
            }
            Step::TooLong(at) => {
                buf.clear();
                Polled::Line(Next::TooLong(at))
            }
            Step::End => Polled::End,
            Step::Idle => Polled::Idle,
        })
    }

    /// The next non-blank line: in `read` (a regular input), or in `buf`
    /// (a stream read on a thread).
    fn step(&mut self, buf: &mut Vec<u8>, wait: Option<Duration>) -> Result<Step> {
        assert!(
            !self.lent,
            "the read buffer is lent: Lines::reclaim it first"
        );
        loop {
            if self.current.is_none() {
                match self.pending.next() {
                    None => return Ok(Step::End),
                    Some(arg) if self.files_only && is_stream(&arg) => continue,
                    Some(arg) => {
                        let source = if self.streams_on_thread && is_stream(&arg) {
                            Source::Thread(StreamReader::spawn(&arg, self.max_line)?)
                        } else {
                            Source::Direct(Direct {
                                reader: open(&arg)?,
                                pos: 0,
                                filled: 0,
                                eof: false,
                            })
                        };
                        self.current = Some((display_name(&arg), source, 0));
                    }
                }
            }
            let files_only = self.files_only;
            let (name, source, line_no) = self.current.as_mut().expect("an input is open");
            buf.clear();
            let (mut window, too_long) = match source {
                Source::Direct(d) => match d
                    .next_line(&mut self.read, self.max_line)
                    .map_err(|e| stream_error(name, e))?
                {
                    None => {
                        self.current = None;
                        continue;
                    }
                    Some((start, end, too_long)) => (Some((start, end)), too_long),
                },
                Source::Thread(stream) => {
                    // After a stop only what the thread has read already; else wait.
                    let wait = if files_only { Wait::No } else { Wait::Up(wait) };
                    match stream.next_line(buf, wait) {
                        None => return Ok(Step::Idle),
                        Some(got) => match got? {
                            Some(too_long) => (None, too_long),
                            None => {
                                self.current = None;
                                continue;
                            }
                        },
                    }
                }
            };
            *line_no += 1;
            let at = Location {
                file: name.clone(),
                line: *line_no,
            };
            if too_long {
                return Ok(Step::TooLong(at));
            }
            let line = match window {
                Some((start, mut end)) => {
                    while end > start && matches!(self.read[end - 1], b'\n' | b'\r') {
                        end -= 1;
                    }
                    window = Some((start, end));
                    &self.read[start..end]
                }
                None => {
                    while matches!(buf.last(), Some(b'\n' | b'\r')) {
                        buf.pop();
                    }
                    &buf[..]
                }
            };
            if line.iter().all(|b| b.is_ascii_whitespace()) {
                continue;
            }
            return Ok(Step::Line(at, window));
        }
    }
}

impl Direct {
    /// The next line in `read`: where it is (without its `\n`) and whether it
    /// was too long to keep (then it is empty), or `None` at the end. A line
    /// longer than `max` is read to its end without keeping its bytes.
    fn next_line(
        &mut self,
        read: &mut Vec<u8>,
        max: usize,
    ) -> io::Result<Option<(usize, usize, bool)>> {
        // How far the line has been searched for its end; whether it has
        // any bytes, and is too long.
        let mut searched = self.pos;
        let (mut any, mut too_long) = (false, false);
        loop {
            if let Some(n) = memchr::memchr(b'\n', &read[searched..self.filled]) {
                let (start, end) = (self.pos, searched + n);
                self.pos = end + 1;
                return Ok(Some(if too_long || end - start > max {
                    (start, start, true)
                } else {
                    (start, end, false)
                }));
            }
            any |= self.filled > self.pos;
            if self.filled - self.pos > max {
                // Too long: its bytes are dropped as they come.
                too_long = true;
                self.pos = self.filled;
            }
            if self.eof {
                let start = self.pos;
                self.pos = self.filled;
                return Ok(any.then_some((
                    start,
                    if too_long { start } else { self.filled },
                    too_long,
                )));
            }
            // The line so far to the front, and room for a read at least the
            // size of the input's buffer (so that it reads into `read` directly).
            read.copy_within(self.pos..self.filled, 0);
            self.filled -= self.pos;
            self.pos = 0;
            searched = self.filled;
            // Never more than a line that may be kept and one read: the bytes
            // of a longer one are dropped anyway.
            if read.len() < self.filled + READ_BYTES {
                let len = (self.filled + READ_BYTES)
                    .max(2 * read.len())
                    .max(FIRST_BYTES)
                    .min(max.saturating_add(READ_BYTES + 1))
                    .max(self.filled + READ_BYTES);
                read.resize(len, 0);
            }
            let n = loop {
                match self.reader.read(&mut read[self.filled..]) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                }
            };
            self.filled += n;
            self.eof = n == 0;
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
    fn lent_text_gives_what_a_copy_gives() {
        // Lines across reads, longer than the first buffer, too long to keep
        // (between reads too), and blank; then a gzip of the same.
        let mut plain = Vec::new();
        for (i, len) in [10, 300_000, 5, FIRST_BYTES + 7, 0, 2_500_000, 3, 1_000_000]
            .iter()
            .enumerate()
        {
            plain.extend(std::iter::repeat_n(b'a' + i as u8, *len));
            plain.extend_from_slice(if i % 2 == 0 { b"\r\n" } else { b"\n" });
        }
        plain.extend_from_slice(b"  \nlast");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&plain).unwrap();
        let gz = gz.finish().unwrap();
        for content in [&plain[..], &gz[..]] {
            for max in [4, 1_000_000, 2_000_000, usize::MAX] {
                let dir = tempfile::tempdir().unwrap();
                let path = dir.path().join("in.ndjson");
                std::fs::write(&path, content).unwrap();
                let path = path.to_string_lossy().into_owned();
                let mut lines = Lines::new(&[path.clone(), path], max);
                let mut text = Text::default();
                let mut got = Vec::new();
                while let Some(next) = lines.next_text(&mut text).unwrap() {
                    got.push(match next {
                        Next::Line(at) => {
                            (at.line, Some(String::from_utf8(text.to_vec()).unwrap()))
                        }
                        Next::TooLong(at) => (at.line, None),
                    });
                }
                // The thread's reader (of its own) as the reference.
                let mut want = piped_lines(content, max, 1 << 16);
                want.extend(want.clone());
                assert_eq!(got, want, "max {max}");
                // A line too long to keep never grows the buffer past the
                // longest kept line and one read.
                let held = lines.read.len().max(text.buf.len());
                assert!(
                    held <= max.saturating_add(READ_BYTES + 1),
                    "max {max}: {held}"
                );
            }
        }
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
