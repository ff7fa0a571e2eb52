//! The real `ioc-map` binary: accounting, bad input, --strict, gzip, closed
//! pipes, multi-line documents, flag checks, the sample feed and the Infoblox feed.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use crate::support::feed;

const NOW: &str = "2026-11-28T00:00:00Z";

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ioc-map"));
    c.args(["--now", NOW]);
    c
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn run_stdin(args: &[&str], input: &str) -> Output {
    let mut child = bin()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A child that exits early (a usage error) does not read its input.
    let _ = child.stdin.take().unwrap().write_all(input.as_bytes());
    child.wait_with_output().unwrap()
}

/// A bare attribute line with a fresh uuid-like id `n`.
fn attr(n: u32, ty: &str, value: &str) -> String {
    format!(
        r#"{{"uuid":"00000000-0000-4000-8000-{n:012}","type":"{ty}","value":"{value}","timestamp":"1795132800","to_ids":true}}"#
    )
}

/// Indicator lines of stdout: STIX context objects (`--context inline`, the
/// default, writes the creator's `identity`) left out.
fn indicator_lines(stdout: &str) -> u64 {
    stdout
        .lines()
        .filter(|l| !l.starts_with(r#"{"type":"identity""#))
        .count() as u64
}

/// The numbers of the summary line: (attributes, mapped, skipped, written, bad lines).
fn summary(stderr: &str) -> (u64, u64, u64, u64, u64) {
    let line = stderr
        .lines()
        .rev()
        .find(|l| l.starts_with("ioc-map: ") && l.contains(" mapped, "))
        .unwrap_or_else(|| panic!("no summary in {stderr}"));
    // The number before the first of `words` (singular for a count of one: "1 bad line").
    let num = |words: &[&str]| -> u64 {
        let i = words
            .iter()
            .find_map(|w| line.find(w))
            .unwrap_or_else(|| panic!("{words:?} in {line}"));
        line[..i]
            .rsplit(|c: char| !c.is_ascii_digit())
            .find(|s| !s.is_empty())
            .unwrap()
            .parse()
            .unwrap()
    };
    (
        num(&[" attributes: ", " attribute: "]),
        num(&[" mapped"]),
        num(&[" skipped"]),
        num(&[" indicators written", " indicator written"]),
        num(&[" bad lines", " bad line"]),
    )
}

#[test]
fn quick_start_sample_feed() {
    let feed = root().join("examples/sample-feed");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&feed)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let out = bin().args(&files).output().unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("manifest.json:1: a MISP feed manifest"),
        "{stderr}"
    );
    let (attrs, mapped, skipped, written, bad) = summary(&stderr);
    assert_eq!((attrs, mapped + skipped, bad), (19, 19, 0));
    let stdout = text(&out.stdout);
    assert_eq!(indicator_lines(&stdout), written);
    assert!(
        stdout.contains("[url:value = 'https://login.example.com/verify?id=1']"),
        "refanged"
    );
    assert!(
        stdout.contains("[file:hashes.'SHA-256' = '0f343b09"),
        "hash of filename|sha256, lower-cased"
    );
    assert!(stdout.contains(r"[windows-registry-key:key = 'HKCU\\\\Software\\\\O\\'Brien\\\\Run']"));
    assert!(
        !stdout.contains("mail.phish.example.com"),
        "TLP:RED stays home"
    );
    assert!(
        !stdout.contains("192.0.2.10"),
        "documentation range is private"
    );
}

#[test]
fn every_attribute_of_the_infoblox_feed_has_one_outcome() {
    let Some(dir) = feed::infoblox() else { return };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    // Count the attributes independently of ioc-map.
    let mut expected = 0u64;
    for f in &files {
        if f.file_name().unwrap() == "manifest.json" {
            continue;
        }
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap();
        let ev = &v["Event"];
        expected += ev["Attribute"].as_array().map_or(0, |a| a.len()) as u64;
        for o in ev["Object"].as_array().into_iter().flatten() {
            expected += o["Attribute"].as_array().map_or(0, |a| a.len()) as u64;
        }
    }
    assert_eq!(expected, 61_070);
    let tmp = tempfile::tempdir().unwrap();
    for format in ["stix", "defender", "tiindicator"] {
        let skipped = tmp.path().join(format!("{format}.skipped"));
        let out = bin()
            .args(["--format", format, "--expire-from", "now", "--skipped"])
            .arg(&skipped)
            .args(&files)
            .output()
            .unwrap();
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{format}: {stderr}");
        let (attrs, mapped, skip, written, bad) = summary(&stderr);
        assert_eq!(attrs, expected, "{format}");
        assert_eq!(mapped + skip, attrs, "{format}: one outcome each");
        assert_eq!(bad, 0);
        assert_eq!(
            std::fs::read_to_string(&skipped).unwrap().lines().count() as u64,
            skip,
            "{format}"
        );
        assert_eq!(indicator_lines(&text(&out.stdout)), written, "{format}");
        assert!(mapped > 60_000, "{format}: {stderr}");
    }
}

