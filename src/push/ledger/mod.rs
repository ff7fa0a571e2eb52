//! The ledger (docs/design.md#retirement, #results): what the remote holds, per target and
//! workspace, so that a run sends only what changed, never lets an old replay
//! overwrite a newer version, bumps STIX versions correctly and retires what
//! left the source.
//!
//! The journal on disk (journal.rs) holds the records as accepted; the index
//! in memory (index.rs) holds, per key, where its latest line is and what
//! decisions need of it.

mod index;
mod journal;

pub use index::{Entry, RunKeys};
pub use journal::{Accepted, Ledger};
