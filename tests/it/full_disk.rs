//! A disk that fills while a tool writes: each tool runs under a file-size
//! limit (RLIMIT_FSIZE, with SIGXFSZ ignored, so a write past it fails with
//! EFBIG as on a full disk). The tool must exit 1 naming the file, leave no
//! half-written file under the final name and no temporary file, and not
//! advance misp-pull's state. Also: `-o` naming a FIFO writes into the FIFO
//! instead of renaming a regular file over it.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::json;

use crate::support::emulator::misp::Emulator;
use crate::support::emulator::ms::{Api, Config, Fault, MsEmulator, WORKSPACE};
use crate::support::push::{command, ndjson, stix_range};

/// Makes `cmd` run with files limited to `limit` bytes; a write past it fails
/// with EFBIG instead of killing the process.
fn limit_files(cmd: &mut Command, limit: u64) {
    // SAFETY: only async-signal-safe calls (signal, setrlimit) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::signal(libc::SIGXFSZ, libc::SIG_IGN) == libc::SIG_ERR {
                return Err(std::io::Error::last_os_error());
            }
            let lim = libc::rlimit {
                rlim_cur: limit as libc::rlim_t,
                rlim_max: limit as libc::rlim_t,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

fn run(mut cmd: Command, input: &[u8]) -> Output {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Exit 1, a message naming `file` and the failed write, and only `left` in the directory.
fn assert_failed_on(o: &Output, file: &Path, dir: &Path, left: &[&str]) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&file.display().to_string()),
        "names {}: {err}",
        file.display()
    );
    assert!(err.contains("File too large"), "the write failed: {err}");
    assert_eq!(names(dir), left, "{err}");
}

/// MISP attributes, `n` lines of them; `to_ids` false ones are skipped by ioc-map.
fn attributes(n: usize, to_ids: bool) -> Vec<u8> {
    let mut s = String::new();
    for i in 0..n {
        s += &json!({
            "uuid": format!("00000000-0000-4000-8000-{i:012}"),
            "type": "domain",
            "value": format!("host{i}.badsite.net"),
            "timestamp": "1795132800",
            "to_ids": to_ids,
        })
        .to_string();
        s.push('\n');
    }
    s.into_bytes()
}

fn ioc_map() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ioc-map"));
    c.args(["--now", "2026-11-28T00:00:00Z"]);
    c
}

#[test]
fn ioc_map_output_on_a_full_disk_fails_and_leaves_nothing() {
    for name in ["out.ndjson", "out.ndjson.gz"] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join(name);
        let mut cmd = ioc_map();
        cmd.arg("-o").arg(&out);
        limit_files(&mut cmd, 64 * 1024);
        let o = run(cmd, &attributes(20_000, true));
        assert_failed_on(&o, &out, dir.path(), &[]);
    }
}

#[test]
fn ioc_map_skipped_on_a_full_disk_fails_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.ndjson");
    let skipped = dir.path().join("skipped.ndjson");
    let mut cmd = ioc_map();
    cmd.arg("-o").arg(&out).arg("--skipped").arg(&skipped);
    limit_files(&mut cmd, 64 * 1024);
    let o = run(cmd, &attributes(5_000, false));
    assert_failed_on(&o, &skipped, dir.path(), &[]);
}

#[test]
fn ioc_map_writes_into_a_fifo_and_leaves_it_a_fifo() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    // Opened for reading first (non-blocking, so nothing waits on a writer):
    // what ioc-map writes into the FIFO stays in the pipe for the read below.
    let mut reader = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo)
        .unwrap();
    let mut cmd = ioc_map();
    cmd.arg("-o").arg(&fifo);
    let o = run(cmd, &attributes(3, true));
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let mut got = String::new();
    reader.read_to_string(&mut got).unwrap();
    assert_eq!(got.lines().count(), 3, "{got}");
    assert!(fs::metadata(&fifo).unwrap().file_type().is_fifo());
    assert_eq!(names(dir.path()), ["pipe"], "no temporary file left");
}

fn misp_pull(emu: &Emulator) -> Command {
    let mut c = crate::support::pull::command(emu);
    c.args(["--overlap", "0s"]);
    c
}

