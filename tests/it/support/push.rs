//! Shared pieces of the graph-push integration tests: running the real
//! binary against the Microsoft emulator, record fixtures, and the checks
//! every test makes (records in = sum of statuses; the emulator holds each
//! accepted record exactly as sent).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::{json, Value};

use crate::support::emulator::ms::{MsEmulator, CLIENT_ID, CLIENT_SECRET, TENANT, WORKSPACE};

pub const NOW: &str = "2026-11-28T00:00:00Z";

/// What one run of graph-push left.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The result lines.
    pub fn results(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }

    /// Result lines per status.
    pub fn statuses(&self) -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for r in self.results() {
            *m.entry(r["status"].as_str().unwrap().to_string())
                .or_insert(0) += 1;
        }
        m
    }

    pub fn count(&self, status: &str) -> usize {
        self.statuses().get(status).copied().unwrap_or(0)
    }

    /// Result lines of one status.
    pub fn with_status(&self, status: &str) -> Vec<Value> {
        self.results()
            .into_iter()
            .filter(|r| r["status"] == status)
            .collect()
    }

    /// Keys of the accepted records.
    pub fn accepted_keys(&self) -> Vec<String> {
        self.with_status("accepted")
            .iter()
            .map(|r| r["key"].as_str().unwrap().to_string())
            .collect()
    }

    /// Records in = the sum of all statuses, one result line per record.
    pub fn assert_accounted(&self, records_in: usize) {
        let total: usize = self.statuses().values().sum();
        assert_eq!(
            total,
            records_in,
            "records in must equal the sum of statuses: {:?}\nstderr: {}",
            self.statuses(),
            self.stderr
        );
        for r in self.results() {
            for k in ["key", "status", "reason", "source"] {
                assert!(r.get(k).is_some(), "result line without {k}: {r}");
            }
        }
    }
}

/// Environment variables a developer's or CI's shell might hold that would
/// change which credential is used.
const CLEARED: &[&str] = &[
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_CLIENT_CERTIFICATE_PATH",
    "AZURE_CLIENT_CERTIFICATE_PASSWORD",
    "AZURE_CLIENT_SEND_CERTIFICATE_CHAIN",
    "AZURE_FEDERATED_TOKEN_FILE",
    "AZURE_AUTHORITY_HOST",
    "SENTINEL_WORKSPACE_ID",
    "HTTPS_PROXY",
    "HTTP_PROXY",
    "https_proxy",
    "http_proxy",
    "ALL_PROXY",
];

/// A graph-push command pointed at the emulator, with the test's secret and
/// fast retries; `args` come after the defaults (a later flag wins).
pub fn command(emu: &MsEmulator, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_graph-push"));
    for v in CLEARED {
        cmd.env_remove(v);
    }
    cmd.env("AZURE_TENANT_ID", TENANT)
        .env("AZURE_CLIENT_ID", CLIENT_ID)
        .env("AZURE_CLIENT_SECRET", CLIENT_SECRET)
        .env("NO_PROXY", "127.0.0.1,localhost")
        .args([
            "--api-url",
            &emu.url(),
            "--authority-host",
            &emu.url(),
            "--workspace-id",
            WORKSPACE,
            "--retry-base",
            "50ms",
            "--rpm",
            "60000",
            "--now",
            NOW,
        ])
        .args(args);
    cmd
}

