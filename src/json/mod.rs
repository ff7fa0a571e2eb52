//! JSON on the hot path.

pub mod write;
