//! The buffered reader under the stream: it frames one whole JSON value at a
//! time (with `json::framing`), hands an element on compacted when it has
//! whitespace between tokens, skips what is not wanted, and walks the
//! members of arrays and objects. Memory is the largest element, bounded by
//! `max_element`.

use std::io::{self, Read};

use memchr::memchr2;

use crate::json::framing::{compact_into, is_ws, Framing};
use crate::misp::stream::error::{SResult, StreamError};

/// Bytes asked from the reader at a time.
const READ_CHUNK: usize = 1 << 20;

/// A buffered reader that frames whole JSON values.
pub(super) struct Framer<R> {
    reader: R,
    buf: Vec<u8>,
    pos: usize,
    len: usize,
    eof: bool,
    /// Bytes dropped from the front of `buf` so far (for offsets in messages).
    dropped: u64,
    max_element: usize,
    compact: Vec<u8>,
}

impl<R: Read> Framer<R> {
    pub(super) fn new(reader: R, max_element: usize) -> Self {
        Framer {
            reader,
            buf: vec![0; READ_CHUNK],
            pos: 0,
            len: 0,
            eof: false,
            dropped: 0,
            max_element,
            compact: Vec::new(),
        }
    }

    fn offset(&self) -> u64 {
        self.dropped + self.pos as u64
    }

    pub(super) fn syntax(&self, msg: impl Into<String>) -> StreamError {
        StreamError::Syntax {
            at: self.offset(),
            msg: msg.into(),
        }
    }

