//! misp-pull against the MISP emulator on 127.0.0.1: keys, paging, edits
//! while paging, cut-off, failed, throttled and slow responses, state.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use crate::support::emulator::misp::{Emulator, Fault, TEST_KEY};
use crate::support::pull::{command, lines, stderr};

fn cmd(emu: &Emulator, args: &[&str]) -> Command {
    let mut c = command(emu);
    c.args(args);
    c
}

fn pull(emu: &Emulator, args: &[&str]) -> Output {
    cmd(emu, args).output().expect("run misp-pull")
}

/// The uuids of the events written, checking that none is written twice.
fn event_uuids(o: &Output) -> Vec<String> {
    let v: Vec<String> = lines(o)
        .iter()
        .map(|e| e["Event"]["uuid"].as_str().unwrap().to_string())
        .collect();
    let unique: HashSet<&String> = v.iter().collect();
    assert_eq!(unique.len(), v.len(), "an event was written twice: {v:?}");
    v
}

fn uuid(n: usize) -> String {
    format!("5f0e8b1a-6d2c-4a8e-b1f3-{n:012}")
}

fn attr_uuid(n: usize, k: usize) -> String {
    format!("8a6f0c1e-3b2d-4e5f-{k:04}-{n:012}")
}

/// A published event with `attrs` domain attributes and one object attribute.
fn event(n: usize, attrs: usize) -> Value {
    let a: Vec<Value> = (0..attrs)
        .map(|k| json!({"category": "Network activity", "type": "domain", "value": format!("c2-{n}-{k}.example.com"),
                        "to_ids": true, "uuid": attr_uuid(n, k), "timestamp": "1772000000", "comment": "", "Tag": [{"name": "kill-chain:c2"}]}))
        .collect();
    json!({"Event": {"orgc_id": "2", "org_id": "1", "date": "2026-03-01", "threat_level_id": "2",
        "info": format!("event {n}"), "published": true, "uuid": uuid(n), "analysis": "2",
        "timestamp": "1772000000", "publish_timestamp": (1772000100 + n).to_string(), "distribution": "1",
        "Orgc": {"id": "2", "name": "SharingCERT", "uuid": "1c4f2d3e-5a6b-4c7d-8e9f-0a1b2c3d4e5f"},
        "Tag": [{"name": "tlp:green"}], "Attribute": a,
        "Object": [{"name": "file", "meta-category": "file", "uuid": format!("2d5a3e4f-6b7c-4d8e-9f0a-{n:012}"),
            "Attribute": [{"type": "sha256", "category": "Payload delivery", "object_relation": "sha256",
                "value": format!("{:064x}", n), "to_ids": true, "uuid": attr_uuid(n, 9999), "timestamp": "1772000000"}]}]}})
}

fn emulator_with(n: usize) -> Emulator {
    let emu = Emulator::start(0);
    for i in 1..=n {
        emu.add_event(event(i, 2));
    }
    emu
}

