//! Generates a deterministic MISP feed for benchmarks: `{"Event":{…}}` lines,
//! events of a few hundred attributes of mixed types, with tags (TLP,
//! confidence, galaxies), MISP objects, composites, defanged values, non-IDS,
//! deleted and non-indicator attributes, numbers as strings or integers.
//!
//! With `--galaxies`, events and some attributes also carry galaxy clusters
//! in MISP's export shape (`Galaxy[].GalaxyCluster[]`, with the matching
//! `misp-galaxy:` tags): ATT&CK techniques and intrusion sets, threat actors,
//! Microsoft activity groups, malware and tools, some without a uuid as older
//! exports have them, and some events with the bare tags only. These are drawn
//! from a random stream of their own: the rest of the feed is the same as
//! without the flag.
//!
//!     cargo run --release --example gen-misp -- --attributes 1000000 --seed 1 > feed.ndjson
//!     cargo run --release --example gen-misp -- --attributes 100000 --seed 1 --galaxies > feed.ndjson

use std::io::{self, BufWriter, Write};

use serde_json::{json, Value};

/// splitmix64: tiny, seedable, and the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len() as u64) as usize]
    }
    fn hex(&mut self, len: usize) -> String {
        let mut s = String::with_capacity(len);
        while s.len() < len {
            s.push_str(&format!("{:016x}", self.next()));
        }
        s.truncate(len);
        s
    }
    fn uuid(&mut self) -> String {
        let h = self.hex(32);
        format!(
            "{}-{}-4{}-a{}-{}",
            &h[0..8],
            &h[8..12],
            &h[13..16],
            &h[17..20],
            &h[20..32]
        )
    }
    fn word(&mut self) -> String {
        const SYL: [&str; 16] = [
            "ka", "zo", "mi", "ter", "lun", "qua", "vex", "ro", "sal", "dri", "po", "nex", "ul",
            "bar", "ti", "gon",
        ];
        let n = 2 + self.below(3);
        (0..n).map(|_| SYL[self.below(16) as usize]).collect()
    }
    fn domain(&mut self) -> String {
        let tld = self.pick(&["com", "net", "org", "info", "xyz", "top", "ru", "io"]);
        let host = if self.chance(30) {
            format!("{}.", self.word())
        } else {
            String::new()
        };
        format!("{host}{}{}.{tld}", self.word(), self.below(10_000))
    }
    /// A public IPv4 address: first octets outside private, reserved and documentation ranges.
    fn ipv4(&mut self) -> String {
        const FIRST: [u64; 12] = [5, 23, 31, 45, 62, 77, 91, 103, 141, 185, 193, 212];
        format!(
            "{}.{}.{}.{}",
            FIRST[self.below(12) as usize],
            self.below(256),
            self.below(256),
            1 + self.below(254)
        )
    }
    fn ipv6(&mut self) -> String {
        format!(
            "2a0{}:{:x}:{:x}::{:x}",
            1 + self.below(9),
            self.below(0xffff),
            self.below(0xffff),
            1 + self.below(0xfffe)
        )
    }
    fn url(&mut self) -> String {
        let u = format!(
            "{}://{}/{}/{}.php?id={}",
            self.pick(&["http", "https"]),
            self.domain(),
            self.word(),
            self.word(),
            self.below(100_000)
        );
        if self.chance(10) {
            u.replacen("http", "hxxp", 1).replacen('.', "[.]", 1)
        } else {
            u
        }
    }
}

/// Epoch seconds in the weeks before 2026-11-28.
const BASE_TS: u64 = 1_795_824_000 - 60 * 86_400;

struct Gen {
    rng: Rng,
    /// `--galaxies`: the stream that draws them (`None`: no galaxies).
    galaxies: Option<Rng>,
}

/// One galaxy cluster of the catalogue: galaxy type, galaxy name, value,
/// `meta.external_id`, `meta.synonyms`, whether it has a uuid of its own.
type ClusterDef = (
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
    bool,
);

