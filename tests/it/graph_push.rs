//! graph-push against the Microsoft emulator: Sentinel uploads, throttling,
//! server errors, dropped connections, partial failures, kind mismatch,
//! signals and the replay of `--failed`.

use std::time::Duration;

use serde_json::json;

use crate::support::docs;
use crate::support::emulator::ms::{Api, Config, Fault, MsEmulator, CLIENT_SECRET, WORKSPACE};
use crate::support::push::*;

#[test]
fn more_records_than_one_batch_all_arrive_exactly_as_sent() {
    let emu = MsEmulator::start(Config::default());
    let records = stix_range(250);
    let run = push(&emu, &[], &records);
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.assert_accounted(250);
    assert_eq!(run.count("accepted"), 250);
    assert_sentinel_holds(&emu, &records, &run);
    assert_eq!(emu.stix_current(WORKSPACE).len(), 250);
    let log = emu.log();
    let uploads: Vec<usize> = log
        .iter()
        .filter(|e| e.api == Some(Api::Sentinel))
        .map(|e| e.objects)
        .collect();
    assert_eq!(uploads.iter().sum::<usize>(), 250);
    assert!(uploads.iter().all(|n| *n <= 100), "{uploads:?}");
    assert_eq!(emu.stats().tokens_issued, 1, "one token for the whole run");
    // Result lines name where each record came from: every input line once
    // (in the order the answers arrived, which need not be input order).
    let mut sources: Vec<String> = run
        .results()
        .iter()
        .map(|r| r["source"].as_str().unwrap().to_string())
        .collect();
    sources.sort();
    let mut expected: Vec<String> = (1..=250).map(|n| format!("stdin:{n}")).collect();
    expected.sort();
    assert_eq!(sources, expected);
    assert!(run.stderr.contains("250 records"), "{}", run.stderr);
}

#[test]
fn throttled_with_retry_after_resends_the_same_batch() {
    let emu = MsEmulator::start(Config::default());
    emu.inject_on(
        Api::Sentinel,
        2,
        Fault::Throttle {
            secs: 1,
            header: true,
        },
    );
    let records = stix_range(150);
    let run = push(&emu, &["--parallel", "1"], &records);
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.assert_accounted(150);
    assert_eq!(run.count("accepted"), 150);
    assert_sentinel_holds(&emu, &records, &run);
    assert_eq!(emu.stats().throttled, 2);
    // Every record stored once: nothing skipped, nothing doubled.
    for versions in emu.stix_all(WORKSPACE).values() {
        assert_eq!(versions.len(), 1);
    }
    // The wait was honoured: the resend came at least a second after the 429.
    let log = emu.log();
    let first_429 = log.iter().find(|e| e.status == 429).unwrap();
    let next = log.iter().find(|e| e.seq > first_429.seq).unwrap();
    assert!(next.at_ms >= first_429.at_ms + 900, "{log:?}");
}

#[test]
fn throttled_by_the_window_waits_as_the_body_says() {
    // Sentinel's own 429: no Retry-After, "Try again in N seconds" in the body.
    let emu = MsEmulator::start(Config {
        sentinel_rpm: 3,
        window: Duration::from_secs(2),
        ..Config::default()
    });
    let records = stix_range(700);
    let run = push(&emu, &["--parallel", "2"], &records);
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.assert_accounted(700);
    assert_eq!(run.count("accepted"), 700);
    assert_sentinel_holds(&emu, &records, &run);
    let stats = emu.stats();
    assert!(
        stats.throttled >= 1,
        "the window must have throttled: {stats:?}"
    );
    assert_eq!(stats.objects_accepted, 700);
    // Never a tight loop: at most one 429 per request slot and pause.
    assert!(stats.throttled <= 8, "{stats:?}");
}

