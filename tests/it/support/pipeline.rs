//! Shared pieces of the end-to-end tests (pipeline.rs, misp_sync.rs): the MISP events
//! they seed, the indicators those must become (written out by hand from
//! docs/design.md#ids-and-keys, #values and #time, not computed by the code under
//! test), the two emulators, and ways to run the real binaries in a real shell
//! pipeline or through scripts/misp-sync.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::support::emulator::misp::{Emulator as Misp, TEST_KEY};
use crate::support::emulator::ms::{
    Config, MsEmulator, CLIENT_ID, CLIENT_SECRET, TENANT, WORKSPACE,
};

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
    let ids: Vec<&String> = current.keys().collect();
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

pub fn bin(name: &str) -> PathBuf {
    let p = match name {
        "misp-pull" => env!("CARGO_BIN_EXE_misp-pull"),
        "ioc-map" => env!("CARGO_BIN_EXE_ioc-map"),
        "graph-push" => env!("CARGO_BIN_EXE_graph-push"),
        _ => unreachable!(),
    };
    PathBuf::from(p)
}

/// A command with a clean environment: nothing from the developer's shell leaks in.
pub fn clean(program: &str) -> Command {
    let mut c = Command::new(program);
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("LC_ALL", "C");
    c
}

/// What a process left.
#[derive(Debug)]
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn run(mut c: Command) -> Ran {
    let out = c.stdin(Stdio::null()).output().expect("the command starts");
    Ran {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

impl Ran {
    /// misp-sync's one summary line.
    pub fn summary(&self) -> &str {
        self.stderr
            .lines()
            .rev()
            .find(|l| l.starts_with("misp-sync: "))
            .unwrap_or_else(|| panic!("no summary line in:\n{}", self.stderr))
    }

    /// Asserts misp-sync's exit status and a phrase in its summary line.
    pub fn assert_ended(&self, code: i32, summary_has: &str) {
        assert_eq!(self.code, code, "{}", self.stderr);
        assert!(self.summary().contains(summary_has), "{}", self.summary());
    }
}

/// Reads an NDJSON file (missing: empty).
pub fn ndjson(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// Result lines per status.
pub fn statuses(results: &[Value]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for r in results {
        *m.entry(r["status"].as_str().unwrap().to_string())
            .or_insert(0) += 1;
    }
    m
}

/// The credentials and endpoints every graph-push needs to reach the emulator.
pub fn ms_env(ms: &MsEmulator) -> Vec<(&'static str, String)> {
    vec![
        ("AZURE_TENANT_ID", TENANT.to_string()),
        ("AZURE_CLIENT_ID", CLIENT_ID.to_string()),
        ("AZURE_CLIENT_SECRET", CLIENT_SECRET.to_string()),
        ("AZURE_AUTHORITY_HOST", ms.url()),
    ]
}

/// The MISP key for misp-pull.
pub fn misp_env(misp: &Misp) -> Vec<(&'static str, String)> {
    vec![
        ("MISP_URL", misp.url.clone()),
        ("MISP_KEY", TEST_KEY.to_string()),
    ]
}

/// `bash -c script` with the three tools as `$PULL`, `$MAP`, `$PUSH`, the working
/// directory as `$D`, the clock as `$NOW`, the Sentinel workspace and API as `$WS` and
/// `$API`, and the emulators' credentials in the environment.
pub fn pipeline_script(
    script: &str,
    misp: &Misp,
    ms: &MsEmulator,
    dir: &Path,
    now: &str,
) -> Command {
    let mut c = clean("bash");
    c.arg("-c")
        .arg(script)
        .env("PULL", bin("misp-pull"))
        .env("MAP", bin("ioc-map"))
        .env("PUSH", bin("graph-push"))
        .env("D", dir)
        .env("NOW", now)
        .env("WS", WORKSPACE)
        .env("API", ms.url())
        .envs(misp_env(misp))
        .envs(ms_env(ms));
    c
}

/// The raw pipeline of docs/design.md#state-and-commit, as a shell runs it: an incremental pull streamed
/// through ioc-map into graph-push (Sentinel), each stage's status checked, and the
/// state committed only when all ended with 0 or 3. Returns the statuses.
pub fn shell_pipeline(misp: &Misp, ms: &MsEmulator, dir: &Path, now: &str) -> (Vec<i32>, Ran) {
    let script = r#"
set -o pipefail
"$PULL" --state "$D/pull.state" --now "$NOW" --retry-wait 10ms |
  "$MAP" --now "$NOW" |
  "$PUSH" --workspace-id "$WS" --api-url "$API" --ledger "$D/ledger" \
      --failed "$D/failed.new" --rejected "$D/rejected.ndjson" --now "$NOW" \
      --rpm 60000 --retry-base 10ms "$D/failed.ndjson" - > "$D/results.ndjson"
st=("${PIPESTATUS[@]}")
echo "${st[*]}" > "$D/statuses"
for s in "${st[@]}"; do [[ $s == 0 || $s == 3 ]] || exit 9; done
mv "$D/failed.new" "$D/failed.ndjson"
"$PULL" --commit-state "$D/pull.state"
"#;
    let failed = dir.join("failed.ndjson");
    if !failed.exists() {
        std::fs::write(&failed, "").unwrap();
    }
    let ran = run(pipeline_script(script, misp, ms, dir, now));
    let st = std::fs::read_to_string(dir.join("statuses")).unwrap_or_default();
    let st = st.split_whitespace().map(|s| s.parse().unwrap()).collect();
    (st, ran)
}

/// scripts/misp-sync with an env file holding `settings` (plus the emulators' and
/// the tools' settings), run at `now` with `args`.
pub struct Sync {
    pub dir: PathBuf,
    pub env_file: PathBuf,
}

impl Sync {
    pub fn new(dir: &Path, misp: &Misp, ms: &MsEmulator, settings: &[(&str, &str)]) -> Sync {
        let state = dir.join("state");
        let bin_dir = bin("misp-pull").parent().unwrap().to_path_buf();
        let mut lines = vec![
            "# written by the test".to_string(),
            format!("MISP_SYNC_BIN='{}'", bin_dir.display()),
            format!("STATE_DIR='{}'", state.display()),
            format!("SENTINEL_API_URL='{}'", ms.url()),
            format!("DEFENDER_API_URL='{}'", ms.url()),
            format!("GRAPH_API_URL='{}'", ms.url()),
            "MISP_PULL_ARGS='--retry-wait 10ms'".to_string(),
            "GRAPH_PUSH_ARGS='--rpm 60000 --retry-base 10ms'".to_string(),
        ];
        for (k, v) in misp_env(misp).iter().chain(ms_env(ms).iter()) {
            lines.push(format!("{k}='{v}'"));
        }
        for (k, v) in settings {
            lines.push(format!("{k}='{v}'"));
        }
        let env_file = dir.join("misp-sync.env");
        std::fs::write(&env_file, lines.join("\n") + "\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&env_file, std::fs::Permissions::from_mode(0o600)).unwrap();
        Sync {
            dir: dir.to_path_buf(),
            env_file,
        }
    }

    pub fn state(&self) -> PathBuf {
        self.dir.join("state")
    }

    /// A target's directory in the state directory.
    pub fn target(&self, name: &str) -> PathBuf {
        self.state().join(name)
    }

    pub fn command(&self, now: &str, args: &[&str]) -> Command {
        let mut c = clean("bash");
        c.arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/misp-sync"))
            .arg("--env")
            .arg(&self.env_file)
            .args(["--now", now])
            .args(args);
        c
    }

    pub fn run(&self, now: &str, args: &[&str]) -> Ran {
        run(self.command(now, args))
    }

    /// Waits (20 s at the most) until a run started with `command` holds the lock.
    pub fn wait_for_lock(&self) {
        let lock = self.state().join("lock");
        let t = std::time::Instant::now();
        while std::fs::read_to_string(&lock)
            .unwrap_or_default()
            .trim()
            .is_empty()
        {
            assert!(
                t.elapsed() < std::time::Duration::from_secs(20),
                "the run never locked"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}

/// The mark in a misp-pull state file.
pub fn state_mark(path: &Path) -> Option<i64> {
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    v["marks"].as_object()?.values().next()?["mark"].as_i64()
}

/// Writes a MISP-format feed into `dir`: `<uuid>.json` per event and a manifest that
/// also lists the `missing` uuids (whose files are absent, as in real feeds).
pub fn write_feed(dir: &Path, events: &[Value], missing: &[&str]) {
    std::fs::create_dir_all(dir).unwrap();
    let mut manifest = serde_json::Map::new();
    for e in events {
        let ev = &e["Event"];
        let uuid = ev["uuid"].as_str().unwrap();
        let ts: i64 = ev["timestamp"].as_str().unwrap().parse().unwrap();
        manifest.insert(
            uuid.to_string(),
            json!({"Orgc": ev["Orgc"], "Tag": ev["Tag"], "info": ev["info"], "date": ev["date"],
                   "analysis": 2, "threat_level_id": 2, "timestamp": ts}),
        );
        std::fs::write(dir.join(format!("{uuid}.json")), e.to_string()).unwrap();
    }
    for uuid in missing {
        manifest.insert(
            uuid.to_string(),
            json!({"info": "gone", "date": "2026-11-19", "timestamp": T0, "Tag": []}),
        );
        let _ = std::fs::remove_file(dir.join(format!("{uuid}.json")));
    }
    std::fs::write(
        dir.join("manifest.json"),
        Value::Object(manifest).to_string(),
    )
    .unwrap();
}