#[test]
fn misp_pull_output_on_a_full_disk_fails_and_keeps_the_state() {
    let emu = Emulator::start(0);
    emu.generate(200, 20);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("events.ndjson");
    let state = dir.path().join("pull.state");
    let mut cmd = misp_pull(&emu);
    cmd.arg("-o").arg(&out).arg("--state").arg(&state);
    limit_files(&mut cmd, 64 * 1024);
    let o = run(cmd, b"");
    assert_failed_on(&o, &out, dir.path(), &[]);
}

#[test]
fn misp_pull_state_on_a_full_disk_fails_and_writes_no_next() {
    let emu = Emulator::start(0);
    emu.generate(3, 2);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("pull.state");
    let next = dir.path().join("pull.state.next");
    let mut cmd = misp_pull(&emu);
    cmd.arg("--state").arg(&state);
    // stdout is a pipe: only the state file meets the limit.
    limit_files(&mut cmd, 16);
    let o = run(cmd, b"");
    assert_failed_on(&o, &next, dir.path(), &[]);
}

#[test]
fn graph_push_failed_file_on_a_full_disk_fails_and_leaves_nothing() {
    let emu = MsEmulator::start(Config::default());
    let dir = tempfile::tempdir().unwrap();
    let failed = dir.path().join("failed.ndjson");
    // Every upload fails: every record goes to --failed.
    emu.inject_on(Api::Sentinel, 1_000, Fault::Status(502));
    let records = stix_range(2_000);
    let mut cmd = command(
        &emu,
        &["--max-retries", "0", "--failed", failed.to_str().unwrap()],
    );
    limit_files(&mut cmd, 16 * 1024);
    let o = run(cmd, &ndjson(&records));
    assert_failed_on(&o, &failed, dir.path(), &[]);
}

#[test]
fn graph_push_ledger_on_a_full_disk_fails_and_the_next_run_opens_it() {
    let emu = MsEmulator::start(Config::default());
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger");
    let records = stix_range(3_000);
    let mut cmd = command(&emu, &["--ledger", ledger.to_str().unwrap()]);
    limit_files(&mut cmd, 64 * 1024);
    let o = run(cmd, &ndjson(&records));
    assert_failed_on(&o, &ledger, dir.path(), &["ledger", "ledger.lock"]);
    // The write stopped at the limit, inside a frame.
    assert_eq!(fs::metadata(&ledger).unwrap().len(), 64 * 1024);
    // What was written is a ledger the next run opens (a torn frame is cut).
    let again = run(
        command(&emu, &["--ledger", ledger.to_str().unwrap()]),
        &ndjson(&records),
    );
    let err = String::from_utf8_lossy(&again.stderr);
    assert_eq!(again.status.code(), Some(0), "{err}");
    // The frames before the torn one were kept: those records are unchanged.
    let unchanged: usize = err
        .split(", ")
        .find_map(|p| p.strip_suffix(" unchanged"))
        .unwrap_or_else(|| panic!("no unchanged count: {err}"))
        .parse()
        .unwrap();
    assert!(unchanged > 0, "{err}");
}

#[test]
fn graph_push_ledger_compaction_on_a_full_disk_fails_and_keeps_the_ledger() {
    let emu = MsEmulator::start(Config::default());
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger");
    // A ledger in the earlier line format: opening it for writing rewrites
    // (compacts) it into a temporary file renamed over it.
    let mut v1 = format!(
        "{{\"graph-push-ledger\":1,\"target\":\"sentinel\",\"workspace\":\"{WORKSPACE}\"}}\n"
    );
    for r in stix_range(2_000) {
        v1 += &json!({
            "key": r["id"], "hash": "00000000000000aa", "modified": 1,
            "end": null, "live": true, "record": r,
        })
        .to_string();
        v1.push('\n');
    }
    fs::write(&ledger, &v1).unwrap();
    let mut cmd = command(&emu, &["--ledger", ledger.to_str().unwrap()]);
    limit_files(&mut cmd, 16 * 1024);
    let o = run(cmd, &ndjson(&stix_range(10)));
    assert_failed_on(&o, &ledger, dir.path(), &["ledger", "ledger.lock"]);
    assert_eq!(
        fs::read_to_string(&ledger).unwrap(),
        v1,
        "the ledger is as it was"
    );
}
