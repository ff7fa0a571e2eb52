//! The library's one error type. Every variant carries the context a user
//! needs to act on it (file and line, URL and status, path); none carries a
//! secret.

use std::io;
use std::path::PathBuf;

use crate::cli::exit;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad flags or settings (exit 2).
    #[error("{0}")]
    Usage(String),

    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// Reading or writing a stream (stdin, stdout) failed.
    #[error("{what}: {source}")]
    Stream {
        what: &'static str,
        #[source]
        source: io::Error,
    },

    /// Downstream closed the pipe: quiet exit 0.
    #[error("broken pipe")]
    BrokenPipe,

    /// One input line is unusable; `at` is `FILE:LINE`.
    #[error("{at}: {msg}")]
    Input { at: String, msg: String },

    /// A remote answered something unexpected, or could not be reached.
    #[error("{url}: {msg}")]
    Http {
        url: String,
        status: Option<u16>,
        msg: String,
    },

    /// Authentication or authorisation failed (exit 4).
    #[error("{0}")]
    Auth(String),

    /// Stopped by a signal (exit 130 or 143).
    #[error("interrupted by {}", if *.0 == exit::SIGINT { "SIGINT" } else { "SIGTERM" })]
    Interrupted(i32),

    /// Anything else that stops the run (exit 1).
    #[error("{0}")]
    Other(String),
}

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// An error writing to stdout: a closed pipe is not a failure.
    pub fn stdout(source: io::Error) -> Self {
        if source.kind() == io::ErrorKind::BrokenPipe {
            Error::BrokenPipe
        } else {
            Error::Stream {
                what: "stdout",
                source,
            }
        }
    }

    pub fn usage(msg: impl Into<String>) -> Self {
        Error::Usage(msg.into())
    }

    pub fn input(at: impl Into<String>, msg: impl Into<String>) -> Self {
        Error::Input {
            at: at.into(),
            msg: msg.into(),
        }
    }

    /// The exit status this error ends a run with (docs/design.md#exit-codes).
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) => exit::USAGE,
            Error::BrokenPipe => exit::OK,
            Error::Input { .. } => exit::PARTIAL,
            Error::Auth(_) => exit::AUTH,
            Error::Interrupted(code) => *code,
            Error::Io { .. } | Error::Stream { .. } | Error::Http { .. } | Error::Other(_) => {
                exit::FAILURE
            }
        }
    }
}

/// Ends a tool: prints the error (unless it is a closed pipe) as
/// `TOOL: message` on stderr and returns the exit status.
pub fn report(tool: &str, result: Result<i32>) -> i32 {
    match result {
        Ok(code) => code,
        Err(Error::BrokenPipe) => exit::OK,
        Err(e) => {
            eprintln!("{tool}: {e}");
            e.exit_code()
        }
    }
}