#[test]
fn wrong_key_is_exit_4_and_never_printed() {
    let emu = emulator_with(2);
    let other = "Other0Key0000000000000000000000000000000";
    for args in [
        &["-v"][..],
        &["--check", "-v"][..],
        &["--scope", "attributes", "-v"][..],
    ] {
        let o = cmd(&emu, args).env("MISP_KEY", other).output().unwrap();
        assert_eq!(o.status.code(), Some(4), "{args:?}: {}", stderr(&o));
        let all = format!("{}{}", stderr(&o), String::from_utf8_lossy(&o.stdout));
        assert!(
            all.contains("Authentication failed"),
            "MISP's message is shown: {all}"
        );
        assert!(!all.contains(other), "the key leaked: {all}");
        assert!(!all.contains(TEST_KEY));
    }
    // A malformed key (Bearer prefix) is a configuration error, also without showing it.
    let o = cmd(&emu, &[])
        .env("MISP_KEY", format!("Bearer {TEST_KEY}"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(!stderr(&o).contains(TEST_KEY));
    // The key file works the same way, and a good run with -v shows no key either.
    let dir = tempfile::tempdir().unwrap();
    let kf = dir.path().join("key");
    std::fs::write(&kf, format!("{TEST_KEY}\n")).unwrap();
    let o = cmd(&emu, &["-v", "--key-file", kf.to_str().unwrap()])
        .env_remove("MISP_KEY")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(event_uuids(&o).len(), 2);
    assert!(!format!("{}{}", stderr(&o), String::from_utf8_lossy(&o.stdout)).contains(TEST_KEY));
    // The key travels in the Authorization header, bare, with Accept: application/json.
    let last = emu.requests().pop().unwrap();
    assert!(last.authorized);
    assert!(last
        .raw_head
        .to_ascii_lowercase()
        .contains(&format!("authorization: {}", TEST_KEY.to_ascii_lowercase())));
    for r in emu.requests() {
        let head = r.raw_head.to_ascii_lowercase();
        assert!(!head.contains("bearer"), "{head}");
        assert!(head.contains("accept: application/json"), "{head}");
    }
}

#[test]
fn check_reports_version_org_and_role() {
    let emu = emulator_with(0);
    let o = pull(&emu, &["--check"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("MISP 2.5.1"), "{out}");
    assert!(out.contains("organisation: ORGNAME"), "{out}");
    assert!(out.contains("role: User"), "{out}");
    // Not a MISP at that URL: exit 1 with a reason.
    let o = cmd(&emu, &["--check"])
        .env("MISP_URL", format!("{}/nothing", emu.url))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("404"), "{}", stderr(&o));
    // Unreachable: exit 1 after the retries.
    let o = cmd(&emu, &["--check", "--retries", "1"])
        .env("MISP_URL", "http://127.0.0.1:9")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
}

#[test]
fn empty_result() {
    let emu = emulator_with(0);
    let o = pull(&emu, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(o.stdout.is_empty());
    assert!(stderr(&o).contains("0 events"), "{}", stderr(&o));
    let o = pull(&emu, &["--scope", "attributes"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(o.stdout.is_empty());
}

#[test]
fn many_pages_and_a_page_past_the_end() {
    let emu = emulator_with(20);
    let o = pull(&emu, &["--list-page-size", "5", "--page-size", "3"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let got = event_uuids(&o);
    assert_eq!(
        got,
        (1..=20).map(uuid).collect::<Vec<_>>(),
        "all events, in id order"
    );
    let listing: Vec<_> = emu
        .requests_to("/events/restSearch")
        .into_iter()
        .filter(|r| r.body.get("metadata").is_some())
        .collect();
    // 20 events in pages of 5: pages 1-4 are full, page 5 is past the end and empty.
    assert_eq!(listing.len(), 5);
    assert_eq!(listing[4].body["page"], json!(5));
    assert_eq!(listing[0].body["order"], json!("Event.id asc"));
    let batches = emu.requests_to("/events/restSearch").len() - listing.len();
    assert_eq!(batches, 7, "20 events in batches of 3");
    // Whole events: attributes and object attributes counted.
    assert!(
        stderr(&o).contains("20 events, 60 attributes"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn numbers_as_strings_and_as_integers() {
    for strings in [true, false] {
        let emu = emulator_with(3);
        emu.set_numbers_as_strings(strings);
        let o = pull(&emu, &["--list-page-size", "2"]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let l = lines(&o);
        assert_eq!(l.len(), 3);
        // Passed on as MISP wrote them.
        assert_eq!(l[0]["Event"]["id"].is_string(), strings);
        assert_eq!(
            l[0]["Event"]["Attribute"][0]["timestamp"].is_string(),
            strings
        );
        let o = pull(&emu, &["--scope", "attributes"]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let l = lines(&o);
        assert_eq!(l.len(), 9);
        assert_eq!(l[0]["Attribute"]["id"].is_string(), strings);
    }
}

#[test]
fn output_is_what_misp_sent_byte_for_byte() {
    let emu = emulator_with(3);
    let o = pull(&emu, &[]);
    let text = String::from_utf8(o.stdout.clone()).unwrap();
    for (i, line) in text.lines().enumerate() {
        let stored = emu.event(&uuid(i + 1)).unwrap();
        assert_eq!(line, serde_json::to_string(&stored).unwrap());
    }
}

#[test]
fn an_event_edited_between_listing_pages_makes_no_other_fall_between_them() {
    let emu = emulator_with(12);
    // After listing page 1 (events 1-5), event 2 is edited (and so unpublished):
    // MISP's offsets shift and event 6 would fall between pages 1 and 2.
    emu.after_request("/events/restSearch", 1, |e| {
        assert!(e.edit(&uuid(2), |ev, _| {
            ev.insert("info".into(), json!("edited"));
        }));
    });
    let o = pull(&emu, &["--list-page-size", "5", "--page-size", "4"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let got = event_uuids(&o);
    let want: Vec<String> = (1..=12).filter(|n| *n != 2).map(uuid).collect();
    assert_eq!(got, want, "{}", stderr(&o));
    assert!(stderr(&o).contains("1 gone"), "{}", stderr(&o));
}

#[test]
fn events_changed_or_added_between_batches_are_not_written_twice_or_skipped() {
    let emu = emulator_with(9);
    // Listing is request 1; after batch 1, an event of batch 3 is republished
    // with a change and a new event appears.
    emu.after_request("/events/restSearch", 2, |e| {
        e.change_attribute(&uuid(8), &attr_uuid(8, 0), "changed.example.com");
        e.publish(&uuid(8));
        e.add_event(event(100, 1));
    });
    let o = pull(&emu, &["--page-size", "3"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let got = event_uuids(&o);
    assert_eq!(got, (1..=9).map(uuid).collect::<Vec<_>>());
    let l = lines(&o);
    assert_eq!(
        l[7]["Event"]["Attribute"][0]["value"],
        json!("changed.example.com")
    );
}

#[test]
fn a_response_cut_off_mid_page_is_retried_and_nothing_is_written_twice() {
    for declared in [true, false] {
        let emu = emulator_with(6);
        // The listing is fine; the first batch is cut after 1.5 events.
        emu.fault("/events/restSearch", Fault::Delay(Duration::ZERO));
        let one = serde_json::to_vec(&emu.event(&uuid(1)).unwrap())
            .unwrap()
            .len();
        emu.fault(
            "/events/restSearch",
            Fault::Cut {
                after: 14 + one + one / 2,
                declared,
            },
        );
        let o = pull(&emu, &["--page-size", "6"]);
        assert_eq!(
            o.status.code(),
            Some(0),
            "declared {declared}: {}",
            stderr(&o)
        );
        assert_eq!(event_uuids(&o), (1..=6).map(uuid).collect::<Vec<_>>());
        assert!(stderr(&o).contains("retrying"), "{}", stderr(&o));
    }
}

#[test]
fn a_connection_dropped_without_answer_is_retried() {
    let emu = emulator_with(3);
    emu.fault("/events/restSearch", Fault::Drop);
    let o = pull(&emu, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(event_uuids(&o).len(), 3);
}

#[test]
fn server_errors_then_success() {
    let emu = emulator_with(4);
    for code in [500, 503] {
        emu.fault(
            "/events/restSearch",
            Fault::Status {
                code,
                retry_after: None,
                rate_limit_reset: None,
            },
        );
    }
    let o = pull(&emu, &["--page-size", "2"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(event_uuids(&o).len(), 4);
    assert!(stderr(&o).contains("HTTP 503"), "{}", stderr(&o));
    assert!(stderr(&o).contains("2 retries"), "{}", stderr(&o));
}

#[test]
fn persistent_server_errors_end_with_exit_1_naming_url_and_status() {
    let emu = emulator_with(2);
    for _ in 0..3 {
        emu.fault(
            "/events/restSearch",
            Fault::Status {
                code: 502,
                retry_after: None,
                rate_limit_reset: None,
            },
        );
    }
    let o = pull(&emu, &["--retries", "2"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("/events/restSearch") && e.contains("HTTP 502") && e.contains("listing page 1"),
        "{e}"
    );
    assert!(e.contains("gave up after 3 attempts"), "{e}");
}

#[test]
fn throttling_is_honoured() {
    let emu = emulator_with(2);
    emu.fault(
        "/events/restSearch",
        Fault::Status {
            code: 429,
            retry_after: Some("1".into()),
            rate_limit_reset: None,
        },
    );
    emu.fault(
        "/events/restSearch",
        Fault::Status {
            code: 429,
            retry_after: None,
            rate_limit_reset: Some(1),
        },
    );
    let o = pull(&emu, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(event_uuids(&o).len(), 2);
    let e = stderr(&o);
    assert_eq!(
        e.matches("HTTP 429: Rate limit exceeded.; retrying in 1.0s")
            .count(),
        2,
        "{e}"
    );
}

#[test]
fn slow_responses() {
    let emu = emulator_with(2);
    // Slower than --timeout: the request times out and is asked again.
    emu.fault(
        "/events/restSearch",
        Fault::Delay(Duration::from_millis(1500)),
    );
    // Slow but within it: just waited for.
    emu.fault(
        "/events/restSearch",
        Fault::Delay(Duration::from_millis(300)),
    );
    let o = pull(&emu, &["--timeout", "1s"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(event_uuids(&o).len(), 2);
    assert!(stderr(&o).contains("1 retry,"), "{}", stderr(&o));
}

#[test]
fn unpublished_events_are_left_out_by_default() {
    let emu = emulator_with(3);
    emu.unpublish(&uuid(2));
    let o = pull(&emu, &[]);
    assert_eq!(event_uuids(&o), vec![uuid(1), uuid(3)]);
    assert_eq!(emu.requests_to("restSearch")[0].body["published"], json!(1));
    let o = pull(&emu, &["--include-unpublished"]);
    assert_eq!(event_uuids(&o).len(), 3);
}

#[test]
fn filters_are_sent_in_misp_syntax_and_select_events_without_trimming() {
    let emu = emulator_with(3);
    emu.add_event(json!({"Event": {"uuid": uuid(50), "info": "ips", "published": true, "timestamp": "1772000000",
        "Tag": [{"name": "tlp:red"}],
        "Attribute": [{"type": "ip-dst", "category": "Network activity", "value": "203.0.113.5", "to_ids": true, "uuid": attr_uuid(50, 1), "timestamp": "1772000000"},
                      {"type": "domain", "category": "Network activity", "value": "x.example.com", "to_ids": true, "uuid": attr_uuid(50, 2), "timestamp": "1772000000"}]}}));
    let o = pull(
        &emu,
        &[
            "--type",
            "ip-dst",
            "--to-ids",
            "1",
            "--since",
            "1771000000",
            "--tags",
            "tlp:%",
            "--filter",
            "threat_level_id=[1,2,3,4]",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let l = lines(&o);
    assert_eq!(l.len(), 1);
    assert_eq!(
        l[0]["Event"]["Attribute"].as_array().unwrap().len(),
        2,
        "the event is whole"
    );
    let body = &emu.requests_to("restSearch")[0].body;
    assert_eq!(body["type"], json!("ip-dst"));
    assert_eq!(body["to_ids"], json!(1));
    assert_eq!(body["timestamp"], json!(1771000000));
    assert_eq!(body["threat_level_id"], json!([1, 2, 3, 4]));
    let o = pull(&emu, &["--tags", "tlp:%", "--tags", "!tlp:red"]);
    assert_eq!(event_uuids(&o).len(), 3);
    // A time MISP could not parse would silently match nothing: refused here.
    let o = pull(&emu, &["--since", "last week"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn attributes_that_share_an_id_are_each_written() {
    // MISP's attribute ids are unique, generated data's need not be: only a
    // retried answer repeats an attribute, with its uuid.
    let emu = emulator_with(2);
    for (n, value) in [(1, "a.example"), (2, "b.example")] {
        let attr = json!({"id": "777", "uuid": attr_uuid(n, 777), "type": "domain",
            "category": "Network activity", "value": value, "to_ids": true});
        assert!(emu.add_attribute(&uuid(n), attr));
        assert!(emu.publish(&uuid(n)));
    }
    let o = pull(&emu, &["--scope", "attributes"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let values: Vec<Value> = lines(&o)
        .into_iter()
        .filter(|a| a["Attribute"]["id"] == "777")
        .map(|a| a["Attribute"]["value"].clone())
        .collect();
    assert_eq!(values, [json!("a.example"), json!("b.example")]);
}

#[test]
fn attributes_scope() {
    let emu = emulator_with(5);
    let o = pull(&emu, &["--scope", "attributes", "--page-size", "2"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let l = lines(&o);
    assert_eq!(l.len(), 15);
    let ids: HashSet<String> = l
        .iter()
        .map(|a| a["Attribute"]["uuid"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 15);
    assert_eq!(l[0]["Attribute"]["Event"]["uuid"], json!(uuid(1)));
    assert!(l[0]["Attribute"]["Tag"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["name"] == "tlp:green" && t["inherited"] == 1));
    // What the policy reads of the event comes with every attribute, asked
    // for without a flag: the event's tags, threat level and publish time.
    let ev = &l[0]["Attribute"]["Event"];
    assert_eq!(ev["Tag"][0]["name"], json!("tlp:green"), "{ev}");
    assert_eq!(ev["threat_level_id"], json!("2"));
    assert_eq!(ev["publish_timestamp"], json!("1772000101"));
    let attr_requests = emu.requests_to("/attributes/restSearch");
    assert_eq!(attr_requests.len(), 3);
    assert_eq!(attr_requests[0].body["order"], json!("Attribute.id asc"));
    assert_eq!(attr_requests[0].body["includeEventTags"], json!(1));
    assert_eq!(attr_requests[0].body["includeContext"], json!(1));
    assert_eq!(attr_requests[0].body["includeGalaxy"], json!(1));
    // The flags that asked for them still work, and change nothing.
    let again = pull(
        &emu,
        &[
            "--scope",
            "attributes",
            "--page-size",
            "2",
            "--include-event-tags",
            "--include-context",
        ],
    );
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert_eq!(again.stdout, o.stdout);
    assert!(
        stderr(&o).contains("5 events, 15 attributes"),
        "{}",
        stderr(&o)
    );
}

/// ioc-map's count of the attributes in what misp-pull wrote.
fn ioc_map_attributes(o: &Output) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ioc-map"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(&o.stdout).unwrap();
    let m = child.wait_with_output().unwrap();
    let e = String::from_utf8_lossy(&m.stderr).into_owned();
    let line = e
        .lines()
        .find(|l| l.contains(" mapped, "))
        .unwrap()
        .to_string();
    line.split(", ")
        .nth(1)
        .unwrap()
        .split(':')
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn summaries_count_attributes_as_ioc_map_does() {
    // Object attributes count, and so do attributes MISP's attribute_count
    // leaves out (soft-deleted ones) or that a negated tag took out of the event.
    let emu = emulator_with(3);
    emu.soft_delete_attribute(&uuid(2), &attr_uuid(2, 0));
    emu.publish(&uuid(2));
    let mut e = event(4, 3);
    e["Event"]["Attribute"][1]["Tag"] = json!([{"name": "internal:ignore"}]);
    emu.add_event(e);
    for (scope, args) in [
        (
            "events",
            vec!["--include-deleted", "--tags", "!internal:ignore"],
        ),
        (
            "attributes",
            vec!["--include-deleted", "--tags", "!internal:ignore"],
        ),
        ("events", vec![]),
        ("attributes", vec![]),
    ] {
        let mut all = vec!["--scope", scope];
        all.extend(args.iter().copied());
        let o = pull(&emu, &all);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let mapped = ioc_map_attributes(&o);
        let e = stderr(&o);
        let pulled = e
            .lines()
            .find(|l| l.contains(" written from "))
            .unwrap()
            .split(", ")
            .nth(1)
            .unwrap()
            .split(" written")
            .next()
            .unwrap()
            .to_string();
        assert_eq!(pulled, mapped, "{scope} {args:?}: {e}");
    }
    let o = pull(&emu, &["--include-deleted", "--tags", "!internal:ignore"]);
    assert!(
        stderr(&o).contains("4 events, 12 attributes written"),
        "3 + 3 + 3 (one soft-deleted) + 3 (of 4, one left out): {}",
        stderr(&o)
    );
    let o = pull(&emu, &["--event-id", "1", "--page-size", "1"]);
    assert!(
        stderr(&o).contains("1 event, 3 attributes written")
            && stderr(&o).contains("; 2 requests, 0 retries,"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn incremental_runs_with_state() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("pull.state");
    let next = dir.path().join("pull.state.next");
    let st = state.to_str().unwrap();
    let emu = emulator_with(6);
    emu.set_clock(1_772_100_000);

    let o = pull(&emu, &["--state", st, "--overlap", "0s"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(event_uuids(&o).len(), 6);
    assert!(
        next.exists() && !state.exists(),
        "FILE.next only, until committed"
    );
    assert_eq!(
        emu.requests_to("restSearch")[0].body["deleted"],
        json!([0, 1])
    );
    let o = pull(&emu, &["--commit-state", st]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(state.exists() && !next.exists());

    // Between runs: a new attribute, a changed one, a soft-deleted one, a new event, all published.
    emu.add_attribute(&uuid(1), json!({"type": "ip-dst", "category": "Network activity", "value": "198.51.100.7", "to_ids": true, "uuid": attr_uuid(1, 7)}));
    emu.publish(&uuid(1));
    emu.change_attribute(&uuid(2), &attr_uuid(2, 0), "new.example.com");
    emu.publish(&uuid(2));
    emu.soft_delete_attribute(&uuid(3), &attr_uuid(3, 1));
    emu.publish(&uuid(3));
    emu.add_event(event(7, 1));
    emu.publish(&uuid(7));
    let before = emu.requests().len();

    let o = pull(&emu, &["--state", st, "--overlap", "0s"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let got = event_uuids(&o);
    // Event 6 holds the mark itself (>=), events 4 and 5 are older: not pulled again.
    assert_eq!(
        got,
        vec![uuid(1), uuid(2), uuid(3), uuid(6), uuid(7)],
        "only what changed"
    );
    let l = lines(&o);
    assert_eq!(
        l[0]["Event"]["Attribute"].as_array().unwrap().len(),
        3,
        "the new attribute"
    );
    assert_eq!(
        l[1]["Event"]["Attribute"][0]["value"],
        json!("new.example.com")
    );
    let deleted: Vec<&Value> = l[2]["Event"]["Attribute"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["deleted"] == json!(true))
        .collect();
    assert_eq!(deleted.len(), 1, "soft deletions are carried");
    let listing = &emu.requests()[before].body;
    assert_eq!(
        listing["publish_timestamp"],
        json!(1772000106),
        "the mark of run 1"
    );

    // A run that is not committed is repeated: the same window again.
    let o = pull(&emu, &["--state", st, "--overlap", "0s"]);
    assert_eq!(event_uuids(&o).len(), 5);
    pull(&emu, &["--commit-state", st]);
    let o = pull(&emu, &["--state", st, "--overlap", "0s"]);
    assert_eq!(
        event_uuids(&o),
        vec![uuid(7)],
        "only the event at the new mark"
    );

    // A filter change starts a new mark: a full pull.
    let o = pull(
        &emu,
        &["--state", st, "--overlap", "0s", "--tags", "tlp:green"],
    );
    assert_eq!(event_uuids(&o).len(), 7);

    // Nothing to commit: an error, not a silent success.
    std::fs::remove_file(&next).ok();
    let o = pull(&emu, &["--commit-state", st]);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn no_state_next_when_the_reader_closes_the_pipe_early() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("s");
    let emu = Emulator::start(0);
    emu.generate(300, 50);
    let mut child = cmd(&emu, &["--state", state.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        assert!(first.starts_with("{\"Event\":"));
    } // The reader goes away here.
    let o = child.wait_with_output().unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "a closed pipe is a quiet exit 0: {}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("state not advanced"), "{}", stderr(&o));
    assert!(!dir.path().join("s.next").exists());
    assert!(!state.exists());
}

#[test]
fn output_file_and_gzip() {
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator_with(3);
    let path = dir.path().join("events.ndjson.gz");
    let o = pull(&emu, &["-o", path.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(o.stdout.is_empty());
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(&bytes[..2], &[0x1f, 0x8b]);
}

#[test]
fn a_server_that_ignores_paging_is_taken_as_one_page() {
    let emu = emulator_with(5);
    emu.set_ignore_paging(true);
    let o = pull(&emu, &["--list-page-size", "2", "--page-size", "2"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(event_uuids(&o).len(), 5);
    assert!(
        stderr(&o).contains("the server ignored paging"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn interrupted_runs_exit_130_and_do_not_advance_the_state() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("s");
    let emu = emulator_with(3);
    // The batch request hangs long enough to deliver SIGINT.
    emu.fault("/events/restSearch", Fault::Delay(Duration::ZERO));
    emu.fault(
        "/events/restSearch",
        Fault::Delay(Duration::from_millis(1500)),
    );
    let child = cmd(&emu, &["--state", state.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .output()
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
    assert!(!dir.path().join("s.next").exists());
}

/// Runs a pull of three events, one a request, whose third request the
/// server answers with `fault`; sends `signal` once misp-pull has announced
/// its wait; returns the run and the time from the signal to its exit.
fn signal_during_wait(fault: Fault, signal: &str) -> (Output, Duration, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("s");
    let emu = emulator_with(3);
    emu.fault("/events/restSearch", Fault::Delay(Duration::ZERO));
    emu.fault("/events/restSearch", Fault::Delay(Duration::ZERO));
    emu.fault("/events/restSearch", fault);
    let mut child = cmd(
        &emu,
        &["--page-size", "1", "--state", state.to_str().unwrap()],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let err = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(err).lines() {
            let line = line.unwrap();
            if line.contains("retrying in 30.0s") {
                let _ = tx.send(());
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    rx.recv_timeout(Duration::from_secs(20))
        .expect("misp-pull announces its wait");
    let sent = std::time::Instant::now();
    let kill = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = child.wait().unwrap();
    let took = sent.elapsed();
    let mut stdout = Vec::new();
    std::io::Read::read_to_end(&mut child.stdout.take().unwrap(), &mut stdout).unwrap();
    let stderr = reader.join().unwrap().into_bytes();
    (
        Output {
            status,
            stdout,
            stderr,
        },
        took,
        dir,
    )
}

#[test]
fn a_signal_ends_a_long_retry_wait_within_a_second() {
    // 503 with Retry-After: 30, then SIGTERM.
    let (o, took, dir) = signal_during_wait(
        Fault::Status {
            code: 503,
            retry_after: Some("30".into()),
            rate_limit_reset: None,
        },
        "-TERM",
    );
    assert_eq!(o.status.code(), Some(143), "{}", stderr(&o));
    assert!(took < Duration::from_secs(1), "{took:?}");
    // What was written stays; the state does not move.
    assert_eq!(event_uuids(&o), vec![uuid(1)]);
    assert!(!dir.path().join("s.next").exists());
    let e = stderr(&o);
    assert!(
        e.contains("misp-pull: 1 event, 3 attributes written") && e.contains("; stopped"),
        "{e}"
    );
    assert!(e.contains("misp-pull: interrupted by SIGTERM"), "{e}");

    // 429 with X-Rate-Limit-Reset: 30, then SIGINT.
    let (o, took, dir) = signal_during_wait(
        Fault::Status {
            code: 429,
            retry_after: None,
            rate_limit_reset: Some(30),
        },
        "-INT",
    );
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
    assert!(took < Duration::from_secs(1), "{took:?}");
    assert_eq!(event_uuids(&o), vec![uuid(1)]);
    assert!(!dir.path().join("s.next").exists());
}
