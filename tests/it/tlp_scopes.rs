//! One pipeline, the same decisions whichever scope pulled the data:
//! `misp-pull --scope events` and `--scope attributes` against the MISP
//! emulator, then `ioc-map` on each with the same flags. The events carry
//! TLP:RED, TLP:AMBER+STRICT, TLP:GREEN or no TLP at all, attributes override
//! them (tlp:clear in a RED event, tlp:red in a GREEN one), object attributes
//! sit in RED and GREEN events, and one event was published long after its
//! attribute was made (the expiry counts from the publish time). Also: a bare
//! attribute line that says nothing about its event's tags.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};

use crate::support::emulator::misp::Emulator;
use crate::support::push::run_cmd;

const MAP: &str = env!("CARGO_BIN_EXE_ioc-map");
/// ioc-map's clock: 2026-03-10T00:00:00Z.
const NOW: &str = "2026-03-10T00:00:00Z";
const NOW_S: i64 = 1_773_100_800;
const DAY: i64 = 86_400;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn attr_uuid(n: u32) -> String {
    format!("a77e0000-0000-4000-8000-{n:012}")
}

fn attr(n: u32, ty: &str, value: &str, tags: &[&str]) -> Value {
    let mut a = json!({"id": (1000 + n).to_string(), "type": ty, "category": "Network activity",
        "value": value, "to_ids": true, "uuid": attr_uuid(n),
        "timestamp": (NOW_S - 10 * DAY).to_string(), "comment": "", "deleted": false,
        "first_seen": null, "last_seen": null});
    if !tags.is_empty() {
        let tags: Vec<Value> = tags
            .iter()
            .map(|t| json!({"id": "9", "name": t, "colour": "#000000", "local": false}))
            .collect();
        a["Tag"] = json!(tags);
    }
    a
}

/// A published event: number, TLP and other tags, threat level, attributes,
/// object attributes.
fn event(n: u32, tags: &[&str], threat: &str, attrs: Vec<Value>, object: Vec<Value>) -> Value {
    let tags: Vec<Value> = tags
        .iter()
        .map(|t| json!({"id": "3", "name": t, "colour": "#ffffff", "exportable": true, "local": t.starts_with("local-")}))
        .collect();
    let mut ev = json!({"Event": {"orgc_id": "2", "org_id": "1", "date": "2026-03-01",
        "threat_level_id": threat, "info": format!("event {n}"), "published": true,
        "uuid": format!("e7e70000-0000-4000-8000-{n:012}"), "analysis": "2",
        "timestamp": (NOW_S - 9 * DAY).to_string(), "publish_timestamp": (NOW_S - 9 * DAY).to_string(),
        "distribution": "1",
        "Orgc": {"id": "2", "name": "SharingCERT", "uuid": "1c4f2d3e-5a6b-4c7d-8e9f-0a1b2c3d4e5f"},
        "Attribute": attrs}});
    if !tags.is_empty() {
        ev["Event"]["Tag"] = json!(tags);
    }
    if !object.is_empty() {
        ev["Event"]["Object"] = json!([{"name": "file", "meta-category": "file",
            "uuid": format!("0b1e0000-0000-4000-8000-{n:012}"), "timestamp": (NOW_S - 10 * DAY).to_string(),
            "distribution": "5", "Attribute": object}]);
    }
    ev
}

