//! Why a document could not be read to its end, and whether asking again may help.

use std::io;

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

/// A result of the stream reader.
pub(super) type SResult<T> = std::result::Result<T, StreamError>;

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
