//! `ioc-map --context`: the galaxy clusters of MISP events and attributes and
//! the events' creators, in each mode, over `tests/fixtures/ioc-map/context.ndjson`
//! (an event in MISP's export shape with event- and attribute-level clusters, a
//! feed event with bare galaxy tags, a bare attribute with inherited tags, an
//! event without context). The whole output is pinned by the golden files
//! (`tests/it/ioc_map_golden.rs: context_stix_objects` and the others); these
//! tests state the rules.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use uuid::Uuid;

use misp2ms::misp::ids::NAMESPACE;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ioc-map/context.ndjson")
}

fn ioc_map(args: &[&str], input: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ioc-map"))
        .args(["--now", "2026-11-28T00:00:00Z"])
        .args(args)
        .arg(input)
        .output()
        .unwrap()
}

/// The records of a successful run of `--context MODE`.
fn records(mode: &str) -> Vec<Value> {
    let out = ioc_map(&["--context", mode], &fixture());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn of_type<'r>(records: &'r [Value], t: &str) -> Vec<&'r Value> {
    records.iter().filter(|r| r["type"] == t).collect()
}

fn indicator<'r>(records: &'r [Value], attribute: &str) -> &'r Value {
    let id = format!("indicator--{attribute}");
    records.iter().find(|r| r["id"] == id.as_str()).unwrap()
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().map(|s| s.as_str().unwrap()).collect())
        .unwrap_or_default()
}

/// The ATT&CK ids an indicator cites.
fn attack_ids(ind: &Value) -> Vec<&str> {
    let refs = ind["external_references"].as_array().unwrap();
    refs.iter()
        .filter(|r| r["source_name"] == "mitre-attack")
        .map(|r| r["external_id"].as_str().unwrap())
        .collect()
}

const A1: &str = "c0e1a001-0000-4000-8000-000000000001";
const A2: &str = "c0e1a001-0000-4000-8000-000000000002";
const A3: &str = "c0e1a001-0000-4000-8000-000000000003";
const A4_DELETED: &str = "c0e1a001-0000-4000-8000-000000000004";
const A5_IN_OBJECT: &str = "c0e1a001-0000-4000-8000-000000000005";
const FEED: &str = "c0e1a002-0000-4000-8000-000000000001";
const BARE: &str = "c0e1a003-0000-4000-8000-000000000001";
const PLAIN: &str = "c0e1a004-0000-4000-8000-000000000001";
const CIRCL: &str = "identity--55f6ea5e-2c60-40e5-964f-47a8950d210f";

#[test]
fn none_writes_the_indicators_alone_with_raw_galaxy_tags() {
    let r = records("none");
    assert!(r.iter().all(|r| r["type"] == "indicator"));
    let a1 = indicator(&r, A1);
    assert!(
        strings(&a1["labels"]).contains(&"misp-galaxy:mitre-attack-pattern=\"Phishing - T1566\"")
    );
    assert!(attack_ids(a1).is_empty());
    // created_by_ref as ever, without its identity.
    assert_eq!(a1["created_by_ref"], CIRCL);
}

