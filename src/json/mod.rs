//! JSON on the hot path.

/// Where a JSON value ends: depth, strings, escapes (one state machine).
pub mod framing;
/// The only module allowed `unsafe` (SSE2 and SHA intrinsics); see lib.rs.
#[allow(unsafe_code)]
pub mod simd;
pub mod write;
