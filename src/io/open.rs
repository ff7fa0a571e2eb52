//! Opening an input argument (`-` = stdin): whether it is a stream, its
//! display name, gzip told by its magic bytes, and the errors that name it.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::PathBuf;
use std::sync::Arc;

use flate2::read::MultiGzDecoder;

use crate::error::{Error, Result};

/// Whether an input argument is a stream (stdin, a pipe, a device) rather
/// than a regular file: it may wait without end, and cannot be read again.
/// Stdin redirected from a regular file is a file.
pub(super) fn is_stream(arg: &str) -> bool {
    if arg == "-" {
        use std::os::fd::AsFd;
        let stdin_is_file = io::stdin()
            .as_fd()
            .try_clone_to_owned()
            .and_then(|fd| File::from(fd).metadata())
            .is_ok_and(|m| m.is_file());
        return !stdin_is_file;
    }
    std::fs::metadata(arg).is_ok_and(|m| !m.is_file())
}

/// The display name of an input argument.
pub(super) fn display_name(arg: &str) -> Arc<str> {
    if arg == "-" {
        Arc::from("stdin")
    } else {
        Arc::from(arg)
    }
}

/// Opens one input (`-` = stdin), decompressing gzip when the magic bytes say so.
pub fn open(arg: &str) -> Result<Box<dyn BufRead>> {
    let (gzip, reader) = open_raw(arg)?;
    if gzip {
        Ok(Box::new(BufReader::with_capacity(
            256 * 1024,
            MultiGzDecoder::new(reader),
        )))
    } else {
        Ok(Box::new(reader))
    }
}

/// Opens one input (`-` = stdin) and tells whether it is gzip: its first two
/// bytes (however the producer wrote them), still to be read.
pub(super) fn open_raw(arg: &str) -> Result<(bool, BufReader<Box<dyn Read>>)> {
    let mut raw: Box<dyn Read> = if arg == "-" {
        Box::new(io::stdin())
    } else {
        Box::new(File::open(arg).map_err(|e| Error::io(arg, e))?)
    };
    let mut head = [0u8; 2];
    let mut got = 0;
    while got < head.len() {
        match raw.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(read_error(arg, e)),
        }
    }
    let gzip = head == [0x1f, 0x8b];
    let raw: Box<dyn Read> = Box::new(io::Cursor::new(head[..got].to_vec()).chain(raw));
    Ok((gzip, BufReader::with_capacity(256 * 1024, raw)))
}

fn read_error(arg: &str, e: io::Error) -> Error {
    if arg == "-" {
        Error::Stream {
            what: "stdin",
            source: e,
        }
    } else {
        Error::io(PathBuf::from(arg), e)
    }
}

pub(super) fn stream_error(name: &str, e: io::Error) -> Error {
    Error::Stream {
        what: "input",
        source: io::Error::new(e.kind(), format!("{name}: {e}")),
    }
}
