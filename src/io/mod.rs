//! Input and output streams.

pub mod input;
pub mod ndjson;
pub mod output;
