//! What is kept, dropped or retired: expiry, allowlist, warninglists, IP sets.

pub mod allowlist;
pub mod expiry;
pub mod ipset;
pub mod warninglist;