fn seed(emu: &Emulator) {
    let sha = |n: u32| format!("{n:064x}");
    // TLP:RED: the attribute's own tlp:clear wins over it; nothing else goes out.
    emu.add_event(event(
        1,
        &["tlp:red", "misp:confidence-level=\"usually-confident\""],
        "1",
        vec![
            attr(1, "domain", "red-plain.example.com", &[]),
            attr(2, "domain", "red-but-clear.example.com", &["tlp:clear"]),
            attr(
                3,
                "url",
                "http://red.example.net/x",
                &["kill-chain:delivery"],
            ),
        ],
        vec![{
            let mut a = attr(4, "sha256", &sha(4), &[]);
            a["category"] = json!("Payload delivery");
            a["object_relation"] = json!("sha256");
            a
        }],
    ));
    // TLP:AMBER+STRICT (upper case, as some feeds write it).
    emu.add_event(event(
        2,
        &["TLP:AMBER+STRICT", "local-triage"],
        "2",
        vec![
            attr(5, "domain", "amber-strict.example.com", &[]),
            attr(
                6,
                "domain",
                "rarely.example.com",
                &["misp:confidence-level=\"rarely-confident\""],
            ),
        ],
        vec![],
    ));
    // TLP:GREEN, with an attribute at tlp:red and one not for IDS.
    emu.add_event(event(
        3,
        &["tlp:green"],
        "3",
        vec![
            attr(7, "domain", "green.example.com", &[]),
            attr(8, "url", "http://green-but-red.example.net/y", &["tlp:red"]),
            {
                let mut a = attr(9, "domain", "not-ids.example.com", &[]);
                a["to_ids"] = json!(false);
                a
            },
        ],
        vec![{
            let mut a = attr(10, "sha256", &sha(10), &["tlp:amber"]);
            a["category"] = json!("Payload delivery");
            a["object_relation"] = json!("sha256");
            a
        }],
    ));
    // No TLP at all: --default-tlp in both scopes.
    emu.add_event(event(
        4,
        &["osint:source-type=\"blog-post\""],
        "4",
        vec![attr(11, "domain", "untagged.example.com", &[])],
        vec![],
    ));
    // Published yesterday, its IP made 60 days ago: valid for 30 days from
    // the publish time, expired if counted from the attribute's.
    let mut e = event(
        5,
        &["tlp:green"],
        "1",
        vec![{
            let mut a = attr(12, "ip-dst", "45.33.32.156", &[]);
            a["timestamp"] = json!((NOW_S - 60 * DAY).to_string());
            a
        }],
        vec![],
    );
    e["Event"]["publish_timestamp"] = json!((NOW_S - DAY).to_string());
    e["Event"]["timestamp"] = json!((NOW_S - 2 * DAY).to_string());
    emu.add_event(e);
    // Neither: an event with no tags and no attributes left (still listed).
    emu.add_event(event(6, &[], "2", vec![], vec![]));
}

const ATTRIBUTES: u32 = 12;

