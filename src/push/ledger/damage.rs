//! A ledger file that is not whole: the error that names where it cannot be
//! read, and the cut that drops a torn end. The readers of both formats use
//! them, so they live apart from either.

use std::fs::OpenOptions;
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