#[test]
fn server_errors_and_dropped_connections_are_retried() {
    let emu = MsEmulator::start(Config::default());
    emu.inject_on(Api::Sentinel, 3, Fault::Status(503));
    emu.inject_on(Api::Sentinel, 1, Fault::Drop);
    emu.inject_on(Api::Sentinel, 1, Fault::DropAfterProcessing);
    emu.inject_on(Api::Sentinel, 1, Fault::Status(500));
    // No answer within --timeout: the request is resent.
    emu.inject_on(Api::Sentinel, 1, Fault::Delay(Duration::from_secs(3)));
    let records = stix_range(300);
    let run = push(
        &emu,
        &["--parallel", "1", "--max-retries", "8", "--timeout", "1s"],
        &records,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.assert_accounted(300);
    assert_eq!(run.count("accepted"), 300);
    assert_sentinel_holds(&emu, &records, &run);
    assert!(run.stderr.contains("7 retried"), "{}", run.stderr);
}

#[test]
fn retries_exhausted_fail_one_batch_and_the_replay_delivers_it() {
    let emu = MsEmulator::start(Config::default());
    emu.inject_on(Api::Sentinel, 3, Fault::Status(502));
    let dir = tempfile::tempdir().unwrap();
    let failed = dir.path().join("failed.ndjson");
    let records = stix_range(250);
    let run = push(
        &emu,
        &[
            "--parallel",
            "1",
            "--max-retries",
            "2",
            "--failed",
            failed.to_str().unwrap(),
        ],
        &records,
    );
    assert_eq!(run.code, 3, "{}", run.stderr);
    run.assert_accounted(250);
    assert_eq!(run.count("failed"), 100);
    assert_eq!(run.count("accepted"), 150);
    let reason = run.with_status("failed")[0]["reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(reason.contains("502"), "{reason}");
    assert_sentinel_holds(&emu, &records, &run);
    // The failed file holds the original lines, ready to replay.
    let lines = read_ndjson(&failed);
    assert_eq!(lines, records[..100].to_vec());
    // Replayed in place: the file is read whole before it is rewritten.
    let f = failed.to_str().unwrap();
    let replay = run_cmd(command(&emu, &["--failed", f, f]), b"");
    assert_eq!(replay.code, 0, "{}", replay.stderr);
    replay.assert_accounted(100);
    assert_eq!(replay.count("accepted"), 100);
    assert_eq!(
        replay.results()[0]["source"],
        json!(format!("{}:1", failed.display()))
    );
    assert_sentinel_holds(&emu, &records, &replay);
    assert_eq!(emu.stix_current(WORKSPACE).len(), 250);
    assert_eq!(
        std::fs::read_to_string(&failed).unwrap(),
        "",
        "nothing failed this time"
    );
}

#[test]
fn per_record_errors_reject_only_those_records() {
    for spec_name in [false, true] {
        let emu = MsEmulator::start(Config {
            validation_error_messages: spec_name,
            ..Config::default()
        });
        let dir = tempfile::tempdir().unwrap();
        let rejected = dir.path().join("rejected.ndjson");
        let mut records = stix_range(120);
        records[3] = bad_stix(3);
        records[110] = bad_stix(110);
        let run = push(&emu, &["--rejected", rejected.to_str().unwrap()], &records);
        assert_eq!(run.code, 3, "{}", run.stderr);
        run.assert_accounted(120);
        assert_eq!(run.count("rejected"), 2);
        assert_eq!(run.count("accepted"), 118);
        let r = run.with_status("rejected");
        assert!(
            r[0]["reason"].as_str().unwrap().contains("valid_until"),
            "{r:?}"
        );
        let mut kept = read_ndjson(&rejected);
        kept.sort_by_key(|r| r["id"].as_str().unwrap().to_string());
        assert_eq!(kept, vec![records[3].clone(), records[110].clone()]);
        assert_sentinel_holds(&emu, &records, &run);
        assert_eq!(emu.stix_current(WORKSPACE).len(), 118);
    }
}

#[test]
fn malformed_lines_are_counted_and_the_rest_goes_on() {
    let emu = MsEmulator::start(Config::default());
    let mut input = ndjson(&stix_range(3));
    input.extend_from_slice(b"{not json\n{\"Event\":{}}\n");
    input.extend_from_slice(&ndjson(&[stix(3)]));
    let run = run_cmd(command(&emu, &[]), &input);
    assert_eq!(run.code, 3, "{}", run.stderr);
    run.assert_accounted(6);
    assert_eq!(run.count("accepted"), 4);
    assert_eq!(run.count("rejected"), 2);
    assert!(run.stderr.contains("stdin:4: not JSON"), "{}", run.stderr);
    let strict = run_cmd(command(&emu, &["--strict"]), &input);
    assert_eq!(strict.code, 3);
    assert!(strict.stderr.contains("stdin:4"), "{}", strict.stderr);
}

#[test]
fn a_record_kind_that_does_not_match_the_target_stops_at_once() {
    let emu = MsEmulator::start(Config::default());
    let records: Vec<_> = (0..50).map(defender).collect();
    let run = push(&emu, &[], &records);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stdout.is_empty());
    assert!(
        run.stderr.contains("stdin:1") && run.stderr.contains("Defender"),
        "{}",
        run.stderr
    );
    assert_eq!(emu.stats().objects_received, 0);
}

#[test]
fn wrong_secret_exits_4_without_printing_it() {
    let emu = MsEmulator::start(Config::default());
    let secret = "Wr0ng~Secret.Value_that_must_not_leak";
    let mut cmd = command(&emu, &[]);
    cmd.env("AZURE_CLIENT_SECRET", secret);
    let run = run_cmd(cmd, &ndjson(&stix_range(5)));
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(run.stdout.is_empty());
    assert!(run.stderr.contains("invalid_client"), "{}", run.stderr);
    assert!(run.stderr.contains("AADSTS7000215"), "{}", run.stderr);
    assert!(run.stderr.contains("hint"), "{}", run.stderr);
    assert!(!run.stderr.contains(secret) && !run.stderr.contains(CLIENT_SECRET));
    assert_eq!(emu.stats().objects_received, 0);

    // The same from a secret file.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("secret");
    std::fs::write(&file, format!("{secret}\n")).unwrap();
    let mut cmd = command(&emu, &["--client-secret-file", file.to_str().unwrap()]);
    cmd.env_remove("AZURE_CLIENT_SECRET");
    let run = run_cmd(cmd, &ndjson(&stix_range(5)));
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(!run.stderr.contains(secret));
}

#[test]
fn token_expiring_mid_run_is_renewed() {
    let emu = MsEmulator::start(Config {
        token_lifetime: Duration::from_secs(2),
        ..Config::default()
    });
    // 12 requests at 240 a minute (about 2.8 s): the run outlives the first token.
    let records = stix_range(1200);
    let run = push(&emu, &["--rpm", "240", "--parallel", "1"], &records);
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.assert_accounted(1200);
    assert_eq!(run.count("accepted"), 1200);
    assert_sentinel_holds(&emu, &records, &run);
    let stats = emu.stats();
    assert!(stats.tokens_issued >= 2, "{stats:?}");
    assert_eq!(
        stats.by_status.get(&401),
        None,
        "renewed before expiry: {stats:?}"
    );
}

#[test]
fn a_401_mid_run_renews_once_and_resends() {
    let emu = MsEmulator::start(Config::default());
    emu.inject_on(Api::Sentinel, 1, Fault::ExpireToken);
    let records = stix_range(200);
    let run = push(&emu, &["--parallel", "1"], &records);
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.assert_accounted(200);
    assert_eq!(run.count("accepted"), 200);
    assert_sentinel_holds(&emu, &records, &run);
    assert_eq!(emu.stats().tokens_issued, 2);
}

#[test]
fn sigterm_and_sigint_mid_run_report_the_rest_as_interrupted() {
    for (sig, code) in [(15, 143), (2, 130)] {
        interrupted_run(sig, code);
    }
}

fn interrupted_run(sig: i32, code: i32) {
    let emu = MsEmulator::start(Config::default());
    let records = stix_range(2000);
    let mut cmd = command(&emu, &["--rpm", "120", "--parallel", "1"]);
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = ndjson(&records);
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        let _ = stdin.write_all(&input);
    });
    // Wait until a few batches went through, then stop it.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while emu.stats().objects_accepted < 300 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    unsafe_kill(child.id(), sig);
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    };
    assert_eq!(run.code, code, "{}", run.stderr);
    let read = run.results().len();
    run.assert_accounted(read);
    assert!(run.count("accepted") >= 300, "{:?}", run.statuses());
    assert!(run.count("failed") >= 1, "{:?}", run.statuses());
    for f in run.with_status("failed") {
        assert_eq!(f["reason"], "interrupted");
    }
    assert_eq!(
        run.count("accepted") as u64,
        emu.stats().objects_accepted,
        "exactly the accepted records are at the remote"
    );
    assert_sentinel_holds(&emu, &records, &run);
}

