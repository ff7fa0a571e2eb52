//! HTTP for the three tools: the one configured client, and the one retry
//! loop every remote API goes through (`Retry-After`, exponential backoff
//! with jitter).

mod client;
pub mod retry;

pub use client::{agent, body_text, header, HttpOptions};
pub use retry::{is_retryable_status, parse_retry_after, parse_try_again_in, retry_after};
