//! A small JSON writer for the hot output path: keys and fixed text are
//! written by the caller as byte literals, strings escaped exactly as serde_json
//! escapes them, with the clean runs between escapes found 16 bytes at a time.

use crate::time::text::Millis;

fn needs_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// Index of the first byte that JSON must escape (`"`, `\`, a control
/// character) in `b` at or after `i`, or `b.len()`: where a string to write
/// needs an escape, and where a string being read ends. Sixteen bytes at a
/// time where SSE2 is there (every x86-64 processor), then eight at a time as
/// serde_json does (Mycroft's zero-byte test, whose first hit is exact).
pub fn next_escape(b: &[u8], mut i: usize) -> usize {
    #[cfg(target_arch = "x86_64")]
    match crate::json::simd::escape_by_16(b, i) {
        Ok(hit) => return hit,
        // The last bytes as one more block of 16, overlapping bytes found
        // clean (there are 16 from the start): no byte loop for the tail.
        Err(rest) if rest < b.len() && b.len() >= i + 16 => {
            return crate::json::simd::escape_by_16(b, b.len() - 16).unwrap_or(b.len());
        }
        Err(rest) => i = rest,
    }
    const ONES: u64 = u64::MAX / 255;
    const HIGH: u64 = ONES << 7;
    while let Some(chunk) = b.get(i..i + 8) {
        let x = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        let ctrl = x.wrapping_sub(ONES * 0x20) & !x;
        let q = x ^ (ONES * u64::from(b'"'));
        let quote = q.wrapping_sub(ONES) & !q;
        let s = x ^ (ONES * u64::from(b'\\'));
        let slash = s.wrapping_sub(ONES) & !s;
        let hits = (ctrl | quote | slash) & HIGH;
        if hits != 0 {
            return i + hits.trailing_zeros() as usize / 8;
        }
        i += 8;
    }
    while b.get(i).is_some_and(|&c| !needs_escape(c)) {
        i += 1;
    }
    i
}

/// Writes `s` as a JSON string, escaped as serde_json does (short escapes for
/// `\b \f \n \r \t`, `\u00xx` for other control characters), clean runs copied whole.
pub fn string(out: &mut Vec<u8>, s: &str) {
    let s = s.as_bytes();
    out.reserve(s.len() + 2);
    out.push(b'"');
    let mut start = 0;
    loop {
        let i = next_escape(s, start);
        out.extend_from_slice(&s[start..i]);
        let Some(&b) = s.get(i) else { break };
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xf)]);
            }
        }
        start = i + 1;
    }
    out.push(b'"');
}

/// `"<millisecond time>"`.
pub fn time(out: &mut Vec<u8>, t: Millis) {
    out.push(b'"');
    t.write_to(out);
    out.push(b'"');
}

/// `"<prefix>--<uuid>"`.
pub fn id(out: &mut Vec<u8>, prefix: &str, u: uuid::Uuid) {
    out.push(b'"');
    out.extend_from_slice(prefix.as_bytes());
    out.extend_from_slice(b"--");
    uuid(out, u);
    out.push(b'"');
}

/// The uuid, hyphenated, lower-case.
pub fn uuid(out: &mut Vec<u8>, u: uuid::Uuid) {
    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    out.extend_from_slice(u.hyphenated().encode_lower(&mut buf).as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The vector search finds what a byte loop finds, from any start.
        #[test]
        fn next_escape_finds_the_first_byte_to_escape(
            b in proptest::collection::vec(proptest::prop_oneof![0x20u8..0x7f, proptest::prelude::any::<u8>()], 0..80),
            from in 0usize..80,
        ) {
            let from = from.min(b.len());
            let naive = (from..b.len())
                .find(|&k| b[k] == b'"' || b[k] == b'\\' || b[k] < 0x20)
                .unwrap_or(b.len());
            proptest::prop_assert_eq!(next_escape(&b, from), naive);
        }
    }

    /// Byte for byte what serde_json writes, with the escape at every position of the scan.
    #[test]
    fn same_as_serde_json() {
        let mut samples: Vec<String> = vec![
            String::new(),
            "plain".into(),
            "tlp:amber".into(),
            "osint:source-type=\"block-or-filter-list\"".into(),
            "C:\\Temp\\x.exe".into(),
            "ünïcödé ✓ \u{7f} \u{80}".into(),
            "\"ü\n\\\u{1}é\"\"\t😀\r\u{8}\u{c}\u{1f}".into(),
        ];
        for b in 0u8..0x80 {
            for pos in 0..18 {
                let mut s = "abcdefghijklmnopq".to_string();
                s.insert(pos, b as char);
                samples.push(s);
            }
        }
        for s in samples {
            let mut out = Vec::new();
            string(&mut out, &s);
            assert_eq!(out, serde_json::to_vec(&s).unwrap(), "{s:?}");
        }
    }

    #[test]
    fn ids_as_the_uuid_crate_writes_them() {
        for u in [
            uuid::Uuid::nil(),
            uuid::Uuid::max(),
            uuid::Uuid::from_u128(0x0123_4567_89ab_cdef_fedc_ba98_7654_3210),
            uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_DNS, b"x"),
        ] {
            let mut out = Vec::new();
            id(&mut out, "indicator", u);
            assert_eq!(out, format!("\"indicator--{u}\"").into_bytes());
        }
    }

    #[test]
    fn escapes_only_when_needed() {
        let mut out = b"{\"a\":".to_vec();
        string(&mut out, "plain");
        out.extend_from_slice(b",\"b\":");
        string(&mut out, "q\"uote\\ and\nnewline\u{1}");
        out.push(b'}');
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["a"], "plain");
        assert_eq!(v["b"], "q\"uote\\ and\nnewline\u{1}");
    }
}
