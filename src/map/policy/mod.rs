//! What is kept, dropped or retired: expiry, allowlist, warninglists, IP sets,
//! private and reserved values.

pub mod allowlist;
pub mod expiry;
pub mod ipset;
pub mod private;
pub mod warninglist;
