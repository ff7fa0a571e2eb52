//! The frame: how one accepted record is laid out in the ledger's journal
//! (format 2), written and read back here only, so that both sides agree
//! byte for byte.
//!
//! A frame is `LEN` (u32, little-endian), `LEN` bytes of payload, and the CRC-32
//! of the payload (u32). The payload holds the decision facts (live, content
//! hash, `modified`, validity end), the key, and only the fields of the record
//! that later versions and retirements need (kept.rs), all in the compact
//! encoding of codec.rs: about 200 bytes a STIX indicator instead of its 1 KB.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;

use serde_json::{Map, Value};

use super::codec::{self, Reader};
use super::index::Entry;

/// The largest frame accepted (a longer length is damage, not a record).
pub(super) const MAX_FRAME: u32 = 256 << 20;

const LIVE: u8 = 1;
const HAS_MODIFIED: u8 = 2;
const HAS_END: u8 = 4;

/// The payload of one frame.
pub(super) fn payload(
    key: &str,
    content_hash: u64,
    modified: Option<i64>,
    end: Option<i64>,
    live: bool,
    rec: &Map<String, Value>,
) -> Vec<u8> {
    let mut p = Vec::with_capacity(256);
    let flags = if live { LIVE } else { 0 }
        | if modified.is_some() { HAS_MODIFIED } else { 0 }
        | if end.is_some() { HAS_END } else { 0 };
    p.push(flags);
    p.extend_from_slice(&content_hash.to_le_bytes());
    if let Some(m) = modified {
        codec::put_signed(&mut p, m);
    }
    if let Some(e) = end {
        codec::put_signed(&mut p, e);
    }
    codec::put_str(&mut p, key, "");
    codec::put_object(&mut p, rec, key);
    p
}

/// A whole frame around a payload.
pub(super) fn frame(payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(payload.len() + 8);
    f.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    f.extend_from_slice(payload);
    f.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    f
}

/// The decision facts and key at the front of a payload; the reader is left at the record.
pub(super) fn payload_head<'a>(
    r: &mut Reader<'a>,
) -> std::result::Result<(Entry, String), codec::Bad> {
    let flags = r.byte()?;
    let hash = u64::from_le_bytes(r.take(8)?.try_into().expect("8 bytes"));
    let modified = if flags & HAS_MODIFIED != 0 {
        r.signed()?
    } else {
        i64::MIN
    };
    let end = if flags & HAS_END != 0 {
        r.signed()?
    } else {
        i64::MAX
    };
    let key = r.string("")?;
    Ok((
        Entry::on_disk(0, flags & LIVE != 0, hash, modified, end),
        key,
    ))
}

pub(super) fn frame_end(offset: u64, len: u32) -> u64 {
    offset + 8 + u64::from(len)
}

/// Reads as much of `buf` as the file still holds; returns the bytes read.
pub(super) fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Reads the whole frame starting at `offset` (length, payload, CRC).
pub(super) fn read_frame_at(f: &File, offset: u64) -> std::io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    f.read_exact_at(&mut len, offset)?;
    let n = u32::from_le_bytes(len).min(MAX_FRAME) as usize;
    let mut out = vec![0u8; n + 8];
    f.read_exact_at(&mut out, offset)?;
    Ok(out)
}
