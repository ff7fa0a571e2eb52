//! The MISP REST client (docs/design.md#misp-rest-api): the bare API key in `Authorization`,
//! `Accept: application/json`, JSON request bodies, retries with backoff on
//! connection errors, 5xx and 429 (honouring `Retry-After` and
//! `X-Rate-Limit-Reset`), and streaming of response bodies. A response cut
//! off in the middle is retried like a failed request; the element callback
//! sees the elements of every attempt and skips what it already has.
//! The key is never printed: not in errors, not in verbose output.

use std::io::Read;
use std::time::{Duration, Instant, SystemTime};

use ureq::http::Response;
use ureq::{Agent, Body};

use crate::cli::interrupt::Interrupt;
use crate::error::{Error, Result};
use crate::http::retry::{self, Policy, Step, Stop};
use crate::http::{self, HttpOptions};
use crate::misp::stream::{self, Shape, StreamError};

/// A secret that cannot be printed by accident.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: String) -> Self {
        Secret(s)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Checks the form MISP accepts (40 letters and digits, docs/design.md#misp-rest-api)
/// without ever showing the value.
pub fn check_key(key: &str, origin: &str) -> Result<Secret> {
    let k = key.trim();
    if k.is_empty() {
        return Err(Error::usage(format!("{origin}: the MISP API key is empty")));
    }
    if k.len() != 40 || !k.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(Error::usage(format!(
            "{origin}: not a MISP API key (MISP keys are 40 letters and digits, sent bare, without \"Bearer\")"
        )));
    }
    Ok(Secret(k.to_string()))
}

/// How long and how often to retry.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub retries: u32,
    /// No retry starts later than this after the first attempt.
    pub max_time: Duration,
    /// The first backoff wait (doubled each retry, with jitter).
    pub base: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            retries: 6,
            max_time: Duration::from_secs(600),
            base: Duration::from_secs(1),
        }
    }
}

/// Counters for the summary line.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub requests: u64,
    pub retries: u64,
    pub bytes: u64,
}

/// What one streamed request gave.
#[derive(Debug, Default, Clone)]
pub struct Fetched {
    pub elements: u64,
    /// `X-Result-Count` (docs/design.md#misp-rest-api: a total for events, page
    /// rows + 1 for attributes).
    pub result_count: Option<u64>,
    /// `Last-Modified` (feeds).
    pub last_modified: Option<SystemTime>,
}

pub struct Client {
    agent: Agent,
    base: String,
    key: Option<Secret>,
    retry: RetryPolicy,
    verbose: bool,
    accept: &'static str,
    /// Retry waits end early on SIGINT/SIGTERM (see [`Client::interruptible`]).
    interrupt: Option<Interrupt>,
    pub stats: Stats,
}

/// One request to send (again, on retry).
pub struct Request<'a> {
    pub post: Option<&'a [u8]>,
    pub url: String,
    /// For messages: "listing page 3", "events batch 12".
    pub what: String,
}

/// Counts the bytes read through it.
struct Counting<'a, R> {
    inner: R,
    n: &'a mut u64,
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        *self.n += n as u64;
        Ok(n)
    }
}

/// The message of a MISP error body (`{"name","message","url"}`), or the
/// start of whatever else it is.
pub fn error_message(body: &str) -> String {
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(body) {
        let name = v.get("name").and_then(|x| x.as_str());
        let message = v.get("message").and_then(|x| x.as_str());
        match (name, message) {
            (Some(n), Some(m)) if n != m => return format!("{n}: {m}"),
            (_, Some(m)) => return m.to_string(),
            (Some(n), None) => return n.to_string(),
            _ => {}
        }
        if let Some(e) = v.get("errors") {
            return format!("errors: {e}");
        }
    }
    let s: String = body
        .chars()
        .take(300)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let s = s.trim();
    if s.is_empty() {
        "(empty body)".to_string()
    } else {
        s.to_string()
    }
}

/// A connection-level failure that may pass.
fn retryable_transport(e: &ureq::Error) -> bool {
    match e {
        ureq::Error::Io(io) => {
            let text = io.to_string().to_ascii_lowercase();
            !(text.contains("certificate") || text.contains("tls"))
        }
        ureq::Error::Timeout(_)
        | ureq::Error::ConnectionFailed
        | ureq::Error::HostNotFound
        | ureq::Error::Protocol(_) => true,
        _ => false,
    }
}

/// The `Last-Modified` time of a response (feeds take their timestamps from it).
fn last_modified(resp: &Response<Body>) -> Option<SystemTime> {
    let t =
        chrono::DateTime::parse_from_rfc2822(http::header(resp, "Last-Modified")?.trim()).ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(t.timestamp().max(0) as u64))
}

fn header_u64(resp: &Response<Body>, name: &str) -> Option<u64> {
    http::header(resp, name).and_then(|v| v.trim().parse().ok())
}

