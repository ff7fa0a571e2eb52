//! JSON on the hot path.

/// The only module allowed `unsafe` (SSE2 intrinsics); see lib.rs.
#[allow(unsafe_code)]
pub mod simd;
pub mod write;
