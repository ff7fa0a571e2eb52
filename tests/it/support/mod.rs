//! What the integration tests share.

pub mod docs;
pub mod emulator;
pub mod feed;
pub mod pipeline;
pub mod pull;
pub mod push;
pub mod stix_literal;
