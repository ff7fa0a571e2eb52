//! One writer per ledger (docs/graph-push.md#ledger---ledger-file): a run that
//! writes a ledger holds an exclusive lock on `LEDGER.lock` from before it reads
//! the ledger until it has written its last line. The lock is the operating
//! system's (`flock`), so it ends with the process however the process ends: a
//! `kill -9` leaves the file behind but never a held lock. The lock is on a file
//! of its own because compaction replaces the ledger by a rename, and a lock on
//! the replaced file would no longer keep anyone out. The file holds the pid of
//! the run that took the lock last, for the message a second run prints.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::cli::interrupt::Interrupt;
use crate::error::{Error, Result};

/// A held ledger lock; dropping it (or the process ending) releases it.
#[derive(Debug)]
pub struct LedgerLock {
    _file: File,
}

/// `LEDGER.lock` beside `LEDGER`.
pub fn lock_path(ledger: &Path) -> PathBuf {
    let mut name = ledger.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    ledger.with_file_name(name)
}

/// How often a waiting run tries again.
const POLL: Duration = Duration::from_millis(100);

/// Takes the lock of `ledger`. Held by another process: refuses at once
/// (exit 2), or with `wait` tries until it has passed (then exit 2); a signal
/// ends the wait (exit 130/143).
pub fn acquire(
    ledger: &Path,
    wait: Option<Duration>,
    interrupt: &Interrupt,
    tool: &str,
) -> Result<LedgerLock> {
    let path = lock_path(ledger);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| Error::io(&path, e))?;
    let deadline = wait.map(|w| Instant::now() + w);
    let mut said = false;
    loop {
        match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => break,
            Err(rustix::io::Errno::WOULDBLOCK) => {}
            Err(e) => return Err(Error::io(&path, e.into())),
        }
        let holder = holder(&mut file);
        let Some(deadline) = deadline.filter(|d| Instant::now() < *d) else {
            return Err(in_use(ledger, &path, holder, wait));
        };
        if !said {
            eprintln!(
                "{tool}: {}: in use by another run{}; waiting up to {} (--wait-lock)",
                ledger.display(),
                pid_text(holder),
                humantime::format_duration(wait.unwrap_or_default())
            );
            said = true;
        }
        if !interrupt.sleep_until(deadline.min(Instant::now() + POLL)) {
            return Err(Error::Interrupted(
                interrupt.exit_code().expect("a signal arrived"),
            ));
        }
    }
    // Ours now: write our pid for whoever comes next.
    let pid = format!("{}\n", std::process::id());
    file.set_len(0)
        .and_then(|()| file.seek(SeekFrom::Start(0)))
        .and_then(|_| file.write_all(pid.as_bytes()))
        .map_err(|e| Error::io(&path, e))?;
    Ok(LedgerLock { _file: file })
}

/// The pid the holder wrote, if it has written one yet.
fn holder(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.take(64).read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

fn pid_text(pid: Option<u32>) -> String {
    pid.map_or_else(String::new, |p| format!(" (pid {p})"))
}

fn in_use(ledger: &Path, lock: &Path, pid: Option<u32>, waited: Option<Duration>) -> Error {
    let what = match waited {
        Some(w) => format!(
            "still in use by another graph-push run{} after --wait-lock {}",
            pid_text(pid),
            humantime::format_duration(w)
        ),
        None => format!(
            "in use by another graph-push run{}: one run at a time writes a ledger; wait for it \
             to end, or give --wait-lock SECONDS to wait",
            pid_text(pid)
        ),
    };
    Error::usage(format!(
        "{}: {what} (lock file {})",
        ledger.display(),
        lock.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_and_names_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = dir.path().join("s.ledger");
        assert_eq!(lock_path(&ledger), dir.path().join("s.ledger.lock"));
        let held = acquire(&ledger, None, &Interrupt::none(), "t").unwrap();
        let text = std::fs::read_to_string(lock_path(&ledger)).unwrap();
        assert_eq!(text, format!("{}\n", std::process::id()));
        // flock locks belong to the open file: a second open in this process conflicts too.
        let err = acquire(&ledger, None, &Interrupt::none(), "t").unwrap_err();
        assert_eq!(err.exit_code(), 2);
        let msg = err.to_string();
        assert!(msg.contains("s.ledger: in use"), "{msg}");
        assert!(
            msg.contains(&format!("(pid {})", std::process::id())),
            "{msg}"
        );
        let waited = Instant::now();
        let err = acquire(
            &ledger,
            Some(Duration::from_millis(300)),
            &Interrupt::none(),
            "t",
        )
        .unwrap_err();
        assert!(waited.elapsed() >= Duration::from_millis(300));
        assert!(err.to_string().contains("after --wait-lock 300ms"), "{err}");
        drop(held);
        let _again = acquire(&ledger, None, &Interrupt::none(), "t").unwrap();
    }
}
