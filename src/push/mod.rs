//! `graph-push`: indicator records to Sentinel, Defender or Graph, with a
//! ledger of what the remote holds.

pub mod auth;
pub mod credential;
pub mod delete;
pub mod ledger;
pub mod pacer;
pub mod record;
pub mod targets;
pub mod uploader;

mod run;
mod setup;

pub use run::run;
pub use setup::{common_setup, token_source, Options};