/// Sends a signal with the `kill` command (no libc dependency needed).
fn unsafe_kill(pid: u32, sig: i32) {
    let kill = std::process::Command::new("kill")
        .args([format!("-{sig}"), pid.to_string()])
        .output()
        .unwrap();
    assert!(
        kill.status.success(),
        "{}",
        String::from_utf8_lossy(&kill.stderr)
    );
}

#[test]
fn dry_run_needs_no_credentials_and_sends_nothing() {
    let emu = MsEmulator::start(Config::default());
    let mut cmd = command(&emu, &["--dry-run"]);
    cmd.env_remove("AZURE_CLIENT_SECRET")
        .env_remove("AZURE_TENANT_ID")
        .env_remove("AZURE_CLIENT_ID")
        .env("AZURE_CLIENT_SECRET", "dry-run-must-not-print-this");
    let records = stix_range(150);
    let run = run_cmd(cmd, &ndjson(&records));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let reqs = run.results();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0]["method"], "POST");
    assert!(reqs[0]["url"]
        .as_str()
        .unwrap()
        .ends_with("threat-intelligence-stix-objects:upload?api-version=2024-02-01-preview"));
    assert_eq!(reqs[0]["body"]["sourcesystem"], "MISP");
    assert_eq!(
        reqs[0]["body"]["stixobjects"].as_array().unwrap().len(),
        100
    );
    assert_eq!(reqs[1]["body"]["stixobjects"][49], records[149]);
    assert!(!run.stdout.contains("dry-run-must-not-print-this"));
    assert!(!run.stderr.contains("dry-run-must-not-print-this"));
    assert_eq!(emu.stats().requests, 0);
}

