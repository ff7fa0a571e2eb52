//! misp2ms: move MISP threat intelligence into Microsoft Sentinel and Defender
//! as three Unix filters, `misp-pull | ioc-map | graph-push`, speaking NDJSON.
//! The binaries are thin; everything lives here.

pub mod allowlist;
pub mod cli;
pub mod csv_export;
pub mod defender;
pub mod error;
pub mod exit;
pub mod expiry;
pub mod http;
pub mod indicator;
pub mod input;
pub mod interrupt;
pub mod ioc_map;
pub mod ipset;
pub mod jsonw;
pub mod keys;
pub mod mapping;
pub mod misp;
pub mod normalize;
pub mod output;
pub mod progress;
pub mod records;
pub mod refang;
pub mod sink;
pub mod stamp;
pub mod stix;
pub mod text;
pub mod tiindicator;
pub mod time;
pub mod warninglist;

pub use error::{Error, Result};
