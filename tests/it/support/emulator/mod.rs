//! The MISP and Microsoft emulators the tests run the tools against, on
//! 127.0.0.1, over one small HTTP server (http.rs). examples/misp-emulator.rs and
//! examples/ms-emulator.rs run them as processes for scripts and benchmarks.

pub mod http;
pub mod misp;
pub mod ms;
