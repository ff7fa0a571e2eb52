//! graph-push with context objects against the emulator: the shared objects
//! (identity, attack-pattern, threat-actor) and the relationships `ioc-map
//! --context objects` writes. A relationship goes only after both its ends
//! were accepted in an earlier request; one whose end was rejected, failed or
//! never sent is skipped and kept in `--failed`; a replay completes it; a
//! second run sends nothing.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::support::emulator::ms::{Api, Config, MsEmulator, WORKSPACE};
use crate::support::push::*;

const IDENTITY: &str = "identity--55f6ea5e-2c60-40e5-964f-47a8950d210f";
const PHISHING: &str = "attack-pattern--a62a8db3-f23a-4d8f-afd6-9dbc77e7813b";
const SPEARPHISHING: &str = "attack-pattern--2e34237d-8574-43f6-aace-ae2915de8597";
const APT28: &str = "threat-actor--bef4c620-0787-42a8-a96d-b7eb6e85917c";

const T0: &str = "2026-03-02T10:15:00.000Z";

fn identity() -> Value {
    json!({"type": "identity", "spec_version": "2.1", "id": IDENTITY, "created": T0, "modified": T0,
        "name": "CIRCL", "identity_class": "organization"})
}

fn attack_pattern(id: &str, name: &str, technique: &str) -> Value {
    json!({"type": "attack-pattern", "spec_version": "2.1", "id": id, "created": T0, "modified": T0,
        "name": name, "created_by_ref": IDENTITY,
        "external_references": [{"source_name": "mitre-attack", "external_id": technique,
            "url": format!("https://attack.mitre.org/techniques/{technique}/")}]})
}

fn threat_actor() -> Value {
    json!({"type": "threat-actor", "spec_version": "2.1", "id": APT28, "created": T0, "modified": T0,
        "name": "APT28", "aliases": ["Fancy Bear", "Sofacy"], "created_by_ref": IDENTITY,
        "external_references": [{"source_name": "mitre-attack", "external_id": "G0007"}]})
}

fn indicator(i: usize) -> Value {
    let mut v = stix(i);
    v["created_by_ref"] = json!(IDENTITY);
    v
}

fn indicates(source: &str, target: &str) -> Value {
    let id = uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_OID,
        format!("{source}|indicates|{target}").as_bytes(),
    );
    json!({"type": "relationship", "spec_version": "2.1", "id": format!("relationship--{id}"),
        "created": T0, "modified": T0, "relationship_type": "indicates",
        "source_ref": source, "target_ref": target, "created_by_ref": IDENTITY})
}

fn id(v: &Value) -> &str {
    v["id"].as_str().unwrap()
}

/// The objects in the order `ioc-map --context objects` writes them: each
/// shared object once, before the first record that needs it; here each
/// relationship even comes before its indicator, which travels in the same
/// batch as the relationship's other end.
fn input() -> Vec<Value> {
    let (x0, x1, x2) = (indicator(0), indicator(1), indicator(2));
    vec![
        identity(),
        attack_pattern(PHISHING, "Phishing", "T1566"),
        threat_actor(),
        indicates(id(&x0), PHISHING),
        indicates(id(&x0), APT28),
        x0,
        attack_pattern(SPEARPHISHING, "Spearphishing Attachment", "T1566.001"),
        indicates(id(&x1), SPEARPHISHING),
        x1,
        indicates(id(&x2), PHISHING),
        x2,
    ]
}

fn relationships(records: &[Value]) -> Vec<&Value> {
    records
        .iter()
        .filter(|r| r["type"] == "relationship")
        .collect()
}

/// The request (the emulator's order) that first stored each id.
fn first_request(emu: &MsEmulator) -> BTreeMap<String, u64> {
    emu.stix_all(WORKSPACE)
        .into_iter()
        .map(|(id, versions)| (id, versions[0].request))
        .collect()
}

fn sentinel_requests(emu: &MsEmulator) -> usize {
    emu.log()
        .iter()
        .filter(|e| e.api == Some(Api::Sentinel))
        .count()
}

/// Every relationship the emulator holds came in a later request than both its ends.
fn assert_ends_first(emu: &MsEmulator, records: &[Value]) {
    let seen = first_request(emu);
    for r in relationships(records) {
        let Some(rel) = seen.get(id(r)) else { continue };
        for end in ["source_ref", "target_ref"] {
            let end = r[end].as_str().unwrap();
            let at = seen
                .get(end)
                .unwrap_or_else(|| panic!("{} sent without its end {end}", id(r)));
            assert!(
                at < rel,
                "{} in request {rel}, its end {end} in {at}",
                id(r)
            );
        }
    }
}