#[test]
fn bad_lines_are_named_counted_and_skipped() {
    let input = [
        attr(1, "domain", "one.example.com"),
        "this is not json".to_string(),
        r#"{"foo":1}"#.to_string(),
        r#"{"type":"domain","value":"x.example.com","to_ids":"maybe"}"#.to_string(),
        attr(2, "domain", "two.example.com"),
        r#"{"uuid":"x","value":"no type"}"#.to_string(),
        r#"{"Event":{"uuid":"e","info":"cut off"#.to_string(),
        attr(3, "domain", "three.example.com"),
    ]
    .join("\n");
    let out = run_stdin(&[], &input);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("stdin:2: not valid JSON"), "{stderr}");
    assert!(
        stderr.contains("stdin:3: neither a MISP event nor an attribute"),
        "{stderr}"
    );
    assert!(
        stderr.contains("stdin:4: cannot read this MISP record"),
        "{stderr}"
    );
    assert!(stderr.contains("stdin:6: attribute x: no type"), "{stderr}");
    assert!(stderr.contains("stdin:7: the line ends inside"), "{stderr}");
    let (attrs, mapped, skipped, written, bad) = summary(&stderr);
    assert_eq!((attrs, mapped, skipped, written, bad), (4, 3, 1, 3, 4));
    assert!(stderr.contains("malformed attribute: 1"));
    assert_eq!(
        text(&out.stdout).lines().count(),
        3,
        "the good lines around the bad ones"
    );
}

#[test]
fn strict_stops_at_the_first_bad_line() {
    let input = [
        attr(1, "domain", "one.example.com"),
        "{oops".into(),
        attr(2, "domain", "two.example.com"),
    ]
    .join("\n");
    let out = run_stdin(&["--strict"], &input);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("ioc-map: stdin:2:"), "{stderr}");
    assert_eq!(
        text(&out.stdout).lines().count(),
        1,
        "what came before is written"
    );
    // -o FILE is not created by a failed run.
    let dir = tempfile::tempdir().unwrap();
    let o = dir.path().join("out.ndjson");
    let out = run_stdin(&["--strict", "-o", o.to_str().unwrap()], &input);
    assert_eq!(out.status.code(), Some(3));
    assert!(!o.exists());
}

#[test]
fn gzip_input_and_output_file() {
    let fixture = root().join("tests/fixtures/ioc-map/types.ndjson");
    let plain = bin().arg(&fixture).output().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let gz = dir.path().join("types.ndjson.gz");
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::fast(),
    );
    enc.write_all(&std::fs::read(&fixture).unwrap()).unwrap();
    enc.finish().unwrap();
    let o = dir.path().join("out.ndjson");
    let zipped = bin().arg(&gz).arg("-o").arg(&o).output().unwrap();
    assert_eq!(zipped.status.code(), Some(0), "{}", text(&zipped.stderr));
    assert!(zipped.stdout.is_empty(), "-o: nothing on stdout");
    assert_eq!(std::fs::read(&o).unwrap(), plain.stdout);
}

