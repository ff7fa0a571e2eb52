//! misp2ms: move MISP threat intelligence into Microsoft Sentinel and Defender
//! as three Unix filters, `misp-pull | ioc-map | graph-push`, speaking NDJSON,
//! plus `misp-airgap` to carry them across an air gap. The binaries are thin;
//! everything lives here.
//!
//! `unsafe` is denied in the whole crate except `json::simd`, the one module
//! that allows it (SSE2 byte scans and SHA-1 lanes on the hot path).
#![deny(unsafe_code)]

/// `misp-airgap`: signed bundles of NDJSON for a one-way transfer.
pub mod airgap;
/// Command-line pieces the tools share: arguments, exit codes, man pages, progress, signals.
pub mod cli;
/// The one error type of the crate and its `Result`.
pub mod error;
/// The one HTTP client (TLS options, timeouts) and the one retry/backoff loop.
pub mod http;
/// NDJSON input (gzip too), JSON records framed from it, atomic `-o FILE` output.
pub mod io;
/// The hot-path JSON writer and the SIMD code (the crate's only `unsafe`).
pub mod json;
/// `ioc-map`: MISP events to indicator records (STIX, Defender, tiIndicator, CSV).
pub mod map;
/// MISP's JSON formats (the field list, typed model, fast scanner, streamed documents),
/// the ids derived from MISP records, and value helpers the stages share (trim, DNS names, refang).
pub mod misp;
/// `misp-pull`: a MISP server's REST API or a feed, to NDJSON events.
pub mod pull;
/// `graph-push`: indicator records to Sentinel and Defender, with a ledger.
pub mod push;
/// Clock, `--now`, durations, and timestamp text.
pub mod time;

pub use error::{Error, Result};
