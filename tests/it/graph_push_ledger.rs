//! graph-push's ledger across runs against the emulator: unchanged, stale,
//! version bumps with the first `created` kept, never sent, refresh before
//! lapsing, `--retire-missing` with its guard, and restoration.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::support::emulator::ms::{Api, Config, MsEmulator, WORKSPACE};
use crate::support::push::*;

fn uploads(emu: &MsEmulator) -> usize {
    emu.log()
        .iter()
        .filter(|e| e.api == Some(Api::Sentinel))
        .count()
}

#[test]
fn unchanged_records_are_not_resent_and_changes_are_new_versions() {
    let emu = MsEmulator::start(Config::default());
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("sentinel.ledger");
    let l = ledger.to_str().unwrap();
    let records = stix_range(150);
    let first = push(&emu, &["--ledger", l], &records);
    assert_eq!(first.code, 0, "{}", first.stderr);
    first.assert_accounted(150);
    assert_eq!(first.count("accepted"), 150);
    assert_sentinel_holds(&emu, &records, &first);
    let sent = uploads(&emu);

    // Same input again (a re-pull of the same window): nothing goes out.
    let again = push(&emu, &["--ledger", l], &records);
    assert_eq!(again.code, 0, "{}", again.stderr);
    again.assert_accounted(150);
    assert_eq!(again.count("unchanged"), 150);
    assert_eq!(uploads(&emu), sent);

    // A changed record with the same `modified` and a different `created`
    // (ioc-map's view moved) goes out as a real new version.
    let mut changed = records.clone();
    changed[5]["name"] = json!("C2 domain 5, renamed in MISP");
    changed[5]["created"] = json!("2026-03-01T00:00:00.000Z");
    // Only the validity moved, far from lapsing: unchanged.
    changed[6]["valid_until"] = json!("2027-07-01T00:00:00.000Z");
    let third = push(&emu, &["--ledger", l], &changed);
    assert_eq!(third.code, 0, "{}", third.stderr);
    third.assert_accounted(150);
    assert_eq!(third.count("accepted"), 1);
    assert_eq!(third.count("unchanged"), 149);
    let mut expected = changed[5].clone();
    expected["created"] = records[5]["created"].clone();
    expected["modified"] = json!("2026-03-02T10:15:00.001Z");
    assert_sentinel_holds(&emu, &[expected], &third);
    let stats = emu.stats();
    assert_eq!(stats.stix_not_newer, 0, "every version is newer: {stats:?}");
    assert_eq!(
        stats.stix_created_changed, 0,
        "created never changes: {stats:?}"
    );
}

#[test]
fn an_old_replay_is_stale_and_a_retirement_never_sent_is_skipped() {
    let emu = MsEmulator::start(Config::default());
    let dir = tempfile::tempdir().unwrap();
    let l = dir.path().join("l").to_str().unwrap().to_string();
    let mut newer = stix(1);
    newer["modified"] = json!("2026-05-01T00:00:00.000Z");
    newer["name"] = json!("newer");
    let run = push(&emu, &["--ledger", &l], &[newer.clone()]);
    assert_eq!(run.count("accepted"), 1, "{}", run.stderr);

    let mut retired_unknown = stix(99);
    retired_unknown["valid_until"] = json!(NOW);
    let replay = push(&emu, &["--ledger", &l], &[stix(1), retired_unknown]);
    assert_eq!(replay.code, 0, "{}", replay.stderr);
    replay.assert_accounted(2);
    let stale = replay.with_status("stale");
    assert_eq!(stale.len(), 1);
    assert!(stale[0]["reason"]
        .as_str()
        .unwrap()
        .contains("newer version"));
    let skipped = replay.with_status("skipped");
    assert_eq!(skipped[0]["reason"], "never sent");
    assert_eq!(
        emu.stix_current(WORKSPACE)[newer["id"].as_str().unwrap()],
        newer
    );
}

