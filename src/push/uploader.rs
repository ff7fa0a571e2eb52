//! Sends one batch and finds out what became of each record
//! (docs/design.md#throttling-and-retries): paced; a 429 waits as the answer
//! says and resends the same batch; 5xx, timeouts and dropped connections are
//! retried with backoff up to `--max-retries` (the retry loop of
//! `http::retry`); a 401 renews the token once; a batch answered 400 as a
//! whole is split in halves until the bad records stand alone. Never a
//! tight loop: every resend waits.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ureq::Agent;

use crate::cli::interrupt::Interrupt;
use crate::error::{Error, Result};
use crate::http;
use crate::http::retry::{self, Budget, Policy, Step, Stop};
use crate::push::auth::TokenSource;
use crate::push::pacer::Pacer;
use crate::push::targets::{self, RecordResult, Target};

/// What became of one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Accepted,
    /// Refused for a reason resending will not fix.
    Rejected(String),
    /// Not delivered; may pass next time.
    Failed(String),
}

/// Counters shown in the progress line and the summary.
#[derive(Debug, Default)]
pub struct Stats {
    pub requests: AtomicU64,
    pub throttled: AtomicU64,
    pub retried: AtomicU64,
    pub splits: AtomicU64,
}

impl Stats {
    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
    fn add(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }
}

/// The answer a batch finally got.
enum Answer {
    /// 2xx with its body.
    Done(String),
    /// 400/413 for the batch as a whole.
    Bad(String),
    /// Given up (retries exhausted, interrupted): the reason.
    GaveUp(String),
}

/// Everything a sender thread needs; shared by all of them.
pub struct Uploader {
    pub target: Target,
    pub agent: Agent,
    pub tokens: Arc<TokenSource>,
    pub pacer: Arc<Pacer>,
    pub interrupt: Interrupt,
    pub max_retries: u32,
    pub max_throttled: u32,
    pub retry_base: Duration,
    pub stats: Arc<Stats>,
}

impl Uploader {
    /// Uploads records (each one JSON document) and returns one outcome per
    /// record, in order. An `Err` stops the whole run (authentication lost,
    /// an answer that no resend can change).
    pub fn upload(
        &self,
        url: &str,
        source_system: &str,
        records: &[&[u8]],
        match_values: &[String],
    ) -> Result<Vec<Outcome>> {
        let body = targets::body(self.target, source_system, records);
        match self.post(url, &body)? {
            Answer::Done(text) => Ok(targets::parse_results(self.target, &text, match_values)
                .into_iter()
                .map(|r| match r {
                    RecordResult::Accepted => Outcome::Accepted,
                    RecordResult::Rejected(m) => Outcome::Rejected(m),
                    RecordResult::Unknown(m) => Outcome::Failed(m),
                })
                .collect()),
            Answer::Bad(msg) if records.len() == 1 => Ok(vec![Outcome::Rejected(msg)]),
            Answer::Bad(_) => {
                // Isolate the bad records: good neighbours must not share their fate.
                Stats::add(&self.stats.splits);
                let mid = records.len() / 2;
                let mut left =
                    self.upload(url, source_system, &records[..mid], &match_values[..mid])?;
                left.extend(self.upload(
                    url,
                    source_system,
                    &records[mid..],
                    &match_values[mid..],
                )?);
                Ok(left)
            }
            Answer::GaveUp(reason) => Ok(vec![Outcome::Failed(reason); records.len()]),
        }
    }

    /// POSTs a JSON body until it gets an answer worth acting on.
    pub fn post_raw(&self, url: &str, body: &[u8]) -> Result<std::result::Result<String, String>> {
        Ok(match self.post(url, body)? {
            Answer::Done(t) => Ok(t),
            Answer::Bad(m) | Answer::GaveUp(m) => Err(m),
        })
    }

    /// Sends one body until it gets an answer worth acting on, or gives up
    /// (retries or 429 resends used up, interrupted: the batch fails).
    fn post(&self, url: &str, body: &[u8]) -> Result<Answer> {
        let policy = Policy::new(self.max_retries, self.retry_base).interruptible(&self.interrupt);
        let mut resends = Resends {
            throttle: Policy::new(self.max_throttled, self.retry_base).budget(),
            refused: None,
            renewed: false,
        };
        let retried = |_: &String, _| Stats::add(&self.stats.retried);
        match retry::run(&policy, || self.attempt(url, body, &mut resends), retried) {
            Ok(answer) => answer,
            Err(gave_up) => Ok(Answer::GaveUp(match gave_up.why {
                Stop::Interrupted => "interrupted".into(),
                _ => format!(
                    "{} (gave up after {} retries)",
                    gave_up.last, self.max_retries
                ),
            })),
        }
    }

