//! The emulators as the end-to-end tests start them, and what they must hold after a run.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::seed::*;
use crate::support::emulator::misp::Emulator as Misp;
use crate::support::emulator::ms::{Config, MsEmulator, WORKSPACE};

/// The emulators, with room for quick tests (quotas far above what the tests send).
pub fn ms_emulator() -> MsEmulator {
    MsEmulator::start(Config {
        workspaces: vec![WORKSPACE.into(), WS2.into()],
        sentinel_rpm: 100_000,
        defender_rpm: 100_000,
        ..Config::default()
    })
}

pub fn misp_emulator() -> Misp {
    let misp = Misp::start(0);
    seed(&misp);
    misp
}

/// Checks that a workspace holds every `want` indicator exactly once, with the right
/// pattern, TLP marking and validity, that nothing else is there, and that every
/// version it was sent was a real new version (newer `modified`, same `created`).
pub fn assert_sentinel_holds(ms: &MsEmulator, ws: &str, want: &[Ind]) {
    let current = ms.stix_current(ws);
    // Besides the indicators, the creators' identities that ioc-map's default
    // `--context inline` writes.
    let (ids, others): (Vec<&String>, Vec<&String>) =
        current.keys().partition(|id| id.starts_with("indicator--"));
    assert!(
        others.iter().all(|id| id.starts_with("identity--")),
        "{ws}: {others:?}"
    );
    let mut want_ids: Vec<&String> = want.iter().map(|i| &i.id).collect();
    want_ids.sort();
    assert_eq!(ids, want_ids, "{ws}: the indicator ids held");
    for i in want {
        let o = &current[&i.id];
        assert_eq!(o["pattern"], i.pattern, "{}: pattern", i.id);
        assert_eq!(
            o["object_marking_refs"],
            json!([i.marking]),
            "{}: TLP",
            i.id
        );
        assert_eq!(o["valid_from"], stix_time(i.from), "{}: valid_from", i.id);
        assert_eq!(
            o["valid_until"],
            stix_time(i.until),
            "{}: valid_until",
            i.id
        );
    }
    assert_versions_sane(ms, ws);
}

/// Every stored version of every id was newer than the one before, with the first `created`.
pub fn assert_versions_sane(ms: &MsEmulator, ws: &str) {
    for (id, versions) in ms.stix_all(ws) {
        for v in &versions {
            assert!(
                v.newer,
                "{ws}: {id}: a version not newer than an earlier one"
            );
            assert!(!v.created_changed, "{ws}: {id}: created changed");
        }
    }
}

/// Whether a STIX object is retired as of `now`: validity ends at or before it.
pub fn is_retired(o: &Value, now: &str) -> bool {
    o.get("revoked") == Some(&json!(true))
        || o["valid_until"]
            .as_str()
            .is_some_and(|u| parse_time(u) <= parse_time(now))
}

/// Checks that Defender holds exactly the `want` keys, each once.
pub fn assert_defender_holds(ms: &MsEmulator, want: &[Ind]) {
    let mut held: Vec<(String, String)> = ms
        .defender_indicators()
        .iter()
        .map(|d| {
            (
                d.sent["indicatorType"].as_str().unwrap().to_string(),
                d.sent["indicatorValue"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    held.sort();
    let mut keys: Vec<(String, String)> = want
        .iter()
        .filter_map(|i| i.defender.clone())
        .map(|(t, v)| (t.to_string(), v))
        .collect();
    keys.sort();
    keys.dedup();
    assert_eq!(held, keys, "Defender's indicators");
}

/// The end of a Defender indicator's validity.
pub fn defender_expiry(ms: &MsEmulator, ty: &str, value: &str) -> DateTime<Utc> {
    let d = ms
        .defender_indicator(ty, value)
        .unwrap_or_else(|| panic!("Defender has no {ty} {value}"));
    parse_time(d.sent["expirationTime"].as_str().unwrap())
}
