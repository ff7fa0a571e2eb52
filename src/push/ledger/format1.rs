//! Reading ledgers of format 1 (NDJSON lines, each holding the decision facts,
//! the key and the whole record), as an earlier graph-push wrote them. Only
//! read, never written: a run that writes converts one to format 2 when it
//! opens it (journal.rs); a dry run reads it as it is. In a file of its own so
//! that the old format stays apart from the current one and can go as a whole.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::FileExt;
use std::path::Path;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::damage::{corrupt, truncate};
use super::index::{Entry, KeyIndex};
use super::kept::kept;
use crate::error::{Error, Result};
use crate::push::record::{self, RecordKind};

/// A line of a format 1 ledger.
#[derive(Deserialize)]
struct LineV1 {
    key: String,
    hash: String,
    modified: Option<i64>,
    end: Option<i64>,
    live: bool,
}

/// A format 1 line with its record.
#[derive(Deserialize)]
struct FullLineV1 {
    key: String,
    record: Map<String, Value>,
}

/// Format 1: NDJSON lines after the header, each with the whole record. Adds
/// each line's entry to `index`; returns the number of lines and the offset
/// where they end.
pub(super) fn load_v1(
    path: &Path,
    kind: RecordKind,
    index: &mut KeyIndex,
    mut r: BufReader<File>,
    start: u64,
    read_only: bool,
) -> Result<(u64, u64)> {
    let mut buf = Vec::new();
    let mut offset = start;
    let mut line_no = 1u64;
    let mut lines = 0u64;
    loop {
        buf.clear();
        let n = r
            .read_until(b'\n', &mut buf)
            .map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        line_no += 1;
        if buf.last() != Some(&b'\n') {
            // A torn last line: the crash came before it was complete.
            if !read_only {
                truncate(path, offset)?;
            }
            break;
        }
        let at = || format!("line {line_no}");
        let l: LineV1 = serde_json::from_slice(&buf).map_err(|e| corrupt(path, &at(), e))?;
        let hash = u64::from_str_radix(&l.hash, 16).map_err(|e| corrupt(path, &at(), e))?;
        index.insert(
            record::key_hash(kind, &l.key),
            Entry::on_disk(
                offset,
                l.live,
                hash,
                l.modified.unwrap_or(i64::MIN),
                l.end.unwrap_or(i64::MAX),
            ),
        );
        lines += 1;
        offset += n as u64;
    }
    Ok((lines, offset))
}

/// The key and kept record of the format 1 line at `offset`.
pub(super) fn read_v1_at(
    f: &File,
    path: &Path,
    offset: u64,
    kind: RecordKind,
) -> Result<(String, Map<String, Value>)> {
    let line = read_line_at(f, offset).map_err(|e| Error::io(path, e))?;
    let l: FullLineV1 =
        serde_json::from_slice(&line).map_err(|e| corrupt(path, &format!("byte {offset}"), e))?;
    Ok((l.key, kept(kind, l.record)))
}

/// Reads the line starting at `offset`, newline included.
fn read_line_at(f: &File, offset: u64) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut chunk = vec![0u8; 16 * 1024];
    let mut at = offset;
    loop {
        let n = f.read_at(&mut chunk, at)?;
        if n == 0 {
            return Ok(out);
        }
        if let Some(i) = chunk[..n].iter().position(|&b| b == b'\n') {
            out.extend_from_slice(&chunk[..=i]);
            return Ok(out);
        }
        out.extend_from_slice(&chunk[..n]);
        at += n as u64;
    }
}
