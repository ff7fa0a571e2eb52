//! scripts/misp-sync, the cron wrapper, against the MISP and Microsoft emulators: one
//! pull fanned out to two Sentinel workspaces and Defender (one after another, each
//! with its own ledger and files), the weekly full run and its retirement guard, the
//! lock, configuration errors, and a stopped target holding the state back.

use std::time::Duration;

use serde_json::json;

use crate::support::emulator::ms::{Api, MsEmulator, WORKSPACE};
use crate::support::emulator::{misp as misp_emulator, ms as ms_emulator};
use crate::support::pipeline::*;

/// When each API's requests came (ms since the emulator started): (first, last).
fn span(ms: &MsEmulator, pick: impl Fn(&ms_emulator::LogEntry) -> bool) -> (u64, u64) {
    let t: Vec<u64> = ms
        .log()
        .iter()
        .filter(|e| pick(e))
        .map(|e| e.at_ms)
        .collect();
    assert!(!t.is_empty(), "no such requests");
    (*t.iter().min().unwrap(), *t.iter().max().unwrap())
}

fn listings(misp: &misp_emulator::Emulator) -> usize {
    misp.requests_to("/events/restSearch")
        .iter()
        .filter(|r| {
            r.body
                .get("metadata")
                .is_some_and(|m| m == &json!(true) || m == &json!(1))
        })
        .count()
}

