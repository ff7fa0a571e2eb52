//! End-to-end proof: `misp-pull | ioc-map | graph-push` as real processes in
//! a real shell pipeline against the MISP and Microsoft emulators on 127.0.0.1; every
//! indicator stored once with the right pattern, TLP and validity; additions, edits,
//! an event-level TLP change, soft deletion, unpublishing and hard deletion carried by
//! incremental and full runs; and injected 429s, 5xx and dropped connections losing
//! nothing, with the state committed as docs/design.md#state-and-commit says (through
//! scripts/misp-sync).

use std::path::Path;

use serde_json::{json, Value};

use crate::support::emulator::misp as misp_emulator;
use crate::support::emulator::misp::Fault as MispFault;
use crate::support::emulator::ms::{Api, Config, Fault, MsEmulator, CLIENT_ID, WORKSPACE};
use crate::support::pipeline::*;

fn versions(ms: &MsEmulator, id: &str) -> usize {
    ms.stix_versions(WORKSPACE, id).len()
}

fn current(ms: &MsEmulator, id: &str) -> Value {
    ms.stix_current(WORKSPACE)
        .remove(id)
        .unwrap_or_else(|| panic!("Sentinel has no {id}"))
}

fn sentinel_requests(ms: &MsEmulator) -> usize {
    ms.log()
        .iter()
        .filter(|e| e.api == Some(Api::Sentinel))
        .count()
}

/// The weekly full run by hand: complete files first, each stage's status checked,
/// then graph-push --retire-missing on the files (docs/design.md#retirement).
fn full_run(misp: &misp_emulator::Emulator, ms: &MsEmulator, dir: &Path, now: &str) -> Ran {
    let script = r#"
set -o pipefail
"$PULL" --now "$NOW" --retry-wait 10ms -o "$D/full.ndjson" || exit 11
"$MAP" --now "$NOW" -o "$D/full-stix.ndjson" "$D/full.ndjson" || exit 12
"$PUSH" --workspace-id "$WS" --api-url "$API" --ledger "$D/ledger" --now "$NOW" \
    --rpm 60000 --retry-base 10ms --retire-missing --max-retire 50 \
    "$D/full-stix.ndjson" > "$D/results.ndjson"
"#;
    run(pipeline_script(script, misp, ms, dir, now))
}

/// The indicator ids the workspace holds (besides them, the creator's
/// identity that ioc-map's default `--context inline` writes).
fn held_indicators(ms: &MsEmulator) -> Vec<String> {
    let held = ms.stix_current(WORKSPACE).into_keys();
    held.filter(|k| k.starts_with("indicator--")).collect()
}

