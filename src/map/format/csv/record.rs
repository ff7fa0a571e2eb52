//! One CSV record: its cells kept on one line, encoded as RFC 4180 with CRLF.

use crate::error::{Error, Result};

/// One CSV record with CRLF (RFC 4180; both portals run on Windows tooling).
pub(super) fn encode<'a>(fields: impl IntoIterator<Item = &'a str>) -> Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(256);
    {
        let mut w = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .buffer_capacity(1024)
            .from_writer(&mut buf);
        w.write_record(fields)
            .and_then(|_| w.flush().map_err(csv::Error::from))
            .map_err(|e| Error::Other(format!("CSV: {e}")))?;
    }
    Ok(buf)
}

/// Line breaks and tabs become spaces: a multi-line cell is legal CSV but
/// not every importer reads it.
pub(super) fn one_line(s: &str) -> String {
    if !s.contains(['\r', '\n', '\t']) {
        return s.to_string();
    }
    s.split(['\r', '\n', '\t'])
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}
