//! One writer per ledger, with real processes: a run holds `LEDGER.lock` while a
//! producer keeps its stdin open; a second run on the ledger is refused at once
//! (exit 2, naming the ledger and the holder's pid), `--wait-lock` waits for the
//! holder to end, a signal ends the wait, and a holder killed with SIGKILL
//! leaves no lock behind.

use std::io::Write;
use std::path::Path;
use std::process::{Child, ChildStdin, Stdio};
use std::time::{Duration, Instant};

use crate::support::emulator::ms::{Config, MsEmulator};
use crate::support::push::*;

/// A graph-push run that holds the ledger: its records sent, its stdin kept
/// open by the test, so it waits for more.
struct Holder {
    child: Child,
    stdin: Option<ChildStdin>,
}

impl Holder {
    fn start(emu: &MsEmulator, ledger: &Path) -> Holder {
        let mut cmd = command(emu, &["--ledger", ledger.to_str().unwrap()]);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("graph-push starts");
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(&ndjson(&stix_range(3))).unwrap();
        stdin.flush().unwrap();
        // It holds the lock once its pid is in the lock file.
        let lock = lock_file(ledger);
        let pid = child.id().to_string();
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::fs::read_to_string(&lock).map_or(true, |t| t.trim() != pid) {
            assert!(
                Instant::now() < deadline,
                "the first run never took the lock"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Holder {
            child,
            stdin: Some(stdin),
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Closes its input: it sends what it has and ends.
    fn finish(mut self) -> Run {
        drop(self.stdin.take());
        let out = self.child.wait_with_output().unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8(out.stdout).unwrap(),
            stderr: String::from_utf8(out.stderr).unwrap(),
        }
    }
}

fn lock_file(ledger: &Path) -> std::path::PathBuf {
    ledger.with_file_name(format!(
        "{}.lock",
        ledger.file_name().unwrap().to_str().unwrap()
    ))
}

/// Starts a run with `records` on stdin (closed once written); returns the child.
fn spawn_with_input(emu: &MsEmulator, args: &[&str], records: &[serde_json::Value]) -> Child {
    let mut cmd = command(emu, args);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("graph-push starts");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&ndjson(records)).unwrap();
    drop(stdin);
    child
}

fn output(child: Child) -> Run {
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

#[test]
fn a_second_run_is_refused_at_once_and_wait_lock_waits_for_the_first() {
    let emu = MsEmulator::start(Config::default());
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("sentinel.ledger");
    let l = ledger.to_str().unwrap();
    let holder = Holder::start(&emu, &ledger);

    // Refused at once, naming the ledger and the holder's pid; nothing read or sent.
    let started = Instant::now();
    let refused = push(&emu, &["--ledger", l], &stix_range(5));
    assert!(started.elapsed() < Duration::from_secs(5), "not at once");
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(refused.stdout.is_empty(), "{}", refused.stdout);
    let msg = refused.stderr.trim();
    assert!(msg.starts_with("graph-push: "), "{msg}");
    assert!(msg.contains(&format!("{l}: in use")), "{msg}");
    assert!(msg.contains(&format!("(pid {})", holder.pid())), "{msg}");
    assert!(msg.contains("--wait-lock"), "{msg}");

    // --wait-lock that runs out: exit 2 after the wait.
    let started = Instant::now();
    let gave_up = push(&emu, &["--ledger", l, "--wait-lock", "1"], &stix_range(5));
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(gave_up.code, 2, "{}", gave_up.stderr);
    assert!(
        gave_up.stderr.contains(&format!(
            "still in use by another graph-push run (pid {}) after --wait-lock 1s",
            holder.pid()
        )),
        "{}",
        gave_up.stderr
    );

    // --wait-lock that outlasts the holder: it goes on once the first run ends.
    let records = stix_range(5);
    let mut waiting = spawn_with_input(&emu, &["--ledger", l, "--wait-lock", "60"], &records);
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        waiting.try_wait().unwrap().is_none(),
        "the waiting run must wait"
    );
    let first = holder.finish();
    assert_eq!(first.code, 0, "{}", first.stderr);
    first.assert_accounted(3);
    assert_eq!(first.count("accepted"), 3);
    let waited = output(waiting);
    assert_eq!(waited.code, 0, "{}", waited.stderr);
    assert!(
        waited.stderr.contains("in use by another run")
            && waited.stderr.contains("waiting up to 1m"),
        "{}",
        waited.stderr
    );
    waited.assert_accounted(5);
    // It read the ledger as the first run left it.
    assert_eq!(waited.count("unchanged"), 3, "{:?}", waited.statuses());
    assert_eq!(waited.count("accepted"), 2, "{:?}", waited.statuses());
}

#[test]
fn a_signal_ends_the_wait_for_the_lock() {
    let emu = MsEmulator::start(Config::default());
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("sentinel.ledger");
    let l = ledger.to_str().unwrap();
    let holder = Holder::start(&emu, &ledger);
    let waiting = spawn_with_input(&emu, &["--ledger", l, "--wait-lock", "60"], &stix_range(2));
    std::thread::sleep(Duration::from_millis(500));
    let kill = std::process::Command::new("kill")
        .args(["-15", &waiting.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let started = Instant::now();
    let stopped = output(waiting);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(stopped.code, 143, "{}", stopped.stderr);
    assert!(stopped.stdout.is_empty());
    assert_eq!(holder.finish().code, 0);
}

#[test]
fn a_holder_killed_with_sigkill_leaves_no_lock_behind() {
    let emu = MsEmulator::start(Config::default());
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("sentinel.ledger");
    let l = ledger.to_str().unwrap();
    let mut holder = Holder::start(&emu, &ledger);
    let pid = holder.pid();
    holder.child.kill().unwrap(); // SIGKILL: no handler runs, nothing is cleaned up
    holder.child.wait().unwrap();
    drop(holder.stdin.take());
    // The file stays, with the dead run's pid; the lock went with the process.
    assert_eq!(
        std::fs::read_to_string(lock_file(&ledger)).unwrap().trim(),
        pid.to_string()
    );
    let next = push(&emu, &["--ledger", l], &stix_range(4));
    assert_eq!(next.code, 0, "{}", next.stderr);
    next.assert_accounted(4);
    assert_eq!(next.count("accepted"), 4);
    let last = std::fs::read_to_string(lock_file(&ledger)).unwrap();
    assert_ne!(
        last.trim(),
        pid.to_string(),
        "the next run wrote its own pid"
    );
}
