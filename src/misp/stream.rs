//! Streaming reader of MISP JSON documents: `{"response":[…]}` (events),
//! `{"response":{"Attribute":[…]}}` (attributes) and feed event files. Each
//! element of the array is handed to a callback as soon as its closing
//! bracket has arrived, so memory is one element, whatever the size of the
//! response. Elements are passed on byte for byte (field order, numbers and
//! strings untouched), only compacted to one line when the server or file
//! put whitespace between tokens. A document that ends early is an error,
//! never a short result.

use std::io::{self, Read};

use memchr::memchr2;

/// Bytes asked from the reader at a time.
const READ_CHUNK: usize = 1 << 20;

/// The document shapes the puller reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `{"response":[{"Event":…},…]}` from `/events/restSearch`.
    Events,
    /// `{"response":{"Attribute":[…]}}` from `/attributes/restSearch`.
    Attributes,
    /// A feed event file: `{"Event":…}`, a one-element list, or a
    /// `{"response":[…]}`-wrapped list (MISP's feed reader takes all three).
    FeedEvent,
}

/// Why a document could not be read to its end.
#[derive(Debug)]
pub enum StreamError {
    /// The connection or file failed while reading (retry the request).
    Io(io::Error),
    /// The document ended before it was complete (retry the request).
    Cut { at: u64 },
    /// Not the JSON expected.
    Syntax { at: u64, msg: String },
    /// One element is larger than the limit.
    TooLarge { at: u64, limit: usize },
    /// The callback stopped the read (its error, passed on).
    Stop(crate::Error),
}

impl StreamError {
    /// True when asking again may give a complete document.
    pub fn retryable(&self) -> bool {
        matches!(self, StreamError::Io(_) | StreamError::Cut { .. })
    }
}

impl std::fmt::Display for StreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StreamError::Io(e) => write!(f, "reading the response failed: {e}"),
            StreamError::Cut { at } => {
                write!(f, "response cut off after {at} bytes (incomplete JSON)")
            }
            StreamError::Syntax { at, msg } => write!(f, "at byte {at}: {msg}"),
            StreamError::TooLarge { at, limit } => write!(
                f,
                "at byte {at}: one element is larger than {limit} bytes (raise --max-event)"
            ),
            StreamError::Stop(e) => write!(f, "{e}"),
        }
    }
}

use crate::json::simd::masks;

type SResult<T> = std::result::Result<T, StreamError>;

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// Where the scan of an object or array stands between two reads: bracket
/// depth, inside a string or not, whether the next byte is escaped, and
/// whether whitespace was seen between tokens.
///
/// Most of the bytes go through [`Scan::block`], 64 at a time with bit masks
/// (the technique of simdjson's first stage: the in-string mask is the prefix
/// XOR of the unescaped quotes), so the cost does not grow with the number of
/// strings; tails shorter than a block go byte by byte.
struct Scan {
    depth: usize,
    in_str: bool,
    escaped: bool,
    has_ws: bool,
}

/// Bit i = XOR of bits 0..=i: inside a string from its opening quote up to
/// (not including) its closing one.
fn prefix_xor(mut x: u64) -> u64 {
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    x
}

impl Scan {
    /// Scans `bytes`; the index just past the value's end, if it is there.
    fn run(&mut self, bytes: &[u8]) -> Option<usize> {
        let mut i = 0;
        while bytes.len() - i >= 64 {
            let block: &[u8; 64] = bytes[i..i + 64].try_into().expect("64 bytes");
            if let Some(end) = self.block(block) {
                return Some(i + end);
            }
            i += 64;
        }
        self.bytes(&bytes[i..]).map(|end| i + end)
    }

    fn block(&mut self, block: &[u8; 64]) -> Option<usize> {
        let m = masks(block);
        // Which bytes are escaped: the one after each backslash that is not itself escaped.
        let mut escaped = self.escaped as u64;
        let mut next_escaped = false;
        let mut b = m.backslash;
        while b != 0 {
            let p = b.trailing_zeros();
            b &= b - 1;
            if escaped >> p & 1 == 1 {
                continue;
            }
            if p == 63 {
                next_escaped = true;
            } else {
                escaped |= 1 << (p + 1);
            }
        }
        let quotes = m.quote & !escaped;
        let inside = prefix_xor(quotes) ^ if self.in_str { u64::MAX } else { 0 };
        let open = m.open & !inside;
        let close = m.close & !inside;
        let space = m.space & !inside & !quotes;
        let mut s = open | close;
        while s != 0 {
            let p = s.trailing_zeros();
            s &= s - 1;
            if open >> p & 1 == 1 {
                self.depth += 1;
            } else {
                self.depth -= 1;
                if self.depth == 0 {
                    let below = if p == 63 {
                        u64::MAX
                    } else {
                        (1u64 << (p + 1)) - 1
                    };
                    self.has_ws |= space & below != 0;
                    return Some(p as usize + 1);
                }
            }
        }
        self.has_ws |= space != 0;
        self.in_str = inside >> 63 == 1;
        self.escaped = next_escaped;
        None
    }