    /// Reads more bytes, keeping `buf[pos..len]`. False at the end of input.
    fn fill(&mut self) -> SResult<bool> {
        if self.eof {
            return Ok(false);
        }
        if self.pos > 0 {
            self.buf.copy_within(self.pos..self.len, 0);
            self.dropped += self.pos as u64;
            self.len -= self.pos;
            self.pos = 0;
        }
        if self.buf.len() - self.len < READ_CHUNK / 2 {
            if self.len > self.max_element {
                return Err(StreamError::TooLarge {
                    at: self.offset(),
                    limit: self.max_element,
                });
            }
            let grown = (self.buf.len() * 2).max(self.len + READ_CHUNK);
            self.buf.resize(grown, 0);
        }
        loop {
            match self.reader.read(&mut self.buf[self.len..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(n) => {
                    self.len += n;
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(StreamError::Io(e)),
            }
        }
    }

    /// The next byte that is not whitespace, not consumed; `None` at the end.
    pub(super) fn peek(&mut self) -> SResult<Option<u8>> {
        loop {
            while self.pos < self.len {
                let b = self.buf[self.pos];
                if !is_ws(b) {
                    return Ok(Some(b));
                }
                self.pos += 1;
            }
            if !self.fill()? {
                return Ok(None);
            }
        }
    }

    pub(super) fn cut(&self) -> StreamError {
        StreamError::Cut {
            at: self.dropped + self.len as u64,
        }
    }

    /// Consumes `byte` (after whitespace) or fails.
    fn expect(&mut self, byte: u8, what: &str) -> SResult<()> {
        match self.peek()? {
            Some(b) if b == byte => {
                self.pos += 1;
                Ok(())
            }
            Some(b) => Err(self.syntax(format!("expected {what}, found {:?}", char::from(b)))),
            None => Err(self.cut()),
        }
    }

    /// Frames the value at the read position: returns its end index in `buf`
    /// (it starts at `pos`) and whether whitespace sits between its tokens.
    fn frame(&mut self) -> SResult<(usize, bool)> {
        let first = self.peek()?.ok_or_else(|| self.cut())?;
        let mut scan = match first {
            b'{' | b'[' => Framing::in_container(),
            b'"' => Framing::in_string(),
            _ => return self.frame_scalar(),
        };
        // Objects and arrays are held to the limit here, strings by `fill`.
        let limited = first != b'"';
        let mut rel = 1usize;
        loop {
            if self.pos + rel >= self.len {
                if limited && rel > self.max_element {
                    return Err(StreamError::TooLarge {
                        at: self.offset(),
                        limit: self.max_element,
                    });
                }
                if !self.fill()? {
                    return Err(self.cut());
                }
                continue;
            }
            if let Some(end) = scan.end(&self.buf[self.pos + rel..self.len]) {
                return Ok((self.pos + rel + end, scan.has_ws()));
            }
            rel = self.len - self.pos;
        }
    }

    /// Frames a number or literal at the read position: up to the next delimiter.
    fn frame_scalar(&mut self) -> SResult<(usize, bool)> {
        let mut rel = 1usize;
        loop {
            while self.pos + rel < self.len {
                let b = self.buf[self.pos + rel];
                if is_ws(b) || matches!(b, b',' | b']' | b'}') {
                    return Ok((self.pos + rel, false));
                }
                rel += 1;
            }
            if !self.fill()? {
                return Ok((self.len, false));
            }
        }
    }

    /// Frames the next value and hands it (compacted if needed) to `f`.
    pub(super) fn element(&mut self, f: &mut dyn FnMut(&[u8]) -> crate::Result<()>) -> SResult<()> {
        let (end, has_ws) = self.frame()?;
        let raw = &self.buf[self.pos..end];
        let res = if has_ws {
            compact_into(raw, &mut self.compact);
            f(&self.compact)
        } else {
            f(raw)
        };
        self.pos = end;
        res.map_err(StreamError::Stop)
    }

    /// Skips the next value.
    pub(super) fn skip(&mut self) -> SResult<()> {
        let (end, _) = self.frame()?;
        self.pos = end;
        Ok(())
    }

    /// Reads an object key and its colon.
    fn key(&mut self) -> SResult<String> {
        if self.peek()? != Some(b'"') {
            return Err(self.syntax("expected an object key"));
        }
        let (end, _) = self.frame()?;
        let key: String = serde_json::from_slice(&self.buf[self.pos..end])
            .map_err(|e| self.syntax(format!("bad object key: {e}")))?;
        self.pos = end;
        self.expect(b':', "':'")?;
        Ok(key)
    }

    /// After a value inside a container: true if another follows.
    fn more(&mut self, close: u8) -> SResult<bool> {
        match self.peek()? {
            Some(b',') => {
                self.pos += 1;
                Ok(true)
            }
            Some(b) if b == close => {
                self.pos += 1;
                Ok(false)
            }
            Some(b) => Err(self.syntax(format!(
                "expected ',' or {:?}, found {:?}",
                char::from(close),
                char::from(b)
            ))),
            None => Err(self.cut()),
        }
    }

    /// The elements of the array at the read position.
    pub(super) fn array(&mut self, f: &mut dyn FnMut(&[u8]) -> crate::Result<()>) -> SResult<u64> {
        self.items(b'[', b']', |fr| fr.element(f).map(|()| 1))
    }

    /// The members of the object at the read position: `member` reads the value
    /// of each key and says how many elements it held; returns their sum.
    pub(super) fn object(
        &mut self,
        mut member: impl FnMut(&mut Self, String) -> SResult<u64>,
    ) -> SResult<u64> {
        self.items(b'{', b'}', |fr| {
            let key = fr.key()?;
            member(fr, key)
        })
    }

    /// The items of the array or object that `open` starts at the read position:
    /// `item` reads one and says how many elements it held; returns their sum.
    fn items(
        &mut self,
        open: u8,
        close: u8,
        mut item: impl FnMut(&mut Self) -> SResult<u64>,
    ) -> SResult<u64> {
        let what = if open == b'[' { "'['" } else { "'{'" };
        self.expect(open, what)?;
        let mut n = 0;
        if self.peek()? == Some(close) {
            self.pos += 1;
            return Ok(0);
        }
        loop {
            n += item(self)?;
            if !self.more(close)? {
                return Ok(n);
            }
        }
    }

    /// The first key of the object at the read position, without consuming anything.
    pub(super) fn first_key(&mut self) -> SResult<Option<String>> {
        let mut i = 1; // past '{'
        loop {
            while self.pos + i < self.len && is_ws(self.buf[self.pos + i]) {
                i += 1;
            }
            if self.pos + i < self.len {
                break;
            }
            if !self.fill()? {
                return Err(self.cut());
            }
        }
        if self.buf[self.pos + i] != b'"' {
            return Ok(None);
        }
        // Keys of interest are short and plain: look for the closing quote.
        loop {
            let start = self.pos + i + 1;
            if let Some(k) = memchr2(b'"', b'\\', &self.buf[start..self.len]) {
                return Ok(Some(
                    String::from_utf8_lossy(&self.buf[start..start + k]).into_owned(),
                ));
            }
            if !self.fill()? {
                return Err(self.cut());
            }
        }
    }

    pub(super) fn end(&mut self) -> SResult<()> {
        match self.peek()? {
            None => Ok(()),
            Some(_) => Err(self.syntax("unexpected data after the end of the document")),
        }
    }

    /// A short, printable start of what is left, for error messages.
    pub(super) fn excerpt(&mut self) -> String {
        while self.len - self.pos < 300 && matches!(self.fill(), Ok(true)) {}
        let end = self.len.min(self.pos + 300);
        String::from_utf8_lossy(&self.buf[self.pos..end])
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect()
    }
}
