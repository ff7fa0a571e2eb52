//! What the tests seed MISP with, and the indicators it must become.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::support::emulator::misp::Emulator as Misp;

/// 2026-11-20T00:00:00Z: the seeded attributes' timestamp.
pub const T0: i64 = 1_795_132_800;
/// The runs' clock (`--now`).
pub const NOW: &str = "2026-11-28T00:00:00Z";
/// A second Sentinel workspace.
pub const WS2: &str = "2b0e7c1a-0000-4000-8000-0000000005ec";
/// The namespace for derived ids (docs/design.md#ids-and-keys), spelled out independently.
const NS: uuid::Uuid = uuid::Uuid::from_u128(0x5b1d_7f0e_3c2a_4e8b_9d61_0a7c_e4f2_9b35);

pub const GREEN: &str = "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da";
pub const AMBER: &str = "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82";
pub const CLEAR: &str = "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9";

pub const EV_A: &str = "aaaaaaaa-0000-4000-8000-00000000000a";
pub const EV_B: &str = "bbbbbbbb-0000-4000-8000-00000000000b";
pub const EV_C: &str = "cccccccc-0000-4000-8000-00000000000c";
pub const EV_D: &str = "dddddddd-0000-4000-8000-00000000000d";
pub const EV_E: &str = "eeeeeeee-0000-4000-8000-00000000000e";
pub const EV_F: &str = "ffffffff-0000-4000-8000-00000000000f";
pub const EV_G: &str = "99999999-0000-4000-8000-000000000009";

/// Attribute uuids: event letter + number.
pub fn au(event: char, n: u32) -> String {
    let e = event.to_string().repeat(8);
    format!("{e}-1111-4000-8000-{n:012}")
}

const DAY: i64 = 86_400;

pub fn ts(epoch: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(epoch, 0).unwrap()
}
pub fn stix_time(epoch: i64) -> String {
    ts(epoch).format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}