#[test]
fn ends_are_accepted_before_their_relationships_and_a_second_run_sends_nothing() {
    let emu = MsEmulator::start(Config::default());
    let tmp = tempfile::tempdir().unwrap();
    let ledger = tmp.path().join("ledger");
    let l = ledger.to_str().unwrap();
    let records = input();
    let run = push(&emu, &["--ledger", l], &records);
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.assert_accounted(records.len());
    assert_eq!(run.count("accepted"), records.len(), "{}", run.stdout);
    assert_sentinel_holds(&emu, &records, &run);
    assert_eq!(emu.stix_current(WORKSPACE).len(), records.len());
    assert_ends_first(&emu, &records);
    // The shared objects and indicators go together, the relationships after them.
    assert_eq!(sentinel_requests(&emu), 2);

    // Again: every object, shared or not, is unchanged through the ledger.
    let run = push(&emu, &["--ledger", l], &records);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.count("unchanged"), records.len(), "{}", run.stdout);
    assert_eq!(sentinel_requests(&emu), 2, "a second run sends nothing");
}

#[test]
fn relationships_wait_only_for_requests_in_flight() {
    // Many small requests in flight: each relationship still comes after its ends,
    // and the relationships travel in full batches, not one request each.
    let emu = MsEmulator::start(Config::default());
    let mut records = vec![identity(), attack_pattern(PHISHING, "Phishing", "T1566")];
    for i in 0..300 {
        let x = indicator(i);
        let r = indicates(id(&x), PHISHING);
        records.push(x);
        records.push(r);
    }
    let run = push(&emu, &["--batch-size", "20", "--parallel", "3"], &records);
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.assert_accounted(records.len());
    assert_eq!(run.count("accepted"), records.len());
    assert_ends_first(&emu, &records);
    let requests = sentinel_requests(&emu);
    assert!(
        requests <= records.len().div_ceil(20) + 6,
        "{requests} requests for {} records",
        records.len()
    );
}

#[test]
fn a_rejected_end_sends_none_of_its_relationships_and_a_replay_completes_them() {
    let emu = MsEmulator::start(Config::default());
    let tmp = tempfile::tempdir().unwrap();
    let (ledger, failed, rejected, fixed) = (
        tmp.path().join("ledger"),
        tmp.path().join("failed.ndjson"),
        tmp.path().join("rejected.ndjson"),
        tmp.path().join("fixed.ndjson"),
    );
    let (l, f, r) = (
        ledger.to_str().unwrap(),
        failed.to_str().unwrap(),
        rejected.to_str().unwrap(),
    );
    // Sentinel refuses an attack-pattern without a name.
    let mut records = input();
    let at = records
        .iter()
        .position(|o| o["id"] == SPEARPHISHING)
        .unwrap();
    let good = records[at].clone();
    records[at].as_object_mut().unwrap().remove("name");
    let waiting = indicates(id(&indicator(1)), SPEARPHISHING);
    let run = push(
        &emu,
        &["--ledger", l, "--failed", f, "--rejected", r],
        &records,
    );
    assert_eq!(run.code, 3, "{}", run.stderr);
    run.assert_accounted(records.len());
    assert_eq!(run.count("rejected"), 1, "{}", run.stdout);
    let skipped = run.with_status("skipped");
    assert_eq!(skipped.len(), 1, "{}", run.stdout);
    assert_eq!(skipped[0]["key"], id(&waiting));
    let reason = skipped[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains(SPEARPHISHING) && reason.contains("rejected"),
        "{reason}"
    );
    assert_eq!(run.count("accepted"), records.len() - 2);
    let held = emu.stix_current(WORKSPACE);
    assert!(!held.contains_key(SPEARPHISHING) && !held.contains_key(id(&waiting)));
    assert_ends_first(&emu, &records);
    assert_eq!(read_ndjson(&failed), vec![waiting.clone()]);

    // The end fixed, the replay of --failed sends the relationship after it.
    write_ndjson(&fixed, &[good]);
    let run = push(
        &emu,
        &["--ledger", l, "--failed", f, fixed.to_str().unwrap(), f],
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.count("accepted"), 2, "{}", run.stdout);
    assert!(read_ndjson(&failed).is_empty());
    let held = emu.stix_current(WORKSPACE);
    assert!(held.contains_key(SPEARPHISHING) && held.contains_key(id(&waiting)));
    let mut all = input();
    all.push(waiting);
    assert_ends_first(&emu, &all);
}

