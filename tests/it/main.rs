//! The integration tests, in one binary: each module is the file of the same
//! name beside this one (a test is `tests/it/<module>.rs: <fn name>`), and
//! `support/` holds what they share: the MISP and Microsoft emulators, and
//! helpers to run the tools and read the documentation's tested blocks.
//!
//! `cargo test --test it MODULE::` runs one file's tests.

mod support;

mod airgap;
mod cli_docs;
mod design_doc;
mod full_disk;
mod graph_push;
mod graph_push_certs;
mod graph_push_context;
mod graph_push_duplicates;
mod graph_push_ledger;
mod graph_push_lock;
mod graph_push_replay;
mod graph_push_signals;
mod graph_push_targets;
mod ioc_map_cli;
mod ioc_map_context;
mod ioc_map_golden;
mod ioc_map_utf8;
mod misp_pull;
mod misp_pull_feeds;
mod misp_sync;
mod ms_emulator_assertions;
mod ms_emulator_selftest;
mod pipeline;
mod properties;
mod properties_airgap;
mod properties_map;
mod properties_pull;
mod properties_push;
mod readme;
mod tlp_scopes;
mod tls;
