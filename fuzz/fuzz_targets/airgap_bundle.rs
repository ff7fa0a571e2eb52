//! `misp-airgap verify` on any bytes as a bundle (`misp2ms::airgap::check`):
//! refused with a message, never a panic (a forged signature is out of reach).
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use misp2ms::airgap::{check, keygen, Check};

fn public_key() -> &'static PathBuf {
    static KEY: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &KEY.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let (s, p) = (dir.path().join("k.secret"), dir.path().join("k.pub"));
        keygen(&s, &p).unwrap();
        (dir, p)
    })
    .1
}

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b.tar");
    std::fs::write(&path, data).unwrap();
    let result = check(&Check {
        bundle: &path,
        public_key: public_key(),
        journal: None,
        into: None,
        now: misp2ms::time::parse_rfc3339("2026-03-02T10:00:00Z").unwrap(),
    });
    assert!(result.is_err(), "an unsigned bundle was accepted");
});
