//! What graph-push is told and tells while it runs: stopped by SIGTERM or
//! SIGINT while its producer keeps the pipe open and sends nothing
//! (`systemctl stop`, a misp-pull in a long wait), it stops within a second,
//! writes the results, `--failed` and the ledger, and exits 143 or 130; held
//! back by the Defender tenant cap, it says so once, and the documented sort
//! chooses which records go first.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::docs;
use crate::support::emulator::ms::{Config, MsEmulator, CLIENT_ID, CLIENT_SECRET, TENANT};
use crate::support::push::*;

/// A running graph-push whose stdin the test holds open.
struct Idle {
    child: Child,
    stdin: std::process::ChildStdin,
    stdout: Arc<Mutex<Vec<String>>>,
    reader: std::thread::JoinHandle<()>,
}

impl Idle {
    fn start(emu: &MsEmulator, args: &[&str]) -> Idle {
        let mut cmd = command(emu, args);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let stdin = child.stdin.take().unwrap();
        let out = BufReader::new(child.stdout.take().unwrap());
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let lines = Arc::clone(&stdout);
        let reader = std::thread::spawn(move || {
            for line in out.lines() {
                lines.lock().unwrap().push(line.unwrap());
            }
        });
        Idle {
            child,
            stdin,
            stdout,
            reader,
        }
    }

    /// Sends `sig`; returns the exit status, the time from the signal to the
    /// exit, and what the run left on stdout and stderr. Stdin stays open
    /// until the process is gone.
    fn stop(mut self, sig: i32) -> (Run, Duration) {
        let sent = Instant::now();
        let kill = std::process::Command::new("kill")
            .args([format!("-{sig}"), self.child.id().to_string()])
            .output()
            .unwrap();
        assert!(kill.status.success());
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            assert!(sent.elapsed() < Duration::from_secs(10), "still running");
            std::thread::sleep(Duration::from_millis(2));
        };
        let took = sent.elapsed();
        drop(self.stdin);
        self.reader.join().unwrap();
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut self.child.stderr.take().unwrap(), &mut stderr).unwrap();
        let stdout = self.stdout.lock().unwrap().join("\n");
        let run = Run {
            code: status.code().unwrap_or(-1),
            stdout,
            stderr,
        };
        (run, took)
    }
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_signal_while_the_producer_sends_nothing_stops_within_a_second() {
    for (sig, code) in [(15, 143), (2, 130)] {
        let emu = MsEmulator::start(Config::default());
        let dir = tempfile::tempdir().unwrap();
        let ledger = dir.path().join("sentinel.ledger");
        let failed = dir.path().join("failed.ndjson");
        let (l, f) = (ledger.to_str().unwrap(), failed.to_str().unwrap());
        let args = ["--ledger", l, "--failed", f, "--batch-size", "2"];
        let mut idle = Idle::start(&emu, &args);
        // Five records: two batches of two go out, the fifth waits in a batch
        // for more input that never comes.
        let records = stix_range(5);
        idle.stdin.write_all(&ndjson(&records)).unwrap();
        idle.stdin.flush().unwrap();
        wait_for("two batches", || emu.stats().objects_accepted == 4);
        std::thread::sleep(Duration::from_millis(300));
        let (run, took) = idle.stop(sig);

        assert_eq!(run.code, code, "{}", run.stderr);
        assert!(
            took < Duration::from_secs(1),
            "signal {sig} to exit took {took:?}"
        );
        run.assert_accounted(5);
        assert_eq!(run.count("accepted"), 4, "{}", run.stdout);
        let waiting = run.with_status("failed");
        assert_eq!(waiting.len(), 1, "{}", run.stdout);
        assert_eq!(waiting[0]["reason"], "interrupted");
        assert_eq!(waiting[0]["source"], "stdin:5");
        assert_eq!(read_ndjson(&failed), vec![records[4].clone()]);
        assert!(
            run.stderr.contains("graph-push: 5 records"),
            "{}",
            run.stderr
        );
        assert_sentinel_holds(&emu, &records, &run);

        // The ledger holds the four: a second run sends only the fifth.
        let again = push(&emu, &["--ledger", l], &records);
        assert_eq!(again.code, 0, "{}", again.stderr);
        assert_eq!(again.count("unchanged"), 4, "{}", again.stdout);
        assert_eq!(again.count("accepted"), 1, "{}", again.stdout);
    }
}

