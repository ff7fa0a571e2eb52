//! One `graph-push` run: read records, recognise their kind, consult the
//! ledger, batch, hand batches to `--parallel` sender threads, and write one
//! result line per record (docs/design.md#results), the `--failed`/`--rejected` files,
//! the ledger, and one summary line. Records in = the sum of all statuses.
//!
//! The run's state is one `Run` (start.rs); each child adds the methods of one
//! part of the run to it.

mod intake;
mod results;
mod start;
mod versions;
mod workers;

pub use start::run;
