//! A small JSON writer for the hot output path: keys and fixed text are
//! written by the caller as byte literals, strings are escaped only when they need it (checked
//! for the whole string at once), everything else through serde_json.

use crate::stamp::Millis;

/// Whether a string needs JSON escaping (`"`, `\`, control characters).
fn needs_escape(s: &[u8]) -> bool {
    // A fold without early exit: the compiler vectorises it.
    s.iter().fold(0u8, |acc, &b| {
        acc | u8::from((b < 0x20) | (b == b'"') | (b == b'\\'))
    }) != 0
}

/// Writes `s` as a JSON string.
pub fn string(out: &mut Vec<u8>, s: &str) {
    if needs_escape(s.as_bytes()) {
        serde_json::to_writer(&mut *out, s).expect("writing to memory");
    } else {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    }
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
    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    out.extend_from_slice(u.hyphenated().encode_lower(&mut buf).as_bytes());
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

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
