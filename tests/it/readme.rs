//! The setup walkthrough, run as written: every block marked
//! `sh test=NAME` in the `walkthrough` section (README.md or docs/, see
//! support/docs.rs) runs with bash (`-e -o pipefail`)
//! in one working directory, in the document's order, against the MISP and
//! Microsoft emulators on 127.0.0.1, with the settings of its `sh settings`
//! block in the environment. Between blocks the test plays the world: it edits
//! MISP, throttles Sentinel, creates old Graph indicators, and checks what each
//! block did to files and emulators.
//!
//! The emulator's address comes through the documented `GRAPH_PUSH_API_URL`
//! (API base) and `AZURE_AUTHORITY_HOST` (token endpoint).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::{json, Value};

use crate::support::docs::{self, Section};
use crate::support::emulator::misp as misp_emulator;
use crate::support::emulator::ms::{
    Api, Config, Fault, MsEmulator, CLIENT_ID, CLIENT_SECRET, TENANT, WORKSPACE,
};

const SAMPLE_EVENT: &str = "6513270e-269e-4d37-b2a7-4de452e6b438";
const NEW_ATTRIBUTE: &str = "5b1d7c2e-9f3a-4e6b-8c0d-1a2b3c4d5e6f";

/// Settings the walkthrough's `sh settings` block exports, all of which the test sets.
const SETTINGS: [&str; 6] = [
    "MISP_URL",
    "MISP_KEY",
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_ID",
    "AZURE_CLIENT_CERTIFICATE_PATH",
    "SENTINEL_WORKSPACE_ID",
];

struct Walkthrough {
    text: Section,
    work: tempfile::TempDir,
    env: Vec<(String, String)>,
    ran: BTreeSet<String>,
}

