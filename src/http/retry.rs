//! The one retry loop (docs/design.md#throttling-and-retries), used by the
//! MISP client, the Entra token requests and the batch uploads. An attempt
//! says it is done, or worth another try (and whether the answer asked for a
//! wait: `Retry-After` or its like); the loop counts the retries against the
//! policy, picks the wait (the one asked for, else exponential backoff with
//! jitter), sleeps (ending early on a signal where the tool asks for it) and
//! gives up when the retries or the time run out.

use std::time::{Duration, Instant, SystemTime};

use super::client::header;
use crate::cli::interrupt::Interrupt;

/// How often and how long to retry.
#[derive(Clone)]
pub struct Policy {
    /// Retries after the first attempt.
    pub retries: u32,
    /// The first backoff wait, doubled each retry up to `cap`, with jitter.
    pub base: Duration,
    pub cap: Duration,
    /// The shortest wait an answer may ask for.
    pub min_hint: Duration,
    /// A wait the answer asked for moves the backoff on too, as a backoff
    /// wait would (the next backoff wait is then longer).
    pub hint_grows_backoff: bool,
    /// No retry starts later than this after the first attempt.
    pub max_time: Option<Duration>,
    /// Waits end early when a signal arrives. Without: plain sleeps (the
    /// caller looks for signals between its requests).
    pub interrupt: Option<Interrupt>,
}

impl Policy {
    /// `retries` retries, backoff from `base` capped at a minute, a wait
    /// asked for taken as it is, no time limit, plain sleeps.
    pub fn new(retries: u32, base: Duration) -> Self {
        Policy {
            retries,
            base,
            cap: Duration::from_secs(60),
            min_hint: Duration::ZERO,
            hint_grows_backoff: false,
            max_time: None,
            interrupt: None,
        }
    }

    /// The same policy with waits that end on a signal.
    pub fn interruptible(self, interrupt: &Interrupt) -> Self {
        Policy {
            interrupt: Some(interrupt.clone()),
            ..self
        }
    }

    /// A fresh count of retries under this policy.
    pub fn budget(&self) -> Budget {
        Budget {
            limit: self.retries,
            used: 0,
            backoff: Backoff::new(self.base, self.cap),
            min_hint: self.min_hint,
            hint_grows_backoff: self.hint_grows_backoff,
        }
    }
}

/// What one attempt came to. `R` says why an attempt failed (a message, or
/// the error to end with if the loop gives up).
pub enum Step<T, R> {
    /// Finished: a result, or a failure no retry can change.
    Done(T),
    /// Worth another attempt after a wait: why, and the wait the answer asked for.
    Retry(R, Option<Duration>),
    /// Go again at once, not counted as a retry: the attempt saw to the wait
    /// itself (a pause shared with other threads) or fixed what failed (a renewed token).
    Again,
}

/// Why the loop stopped trying.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stop {
    /// The policy's retries are used up.
    Exhausted,
    /// The next wait (given) would end past the policy's `max_time`.
    TooLate(Duration),
    /// A signal arrived during a wait.
    Interrupted,
}

/// The end of a loop that did not finish.
pub struct GaveUp<R> {
    /// Why the last attempt failed.
    pub last: R,
    /// Attempts made, the first one included.
    pub attempts: u32,
    pub why: Stop,
}

/// Runs `attempt` until it is done or the policy gives up. `waiting` hears of
/// each wait before it starts (for messages and counters).
pub fn run<T, R>(
    policy: &Policy,
    mut attempt: impl FnMut() -> Step<T, R>,
    mut waiting: impl FnMut(&R, Duration),
) -> Result<T, GaveUp<R>> {
    let started = Instant::now();
    let mut budget = policy.budget();
    loop {
        let (last, hint) = match attempt() {
            Step::Done(t) => return Ok(t),
            Step::Again => continue,
            Step::Retry(r, hint) => (r, hint),
        };
        let attempts = budget.used() + 1;
        let give_up = |last, why| {
            Err(GaveUp {
                last,
                attempts,
                why,
            })
        };
        let Some(delay) = budget.next(hint) else {
            return give_up(last, Stop::Exhausted);
        };
        if policy
            .max_time
            .is_some_and(|max| started.elapsed() + delay > max)
        {
            return give_up(last, Stop::TooLate(delay));
        }
        waiting(&last, delay);
        match &policy.interrupt {
            Some(interrupt) => {
                if !interrupt.sleep(delay) {
                    return give_up(last, Stop::Interrupted);
                }
            }
            None => std::thread::sleep(delay),
        }
    }
}

