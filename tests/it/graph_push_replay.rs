//! graph-push: a run that stops before reading all its input keeps the FILE lines it
//! never read in `--failed`, so the documented replay pattern `--failed F F new` loses
//! nothing when the run stops halfway (an authorisation error, a signal).

use std::collections::BTreeSet;
use std::time::Duration;

use crate::support::emulator::ms::{Api, Config, Fault, MsEmulator, WORKSPACE};
use crate::support::push::*;

fn ids<'a>(v: impl IntoIterator<Item = &'a serde_json::Value>, field: &str) -> BTreeSet<String> {
    v.into_iter()
        .map(|r| r[field].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_stopped_run_keeps_the_unread_lines_of_its_replay_file() {
    let emu = MsEmulator::start(Config::default());
    emu.set_latency(Duration::from_millis(100));
    let tmp = tempfile::tempdir().unwrap();
    let failed = tmp.path().join("failed.ndjson");
    let ledger = tmp.path().join("ledger");
    let records = stix_range(1000);
    write_ndjson(&failed, &records);
    let (f, l) = (failed.to_str().unwrap(), ledger.to_str().unwrap());
    let args = [
        "--ledger",
        l,
        "--batch-size",
        "100",
        "--parallel",
        "1",
        "--failed",
        f,
        f,
        "-",
    ];

    // The first request is refused (403): the run stops with exit 4.
    emu.inject_on(Api::Sentinel, 1, Fault::Status(403));
    let run = push(&emu, &args, &[]);
    assert_eq!(run.code, 4, "{}", run.stderr);
    run.assert_accounted(1000);
    let st = run.statuses();
    assert_eq!(
        st.get("failed").copied().unwrap_or(0) + st.get("accepted").copied().unwrap_or(0),
        1000,
        "{st:?}"
    );
    let unread = run
        .with_status("failed")
        .iter()
        .filter(|r| r["reason"] == "not read: the run stopped")
        .count();
    assert!(unread > 0, "{st:?}\n{}", run.stderr);
    // Every record not accepted is still there to replay, once.
    let kept = read_ndjson(&failed);
    assert_eq!(kept.len(), run.count("failed"));
    assert_eq!(ids(&kept, "id"), ids(&run.with_status("failed"), "key"));
    assert_eq!(emu.stix_current(WORKSPACE).len(), run.count("accepted"));

    // The replay delivers the rest.
    emu.set_latency(Duration::ZERO);
    let run = push(&emu, &args, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(read_ndjson(&failed).is_empty());
    assert_eq!(emu.stix_current(WORKSPACE).len(), 1000);
}

#[test]
fn a_usage_error_leaves_the_replay_file_alone() {
    let emu = MsEmulator::start(Config::default());
    let tmp = tempfile::tempdir().unwrap();
    let failed = tmp.path().join("failed.ndjson");
    let records = stix_range(5);
    write_ndjson(&failed, &records);
    let f = failed.to_str().unwrap();
    // STIX records sent to Defender: exit 2 on the first record.
    let run = push(&emu, &["--target", "defender", "--failed", f, f], &[]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_eq!(read_ndjson(&failed), records);
}
