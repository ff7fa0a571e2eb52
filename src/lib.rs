//! misp2ms: move MISP threat intelligence into Microsoft Sentinel and Defender
//! as three Unix filters, `misp-pull | ioc-map | graph-push`, speaking NDJSON.
//! The binaries are thin; everything lives here.

pub mod cli;
pub mod csv_export;
pub mod error;
pub mod exit;
pub mod http;
pub mod indicator;
pub mod input;
pub mod interrupt;
pub mod keys;
pub mod output;
pub mod progress;
pub mod refang;
pub mod time;

pub use error::{Error, Result};