/// Runs a command (graph-push, or any of the tools) with `input` on stdin,
/// written by a thread so that a large input cannot block against the output.
pub fn run_cmd(mut cmd: Command, input: &[u8]) -> Run {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("the tool starts");
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().expect("the tool ends");
    writer.join().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// Runs graph-push against the emulator with `records` on stdin.
pub fn push(emu: &MsEmulator, args: &[&str], records: &[Value]) -> Run {
    run_cmd(command(emu, args), &ndjson(records))
}

pub fn ndjson(records: &[Value]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in records {
        serde_json::to_writer(&mut out, r).unwrap();
        out.push(b'\n');
    }
    out
}

pub fn write_ndjson(path: &Path, records: &[Value]) {
    std::fs::write(path, ndjson(records)).unwrap();
}

pub fn read_ndjson(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn uuid(i: usize) -> String {
    uuid::Uuid::from_u128(0x4c0b5f5e_8e1a_4c1e_9d7a_000000000000 + i as u128).to_string()
}

/// A STIX 2.1 indicator as `ioc-map` writes it (key `id`).
pub fn stix(i: usize) -> Value {
    json!({
        "type": "indicator", "spec_version": "2.1", "id": format!("indicator--{}", uuid(i)),
        "created": "2026-03-02T00:00:00.000Z", "modified": "2026-03-02T10:15:00.000Z",
        "name": format!("C2 domain {i} (MISP event 4711)"),
        "pattern": format!("[domain-name:value = 'c2-{i}.example.net']"),
        "pattern_type": "stix", "pattern_version": "2.1",
        "valid_from": "2026-03-02T10:15:00.000Z", "valid_until": "2027-06-01T00:00:00.000Z",
        "indicator_types": ["malicious-activity"], "confidence": 75,
        "labels": ["misp-event:4711"],
        "external_references": [{"source_name": "MISP", "external_id": uuid(i)}]
    })
}

pub fn stix_range(n: usize) -> Vec<Value> {
    (0..n).map(stix).collect()
}

/// A STIX indicator Sentinel refuses (valid_until before valid_from).
pub fn bad_stix(i: usize) -> Value {
    let mut v = stix(i);
    v["valid_until"] = json!("2026-01-01T00:00:00.000Z");
    v
}

/// A Defender import object as `ioc-map --format defender` writes it.
pub fn defender(i: usize) -> Value {
    json!({
        "indicatorValue": format!("c2-{i}.example.net"), "indicatorType": "DomainName",
        "action": "Audit", "generateAlert": true, "title": format!("MISP 4711: C2 domain {i}"),
        "description": "From MISP event 5f0e8b1a-6d2c-4a8e-b1f3-0c9d8e7f6a5b",
        "expirationTime": "2027-06-01T00:00:00Z", "severity": "Medium"
    })
}

/// A Graph tiIndicator as `ioc-map --format graph` writes it (key `externalId`).
pub fn graph(i: usize) -> Value {
    json!({
        "action": "alert", "targetProduct": "Azure Sentinel", "threatType": "WatchList",
        "tlpLevel": "green", "description": format!("MISP 4711: C2 domain {i}"),
        "expirationDateTime": "2027-06-01T00:00:00Z", "externalId": uuid(i),
        "domainName": format!("c2-{i}.example.net"), "confidence": 75
    })
}

/// The emulator holds every accepted STIX record exactly as `expected` says.
pub fn assert_sentinel_holds(emu: &MsEmulator, expected: &[Value], run: &Run) {
    let current = emu.stix_current(WORKSPACE);
    let by_id: BTreeMap<&str, &Value> = expected
        .iter()
        .map(|r| (r["id"].as_str().unwrap(), r))
        .collect();
    for key in run.accepted_keys() {
        let want = by_id
            .get(key.as_str())
            .unwrap_or_else(|| panic!("{key} accepted but not expected"));
        let got = current
            .get(&key)
            .unwrap_or_else(|| panic!("{key} accepted but not in the emulator"));
        assert_eq!(got, *want, "{key} not held exactly as sent");
    }
}

/// bash (`-e -o pipefail`) running a documentation block's `script` in `dir`,
/// on 127.0.0.1 without a proxy, with no credential of the caller's
/// environment besides what the test sets.
pub fn doc_block(script: &str, dir: &Path) -> Command {
    let mut cmd = Command::new("bash");
    cmd.args(["-e", "-o", "pipefail", "-c", script])
        .current_dir(dir)
        .env("NO_PROXY", "127.0.0.1,localhost");
    for var in [
        "AZURE_CLIENT_CERTIFICATE_PATH",
        "AZURE_FEDERATED_TOKEN_FILE",
        "HTTPS_PROXY",
    ] {
        cmd.env_remove(var);
    }
    cmd
}
