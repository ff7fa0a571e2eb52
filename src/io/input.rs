//! NDJSON input: FILE arguments read in order (none or `-` = stdin), gzip
//! recognised by its magic bytes, blank lines skipped, every line located as
//! `FILE:LINE`, lines longer than `--max-line` reported without buffering them.
//! A stream (stdin, a pipe) can be read on a thread of its own, so that a
//! reader waiting on a silent producer still notices a signal.

use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

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

/// Whether an input argument is a stream (stdin, a pipe, a device) rather
/// than a regular file: it may wait without end, and cannot be read again.
/// Stdin redirected from a regular file is a file.
fn is_stream(arg: &str) -> bool {
    if arg == "-" {
        use std::os::fd::AsFd;
        let stdin_is_file = io::stdin()
            .as_fd()
            .try_clone_to_owned()
            .and_then(|fd| File::from(fd).metadata())
            .is_ok_and(|m| m.is_file());
        return !stdin_is_file;
    }
    std::fs::metadata(arg).is_ok_and(|m| !m.is_file())
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
    let (gzip, reader) = open_raw(arg)?;
    if gzip {
        Ok(Box::new(BufReader::with_capacity(
            256 * 1024,
            MultiGzDecoder::new(reader),
        )))
    } else {
        Ok(Box::new(reader))
    }
}

/// Opens one input (`-` = stdin) and tells whether it is gzip: its first two
/// bytes (however the producer wrote them), still to be read.
fn open_raw(arg: &str) -> Result<(bool, BufReader<Box<dyn Read>>)> {
    let mut raw: Box<dyn Read> = if arg == "-" {
        Box::new(io::stdin())
    } else {
        Box::new(File::open(arg).map_err(|e| Error::io(arg, e))?)
    };
    let mut head = [0u8; 2];
    let mut got = 0;
    while got < head.len() {
        match raw.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(read_error(arg, e)),
        }
    }
    let gzip = head == [0x1f, 0x8b];
    let raw: Box<dyn Read> = Box::new(io::Cursor::new(head[..got].to_vec()).chain(raw));
    Ok((gzip, BufReader::with_capacity(256 * 1024, raw)))
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

fn stream_error(name: &str, e: io::Error) -> Error {
    Error::Stream {
        what: "input",
        source: io::Error::new(e.kind(), format!("{name}: {e}")),
    }
}

/// How far a stream's thread reads ahead: this many bytes of lines (or one
/// line, however long). Once there, it waits until the reader has taken half
/// of them: one wake-up per 2 MiB, not one per line.
const READ_AHEAD_BYTES: usize = 4 << 20;
/// The thread hands its lines over in chunks of up to this many bytes, and
/// sooner whenever its next read could wait (so no line waits with it).
const CHUNK_BYTES: usize = 1 << 20;

/// Lines a stream's thread has read: their bytes (line endings included),
/// one after another, and where each ends and whether it was too long to keep
/// (then it has no bytes).
#[derive(Default)]
struct Chunk {
    data: Vec<u8>,
    lines: Vec<(usize, bool)>,
}

/// What a stream's thread sends.
enum Msg {
    Lines(Chunk),
    End,
    Failed(Error),
}

/// The bytes a stream's thread has read and the reader not yet taken.
#[derive(Default)]
struct Ahead {
    bytes: AtomicUsize,
    /// The thread waits for room (the reader then wakes it).
    waiting: AtomicBool,
    lock: Mutex<()>,
    room: Condvar,
}

impl Ahead {
    /// The thread waits while the chunks ahead fill the budget, and then until
    /// half of it is free.
    fn wait_for_room(&self, len: usize) {
        let full = |ahead: usize| ahead > 0 && ahead + len > READ_AHEAD_BYTES;
        if !full(self.bytes.load(Ordering::SeqCst)) {
            return;
        }
        let mut guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        self.waiting.store(true, Ordering::SeqCst);
        let wait = |ahead: usize| full(ahead) || ahead > READ_AHEAD_BYTES / 2;
        while wait(self.bytes.load(Ordering::SeqCst)) {
            guard = self
                .room
                .wait_timeout(guard, Duration::from_millis(100))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        self.waiting.store(false, Ordering::SeqCst);
    }

    /// The reader took `len` bytes: wakes a waiting thread once half the
    /// budget is free again.
    fn taken(&self, len: usize) {
        let after = self.bytes.fetch_sub(len, Ordering::SeqCst) - len;
        if self.waiting.load(Ordering::SeqCst) && after <= READ_AHEAD_BYTES / 2 {
            let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
            self.room.notify_one();
        }
    }
}

/// How long the reader waits for a stream's next line.
enum Wait {
    /// Not at all: only what the thread has read already.
    No,
    /// Up to this long (`None`: as long as it takes).
    Up(Option<Duration>),
}

/// A stream read on a thread of its own. The thread also opens the stream (a
/// FIFO's open waits for a writer; telling gzip waits for the first bytes).
/// Dropped, it lets the thread end at its next chunk, or with the process if
/// the stream never sends one.
struct StreamReader {
    rx: Receiver<Msg>,
    ahead: Arc<Ahead>,
    /// The chunk being read: it, the next line's index and start.
    chunk: Option<(Chunk, usize, usize)>,
    ended: bool,
}

impl StreamReader {
    fn spawn(arg: &str, max_line: usize) -> Result<Self> {
        let (tx, rx) = mpsc::channel();
        let ahead = Arc::new(Ahead::default());
        let (arg_owned, shared) = (arg.to_string(), Arc::clone(&ahead));
        std::thread::Builder::new()
            .name("input".into())
            .spawn(move || read_stream(&arg_owned, max_line, &tx, &shared))
            .map_err(|e| Error::Other(format!("cannot start the input thread: {e}")))?;
        Ok(StreamReader {
            rx,
            ahead,
            chunk: None,
            ended: false,
        })
    }

