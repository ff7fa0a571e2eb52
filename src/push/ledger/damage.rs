//! A ledger file that is not whole: the error that names where it cannot be
//! read, what a torn end looks like (the zeros some file systems leave after a
//! crash), and the cut that drops it. The readers of both formats use them, so
//! they live apart from either.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::error::{Error, Result};

/// The error for a ledger unreadable `at` a line or byte.
pub(super) fn corrupt(path: &Path, at: &str, msg: impl std::fmt::Display) -> Error {
    Error::Other(format!(
        "{}: {at}: ledger unreadable: {msg} (move the file away to start a new ledger)",
        path.display()
    ))
}

/// Cuts the file to `len` bytes (a torn end dropped) and syncs it.
pub(super) fn truncate(path: &Path, len: u64) -> Result<()> {
    let f = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    f.set_len(len).map_err(|e| Error::io(path, e))?;
    f.sync_all().map_err(|e| Error::io(path, e))
}

/// Whether the file holds only zero bytes from `offset` on (as some file
/// systems leave after a crash).
pub(super) fn zeros_from(path: &Path, offset: u64, file_len: u64) -> Result<bool> {
    let f = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut at = offset;
    let mut chunk = vec![0u8; 64 * 1024];
    while at < file_len {
        let n = f.read_at(&mut chunk, at).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        if chunk[..n].iter().any(|&b| b != 0) {
            return Ok(false);
        }
        at += n as u64;
    }
    Ok(true)
}