#[test]
fn a_lapsed_record_is_skipped_with_a_ledger_and_sent_without_one() {
    // Live by its own fields (its validity ends after its `modified`), but
    // over at graph-push's now.
    let mut lapsed = stix(7);
    lapsed["valid_until"] = json!("2026-11-01T00:00:00.000Z");
    let emu = MsEmulator::start(Config::default());
    let dir = tempfile::tempdir().unwrap();
    let l = dir.path().join("l").to_str().unwrap().to_string();
    let run = push(&emu, &["--ledger", &l], &[lapsed.clone()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let skipped = run.with_status("skipped");
    assert_eq!(skipped.len(), 1, "{}", run.stdout);
    assert_eq!(skipped[0]["reason"], "never sent");
    assert!(emu.stix_current(WORKSPACE).is_empty());
    // Without a ledger no key is known to be new: it goes, and ends
    // whatever the target held under its id.
    let run = push(&emu, &[], &[lapsed.clone()]);
    assert_eq!(run.count("accepted"), 1, "{}", run.stdout);
    assert_eq!(
        emu.stix_current(WORKSPACE)[lapsed["id"].as_str().unwrap()]["valid_until"],
        lapsed["valid_until"]
    );
}

#[test]
fn a_validity_about_to_lapse_is_refreshed() {
    let emu = MsEmulator::start(Config::default());
    let dir = tempfile::tempdir().unwrap();
    let l = dir.path().join("l").to_str().unwrap().to_string();
    let mut r = stix(2);
    r["valid_until"] = json!("2026-12-01T00:00:00.000Z"); // 3 days after NOW
    assert_eq!(
        push(&emu, &["--ledger", &l], &[r.clone()]).count("accepted"),
        1
    );
    assert_eq!(
        push(&emu, &["--ledger", &l], &[r.clone()]).count("unchanged"),
        1
    );
    r["valid_until"] = json!("2027-03-01T00:00:00.000Z");
    let run = push(&emu, &["--ledger", &l], &[r.clone()]);
    assert_eq!(run.count("accepted"), 1, "{}", run.stdout);
    let held = &emu.stix_current(WORKSPACE)[r["id"].as_str().unwrap()];
    assert_eq!(held["valid_until"], "2027-03-01T00:00:00.000Z");
    assert_eq!(held["modified"], "2026-03-02T10:15:00.001Z");
}

/// Deleted in MISP: `--retire-missing` (after `args`) with a ledger in `dir`
/// on all of `records` (each accepted), then on all but the first (exit 0,
/// every other record unchanged). The second run, the ledger and the input file.
fn first_of_gone(
    emu: &MsEmulator,
    dir: &Path,
    records: &[Value],
    args: &[&str],
) -> (Run, String, PathBuf) {
    let l = dir.join("l").to_str().unwrap().to_string();
    let input = dir.join("full.ndjson");
    let inp = input.to_str().unwrap();
    let args = [args, &["--ledger", &l, "--retire-missing", inp]].concat();
    write_ndjson(&input, records);
    let first = run_cmd(command(emu, &args), b"");
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_eq!(first.count("accepted"), records.len());

    write_ndjson(&input, &records[1..]);
    let run = run_cmd(command(emu, &args), b"");
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.assert_accounted(records.len());
    assert_eq!(run.count("unchanged"), records.len() - 1);
    (run, l, input)
}

#[test]
fn retire_missing_retires_what_left_the_input_within_its_guard() {
    let emu = MsEmulator::start(Config::default());
    let dir = tempfile::tempdir().unwrap();
    let records = stix_range(20);
    // One attribute deleted in MISP: 1 of 20 live keys (5%) is retired.
    let (run, l, input) = first_of_gone(&emu, dir.path(), &records, &[]);
    let inp = input.to_str().unwrap();
    let retired: Vec<Value> = run
        .results()
        .into_iter()
        .filter(|r| r["source"] == "ledger")
        .collect();
    assert_eq!(retired.len(), 1);
    assert_eq!(retired[0]["status"], "accepted");
    let id = records[0]["id"].as_str().unwrap();
    assert_eq!(retired[0]["key"], id);
    // The retirement carries what the ledger kept: identity, pattern, validity
    // start, name and markings; the rest stays in the earlier version.
    let held = &emu.stix_current(WORKSPACE)[id];
    let mut expected = records[0].clone();
    let o = expected.as_object_mut().unwrap();
    for f in [
        "indicator_types",
        "confidence",
        "labels",
        "external_references",
    ] {
        o.remove(f);
    }
    expected["valid_until"] = json!("2026-11-28T00:00:00.000Z");
    expected["modified"] = json!("2026-11-28T00:00:00.000Z");
    assert_eq!(held, &expected);

    // A cut-down input would retire 10 of 19 (53%): refused, nothing retired.
    write_ndjson(&input, &records[1..10]);
    let before = uploads(&emu);
    let refused = run_cmd(
        command(&emu, &["--ledger", &l, "--retire-missing", inp]),
        b"",
    );
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("refusing to retire 10 of 19"),
        "{}",
        refused.stderr
    );
    refused.assert_accounted(9);
    assert_eq!(uploads(&emu), before);
    // --force does it.
    let forced = run_cmd(
        command(&emu, &["--ledger", &l, "--retire-missing", "--force", inp]),
        b"",
    );
    assert_eq!(forced.code, 0, "{}", forced.stderr);
    forced.assert_accounted(19);
    assert_eq!(forced.count("accepted"), 10);

    // A restored attribute comes back as a new, live version.
    write_ndjson(&input, &records[..1]);
    let restored = run_cmd(command(&emu, &["--ledger", &l, inp]), b"");
    assert_eq!(restored.count("accepted"), 1, "{}", restored.stdout);
    let held = &emu.stix_current(WORKSPACE)[id];
    assert_eq!(held["valid_until"], records[0]["valid_until"]);
    assert_eq!(held["modified"], "2026-11-28T00:00:00.001Z");
    let stats = emu.stats();
    assert_eq!(stats.stix_not_newer, 0, "{stats:?}");
    assert_eq!(stats.stix_created_changed, 0, "{stats:?}");

    // Never from a pipe.
    let piped = push(&emu, &["--ledger", &l, "--retire-missing"], &records);
    assert_eq!(piped.code, 2, "{}", piped.stderr);
    assert!(piped.stderr.contains("never stdin"), "{}", piped.stderr);
}

#[test]
fn a_graph_retirement_deactivates_the_indicator() {
    // The tiIndicator page's way to deactivate: `isActive: false`, besides an
    // expiry of now. A record that says so is a retirement by itself.
    let emu = MsEmulator::start(Config::default());
    let dir = tempfile::tempdir().unwrap();
    let records: Vec<Value> = (0..20).map(graph).collect();
    let (_, l, _) = first_of_gone(&emu, dir.path(), &records, &["--target", "graph"]);
    let gone = records[0]["externalId"].as_str().unwrap();
    let held = emu.graph_indicators();
    let sent = &held[gone].last().unwrap().sent;
    assert_eq!(sent["isActive"], false, "{sent}");
    assert_eq!(sent["expirationDateTime"], NOW, "{sent}");
    assert_eq!(sent["domainName"], records[0]["domainName"], "{sent}");
    let kept = records[1]["externalId"].as_str().unwrap();
    assert_eq!(held[kept].len(), 1, "unchanged: sent once");

    // A replay of the retirement (from --failed, say) is still one.
    let replay = dir.path().join("replay.ndjson");
    write_ndjson(&replay, std::slice::from_ref(sent));
    let again = run_cmd(
        command(
            &emu,
            &[
                "--target",
                "graph",
                "--ledger",
                &l,
                replay.to_str().unwrap(),
            ],
        ),
        b"",
    );
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(again.count("unchanged"), 1, "{}", again.stdout);
}

#[test]
fn a_ledger_belongs_to_one_target_and_workspace() {
    let emu = MsEmulator::start(Config::default());
    let dir = tempfile::tempdir().unwrap();
    let l = dir.path().join("l").to_str().unwrap().to_string();
    assert_eq!(push(&emu, &["--ledger", &l], &stix_range(2)).code, 0);
    let other = push(
        &emu,
        &["--ledger", &l, "--target", "defender"],
        &[defender(1)],
    );
    assert_eq!(other.code, 2, "{}", other.stderr);
    assert!(other.stderr.contains("one ledger per target and workspace"));
}

#[test]
fn a_key_twice_in_one_run_gets_two_real_versions() {
    // A replayed --failed file beside a new pull can hold a key twice.
    let emu = MsEmulator::start(Config::default());
    let dir = tempfile::tempdir().unwrap();
    let l = dir.path().join("l").to_str().unwrap().to_string();
    assert_eq!(
        push(&emu, &["--ledger", &l], &[stix(1)]).count("accepted"),
        1
    );
    let mut a = stix(1);
    a["name"] = json!("first edit");
    let mut b = stix(1);
    b["name"] = json!("second edit");
    let run = push(
        &emu,
        &["--ledger", &l],
        &[a.clone(), stix(2), b.clone(), b.clone()],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.assert_accounted(4);
    assert_eq!(run.count("accepted"), 3);
    assert_eq!(run.count("unchanged"), 1);
    let versions = emu.stix_versions(WORKSPACE, a["id"].as_str().unwrap());
    assert_eq!(versions.len(), 3);
    assert_eq!(versions[2].object["name"], "second edit");
    assert_eq!(versions[2].object["modified"], "2026-03-02T10:15:00.002Z");
    assert!(versions.iter().all(|v| v.newer && !v.created_changed));
}

/// One MISP event line: domain attributes (number, value, soft-deleted).
fn misp_event(attrs: &[(u32, &str, bool)]) -> String {
    let attributes: Vec<Value> = attrs
        .iter()
        .map(|(n, value, deleted)| {
            json!({"uuid": format!("00000000-0000-4000-8000-{n:012}"), "type": "domain",
                "category": "Network activity", "value": value, "to_ids": true,
                "deleted": deleted, "timestamp": "1795132800"})
        })
        .collect();
    json!({"Event": {"uuid": "5f0e8b1a-6d2c-4a8e-b1f3-0c9d8e7f6a5b", "info": "Clock test",
        "date": "2026-11-20", "timestamp": "1795132800", "publish_timestamp": "1795132800",
        "published": true, "Tag": [{"name": "tlp:green"}], "Attribute": attributes}})
    .to_string()
}

/// ioc-map's STIX records for `input`, mapped at `now`.
fn ioc_map(now: &str, input: &str) -> Vec<Value> {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_ioc-map"));
    cmd.args(["--now", now]);
    let run = run_cmd(cmd, input.as_bytes());
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.results()
}

#[test]
fn a_retirement_from_a_clock_ahead_of_graph_push_is_still_a_retirement() {
    // In a pipeline ioc-map can read the clock a few milliseconds after
    // graph-push, and a mapping host's clock can run ahead: its retirements
    // then end their validity after graph-push's `now`.
    let emu = MsEmulator::start(Config::default());
    let dir = tempfile::tempdir().unwrap();
    let l = dir.path().join("l").to_str().unwrap().to_string();
    let live = ioc_map(
        NOW,
        &misp_event(&[
            (1, "keep.example.com", false),
            (2, "gone.example.com", false),
        ]),
    );
    assert_eq!(live.len(), 2);
    let first = push(&emu, &["--ledger", &l], &live);
    assert_eq!(first.count("accepted"), 2, "{}", first.stderr);
    let deleted = misp_event(&[
        (1, "keep.example.com", false),
        (2, "gone.example.com", true),
        (3, "never.example.com", true),
    ]);
    let (gone, never) = (
        live[1]["id"].clone(),
        "indicator--00000000-0000-4000-8000-000000000003",
    );
    for (ahead, gone_status) in [
        ("2026-11-28T00:00:00.005Z", "accepted"),
        ("2026-11-28T01:00:00.000Z", "unchanged"),
    ] {
        let mapped = ioc_map(ahead, &deleted);
        assert_eq!(mapped.len(), 3);
        for r in &mapped[1..] {
            assert_eq!(r["valid_until"], ahead, "{r}");
        }
        // graph-push's clock: NOW, behind ioc-map's.
        let run = push(&emu, &["--ledger", &l], &mapped);
        assert_eq!(run.code, 0, "{}", run.stderr);
        run.assert_accounted(3);
        let status = |key: &Value| {
            run.results()
                .into_iter()
                .find(|r| &r["key"] == key)
                .unwrap_or_else(|| panic!("no result for {key}"))
        };
        assert_eq!(status(&live[0]["id"])["status"], "unchanged");
        assert_eq!(status(&gone)["status"], gone_status, "{ahead}");
        let skipped = status(&json!(never));
        assert_eq!(skipped["status"], "skipped", "{ahead}: {skipped}");
        assert_eq!(skipped["reason"], "never sent");
    }
    let held = emu.stix_current(WORKSPACE);
    assert!(!held.contains_key(never), "no indicator born dead");
    let retired = &held[gone.as_str().unwrap()];
    assert_eq!(retired["valid_until"], "2026-11-28T00:00:00.005Z");
    assert_eq!(retired["modified"], "2026-11-28T00:00:00.005Z");
}