#[rustfmt::skip]
const TECHNIQUES: &[ClusterDef] = &[
    ("mitre-attack-pattern", "Attack Pattern", "Phishing - T1566", &["T1566"], &[], true),
    ("mitre-attack-pattern", "Attack Pattern", "Spearphishing Attachment - T1566.001", &["CAPEC-163", "T1566.001"], &[], true),
    ("mitre-attack-pattern", "Attack Pattern", "Command and Scripting Interpreter - T1059", &["T1059"], &[], true),
    ("mitre-attack-pattern", "Attack Pattern", "PowerShell - T1059.001", &["T1059.001"], &[], true),
    ("mitre-attack-pattern", "Attack Pattern", "Application Layer Protocol - T1071", &["T1071"], &[], true),
    ("mitre-attack-pattern", "Attack Pattern", "Web Protocols - T1071.001", &["T1071.001"], &[], true),
    ("mitre-attack-pattern", "Attack Pattern", "Ingress Tool Transfer - T1105", &["T1105"], &[], true),
    ("mitre-attack-pattern", "Attack Pattern", "Exploit Public-Facing Application - T1190", &["T1190"], &[], true),
    ("mitre-attack-pattern", "Attack Pattern", "Valid Accounts - T1078", &["T1078"], &[], false),
    ("mitre-attack-pattern", "Attack Pattern", "Data Encrypted for Impact - T1486", &["T1486"], &[], true),
];

#[rustfmt::skip]
const ACTORS: &[ClusterDef] = &[
    ("mitre-intrusion-set", "Intrusion Set", "APT28 - G0007", &["G0007"], &["APT28", "Sofacy", "Fancy Bear", "STRONTIUM"], true),
    ("mitre-intrusion-set", "Intrusion Set", "APT29 - G0016", &["G0016"], &["APT29", "Cozy Bear", "NOBELIUM"], true),
    ("mitre-intrusion-set", "Intrusion Set", "Lazarus Group - G0032", &["G0032"], &["Lazarus Group", "HIDDEN COBRA"], true),
    ("mitre-intrusion-set", "Intrusion Set", "Wizard Spider - G0102", &["G0102"], &["Wizard Spider", "UNC1878"], true),
    ("threat-actor", "Threat Actor", "Sofacy", &[], &["APT28", "Sednit", "Pawn Storm"], true),
    ("threat-actor", "Threat Actor", "FIN7", &[], &["Carbanak"], false),
    ("microsoft-activity-group", "Microsoft Activity Group actor", "NOBELIUM", &[], &["APT29"], true),
];

#[rustfmt::skip]
const SOFTWARE: &[ClusterDef] = &[
    ("malpedia", "Malpedia", "Emotet", &[], &["Geodo", "Heodo"], true),
    ("malpedia", "Malpedia", "Cobalt Strike", &[], &["Agentemis"], true),
    ("ransomware", "Ransomware", "LockBit", &[], &["LockBit 3.0"], true),
    ("ransomware", "Ransomware", "Conti", &[], &[], false),
    ("mitre-malware", "Malware", "BlackEnergy - S0089", &["S0089"], &["Black Energy"], true),
    ("mitre-tool", "Tool", "Mimikatz - S0002", &["S0002"], &[], true),
];

impl Gen {
    fn tag(name: &str) -> Value {
        json!({"name": name, "colour": "#ffffff", "local": false})
    }

    /// A cluster of the catalogue in MISP's export shape (its uuid fixed by
    /// its place in the catalogue; "" for one without).
    fn cluster(def: &ClusterDef, n: u64) -> Value {
        let (kind, _, value, external_id, synonyms, has_uuid) = *def;
        let uuid = if has_uuid {
            Rng(0xc105_7e7a_u64 ^ n).uuid()
        } else {
            String::new()
        };
        let mut meta = serde_json::Map::new();
        if !external_id.is_empty() {
            meta.insert("external_id".into(), json!(external_id));
        }
        if !synonyms.is_empty() {
            meta.insert("synonyms".into(), json!(synonyms));
        }
        let slug: String = value
            .split(" - ")
            .next()
            .unwrap_or(value)
            .to_lowercase()
            .replace(' ', "-");
        meta.insert(
            "refs".into(),
            json!([format!("https://galaxy.example.org/{kind}/{slug}")]),
        );
        json!({
            "id": (100 + n).to_string(),
            "uuid": uuid,
            "collection_uuid": Rng(0x6a1a_u64 ^ n).uuid(),
            "type": kind,
            "value": value,
            "tag_name": format!("misp-galaxy:{kind}=\"{value}\""),
            "description": format!("{value}: generated cluster of the {kind} galaxy."),
            "galaxy_id": "3",
            "source": "https://github.com/MISP/misp-galaxy",
            "authors": ["MISP Project"],
            "version": "32",
            "distribution": "3",
            "sharing_group_id": null,
            "default": true,
            "locked": false,
            "extends_uuid": "",
            "extends_version": "0",
            "published": false,
            "deleted": false,
            "meta": meta,
            "tag_id": (500 + n).to_string(),
            "local": false,
            "relationship_type": false,
        })
    }

