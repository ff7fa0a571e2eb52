//! Golden tests: the real `ioc-map` binary over `tests/fixtures/ioc-map/types.ndjson`
//! (one attribute of every mapped MISP type, one of each skip reason, an event
//! with an object) in each format, and over `context.ndjson` (galaxy clusters)
//! with each format's context; stdout, `--skipped` and the summary are
//! compared with the files in `expected/` (for the CSV formats, the file written
//! with `-o`). The binary runs in the fixtures directory, so the `FILE:LINE`
//! sources do not depend on the checkout.
//!
//! To add a case: add one line to `cases!` below,
//! `NAME: golden("FIXTURE.CASE", "FORMAT", "ARG", …);` (FIXTURE `types` or
//! `context`, CASE a name of its own: the expected files are
//! `expected/FIXTURE.CASE.*`), then run
//! `UPDATE_GOLDEN=1 cargo test --test it ioc_map_golden::NAME` to write them,
//! check them, and commit them. The same variable rewrites every expected file
//! after an intended change of output.

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

/// Runs ioc-map over the fixture; returns (stdout, the `--skipped` file, the summary line).
fn run(format: &str, extra: &[&str], dir: &Path) -> (String, String, String) {
    run_on("types.ndjson", format, extra, dir)
}

/// [`run`] over the fixture `input`.
fn run_on(input: &str, format: &str, extra: &[&str], dir: &Path) -> (String, String, String) {
    let skipped = dir.join("skipped.ndjson");
    let f = fixtures();
    let out = Command::new(env!("CARGO_BIN_EXE_ioc-map"))
        .current_dir(&f)
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
        .arg(input)
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let summary = stderr.lines().last().unwrap_or("").to_string() + "\n";
    (
        String::from_utf8(out.stdout).unwrap(),
        std::fs::read_to_string(&skipped).unwrap(),
        summary,
    )
}

/// One golden case: ioc-map in `format` over the fixture that `stem` names
/// (`types.stix` reads `types.ndjson`), its output compared with
/// `expected/STEM.*`: `.ndjson` (stdout; `.csv`, the file written with `-o`,
/// for the CSV formats, whose stdout stays empty), `.skipped.ndjson`, `.summary`.
fn golden(stem: &str, format: &str, extra: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("out.csv");
    let mut args = extra.to_vec();
    let writes_file = format.ends_with("-csv");
    if writes_file {
        args.extend(["-o", csv.to_str().unwrap()]);
    }
    let fixture = stem.split('.').next().unwrap();
    let input = format!("{fixture}.ndjson");
    let (stdout, skipped, summary) = run_on(&input, format, &args, dir.path());
    if writes_file {
        assert_eq!(stdout, "");
        check(
            &format!("{stem}.csv"),
            &std::fs::read_to_string(&csv).unwrap(),
        );
    } else {
        check(&format!("{stem}.ndjson"), &stdout);
    }
    check(&format!("{stem}.skipped.ndjson"), &skipped);
    check(&format!("{stem}.summary"), &summary);
}

/// One `#[test] fn NAME` per line: the expected files' stem, the format and
/// the extra arguments.
macro_rules! cases {
    ($($name:ident: golden($stem:literal, $format:literal $(, $arg:literal)*);)*) => {
        $(#[test]
        fn $name() {
            golden($stem, $format, &[$($arg),*]);
        })*
    };
}

cases! {
    // `types.ndjson` with `--context none`: indicators only, as ioc-map wrote
    // them before it read galaxies; the context is pinned by
    // `tests/it/ioc_map_context.rs` and the `context.*` cases.
    stix: golden("types.stix", "stix", "--context", "none", "--misp-url", "https://misp.example.org/");
    defender: golden("types.defender", "defender", "--context", "none");
    tiindicator: golden("types.tiindicator", "tiindicator", "--context", "none", "--azure-tenant-id", "00000000-0000-0000-0000-0000000000aa");
    sentinel_csv: golden("types.sentinel-csv", "sentinel-csv", "--context", "none");
    defender_csv: golden("types.defender-csv", "defender-csv", "--context", "none", "--max-rows", "0");
    // `context.ndjson`: an event in MISP's export shape with event and
    // attribute clusters, a feed event with bare galaxy tags, a bare attribute
    // with inherited tags, an event without context; each format's context.
    context_stix_objects: golden("context.stix-objects", "stix", "--context", "objects");
    context_stix_inline: golden("context.stix-inline", "stix");
    context_stix_none: golden("context.stix-none", "stix", "--context", "none");
    context_tiindicator: golden("context.tiindicator", "tiindicator", "--azure-tenant-id", "00000000-0000-0000-0000-0000000000aa");
    context_defender_csv: golden("context.defender-csv", "defender-csv");
    context_sentinel_csv: golden("context.sentinel-csv", "sentinel-csv");
}

/// `--max-rows 3` splits the same rows into numbered files, each with the header.
#[test]
fn defender_csv_split() {
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole.csv");
    run(
        "defender-csv",
        &["-o", whole.to_str().unwrap(), "--max-rows", "0"],
        dir.path(),
    );
    let whole = std::fs::read_to_string(&whole).unwrap();
    let (header, rows) = whole.split_once("\r\n").unwrap();
    let rows: Vec<&str> = rows.split_terminator("\r\n").collect();
    assert!(rows.len() > 3, "the fixture should give several files");

    let split = dir.path().join("parts");
    std::fs::create_dir(&split).unwrap();
    let out = split.join("out.csv");
    run(
        "defender-csv",
        &["-o", out.to_str().unwrap(), "--max-rows", "3"],
        dir.path(),
    );
    let mut names: Vec<String> = std::fs::read_dir(&split)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let want: Vec<String> = (1..=rows.len().div_ceil(3))
        .map(|n| format!("out-{n:04}.csv"))
        .collect();
    assert_eq!(names, want);
    let mut again = Vec::new();
    for name in &names {
        let text = std::fs::read_to_string(split.join(name)).unwrap();
        let (h, body) = text.split_once("\r\n").unwrap();
        assert_eq!(h, header, "{name}");
        let part: Vec<&str> = body.split_terminator("\r\n").collect();
        assert!(
            !part.is_empty() && part.len() <= 3,
            "{name}: {} rows",
            part.len()
        );
        again.extend(part.iter().map(|r| r.to_string()));
    }
    assert_eq!(again, rows);
}

#[test]
fn csv_needs_a_file() {
    let out = Command::new(env!("CARGO_BIN_EXE_ioc-map"))
        .current_dir(fixtures())
        .args(["--format", "sentinel-csv", "types.ndjson"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("-o FILE"));
    let out = Command::new(env!("CARGO_BIN_EXE_ioc-map"))
        .current_dir(fixtures())
        .args(["--max-rows", "10", "types.ndjson"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
