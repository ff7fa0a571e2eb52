//! `misp-pull`: MISP events from a server or a feed, as NDJSON.

pub mod api;
pub mod feed;
pub mod filters;
pub mod pulled;
pub mod server;
pub mod state;
