//! Property tests for the parsers that take outside input. Each property must
//! hold for any input: no panic, and the documented invariant.

use std::time::{Duration, SystemTime};

use misp2ms::http::{parse_retry_after, parse_try_again_in};
use misp2ms::io::input::{Lines, Next};
use misp2ms::misp::refang::refang;
use proptest::prelude::*;

proptest! {
    #[test]
    fn refang_is_idempotent(s in "\\PC{0,60}") {
        let once = refang(&s).into_owned();
        prop_assert_eq!(refang(&once).into_owned(), once);
    }

    /// Idempotent on text made of defanging's own pieces, nested any way.
    #[test]
    fn refang_is_idempotent_on_defanging_pieces(parts in proptest::collection::vec(
        proptest::sample::select(vec![
            "[", "]", "(", ")", "{", "}", ".", "dot", "DoT", "at", "@", ":", "/", "://", "x", "\u{c}",
            "hxxp", "hXXps", "meow", "fxp", "h[tt]p", "a", " ",
        ]),
        0..24,
    )) {
        let s = parts.concat();
        let once = refang(&s).into_owned();
        prop_assert_eq!(refang(&once).into_owned(), once);
    }

    #[test]
    fn refang_undoes_bracketed_dots(labels in proptest::collection::vec("[a-z0-9]{1,10}", 2..5)) {
        let clean = labels.join(".");
        let defanged = labels.join("[.]");
        prop_assert_eq!(refang(&defanged).into_owned(), clean.clone());
        prop_assert_eq!(refang(&format!("hxxp://{defanged}/x")).into_owned(), format!("http://{clean}/x"));
    }

    #[test]
    fn retry_after_never_panics(s in "\\PC{0,40}") {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let _ = parse_retry_after(&s, now);
        let _ = parse_try_again_in(&s);
    }

    #[test]
    fn retry_after_reads_any_seconds(n in 0u64..1_000_000) {
        prop_assert_eq!(parse_retry_after(&n.to_string(), SystemTime::now()), Some(Duration::from_secs(n)));
        let body = format!("Rate limit is exceeded. Try again in {n} seconds.");
        prop_assert_eq!(parse_try_again_in(&body), Some(Duration::from_secs(n)));
    }

    /// Any bytes: every non-blank line comes out once, numbered by its position.
    #[test]
    fn lines_account_for_every_line(content in proptest::collection::vec(any::<u8>(), 0..400), max in 1usize..64) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in");
        std::fs::write(&path, &content).unwrap();
        let mut lines = Lines::new(&[path.to_string_lossy().into_owned()], max);
        let mut buf = Vec::new();
        let mut seen = Vec::new();
        while let Some(next) = lines.next_line(&mut buf).unwrap() {
            match next {
                Next::Line(at) => { prop_assert!(buf.len() <= max); seen.push(at.line) }
                Next::TooLong(at) => seen.push(at.line),
            }
        }
        let expected: Vec<u64> = content
            .split(|&b| b == b'\n')
            .enumerate()
            .filter(|(_, l)| !l.iter().all(|b| b.is_ascii_whitespace()))
            .map(|(i, _)| i as u64 + 1)
            .collect();
        // A gzip magic prefix would be decoded instead; such inputs are not plain text.
        if !content.starts_with(&[0x1f, 0x8b]) {
            prop_assert_eq!(seen, expected);
        }
    }
}

// Regressions: inputs the properties above (or the fuzzer) once failed on.

/// Defanged twice (found by the fuzzer from a fixture value defanged again):
/// one pass left `www[.]bad…`, which refanged again to `www.bad…`.
#[test]
fn regression_refang_nested_defanging() {
    for (defanged, clean) in [
        ("www[[.]]bad[.]example[.]com", "www.bad.example.com"),
        ("a[[[.]]]b(.)c", "a.b.c"),
        ("user[[at]]mail[[dot]]example", "user@mail.example"),
        ("[[hxxp://]]bad.example", "http://bad.example"),
    ] {
        let once = refang(defanged).into_owned();
        assert_eq!(once, clean, "{defanged}");
        assert_eq!(refang(&once), once.as_str());
    }
    // Brackets nested deeper than the passes (the fuzzer's next find): one
    // `[` was unwrapped per pass.
    let deep = format!("{}hxxp://{}bad.example", "[".repeat(20), "]x".repeat(20));
    let once = refang(&deep).into_owned();
    assert_eq!(once, format!("http://{}bad.example", "x".repeat(20)));
    assert_eq!(refang(&once), once.as_str());
    // And with blanks between the brackets (the one after).
    let spaced = format!("{}hxxps[:]//b]x{}", "[ \u{c}".repeat(10), "]".repeat(9));
    let once = refang(&spaced).into_owned();
    assert_eq!(once, "https://bx");
    assert_eq!(refang(&once), once.as_str());
}
