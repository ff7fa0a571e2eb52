//! The ledger (docs/design.md#retirement, #results): what the remote holds, per target and
//! workspace, so that a run sends only what changed, never lets an old replay
//! overwrite a newer version, bumps STIX versions correctly and retires what
//! left the source.
//!
//! The journal on disk (journal.rs) holds, in frames (frame.rs) in the compact
//! encoding of codec.rs, what later versions and retirements need of each
//! record accepted (kept.rs); it still reads ledgers of format 1 (format1.rs),
//! and cuts a torn end off or stops at damage (damage.rs). The index in memory
//! (index.rs) holds, per key, where its latest record is and what decisions
//! need of it; one run at a time writes a ledger (lock.rs).

mod codec;
mod damage;
mod format1;
mod frame;
mod index;
mod journal;
mod kept;
mod lock;

pub use index::{Entry, RunKeys};
pub use journal::{Accepted, Ledger};
pub use kept::kept;
pub use lock::{lock_path, LedgerLock};