#[test]
fn pipeline_creates_updates_and_retires() {
    let misp = misp_emulator();
    let ms = ms_emulator();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let want = expected();

    // First run: no state yet, so everything published is pulled.
    let (st, ran) = shell_pipeline(&misp, &ms, dir, NOW);
    assert_eq!(st, [0, 0, 0], "stage statuses\n{}", ran.stderr);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_sentinel_holds(&ms, WORKSPACE, &want);
    for i in &want {
        assert_eq!(versions(&ms, &i.id), 1, "{}", i.id);
    }
    let results = ndjson(&dir.join("results.ndjson"));
    assert_eq!(
        statuses(&results),
        [("accepted".to_string(), want.len())].into()
    );
    assert_eq!(state_mark(&dir.join("pull.state")), Some(T0 + 120));
    assert!(!dir.join("pull.state.next").exists(), "state committed");

    // The same window again: the ledger turns it into `unchanged`, no request.
    let sent = sentinel_requests(&ms);
    let (st, ran) = shell_pipeline(&misp, &ms, dir, NOW);
    assert_eq!(st, [0, 0, 0], "{}", ran.stderr);
    assert_eq!(sentinel_requests(&ms), sent, "nothing resent");
    let results = ndjson(&dir.join("results.ndjson"));
    assert_eq!(
        statuses(&results),
        [("unchanged".to_string(), want.len())].into()
    );

    // Changes in MISP, each ending with a publish where MISP users publish.
    misp.edit(EV_A, |ev, _| {
        ev.insert(
            "Tag".into(),
            json!([{"name": "tlp:amber"}, {"name": "malware:testbot"}]),
        );
    });
    misp.soft_delete_attribute(EV_A, &au('a', 3));
    misp.publish(EV_A);
    misp.change_attribute(EV_B, &au('b', 4), "https://evil-login.com/verify2");
    misp.publish(EV_B);
    misp.unpublish(EV_D);
    misp.delete_event(EV_E);
    add_event_f(&misp);

    // Incremental run: new ones created, changed ones updated, soft-deleted retired.
    let now1 = plus_hours(NOW, 1);
    let (st, ran) = shell_pipeline(&misp, &ms, dir, &now1);
    assert_eq!(st, [0, 0, 0], "{}", ran.stderr);
    let f1 = format!("indicator--{}", au('f', 1));
    assert_eq!(versions(&ms, &f1), 1);
    assert_eq!(
        current(&ms, &f1)["pattern"],
        "[domain-name:value = 'brand-new-c2.com']"
    );
    assert_eq!(current(&ms, &f1)["object_marking_refs"], json!([GREEN]));
    let a_part = want[4].id.clone();
    for id in [au('a', 1), au('a', 2), au('a', 4), au('a', 7)]
        .map(|u| format!("indicator--{u}"))
        .into_iter()
        .chain([a_part])
    {
        let v = ms.stix_versions(WORKSPACE, &id);
        assert_eq!(v.len(), 2, "{id}: a new version for the TLP change");
        let (old, new) = (&v[0].object, &v[1].object);
        assert_eq!(new["object_marking_refs"], json!([AMBER]), "{id}");
        assert!(
            parse_time(new["modified"].as_str().unwrap())
                > parse_time(old["modified"].as_str().unwrap()),
            "{id}: newer modified"
        );
        assert_eq!(new["created"], old["created"], "{id}: created kept");
        assert!(!is_retired(new, &now1), "{id} stays live");
    }
    // a5 carries its own tlp:amber: the event's change does not touch it.
    assert_eq!(versions(&ms, &format!("indicator--{}", au('a', 5))), 1);
    let a3 = format!("indicator--{}", au('a', 3));
    assert_eq!(versions(&ms, &a3), 2);
    assert!(
        is_retired(&current(&ms, &a3), &now1),
        "soft-deleted: retired"
    );
    assert_eq!(
        current(&ms, &a3)["valid_until"],
        stix_time(parse_time(&now1).timestamp())
    );
    let b4 = format!("indicator--{}", au('b', 4));
    assert_eq!(versions(&ms, &b4), 2);
    assert_eq!(
        current(&ms, &b4)["pattern"],
        "[url:value = 'https://evil-login.com/verify2']"
    );
    for u in [
        au('b', 1),
        au('b', 3),
        au('d', 1),
        au('d', 2),
        au('e', 1),
        au('e', 2),
    ] {
        let id = format!("indicator--{u}");
        assert_eq!(versions(&ms, &id), 1, "{id}: untouched");
        assert!(
            !is_retired(&current(&ms, &id), &now1),
            "{id}: not retired by an incremental run"
        );
    }
    let mut ids: Vec<String> = want.iter().map(|i| i.id.clone()).collect();
    ids.push(f1.clone());
    ids.sort();
    assert_eq!(held_indicators(&ms), ids, "nothing duplicated");
    assert_versions_sane(&ms, WORKSPACE);

    // Full run: the unpublished (D) and hard-deleted (E) events' indicators retire.
    let now2 = plus_hours(NOW, 2);
    let before: Vec<(String, usize)> = ids
        .iter()
        .map(|id| (id.clone(), versions(&ms, id)))
        .collect();
    let ran = full_run(&misp, &ms, dir, &now2);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let results = ndjson(&dir.join("results.ndjson"));
    let from_ledger: Vec<&Value> = results.iter().filter(|r| r["source"] == "ledger").collect();
    assert_eq!(from_ledger.len(), 4, "{results:?}");
    assert!(from_ledger.iter().all(|r| r["status"] == "accepted"));
    let gone: Vec<String> = [au('d', 1), au('d', 2), au('e', 1), au('e', 2)]
        .map(|u| format!("indicator--{u}"))
        .into();
    for (id, n) in before {
        let now_n = versions(&ms, &id);
        if gone.contains(&id) {
            assert_eq!(now_n, n + 1, "{id}: one retirement");
            let o = current(&ms, &id);
            assert!(is_retired(&o, &now2), "{id} retired: {o}");
            assert_eq!(o["valid_until"], stix_time(parse_time(&now2).timestamp()));
        } else {
            assert_eq!(now_n, n, "{id}: nothing new for what did not change");
        }
    }
    assert_eq!(held_indicators(&ms), ids, "nothing duplicated");
    assert_versions_sane(&ms, WORKSPACE);
}