#[test]
fn a_relationship_to_an_end_not_yet_sent_is_skipped_and_kept() {
    // An end that comes later in the input, and one that never comes: neither is
    // waited for (only requests in flight are); both relationships go to --failed.
    let emu = MsEmulator::start(Config::default());
    let tmp = tempfile::tempdir().unwrap();
    let failed = tmp.path().join("failed.ndjson");
    let f = failed.to_str().unwrap();
    let x = indicator(7);
    let early = indicates(id(&x), PHISHING);
    let never = indicates(id(&x), APT28);
    let records = vec![
        early.clone(),
        x.clone(),
        never.clone(),
        attack_pattern(PHISHING, "Phishing", "T1566"),
    ];
    let run = push(&emu, &["--failed", f], &records);
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.assert_accounted(records.len());
    let skipped = run.with_status("skipped");
    assert_eq!(skipped.len(), 2, "{}", run.stdout);
    for (s, end) in skipped.iter().zip([PHISHING, APT28]) {
        assert!(s["reason"].as_str().unwrap().contains(end), "{s}");
    }
    assert_eq!(read_ndjson(&failed), vec![early.clone(), never]);
    assert!(!emu.stix_current(WORKSPACE).contains_key(id(&early)));
}

/// A ledger in a folder of its own, against a new emulator: `records` pushed
/// once, then each [`Ledgered::retire`] a `--retire-missing` run on a file.
struct Ledgered {
    emu: MsEmulator,
    dir: tempfile::TempDir,
}

impl Ledgered {
    fn start(records: &[Value]) -> Self {
        let l = Ledgered {
            emu: MsEmulator::start(Config::default()),
            dir: tempfile::tempdir().unwrap(),
        };
        let run = push(&l.emu, &["--ledger", &l.ledger()], records);
        assert_eq!(run.code, 0, "{}", run.stderr);
        l
    }

    fn ledger(&self) -> String {
        self.dir.path().join("ledger").to_str().unwrap().to_string()
    }

    /// `--retire-missing` with `flags` on `input`, written to a file.
    fn retire(&self, input: &[Value], flags: &[&str]) -> Run {
        let file = self.dir.path().join("input.ndjson");
        write_ndjson(&file, input);
        let l = self.ledger();
        let mut args = vec!["--ledger", l.as_str(), "--retire-missing"];
        args.extend_from_slice(flags);
        args.push(file.to_str().unwrap());
        run_cmd(command(&self.emu, &args), b"")
    }
}

/// A run of [`input`] with a ledger, then `--retire-missing` with `flags` on
/// the records `gone` leaves out: the emulator, the records left out, those
/// kept, and the second run.
fn retire_missing(
    gone: impl Fn(&Value) -> bool,
    flags: &[&str],
) -> (MsEmulator, Vec<Value>, Vec<Value>, Run) {
    let records = input();
    let l = Ledgered::start(&records);
    let (left, kept): (Vec<Value>, Vec<Value>) = records.into_iter().partition(gone);
    let run = l.retire(&kept, flags);
    (l.emu, left, kept, run)
}

#[test]
fn retire_missing_revokes_only_links_that_left_a_live_indicator() {
    // The threat actor, the indicator x2 and their relationships left the input.
    let x2 = id(&indicator(2)).to_string();
    let gone = |r: &Value| {
        r["id"] == APT28 || r["id"] == x2 || r["target_ref"] == APT28 || r["source_ref"] == x2
    };
    let (emu, _, kept, run) = retire_missing(gone, &["--force"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.count("unchanged"), kept.len(), "{}", run.stdout);
    // Retired: x2 (its validity ends), and x0's link to the actor, which left
    // an indicator still in the input. Left alone: the actor (a shared
    // object), and x2's link, which lapses with x2.
    let x0_apt28 = indicates(id(&indicator(0)), APT28);
    let x2_phishing = indicates(&x2, PHISHING);
    let mut retired = run.accepted_keys();
    retired.sort();
    let mut want = vec![x2.clone(), id(&x0_apt28).to_string()];
    want.sort();
    assert_eq!(retired, want);
    assert!(
        run.stderr
            .contains("retiring 2 live keys absent from the input"),
        "{}",
        run.stderr
    );
    let held = emu.stix_current(WORKSPACE);
    let revoked = &held[id(&x0_apt28)];
    assert_eq!(revoked["revoked"], true, "{revoked}");
    assert_eq!(revoked["source_ref"], x0_apt28["source_ref"]);
    assert_eq!(revoked["target_ref"], x0_apt28["target_ref"]);
    assert!(revoked.get("valid_until").is_none(), "{revoked}");
    assert_eq!(
        emu.stix_all(WORKSPACE)[id(&x2_phishing)].len(),
        1,
        "sent once"
    );
    assert!(held[id(&x2_phishing)].get("revoked").is_none());
    assert!(held[&x2]["valid_until"].is_string());
    assert!(held[APT28].get("revoked").is_none());
}

#[test]
fn links_of_a_lapsed_indicator_lapse_with_it() {
    // x2 lapses (its validity ends before the second run) and leaves the
    // input, as ioc-map leaves out what has expired: nothing is retired, and
    // its link is not held against --max-retire (one key of ten would be 10 %).
    let x2 = id(&indicator(2)).to_string();
    let mut records = input();
    for r in records.iter_mut().filter(|r| r["id"] == x2.as_str()) {
        r["valid_until"] = json!("2027-01-01T00:00:00.000Z");
    }
    let l = Ledgered::start(&records);
    let kept: Vec<Value> = records
        .into_iter()
        .filter(|r| r["id"] != x2.as_str() && r["source_ref"] != x2.as_str())
        .collect();
    let later = ["--now", "2027-02-01T00:00:00Z", "--max-retire", "5"];
    let run = l.retire(&kept, &later);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.stderr.contains("retiring"), "{}", run.stderr);
    assert_eq!(run.count("unchanged"), kept.len(), "{}", run.stdout);
    let link = indicates(&x2, PHISHING);
    assert_eq!(l.emu.stix_all(WORKSPACE)[id(&link)].len(), 1, "sent once");
}

