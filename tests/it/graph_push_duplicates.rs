//! graph-push: a key that comes twice in one run (docs/design.md#results). The same
//! content goes out once (`unchanged`, `duplicate in this run`); other content
//! goes as a real newer version, never in the request of the first copy; an
//! older copy is `stale`. With or without a ledger, and in the documented
//! replay pattern `--failed F F -`.

use serde_json::{json, Value};

use crate::support::emulator::ms::{Api, Config, MsEmulator, WORKSPACE};
use crate::support::push::*;

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

/// Object counts of the Sentinel upload requests, in order.
fn uploads(emu: &MsEmulator) -> Vec<usize> {
    emu.log()
        .iter()
        .filter(|e| e.api == Some(Api::Sentinel))
        .map(|e| e.objects)
        .collect()
}

/// Versions the emulator holds of one id, and that each was newer than the last.
fn versions(emu: &MsEmulator, key: &Value) -> Vec<Value> {
    let v = emu.stix_versions(WORKSPACE, &id(key));
    assert!(v.iter().all(|x| x.newer && !x.created_changed), "{v:#?}");
    v.into_iter().map(|x| x.object).collect()
}

fn reasons(run: &Run, status: &str) -> Vec<String> {
    run.with_status(status)
        .iter()
        .map(|r| r["reason"].as_str().unwrap_or("").to_string())
        .collect()
}

/// Input: key 1 twice, same content; key 2 twice, the second renamed with the
/// same `modified`; key 3 newer first, then an older other copy; key 4 once.
fn twice() -> (Vec<Value>, Value) {
    let mut renamed = stix(2);
    renamed["name"] = json!("C2 domain 2, renamed in MISP");
    let mut newer = stix(3);
    newer["modified"] = json!("2026-04-01T00:00:00.000Z");
    newer["name"] = json!("newer");
    let input = vec![
        stix(1),
        stix(2),
        newer,
        stix(1),
        renamed.clone(),
        stix(3),
        stix(4),
    ];
    (input, renamed)
}

fn check_twice(emu: &MsEmulator, run: &Run) {
    let (input, renamed) = twice();
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.assert_accounted(input.len());
    assert_eq!(run.count("accepted"), 5, "{:?}", run.statuses());
    assert_eq!(run.count("unchanged"), 1, "{:?}", run.statuses());
    assert_eq!(run.count("stale"), 1, "{:?}", run.statuses());
    assert_eq!(reasons(run, "unchanged"), ["duplicate in this run"]);
    assert!(
        reasons(run, "stale")[0].contains("newer version"),
        "{}",
        run.stdout
    );
    // One version per content.
    assert_eq!(versions(emu, &stix(1)), [stix(1)]);
    assert_eq!(versions(emu, &input[2]), [input[2].clone()]);
    assert_eq!(versions(emu, &stix(4)), [stix(4)]);
    // The renamed copy is a real newer version, in a request of its own.
    let mut bumped = renamed;
    bumped["modified"] = json!("2026-03-02T10:15:00.001Z");
    assert_eq!(versions(emu, &stix(2)), [stix(2), bumped.clone()]);
    assert_eq!(emu.stix_current(WORKSPACE)[&id(&stix(2))], bumped);
    assert_eq!(uploads(emu).iter().sum::<usize>(), 5);
    assert!(uploads(emu).len() >= 2, "{:?}", uploads(emu));
    assert_eq!(emu.stats().stix_not_newer, 0, "{:?}", emu.stats());
}

#[test]
fn the_same_key_twice_without_a_ledger() {
    let emu = MsEmulator::start(Config::default());
    let (input, _) = twice();
    let run = push(&emu, &["--batch-size", "100"], &input);
    check_twice(&emu, &run);
}

#[test]
fn the_same_key_twice_with_a_new_ledger() {
    let emu = MsEmulator::start(Config::default());
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("sentinel.ledger");
    let l = ledger.to_str().unwrap();
    let (input, _) = twice();
    let run = push(&emu, &["--batch-size", "100", "--ledger", l], &input);
    check_twice(&emu, &run);

    // The next run, with the latest copy of each key and the old key 3 again,
    // sends nothing.
    let sent = uploads(&emu).len();
    let latest = [
        stix(1),
        input[4].clone(),
        input[2].clone(),
        stix(4),
        stix(3),
    ];
    let again = push(&emu, &["--batch-size", "100", "--ledger", l], &latest);
    assert_eq!(again.code, 0, "{}", again.stderr);
    again.assert_accounted(latest.len());
    assert_eq!(again.count("unchanged"), 4, "{}", again.stdout);
    assert_eq!(again.count("stale"), 1, "{}", again.stdout);
    assert_eq!(uploads(&emu).len(), sent);
}

#[test]
fn many_copies_of_one_key_at_full_speed() {
    let emu = MsEmulator::start(Config::default());
    let records = stix_range(50);
    let input: Vec<Value> = records
        .iter()
        .chain(&records)
        .chain(&records)
        .cloned()
        .collect();
    let run = push(&emu, &["--batch-size", "7", "--parallel", "3"], &input);
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.assert_accounted(150);
    assert_eq!(run.count("accepted"), 50);
    assert_eq!(run.count("unchanged"), 100);
    for r in &records {
        assert_eq!(versions(&emu, r), std::slice::from_ref(r));
    }
}

#[test]
fn the_replay_pattern_with_the_key_also_in_the_new_pull() {
    let emu = MsEmulator::start(Config::default());
    let dir = tempfile::tempdir().unwrap();
    let failed = dir.path().join("failed.ndjson");
    let ledger = dir.path().join("sentinel.ledger");
    let (f, l) = (failed.to_str().unwrap(), ledger.to_str().unwrap());
    // Last run's failures: key 1 as it is now, key 2 in an older version.
    let mut old2 = stix(2);
    old2["modified"] = json!("2026-03-02T05:00:00.000Z");
    old2["name"] = json!("before the edit");
    write_ndjson(&failed, &[stix(1), old2.clone()]);
    // The new pull holds both keys again (key 2 edited since) and key 3.
    let pull = [stix(1), stix(2), stix(3)];
    for args in [
        vec!["--failed", f, f, "-"],
        vec!["--ledger", l, "--failed", f, f, "-"],
    ] {
        emu.reset();
        write_ndjson(&failed, &[stix(1), old2.clone()]);
        let run = push(&emu, &args, &pull);
        assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
        run.assert_accounted(5);
        let source_of = |key: &Value, status: &str| -> Vec<String> {
            run.with_status(status)
                .iter()
                .filter(|r| r["key"] == key["id"])
                .map(|r| r["source"].as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(source_of(&stix(1), "accepted"), [format!("{f}:1")]);
        assert_eq!(
            source_of(&stix(1), "unchanged"),
            ["stdin:1"],
            "{}",
            run.stdout
        );
        assert_eq!(run.count("accepted"), 4, "{args:?}: {}", run.stdout);
        assert_eq!(versions(&emu, &stix(1)), [stix(1)]);
        assert_eq!(versions(&emu, &stix(2)), [old2.clone(), stix(2)]);
        assert_eq!(versions(&emu, &stix(3)), [stix(3)]);
        assert_eq!(emu.stats().stix_not_newer, 0, "{:?}", emu.stats());
        assert!(read_ndjson(&failed).is_empty());
    }
}
