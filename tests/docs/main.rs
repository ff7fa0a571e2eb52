//! The Quick start test, alone in its binary: its `cargo build` relinks
//! target/debug/*, which no other test may be running meanwhile (cargo runs
//! test binaries one after another, never two at once).

#[path = "../it/support/docs.rs"]
mod docs;
mod quickstart;
