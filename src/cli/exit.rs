//! The exit-code table shared by the three tools (docs/design.md#exit-codes).

/// Done; records skipped by policy are normal and only counted.
pub const OK: i32 = 0;
/// Runtime failure that stopped the run (I/O, unreachable after retries, unexpected response).
pub const FAILURE: i32 = 1;
/// Usage or configuration error (bad flags, missing settings, record kind mismatch).
pub const USAGE: i32 = 2;
/// Finished, but some input was malformed or some records were rejected or failed.
pub const PARTIAL: i32 = 3;
/// Authentication or authorisation failed.
pub const AUTH: i32 = 4;
/// Interrupted by SIGINT.
pub const SIGINT: i32 = 130;
/// Interrupted by SIGTERM.
pub const SIGTERM: i32 = 143;

/// The table printed at the end of every tool's `--help`.
pub const TABLE: &str = "\
Exit status:
  0    done (records skipped by policy are counted, not errors)
  1    runtime failure that stopped the run (I/O, unreachable after retries,
       unexpected response)
  2    usage or configuration error (bad flags, missing settings, record kind
       does not match the target)
  3    finished, but some input was malformed or some records were rejected or
       failed (see the summary and the --failed/--rejected/--skipped files)
  4    authentication or authorisation failed (bad key, secret, role, consent)
  130  interrupted by SIGINT, after writing what it had
  143  interrupted by SIGTERM, after writing what it had
A closed stdout downstream (| head) ends a tool quietly with status 0.";