#[test]
fn one_pull_fans_out_to_two_workspaces_and_defender() {
    let misp = misp_emulator();
    let ms = ms_emulator();
    let tmp = tempfile::tempdir().unwrap();
    let targets = format!("sentinel:{WORKSPACE} sentinel:{WS2} defender");
    let sync = Sync::new(
        tmp.path(),
        &misp,
        &ms,
        &[("TARGETS", &targets), ("FULL_EVERY", "1d")],
    );
    let names = [
        format!("sentinel-{WORKSPACE}"),
        format!("sentinel-{WS2}"),
        "defender".to_string(),
    ];
    let mut want = expected();

    // First run: a full run (no target ever had one), one pull for all three.
    let ran = sync.run(NOW, &[]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let s = ran.summary();
    assert!(
        s.contains("full run") && s.contains("state committed"),
        "{s}"
    );
    assert_eq!(listings(&misp), 1, "one pull");
    assert_sentinel_holds(&ms, WORKSPACE, &want);
    assert_sentinel_holds(&ms, WS2, &want);
    assert_defender_holds(&ms, &want);
    for i in want.iter().filter(|i| i.defender.is_some()) {
        let (t, v) = i.defender.as_ref().unwrap();
        assert_eq!(defender_expiry(&ms, t, v), ts(i.until), "{t} {v}");
    }
    for n in &names {
        let d = sync.target(n);
        for f in ["ledger", "results.ndjson", "last-full"] {
            assert!(d.join(f).is_file(), "{n}/{f}");
        }
        assert!(ndjson(&d.join("failed.ndjson")).is_empty());
    }
    let ledger = |n: &str| {
        String::from_utf8_lossy(&std::fs::read(sync.target(n).join("ledger")).unwrap()).into_owned()
    };
    assert_ne!(
        ledger(&names[0]),
        ledger(&names[1]),
        "a ledger per workspace"
    );
    assert!(ledger(&names[0]).contains(WORKSPACE) && ledger(&names[1]).contains(WS2));
    // One after another: they share the identity's quota.
    let ws1 = span(&ms, |e| e.path.contains(WORKSPACE));
    let ws2 = span(&ms, |e| e.path.contains(WS2));
    let def = span(&ms, |e| e.api == Some(Api::Defender));
    assert!(ws1.1 <= ws2.0 && ws2.1 <= def.0, "{ws1:?} {ws2:?} {def:?}");

    // MISP changes; the next run (an hour later) is incremental.
    misp.unpublish(EV_D);
    misp.delete_event(EV_E);
    want.push(add_event_f(&misp));
    let ran = sync.run(&plus_hours(NOW, 1), &[]);
    ran.assert_ended(0, "incremental run");
    assert_eq!(listings(&misp), 2, "one pull");
    assert_sentinel_holds(&ms, WORKSPACE, &want);
    assert_sentinel_holds(&ms, WS2, &want);
    assert_defender_holds(&ms, &want);

    // A day later the full run is due. D and E are 4 of 16 Sentinel keys and 4 of
    // 14 Defender keys, beyond MAX_RETIRE's 10%: every target refuses, retires
    // nothing, and the state is not committed.
    let day = plus_hours(NOW, 24);
    let ran = sync.run(&day, &[]);
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    let s = ran.summary();
    assert!(
        s.contains("full run") && s.contains("state not committed"),
        "{s}"
    );
    assert!(ran.stderr.contains("--max-retire"), "{}", ran.stderr);
    assert_sentinel_holds(&ms, WORKSPACE, &want);
    assert_defender_holds(&ms, &want);
    for i in &want {
        assert!(!is_retired(&ms.stix_current(WS2)[&i.id], &day));
    }

    // Checked by a person: --force-retire. The full run is still due (the last
    // one did not finish) and retires D and E in all three targets.
    let later = plus_hours(NOW, 25);
    let ran = sync.run(&later, &["--force-retire"]);
    ran.assert_ended(0, "full run");
    for ws in [WORKSPACE, WS2] {
        let held = ms.stix_current(ws);
        let indicators = held.keys().filter(|k| k.starts_with("indicator--"));
        assert_eq!(indicators.count(), want.len(), "{ws}: nothing duplicated");
        for i in &want {
            let gone = i.event == EV_D || i.event == EV_E;
            assert_eq!(is_retired(&held[&i.id], &later), gone, "{ws}: {}", i.id);
        }
        assert_versions_sane(&ms, ws);
    }
    assert_defender_holds(&ms, &want);
    for i in want.iter().filter(|i| i.defender.is_some()) {
        let (t, v) = i.defender.as_ref().unwrap();
        let gone = i.event == EV_D || i.event == EV_E;
        assert_eq!(
            defender_expiry(&ms, t, v) <= parse_time(&later),
            gone,
            "{t} {v}"
        );
    }

    // The next run is incremental again: the full run is not due for a day.
    let ran = sync.run(&plus_hours(NOW, 26), &[]);
    ran.assert_ended(0, "incremental run");
}

/// The indicators of an NDJSON file of STIX records (the creators' identities,
/// which ioc-map's default `--context inline` writes, left out).
fn indicator_lines(path: &std::path::Path) -> usize {
    ndjson(path)
        .iter()
        .filter(|r| r["type"] == "indicator")
        .count()
}

#[test]
fn a_stopped_target_holds_the_state_back_and_the_worst_status_wins() {
    let misp = misp_emulator();
    let ms = ms_emulator();
    let tmp = tempfile::tempdir().unwrap();
    // The second workspace does not exist: that target stops (exit 1).
    let unknown = "3c0e7c1a-0000-4000-8000-0000000005ec";
    let targets = format!("sentinel:{WORKSPACE} sentinel:{unknown} defender");
    let sync = Sync::new(tmp.path(), &misp, &ms, &[("TARGETS", &targets)]);
    let ran = sync.run(NOW, &[]);
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    let s = ran.summary();
    assert!(
        s.contains(&format!("sentinel-{unknown}: map 0, push 1")),
        "{s}"
    );
    assert!(s.contains("state not committed"), "{s}");
    assert!(!sync.state().join("pull.state").exists());
    // The others were delivered all the same.
    let want = expected();
    assert_sentinel_holds(&ms, WORKSPACE, &want);
    assert_defender_holds(&ms, &want);
    // What the stopped target could not deliver waits in its failed file.
    let failed_file = sync
        .target(&format!("sentinel-{unknown}"))
        .join("failed.ndjson");
    assert_eq!(indicator_lines(&failed_file), want.len());
    // Stopping again neither loses nor piles up failed records.
    let ran = sync.run(&plus_hours(NOW, 1), &[]);
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    assert_eq!(indicator_lines(&failed_file), want.len());
}

#[test]
fn a_run_never_overlaps_another() {
    let misp = misp_emulator();
    let ms = ms_emulator();
    ms.set_latency(Duration::from_millis(700));
    let tmp = tempfile::tempdir().unwrap();
    let sync = Sync::new(
        tmp.path(),
        &misp,
        &ms,
        &[("TARGETS", &format!("sentinel:{WORKSPACE}"))],
    );
    // Its output is read at the end (inherited, it would reach the console).
    let first = sync
        .command(NOW, &[])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    sync.wait_for_lock();
    let second = sync.run(NOW, &[]);
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert!(
        second.stderr.contains("skipped: another run"),
        "{}",
        second.stderr
    );
    assert!(
        !second.stderr.contains("misp-pull"),
        "nothing ran: {}",
        second.stderr
    );
    // --wait: a third run waits for the first, then runs.
    let third = sync.run(NOW, &["--wait", "60"]);
    let first = first.wait_with_output().unwrap();
    let first_stderr = String::from_utf8_lossy(&first.stderr);
    assert!(first.status.success(), "{first_stderr}");
    third.assert_ended(0, "incremental run");
}

#[test]
fn bad_settings_are_exit_2_with_one_clear_line() {
    let misp = misp_emulator();
    let ms = ms_emulator();
    let tmp = tempfile::tempdir().unwrap();
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[], "TARGETS is empty"),
        (
            &[("TARGETS", "sentinel:my-workspace")],
            "workspace ID (a GUID)",
        ),
        (
            &[("TARGETS", "splunk")],
            "expected sentinel:WORKSPACE_ID, defender or graph",
        ),
        (&[("TARGETS", "defender defender")], "listed twice"),
        (
            &[("TARGETS", "defender"), ("MISP_FEED", "/nowhere")],
            "not both",
        ),
        (
            &[("TARGETS", "defender"), ("FULL_EVERY", "weekly")],
            "FULL_EVERY",
        ),
        (
            &[("TARGETS", "defender"), ("MISP_SYNC_BIN", "/nonexistent")],
            "misp-pull not found",
        ),
    ];
    for (i, (settings, message)) in cases.iter().enumerate() {
        let dir = tmp.path().join(i.to_string());
        std::fs::create_dir(&dir).unwrap();
        let sync = Sync::new(&dir, &misp, &ms, settings);
        let ran = sync.run(NOW, &[]);
        assert_eq!(ran.code, 2, "{settings:?}: {}", ran.stderr);
        assert!(ran.stderr.contains(message), "{settings:?}: {}", ran.stderr);
        assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.stderr);
    }
    let sync = Sync::new(tmp.path(), &misp, &ms, &[("TARGETS", "defender")]);
    let ran = sync.run(NOW, &["--bogus"]);
    assert_eq!(ran.code, 2);
    assert!(ran.stderr.contains("unknown argument"), "{}", ran.stderr);
    let ran = sync.run(NOW, &["--help"]);
    assert_eq!(ran.code, 0);
    assert!(ran.stdout.contains("FULL_EVERY"));
    assert!(
        ms.log().is_empty() && misp.requests().is_empty(),
        "nothing ran"
    );
}

