//! Input and output streams.

pub mod input;
pub mod ndjson;
mod open;
pub mod output;
mod read_ahead;