/// docs/graph-push.md's recipe against the emulator, run as written from a
/// checkout (the sample feed through ioc-map into graph-push, twice): the
/// emulator's fixed credentials, workspace and address variables work.
#[test]
fn the_emulator_recipe_runs_as_written() {
    let emu = MsEmulator::start(Config::default());
    let dir = tempfile::tempdir().unwrap();
    let port = emu.url().rsplit(':').next().unwrap().to_string();
    std::fs::write(dir.path().join("port"), port).unwrap();
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    std::os::unix::fs::symlink(examples, dir.path().join("examples")).unwrap();
    let block = docs::tested(&docs::section("graph-push"), "emulator");
    // The tools in the block: the real binaries.
    let script = format!(
        "ioc-map() {{ \"$IOC_MAP\" \"$@\"; }}\ngraph-push() {{ \"$GRAPH_PUSH\" \"$@\"; }}\n{}",
        block.code
    );
    let run = || {
        let out = doc_block(&script, dir.path())
            .env("IOC_MAP", env!("CARGO_BIN_EXE_ioc-map"))
            .env("GRAPH_PUSH", env!("CARGO_BIN_EXE_graph-push"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{stderr}");
        read_ndjson(&dir.path().join("results.ndjson"))
    };
    let status = |results: &[serde_json::Value], s: &str| {
        results.iter().filter(|r| r["status"] == s).count()
    };
    let first = run();
    let accepted = status(&first, "accepted");
    assert!(accepted > 0, "{first:?}");
    assert_eq!(emu.stix_current(WORKSPACE).len(), accepted);
    let again = run();
    assert_eq!(status(&again, "unchanged"), accepted, "{again:?}");
    assert_eq!(status(&again, "accepted"), 0, "{again:?}");
}
