//! Air-gap transfer: signed, checksummed, sequenced bundles of NDJSON files,
//! packed on the connected MISP side and unpacked on the isolated Microsoft side.
//!
//! A bundle is one uncompressed tar file: `manifest.json` first, `manifest.sig`
//! second (the Ed25519 signature of manifest.json's exact bytes, in hex), then
//! the data files in manifest order. The fixed order lets a reader check the
//! signature before it reads a single data byte and check every file as it
//! streams past, in one pass. Nothing is written into the target directory
//! before everything has been checked.
//!
//! - `manifest`: what `manifest.json` lists; the names a bundle may carry.
//! - `signing_keys`: the Ed25519 key pair that signs and checks manifests.
//! - `measure`: SHA-256, size and record count of a file as it streams past.
//! - `pack`: the MISP side, writing a signed bundle.
//! - `journal`: the Microsoft side's record of the bundles it accepted.
//! - `verify`: the Microsoft side, checking a bundle and unpacking it
//!   through a `staging` directory.

mod journal;
mod manifest;
mod measure;
mod pack;
mod signing_keys;
mod staging;
mod verify;

pub use journal::{Continuity, Journal};
pub use manifest::{FileEntry, Manifest, FORMAT, MANIFEST, SIGNATURE};
pub use measure::{measure, MeasureError, Measured};
pub use pack::{pack, Pack, Sequence};
pub use signing_keys::{key_id, keygen, read_public_key, read_secret_key};
pub use verify::{check, Check};
