//! Measuring a file as it streams past: its SHA-256, its size and its
//! records (non-blank lines, counted after gunzip for a gzip file), each
//! byte read once and, if asked, copied on.

use std::io::{self, BufReader, Read, Write};

use flate2::read::MultiGzDecoder;
use sha2::{Digest, Sha256};

/// SHA-256, size and record count of one file's bytes.
#[derive(Debug)]
pub struct Measured {
    pub sha256: String,
    pub bytes: u64,
    /// `None`: the bytes start like gzip but do not decompress.
    pub records: Option<u64>,
}

/// Why measuring stopped: reading the source, or writing the copy.
#[derive(Debug)]
pub enum MeasureError {
    Read(io::Error),
    Write(io::Error),
}

/// Passes bytes through, hashing, counting and copying each exactly once.
/// An error is kept, so that no later read can hide it.
pub(super) struct Tee<'a, R> {
    inner: R,
    hasher: Sha256,
    /// Bytes passed through so far.
    pub(super) bytes: u64,
    copy: &'a mut dyn Write,
    /// The first error, once there was one.
    pub(super) failed: Option<MeasureError>,
}

impl<'a, R: Read> Tee<'a, R> {
    pub(super) fn new(inner: R, copy: &'a mut dyn Write) -> Self {
        Tee {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
            copy,
            failed: None,
        }
    }

    /// The SHA-256 of the bytes passed through, in hex.
    pub(super) fn sha256(self) -> String {
        hex::encode(self.hasher.finalize())
    }
}

impl<R: Read> Read for Tee<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.failed.is_some() {
            return Err(io::Error::other("an earlier error"));
        }
        let n = match self.inner.read(buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Err(e),
            Err(e) => {
                let again = io::Error::new(e.kind(), e.to_string());
                self.failed = Some(MeasureError::Read(e));
                return Err(again);
            }
        };
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        if let Err(e) = self.copy.write_all(&buf[..n]) {
            let again = io::Error::new(e.kind(), e.to_string());
            self.failed = Some(MeasureError::Write(e));
            return Err(again);
        }
        Ok(n)
    }
}

/// Reads `source` to its end, copying it into `copy`, and measures it. The
/// records of a gzip stream (by its magic bytes) are counted after gunzip.
pub fn measure(source: impl Read, copy: &mut dyn Write) -> Result<Measured, MeasureError> {
    let mut tee = Tee::new(source, copy);
    let records = {
        // The first two bytes, however the source hands them out, say gzip or not.
        let mut head = [0u8; 2];
        let mut got = 0;
        let mut peeked = Ok(());
        while got < 2 {
            match tee.read(&mut head[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    peeked = Err(e);
                    break;
                }
            }
        }
        let mut buffered = BufReader::with_capacity(256 * 1024, (&head[..got]).chain(&mut tee));
        let counted = match peeked {
            Ok(()) if head[..got] == [0x1f, 0x8b] => {
                count_records(MultiGzDecoder::new(&mut buffered))
            }
            Ok(()) => count_records(&mut buffered),
            Err(e) => Err(e),
        };
        // The rest (after a gzip error, or trailing bytes) still has to be hashed.
        let drained = io::copy(&mut buffered, &mut io::sink());
        match (counted, drained) {
            (Ok(n), Ok(_)) => Some(n),
            _ => None,
        }
    };
    if let Some(e) = tee.failed.take() {
        return Err(e);
    }
    Ok(Measured {
        bytes: tee.bytes,
        sha256: tee.sha256(),
        records,
    })
}

/// Counts non-blank lines, the records the tools read (they skip blank lines).
fn count_records(mut reader: impl Read) -> io::Result<u64> {
    let mut buf = vec![0u8; 64 * 1024];
    let (mut records, mut in_record) = (0u64, false);
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        for &b in &buf[..n] {
            if b == b'\n' {
                records += u64::from(in_record);
                in_record = false;
            } else if !b.is_ascii_whitespace() {
                in_record = true;
            }
        }
    }
    Ok(records + u64::from(in_record))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_non_blank_lines() {
        assert_eq!(count_records(&b""[..]).unwrap(), 0);
        assert_eq!(count_records(&b"a\n\n  \nb"[..]).unwrap(), 2);
        assert_eq!(count_records(&b"a\r\nb\r\n\r\n"[..]).unwrap(), 2);
    }

    #[test]
    fn measures_gzip_after_gunzip_and_hashes_raw_bytes() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"{\"a\":1}\n{\"a\":2}\n").unwrap();
        let raw = gz.finish().unwrap();
        let mut copy = Vec::new();
        let m = measure(&raw[..], &mut copy).unwrap();
        assert_eq!(copy, raw);
        assert_eq!(m.bytes, raw.len() as u64);
        assert_eq!(m.records, Some(2));
        assert_eq!(m.sha256, hex::encode(Sha256::digest(&raw)));
        // Broken gzip: still hashed whole, but no record count.
        let broken = &raw[..raw.len() - 6];
        let m = measure(broken, &mut io::sink()).unwrap();
        assert_eq!((m.bytes, m.records), (broken.len() as u64, None));
    }
}
