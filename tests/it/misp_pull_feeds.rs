//! misp-pull from feeds: MISP-format feeds (directory and URL, missing and
//! broken event files, the real Infoblox feed), CSV and freetext feeds.

use std::collections::HashSet;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::{json, Value};

use crate::support::emulator::misp::Emulator;
use crate::support::feed;
use crate::support::pull::{lines, stderr, BIN};

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .args(["--retry-wait", "50ms"])
        .env_remove("MISP_URL")
        .env_remove("HTTPS_PROXY")
        .env_remove("HTTP_PROXY")
        .output()
        .expect("run misp-pull")
}

const U1: &str = "11111111-1111-4111-8111-111111111111";
const U2: &str = "22222222-2222-4222-8222-222222222222";
const U3: &str = "33333333-3333-4333-8333-333333333333";
const U4: &str = "44444444-4444-4444-8444-444444444444";

/// A small feed: U1 and U2 present (pretty-printed, integers), U3 missing, U4 broken.
fn small_feed(dir: &Path) {
    let manifest = json!({
        U1: {"Orgc": {"name": "CERT-A", "uuid": U1}, "Tag": [{"name": "tlp:clear"}], "info": "one", "date": "2026-03-01", "timestamp": 1772000000},
        U2: {"Orgc": {"name": "CERT-B", "uuid": U2}, "Tag": [{"name": "tlp:red"}], "info": "two", "date": "2026-03-02", "timestamp": "1772100000"},
        U3: {"Orgc": {"name": "CERT-A", "uuid": U1}, "Tag": [], "info": "three", "date": "2026-03-03", "timestamp": 1772200000},
        U4: {"Orgc": {"name": "CERT-A", "uuid": U1}, "Tag": [], "info": "four", "date": "2026-03-04", "timestamp": 1772300000}
    });
    std::fs::write(
        dir.join("manifest.json"),
        serde_json::to_vec_pretty(&manifest).unwrap(),
    )
    .unwrap();
    for (u, ts, n) in [(U1, 1772000000, 2), (U2, 1772100000, 3)] {
        let attrs: Vec<Value> = (0..n)
            .map(|k| json!({"uuid": format!("aaaaaaaa-0000-4000-8000-{k:012}"), "type": "domain", "category": "Network activity",
                            "value": format!("d{k}.bad.example.com"), "to_ids": true, "timestamp": ts}))
            .collect();
        let ev = json!({"Event": {"uuid": u, "info": "x", "timestamp": ts.to_string(), "published": true, "Attribute": attrs,
                        "Object": [{"name": "file", "Attribute": [{"uuid": "bbbbbbbb-0000-4000-8000-000000000000", "type": "md5", "value": "d41d8cd98f00b204e9800998ecf8427e"}]}]}});
        std::fs::write(
            dir.join(format!("{u}.json")),
            serde_json::to_vec_pretty(&ev).unwrap(),
        )
        .unwrap();
    }
    std::fs::write(dir.join(format!("{U4}.json")), b"{\"Event\": {\"uuid\": \"").unwrap();
}

#[test]
fn misp_feed_with_missing_and_broken_events() {
    let dir = tempfile::tempdir().unwrap();
    small_feed(dir.path());
    let o = run(&["--feed", dir.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let l = lines(&o);
    assert_eq!(l.len(), 2);
    assert_eq!(l[0]["Event"]["uuid"], json!(U1));
    // Passed on as the file had it, compacted to one line.
    let file: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join(format!("{U1}.json"))).unwrap())
            .unwrap();
    assert_eq!(l[0], file);
    let e = stderr(&o);
    assert!(
        e.contains(&format!("{U3}.json: missing (manifest event {U3})")),
        "{e}"
    );
    assert!(
        e.contains(&format!("(manifest event {U4})")) && e.contains("unreadable"),
        "{e}"
    );
    assert!(e.contains("2 events, 7 attributes"), "{e}");
}

