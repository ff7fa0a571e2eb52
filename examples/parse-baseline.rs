//! The benchmark's floor: read NDJSON lines and parse each with serde_json
//! into `IgnoredAny` (full validation, no allocation of a tree). `ioc-map`
//! does at least this much work per line.
//!
//!     cargo run --release --example parse-baseline -- feed.ndjson

use std::fs::File;
use std::io::{self, BufRead, BufReader};

fn main() -> io::Result<()> {
    let (mut lines, mut bad) = (0u64, 0u64);
    let mut line = String::new();
    for path in std::env::args().skip(1) {
        let mut r = BufReader::with_capacity(256 * 1024, File::open(&path)?);
        loop {
            line.clear();
            if r.read_line(&mut line)? == 0 {
                break;
            }
            if line.trim().is_empty() {
                continue;
            }
            lines += 1;
            if serde_json::from_str::<serde::de::IgnoredAny>(&line).is_err() {
                bad += 1;
            }
        }
    }
    eprintln!("parse-baseline: {lines} lines, {bad} not JSON");
    Ok(())
}
