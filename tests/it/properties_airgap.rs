//! Property tests for `misp-airgap`'s reader: bundles from the other side of
//! an air gap (tar, signed manifest, data files) and the local journal.

use std::path::{Path, PathBuf};

use ed25519_dalek::Signer;
use misp2ms::airgap::{check, keygen, pack, read_secret_key, Check, Pack, Sequence, FORMAT};
use misp2ms::time::parse_rfc3339;
use proptest::prelude::*;
use serde_json::{json, Value};

struct Keys {
    _dir: tempfile::TempDir,
    secret: PathBuf,
    public: PathBuf,
}

fn keys() -> Keys {
    let dir = tempfile::tempdir().unwrap();
    let (secret, public) = (dir.path().join("k.secret"), dir.path().join("k.pub"));
    keygen(&secret, &public).unwrap();
    Keys {
        _dir: dir,
        secret,
        public,
    }
}

fn now() -> misp2ms::time::Timestamp {
    parse_rfc3339("2026-03-02T10:00:00Z").unwrap()
}

/// A tar of `entries` in order (name, bytes).
fn tar_of(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, name, &data[..]).unwrap();
    }
    b.into_inner().unwrap()
}

/// Verifies (and with `into`, unpacks) `bundle`; the result and whether it
/// was accepted.
fn verify(
    k: &Keys,
    dir: &Path,
    bundle: &[u8],
    journal: Option<&str>,
    into: bool,
) -> misp2ms::Result<i32> {
    let path = dir.join("b.tar");
    std::fs::write(&path, bundle).unwrap();
    let jpath = dir.join("journal");
    if let Some(j) = journal {
        std::fs::write(&jpath, j).unwrap();
    }
    let into_dir = dir.join("into");
    check(&Check {
        bundle: &path,
        public_key: &k.public,
        journal: journal.map(|_| jpath.as_path()),
        into: into.then_some(into_dir.as_path()),
        now: now(),
    })
}

/// File contents: NDJSON-ish text, arbitrary bytes, or real gzip.
fn contents() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        "([ -~]{0,30}\n){0,5}[ -~]{0,10}".prop_map(String::into_bytes),
        prop::collection::vec(any::<u8>(), 0..200)
            .prop_filter("not gzip magic", |b| !b.starts_with(&[0x1f, 0x8b])),
        "([a-z]{1,10}\n){0,5}".prop_map(|s| {
            use std::io::Write;
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(s.as_bytes()).unwrap();
            gz.finish().unwrap()
        }),
    ]
}

/// Manifests close to real ones: the right format, listed files that may or
/// may not match the data, any sequence number, fields of the wrong type.
fn manifest(files: Vec<(String, Vec<u8>)>) -> impl Strategy<Value = Value> {
    let n = files.len();
    (
        any::<bool>(),
        prop_oneof![Just(0u64), Just(u64::MAX), Just(u64::MAX - 1), any::<u64>()],
        prop::collection::vec((any::<bool>(), any::<bool>(), 0u64..3), n),
        prop_oneof![Just(json!(null)), Just(json!("x")), Just(json!([1])), Just(json!(-1))],
        0u8..6,
    )
        .prop_map(move |(right_format, seq, tweaks, junk, junk_at)| {
            use sha2::Digest;
            let listed: Vec<Value> = files
                .iter()
                .zip(&tweaks)
                .map(|((name, data), (good_hash, good_size, records))| {
                    let records = data.iter().filter(|b| **b == b'\n').count() as u64 + records;
                    json!({
                        "name": name,
                        "sha256": if *good_hash { hex::encode(sha2::Sha256::digest(data)) } else { "00".repeat(32) },
                        "bytes": data.len() as u64 + u64::from(!good_size),
                        "records": records,
                    })
                })
                .collect();
            let mut m = json!({
                "format": if right_format { FORMAT } else { "other/1" },
                "tool": "misp-airgap", "version": "0.1.0", "sequence": seq,
                "created": "2026-03-02T10:00:00.000Z", "key_id": "00", "files": listed,
            });
            let field = ["format", "sequence", "files", "created", "tool", "key_id"][junk_at as usize];
            if junk_at % 2 == 0 {
                m[field] = junk;
            }
            m
        })
}