pub fn parse_time(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}
pub fn plus_hours(now: &str, h: i64) -> String {
    (parse_time(now) + chrono::Duration::hours(h))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn attr(uuid: &str, ty: &str, value: &str, to_ids: bool, tags: &[&str]) -> Value {
    json!({
        "uuid": uuid, "type": ty, "category": "Network activity", "value": value,
        "to_ids": to_ids, "timestamp": T0.to_string(), "comment": "", "deleted": false,
        "disable_correlation": false, "first_seen": null, "last_seen": null,
        "Tag": tags.iter().map(|t| json!({"name": t})).collect::<Vec<_>>(),
    })
}

fn event(uuid: &str, info: &str, tlp: &str, attrs: Vec<Value>, objects: Vec<Value>) -> Value {
    json!({"Event": {
        "uuid": uuid, "info": info, "date": "2026-11-19", "threat_level_id": "2",
        "analysis": "2", "published": true, "distribution": "1",
        "timestamp": (T0 + 60).to_string(), "publish_timestamp": (T0 + 120).to_string(),
        "Orgc": {"name": "Test CERT", "uuid": "1c4f2d3e-5a6b-4c7d-8e9f-0a1b2c3d4e5f"},
        "Tag": [{"name": tlp}, {"name": "malware:testbot"}],
        "Attribute": attrs, "Object": objects,
    }})
}

/// The seeded events: several types, a refanged url, composites, an object,
/// attribute- and event-level TLP, a TLP:RED event and a to_ids-false attribute.
pub fn seed(misp: &Misp) {
    for e in seed_events() {
        misp.add_event(e);
    }
    // Edits made later stamp "now" on the emulator's clock: after the seeds.
    misp.set_clock(T0 + 3600);
}

/// The seeded events as `{"Event":{…}}`, in the order A to E.
pub fn seed_events() -> Vec<Value> {
    let sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    vec![
        event(
            EV_A,
            "Testbot wave",
            "tlp:green",
            vec![
                attr(&au('a', 1), "ip-dst", "45.33.32.156", true, &[]),
                attr(
                    &au('a', 2),
                    "domain",
                    "Update-Check.EvilCorp-CDN.com",
                    true,
                    &[],
                ),
                attr(
                    &au('a', 3),
                    "url",
                    "hxxp://dl.evilcorp-cdn[.]com/payload.bin",
                    true,
                    &[],
                ),
                attr(
                    &au('a', 4),
                    "domain|ip",
                    "mail.evilcorp-cdn.com|91.215.85.17",
                    true,
                    &[],
                ),
                attr(
                    &au('a', 5),
                    "md5",
                    "0CC175B9C0F1B6A831C399E269772661",
                    true,
                    &["tlp:amber"],
                ),
                attr(&au('a', 6), "text", "beacons every 60 s", false, &[]),
            ],
            vec![json!({
                "name": "file", "meta-category": "file", "uuid": "aaaaaaaa-2222-4000-8000-000000000001",
                "timestamp": T0.to_string(), "deleted": false,
                "Attribute": [
                    attr(&au('a', 7), "sha256", sha256, true, &[]),
                    attr(&au('a', 8), "filename", "dropper.exe", false, &[]),
                ],
            })],
        ),
        event(
            EV_B,
            "Phishing run",
            "tlp:amber",
            vec![
                attr(&au('b', 1), "ip-src", "185.220.101.4", true, &[]),
                attr(&au('b', 2), "email-src", "phish@evil-mailer.com", true, &[]),
                attr(
                    &au('b', 3),
                    "filename|sha1",
                    "invoice.exe|A9993E364706816ABA3E25717850C26C9CD0D89D",
                    true,
                    &[],
                ),
                attr(
                    &au('b', 4),
                    "url",
                    "https://evil-login.com/verify",
                    true,
                    &[],
                ),
            ],
            vec![],
        ),
        event(
            EV_C,
            "Red only",
            "tlp:red",
            vec![attr(&au('c', 1), "domain", "red-only.com", true, &[])],
            vec![],
        ),
        event(
            EV_D,
            "Soon unpublished",
            "tlp:green",
            vec![
                attr(&au('d', 1), "domain", "to-be-unpublished.com", true, &[]),
                attr(&au('d', 2), "ip-dst", "103.224.182.250", true, &[]),
            ],
            vec![],
        ),
        event(
            EV_E,
            "Soon deleted",
            "tlp:clear",
            vec![
                attr(
                    &au('e', 1),
                    "sha256",
                    "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
                    true,
                    &[],
                ),
                attr(&au('e', 2), "domain", "to-be-deleted.com", true, &[]),
            ],
            vec![],
        ),
    ]
}

/// A new published event (TLP:GREEN, one domain) added between runs, stamped with the
/// emulator's clock; returns the indicator it must become.
pub fn add_event(misp: &Misp, uuid: &'static str, letter: char, domain: &str) -> Ind {
    let now = misp.now() + 10;
    misp.set_clock(now);
    let mut e = event(
        uuid,
        "New wave",
        "tlp:green",
        vec![attr(&au(letter, 1), "domain", domain, true, &[])],
        vec![],
    );
    let ev = e["Event"].as_object_mut().unwrap();
    for k in ["timestamp", "publish_timestamp"] {
        ev.insert(k.into(), json!(now.to_string()));
    }
    misp.add_event(e);
    Ind {
        event: uuid,
        id: format!("indicator--{}", au(letter, 1)),
        pattern: format!("[domain-name:value = '{domain}']"),
        marking: GREEN,
        from: T0,
        until: now + 90 * DAY,
        defender: Some(("DomainName", domain.to_string())),
    }
}

pub fn add_event_f(misp: &Misp) -> Ind {
    add_event(misp, EV_F, 'f', "brand-new-c2.com")
}

pub fn add_event_g(misp: &Misp) -> Ind {
    add_event(misp, EV_G, '9', "later-c2.com")
}

/// One indicator the seeds must become.
#[derive(Debug, Clone)]
pub struct Ind {
    pub event: &'static str,
    pub id: String,
    pub pattern: String,
    pub marking: &'static str,
    /// valid_from and valid_until, epoch seconds.
    pub from: i64,
    pub until: i64,
    /// Defender's key (indicatorType, indicatorValue), if Defender can express it.
    pub defender: Option<(&'static str, String)>,
}

/// Expiry defaults (ioc-map --help): ip 30d, domain 90d, url 90d, email 180d, hash 365d.
fn ind(
    event: &'static str,
    id: String,
    pattern: &str,
    marking: &'static str,
    days: i64,
    defender: Option<(&'static str, &str)>,
) -> Ind {
    Ind {
        event,
        id: format!("indicator--{id}"),
        pattern: pattern.to_string(),
        marking,
        from: T0,
        // From the later of the attribute timestamp and the event's publish time.
        until: T0 + 120 + days * DAY,
        defender: defender.map(|(t, v)| (t, v.to_string())),
    }
}

/// Every indicator of the seeded events (the TLP:RED event and to_ids-false
/// attributes give none).
pub fn expected() -> Vec<Ind> {
    let part =
        |a: &str, t: &str| uuid::Uuid::new_v5(&NS, format!("{a}/{t}").as_bytes()).to_string();
    let sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    let e_sha = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
    vec![
        ind(
            EV_A,
            au('a', 1),
            "[ipv4-addr:value = '45.33.32.156']",
            GREEN,
            30,
            Some(("IpAddress", "45.33.32.156")),
        ),
        ind(
            EV_A,
            au('a', 2),
            "[domain-name:value = 'update-check.evilcorp-cdn.com']",
            GREEN,
            90,
            Some(("DomainName", "update-check.evilcorp-cdn.com")),
        ),
        ind(
            EV_A,
            au('a', 3),
            "[url:value = 'http://dl.evilcorp-cdn.com/payload.bin']",
            GREEN,
            90,
            Some(("Url", "http://dl.evilcorp-cdn.com/payload.bin")),
        ),
        ind(
            EV_A,
            au('a', 4),
            "[domain-name:value = 'mail.evilcorp-cdn.com']",
            GREEN,
            90,
            Some(("DomainName", "mail.evilcorp-cdn.com")),
        ),
        ind(
            EV_A,
            part(&au('a', 4), "ip-dst"),
            "[ipv4-addr:value = '91.215.85.17']",
            GREEN,
            30,
            Some(("IpAddress", "91.215.85.17")),
        ),
        ind(
            EV_A,
            au('a', 5),
            "[file:hashes.MD5 = '0cc175b9c0f1b6a831c399e269772661']",
            AMBER,
            365,
            Some(("FileMd5", "0cc175b9c0f1b6a831c399e269772661")),
        ),
        ind(
            EV_A,
            au('a', 7),
            &format!("[file:hashes.'SHA-256' = '{sha256}']"),
            GREEN,
            365,
            Some(("FileSha256", sha256)),
        ),
        ind(
            EV_B,
            au('b', 1),
            "[ipv4-addr:value = '185.220.101.4']",
            AMBER,
            30,
            Some(("IpAddress", "185.220.101.4")),
        ),
        ind(
            EV_B,
            au('b', 2),
            "[email-addr:value = 'phish@evil-mailer.com']",
            AMBER,
            180,
            None,
        ),
        ind(
            EV_B,
            au('b', 3),
            "[file:hashes.'SHA-1' = 'a9993e364706816aba3e25717850c26c9cd0d89d']",
            AMBER,
            365,
            Some(("FileSha1", "a9993e364706816aba3e25717850c26c9cd0d89d")),
        ),
        ind(
            EV_B,
            au('b', 4),
            "[url:value = 'https://evil-login.com/verify']",
            AMBER,
            90,
            Some(("Url", "https://evil-login.com/verify")),
        ),
        ind(
            EV_D,
            au('d', 1),
            "[domain-name:value = 'to-be-unpublished.com']",
            GREEN,
            90,
            Some(("DomainName", "to-be-unpublished.com")),
        ),
        ind(
            EV_D,
            au('d', 2),
            "[ipv4-addr:value = '103.224.182.250']",
            GREEN,
            30,
            Some(("IpAddress", "103.224.182.250")),
        ),
        ind(
            EV_E,
            au('e', 1),
            &format!("[file:hashes.'SHA-256' = '{e_sha}']"),
            CLEAR,
            365,
            Some(("FileSha256", e_sha)),
        ),
        ind(
            EV_E,
            au('e', 2),
            "[domain-name:value = 'to-be-deleted.com']",
            CLEAR,
            90,
            Some(("DomainName", "to-be-deleted.com")),
        ),
    ]
}