#[test]
fn faults_lose_nothing_and_the_state_commits_only_after_0_or_3() {
    let misp = misp_emulator();
    let ms = ms_emulator();
    let tmp = tempfile::tempdir().unwrap();
    let sync = Sync::new(
        tmp.path(),
        &misp,
        &ms,
        &[
            ("TARGETS", &format!("sentinel:{WORKSPACE}")),
            (
                "GRAPH_PUSH_ARGS",
                "--rpm 60000 --retry-base 10ms --batch-size 2 --parallel 1 --max-retries 1",
            ),
        ],
    );
    let mut want = expected();
    // F is published an hour after the seeds: the second run's window (from the
    // first run's mark, minus the 10-minute overlap) holds F only, so the seeds'
    // failed records can reach Sentinel through the replay alone.
    want.push(add_event_f(&misp));
    let target = sync.target(&format!("sentinel-{WORKSPACE}"));
    let state = sync.state().join("pull.state");

    // MISP answers 503 and drops a connection: misp-pull retries them.
    misp.fault(
        "/events/restSearch",
        MispFault::Status {
            code: 503,
            retry_after: None,
            rate_limit_reset: None,
        },
    );
    misp.fault("/events/restSearch", MispFault::Drop);
    // Sentinel, one request at a time: a 429 (retried after its wait), then a batch
    // that gets 503 twice and one whose connections drop twice: with --max-retries 1
    // those four records fail, and the run ends with 3.
    ms.inject_on(
        Api::Sentinel,
        1,
        Fault::Throttle {
            secs: 1,
            header: true,
        },
    );
    ms.inject_on(Api::Sentinel, 2, Fault::Status(503));
    ms.inject_on(Api::Sentinel, 2, Fault::Drop);

    let ran = sync.run(NOW, &[]);
    assert_eq!(ran.code, 3, "{}", ran.stderr);
    let s = ran.summary();
    assert!(s.contains("full run"), "{s}");
    assert!(
        s.contains("state committed"),
        "exit 3 commits (docs/design.md#state-and-commit): {s}"
    );
    assert!(ms.pending_faults().is_empty(), "every fault was met");
    assert!(
        misp.requests_to("/events/restSearch").len() >= 4,
        "MISP faults retried"
    );
    let failed = ndjson(&target.join("failed.ndjson"));
    assert_eq!(failed.len(), 4, "{}", ran.stderr);
    let failed_ids: Vec<&str> = failed.iter().map(|r| r["id"].as_str().unwrap()).collect();
    let held = ms.stix_current(WORKSPACE);
    for i in &want {
        assert_eq!(
            held.contains_key(&i.id),
            !failed_ids.contains(&i.id.as_str()),
            "{}: stored unless failed",
            i.id
        );
    }
    let mark = state_mark(&state);
    assert_eq!(mark, Some(T0 + 3610), "F's publish time");

    // The next run replays the failed records first: nothing is lost.
    let ran = sync.run(&plus_hours(NOW, 1), &[]);
    ran.assert_ended(0, "incremental run");
    assert_sentinel_holds(&ms, WORKSPACE, &want);
    for i in &want {
        assert_eq!(versions(&ms, &i.id), 1, "{}: sent once", i.id);
    }
    assert!(ndjson(&target.join("failed.ndjson")).is_empty());
    let results = ndjson(&target.join("results.ndjson"));
    let replayed = results
        .iter()
        .filter(|r| r["source"].as_str().unwrap().contains("failed.ndjson"))
        .count();
    assert_eq!(replayed, 4, "{results:?}");

    // A stage that stops (graph-push: wrong client secret, exit 4) holds the state back.
    let g = add_event_g(&misp);
    ms.update_config(|c| c.clients = vec![(CLIENT_ID.into(), "not-the-secret".into())]);
    let ran = sync.run(&plus_hours(NOW, 2), &[]);
    ran.assert_ended(4, "state not committed");
    assert_eq!(state_mark(&state), mark, "the mark did not move");
    assert!(sync.state().join("pull.state.next").exists());
    assert!(!ms.stix_current(WORKSPACE).contains_key(&g.id));

    // Fixed: the same window is pulled again and G arrives.
    ms.update_config(|c| c.clients = Config::default().clients);
    let ran = sync.run(&plus_hours(NOW, 3), &[]);
    ran.assert_ended(0, "state committed");
    want.push(g);
    assert_sentinel_holds(&ms, WORKSPACE, &want);
    for i in &want {
        assert_eq!(versions(&ms, &i.id), 1, "{}: sent once", i.id);
    }
    assert!(state_mark(&state) > mark, "the mark moved on");
    assert_versions_sane(&ms, WORKSPACE);
}