impl Client {
    /// A client for MISP at `base` (with a key), or for plain downloads (feeds).
    pub fn new(
        base: &str,
        key: Option<Secret>,
        opts: &HttpOptions,
        retry: RetryPolicy,
        verbose: bool,
    ) -> Result<Self> {
        let accept = if key.is_some() {
            "application/json"
        } else {
            "application/json, text/plain, text/*"
        };
        Ok(Client {
            agent: http::agent(opts)?,
            base: base.trim_end_matches('/').to_string(),
            key,
            retry,
            verbose,
            accept,
            interrupt: None,
            stats: Stats::default(),
        })
    }

    /// The same client with retry waits that end within a tenth of a second
    /// of SIGINT or SIGTERM: the request then fails as [`Error::Interrupted`]
    /// (a wait the server asked for may be long: `Retry-After`, `X-Rate-Limit-Reset`).
    pub fn interruptible(self, interrupt: &Interrupt) -> Self {
        Client {
            interrupt: Some(interrupt.clone()),
            ..self
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    fn log(&self, msg: impl std::fmt::Display) {
        if self.verbose {
            eprintln!("misp-pull: {msg}");
        }
    }

    fn attempt(&mut self, req: &Request) -> std::result::Result<Response<Body>, ureq::Error> {
        self.stats.requests += 1;
        match req.post {
            Some(body) => {
                self.log(format_args!(
                    "POST {} {}",
                    req.url,
                    String::from_utf8_lossy(body)
                ));
                let mut r = self
                    .agent
                    .post(&req.url)
                    .header("Accept", self.accept)
                    .header("Content-Type", "application/json");
                if let Some(k) = &self.key {
                    r = r.header("Authorization", k.expose());
                }
                r.send(body)
            }
            None => {
                self.log(format_args!("GET {}", req.url));
                let mut r = self.agent.get(&req.url).header("Accept", self.accept);
                if let Some(k) = &self.key {
                    r = r.header("Authorization", k.expose());
                }
                r.call()
            }
        }
    }

    /// Sends `req` and handles its 2xx response with `attempt`, over again
    /// while the request or the reading of the answer fails in a way that
    /// may pass: each retry is announced on stderr, and waits as the server
    /// asked (`Retry-After`, or `X-Rate-Limit-Reset` on a 429) or with backoff.
    fn retrying<T>(
        &mut self,
        req: &Request,
        mut attempt: impl FnMut(&mut Self, Response<Body>) -> Step<Result<T>, String>,
    ) -> Result<T> {
        // A wait the server asks for is at least 100 ms and moves the backoff
        // on too. A signal ends the wait (with an interrupt handle).
        let mut policy = Policy {
            min_hint: Duration::from_millis(100),
            hint_grows_backoff: true,
            max_time: Some(self.retry.max_time),
            ..Policy::new(self.retry.retries, self.retry.base)
        };
        if let Some(interrupt) = &self.interrupt {
            policy = policy.interruptible(interrupt);
        }
        let mut retries = 0;
        let announce = |reason: &String, delay: Duration| {
            eprintln!(
                "misp-pull: {} {}: {reason}; retrying in {:.1}s",
                req.what,
                req.url,
                delay.as_secs_f64()
            );
            retries += 1;
        };
        let res = retry::run(
            &policy,
            || match self.answer(req) {
                Ok(resp) => attempt(self, resp),
                Err(step) => step,
            },
            announce,
        );
        self.stats.retries += retries;
        let gave_up = match res {
            Ok(done) => return done,
            Err(gave_up) => gave_up,
        };
        let attempts = gave_up.attempts;
        if gave_up.why == Stop::Interrupted {
            let code = self.interrupt.as_ref().and_then(Interrupt::exit_code);
            return Err(Error::Interrupted(
                code.unwrap_or(crate::cli::exit::SIGTERM),
            ));
        }
        let why = match gave_up.why {
            Stop::TooLate(delay) => format!(
                "gave up after {attempts} attempts: the next wait ({:.0}s) would pass --retry-max-time",
                delay.as_secs_f64()
            ),
            Stop::Exhausted | Stop::Interrupted => format!("gave up after {attempts} attempts"),
        };
        Err(Error::Http {
            url: req.url.clone(),
            status: None,
            msg: format!("{}: {}; {why}", req.what, gave_up.last),
        })
    }

    /// One request: its 2xx response, or what the retry loop is to make of
    /// its failure (a reason to retry with the wait the server asked for, or
    /// an error no retry changes).
    fn answer<T>(
        &mut self,
        req: &Request,
    ) -> std::result::Result<Response<Body>, Step<Result<T>, String>> {
        let t0 = Instant::now();
        let mut resp = match self.attempt(req) {
            Ok(resp) => resp,
            Err(e) => {
                let msg = e.to_string();
                if !retryable_transport(&e) {
                    return Err(Step::Done(Err(Error::Http {
                        url: req.url.clone(),
                        status: None,
                        msg: format!("{}: {msg}", req.what),
                    })));
                }
                return Err(Step::Retry(msg, None));
            }
        };
        let status = resp.status().as_u16();
        self.log(format_args!(
            "{} {}: HTTP {status} after {:.2}s",
            req.what,
            req.url,
            t0.elapsed().as_secs_f64()
        ));
        if (200..300).contains(&status) {
            return Ok(resp);
        }
        let hint = http::retry_after(&resp).or_else(|| {
            (status == 429)
                .then(|| header_u64(&resp, "X-Rate-Limit-Reset"))
                .flatten()
                .map(Duration::from_secs)
        });
        let body = resp
            .body_mut()
            .with_config()
            .limit(64 * 1024)
            .lossy_utf8(true)
            .read_to_string()
            .unwrap_or_default();
        let msg = format!("HTTP {status}: {}", error_message(&body));
        if matches!(status, 401 | 403 | 405) {
            return Err(Step::Done(Err(Error::Auth(format!(
                "{}: {msg} (check the API key and the user's role)",
                req.url
            )))));
        }
        if !http::is_retryable_status(status) {
            return Err(Step::Done(Err(Error::Http {
                url: req.url.clone(),
                status: Some(status),
                msg: format!("{}: {msg}", req.what),
            })));
        }
        Err(Step::Retry(msg, hint))
    }

    /// Sends `req` and streams the document of `shape` in its response,
    /// calling `on_element` with each element. A cut-off or failed body is
    /// retried from the start; `on_element` must skip what it already has.
    pub fn stream(
        &mut self,
        req: &Request,
        shape: Shape,
        max_element: usize,
        on_element: &mut dyn FnMut(&[u8]) -> Result<()>,
    ) -> Result<Fetched> {
        self.retrying(req, |client, resp| {
            let result_count = header_u64(&resp, "X-Result-Count");
            let last_modified = last_modified(&resp);
            let mut bytes = 0u64;
            let reader = Counting {
                inner: resp.into_body().into_reader(),
                n: &mut bytes,
            };
            let res = stream::for_each_element(reader, shape, max_element, |e| on_element(e));
            client.stats.bytes += bytes;
            match res {
                Ok(elements) => Step::Done(Ok(Fetched {
                    elements,
                    result_count,
                    last_modified,
                })),
                Err(StreamError::Stop(e)) => Step::Done(Err(e)),
                Err(e) if e.retryable() => Step::Retry(e.to_string(), None),
                Err(e) => Step::Done(Err(Error::Http {
                    url: req.url.clone(),
                    status: Some(200),
                    msg: format!("{}: unexpected response: {e}", req.what),
                })),
            }
        })
    }

    /// GETs a small JSON document (connection checks, feed manifests).
    pub fn get_json(&mut self, url: &str, what: &str) -> Result<(serde_json::Value, Fetched)> {
        let (body, fetched) = self.get_bytes(url, what)?;
        let v = serde_json::from_slice(&body).map_err(|e| Error::Http {
            url: url.to_string(),
            status: Some(200),
            msg: format!(
                "{what}: not JSON ({e}): {}",
                error_message(&String::from_utf8_lossy(&body))
            ),
        })?;
        Ok((v, fetched))
    }

    /// GETs a whole body as bytes (CSV and freetext feeds), with retries.
    pub fn get_bytes(&mut self, url: &str, what: &str) -> Result<(Vec<u8>, Fetched)> {
        let req = Request {
            post: None,
            url: url.to_string(),
            what: what.to_string(),
        };
        self.retrying(&req, |client, resp| {
            let last_modified = last_modified(&resp);
            let mut body = Vec::new();
            match resp.into_body().into_reader().read_to_end(&mut body) {
                Ok(_) => {
                    client.stats.bytes += body.len() as u64;
                    Step::Done(Ok((
                        body,
                        Fetched {
                            last_modified,
                            ..Fetched::default()
                        },
                    )))
                }
                Err(e) => Step::Retry(format!("reading the response failed: {e}"), None),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_checked_and_never_shown() {
        let key = "a".repeat(40);
        let s = check_key(&key, "MISP_KEY").unwrap();
        assert_eq!(format!("{s:?}"), "Secret(***)");
        let bad = format!("Bearer {key}");
        let err = check_key(&bad, "MISP_KEY").unwrap_err().to_string();
        assert!(!err.contains(&key), "{err}");
    }

    #[test]
    fn misp_error_bodies() {
        let b = r#"{"name":"Authentication failed.","message":"Authentication failed.","url":"/events/restSearch"}"#;
        assert_eq!(error_message(b), "Authentication failed.");
        assert_eq!(error_message("<html>\n</html>"), "<html> </html>");
    }
}
