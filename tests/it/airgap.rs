//! misp-airgap end to end: the real binary packs, verifies and unpacks bundles,
//! good ones and damaged ones.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

const NOW: &str = "2026-11-28T00:00:00Z";

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn airgap(dir: &Path, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_misp-airgap"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("misp-airgap runs");
    Run {
        code: out.status.code().expect("exit status"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A working directory with a key pair and two data files: plain and gzip.
struct Side {
    dir: tempfile::TempDir,
}

const EVENTS: &str =
    "{\"Event\":{\"uuid\":\"5f1c6e1a-0000-4000-8000-000000000001\",\"info\":\"one\"}}\n\
\n\
{\"Event\":{\"uuid\":\"5f1c6e1a-0000-4000-8000-000000000002\",\"info\":\"two\"}}\n\
{\"Event\":{\"uuid\":\"5f1c6e1a-0000-4000-8000-000000000003\",\"info\":\"three\"}}\n";

impl Side {
    fn new() -> Side {
        let side = Side {
            dir: tempfile::tempdir().unwrap(),
        };
        let r = side.keygen("airgap.key", "airgap.pub");
        assert_eq!(r.code, 0, "{}", r.stderr);
        fs::write(side.path("events.ndjson"), EVENTS).unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        for i in 0..500 {
            writeln!(
                gz,
                "{{\"Attribute\":{{\"type\":\"ip-dst\",\"value\":\"198.51.100.{}\"}}}}",
                i % 250
            )
            .unwrap();
        }
        fs::write(side.path("attributes.ndjson.gz"), gz.finish().unwrap()).unwrap();
        side
    }

    /// A side with both data files packed as `bundle.tar`, sequence 1.
    fn packed() -> Side {
        let side = Side::new();
        side.pack(1, "bundle.tar");
        side
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn run(&self, args: &[&str]) -> Run {
        airgap(self.dir.path(), args)
    }

    fn keygen(&self, secret: &str, public: &str) -> Run {
        self.run(&["keygen", "--secret-key", secret, "--public-key", public])
    }

    /// `pack --secret-key airgap.key` with these further arguments.
    fn pack_with(&self, args: &[&str]) -> Run {
        self.run(&[&["pack", "--secret-key", "airgap.key"][..], args].concat())
    }

    /// Packs both data files as bundle `out` with sequence `seq`.
    fn pack(&self, seq: u64, out: &str) {
        let seq = seq.to_string();
        let r = self.pack_with(&[
            "--seq",
            &seq,
            "--now",
            NOW,
            "--out",
            out,
            "events.ndjson",
            "attributes.ndjson.gz",
        ]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert!(r.stdout.is_empty());
    }

    fn verify(&self, bundle: &str) -> Run {
        self.run(&["verify", "--public-key", "airgap.pub", bundle])
    }

    fn unpack(&self, bundle: &str, into: &str) -> Run {
        self.run(&[
            "unpack",
            "--public-key",
            "airgap.pub",
            "--journal",
            "airgap.journal",
            "--into",
            into,
            "--now",
            NOW,
            bundle,
        ])
    }

    /// Rewrites `bundle.tar` as a well-formed tar with its entries edited.
    fn edit_entries(&self, edit: impl FnOnce(&mut Vec<(String, Vec<u8>)>)) {
        let bundle = self.path("bundle.tar");
        let mut e = entries(&bundle);
        edit(&mut e);
        write_tar(&bundle, &e);
    }

    /// Overwrites the first `from` in the bytes of `bundle.tar` with `to`.
    fn patch(&self, from: &[u8], to: &[u8]) {
        assert_eq!(from.len(), to.len());
        let bundle = self.path("bundle.tar");
        let mut bytes = fs::read(&bundle).unwrap();
        let at = bytes
            .windows(from.len())
            .position(|w| w == from)
            .expect("bytes to patch in the bundle");
        bytes[at..at + to.len()].copy_from_slice(to);
        fs::write(&bundle, bytes).unwrap();
    }

    /// A refused bundle: exit 1, the message names the problem, nothing unpacked.
    fn assert_refused(&self, bundle: &str, expect: &[&str]) {
        let v = self.verify(bundle);
        assert_eq!(v.code, 1, "verify: {}", v.stderr);
        let u = self.unpack(bundle, "incoming");
        assert_eq!(u.code, 1, "unpack: {}", u.stderr);
        for r in [&v, &u] {
            assert!(r.stderr.contains("refused"), "{}", r.stderr);
            for e in expect {
                assert!(r.stderr.contains(e), "expected {e:?} in: {}", r.stderr);
            }
        }
        assert!(!self.path("incoming").exists(), "nothing may be unpacked");
        assert!(
            !self.path("airgap.journal").exists(),
            "nothing may be recorded"
        );
        let leftovers: Vec<_> = fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.starts_with('.'))
            .collect();
        assert!(leftovers.is_empty(), "staging left behind: {leftovers:?}");
    }
}

/// The entries of a bundle, in order.
fn entries(bundle: &Path) -> Vec<(String, Vec<u8>)> {
    let mut archive = tar::Archive::new(fs::File::open(bundle).unwrap());
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let name = e.path().unwrap().to_string_lossy().into_owned();
            let mut bytes = Vec::new();
            e.read_to_end(&mut bytes).unwrap();
            (name, bytes)
        })
        .collect()
}

/// Writes a well-formed tar with these entries: tampering that a tar reader
/// cannot notice, only the manifest can.
fn write_tar(path: &Path, entries: &[(String, Vec<u8>)]) {
    let mut tar = tar::Builder::new(fs::File::create(path).unwrap());
    for (name, bytes) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        tar.append_data(&mut h, name, &bytes[..]).unwrap();
    }
    tar.finish().unwrap();
}

fn manifest(bundle: &Path) -> serde_json::Value {
    let (name, bytes) = entries(bundle).remove(0);
    assert_eq!(name, "manifest.json");
    serde_json::from_slice(&bytes).unwrap()
}

#[test]
fn good_bundle_round_trip() {
    let side = Side::packed();

    let names: Vec<String> = entries(&side.path("bundle.tar"))
        .into_iter()
        .map(|e| e.0)
        .collect();
    assert_eq!(
        names,
        [
            "manifest.json",
            "manifest.sig",
            "events.ndjson",
            "attributes.ndjson.gz"
        ]
    );
    let m = manifest(&side.path("bundle.tar"));
    assert_eq!(m["format"], "misp2ms-airgap/1");
    assert_eq!(m["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(m["sequence"], 1);
    assert_eq!(m["created"], "2026-11-28T00:00:00.000Z");
    assert_eq!(m["files"][0]["name"], "events.ndjson");
    assert_eq!(m["files"][0]["records"], 3, "blank lines are not records");
    assert_eq!(m["files"][0]["bytes"], EVENTS.len());
    assert_eq!(m["files"][1]["records"], 500, "gzip counted after gunzip");

    let v = side.verify("bundle.tar");
    assert_eq!(v.code, 0, "{}", v.stderr);
    assert!(v.stderr.contains("verified: sequence 1"), "{}", v.stderr);
    assert!(
        !side.path("airgap.journal").exists(),
        "verify records nothing"
    );

    let u = side.unpack("bundle.tar", "incoming");
    assert_eq!(u.code, 0, "{}", u.stderr);
    assert!(u.stdout.is_empty());
    assert!(u.stderr.contains("503 records"), "{}", u.stderr);
    for name in ["events.ndjson", "attributes.ndjson.gz"] {
        assert_eq!(
            fs::read(side.path("incoming").join(name)).unwrap(),
            fs::read(side.path(name)).unwrap(),
            "{name} byte-identical after unpack"
        );
    }
    assert_eq!(fs::read_dir(side.path("incoming")).unwrap().count(), 2);
    let journal = fs::read_to_string(side.path("airgap.journal")).unwrap();
    assert!(
        journal
            .lines()
            .any(|l| l.starts_with("1 2026-11-28T00:00:00.000Z ")),
        "{journal}"
    );

    // An existing directory takes new files, but never loses one.
    side.pack(2, "bundle-2.tar");
    let r = side.unpack("bundle-2.tar", "incoming");
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("already exists"), "{}", r.stderr);
    fs::create_dir(side.path("empty")).unwrap();
    let r = side.unpack("bundle-2.tar", "empty");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        fs::read(side.path("empty/events.ndjson")).unwrap(),
        EVENTS.as_bytes()
    );

    // A journal whose directory does not exist stops the run before anything is unpacked.
    side.pack(3, "bundle-3.tar");
    let r = side.run(&[
        "unpack",
        "--public-key",
        "airgap.pub",
        "--journal",
        "no/such/journal",
        "--into",
        "in-3",
        "bundle-3.tar",
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("no/such/journal"), "{}", r.stderr);
    assert!(!side.path("in-3").exists());
}

#[test]
fn pack_is_reproducible_and_counts_sequence_from_a_file() {
    let side = Side::new();
    side.pack(7, "a.tar");
    side.pack(7, "b.tar");
    assert_eq!(
        fs::read(side.path("a.tar")).unwrap(),
        fs::read(side.path("b.tar")).unwrap()
    );
    for expect in [1, 2] {
        let r = side.pack_with(&[
            "--seq-file",
            "airgap.seq",
            "--out",
            "s.tar",
            "events.ndjson",
        ]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert_eq!(manifest(&side.path("s.tar"))["sequence"], expect);
        assert_eq!(
            fs::read_to_string(side.path("airgap.seq")).unwrap().trim(),
            expect.to_string()
        );
    }
    // Neither or both of --seq and --seq-file: a usage error.
    let r = side.pack_with(&["--out", "x.tar", "events.ndjson"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let r = side.pack_with(&[
        "--seq",
        "3",
        "--seq-file",
        "airgap.seq",
        "--out",
        "x.tar",
        "events.ndjson",
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    // Two files with one name cannot share a bundle.
    fs::create_dir(side.path("sub")).unwrap();
    fs::write(side.path("sub/events.ndjson"), "{}\n").unwrap();
    let r = side.pack_with(&[
        "--seq",
        "3",
        "--out",
        "x.tar",
        "events.ndjson",
        "sub/events.ndjson",
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(!side.path("x.tar").exists());
}

#[test]
fn keygen_protects_the_secret_key() {
    let side = Side::new();
    let secret = fs::read_to_string(side.path("airgap.key")).unwrap();
    let digits = secret.split_whitespace().nth(1).unwrap();
    assert_eq!(digits.len(), 64);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(side.path("airgap.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let r = side.keygen("airgap.key", "new.pub");
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("refusing to overwrite"), "{}", r.stderr);
    assert!(!side.path("new.pub").exists());
    assert_eq!(fs::read_to_string(side.path("airgap.key")).unwrap(), secret);

    // The keys mixed up: named, and the secret never shown.
    let v = side.run(&["verify", "--public-key", "airgap.key", "x.tar"]);
    assert_eq!(v.code, 2, "{}", v.stderr);
    assert!(v.stderr.contains("this is the secret key"), "{}", v.stderr);
    let p = side.run(&[
        "pack",
        "--secret-key",
        "airgap.pub",
        "--seq",
        "1",
        "--out",
        "x.tar",
        "events.ndjson",
    ]);
    assert_eq!(p.code, 2, "{}", p.stderr);
    assert!(p.stderr.contains("this is the public key"), "{}", p.stderr);
    side.pack(1, "bundle.tar");
    let bundle = fs::read(side.path("bundle.tar")).unwrap();
    for text in [&v.stdout, &v.stderr, &p.stdout, &p.stderr] {
        assert!(!text.contains(digits));
    }
    assert!(!bundle.windows(64).any(|w| w == digits.as_bytes()));
}

#[test]
fn flipped_byte_in_a_data_file_is_refused() {
    let side = Side::packed();
    // One bit flipped: 'o' is 0x6f, 'n' 0x6e.
    side.patch(b"\"two\"", b"\"twn\"");
    side.assert_refused("bundle.tar", &["events.ndjson", "SHA-256", "altered"]);
}

#[test]
fn flipped_byte_in_the_manifest_is_refused() {
    let side = Side::packed();
    side.patch(b"\"records\": 3\n", b"\"records\": 4\n");
    side.assert_refused(
        "bundle.tar",
        &["bad signature", "manifest.json was altered"],
    );
}

#[test]
fn missing_file_is_refused() {
    let side = Side::packed();
    side.edit_entries(|e| e.retain(|(name, _)| name != "events.ndjson"));
    side.assert_refused("bundle.tar", &["missing from the bundle: events.ndjson"]);
}

#[test]
fn truncated_file_is_refused() {
    let side = Side::packed();
    side.edit_entries(|e| {
        assert_eq!(e[3].0, "attributes.ndjson.gz");
        let data = &mut e[3].1;
        data.truncate(data.len() / 2);
    });
    side.assert_refused("bundle.tar", &["attributes.ndjson.gz", "truncated"]);
}

#[test]
fn truncated_bundle_is_refused() {
    let side = Side::packed();
    let bytes = fs::read(side.path("bundle.tar")).unwrap();
    // Cut inside the last file's data.
    let gz = fs::read(side.path("attributes.ndjson.gz")).unwrap();
    let start = bytes.windows(gz.len()).position(|w| w == gz).unwrap();
    fs::write(side.path("cut.tar"), &bytes[..start + gz.len() / 2]).unwrap();
    side.assert_refused(
        "cut.tar",
        &[&format!(
            "the bundle is truncated: attributes.ndjson.gz ends after {} of its {} bytes",
            gz.len() / 2,
            gz.len()
        )],
    );
    // Cut right after the manifest, and inside the first header.
    let end_of_manifest = 512 + 1024;
    fs::write(side.path("cut.tar"), &bytes[..end_of_manifest]).unwrap();
    side.assert_refused("cut.tar", &["unsigned"]);
    fs::write(side.path("cut.tar"), &bytes[..100]).unwrap();
    side.assert_refused("cut.tar", &["cut.tar"]);
}

#[test]
fn wrong_key_is_refused() {
    let side = Side::packed();
    let r = side.keygen("other.key", "other.pub");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = side.run(&["verify", "--public-key", "other.pub", "bundle.tar"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("bad signature"), "{}", r.stderr);
    assert!(r.stderr.contains("wrong public key"), "{}", r.stderr);
    let r = side.run(&[
        "unpack",
        "--public-key",
        "other.pub",
        "--journal",
        "j",
        "--into",
        "incoming",
        "bundle.tar",
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(!side.path("incoming").exists() && !side.path("j").exists());
}

#[test]
fn unsigned_bundle_is_refused() {
    let side = Side::packed();
    side.edit_entries(|e| e.retain(|(name, _)| name != "manifest.sig"));
    side.assert_refused("bundle.tar", &["unsigned", "manifest.sig is missing"]);
    // A plain tar of the data files is not a bundle either.
    let mut e = entries(&side.path("bundle.tar"));
    e.retain(|(n, _)| n != "manifest.json");
    write_tar(&side.path("plain.tar"), &e);
    side.assert_refused("plain.tar", &["not a misp-airgap bundle"]);
}

#[test]
fn unlisted_file_is_refused() {
    let side = Side::packed();
    side.edit_entries(|e| e.push(("extra.ndjson".into(), b"{\"Event\":{}}\n".to_vec())));
    side.assert_refused("bundle.tar", &["\"extra.ndjson\" is not listed"]);
}

#[test]
fn replay_is_refused() {
    let side = Side::packed();
    let r = side.unpack("bundle.tar", "incoming");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let journal = fs::read_to_string(side.path("airgap.journal")).unwrap();

    let r = side.unpack("bundle.tar", "again");
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("replay: sequence 1"), "{}", r.stderr);
    assert!(!side.path("again").exists());
    assert_eq!(
        fs::read_to_string(side.path("airgap.journal")).unwrap(),
        journal
    );

    // verify --journal says the same, and records nothing.
    let r = side.run(&[
        "verify",
        "--public-key",
        "airgap.pub",
        "--journal",
        "airgap.journal",
        "bundle.tar",
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("replay"), "{}", r.stderr);

    // Same sequence number, other content: the packing side's counter was reset.
    fs::write(side.path("events.ndjson"), "{\"Event\":{}}\n").unwrap();
    side.pack(1, "other.tar");
    let r = side.unpack("other.tar", "again");
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("sequence reset"), "{}", r.stderr);
}

#[test]
fn gap_in_the_sequence_is_a_warning_with_exit_3() {
    let side = Side::new();
    for seq in [1, 2, 3] {
        side.pack(seq, &format!("bundle-{seq}.tar"));
    }
    assert_eq!(side.unpack("bundle-1.tar", "in-1").code, 0);
    let r = side.unpack("bundle-3.tar", "in-3");
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("warning: sequence 3 follows 1: bundle 2 missing"),
        "{}",
        r.stderr
    );
    assert!(
        side.path("in-3/events.ndjson").exists(),
        "a good bundle is unpacked"
    );

    // The late bundle fills the gap: accepted, noted, exit 0.
    let r = side.unpack("bundle-2.tar", "in-2");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("fills a gap"), "{}", r.stderr);
    let journal = fs::read_to_string(side.path("airgap.journal")).unwrap();
    let seqs: Vec<&str> = journal
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    assert_eq!(seqs, ["1", "3", "2"]);
}

#[test]
fn help_shows_examples_and_exit_codes() {
    let side = Side::new();
    for args in [&["--help"][..], &["unpack", "--help"][..]] {
        let r = side.run(args);
        assert_eq!(r.code, 0);
        assert!(r.stdout.contains("misp-airgap keygen"), "{}", r.stdout);
        assert!(r.stdout.contains("Exit status:"), "{}", r.stdout);
    }
}
