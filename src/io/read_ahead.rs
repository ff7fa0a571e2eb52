//! A stream (stdin, a pipe) read on a thread of its own: the thread reads
//! lines ahead, within a budget, and hands them over in chunks, so that a
//! reader waiting on a silent producer still notices a signal
//! ([`StreamReader`], used by [`super::input::Lines`]).

use std::io::{self, BufRead, BufReader, Read};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use flate2::read::MultiGzDecoder;

use crate::error::{Error, Result};
use crate::io::open::{display_name, open_raw, stream_error};

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
pub(super) enum Wait {
    /// Not at all: only what the thread has read already.
    No,
    /// Up to this long (`None`: as long as it takes).
    Up(Option<Duration>),
}

/// A stream read on a thread of its own. The thread also opens the stream (a
/// FIFO's open waits for a writer; telling gzip waits for the first bytes).
/// Dropped, it lets the thread end at its next chunk, or with the process if
/// the stream never sends one.
pub(super) struct StreamReader {
    rx: Receiver<Msg>,
    ahead: Arc<Ahead>,
    /// The chunk being read: it, the next line's index and start.
    chunk: Option<(Chunk, usize, usize)>,
    ended: bool,
}

impl StreamReader {
    pub(super) fn spawn(arg: &str, max_line: usize) -> Result<Self> {
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
    pub(super) fn next_line(
        &mut self,
        buf: &mut Vec<u8>,
        wait: Wait,
    ) -> Option<Result<Option<bool>>> {
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
/// bytes, as [`super::open::open`] does) and hands its lines over.
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

/// Splits what `reader` gives into lines (as `input`'s line reader does) and
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
        let (take, done) = match memchr::memchr(b'\n', available) {
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

#[cfg(test)]
impl StreamReader {
    /// The bytes read ahead and not yet taken, and the most there may be.
    pub(super) fn ahead_and_budget(&self) -> (usize, usize) {
        (self.ahead.bytes.load(Ordering::SeqCst), READ_AHEAD_BYTES)
    }
}
