//! The README's Quick start command, run exactly as written, from the
//! repository, as a user on a fresh clone would. Its own test binary: its
//! `cargo build` relinks target/debug/*, which no other test may be running.

use crate::docs;

use std::process::Command;

use serde_json::Value;

#[test]
fn quick_start_runs_the_whole_pipeline_offline_as_written() {
    let quick = docs::section("Quick start");
    assert_eq!(quick.file, "README.md", "the Quick start is the README's");
    let block = docs::tested(&quick, "quickstart");
    let command = block.code.trim();
    assert_eq!(command.lines().count(), 1, "one command line: {command}");

    let mut cmd = Command::new("bash");
    cmd.arg("-c").arg(command).current_dir(docs::repo());
    // The command names target/debug: build where it looks.
    if let Ok(dir) = std::env::var("CARGO_TARGET_DIR") {
        if std::path::Path::new(&dir) != docs::repo().join("target") {
            cmd.env_remove("CARGO_TARGET_DIR");
        }
    }
    // A user's shell: without what cargo sets for a test (build scripts watch
    // some of it, e.g. CARGO_MANIFEST_DIR, and would rebuild everything) and
    // without any settings of the tools.
    for (var, _) in std::env::vars_os() {
        let var = var.to_string_lossy();
        let cargo_test = [
            "CARGO",
            "CARGO_MANIFEST_DIR",
            "CARGO_MANIFEST_PATH",
            "CARGO_CRATE_NAME",
        ]
        .contains(&var.as_ref())
            || [
                "CARGO_PKG_",
                "CARGO_BIN_EXE_",
                "CARGO_PRIMARY_",
                "CARGO_TARGET_TMPDIR",
            ]
            .iter()
            .any(|p| var.starts_with(p));
        let settings = ["MISP_", "AZURE_", "SENTINEL_", "GRAPH_PUSH_"]
            .iter()
            .any(|p| var.starts_with(p));
        if cargo_test || settings {
            cmd.env_remove(var.as_ref());
        }
    }
    // No network: a proxy that does not exist would make any request fail.
    cmd.env("HTTPS_PROXY", "http://127.0.0.1:9")
        .env("HTTP_PROXY", "http://127.0.0.1:9");
    let out = cmd.output().expect("run bash");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "exit {:?}\n{stderr}",
        out.status.code()
    );

    // What the README says it prints.
    for said in [
        "misp-pull: 2 events, 19 attributes written",
        "13 mapped, 6 skipped",
        "graph-push: dry run: 14 records: 14 would be sent in 1 request,",
    ] {
        assert!(stderr.contains(said), "stderr lacks {said:?}:\n{stderr}");
    }
    let requests: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON request line"))
        .collect();
    assert_eq!(requests.len(), 1, "{stdout}");
    let r = &requests[0];
    assert_eq!(r["method"], "POST");
    let url = r["url"].as_str().unwrap();
    assert!(
        url.starts_with("https://api.ti.sentinel.azure.com/workspaces/00000000-0000-0000-0000-000000000000/threat-intelligence-stix-objects:upload"),
        "{url}"
    );
    assert_eq!(r["headers"]["Authorization"], "Bearer <token>");
    let objects = r["body"]["stixobjects"].as_array().unwrap();
    // 13 indicators and the identity of the events' publisher (`--context inline`).
    assert_eq!(objects.len(), 14);
    assert_eq!(
        objects.iter().filter(|o| o["type"] == "identity").count(),
        1
    );
    assert!(objects
        .iter()
        .any(|o| o["pattern"] == "[domain-name:value = 'c2.example.net']"));
}