    /// `--galaxies`: the galaxies of a few clusters drawn from `defs` (and
    /// their tags), grouped by galaxy as MISP exports them.
    fn galaxies(picked: &[(&ClusterDef, u64)]) -> (Value, Vec<Value>) {
        let mut galaxies: Vec<Value> = Vec::new();
        let mut tags = Vec::new();
        for &(def, n) in picked {
            let (kind, name, value, ..) = *def;
            tags.push(Self::tag(&format!("misp-galaxy:{kind}=\"{value}\"")));
            let cluster = Self::cluster(def, n);
            match galaxies.iter_mut().find(|g| g["type"] == kind) {
                Some(g) => g["GalaxyCluster"].as_array_mut().unwrap().push(cluster),
                None => galaxies.push(json!({
                    "id": "3",
                    "uuid": Rng(0x9a1a_u64 ^ kind.len() as u64).uuid(),
                    "name": name,
                    "type": kind,
                    "description": name,
                    "version": "9",
                    "icon": "map",
                    "namespace": if kind.starts_with("mitre") { "mitre-attack" } else { "misp" },
                    "enabled": true,
                    "local_only": false,
                    "GalaxyCluster": [cluster],
                })),
            }
        }
        (json!(galaxies), tags)
    }

    /// Draws clusters for an event (several) or an attribute (one technique).
    fn pick(r: &mut Rng, event: bool) -> Vec<(&'static ClusterDef, u64)> {
        let mut picked: Vec<(&ClusterDef, u64)> = Vec::new();
        let mut one = |r: &mut Rng, defs: &'static [ClusterDef], base: u64| {
            let i = r.below(defs.len() as u64);
            if !picked.iter().any(|(_, n)| *n == base + i) {
                picked.push((&defs[i as usize], base + i));
            }
        };
        if !event {
            one(r, TECHNIQUES, 0);
            return picked;
        }
        for _ in 0..1 + r.below(3) {
            one(r, TECHNIQUES, 0);
        }
        if r.chance(60) {
            one(r, ACTORS, 100);
        }
        if r.chance(40) {
            one(r, SOFTWARE, 200);
        }
        picked
    }

    /// A number that MISP sends as a string or an integer, depending on the server.
    fn num(&mut self, n: u64) -> Value {
        if self.rng.chance(50) {
            json!(n.to_string())
        } else {
            json!(n)
        }
    }

    fn attribute(&mut self, ts: u64) -> Value {
        let r = &mut self.rng;
        let roll = r.below(100);
        let (t, value, category) = match roll {
            0..=24 => ("domain", r.domain(), "Network activity"),
            25..=31 => ("hostname", r.domain(), "Network activity"),
            32..=45 => (r.pick(&["ip-dst", "ip-src"]), r.ipv4(), "Network activity"),
            46..=47 => ("ip-dst", r.ipv6(), "Network activity"),
            48..=59 => ("url", r.url(), "Network activity"),
            60..=64 => ("md5", r.hex(32), "Payload delivery"),
            65..=68 => ("sha1", r.hex(40), "Payload delivery"),
            69..=76 => ("sha256", r.hex(64), "Payload delivery"),
            77..=79 => (
                "filename|sha256",
                format!("{}.exe|{}", r.word(), r.hex(64)),
                "Payload delivery",
            ),
            80..=81 => (
                "domain|ip",
                format!("{}|{}", r.domain(), r.ipv4()),
                "Network activity",
            ),
            82..=83 => (
                "ip-dst|port",
                format!("{}|{}", r.ipv4(), 1 + r.below(65_534)),
                "Network activity",
            ),
            84..=86 => (
                "email-src",
                format!("{}@{}", r.word(), r.domain()),
                "Payload delivery",
            ),
            87 => (
                "email-subject",
                format!("Invoice {}", r.below(99_999)),
                "Payload delivery",
            ),
            88 => (
                "mutex",
                format!("Global\\{}", r.word()),
                "Artifacts dropped",
            ),
            89 => (
                "regkey",
                format!("HKLM\\Software\\{}\\Run", r.word()),
                "Persistence mechanism",
            ),
            90 => (
                "AS",
                format!("AS{}", 1000 + r.below(60_000)),
                "Network activity",
            ),
            91 => ("ja3-fingerprint-md5", r.hex(32), "Network activity"),
            92..=94 => ("comment", format!("seen by {} team", r.word()), "Other"),
            95..=96 => ("text", format!("campaign {}", r.word()), "Other"),
            97 => (
                "vulnerability",
                format!("CVE-2026-{}", 1000 + r.below(9000)),
                "External analysis",
            ),
            _ => ("x509-fingerprint-sha1", r.hex(40), "Network activity"),
        };
        let to_ids = !matches!(t, "comment" | "text" | "vulnerability") && !r.chance(8);
        let id = 1 + self.rng.below(50_000_000);
        let ts = ts + self.rng.below(86_400);
        let mut a = json!({
            "id": self.num(id),
            "type": t,
            "category": category,
            "to_ids": to_ids,
            "uuid": self.rng.uuid(),
            "timestamp": self.num(ts),
            "distribution": self.num(5),
            "comment": "",
            "deleted": false,
            "disable_correlation": false,
            "value": value,
        });
        let r = &mut self.rng;
        if r.chance(2) {
            a["deleted"] = json!(true);
        }
        if r.chance(15) {
            a["comment"] = json!(format!("observed {} times", r.below(500)));
        }
        if r.chance(20) {
            a["first_seen"] = json!("2026-10-01T00:00:00.000000+00:00");
        }
        if r.chance(20) {
            let mut tags = vec![Self::tag(r.pick(&[
                "misp:confidence-level=\"usually-confident\"",
                "misp:confidence-level=\"fairly-confident\"",
                "tlp:green",
                "TLP:AMBER",
                "kill-chain:Command and Control",
                "malware:emotet",
            ]))];
            if r.chance(30) {
                tags.push(json!({"name": "workflow:todo", "colour": "#000", "local": true}));
            }
            a["Tag"] = json!(tags);
        }
        if let Some(g) = &mut self.galaxies {
            // A few attributes carry a technique of their own.
            if g.chance(3) {
                let picked = Self::pick(g, false);
                let (galaxies, tags) = Self::galaxies(&picked);
                match a.get_mut("Tag").and_then(Value::as_array_mut) {
                    Some(t) => t.extend(tags),
                    None => a["Tag"] = json!(tags),
                }
                a["Galaxy"] = galaxies;
            }
        }
        a
    }

    fn object(&mut self, ts: u64, budget: usize) -> (Value, usize) {
        let r = &mut self.rng;
        let (name, parts): (&str, Vec<(&str, &str, String)>) = match r.below(3) {
            0 => {
                let w = r.word();
                (
                    "file",
                    vec![
                        ("filename", "filename", format!("{w}.dll")),
                        ("md5", "md5", r.hex(32)),
                        ("sha1", "sha1", r.hex(40)),
                        ("sha256", "sha256", r.hex(64)),
                        (
                            "size-in-bytes",
                            "size-in-bytes",
                            r.below(9_000_000).to_string(),
                        ),
                    ],
                )
            }
            1 => (
                "domain-ip",
                vec![
                    ("domain", "domain", r.domain()),
                    ("ip", "ip-dst", r.ipv4()),
                    ("port", "port", "443".into()),
                ],
            ),
            _ => (
                "url",
                vec![("url", "url", r.url()), ("domain", "domain", r.domain())],
            ),
        };
        let parts: Vec<_> = parts.into_iter().take(budget).collect();
        let n = parts.len();
        let attrs: Vec<Value> = parts
            .into_iter()
            .map(|(relation, t, value)| {
                let mut a = self.attribute(ts);
                a["type"] = json!(t);
                a["object_relation"] = json!(relation);
                a["value"] = json!(value);
                a["to_ids"] = json!(!matches!(t, "filename" | "size-in-bytes" | "port"));
                a
            })
            .collect();
        let obj = json!({
            "name": name,
            "meta-category": if name == "file" { "file" } else { "network" },
            "uuid": self.rng.uuid(),
            "timestamp": self.num(ts),
            "deleted": false,
            "Attribute": attrs,
        });
        (obj, n)
    }

    fn event(&mut self, n: u64, size: usize) -> Value {
        let ts = BASE_TS + self.rng.below(55 * 86_400);
        let mut attributes = Vec::new();
        let mut objects = Vec::new();
        let mut left = size;
        while left > 0 {
            if self.rng.chance(4) {
                let (o, used) = self.object(ts, left);
                objects.push(o);
                left -= used;
            } else {
                attributes.push(self.attribute(ts));
                left -= 1;
            }
        }
        let r = &mut self.rng;
        let tlp = r.pick(&[
            "tlp:white",
            "tlp:clear",
            "tlp:green",
            "tlp:amber",
            "TLP:AMBER+STRICT",
        ]);
        let mut tags = vec![
            Self::tag(tlp),
            Self::tag("osint:source-type=\"block-or-filter-list\""),
        ];
        if r.chance(50) {
            tags.push(Self::tag(r.pick(&[
                "misp:confidence-level=\"completely-confident\"",
                "misp:confidence-level=\"rarely-confident\"",
            ])));
        }
        if r.chance(40) {
            tags.push(Self::tag("misp-galaxy:threat-actor=\"Sofacy\""));
        }
        let mut galaxies = None;
        if let Some(g) = &mut self.galaxies {
            if g.chance(70) {
                let picked = Self::pick(g, true);
                let (gal, gal_tags) = Self::galaxies(&picked);
                tags.extend(gal_tags);
                // Older exports and feeds: the tags alone.
                if g.chance(85) {
                    galaxies = Some(gal);
                }
            }
        }
        let date = chrono_date(ts);
        let threat_level = 1 + self.rng.below(4);
        let mut event = json!({"Event": {
            "id": self.num(n),
            "uuid": self.rng.uuid(),
            "info": format!("Generated campaign {n}: {}", self.rng.word()),
            "date": date,
            "threat_level_id": self.num(threat_level),
            "analysis": self.num(2),
            "published": true,
            "timestamp": self.num(ts + 86_400),
            "publish_timestamp": self.num(ts + 86_400),
            "Orgc": {"name": "Bench CERT", "uuid": "5b1d7f0e-3c2a-4e8b-9d61-0a7ce4f29b35"},
            "Tag": tags,
            "Attribute": attributes,
            "Object": objects,
        }});
        if let Some(g) = galaxies {
            event["Event"]["Galaxy"] = g;
        }
        event
    }
}

