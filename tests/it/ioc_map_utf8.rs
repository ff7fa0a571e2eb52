//! A line that is not UTF-8 is one bad line (named, counted, exit 3); the
//! lines around it are still mapped.

use std::io::Write;
use std::process::Command;

#[test]
fn invalid_utf8_is_a_bad_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("in.ndjson");
    let good = br#"{"Attribute":{"uuid":"5e7e0000-0000-4000-8000-0000000000f1","type":"domain","value":"c2.example.net","to_ids":true,"timestamp":"1795000000","category":"Network activity"}}"#;
    let mut f = std::fs::File::create(&path).unwrap();
    f.write_all(good).unwrap();
    f.write_all(
        b"\n{\"Attribute\":{\"uuid\":\"x\",\"type\":\"domain\",\"value\":\"bad\xff.example\"}}\n",
    )
    .unwrap();
    f.write_all(good).unwrap();
    f.write_all(b"\n").unwrap();
    drop(f);
    let out = Command::new(env!("CARGO_BIN_EXE_ioc-map"))
        .current_dir(dir.path())
        .args(["--now", "2026-11-28T00:00:00Z", "in.ndjson"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("in.ndjson:2: not valid JSON"), "{stderr}");
    assert!(stderr.contains("2 attributes: 2 mapped"), "{stderr}");
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), 2);
}