    /// One paced request. A 429 and a first 401 go again without counting
    /// as a retry: the 429 has a count of its own, and its wait is a pause of
    /// the pacer that every sender keeps.
    fn attempt(
        &self,
        url: &str,
        body: &[u8],
        resends: &mut Resends,
    ) -> Step<Result<Answer>, String> {
        if !self.pacer.acquire(&self.interrupt) {
            return Step::Done(Ok(Answer::GaveUp("interrupted".into())));
        }
        // Asked for every attempt: a long wait on quota may outlast a token.
        let token = match resends.refused.take() {
            Some(old) => self.tokens.renew(&old),
            None => self.tokens.token(),
        };
        let token = match token {
            Ok(t) => t,
            Err(e) => return Step::Done(Err(e)),
        };
        Stats::add(&self.stats.requests);
        let sent = self
            .agent
            .post(url)
            .header("Authorization", format!("Bearer {token}"))
            .header("Content-Type", "application/json")
            .header("Accept", "application/json")
            .send(body);
        let mut resp = match sent {
            Err(e) => return Step::Retry(format!("{e}"), None),
            Ok(resp) => resp,
        };
        let status = resp.status().as_u16();
        let retry_after = http::retry_after(&resp);
        let text = http::body_text(&mut resp, 64 << 20);
        let text = match (status, text) {
            // The connection broke during a success answer: we cannot
            // know what was taken, so the batch goes again.
            (200..=299, Err(e)) => {
                return Step::Retry(format!("HTTP {status} answer cut off: {e}"), None)
            }
            (200..=299, Ok(text)) => return Step::Done(Ok(Answer::Done(text))),
            (401, _) if !resends.renewed => {
                resends.renewed = true;
                resends.refused = Some(token);
                return Step::Again;
            }
            (_, text) => text.unwrap_or_default(),
        };
        match status {
            429 => {
                Stats::add(&self.stats.throttled);
                let asked = retry_after.or_else(|| http::parse_try_again_in(&text));
                match resends.throttle.next(asked) {
                    None => Step::Done(Ok(Answer::GaveUp(format!(
                        "still throttled (429) after {} resends",
                        self.max_throttled
                    )))),
                    Some(wait) => {
                        // Everyone holds back, then the same batch goes again.
                        self.pacer.pause_for(wait);
                        Step::Again
                    }
                }
            }
            401 | 403 => Step::Done(Err(Error::Auth(format!(
                "{url}: HTTP {status}: {} (hint: {})",
                targets::error_text(&text),
                permission_hint(self.target, status)
            )))),
            400 | 413 => Step::Done(Ok(Answer::Bad(targets::error_text(&text)))),
            s if http::is_retryable_status(s) => Step::Retry(
                format!("HTTP {s}: {}", targets::error_text(&text)),
                retry_after,
            ),
            _ => Step::Done(Err(unexpected(self.target, url, status, &text))),
        }
    }
}

/// What one batch's resends that are not retries keep between attempts.
struct Resends {
    /// 429s: their count and backoff.
    throttle: Budget,
    /// The token refused by a 401, to be replaced before the resend.
    refused: Option<String>,
    /// A 401 renewed the token once already.
    renewed: bool,
}

/// An answer no resend can change: the run stops (exit 1).
fn unexpected(target: Target, url: &str, status: u16, text: &str) -> Error {
    let hint = if status == 404 && target == Target::Sentinel {
        " (is the workspace id right? it is the Log Analytics workspace ID, a GUID)"
    } else {
        ""
    };
    Error::Http {
        url: url.to_string(),
        status: Some(status),
        msg: format!("HTTP {status}: {}{hint}", targets::error_text(text)),
    }
}

/// What to grant when the API says 401/403 (docs/design.md#entra-id-tokens).
pub fn permission_hint(target: Target, status: u16) -> &'static str {
    match (target, status) {
        (_, 401) => "the token was refused twice: check the tenant, the cloud and the token scope",
        (Target::Sentinel, _) => {
            "give the app the Azure role 'Microsoft Sentinel Contributor' on the workspace"
        }
        (Target::Defender, _) => {
            "grant the app the WindowsDefenderATP application permission Ti.ReadWrite.All with admin consent"
        }
        (Target::Graph, _) => {
            "grant the app the Graph application permission ThreatIndicators.ReadWrite.OwnedBy with admin consent"
        }
    }
}