#[test]
fn inline_cites_attack_labels_clusters_and_writes_each_creator_once_before_it_is_named() {
    let r = records("inline");
    let kinds: HashSet<&str> = r.iter().map(|r| r["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, HashSet::from(["identity", "indicator"]));
    // One identity per organisation, before the first record naming it.
    let mut seen = HashSet::new();
    for rec in &r {
        if rec["type"] == "identity" {
            assert!(seen.insert(rec["id"].as_str().unwrap()), "{rec}");
            assert_eq!(rec["identity_class"], "organization");
        }
        if let Some(by) = rec["created_by_ref"].as_str() {
            assert!(seen.contains(by), "{by} named before it was written");
        }
    }
    assert_eq!(seen.len(), 2, "CIRCL and Example ISAC");
    assert_eq!(of_type(&r, "identity")[0]["name"], "CIRCL");

    // The event's clusters, on every attribute of the event.
    let a1 = indicator(&r, A1);
    assert_eq!(
        strings(&a1["labels"]),
        [
            "attack-pattern:Phishing",
            "threat-actor:APT28",
            "malware:LockBit",
            "tool:Mimikatz"
        ]
    );
    assert_eq!(attack_ids(a1), ["T1566", "G0007"]);
    let refs = &a1["external_references"];
    assert_eq!(
        refs[0]["source_name"], "MISP",
        "the event's reference first"
    );
    assert_eq!(refs[1]["url"], "https://attack.mitre.org/techniques/T1566/");
    assert_eq!(refs[2]["url"], "https://attack.mitre.org/groups/G0007/");
    // Attribute-level clusters add to the event's: a Galaxy, and a bare tag.
    let a2 = indicator(&r, A2);
    assert_eq!(
        &strings(&a2["labels"])[4..],
        ["threat-actor:Sofacy", "threat-actor:STRONTIUM"]
    );
    let a3 = indicator(&r, A3);
    assert_eq!(attack_ids(a3), ["T1566", "G0007", "T1059"]);
    assert!(strings(&a3["labels"]).contains(&"sector:Government, Administration"));
    // A sub-technique stays one, with its own page.
    let a5 = indicator(&r, A5_IN_OBJECT);
    assert_eq!(attack_ids(a5), ["T1566", "G0007", "T1566.001"]);
    assert_eq!(
        a5["external_references"][3]["url"],
        "https://attack.mitre.org/techniques/T1566/001/"
    );
    // Bare tags in a feed event, and inherited by a bare attribute.
    assert_eq!(attack_ids(indicator(&r, FEED)), ["T1566"]);
    assert_eq!(
        strings(&indicator(&r, FEED)["labels"]),
        [
            "attack-pattern:Phishing",
            "threat-actor:Sofacy",
            "malware:Emotet"
        ]
    );
    assert_eq!(attack_ids(indicator(&r, BARE)), ["G0007", "T1071"]);
    // No raw galaxy tag is left anywhere.
    for rec in &r {
        assert!(
            strings(&rec["labels"])
                .iter()
                .all(|l| !l.starts_with("misp-galaxy:")),
            "{rec}"
        );
    }
    // Without clusters: the indicator as with `none`.
    let none = records("none");
    assert_eq!(indicator(&r, PLAIN), indicator(&none, PLAIN));
}

#[test]
fn objects_write_each_shared_object_once_before_the_records_that_need_it() {
    let r = records("objects");
    let mut written: HashSet<&str> = HashSet::new();
    for rec in &r {
        let id = rec["id"].as_str().unwrap();
        for end in ["created_by_ref", "source_ref", "target_ref"] {
            if let Some(end) = rec[end].as_str() {
                assert!(written.contains(end), "{id}: {end} not written before");
            }
        }
        assert!(written.insert(id), "{id} written twice");
    }
    let count = |t: &str| of_type(&r, t).len();
    assert_eq!(
        (
            count("identity"),
            count("attack-pattern"),
            count("threat-actor")
        ),
        (2, 5, 4),
        "{:#?}",
        of_type(&r, "attack-pattern")
    );
    // Malware and tools have no Sentinel type: labels only.
    assert!(r
        .iter()
        .all(|r| r["type"] != "malware" && r["type"] != "tool"));

    // Ids: the cluster's uuid (MISP's ATT&CK clusters carry MITRE's), else
    // UUIDv5 of the tag name (an empty uuid counts as none).
    let ap = |name: &str| -> Vec<&str> {
        of_type(&r, "attack-pattern")
            .into_iter()
            .filter(|o| o["name"] == name)
            .map(|o| o["id"].as_str().unwrap())
            .collect()
    };
    let v5 = |tag: &str| Uuid::new_v5(&NAMESPACE, tag.as_bytes());
    assert_eq!(
        ap("Phishing"),
        [
            "attack-pattern--a62a8db3-f23a-4d8f-afd6-9dbc77e7813b".to_string(),
            format!(
                "attack-pattern--{}",
                v5("misp-galaxy:mitre-attack-pattern=\"Phishing - T1566\"")
            )
        ]
    );
    assert_eq!(
        ap("Spearphishing Attachment"),
        ["attack-pattern--2e34237d-8574-43f6-aace-ae2915de8597"]
    );
    let sofacy = format!(
        "threat-actor--{}",
        v5("misp-galaxy:threat-actor=\"Sofacy\"")
    );
    let actor = r.iter().find(|o| o["id"] == sofacy.as_str()).unwrap();
    assert_eq!(actor["name"], "Sofacy");
    assert_eq!(strings(&actor["aliases"]), ["APT28", "Sednit"]);
    let apt28 = r
        .iter()
        .find(|o| o["id"] == "threat-actor--bef4c620-0787-42a8-a96d-b7eb6e85917c")
        .unwrap();
    assert_eq!(apt28["name"], "APT28");
    assert_eq!(
        strings(&apt28["aliases"]),
        ["Sofacy", "Fancy Bear", "STRONTIUM"]
    );
    assert_eq!(apt28["external_references"][0]["external_id"], "G0007");

    // Relationships: each indicator indicates its attack patterns and actors,
    // with a UUIDv5 of source, type and target, the indicator's times,
    // creator and marking.
    let rels = of_type(&r, "relationship");
    let from = |a: &str| -> Vec<&Value> {
        let src = format!("indicator--{a}");
        rels.iter()
            .copied()
            .filter(|x| x["source_ref"] == src.as_str())
            .collect()
    };
    let a2 = from(A2);
    let targets: Vec<&str> = a2
        .iter()
        .map(|x| x["target_ref"].as_str().unwrap())
        .collect();
    assert_eq!(
        targets,
        [
            "attack-pattern--a62a8db3-f23a-4d8f-afd6-9dbc77e7813b",
            "threat-actor--bef4c620-0787-42a8-a96d-b7eb6e85917c",
            sofacy.as_str(),
            "threat-actor--c3b2a1d0-0000-4000-8000-5752a0e7e001"
        ]
    );
    let ind = indicator(&r, A2);
    for x in &a2 {
        assert_eq!(x["relationship_type"], "indicates");
        let want = Uuid::new_v5(
            &NAMESPACE,
            format!(
                "indicator--{A2}|indicates|{}",
                x["target_ref"].as_str().unwrap()
            )
            .as_bytes(),
        );
        assert_eq!(x["id"], format!("relationship--{want}"));
        for k in [
            "created",
            "modified",
            "created_by_ref",
            "object_marking_refs",
        ] {
            assert_eq!(x[k], ind[k], "{k}");
        }
    }
    // A retirement writes no relationships: those sent with the live
    // indicator lapse with it (with --revoke they are revoked, see below).
    assert!(from(A4_DELETED).is_empty());
    assert!(from(PLAIN).is_empty());
    // Every record of `inline` is there unchanged.
    let inline = records("inline");
    let objects: BTreeMap<&str, &Value> =
        r.iter().map(|o| (o["id"].as_str().unwrap(), o)).collect();
    for rec in &inline {
        assert_eq!(objects[rec["id"].as_str().unwrap()], rec);
    }
}

#[test]
fn revoke_revokes_the_relationships_of_a_revoked_indicator() {
    let out = ioc_map(&["--context", "objects", "--revoke"], &fixture());
    assert_eq!(out.status.code(), Some(0));
    let r: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let src = format!("indicator--{A4_DELETED}");
    let rels: Vec<&Value> = r
        .iter()
        .filter(|x| x["source_ref"] == src.as_str())
        .collect();
    assert_eq!(rels.len(), 2);
    assert!(rels.iter().all(|x| x["revoked"] == true));
}

#[test]
fn two_runs_write_the_same_bytes() {
    let one = ioc_map(&["--context", "objects"], &fixture());
    let two = ioc_map(&["--context", "objects"], &fixture());
    assert!(!one.stdout.is_empty());
    assert_eq!(one.stdout, two.stdout);
}

#[test]
fn the_summary_counts_the_context_objects() {
    let out = ioc_map(&["--context", "objects"], &fixture());
    let stderr = String::from_utf8(out.stderr).unwrap();
    let lines = String::from_utf8(out.stdout).unwrap().lines().count();
    assert!(
        stderr.contains("9 indicators written (1 retirement), ")
            && stderr.contains(&format!(", {} context objects written,", lines - 9)),
        "{stderr}"
    );
    let out = ioc_map(&["--context", "none"], &fixture());
    assert!(!String::from_utf8(out.stderr)
        .unwrap()
        .contains("context objects"));
}

#[test]
fn objects_apply_to_stix_only() {
    for format in ["defender", "tiindicator"] {
        let out = ioc_map(&["--format", format, "--context", "objects"], &fixture());
        assert_eq!(out.status.code(), Some(2), "{format}");
        assert!(out.stdout.is_empty());
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(
            stderr.contains("--context objects applies to --format stix only"),
            "{stderr}"
        );
    }
}

#[test]
fn tiindicator_names_actors_and_malware_families() {
    let out = ioc_map(
        &["--format", "tiindicator", "--azure-tenant-id", "t"],
        &fixture(),
    );
    let r: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let rec = |a: &str| r.iter().find(|x| x["externalId"] == a).unwrap();
    assert_eq!(
        strings(&rec(A2)["activityGroupNames"]),
        ["APT28", "Sofacy", "STRONTIUM"]
    );
    assert_eq!(strings(&rec(A2)["malwareFamilyNames"]), ["LockBit"]);
    assert_eq!(strings(&rec(FEED)["malwareFamilyNames"]), ["Emotet"]);
    assert!(rec(PLAIN).get("activityGroupNames").is_none());
    // With `none`, as before.
    let out = ioc_map(
        &[
            "--format",
            "tiindicator",
            "--azure-tenant-id",
            "t",
            "--context",
            "none",
        ],
        &fixture(),
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!text.contains("activityGroupNames") && !text.contains("malwareFamilyNames"));
    assert!(text.contains("misp-galaxy:"));
}

#[test]
fn defender_csv_lists_the_attack_techniques() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("d.csv");
    let out = ioc_map(
        &["--format", "defender-csv", "-o", csv.to_str().unwrap()],
        &fixture(),
    );
    assert_eq!(out.status.code(), Some(0));
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut rows = csv::Reader::from_reader(text.as_bytes());
    let techniques: BTreeMap<String, String> = rows
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r[1].to_string(), r[10].to_string())
        })
        .collect();
    assert_eq!(techniques["login-microsoftonline.example.net"], "T1566");
    assert_eq!(
        techniques["5f2b9c0e6f7d1a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f80910a1b"],
        "T1566,T1566.001"
    );
    assert_eq!(techniques["c2.example.com"], "T1071");
    assert_eq!(techniques["plain.example.info"], "");
}

/// The example of docs/ioc-map.md (section `context-example`): the event
/// shown, mapped with `--context objects`, gives the records shown.
#[test]
fn the_documented_example_is_what_ioc_map_writes() {
    let section = crate::support::docs::section("context-example");
    let blocks: Vec<&str> = section.text.split("```").skip(1).step_by(2).collect();
    let (input, output) = match blocks.as_slice() {
        [input, output, ..] => (input, output),
        _ => panic!("{}: two code blocks expected", section.file),
    };
    let body = |b: &str| b.split_once('\n').map_or("", |(_, rest)| rest).to_string();
    let event: Value = serde_json::from_str(&body(input)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("event.json");
    std::fs::write(&file, serde_json::to_string(&event).unwrap()).unwrap();
    let out = ioc_map(&["--context", "objects"], &file);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        body(output),
        "{}: the example's output differs",
        section.file
    );
}
