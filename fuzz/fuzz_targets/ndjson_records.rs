//! NDJSON input as `ioc-map` reads it (`misp2ms::io::input::Lines`,
//! `misp2ms::io::ndjson::Records`): lines, over-long lines, pretty-printed
//! documents gathered across lines. Every non-blank line is read once.
#![no_main]

use libfuzzer_sys::fuzz_target;
use misp2ms::io::input::Lines;
use misp2ms::io::ndjson::{Record, Records};

fuzz_target!(|data: &[u8]| {
    let [max, rest @ ..] = data else { return };
    let max = usize::from(*max).max(1);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("in.ndjson");
    std::fs::write(&path, rest).unwrap();
    let mut records = Records::new(Lines::new(&[path.to_string_lossy().into_owned()], max), max);
    let mut last_line = 0;
    let gzip = rest.starts_with(&[0x1f, 0x8b]);
    loop {
        let rec = match records.next_record() {
            Ok(Some(rec)) => rec,
            Ok(None) => break,
            // Only a broken gzip stream fails to read.
            Err(e) => {
                assert!(gzip, "{e}");
                return;
            }
        };
        let at = match rec {
            Record::Json(at) => at,
            Record::TooLong(at) | Record::Unfinished(at, _) => {
                assert!(at.line > last_line);
                last_line = at.line;
                continue;
            }
        };
        assert!(at.line > last_line, "line {} after {last_line}", at.line);
        last_line = at.line;
        if let Err(e) = serde_json::from_slice::<serde_json::Value>(&records.text) {
            if e.is_eof() && records.gather(&at).is_err() {
                assert!(gzip);
                return;
            }
        }
    }
    if !gzip {
        let non_blank = rest
            .split(|&b| b == b'\n')
            .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
            .count() as u64;
        assert_eq!(records.lines_read, non_blank, "lines lost or read twice");
    }
});