fn pull(emu: &Emulator, scope: &str, out: &Path) {
    let o = crate::support::pull::command(emu)
        .args(["--scope", scope, "--page-size", "2", "-o"])
        .arg(out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
}

/// What ioc-map decided: attribute uuid → "mapped" or the skip reason; the
/// summary after its line count; the records written.
struct Decisions {
    by_uuid: BTreeMap<String, String>,
    summary: String,
    records: Vec<Value>,
    stderr: String,
}

fn map(input: &Path, flags: &[&str], dir: &Path) -> Decisions {
    let skipped = dir.join("skipped.ndjson");
    let out = dir.join("out.ndjson");
    // Policy decisions only: the context objects (the publisher's identity)
    // are not what is compared here.
    let o = Command::new(MAP)
        .args(["--now", NOW, "--context", "none"])
        .args(flags)
        .arg("--skipped")
        .arg(&skipped)
        .arg("-o")
        .arg(&out)
        .arg(input)
        .output()
        .unwrap();
    let stderr = text(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    let mut by_uuid: BTreeMap<String, String> = (1..=ATTRIBUTES)
        .map(|n| (attr_uuid(n), "mapped".to_string()))
        .collect();
    for l in std::fs::read_to_string(&skipped).unwrap().lines() {
        let v: Value = serde_json::from_str(l).unwrap();
        let uuid = v["uuid"].as_str().unwrap().to_string();
        assert!(by_uuid.contains_key(&uuid), "unknown {uuid}");
        by_uuid.insert(uuid, v["reason"].as_str().unwrap().to_string());
    }
    let summary = stderr
        .lines()
        .find(|l| l.contains(" mapped, "))
        .unwrap_or_else(|| panic!("no summary: {stderr}"));
    // The line count differs (events or attributes a line); the rest must not.
    let summary = summary.split_once(", ").unwrap().1.to_string();
    let records = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    Decisions {
        by_uuid,
        summary,
        records,
        stderr,
    }
}

/// The STIX fields decided from the event: validity, TLP marking, confidence,
/// labels, creator, dates and name (by id).
fn stix_event_fields(records: &[Value]) -> BTreeMap<String, Value> {
    records
        .iter()
        .map(|r| {
            let keep = [
                "valid_from",
                "valid_until",
                "object_marking_refs",
                "confidence",
                "labels",
                "created_by_ref",
                "created",
                "modified",
                "name",
                "kill_chain_phases",
                "external_references",
            ];
            let fields: serde_json::Map<String, Value> = keep
                .iter()
                .filter_map(|k| Some((k.to_string(), r.get(*k)?.clone())))
                .collect();
            (r["id"].as_str().unwrap().to_string(), Value::Object(fields))
        })
        .collect()
}

/// Defender records by value: severity (the event's threat level), expiry, title.
fn defender_event_fields(records: &[Value]) -> BTreeMap<String, Value> {
    records
        .iter()
        .map(|r| {
            (
                r["indicatorValue"].as_str().unwrap().to_string(),
                json!([r["severity"], r["expirationTime"], r["title"], r["action"]]),
            )
        })
        .collect()
}

#[test]
fn both_scopes_reach_the_same_decisions() {
    let emu = Emulator::start(0);
    seed(&emu);
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.ndjson");
    let attributes = dir.path().join("attributes.ndjson");
    pull(&emu, "events", &events);
    pull(&emu, "attributes", &attributes);
    let body = &emu.requests_to("/attributes/restSearch")[0].body;
    assert_eq!(
        (&body["includeEventTags"], &body["includeContext"]),
        (&json!(1), &json!(1))
    );

    let flag_sets: [&[&str]; 4] = [
        &[],
        &["--tlp-max", "amber", "--min-confidence", "50"],
        &["--tlp-max", "green", "--format", "defender"],
        &[
            "--default-tlp",
            "red",
            "--tlp-max",
            "red",
            "--min-confidence",
            "60",
        ],
    ];
    for flags in flag_sets {
        let ev_dir = tempfile::tempdir().unwrap();
        let at_dir = tempfile::tempdir().unwrap();
        let ev = map(&events, flags, ev_dir.path());
        let at = map(&attributes, flags, at_dir.path());
        assert_eq!(ev.by_uuid, at.by_uuid, "flags {flags:?}");
        assert_eq!(ev.summary, at.summary, "flags {flags:?}");
        // Nothing in either run lacked its event's tags.
        for d in [&ev, &at] {
            assert!(!d.stderr.contains("warning"), "{}", d.stderr);
        }
        if flags.contains(&"defender") {
            assert_eq!(
                defender_event_fields(&ev.records),
                defender_event_fields(&at.records)
            );
        } else {
            assert_eq!(
                stix_event_fields(&ev.records),
                stix_event_fields(&at.records),
                "flags {flags:?}"
            );
        }
    }

    // What those decisions are, with the default flags.
    let d = map(&attributes, &[], dir.path());
    let of = |n: u32| d.by_uuid[&attr_uuid(n)].as_str();
    assert_eq!(of(1), "tlp above --tlp-max", "RED event, no tag of its own");
    assert_eq!(of(2), "mapped", "tlp:clear on the attribute wins");
    assert_eq!(of(3), "tlp above --tlp-max");
    assert_eq!(
        of(4),
        "tlp above --tlp-max",
        "object attribute of the RED event"
    );
    assert_eq!(
        of(5),
        "mapped",
        "amber+strict is within the default --tlp-max"
    );
    assert_eq!(of(8), "tlp above --tlp-max", "tlp:red in a GREEN event");
    assert_eq!(of(9), "to_ids false");
    assert_eq!(of(11), "mapped", "no TLP: --default-tlp (amber)");
    assert_eq!(of(12), "mapped", "expiry counted from the publish time");
    assert_eq!(
        d.summary,
        "12 attributes: 7 mapped, 5 skipped (tlp above --tlp-max: 4, to_ids false: 1), 7 indicators written, 0 bad lines"
    );
    let amber = map(&attributes, &["--tlp-max", "amber"], dir.path());
    assert_eq!(
        amber.by_uuid[&attr_uuid(5)],
        "tlp above --tlp-max",
        "AMBER+STRICT event"
    );
    assert_eq!(
        amber.by_uuid[&attr_uuid(10)],
        "mapped",
        "tlp:amber object attribute"
    );
}

/// MISP's attributes scope without `includeEventTags` and `includeContext`
/// (what misp-pull asked for before, or another tool's export): the small
/// `Event` stub, no tags, no publish time.
fn old_shape(n: u32, own_tags: &[&str], inherited: &[&str]) -> String {
    let mut a = attr(n, "domain", &format!("d{n}.example.com"), own_tags);
    a["event_id"] = json!("1");
    a["Event"] = json!({"id": "1", "org_id": "1", "distribution": "1", "info": "event 1",
        "orgc_id": "2", "uuid": "e7e70000-0000-4000-8000-000000000001"});
    let mut tags = a["Tag"].as_array().cloned().unwrap_or_default();
    for t in inherited {
        tags.push(json!({"id": "3", "name": t, "colour": "#ffffff", "inherited": 1}));
    }
    if !tags.is_empty() {
        a["Tag"] = json!(tags);
    }
    json!({ "Attribute": a }).to_string()
}

fn map_stdin(lines: &[String], flags: &[&str]) -> (BTreeMap<String, String>, String) {
    let dir = tempfile::tempdir().unwrap();
    let skipped = dir.path().join("skipped.ndjson");
    let mut cmd = Command::new(MAP);
    cmd.args(["--now", NOW])
        .args(flags)
        .arg("--skipped")
        .arg(&skipped);
    let run = run_cmd(cmd, lines.join("\n").as_bytes());
    let stderr = run.stderr;
    assert_eq!(run.code, 0, "{stderr}");
    let mut decisions = BTreeMap::new();
    for v in run.stdout.lines() {
        let v: Value = serde_json::from_str(v).unwrap();
        let id = v["id"].as_str().unwrap().trim_start_matches("indicator--");
        decisions.insert(id.to_string(), "mapped".to_string());
    }
    for l in std::fs::read_to_string(&skipped).unwrap().lines() {
        let v: Value = serde_json::from_str(l).unwrap();
        decisions.insert(
            v["uuid"].as_str().unwrap().to_string(),
            v["reason"].as_str().unwrap().to_string(),
        );
    }
    (decisions, stderr)
}

#[test]
fn attributes_without_their_events_tags_get_the_default_tlp_and_a_warning() {
    let lines = [
        old_shape(1, &[], &[]),
        old_shape(2, &["kill-chain:delivery"], &[]),
        // Its own TLP decides: the event's does not matter.
        old_shape(3, &["tlp:green"], &[]),
        // Inherited event tags (includeEventTags): the event's TLP is known.
        old_shape(4, &[], &["tlp:red"]),
        old_shape(5, &[], &["osint:source-type=\"blog-post\""]),
    ];
    let (d, stderr) = map_stdin(&lines, &[]);
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains("warning")).collect();
    assert_eq!(warnings.len(), 1, "one warning a run: {stderr}");
    assert!(
        warnings[0].starts_with("ioc-map: warning: 2 attributes came without their event's tags")
            && warnings[0].contains("--default-tlp amber applied"),
        "{stderr}"
    );
    let of = |n: u32| d[&attr_uuid(n)].as_str();
    assert_eq!(
        [of(1), of(2), of(3), of(4), of(5)],
        [
            "mapped",
            "mapped",
            "mapped",
            "tlp above --tlp-max",
            "mapped"
        ]
    );
    // The default applies, never TLP:CLEAR: a --tlp-max below it skips them.
    let (d, stderr) = map_stdin(&lines, &["--tlp-max", "clear"]);
    assert_eq!(d[&attr_uuid(1)], "tlp above --tlp-max");
    assert_eq!(d[&attr_uuid(2)], "tlp above --tlp-max");
    assert!(stderr.contains("--default-tlp amber"), "{stderr}");
    let (d, stderr) = map_stdin(&lines[..1], &["--default-tlp", "red"]);
    assert_eq!(d[&attr_uuid(1)], "tlp above --tlp-max");
    assert!(
        stderr.contains("1 attribute came without") && stderr.contains("--default-tlp red"),
        "{stderr}"
    );
    // Whole events say what their tags are, also when they have none: no warning.
    let ev = event(
        7,
        &[],
        "2",
        vec![attr(1, "domain", "d1.example.com", &[])],
        vec![],
    );
    let (d, stderr) = map_stdin(&[ev.to_string()], &[]);
    assert_eq!(d[&attr_uuid(1)], "mapped");
    assert!(!stderr.contains("warning"), "{stderr}");
}

#[test]
fn without_the_events_publish_time_the_expiry_is_earlier_never_later() {
    // The small stub has no publish_timestamp: the expiry counts from the
    // attribute's own time, which is never later than the event's publish time.
    let mut a: Value = serde_json::from_str(&old_shape(1, &[], &["tlp:green"])).unwrap();
    a["Attribute"]["type"] = json!("ip-dst");
    a["Attribute"]["value"] = json!("45.33.32.156");
    a["Attribute"]["timestamp"] = json!((NOW_S - 60 * DAY).to_string());
    let (d, _) = map_stdin(&[a.to_string()], &[]);
    assert_eq!(d[&attr_uuid(1)], "expired");
    // With the context misp-pull now asks for, the publish time counts.
    a["Attribute"]["Event"]["publish_timestamp"] = json!((NOW_S - DAY).to_string());
    a["Attribute"]["Event"]["date"] = json!("2026-01-09");
    let (d, _) = map_stdin(&[a.to_string()], &[]);
    assert_eq!(d[&attr_uuid(1)], "mapped");
}

/// A MISP galaxy cluster in the export shape, with its tag.
fn cluster(kind: &str, uuid: &str, value: &str, id: &str) -> (Value, Value) {
    let tag = format!("misp-galaxy:{kind}=\"{value} - {id}\"");
    let galaxy = json!({"id": "7", "uuid": "c4e851fa-775f-11e7-8163-b774922098cd",
        "name": kind, "type": kind, "namespace": "mitre-attack",
        "GalaxyCluster": [{"id": "41", "uuid": uuid, "collection_uuid": "dcb864dc-775f-11e7-9fbb-1f41b4996683",
            "type": kind, "value": format!("{value} - {id}"), "tag_name": tag,
            "description": format!("{value}."), "galaxy_id": "7",
            "meta": {"external_id": [id], "refs": [format!("https://attack.mitre.org/{id}")]}}]});
    let tag =
        json!({"id": "12", "name": tag, "colour": "#0088cc", "exportable": true, "local": false});
    (galaxy, tag)
}

#[test]
fn both_scopes_write_the_same_context_objects() {
    // An event with an ATT&CK technique and an intrusion set (clusters with
    // their own uuids, and their tags), one attribute with a technique of its
    // own: the attributes scope asks for includeGalaxy, so it sees the same
    // clusters, and ioc-map names the same objects (not UUIDv5s of bare tags).
    let emu = Emulator::start(0);
    let (phishing, phishing_tag) = cluster(
        "mitre-attack-pattern",
        "a62a8db3-f23a-4d8f-afd6-9dbc77e7813b",
        "Phishing",
        "T1566",
    );
    let (apt28, apt28_tag) = cluster(
        "mitre-intrusion-set",
        "bef4c620-0787-42a8-a96d-b7eb6e85917c",
        "APT28",
        "G0007",
    );
    let (ps, ps_tag) = cluster(
        "mitre-attack-pattern",
        "970a3432-3237-47ad-bcca-7d8cbb217736",
        "PowerShell",
        "T1059.001",
    );
    let mut own = attr(2, "domain", "own-technique.example.com", &[]);
    own["Tag"] = json!([ps_tag]);
    own["Galaxy"] = json!([ps]);
    let mut e = event(
        1,
        &["tlp:green"],
        "2",
        vec![attr(1, "domain", "event-only.example.com", &[]), own],
        vec![],
    );
    let tags = e["Event"]["Tag"].as_array_mut().unwrap();
    tags.extend([phishing_tag, apt28_tag]);
    e["Event"]["Galaxy"] = json!([phishing, apt28]);
    emu.add_event(e);

    let dir = tempfile::tempdir().unwrap();
    let mut context = Vec::new();
    for scope in ["events", "attributes"] {
        let pulled = dir.path().join(format!("{scope}.ndjson"));
        pull(&emu, scope, &pulled);
        let o = Command::new(MAP)
            .args(["--now", NOW, "--context", "objects"])
            .arg(&pulled)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
        let records: BTreeMap<String, Value> = text(&o.stdout)
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|r| r["type"] != "indicator")
            .map(|r| (r["id"].as_str().unwrap().to_string(), r))
            .collect();
        context.push(records);
    }
    assert_eq!(context[0], context[1]);
    let ids: Vec<&str> = context[0].keys().map(String::as_str).collect();
    for want in [
        "attack-pattern--a62a8db3-f23a-4d8f-afd6-9dbc77e7813b",
        "attack-pattern--970a3432-3237-47ad-bcca-7d8cbb217736",
        "threat-actor--bef4c620-0787-42a8-a96d-b7eb6e85917c",
    ] {
        assert!(ids.contains(&want), "{want} in {ids:?}");
    }
    // The identity, the three objects and five links (two to each of the
    // event's, one to the attribute's own technique).
    assert_eq!(ids.len(), 1 + 3 + 5, "{ids:?}");
}
