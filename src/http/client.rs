//! The one HTTP client (ureq) as the three tools configure it: TLS verified
//! by default, a private CA with `--ca-cert`, `HTTPS_PROXY`/`NO_PROXY` from
//! the environment, timeouts.

use std::path::PathBuf;
use std::time::Duration;

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

/// A response header as text, if present and ASCII.
pub fn header<'a>(resp: &'a ureq::http::Response<ureq::Body>, name: &str) -> Option<&'a str> {
    resp.headers().get(name).and_then(|v| v.to_str().ok())
}

/// A response's body as text, if it is at most `limit` bytes of UTF-8.
pub fn body_text(
    resp: &mut ureq::http::Response<ureq::Body>,
    limit: u64,
) -> std::result::Result<String, ureq::Error> {
    resp.body_mut().with_config().limit(limit).read_to_string()
}
