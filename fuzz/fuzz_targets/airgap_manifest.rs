//! `misp-airgap unpack`'s reading of a bundle whose manifest is correctly
//! signed but otherwise anything (`misp2ms::airgap::check`), with a journal.
//!
//! Input: parts separated by "\n%%\n": the manifest, the journal, then pairs
//! of (file name, file bytes) that go into the tar after the signature.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use ed25519_dalek::{Signer, SigningKey};
use libfuzzer_sys::fuzz_target;
use misp2ms::airgap::{check, keygen, read_secret_key, Check};

struct Keys {
    _dir: tempfile::TempDir,
    public: PathBuf,
    secret: SigningKey,
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let (s, p) = (dir.path().join("k.secret"), dir.path().join("k.pub"));
        keygen(&s, &p).unwrap();
        Keys {
            secret: read_secret_key(&s).unwrap(),
            public: p,
            _dir: dir,
        }
    })
}

fn split<'a>(data: &'a [u8], sep: &[u8]) -> Vec<&'a [u8]> {
    let mut parts = Vec::new();
    let mut rest = data;
    while let Some(i) = rest.windows(sep.len()).position(|w| w == sep) {
        parts.push(&rest[..i]);
        rest = &rest[i + sep.len()..];
    }
    parts.push(rest);
    parts
}

fuzz_target!(|data: &[u8]| {
    let k = keys();
    let parts = split(data, b"\n%%\n");
    let manifest = parts[0];
    let journal = parts.get(1).copied();
    let sig = format!("{}\n", hex::encode(k.secret.sign(manifest).to_bytes()));
    let mut tar = tar::Builder::new(Vec::new());
    let mut add = |name: &[u8], bytes: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        // Names the tar crate refuses (absolute, "..") are not the reader's problem.
        let name = String::from_utf8_lossy(name);
        let _ = tar.append_data(&mut h, name.as_ref(), bytes);
    };
    add(b"manifest.json", manifest);
    add(b"manifest.sig", sig.as_bytes());
    for pair in parts.get(2..).unwrap_or_default().chunks(2) {
        if let [name, bytes] = pair {
            add(name, bytes);
        }
    }
    let bundle = tar.into_inner().unwrap();

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b.tar");
    std::fs::write(&path, &bundle).unwrap();
    let jpath = dir.path().join("journal");
    if let Some(j) = journal {
        std::fs::write(&jpath, j).unwrap();
    }
    let into = dir.path().join("into");
    let result = check(&Check {
        bundle: &path,
        public_key: &k.public,
        journal: journal.map(|_| jpath.as_path()),
        into: journal.map(|_| into.as_path()),
        now: misp2ms::time::parse_rfc3339("2026-03-02T10:00:00Z").unwrap(),
    });
    if result.is_ok() {
        let m: serde_json::Value =
            serde_json::from_slice(manifest).expect("an accepted manifest is JSON");
        assert_eq!(m["format"], misp2ms::airgap::FORMAT);
    }
});
