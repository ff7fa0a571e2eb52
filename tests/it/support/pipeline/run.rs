//! Running the tools: clean commands, shell pipelines, scripts/misp-sync, their results.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{json, Value};

use super::seed::*;
use crate::support::emulator::misp::{Emulator as Misp, TEST_KEY};
use crate::support::emulator::ms::{MsEmulator, CLIENT_ID, CLIENT_SECRET, TENANT, WORKSPACE};

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
    // The creators' identities, which ioc-map's default `--context inline`
    // writes before the indicators, are left out.
    let identity = |r: &Value| {
        r["key"]
            .as_str()
            .is_some_and(|k| k.starts_with("identity--"))
    };
    for r in results.iter().filter(|r| !identity(r)) {
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