    fn bytes(&mut self, bytes: &[u8]) -> Option<usize> {
        for (k, &b) in bytes.iter().enumerate() {
            if self.escaped {
                self.escaped = false;
            } else if self.in_str {
                match b {
                    b'\\' => self.escaped = true,
                    b'"' => self.in_str = false,
                    _ => {}
                }
            } else {
                match b {
                    b'"' => self.in_str = true,
                    b'{' | b'[' => self.depth += 1,
                    b'}' | b']' => {
                        self.depth -= 1;
                        if self.depth == 0 {
                            return Some(k + 1);
                        }
                    }
                    0..=0x20 => self.has_ws = true,
                    _ => {}
                }
            }
        }
        None
    }
}

/// A buffered reader that frames whole JSON values.
struct Framer<R> {
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
    fn new(reader: R, max_element: usize) -> Self {
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

    fn syntax(&self, msg: impl Into<String>) -> StreamError {
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
    fn peek(&mut self) -> SResult<Option<u8>> {
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

    fn cut(&self) -> StreamError {
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
        let mut rel = 1usize;
        let mut depth = 0usize;
        let mut in_str = false;
        let has_ws = false;
        match first {
            b'{' | b'[' => depth = 1,
            b'"' => in_str = true,
            _ => {
                // A number or literal: up to the next delimiter.
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
        }
        if depth == 0 {
            // A string.
            loop {
                if self.pos + rel >= self.len {
                    if !self.fill()? {
                        return Err(self.cut());
                    }
                    continue;
                }
                let bytes = &self.buf[self.pos + rel..self.len];
                match memchr2(b'"', b'\\', bytes) {
                    None => rel += bytes.len(),
                    Some(k) if bytes[k] == b'"' => return Ok((self.pos + rel + k + 1, false)),
                    Some(k) if k + 1 < bytes.len() => rel += k + 2,
                    Some(k) => {
                        // A backslash at the end of the buffer: wait for the escaped byte.
                        rel += k;
                        if !self.fill()? {
                            return Err(self.cut());
                        }
                    }
                }
            }
        }
        let mut scan = Scan {
            depth,
            in_str,
            escaped: false,
            has_ws,
        };
        loop {
            if self.pos + rel >= self.len {
                if rel > self.max_element {
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
            if let Some(end) = scan.run(&self.buf[self.pos + rel..self.len]) {
                return Ok((self.pos + rel + end, scan.has_ws));
            }
            rel = self.len - self.pos;
        }
    }

    /// Frames the next value and hands it (compacted if needed) to `f`.
    fn element(&mut self, f: &mut dyn FnMut(&[u8]) -> crate::Result<()>) -> SResult<()> {
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
    fn skip(&mut self) -> SResult<()> {
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
    fn array(&mut self, f: &mut dyn FnMut(&[u8]) -> crate::Result<()>) -> SResult<u64> {
        self.items(b'[', b']', |fr| fr.element(f).map(|()| 1))
    }

    /// The members of the object at the read position: `member` reads the value
    /// of each key and says how many elements it held; returns their sum.
    fn object(
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
    fn first_key(&mut self) -> SResult<Option<String>> {
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

    fn end(&mut self) -> SResult<()> {
        match self.peek()? {
            None => Ok(()),
            Some(_) => Err(self.syntax("unexpected data after the end of the document")),
        }
    }

    /// A short, printable start of what is left, for error messages.
    fn excerpt(&mut self) -> String {
        while self.len - self.pos < 300 && matches!(self.fill(), Ok(true)) {}
        let end = self.len.min(self.pos + 300);
        String::from_utf8_lossy(&self.buf[self.pos..end])
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect()
    }
}

/// Reads a document of `shape`, calling `f` with each element (one event, or
/// one attribute), and returns how many there were.
pub fn for_each_element<R: Read>(
    reader: R,
    shape: Shape,
    max_element: usize,
    mut f: impl FnMut(&[u8]) -> crate::Result<()>,
) -> std::result::Result<u64, StreamError> {
    let mut fr = Framer::new(reader, max_element);
    let f: &mut dyn FnMut(&[u8]) -> crate::Result<()> = &mut f;
    let n = match (fr.peek()?, shape) {
        (None, _) => return Err(fr.cut()),
        (Some(b'['), Shape::FeedEvent) => fr.array(f)?,
        (Some(b'{'), _) => {
            let first = fr.first_key()?;
            if first.as_deref() != Some("response") {
                if shape == Shape::FeedEvent {
                    fr.element(f)?;
                    fr.end()?;
                    return Ok(1);
                }
                let what = fr.excerpt();
                return Err(fr.syntax(format!(
                    "not a MISP restSearch response (no \"response\" key): {what}"
                )));
            }
            fr.object(|fr, key| {
                if key == "response" {
                    response(fr, shape, f)
                } else {
                    fr.skip().map(|()| 0)
                }
            })?
        }
        (Some(_), _) => {
            let what = fr.excerpt();
            return Err(fr.syntax(format!("not a MISP JSON document: {what}")));
        }
    };
    fr.end()?;
    Ok(n)
}

/// The value of the `response` key.
fn response<R: Read>(
    fr: &mut Framer<R>,
    shape: Shape,
    f: &mut dyn FnMut(&[u8]) -> crate::Result<()>,
) -> SResult<u64> {
    match (fr.peek()?, shape) {
        (Some(b'['), Shape::Events | Shape::FeedEvent) => fr.array(f),
        (Some(b'{'), Shape::Attributes) => fr.object(|fr, key| {
            if key == "Attribute" {
                fr.array(f)
            } else {
                fr.skip().map(|()| 0)
            }
        }),
        // An empty attributes search answered as an empty list by some versions.
        (Some(b'['), Shape::Attributes) => {
            let n = fr.array(&mut |_: &[u8]| {
                Err(crate::Error::Other(
                    "attributes response holds a list, expected {\"Attribute\":[…]}".into(),
                ))
            })?;
            Ok(n)
        }
        (None, _) => Err(fr.cut()),
        (Some(_), _) => {
            let what = fr.excerpt();
            Err(fr.syntax(format!("unexpected \"response\" value: {what}")))
        }
    }
}

/// Copies `raw` without the whitespace between tokens (strings untouched).
pub fn compact_into(raw: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.reserve(raw.len());
    let mut in_str = false;
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        if in_str {
            match memchr2(b'"', b'\\', &raw[i..]) {
                None => {
                    out.extend_from_slice(&raw[i..]);
                    return;
                }
                Some(k) => {
                    let stop = (i + k + if raw[i + k] == b'\\' { 2 } else { 1 }).min(raw.len());
                    out.extend_from_slice(&raw[i..stop]);
                    if raw[i + k] == b'"' {
                        in_str = false;
                    }
                    i = stop;
                }
            }
        } else {
            if b == b'"' {
                in_str = true;
            }
            if !is_ws(b) {
                out.push(b);
            }
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out one byte at a time (worst case for framing).
    struct Trickle<'a>(&'a [u8]);
    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() || buf.is_empty() {
                return Ok(0);
            }
            buf[0] = self.0[0];
            self.0 = &self.0[1..];
            Ok(1)
        }
    }

    fn collect(doc: &str, shape: Shape) -> std::result::Result<Vec<String>, StreamError> {
        let mut out = Vec::new();
        for_each_element(Trickle(doc.as_bytes()), shape, 1 << 20, |e| {
            out.push(String::from_utf8(e.to_vec()).unwrap());
            Ok(())
        })?;
        Ok(out)
    }

    #[test]
    fn events_are_framed_and_compacted() {
        let doc = "{ \"response\" : [ {\"Event\": {\"id\": \"1\", \"info\": \"a ] } \\\" x\"}} ,\n {\"Event\":{\"id\":2,\"Attribute\":[{\"value\":\"b\\\\\"}]}} ] }\n";
        let got = collect(doc, Shape::Events).unwrap();
        assert_eq!(
            got,
            vec![
                r#"{"Event":{"id":"1","info":"a ] } \" x"}}"#,
                r#"{"Event":{"id":2,"Attribute":[{"value":"b\\"}]}}"#
            ]
        );
        assert!(collect(r#"{"response":[]}"#, Shape::Events)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn attributes_shape() {
        let doc = r#"{"response":{"Attribute":[{"id":"7","value":"x"},{"id":"8"}]}}"#;
        assert_eq!(collect(doc, Shape::Attributes).unwrap().len(), 2);
        let empty = r#"{"response":{"Attribute":[]}}"#;
        assert!(collect(empty, Shape::Attributes).unwrap().is_empty());
    }

    #[test]
    fn cut_documents_are_errors() {
        for doc in [
            r#"{"response":[{"Event":{"id":"1"}},{"Event":{"id":"#,
            r#"{"response":[{"Event":{"id":"1"}}"#,
            r#"{"response":[{"Event":{"id":"1"}}]"#,
            r#"{"response":[{"Event":{"info":"a\"#,
            "",
        ] {
            let err = collect(doc, Shape::Events).unwrap_err();
            assert!(err.retryable(), "{doc}: {err}");
        }
    }

    #[test]
    fn error_bodies_are_not_events() {
        let doc = r#"{"name":"Not Found","message":"Not Found","url":"/x"}"#;
        let err = collect(doc, Shape::Events).unwrap_err();
        assert!(!err.retryable());
        assert!(err.to_string().contains("Not Found"), "{err}");
    }

    #[test]
    fn feed_files_in_three_forms() {
        let plain = "{\"Event\": {\"uuid\": \"u\"}}\n";
        assert_eq!(
            collect(plain, Shape::FeedEvent).unwrap(),
            vec![r#"{"Event":{"uuid":"u"}}"#]
        );
        let list = r#"[{"Event":{"uuid":"u"}}]"#;
        assert_eq!(collect(list, Shape::FeedEvent).unwrap().len(), 1);
        let wrapped = r#"{"response":[{"Event":{"uuid":"u"}}]}"#;
        assert_eq!(collect(wrapped, Shape::FeedEvent).unwrap().len(), 1);
    }

    /// Documents with strings full of quotes, backslashes and brackets, at
    /// every alignment against the 64-byte blocks, framed with whole reads
    /// (block path) and one byte at a time (byte path), compact and pretty.
    #[test]
    fn block_and_byte_paths_agree_with_serde() {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut rnd = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let pieces = [
            "\\", "\"", "{", "}", "[", "]", "\\\"", "a", " ", "é", "\n", ",", ":",
        ];
        for round in 0..200 {
            let mut events = Vec::new();
            for e in 0..(1 + rnd(4)) {
                let mut attrs = Vec::new();
                for _ in 0..rnd(6) {
                    let len = rnd(80);
                    let v: String = (0..len)
                        .map(|_| pieces[rnd(pieces.len() as u64) as usize])
                        .collect();
                    attrs.push(serde_json::json!({"value": v, "n": [1, {"x": []}], "t": null}));
                }
                let pad = "p".repeat(rnd(70) as usize);
                events
                    .push(serde_json::json!({"Event": {"id": e, "pad": pad, "Attribute": attrs}}));
            }
            let doc = serde_json::json!({"response": events});
            let texts = [
                serde_json::to_string(&doc).unwrap(),
                serde_json::to_string_pretty(&doc).unwrap(),
            ];
            for text in texts {
                let want: Vec<String> = events
                    .iter()
                    .map(|e| serde_json::to_string(e).unwrap())
                    .collect();
                let mut whole = Vec::new();
                for_each_element(text.as_bytes(), Shape::Events, 1 << 20, |e| {
                    whole.push(String::from_utf8(e.to_vec()).unwrap());
                    Ok(())
                })
                .unwrap_or_else(|e| panic!("round {round}: {e}"));
                assert_eq!(whole, want, "round {round}");
                assert_eq!(
                    collect(&text, Shape::Events).unwrap(),
                    want,
                    "round {round}"
                );
                // Cut anywhere before the end: always an error, never a short result.
                let cut = rnd(text.len() as u64 - 1) as usize;
                let cut_text = &text.as_bytes()[..cut];
                let res = for_each_element(cut_text, Shape::Events, 1 << 20, |_| Ok(()));
                assert!(res.is_err(), "round {round}: cut at {cut} was accepted");
            }
        }
    }

    #[test]
    fn element_size_limit() {
        let big = format!(
            r#"{{"response":[{{"Event":{{"info":"{}"}}}}]}}"#,
            "x".repeat(3 << 20)
        );
        let err = for_each_element(big.as_bytes(), Shape::Events, 1000, |_| Ok(())).unwrap_err();
        assert!(matches!(err, StreamError::TooLarge { .. }), "{err}");
    }
}