/// Counts retries against a limit and picks the wait before each.
pub struct Budget {
    limit: u32,
    used: u32,
    backoff: Backoff,
    min_hint: Duration,
    hint_grows_backoff: bool,
}

impl Budget {
    /// Retries taken so far.
    pub fn used(&self) -> u32 {
        self.used
    }

    /// Takes one retry: its wait (the one the answer asked for, at least
    /// `min_hint`; else the next backoff wait), or None when none is left.
    pub fn next(&mut self, hint: Option<Duration>) -> Option<Duration> {
        if self.used >= self.limit {
            return None;
        }
        self.used += 1;
        Some(match hint {
            Some(h) => {
                if self.hint_grows_backoff {
                    self.backoff.next_delay();
                }
                h.max(self.min_hint)
            }
            None => self.backoff.next_delay(),
        })
    }
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

    fn quick(retries: u32) -> Policy {
        Policy::new(retries, Duration::from_millis(1))
    }

    #[test]
    fn done_at_once_or_after_retries() {
        let mut n = 0;
        let mut waits = Vec::new();
        let got = run(
            &quick(3),
            || {
                n += 1;
                if n < 3 {
                    Step::Retry("busy", Some(Duration::from_millis(2)))
                } else {
                    Step::Done(n)
                }
            },
            |r: &&str, d| waits.push((*r, d)),
        );
        assert_eq!(got.ok(), Some(3));
        assert_eq!(waits, vec![("busy", Duration::from_millis(2)); 2]);
    }

    #[test]
    fn gives_up_after_the_retries_with_the_last_reason() {
        let mut n = 0u32;
        let got = run(
            &quick(2),
            || {
                n += 1;
                Step::<(), _>::Retry(n, None)
            },
            |_, _| {},
        );
        let g = got.expect_err("gave up");
        assert_eq!((g.last, g.attempts, g.why), (3, 3, Stop::Exhausted));
    }

    #[test]
    fn again_is_not_counted_and_does_not_wait() {
        let mut n = 0;
        let started = Instant::now();
        let got = run(
            &Policy::new(0, Duration::from_secs(60)),
            || {
                n += 1;
                if n < 5 {
                    Step::<_, ()>::Again
                } else {
                    Step::Done(n)
                }
            },
            |_, _| panic!("no wait"),
        );
        assert_eq!(got.ok(), Some(5));
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn a_wait_past_the_time_limit_gives_up_before_it() {
        let policy = Policy {
            max_time: Some(Duration::from_millis(500)),
            ..quick(5)
        };
        let got = run(
            &policy,
            || Step::<(), _>::Retry("slow", Some(Duration::from_secs(30))),
            |_, _| panic!("no wait"),
        );
        let g = got.expect_err("gave up");
        assert_eq!(g.why, Stop::TooLate(Duration::from_secs(30)));
        assert_eq!(g.attempts, 1);
    }

    #[test]
    fn a_minimum_applies_to_the_waits_asked_for() {
        let policy = Policy {
            min_hint: Duration::from_millis(100),
            ..quick(1)
        };
        let mut b = policy.budget();
        assert_eq!(
            b.next(Some(Duration::ZERO)),
            Some(Duration::from_millis(100))
        );
        assert_eq!(b.next(None), None);
        assert_eq!(b.used(), 1);
    }
}