struct Ran {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Walkthrough {
    fn new(env: Vec<(String, String)>) -> Walkthrough {
        let text = docs::section("walkthrough");
        Walkthrough {
            text,
            work: tempfile::tempdir().unwrap(),
            env,
            ran: BTreeSet::new(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.work.path().join(name)
    }

    fn set(&mut self, name: &str, value: &str) {
        self.env.retain(|(n, _)| n != name);
        self.env.push((name.into(), value.into()));
    }

    /// Runs the block `test=NAME` and checks its exit status.
    fn run(&mut self, name: &str, expect: i32) -> Ran {
        let block = docs::tested(&self.text, name);
        self.ran.insert(name.to_string());
        let script = &block.code;
        let path = format!(
            "{}:{}",
            bin_dir().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut cmd = Command::new("bash");
        cmd.args(["-e", "-o", "pipefail", "-c", script])
            .current_dir(self.work.path())
            .env("PATH", path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (var, _) in std::env::vars() {
            if [
                "MISP_",
                "AZURE_",
                "SENTINEL_",
                "GRAPH_PUSH_",
                "HTTPS_PROXY",
                "HTTP_PROXY",
            ]
            .iter()
            .any(|p| var.starts_with(p))
            {
                cmd.env_remove(var);
            }
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        let child = cmd.spawn().expect("run bash");
        let out = wait_at_most(child, Duration::from_secs(120), name);
        let ran = Ran {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        assert_eq!(
            ran.code, expect,
            "{}:{}: block test={name} ended {} (expected {expect})\n--- stdout\n{}\n--- stderr\n{}",
            self.text.file, block.line, ran.code, ran.stdout, ran.stderr
        );
        ran
    }

    fn lines(&self, name: &str) -> Vec<Value> {
        read_lines(&self.path(name))
    }
}

/// The directory holding the binaries under test.
fn bin_dir() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_misp-pull")).parent().unwrap()
}

/// Whether a program runs here (`openssl version`, …).
fn have(program: &str, arg: &str) -> bool {
    Command::new(program)
        .arg(arg)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The names the `export NAME=` lines of a block set.
fn exported_names(code: &str) -> Vec<String> {
    code.lines()
        .filter_map(|l| l.trim().strip_prefix("export "))
        .filter_map(|l| l.split_once('=').map(|(n, _)| n.trim().to_string()))
        .collect()
}

fn wait_at_most(
    mut child: std::process::Child,
    limit: Duration,
    name: &str,
) -> std::process::Output {
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("block test={name} still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn read_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

fn statuses(results: &[Value]) -> std::collections::BTreeMap<String, usize> {
    let mut m = std::collections::BTreeMap::new();
    for r in results {
        *m.entry(r["status"].as_str().unwrap().to_string())
            .or_insert(0) += 1;
    }
    m
}

/// The sample feed's events, made recent (two days old, published yesterday),
/// so that a walkthrough run today pulls them with `--since 30d` and maps them
/// without `--now`.
fn load_recent_sample(misp: &misp_emulator::Emulator, now: i64) {
    let dir = docs::repo().join("examples/sample-feed");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap() != "manifest.json")
        .collect();
    names.sort();
    let date = chrono::DateTime::from_timestamp(now - 2 * 86400, 0)
        .unwrap()
        .format("%Y-%m-%d")
        .to_string();
    for p in names {
        let mut v: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        restamp(&mut v, now, &date);
        misp.add_event(v);
    }
}

fn restamp(v: &mut Value, now: i64, date: &str) {
    match v {
        Value::Object(o) => {
            for (k, x) in o.iter_mut() {
                match k.as_str() {
                    "timestamp" => *x = json!((now - 2 * 86400).to_string()),
                    "publish_timestamp" => *x = json!((now - 86400).to_string()),
                    "date" => *x = json!(date),
                    _ => restamp(x, now, date),
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| restamp(x, now, date)),
        _ => {}
    }
}

#[test]
fn walkthrough_settings_are_the_ones_the_tools_read() {
    let text = docs::section("walkthrough");
    let settings: Vec<docs::Block> = docs::blocks(&text)
        .into_iter()
        .filter(|b| b.info == "sh settings")
        .collect();
    assert_eq!(settings.len(), 1, "one `sh settings` block");
    assert_eq!(exported_names(&settings[0].code), SETTINGS);
}

#[test]
fn walkthrough_runs_as_written_against_the_emulators() {
    let now = Utc::now().timestamp();
    let misp = misp_emulator::Emulator::start(0);
    misp.set_clock(now);
    load_recent_sample(&misp, now);

    let mut w = Walkthrough::new(vec![
        ("MISP_URL".into(), misp.url.clone()),
        ("MISP_KEY".into(), misp_emulator::TEST_KEY.into()),
        ("AZURE_TENANT_ID".into(), TENANT.into()),
        ("AZURE_CLIENT_ID".into(), CLIENT_ID.into()),
        ("SENTINEL_WORKSPACE_ID".into(), WORKSPACE.into()),
    ]);

    // 1. Install.
    let ran = w.run("versions", 0);
    for tool in ["misp-pull", "ioc-map", "graph-push"] {
        let said = format!("{tool} {}", env!("CARGO_PKG_VERSION"));
        assert!(ran.stdout.contains(&said), "{}", ran.stdout);
    }

    // 3. The certificate; the Microsoft emulator then checks assertions against it.
    let mut cfg = Config::default();
    if have("openssl", "version") {
        w.run("certificate", 0);
        let pem = std::fs::read_to_string(w.path("app-cert.pem")).unwrap();
        assert!(pem.contains("PRIVATE KEY-----") && pem.contains("BEGIN CERTIFICATE"));
        assert!(!w.path("app-key.pem").exists());
        assert!(w.path("app-cert.crt").exists());
        cfg.client_certificate_pem = Some(pem);
        let cert = w.path("app-cert.pem").display().to_string();
        w.set("AZURE_CLIENT_CERTIFICATE_PATH", &cert);
    } else {
        eprintln!(
            "no openssl here: block test=certificate not run, the client secret used instead"
        );
        w.ran.insert("certificate".into());
        w.set("AZURE_CLIENT_SECRET", CLIENT_SECRET);
    }
    let ms = MsEmulator::start(cfg);
    w.set("AZURE_AUTHORITY_HOST", &ms.url());
    w.set("GRAPH_PUSH_API_URL", &ms.url());

    // 7. Check the MISP connection.
    let ran = w.run("check", 0);
    let all = format!("{}{}", ran.stdout, ran.stderr);
    assert!(
        all.contains(&format!("MISP 2.5.1 at {}", misp.url)),
        "{all}"
    );
    assert!(all.contains("role: User"), "{all}");

    // 8. Dry runs: requests written, nothing sent.
    w.run("dry-run", 0);
    let indicators = w.lines("indicators.ndjson");
    assert!(indicators.len() >= 10, "{indicators:?}");
    let skipped = w.lines("skipped.ndjson");
    assert!(
        skipped.iter().any(|s| s["reason"] == "private"),
        "{skipped:?}"
    );
    let requests = w.lines("requests.ndjson");
    let upload = format!("/workspaces/{WORKSPACE}/threat-intelligence-stix-objects:upload");
    assert!(!requests.is_empty());
    assert!(requests
        .iter()
        .all(|r| r["url"].as_str().unwrap().contains(&upload)));
    let sent: usize = requests
        .iter()
        .map(|r| r["body"]["stixobjects"].as_array().unwrap().len())
        .sum();
    assert_eq!(sent, indicators.len());
    w.run("dry-run-defender", 0);
    let requests = w.lines("defender-requests.ndjson");
    assert!(requests.iter().all(|r| r["url"]
        .as_str()
        .unwrap()
        .ends_with("/api/indicators/import")));
    assert_eq!(ms.stats().requests, 0, "a dry run sends nothing");

    // 9. The first real run, and the commit.
    w.run("first-run", 0);
    let indicators = w.lines("indicators.ndjson");
    let results = w.lines("results.ndjson");
    // The soft-deleted attribute is a retirement of a key never sent: skipped.
    let now_ms = Utc::now().timestamp_millis();
    // Live: the indicators still valid, and the creator's identity that the
    // default `--context inline` writes before them (it has no validity).
    let (live, retired): (Vec<&Value>, Vec<&Value>) = indicators.iter().partition(|i| {
        let Some(end) = i["valid_until"].as_str() else {
            return true;
        };
        chrono::DateTime::parse_from_rfc3339(end)
            .unwrap()
            .timestamp_millis()
            > now_ms
    });
    assert_eq!(retired.len(), 1, "{retired:?}");
    assert_eq!(results.len(), indicators.len());
    let counts = statuses(&results);
    assert_eq!(counts["accepted"], live.len(), "{counts:?}");
    assert_eq!(counts["skipped"], 1, "{counts:?}");
    let held = ms.stix_current(WORKSPACE);
    assert_eq!(held.len(), live.len());
    for i in &live {
        assert_eq!(held[i["id"].as_str().unwrap()]["pattern"], i["pattern"]);
    }
    assert!(w.path("state/pull.state.next").exists());
    w.run("commit", 0);
    assert!(w.path("state/pull.state").exists());
    assert!(!w.path("state/pull.state.next").exists());

    // 10. Reading the results.
    let ran = w.run("results", 0);
    let line = format!("{} \"status\":\"accepted\"", live.len());
    assert!(ran.stdout.contains(&line), "{}", ran.stdout);

    // An attribute added in MISP while Sentinel throttles for longer than
    // graph-push waits: the next run ends 3 with the new indicator `failed`.
    assert!(misp.add_attribute(
        SAMPLE_EVENT,
        json!({"uuid": NEW_ATTRIBUTE, "type": "domain", "category": "Network activity",
               "to_ids": true, "value": "new-c2.example.net", "comment": "second stage"})
    ));
    assert!(misp.publish(SAMPLE_EVENT));
    let throttled = Fault::Throttle {
        secs: 0,
        header: false,
    };
    ms.inject_on(Api::Sentinel, 31, throttled);
    let ran = w.run("next-run", 3);
    let results = w.lines("results.ndjson");
    let counts = statuses(&results);
    let expected = [("failed", 1), ("skipped", 1), ("unchanged", live.len())];
    let expected = expected.map(|(k, n)| (k.to_string(), n)).into();
    assert_eq!(counts, expected, "{}", ran.stderr);
    let failed = w.lines("state/sentinel.failed.ndjson");
    assert_eq!(failed.len(), 1);
    assert_eq!(
        failed[0]["pattern"],
        "[domain-name:value = 'new-c2.example.net']"
    );
    assert!(!ms
        .stix_current(WORKSPACE)
        .contains_key(&format!("indicator--{NEW_ATTRIBUTE}")));
    w.run("commit", 0);

    // The run after: the failed record is replayed and taken; nothing else is sent.
    let before = ms.stats().objects_accepted;
    w.run("next-run", 0);
    let results = w.lines("results.ndjson");
    let counts = statuses(&results);
    // The replayed copy comes first and is taken; the same key pulled again
    // in this run is then `unchanged`: one version in Sentinel.
    let accepted = counts.get("accepted").copied().unwrap_or(0);
    assert_eq!(accepted, 1, "{counts:?} {results:#?}");
    assert_eq!(counts.get("failed"), None, "{counts:?}");
    let again: Vec<&Value> = results
        .iter()
        .filter(|r| r["key"] == format!("indicator--{NEW_ATTRIBUTE}") && r["status"] == "unchanged")
        .collect();
    assert_eq!(again.len(), 1, "{results:#?}");
    assert_eq!(again[0]["reason"], "duplicate in this run");
    let replayed: Vec<&Value> = results
        .iter()
        .filter(|r| r["source"] == "state/sentinel.failed.ndjson:1")
        .collect();
    assert_eq!(replayed.len(), 1, "{results:#?}");
    assert_eq!(replayed[0]["status"], "accepted");
    assert_eq!(ms.stats().objects_accepted, before + 1);
    let versions = ms.stix_versions(WORKSPACE, &format!("indicator--{NEW_ATTRIBUTE}"));
    assert_eq!(versions.len(), 1, "{versions:#?}");
    let held = ms.stix_current(WORKSPACE);
    assert_eq!(
        held[&format!("indicator--{NEW_ATTRIBUTE}")]["pattern"],
        "[domain-name:value = 'new-c2.example.net']"
    );
    let failed = w.path("state/sentinel.failed.ndjson");
    assert!(!failed.exists() || std::fs::read(&failed).unwrap().is_empty());
    w.run("commit", 0);

    // 11. Graph clean-up: the old script's tiIndicators exist, then are deleted.
    let ti = Command::new(env!("CARGO_BIN_EXE_ioc-map"))
        .args(["--format", "tiindicator", "--azure-tenant-id", TENANT])
        .arg(w.path("events.ndjson"))
        .output()
        .unwrap();
    assert!(
        ti.status.success(),
        "{}",
        String::from_utf8_lossy(&ti.stderr)
    );
    std::fs::write(w.path("old-tiindicators.ndjson"), &ti.stdout).unwrap();
    let pushed = Command::new(env!("CARGO_BIN_EXE_graph-push"))
        .args(["--target", "graph", "--api-url", &ms.url()])
        .arg(w.path("old-tiindicators.ndjson"))
        .envs(w.env.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap();
    assert!(
        pushed.status.success(),
        "{}",
        String::from_utf8_lossy(&pushed.stderr)
    );
    let ids: Vec<String> = w
        .lines("old-tiindicators.ndjson")
        .iter()
        .map(|t| t["externalId"].as_str().unwrap().to_string())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    assert!(!ids.is_empty());
    assert_eq!(ms.graph_indicators().len(), ids.len());
    std::fs::write(w.path("old-external-ids.txt"), ids.join("\n") + "\n").unwrap();
    w.run("graph-cleanup", 0);
    let deleted = w.lines("deleted.ndjson");
    assert_eq!(deleted.len(), ids.len());
    assert_eq!(statuses(&deleted)["accepted"], ids.len());
    assert!(
        ms.graph_indicators().values().all(|v| v.is_empty()),
        "{:?}",
        ms.graph_indicators()
    );

    // Every tested block of the walkthrough was run.
    let marked: BTreeSet<String> = docs::blocks(&w.text)
        .iter()
        .filter_map(|b| b.test_name().map(str::to_string))
        .collect();
    assert_eq!(marked, w.ran, "blocks marked test=… in the walkthrough");
}