#[test]
fn a_terminated_run_finishes_its_stage_then_stops_and_commits_nothing() {
    let misp = misp_emulator();
    let ms = ms_emulator();
    ms.set_latency(Duration::from_millis(300));
    let tmp = tempfile::tempdir().unwrap();
    let targets = format!("sentinel:{WORKSPACE} sentinel:{WS2}");
    let sync = Sync::new(tmp.path(), &misp, &ms, &[("TARGETS", &targets)]);
    let child = sync
        .command(NOW, &[])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    sync.wait_for_lock();
    // SIGTERM to the wrapper alone, as `kill PID` sends it.
    let kill = run({
        let mut c = clean("kill");
        c.args(["-TERM", &child.id().to_string()]);
        c
    });
    assert_eq!(kill.code, 0, "{}", kill.stderr);
    let out = child.wait_with_output().unwrap();
    let ran = Ran {
        code: out.status.code().unwrap_or(-1),
        stdout: String::new(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert_eq!(ran.code, 143, "{}", ran.stderr);
    let s = ran.summary();
    assert!(
        s.contains("interrupted") && s.contains("state not committed"),
        "{s}"
    );
    assert!(
        s.contains(&format!("sentinel-{WS2}: map not run, push not run")),
        "{s}"
    );
    // The stage under way (the pull, or the first target) finished; none started after.
    assert!(ms.stix_current(WS2).is_empty());
    assert!(!sync.state().join("pull.state").exists());
    assert_versions_sane(&ms, WORKSPACE);
}

#[test]
fn graph_target_with_a_log_file() {
    let misp = misp_emulator();
    let ms = ms_emulator();
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("sync.log");
    let sync = Sync::new(
        tmp.path(),
        &misp,
        &ms,
        &[("TARGETS", "graph"), ("LOG_FILE", log.to_str().unwrap())],
    );
    let ran = sync.run(NOW, &[]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(
        ran.stderr.lines().count(),
        1,
        "only the summary: {}",
        ran.stderr
    );
    let logged = std::fs::read_to_string(&log).unwrap();
    for tool in [
        "misp-pull: ",
        "ioc-map: ",
        "graph-push: ",
        "misp-sync: full run",
    ] {
        assert!(logged.contains(tool), "{tool} in the log:\n{logged}");
    }
    // One tiIndicator per attribute (a composite stays one), the tenant stamped on it.
    let held = ms.graph_indicators();
    let mut want: Vec<String> = expected()
        .iter()
        .map(|i| i.id.trim_start_matches("indicator--").to_string())
        .filter(|u| u.contains("-1111-"))
        .collect();
    want.sort();
    assert_eq!(held.keys().cloned().collect::<Vec<_>>(), want);
    for (id, copies) in &held {
        assert_eq!(copies.len(), 1, "{id}: one copy");
        assert_eq!(copies[0].sent["azureTenantId"], ms_emulator::TENANT, "{id}");
    }
    // Again: the ledger keeps Graph from getting duplicates.
    let ran = sync.run(&plus_hours(NOW, 1), &[]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(ms.graph_indicators().values().all(|c| c.len() == 1));
}

#[test]
fn the_example_settings_file_works() {
    let misp = misp_emulator();
    let ms = ms_emulator();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scripts/misp-sync.env.example"
    ))
    .unwrap();
    // The example as shipped (its MISP_PULL_ARGS, FULL_EVERY, MAX_RETIRE), with the
    // places and credentials pointed at the emulators; secrets from files.
    std::fs::write(dir.join("misp.key"), misp_emulator::TEST_KEY).unwrap();
    std::fs::write(dir.join("client-secret"), ms_emulator::CLIENT_SECRET).unwrap();
    let overrides = [
        ("MISP_URL", misp.url.clone()),
        ("MISP_KEY_FILE", dir.join("misp.key").display().to_string()),
        ("TARGETS", format!("sentinel:{WORKSPACE} defender")),
        ("AZURE_TENANT_ID", ms_emulator::TENANT.to_string()),
        ("AZURE_CLIENT_ID", ms_emulator::CLIENT_ID.to_string()),
        (
            "AZURE_CLIENT_SECRET_FILE",
            dir.join("client-secret").display().to_string(),
        ),
        ("AZURE_AUTHORITY_HOST", ms.url()),
        ("SENTINEL_API_URL", ms.url()),
        ("DEFENDER_API_URL", ms.url()),
        ("STATE_DIR", dir.join("state").display().to_string()),
        (
            "MISP_SYNC_BIN",
            bin("misp-pull").parent().unwrap().display().to_string(),
        ),
        ("GRAPH_PUSH_ARGS", "--rpm 60000".to_string()),
    ];
    let mut text = example;
    for (k, v) in overrides {
        text.push_str(&format!("{k}='{v}'\n"));
    }
    let env_file = dir.join("misp-sync.env");
    std::fs::write(&env_file, text).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&env_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut c = clean("bash");
    c.arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/misp-sync"))
        .arg("--env")
        .arg(&env_file)
        .args(["--now", NOW]);
    let ran = run(c);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    // Readable by others: the wrapper says so.
    assert!(ran.stderr.contains("chmod 600"), "{}", ran.stderr);
    let want = expected();
    assert_sentinel_holds(&ms, WORKSPACE, &want);
    assert_defender_holds(&ms, &want);
    // Its tag filter reached MISP.
    let asked = &misp.requests_to("/events/restSearch")[0].body;
    assert!(asked.to_string().contains("!tlp:red"), "{asked}");
}

#[test]
fn a_feed_with_missing_events_retires_only_when_told_to() {
    let misp = misp_emulator::Emulator::start(0); // unused: the source is a feed
    let ms = ms_emulator();
    let tmp = tempfile::tempdir().unwrap();
    let feed = tmp.path().join("feed");
    let events = seed_events();
    let missing = "0badfeed-0000-4000-8000-000000000000";
    write_feed(&feed, &events, &[missing]);
    let feed_str = feed.display().to_string();
    let base = [
        ("MISP_URL", ""),
        ("MISP_FEED", feed_str.as_str()),
        ("TARGETS", &*format!("sentinel:{WORKSPACE}")),
        ("MAX_RETIRE", "50"),
    ];
    let sync = Sync::new(tmp.path(), &misp, &ms, &base);
    // TLP:RED stays out, as with a server.
    let want = expected();
    let ran = sync.run(NOW, &[]);
    assert_eq!(
        ran.code, 3,
        "a missing feed event is exit 3: {}",
        ran.stderr
    );
    let s = ran.summary();
    assert!(s.contains("retirement skipped: the pull exited 3"), "{s}");
    assert!(s.contains("state committed"), "{s}");
    assert!(ran.stderr.contains(missing), "the missing event is named");
    assert_sentinel_holds(&ms, WORKSPACE, &want);

    // E leaves the feed. A full run with holes in its pull does not retire it...
    let without_e: Vec<_> = events
        .iter()
        .filter(|e| e["Event"]["uuid"] != EV_E)
        .cloned()
        .collect();
    std::fs::remove_dir_all(&feed).unwrap();
    write_feed(&feed, &without_e, &[missing]);
    let later = plus_hours(NOW, 1);
    let ran = sync.run(&later, &["--full"]);
    ran.assert_ended(3, "retirement skipped");
    let held = ms.stix_current(WORKSPACE);
    assert!(want.iter().all(|i| !is_retired(&held[&i.id], &later)));

    // ...unless RETIRE_ON_EXIT_3=yes (MAX_RETIRE still guards).
    let sync = Sync::new(
        tmp.path(),
        &misp,
        &ms,
        &[&base[..], &[("RETIRE_ON_EXIT_3", "yes")]].concat(),
    );
    let ran = sync.run(&later, &["--full"]);
    assert_eq!(ran.code, 3, "{}", ran.stderr);
    assert!(
        !ran.summary().contains("retirement skipped"),
        "{}",
        ran.summary()
    );
    let held = ms.stix_current(WORKSPACE);
    for i in &want {
        assert_eq!(
            is_retired(&held[&i.id], &later),
            i.event == EV_E,
            "{}",
            i.id
        );
    }
    assert_versions_sane(&ms, WORKSPACE);
}
