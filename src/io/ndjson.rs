//! JSON records from NDJSON input: normally one line each; a pretty-printed
//! document (a MISP feed's `manifest.json`, a saved `{"response":…}`) spans
//! several lines and is gathered until its brackets balance. A cut-off line
//! does not swallow the lines after it: a line that starts a new record at
//! column 0 (`{` or `[`) ends the gathering, and JSON strings never span lines.

use crate::error::Result;
use crate::io::input::{Lines, Location, Next, Text};
use crate::json::framing::Framing;

/// One record read.
pub enum Record {
    /// JSON text (one line or a gathered document), located at its first line.
    Json(Location),
    /// A line longer than `--max-line`.
    TooLong(Location),
    /// An unfinished document (cut off, or unbalanced), with what is wrong.
    Unfinished(Location, &'static str),
}

pub struct Records {
    lines: Lines,
    max: usize,
    line: Vec<u8>,
    /// The text of the current record (a line read whole: the buffer it was
    /// read into, lent until the next call).
    pub text: Text,
    /// A line read ahead while gathering, to be returned next.
    held: Option<Location>,
    /// Physical lines read (non-blank).
    pub lines_read: u64,
}

impl Records {
    pub fn new(lines: Lines, max: usize) -> Self {
        Records {
            lines,
            max,
            line: Vec::new(),
            text: Text::default(),
            held: None,
            lines_read: 0,
        }
    }

    fn next_line(&mut self) -> Result<Option<Next>> {
        let n = self.lines.next_line(&mut self.line)?;
        if matches!(n, Some(Next::Line(_)) | Some(Next::TooLong(_))) {
            self.lines_read += 1;
        }
        Ok(n)
    }

    /// The next record; its text is in `self.text`.
    pub fn next_record(&mut self) -> Result<Option<Record>> {
        if let Some(at) = self.held.take() {
            self.lines.reclaim(&mut self.text);
            self.text = Text::owned(std::mem::take(&mut self.line));
            return Ok(Some(Record::Json(at)));
        }
        let next = self.lines.next_text(&mut self.text)?;
        if next.is_some() {
            self.lines_read += 1;
        }
        Ok(match next {
            None => None,
            Some(Next::TooLong(at)) => Some(Record::TooLong(at)),
            Some(Next::Line(at)) => Some(Record::Json(at)),
        })
    }

    /// Called when the current record failed to parse because it ended early:
    /// gathers following lines while the record is an open, pretty-printed document.
    pub fn gather(&mut self, at: &Location) -> Result<Option<Record>> {
        let mut d = Framing::default();
        d.scan(&self.text);
        if d.in_str() || d.depth() <= 0 {
            return Ok(Some(Record::Unfinished(
                at.clone(),
                "the line ends inside the JSON value",
            )));
        }
        // The document's lines are gathered in a copy.
        let mut doc = self.text.to_vec();
        self.lines.reclaim(&mut self.text);
        loop {
            match self.next_line()? {
                None => {
                    return Ok(Some(Record::Unfinished(
                        at.clone(),
                        "the document ends before it is complete",
                    )))
                }
                Some(Next::TooLong(next)) => {
                    let _ = next;
                    return Ok(Some(Record::Unfinished(
                        at.clone(),
                        "a line of the document is longer than --max-line",
                    )));
                }
                Some(Next::Line(next)) => {
                    if matches!(self.line.first(), Some(b'{' | b'[')) {
                        self.held = Some(next);
                        return Ok(Some(Record::Unfinished(
                            at.clone(),
                            "the line ends inside the JSON value",
                        )));
                    }
                    if doc.len() + self.line.len() + 1 > self.max {
                        return Ok(Some(Record::Unfinished(
                            at.clone(),
                            "the document is longer than --max-line",
                        )));
                    }
                    d.scan(&self.line);
                    doc.push(b'\n');
                    doc.extend_from_slice(&self.line);
                    if d.in_str() {
                        return Ok(Some(Record::Unfinished(
                            at.clone(),
                            "the line ends inside a JSON string",
                        )));
                    }
                    if d.depth() <= 0 {
                        self.text = Text::owned(doc);
                        return Ok(Some(Record::Json(at.clone())));
                    }
                }
            }
        }
    }
}