#[test]
fn a_signal_before_the_first_line_stops_within_a_second() {
    let emu = MsEmulator::start(Config::default());
    let dir = tempfile::tempdir().unwrap();
    let failed = dir.path().join("failed.ndjson");
    let idle = Idle::start(&emu, &["--failed", failed.to_str().unwrap()]);
    // The token comes first; then graph-push waits on a stdin that says nothing.
    wait_for("the token", || emu.stats().tokens_issued == 1);
    std::thread::sleep(Duration::from_millis(300));
    let (run, took) = idle.stop(15);
    assert_eq!(run.code, 143, "{}", run.stderr);
    assert!(
        took < Duration::from_secs(1),
        "SIGTERM to exit took {took:?}"
    );
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert!(
        run.stderr.contains("graph-push: 0 records"),
        "{}",
        run.stderr
    );
    assert!(failed.exists(), "--failed is written, empty");
    assert_eq!(emu.stats().objects_received, 0);
}

/// Six Defender records, in input order: (severity, expirationTime).
fn defender_mix() -> Vec<Value> {
    let mix = [
        ("Low", "2027-01-01T00:00:00Z"),
        ("High", "2027-02-01T00:00:00Z"),
        ("Low", "2027-05-01T00:00:00Z"),
        ("Informational", "2027-09-01T00:00:00Z"),
        ("High", "2027-03-01T00:00:00Z"),
        ("Medium", "2027-04-01T00:00:00Z"),
    ];
    mix.iter()
        .enumerate()
        .map(|(i, (severity, expiry))| {
            let mut r = defender(i);
            r["severity"] = json!(severity);
            r["expirationTime"] = json!(expiry);
            r
        })
        .collect()
}

fn key(i: usize) -> String {
    format!("DomainName:c2-{i}.example.net")
}

#[test]
fn the_tenant_cap_is_said_once_and_the_input_order_chooses() {
    let emu = MsEmulator::start(Config::default());
    let records = defender_mix();
    let run = push(
        &emu,
        &["--target", "defender", "--max-active", "3"],
        &records[..4],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.assert_accounted(4);
    assert_eq!(run.accepted_keys(), [key(0), key(1), key(2)], "input order");
    let warnings: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains("warning"))
        .collect();
    assert_eq!(
        warnings,
        [
            "graph-push: warning: 1 Defender record skipped at the tenant cap (--max-active 3): \
          kept are the indicators already live, then the records first in input order; sort the \
          input to choose which go first"
        ]
    );
    // Singular where it is one.
    assert!(
        run.stderr.contains("graph-push: 4 records: 3 accepted"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("(0 malformed); 1 request, 0 throttled"),
        "{}",
        run.stderr
    );

    // The same cap in a dry run, and no warning where nothing is held back.
    let dry = push(
        &emu,
        &["--target", "defender", "--max-active", "3", "--dry-run"],
        &records,
    );
    assert!(
        dry.stderr
            .contains("warning: 3 Defender records would be skipped at the tenant cap"),
        "{}",
        dry.stderr
    );
    assert!(
        dry.stderr
            .contains("dry run: 6 records: 3 would be sent in 1 request, "),
        "{}",
        dry.stderr
    );
    let all = push(&emu, &["--target", "defender", "--dry-run"], &records);
    assert!(!all.stderr.contains("warning"), "{}", all.stderr);
}

/// docs/graph-push.md's sort: highest severity first, the latest expiry first
/// within a severity, run as written with jq.
#[test]
fn the_documented_sort_sends_the_highest_severity_first() {
    if Command::new("jq").arg("--version").output().is_err() {
        eprintln!("skipped: jq is not installed");
        return;
    }
    let emu = MsEmulator::start(Config::default());
    let dir = tempfile::tempdir().unwrap();
    write_ndjson(&dir.path().join("defender.ndjson"), &defender_mix());
    let block = docs::tested(&docs::section("graph-push"), "defender-order");
    // `graph-push` in the block: the real binary, pointed at the emulator, with
    // room for four indicators.
    let script = format!(
        "graph-push() {{ \"$GRAPH_PUSH\" \"$@\" --api-url \"$EMU\" --authority-host \"$EMU\" \
         --max-active 4 --rpm 60000 --retry-base 50ms; }}\n{}",
        block.code
    );
    let out = doc_block(&script, dir.path())
        .env("GRAPH_PUSH", env!("CARGO_BIN_EXE_graph-push"))
        .env("EMU", emu.url())
        .env("AZURE_TENANT_ID", TENANT)
        .env("AZURE_CLIENT_ID", CLIENT_ID)
        .env("AZURE_CLIENT_SECRET", CLIENT_SECRET)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let results = read_ndjson(&dir.path().join("defender-results.ndjson"));
    let accepted: Vec<&str> = results
        .iter()
        .filter(|r| r["status"] == "accepted")
        .map(|r| r["key"].as_str().unwrap())
        .collect();
    // High (the later first), Medium, then the more recent Low; not the
    // older Low nor Informational.
    assert_eq!(accepted, [key(4), key(1), key(5), key(2)], "{stderr}");
    assert!(
        stderr.contains("warning: 2 Defender records skipped"),
        "{stderr}"
    );
    assert!(dir.path().join("defender.ledger").exists());
}
