//! misp2ms: move MISP threat intelligence into Microsoft Sentinel and Defender
//! as three Unix filters, `misp-pull | ioc-map | graph-push`, speaking NDJSON.
//! The binaries are thin; everything lives here.

pub mod airgap;
pub mod allowlist;
pub mod auth;
pub mod cli;
pub mod csv_export;
pub mod defender;
pub mod error;
pub mod exit;
pub mod expiry;
pub mod feed;
pub mod filters;
pub mod freetext;
pub mod generate;
pub mod graph_delete;
pub mod http;
pub mod indicator;
pub mod input;
pub mod interrupt;
pub mod ioc_map;
pub mod ipset;
pub mod json_records;
pub mod jsonw;
pub mod keys;
pub mod ledger;
pub mod mapping;
pub mod misp;
pub mod misp_api;
pub mod misp_model;
pub mod misp_scan;
pub mod misp_stream;
pub mod normalize;
pub mod output;
pub mod pacer;
pub mod progress;
pub mod pull;
pub mod push;
pub mod records;
pub mod refang;
pub mod sink;
pub mod stamp;
pub mod state;
pub mod stix;
pub mod targets;
pub mod text;
pub mod tiindicator;
pub mod time;
pub mod uploader;
pub mod warninglist;

pub use error::{Error, Result};