/// A plain file name, or one a bundle must refuse.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => "[a-z]{1,8}\\.ndjson",
        1 => prop::sample::select(vec!["", ".hidden", "../up", "a/b", "manifest.json", "manifest.sig", "a\\b"])
            .prop_map(str::to_string),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Whatever is packed verifies and unpacks to the same bytes.
    #[test]
    fn pack_then_unpack_round_trips(
        files in prop::collection::btree_map("[a-z]{1,8}\\.ndjson", contents(), 0..4),
        seq in any::<u64>(),
    ) {
        let k = keys();
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        std::fs::create_dir(&src).unwrap();
        let mut paths = Vec::new();
        for (n, data) in &files {
            std::fs::write(src.join(n), data).unwrap();
            paths.push(src.join(n));
        }
        let out = dir.path().join("bundle.tar");
        pack(&Pack { secret_key: &k.secret, out: &out, sequence: &Sequence::Fixed(seq), now: now(), files: &paths }).unwrap();
        let bundle = std::fs::read(&out).unwrap();
        let code = verify(&k, dir.path(), &bundle, Some(""), true).unwrap();
        prop_assert_eq!(code, 0);
        for (n, data) in &files {
            prop_assert_eq!(&std::fs::read(dir.path().join("into").join(n)).unwrap(), data);
        }
        // The same bundle again is a replay.
        let journal = std::fs::read_to_string(dir.path().join("journal")).unwrap();
        std::fs::remove_dir_all(dir.path().join("into")).unwrap();
        let again = verify(&k, dir.path(), &bundle, Some(&journal), true);
        prop_assert!(again.is_err());
        prop_assert!(again.unwrap_err().to_string().contains("replay"));
    }

    /// A signed manifest of any content (the signature is right, the rest
    /// need not be), with any data entries and any journal: an answer,
    /// never a panic; accepted only when every listed file matched.
    #[test]
    fn signed_manifests_never_panic(
        case in prop::collection::vec((name(), contents()), 0..4)
            .prop_flat_map(|files| (manifest(files.clone()), Just(files))),
        extra in prop::option::of((name(), contents())),
        journal in prop::option::of(prop::collection::vec(
            prop_oneof![Just(0u64), Just(1), Just(u64::MAX), Just(u64::MAX - 1), any::<u64>()]
                .prop_map(|s| format!("{s} 2026-03-01T00:00:00.000Z {} 2026-03-01T00:00:00.000Z", "ab".repeat(32))),
            0..3,
        )),
        raw_manifest in prop::option::of("\\PC{0,60}"),
    ) {
        let (m, files) = case;
        let k = keys();
        let dir = tempfile::tempdir().unwrap();
        let manifest_bytes = match &raw_manifest {
            Some(raw) => raw.clone().into_bytes(),
            None => serde_json::to_vec_pretty(&m).unwrap(),
        };
        let key = read_secret_key(&k.secret).unwrap();
        let sig = format!("{}\n", hex::encode(key.sign(&manifest_bytes).to_bytes()));
        let mut entries = vec![("manifest.json".to_string(), manifest_bytes), ("manifest.sig".to_string(), sig.into_bytes())];
        entries.extend(files.iter().filter(|(n, _)| !n.is_empty() && !n.contains("..")).cloned());
        entries.extend(extra.filter(|(n, _)| !n.is_empty() && !n.contains("..")));
        let bundle = tar_of(&entries);
        let journal = journal.map(|lines| lines.join("\n"));
        let result = verify(&k, dir.path(), &bundle, journal.as_deref(), journal.is_some());
        if result.is_ok() {
            prop_assert!(raw_manifest.is_none());
            prop_assert_eq!(m["format"].as_str(), Some(FORMAT));
        }
    }

    /// Any bytes as a bundle: refused, never a panic.
    #[test]
    fn any_bytes_are_refused(bytes in prop::collection::vec(any::<u8>(), 0..2000)) {
        let k = keys();
        let dir = tempfile::tempdir().unwrap();
        prop_assert!(verify(&k, dir.path(), &bytes, None, false).is_err());
    }
}

// Regressions: inputs the properties above (or the fuzzer) once failed on.

/// A journal whose latest sequence is u64::MAX: `latest + 1` overflowed (a
/// panic in debug builds, and in release a wrap that called 0 the next one).
#[test]
fn regression_journal_at_the_largest_sequence() {
    let k = keys();
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("a.ndjson");
    std::fs::write(&src, "{}\n").unwrap();
    let out = dir.path().join("b.tar");
    let pack_seq = |seq: &Sequence| {
        pack(&Pack {
            secret_key: &k.secret,
            out: &out,
            sequence: seq,
            now: now(),
            files: std::slice::from_ref(&src),
        })
    };
    pack_seq(&Sequence::Fixed(0)).unwrap();
    let bundle = std::fs::read(&out).unwrap();
    let journal = format!(
        "{} 2026-03-01T00:00:00.000Z {} x\n",
        u64::MAX,
        "ab".repeat(32)
    );
    // Sequence 0 after u64::MAX is a late bundle, not the next one.
    assert_eq!(
        verify(&k, dir.path(), &bundle, Some(&journal), true).unwrap(),
        0
    );
    // A sequence file at the maximum cannot give a next number.
    let seq_file = dir.path().join("seq");
    std::fs::write(&seq_file, format!("{}\n", u64::MAX)).unwrap();
    let err = pack_seq(&Sequence::File(seq_file)).unwrap_err();
    assert!(err.to_string().contains("maximum"), "{err}");
}
