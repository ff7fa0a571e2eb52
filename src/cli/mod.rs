//! Command-line pieces the tools share.

pub mod args;
pub mod exit;
pub mod generate;
pub mod interrupt;
pub mod progress;
pub mod words;
