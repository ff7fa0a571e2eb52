//! Golden tests: the real `ioc-map` binary over `tests/fixtures/ioc-map/types.ndjson`
//! (one attribute of every mapped MISP type, one of each skip reason, an event
//! with an object) in each format; stdout, `--skipped` and the summary are
//! compared with the files in `expected/`. `UPDATE_GOLDEN=1 cargo test` rewrites them.

use std::path::{Path, PathBuf};
use std::process::Command;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ioc-map")
}

fn check(name: &str, got: &str) {
    let path = fixtures().join("expected").join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with UPDATE_GOLDEN=1 to create it)",
            path.display()
        )
    });
    if got != want {
        for (i, (g, w)) in got.lines().zip(want.lines()).enumerate() {
            if g != w {
                panic!(
                    "{name}: line {} differs\n got: {g}\nwant: {w}\n(UPDATE_GOLDEN=1 rewrites)",
                    i + 1
                );
            }
        }
        panic!(
            "{name}: {} lines, expected {}",
            got.lines().count(),
            want.lines().count()
        );
    }
}

fn golden(format: &str, extra: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let skipped = dir.path().join("skipped.ndjson");
    let f = fixtures();
    let out = Command::new(env!("CARGO_BIN_EXE_ioc-map"))
        .args([
            "--format",
            format,
            "--now",
            "2026-11-28T00:00:00Z",
            "--min-confidence",
            "10",
        ])
        .args(["--exclude-types", "sigma"])
        .arg("--allowlist")
        .arg(f.join("allowlist.txt"))
        .arg("--warninglist-dir")
        .arg(f.join("warninglists"))
        .arg("--skipped")
        .arg(&skipped)
        .args(extra)
        .arg(f.join("types.ndjson"))
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let summary = stderr.lines().last().unwrap_or("").to_string() + "\n";
    check(
        &format!("types.{format}.ndjson"),
        &String::from_utf8(out.stdout).unwrap(),
    );
    check(
        &format!("types.{format}.skipped.ndjson"),
        &std::fs::read_to_string(&skipped).unwrap(),
    );
    check(&format!("types.{format}.summary"), &summary);
}

#[test]
fn stix() {
    golden("stix", &["--misp-url", "https://misp.example.org/"]);
}

#[test]
fn defender() {
    golden("defender", &[]);
}

#[test]
fn tiindicator() {
    golden(
        "tiindicator",
        &["--azure-tenant-id", "00000000-0000-0000-0000-0000000000aa"],
    );
}