#[test]
fn misp_feed_filters_use_the_manifest() {
    let dir = tempfile::tempdir().unwrap();
    small_feed(dir.path());
    let d = dir.path().to_str().unwrap();
    let o = run(&["--feed", d, "--tags", "tlp:%", "--tags", "!tlp:red"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(lines(&o).len(), 1);
    let o = run(&[
        "--feed",
        d,
        "--since",
        "1772050000",
        "--until",
        "1772150000",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(lines(&o)[0]["Event"]["uuid"], json!(U2));
    let o = run(&["--feed", d, "--org", "CERT-B"]);
    assert_eq!(lines(&o).len(), 1);
    let o = run(&["--feed", d, "--type", "ip-dst"]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "no server to filter by type: {}",
        stderr(&o)
    );
}

#[test]
fn misp_feed_state() {
    let dir = tempfile::tempdir().unwrap();
    small_feed(dir.path());
    let state = dir.path().join("feed.state");
    let (d, s) = (dir.path().to_str().unwrap(), state.to_str().unwrap());
    let incremental = |filter: &[&str]| {
        run(&[&["--feed", d, "--state", s, "--overlap", "0s"][..], filter].concat())
    };
    let o = incremental(&["--tags", "!tlp:red"]);
    assert_eq!(lines(&o).len(), 1);
    assert!(
        dir.path().join("feed.state.next").exists(),
        "exit 3 (missing events named) still completes"
    );
    run(&["--commit-state", s]);
    let o = incremental(&["--tags", "!tlp:red"]);
    assert_eq!(
        lines(&o).len(),
        1,
        "the event at the mark again, nothing older"
    );
    let o = incremental(&["--since", "1772050000"]);
    assert_eq!(lines(&o).len(), 1, "other filters: a mark of their own");
}

#[test]
fn misp_feed_over_http() {
    let dir = tempfile::tempdir().unwrap();
    small_feed(dir.path());
    let emu = Emulator::start(0);
    emu.serve_dir("/feeds/small/", dir.path());
    let url = format!("{}/feeds/small/", emu.url);
    let o = run(&["--feed", &url]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert_eq!(lines(&o).len(), 2);
    assert!(
        stderr(&o).contains(&format!("missing (HTTP 404) (manifest event {U3})")),
        "{}",
        stderr(&o)
    );
    let r = emu.requests_to("/feeds/small/manifest.json");
    assert!(r[0]
        .raw_head
        .to_ascii_lowercase()
        .contains("accept: application/json, text/plain"));
    assert!(!r[0].raw_head.to_ascii_lowercase().contains("authorization"));
}

#[test]
fn the_infoblox_feed_accounts_for_every_event_and_attribute() {
    let Some(feed) = feed::infoblox() else { return };
    let o = run(&["--feed", feed.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let l = lines(&o);
    assert_eq!(l.len(), 41);
    let attrs: usize = l
        .iter()
        .map(|e| {
            let ev = &e["Event"];
            ev["Attribute"].as_array().map_or(0, |a| a.len())
                + ev["Object"].as_array().map_or(0, |o| {
                    o.iter()
                        .map(|o| o["Attribute"].as_array().map_or(0, |a| a.len()))
                        .sum()
                })
        })
        .sum();
    assert_eq!(attrs, 61_070);
    let e = stderr(&o);
    for missing in [
        "2c8ebd9a-c853-4792-b25e-b82f1394d9e1",
        "3493a2df-8c62-451b-99bf-312292104994",
        "454d994e-c027-4fb1-9be0-b58d815bdf3a",
        "46fe4d4c-c036-4f67-838f-4f7ae78ee6c8",
        "9ffe100e-899f-455d-9c73-476c8dad5b21",
    ] {
        assert!(
            e.contains(&format!(
                "{missing}.json: missing (manifest event {missing})"
            )),
            "{e}"
        );
    }
    assert!(e.contains("41 events, 61070 attributes"), "{e}");
    assert!(e.contains("46 in the manifest"), "{e}");
}

/// A file's modification time, in seconds since the epoch.
fn mtime_secs(path: &Path) -> u64 {
    std::fs::metadata(path)
        .unwrap()
        .modified()
        .unwrap()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn attr_of(v: &Value) -> (String, String, String) {
    let a = &v["Attribute"];
    (
        a["type"].as_str().unwrap().to_string(),
        a["value"].as_str().unwrap().to_string(),
        a["uuid"].as_str().unwrap().to_string(),
    )
}

#[test]
fn csv_feed() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("blocklist.csv");
    std::fs::write(
        &csv,
        "# first_seen;value;note\n2026-03-01;192.0.2[.]7;\"c2, stage 1\"\n2026-03-02; 'Bad.Example.COM' ;x\n#2026-03-03;198.51.100.1;commented\n2026-03-04;hello world;\n2026-03-05;192.0.2.7;again\n",
    )
    .unwrap();
    let o = run(&[
        "--csv",
        csv.to_str().unwrap(),
        "--value-column",
        "2",
        "--delimiter",
        ";",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let l = lines(&o);
    let got: Vec<(String, String)> = l
        .iter()
        .map(|v| {
            let (t, x, _) = attr_of(v);
            (t, x)
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("ip-dst".into(), "192.0.2.7".into()),
            ("hostname".into(), "bad.example.com".into())
        ]
    );
    let a = &l[0]["Attribute"];
    assert_eq!(a["category"], json!("Network activity"));
    assert_eq!(a["to_ids"], json!(true));
    assert_eq!(a["deleted"], json!(false));
    let mtime = mtime_secs(&csv);
    assert_eq!(
        a["timestamp"],
        json!(mtime.to_string()),
        "timestamps from the file's modification time"
    );
    let e = stderr(&o);
    assert!(
        e.contains("1 repeated") && e.contains("1 not an indicator"),
        "{e}"
    );
}

#[test]
fn freetext_feed_uuids_are_stable_across_runs_paths_and_hosts() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let text = "Seen today: hxxps://evil[.]example[.]com/payload.bin and 203.0.113[.]9:8080,\n\
                mail from phish[at]bad-domain[.]net; hash D41D8CD98F00B204E9800998ECF8427E\n\
                CVE-2021-44228 via \"c2 [.] nothing\" and c2.bad-domain[.]net.\n";
    let p1 = a.path().join("iocs.txt");
    let p2 = b.path().join("iocs.txt");
    std::fs::write(&p1, text).unwrap();
    std::fs::write(&p2, text).unwrap();
    let o1 = run(&["--freetext", p1.to_str().unwrap()]);
    assert_eq!(o1.status.code(), Some(0), "{}", stderr(&o1));
    let got: Vec<(String, String, String)> = lines(&o1).iter().map(attr_of).collect();
    let tv: Vec<(&str, &str)> = got
        .iter()
        .map(|(t, v, _)| (t.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        tv,
        vec![
            ("url", "https://evil.example.com/payload.bin"),
            ("ip-dst|port", "203.0.113.9|8080"),
            ("email-src", "phish@bad-domain.net"),
            ("md5", "d41d8cd98f00b204e9800998ecf8427e"),
            ("vulnerability", "CVE-2021-44228"),
            ("hostname", "c2.bad-domain.net"),
        ]
    );
    assert_eq!(lines(&o1)[1]["Attribute"]["comment"], json!("On port 8080"));
    // Again, from another directory: the same uuids (feed name = base name).
    let o2 = run(&["--freetext", p2.to_str().unwrap()]);
    assert_eq!(lines(&o2).iter().map(attr_of).collect::<Vec<_>>(), got);
    // Under another name with --feed-name, and over HTTP: the same uuids again.
    let p3 = b.path().join("renamed.txt");
    std::fs::write(&p3, text).unwrap();
    let o3 = run(&[
        "--freetext",
        p3.to_str().unwrap(),
        "--feed-name",
        "iocs.txt",
    ]);
    let u3: HashSet<String> = lines(&o3).iter().map(|v| attr_of(v).2).collect();
    let u1: HashSet<String> = got.iter().map(|g| g.2.clone()).collect();
    assert_eq!(u3, u1);
    let emu = Emulator::start(0);
    emu.serve_dir("/f/", b.path());
    let o4 = run(&["--freetext", &format!("{}/f/iocs.txt", emu.url)]);
    assert_eq!(o4.status.code(), Some(0), "{}", stderr(&o4));
    let l4 = lines(&o4);
    assert_eq!(l4.iter().map(|v| attr_of(v).2).collect::<HashSet<_>>(), u1);
    // The HTTP Last-Modified header gives the timestamp.
    let mtime = mtime_secs(&p2);
    assert_eq!(l4[0]["Attribute"]["timestamp"], json!(mtime.to_string()));
    // Another feed name: other uuids.
    let o5 = run(&["--freetext", p1.to_str().unwrap(), "--feed-name", "other"]);
    let u5: HashSet<String> = lines(&o5).iter().map(|v| attr_of(v).2).collect();
    assert!(u5.is_disjoint(&u1));
}

#[test]
fn feed_usage_errors() {
    let o = run(&["--csv", "x.csv", "--state", "s"]);
    assert_eq!(o.status.code(), Some(2));
    let o = run(&[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no source"), "{}", stderr(&o));
    let o = run(&["--feed", "/nonexistent/feed"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("/nonexistent/feed/manifest.json"),
        "{}",
        stderr(&o)
    );
}
