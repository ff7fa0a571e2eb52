//! SIGINT and SIGTERM: the tools stop reading, write what they have, account
//! for the rest, and exit 130 or 143 (docs/design.md#exit-codes).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::flag;

use crate::cli::exit;
use crate::error::{Error, Result};

/// Which signal arrived (0 = none yet).
#[derive(Clone)]
pub struct Interrupt(Arc<AtomicUsize>);

impl Interrupt {
    /// Installs the handlers. After the first signal the tool winds down; a
    /// second one of the same kind ends the process at once.
    pub fn install() -> Result<Self> {
        let flag = Arc::new(AtomicUsize::new(0));
        let twice = Arc::new(AtomicBool::new(false));
        for sig in [SIGINT, SIGTERM] {
            let fail =
                |e: std::io::Error| Error::Other(format!("cannot install signal handler: {e}"));
            // Order matters: the second signal finds `twice` set and exits at once.
            flag::register_conditional_shutdown(sig, exit_for(sig), Arc::clone(&twice))
                .map_err(fail)?;
            flag::register(sig, Arc::clone(&twice)).map_err(fail)?;
            flag::register_usize(sig, Arc::clone(&flag), sig as usize).map_err(fail)?;
        }
        Ok(Interrupt(flag))
    }

    /// A handle that never fires (tests, library use).
    pub fn none() -> Self {
        Interrupt(Arc::new(AtomicUsize::new(0)))
    }

    /// The exit status to end with, if a signal arrived.
    pub fn exit_code(&self) -> Option<i32> {
        match self.0.load(Ordering::SeqCst) as i32 {
            0 => None,
            s if s == SIGINT => Some(exit::SIGINT),
            _ => Some(exit::SIGTERM),
        }
    }

    pub fn fired(&self) -> bool {
        self.0.load(Ordering::SeqCst) != 0
    }

    /// Sleeps until `t` in short steps so that a signal is noticed. False if
    /// one arrived (before or during the wait).
    pub fn sleep_until(&self, t: Instant) -> bool {
        loop {
            if self.fired() {
                return false;
            }
            let now = Instant::now();
            if now >= t {
                return true;
            }
            std::thread::sleep((t - now).min(Duration::from_millis(100)));
        }
    }

    /// Sleeps for `d`, ending early on a signal. False if one arrived.
    pub fn sleep(&self, d: Duration) -> bool {
        self.sleep_until(Instant::now() + d)
    }
}

fn exit_for(sig: i32) -> i32 {
    if sig == SIGINT {
        exit::SIGINT
    } else {
        exit::SIGTERM
    }
}