    /// The next line into `buf` (with its ending): `Some(Ok(Some(too_long)))`;
    /// `Some(Ok(None))` at the end of the stream; `None` if the wait ran out.
    fn next_line(&mut self, buf: &mut Vec<u8>, wait: Wait) -> Option<Result<Option<bool>>> {
        loop {
            if let Some((chunk, next, start)) = &mut self.chunk {
                if let Some(&(end, too_long)) = chunk.lines.get(*next) {
                    buf.clear();
                    buf.extend_from_slice(&chunk.data[*start..end]);
                    (*next, *start) = (*next + 1, end);
                    return Some(Ok(Some(too_long)));
                }
                self.ahead.taken(chunk.data.len());
                self.chunk = None;
            }
            if self.ended {
                return Some(Ok(None));
            }
            let msg = match wait {
                Wait::No => self.rx.try_recv().unwrap_or(Msg::End),
                Wait::Up(None) => self.rx.recv().unwrap_or(Msg::End),
                Wait::Up(Some(w)) => match self.rx.recv_timeout(w) {
                    Ok(msg) => msg,
                    Err(RecvTimeoutError::Timeout) => return None,
                    Err(RecvTimeoutError::Disconnected) => Msg::End,
                },
            };
            match msg {
                Msg::Lines(chunk) => self.chunk = Some((chunk, 0, 0)),
                Msg::End => self.ended = true,
                Msg::Failed(e) => {
                    self.ended = true;
                    return Some(Err(e));
                }
            }
        }
    }
}

/// The body of a stream's thread: opens `arg` (telling gzip by its magic
/// bytes, as [`open`] does) and hands its lines over.
fn read_stream(arg: &str, max_line: usize, tx: &Sender<Msg>, ahead: &Ahead) {
    let (gzip, reader) = match open_raw(arg) {
        Ok(opened) => opened,
        Err(e) => {
            let _ = tx.send(Msg::Failed(e));
            return;
        }
    };
    let name = display_name(arg);
    let hand_over = |chunk: Chunk| {
        let len = chunk.data.len();
        ahead.wait_for_room(len);
        ahead.bytes.fetch_add(len, Ordering::SeqCst);
        tx.send(Msg::Lines(chunk)).is_ok()
    };
    let end = if gzip {
        let decoded = BufReader::with_capacity(256 * 1024, MultiGzDecoder::new(reader));
        pump(decoded, max_line, hand_over)
    } else {
        pump(reader, max_line, hand_over)
    };
    let _ = match end {
        Ok(true) => tx.send(Msg::End),
        Ok(false) => Ok(()), // the reader is gone
        Err(e) => tx.send(Msg::Failed(stream_error(&name, e))),
    };
}

/// Splits what `reader` gives into lines (as [`read_line_limited`] does) and
/// hands them over in chunks. Ok(false) if `hand_over` found no one to take them.
fn pump<R: Read>(
    mut reader: BufReader<R>,
    max_line: usize,
    mut hand_over: impl FnMut(Chunk) -> bool,
) -> io::Result<bool> {
    let mut chunk = Chunk::default();
    // Where the line being read starts in `chunk.data`; whether it is too long.
    let (mut start, mut too_long) = (0, false);
    // The complete lines of `chunk`, handed over; the partial one stays.
    let mut send = |chunk: &mut Chunk, start: &mut usize| {
        let rest = chunk.data.split_off(*start);
        *start = 0;
        hand_over(std::mem::replace(
            chunk,
            Chunk {
                data: rest,
                lines: Vec::new(),
            },
        ))
    };
    loop {
        // The next read may wait for the producer: no complete line waits with it.
        if (reader.buffer().is_empty() || chunk.data.len() >= CHUNK_BYTES)
            && !chunk.lines.is_empty()
            && !send(&mut chunk, &mut start)
        {
            return Ok(false);
        }
        let available = match reader.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            // The end: a last line without its line ending is a line too.
            if chunk.data.len() > start || too_long {
                chunk.lines.push((chunk.data.len(), too_long));
                start = chunk.data.len();
            }
            return Ok(chunk.lines.is_empty() || send(&mut chunk, &mut start));
        }
        let (take, done) = match memchr(available) {
            Some(i) => (i + 1, true),
            None => (available.len(), false),
        };
        if !too_long {
            let content = if done { take - 1 } else { take };
            if chunk.data.len() - start + content > max_line {
                too_long = true;
                chunk.data.truncate(start);
            } else {
                chunk.data.extend_from_slice(&available[..take]);
            }
        }
        reader.consume(take);
        if done {
            chunk.lines.push((chunk.data.len(), too_long));
            (start, too_long) = (chunk.data.len(), false);
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
            assert!(s.ahead.bytes.load(Ordering::SeqCst) <= READ_AHEAD_BYTES);
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