/// `YYYY-MM-DD` of epoch seconds (civil-from-days, proleptic Gregorian).
fn chrono_date(ts: u64) -> String {
    let z = (ts / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

fn main() -> io::Result<()> {
    let mut total: u64 = 1_000_000;
    let mut seed: u64 = 1;
    let mut with_galaxies = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--galaxies" {
            with_galaxies = true;
            continue;
        }
        let v = args.next().and_then(|v| v.parse().ok());
        match (a.as_str(), v) {
            ("--attributes", Some(n)) => total = n,
            ("--seed", Some(s)) => seed = s,
            _ => {
                eprintln!("usage: gen-misp [--attributes N] [--seed S] [--galaxies] > feed.ndjson");
                std::process::exit(2);
            }
        }
    }
    let mut g = Gen {
        rng: Rng(seed),
        galaxies: with_galaxies.then_some(Rng(seed ^ 0x6a1a_c1e5_u64)),
    };
    let mut out = BufWriter::with_capacity(1 << 20, io::stdout().lock());
    let (mut done, mut n) = (0u64, 1u64);
    while done < total {
        let size = (200 + g.rng.below(200)).min(total - done) as usize;
        serde_json::to_writer(&mut out, &g.event(n, size))?;
        out.write_all(b"\n")?;
        done += size as u64;
        n += 1;
    }
    out.flush()?;
    eprintln!(
        "gen-misp: {done} attributes in {} events (seed {seed}{})",
        n - 1,
        if with_galaxies { ", with galaxies" } else { "" }
    );
    Ok(())
}
