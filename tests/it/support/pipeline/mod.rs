//! Shared pieces of the end-to-end tests (pipeline.rs, misp_sync.rs): the MISP events
//! they seed, the indicators those must become (written out by hand from
//! docs/design.md#ids-and-keys, #values and #time, not computed by the code under
//! test), the two emulators, and ways to run the real binaries in a real shell
//! pipeline or through scripts/misp-sync.

mod checks;
mod run;
mod seed;

pub use checks::*;
pub use run::*;
pub use seed::*;
