//! The one HTTP client (ureq) as the three tools configure it: TLS verified
//! by default, a private CA with `--ca-cert`, `HTTPS_PROXY`/`NO_PROXY` from
//! the environment, timeouts, and the retry rules shared by every remote API
//! (`Retry-After`, exponential backoff with jitter).

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use ureq::tls::{Certificate, RootCerts, TlsConfig};
use ureq::Agent;

use crate::error::{Error, Result};

/// Connection settings common to every tool.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// PEM file with the CA certificates to trust instead of the public roots.
    pub ca_cert: Option<PathBuf>,
    /// Skip TLS verification (warned about on every run by the caller).
    pub insecure: bool,
    pub connect_timeout: Duration,
    /// Longest wait for the response headers, and between two reads of the body.
    pub read_timeout: Duration,
    pub user_agent: String,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            ca_cert: None,
            insecure: false,
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(120),
            user_agent: format!("misp2ms/{}", env!("CARGO_PKG_VERSION")),
        }
    }
}

/// Reads every certificate of a PEM file.
fn load_ca(path: &PathBuf) -> Result<Vec<Certificate<'static>>> {
    let pem = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let certs: Vec<Certificate<'static>> = ureq::tls::parse_pem(&pem)
        .filter_map(|item| match item {
            Ok(ureq::tls::PemItem::Certificate(c)) => Some(Ok(c)),
            Ok(_) => None,
            Err(e) => Some(Err(e)),
        })
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| {
            Error::usage(format!(
                "{}: not a PEM certificate file: {e}",
                path.display()
            ))
        })?;
    if certs.is_empty() {
        return Err(Error::usage(format!(
            "{}: no certificate found (expected PEM)",
            path.display()
        )));
    }
    Ok(certs)
}

/// Builds the agent. HTTP error statuses are returned as responses, not errors,
/// so that callers can read the remote's error body.
pub fn agent(opts: &HttpOptions) -> Result<Agent> {
    let mut tls = TlsConfig::builder().disable_verification(opts.insecure);
    if let Some(path) = &opts.ca_cert {
        tls = tls.root_certs(RootCerts::new_with_certs(&load_ca(path)?));
    }
    let config = Agent::config_builder()
        .http_status_as_error(false)
        .tls_config(tls.build())
        .timeout_connect(Some(opts.connect_timeout))
        .timeout_recv_response(Some(opts.read_timeout))
        .timeout_per_read(Some(opts.read_timeout))
        .user_agent(opts.user_agent.as_str())
        // Large reads: fewer system calls on multi-hundred-MB MISP responses.
        .input_buffer_size(1 << 20)
        .build();
    Ok(config.into())
}

/// Parses a `Retry-After` value: seconds, or an HTTP date.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = v.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            return Some(Duration::from_secs_f64(secs));
        }
    }
    let when = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let when = SystemTime::UNIX_EPOCH + Duration::from_secs(when.timestamp().max(0) as u64);
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

/// A response header as text, if present and ASCII.
pub fn header<'a>(resp: &'a ureq::http::Response<ureq::Body>, name: &str) -> Option<&'a str> {
    resp.headers().get(name).and_then(|v| v.to_str().ok())
}

/// The wait a response's `Retry-After` header asks for, if any.
pub fn retry_after(resp: &ureq::http::Response<ureq::Body>) -> Option<Duration> {
    header(resp, "retry-after").and_then(|v| parse_retry_after(v, SystemTime::now()))
}

/// Finds "Try again in N seconds" in a Sentinel 429 body.
pub fn parse_try_again_in(body: &str) -> Option<Duration> {
    let lower = body.to_ascii_lowercase();
    let rest = &lower[lower.find("try again in ")? + "try again in ".len()..];
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    let secs: u64 = digits.parse().ok()?;
    rest[digits.len()..]
        .trim_start()
        .starts_with("second")
        .then(|| Duration::from_secs(secs))
}

/// Exponential backoff with full jitter, capped.
#[derive(Debug, Clone)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
    attempt: u32,
}

impl Backoff {
    pub fn new(base: Duration, cap: Duration) -> Self {
        Backoff {
            base,
            cap,
            attempt: 0,
        }
    }

    /// The wait before the next retry: a random time between half and all of
    /// `base * 2^attempt` (capped), so that parallel clients do not retry in step.
    pub fn next_delay(&mut self) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32.checked_shl(self.attempt.min(20)).unwrap_or(u32::MAX))
            .min(self.cap);
        self.attempt += 1;
        let jitter = 0.5 + 0.5 * random_unit();
        exp.mul_f64(jitter)
    }

    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// A number in [0, 1) from the v4 UUID generator's random source.
fn random_unit() -> f64 {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    let n = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"));
    (n >> 11) as f64 / (1u64 << 53) as f64
}

/// True for statuses worth retrying (throttling and server errors).
pub fn is_retryable_status(status: u16) -> bool {
    status == 429 || status == 408 || (500..=599).contains(&status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after("17", now), Some(Duration::from_secs(17)));
        assert_eq!(
            parse_retry_after("Tue, 14 Nov 2023 22:13:40 GMT", now),
            Some(Duration::from_secs(20))
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn sentinel_try_again_text() {
        let body =
            r#"{"statusCode": 429, "message": "Rate limit is exceeded. Try again in 17 seconds."}"#;
        assert_eq!(parse_try_again_in(body), Some(Duration::from_secs(17)));
        assert_eq!(parse_try_again_in("try again later"), None);
    }

    #[test]
    fn backoff_grows_and_stays_capped() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        let d0 = b.next_delay();
        assert!(d0 >= Duration::from_millis(50) && d0 <= Duration::from_millis(100));
        for _ in 0..30 {
            assert!(b.next_delay() <= Duration::from_secs(2));
        }
    }
}