#[test]
fn closed_pipe_ends_quietly_with_status_0() {
    let input: String = (0..20_000)
        .map(|i| attr(i, "domain", &format!("d{i}.example.com")) + "\n")
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("many.ndjson");
    std::fs::write(&file, input).unwrap();
    let mut child = bin()
        .arg(&file)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with("{\"type\":\"indicator\""));
    // The reader is dropped here: like `| head -1`.
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(
        !text(&out.stderr).contains("Broken pipe"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn whole_response_documents_even_pretty_printed() {
    let events = serde_json::json!({"response": [
        {"Event": {"uuid": "5f0e8b1a-6d2c-4a8e-b1f3-0c9d8e7f6a5b", "info": "A", "timestamp": "1795132800",
            "Attribute": [serde_json::from_str::<serde_json::Value>(&attr(1, "domain", "a.example.com")).unwrap()]}},
        {"Event": {"uuid": "5f0e8b1a-6d2c-4a8e-b1f3-0c9d8e7f6a5c", "info": "B", "timestamp": 1795132800,
            "Object": [{"name": "file", "Attribute": [serde_json::from_str::<serde_json::Value>(&attr(2, "md5", "d41d8cd98f00b204e9800998ecf8427f")).unwrap()]}]}}
    ]});
    let attrs = serde_json::json!({"response": {"Attribute": [
        serde_json::from_str::<serde_json::Value>(&attr(3, "url", "http://c.example.com/x")).unwrap()
    ]}});
    let input = format!(
        "{}\n{}\n{}\n",
        serde_json::to_string_pretty(&events).unwrap(),
        serde_json::to_string(&attrs).unwrap(),
        attr(4, "domain", "d.example.com")
    );
    let out = run_stdin(&[], &input);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(summary(&stderr), (4, 4, 0, 4, 0));
    // A one-element list (another form of feed file) works too.
    let out = run_stdin(&[], &format!("[{}]\n", attr(5, "domain", "e.example.com")));
    assert_eq!(summary(&text(&out.stderr)), (1, 1, 0, 1, 0));
}

#[test]
fn configuration_errors_exit_2() {
    let input = attr(1, "sha256", &"a".repeat(64));
    let out = run_stdin(
        &[
            "--format",
            "defender",
            "--defender-action",
            "BlockAndRemediate",
        ],
        &input,
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("network"));
    let out = run_stdin(
        &[
            "--format",
            "defender",
            "--defender-action",
            "BlockAndRemediate",
            "--types",
            "sha256,md5",
        ],
        &input,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains(r#""action":"BlockAndRemediate""#));
    let out = run_stdin(&["--format", "defender", "--no-alert"], &input);
    assert_eq!(out.status.code(), Some(2));
    let out = run_stdin(&["--types", "ip-dest"], &input);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("ip-dest"));
    let out = run_stdin(&["--expire", "ipv4=3d"], &input);
    assert_eq!(out.status.code(), Some(2));
    let out = run_stdin(&["--format", "sentinel-csv"], &input);
    assert_eq!(out.status.code(), Some(2), "no CSV until it exists");
    let out = bin().arg("--now").arg("yesterday").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn help_shows_the_exit_codes() {
    let out = bin().arg("--help").output().unwrap();
    let s = text(&out.stdout);
    assert!(s.contains("Exit status:") && s.contains("130"), "{s}");
    assert!(s.contains("--include-non-ids") && s.contains("ip 30d"));
}

#[test]
fn skipped_file_and_retirements() {
    let dir = tempfile::tempdir().unwrap();
    let skipped = dir.path().join("skipped.ndjson");
    let deleted = attr(2, "domain", "gone.example.com")
        .replace(r#""to_ids":true"#, r#""to_ids":true,"deleted":1"#);
    let non_ids =
        attr(3, "domain", "maybe.example.com").replace(r#""to_ids":true"#, r#""to_ids":false"#);
    let input = [attr(1, "ip-dst", "10.0.0.1"), deleted, non_ids].join("\n");
    let out = run_stdin(
        &["--retire-non-ids", "--skipped", skipped.to_str().unwrap()],
        &input,
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("(2 retirements)"), "{stderr}");
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines
        .iter()
        .all(|l| l["valid_until"] == "2026-11-28T00:00:00.000Z"));
    let sk: serde_json::Value =
        serde_json::from_str(std::fs::read_to_string(&skipped).unwrap().trim()).unwrap();
    assert_eq!(sk["source"], "stdin:1");
    assert_eq!(sk["reason"], "private");
    assert_eq!(sk["value"], "10.0.0.1");
    assert_eq!(sk["type"], "ip-dst");
    // Defender: deletions emit nothing.
    let out = run_stdin(&["--format", "defender"], &input);
    assert!(text(&out.stdout).is_empty());
    assert!(text(&out.stderr).contains("deleted (retired only by --retire-missing): 1"));
}

#[test]
fn defender_writes_each_key_once() {
    let input = [
        attr(1, "domain", "dup.example.com"),
        attr(2, "hostname", "DUP.example.com"),
        attr(3, "domain|ip", "dup.example.com|1.1.1.1"),
    ]
    .join("\n");
    let out = run_stdin(&["--format", "defender"], &input);
    let stdout = text(&out.stdout);
    assert_eq!(stdout.matches("dup.example.com").count(), 1, "{stdout}");
    assert_eq!(
        stdout.lines().count(),
        2,
        "the domain once, the IP of domain|ip"
    );
    assert!(text(&out.stderr).contains("duplicate key: 1"));
}
