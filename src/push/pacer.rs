//! Request pacing: a token bucket of one token refilled every 60/rpm seconds,
//! shared by all sender threads, plus a shared pause after a 429. A bucket of
//! one never bursts, which matters because the remote counts requests in a
//! sliding minute: a burst at the start would be throttled.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::cli::interrupt::Interrupt;

/// Share of `--rpm` actually used, so that clock and network jitter do not
/// push a sliding window one request over the limit.
const HEADROOM: f64 = 0.99;

#[derive(Debug)]
pub struct Pacer {
    interval: Duration,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// The earliest time the next request may start.
    next: Instant,
    /// No request starts before this (set by a 429).
    paused_until: Instant,
}

impl Pacer {
    /// A pacer for `rpm` requests per minute.
    pub fn new(rpm: f64) -> Self {
        let per_sec = (rpm.max(0.001) * HEADROOM) / 60.0;
        let now = Instant::now();
        Pacer {
            interval: Duration::from_secs_f64(1.0 / per_sec),
            state: Mutex::new(State {
                next: now,
                paused_until: now,
            }),
        }
    }

    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Waits for this request's turn. Returns false (at once) if interrupted.
    pub fn acquire(&self, interrupt: &Interrupt) -> bool {
        loop {
            let slot = {
                let mut s = self.state.lock().expect("pacer lock");
                let now = Instant::now();
                let slot = s.next.max(s.paused_until).max(now);
                s.next = slot + self.interval;
                slot
            };
            if !interrupt.sleep_until(slot) {
                return false;
            }
            // A 429 that arrived while we slept holds us back too.
            let paused = self.state.lock().expect("pacer lock").paused_until;
            if paused <= Instant::now() {
                return true;
            }
        }
    }

    /// True while a 429 holds every sender back.
    pub fn waiting(&self) -> bool {
        self.state.lock().expect("pacer lock").paused_until > Instant::now()
    }

    /// Nobody starts a request for `wait` (a 429 answer asked for it).
    pub fn pause_for(&self, wait: Duration) {
        let mut s = self.state.lock().expect("pacer lock");
        let until = Instant::now() + wait;
        if until > s.paused_until {
            s.paused_until = until;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_follows_rpm_with_headroom() {
        let p = Pacer::new(6000.0);
        let ms = p.interval().as_secs_f64() * 1000.0;
        assert!((10.0..10.2).contains(&ms), "{ms}");
    }

    #[test]
    fn slots_are_spaced_and_a_pause_moves_them() {
        let p = Pacer::new(60.0 * 1000.0);
        let none = Interrupt::none();
        assert!(p.acquire(&none));
        p.pause_for(Duration::from_millis(20));
        let paused = p.state.lock().unwrap().paused_until;
        assert!(p.acquire(&none));
        assert!(Instant::now() >= paused);
    }
}