#[test]
fn a_revoked_link_is_not_sent_again() {
    // x0's link to the actor left the input while x0 stayed: revoked. When it
    // comes back it is skipped: STIX takes no version after a revocation.
    let x0_apt28 = indicates(id(&indicator(0)), APT28);
    let records = input();
    let l = Ledgered::start(&records);
    let kept: Vec<Value> = records
        .iter()
        .filter(|r| r["id"] != x0_apt28["id"])
        .cloned()
        .collect();
    assert_eq!(l.retire(&kept, &["--force"]).code, 0);
    assert_eq!(
        l.emu.stix_current(WORKSPACE)[id(&x0_apt28)]["revoked"],
        true
    );

    let run = l.retire(&records, &["--force"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let skipped = run.with_status("skipped");
    assert_eq!(skipped.len(), 1, "{}", run.stdout);
    assert_eq!(skipped[0]["key"], x0_apt28["id"]);
    assert!(
        skipped[0]["reason"]
            .as_str()
            .unwrap()
            .contains("revoked earlier"),
        "{}",
        skipped[0]
    );
    assert_eq!(
        l.emu.stix_all(WORKSPACE)[id(&x0_apt28)].len(),
        2,
        "no third version"
    );
}

#[test]
fn links_that_can_never_be_sent_are_not_kept_for_a_replay() {
    // A link to an end skipped as never sent (a retirement of a key the
    // target never had) is skipped and not kept in --failed; a link kept
    // there is kept once, however many copies the input has.
    let emu = MsEmulator::start(Config::default());
    let tmp = tempfile::tempdir().unwrap();
    let l = tmp.path().join("ledger").to_str().unwrap().to_string();
    let failed = tmp.path().join("failed.ndjson");
    let f = failed.to_str().unwrap();
    let mut gone = indicator(9);
    gone["valid_until"] = gone["modified"].clone();
    let never = indicates(id(&gone), PHISHING);
    let x = indicator(8);
    let later = indicates(id(&x), APT28);
    let records = vec![
        attack_pattern(PHISHING, "Phishing", "T1566"),
        gone,
        never.clone(),
        later.clone(),
        later.clone(),
        x,
    ];
    let run = push(&emu, &["--ledger", &l, "--failed", f], &records);
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.assert_accounted(records.len());
    let skipped = run.with_status("skipped");
    assert_eq!(skipped.len(), 4, "{}", run.stdout);
    let why = |key: &Value| {
        let s = skipped.iter().find(|s| s["key"] == *key).unwrap();
        s["reason"].as_str().unwrap().to_string()
    };
    assert!(
        why(&never["id"]).contains("skipped as never sent"),
        "{}",
        run.stdout
    );
    assert_eq!(read_ndjson(&failed), vec![later], "once, for a replay");
}

#[test]
fn shared_objects_absent_from_the_input_are_not_held_against_max_retire() {
    // Only the threat actor left the input: nothing is to be retired.
    let (emu, _, kept, run) = retire_missing(|r| r["id"] == APT28, &["--max-retire", "0"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.stderr.contains("retiring"), "{}", run.stderr);
    assert_eq!(run.count("unchanged"), kept.len(), "{}", run.stdout);
    assert!(emu.stix_current(WORKSPACE)[APT28].get("revoked").is_none());
}
