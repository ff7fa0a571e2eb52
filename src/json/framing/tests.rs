use super::*;

/// Random text from pieces that trip up a framer, valid JSON or not:
/// quotes, backslashes (inside and outside strings), brackets, whitespace,
/// control characters, non-ASCII.
fn texts(rounds: usize, mut f: impl FnMut(&[u8], &mut dyn FnMut(u64) -> u64)) {
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut rnd = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let pieces: [&[u8]; 16] = [
        b"\\",
        b"\"",
        b"{",
        b"}",
        b"[",
        b"]",
        b"\\\"",
        b"abc",
        b" ",
        b"\n",
        b"\t",
        b"\x01",
        b",",
        b":",
        "é".as_bytes(),
        b"\"x\\\\\"",
    ];
    for _ in 0..rounds {
        let len = rnd(300);
        let mut text = Vec::new();
        for _ in 0..len {
            text.extend_from_slice(pieces[rnd(pieces.len() as u64) as usize]);
        }
        f(&text, &mut rnd);
    }
}

/// The byte rule every scan here is checked against: calls `bracket` with
/// the offset of each `{`/`[` (true) and `}`/`]` (false) outside strings;
/// returns whether the bytes end inside a string.
fn brackets_by_bytes(bytes: &[u8], mut bracket: impl FnMut(usize, bool)) -> bool {
    let (mut in_str, mut esc) = (false, false);
    for (i, &b) in bytes.iter().enumerate() {
        if in_str {
            if esc {
                esc = false;
            } else if b == b'\\' {
                esc = true;
            } else if b == b'"' {
                in_str = false;
            }
        } else {
            match b {
                b'"' => in_str = true,
                b'{' | b'[' => bracket(i, true),
                b'}' | b']' => bracket(i, false),
                _ => {}
            }
        }
    }
    in_str
}

/// The NDJSON reader's earlier depth scan, byte by byte.
fn depth_by_bytes(bytes: &[u8]) -> (i64, bool) {
    let mut depth = 0i64;
    let in_str = brackets_by_bytes(bytes, |_, open| depth += if open { 1 } else { -1 });
    (depth, in_str)
}

/// The stream reader's earlier compaction.
fn compact_by_bytes(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut in_str = false;
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        if in_str {
            match memchr::memchr2(b'"', b'\\', &raw[i..]) {
                None => {
                    out.extend_from_slice(&raw[i..]);
                    return out;
                }
                Some(k) => {
                    let stop = (i + k + if raw[i + k] == b'\\' { 2 } else { 1 }).min(raw.len());
                    out.extend_from_slice(&raw[i..stop]);
                    if raw[i + k] == b'"' {
                        in_str = false;
                    }
                    i = stop;
                }
            }
        } else {
            if b == b'"' {
                in_str = true;
            }
            if !is_ws(b) {
                out.push(b);
            }
            i += 1;
        }
    }
    out
}

/// Feeds `text` to `f.end` in pieces of random sizes (one byte: the byte
/// loop; 64 and more: blocks); the end found, as an index into `text`.
fn end_in_pieces(
    mut f: Framing,
    text: &[u8],
    rnd: &mut dyn FnMut(u64) -> u64,
) -> (Option<usize>, bool) {
    let mut at = 0;
    while at < text.len() {
        let n = (1 + rnd(200) as usize).min(text.len() - at);
        if let Some(end) = f.end(&text[at..at + n]) {
            return (Some(at + end), f.has_ws());
        }
        at += n;
    }
    (None, f.has_ws())
}

#[test]
fn scan_agrees_with_the_byte_rule_on_any_bytes() {
    texts(3000, |text, rnd| {
        let mut whole = Framing::default();
        whole.scan(text);
        assert_eq!((whole.depth(), whole.in_str()), depth_by_bytes(text));
        // The same in pieces: the state carries over.
        let mut pieces = Framing::default();
        let mut at = 0;
        while at < text.len() {
            let n = (1 + rnd(150) as usize).min(text.len() - at);
            pieces.scan(&text[at..at + n]);
            at += n;
        }
        assert_eq!((pieces.depth(), pieces.in_str()), depth_by_bytes(text));
    });
}

#[test]
fn end_is_the_same_in_blocks_and_bytes() {
    texts(3000, |text, rnd| {
        for start in [Framing::in_container(), Framing::in_string()] {
            let mut bytes = start;
            let by_bytes = bytes.bytes::<true>(text);
            let want = (by_bytes, bytes.has_ws());
            let mut whole = start;
            assert_eq!((whole.end(text), whole.has_ws()), want);
            assert_eq!(end_in_pieces(start, text, rnd), want);
        }
    });
}

#[test]
fn compaction_keeps_strings_and_control_characters() {
    texts(3000, |text, _| {
        let mut out = Vec::new();
        compact_into(text, &mut out);
        assert_eq!(out, compact_by_bytes(text));
    });
    let mut out = Vec::new();
    compact_into(b"{ \"a b\" :\t[1 ,\x012]\r\n}", &mut out);
    assert_eq!(out, b"{\"a b\":[1,\x012]}");
}

#[test]
fn ends_of_values() {
    let mut f = Framing::in_container();
    assert_eq!(f.end(br#""a]\"}", "b": [1, {}]} , 2"#), Some(22));
    assert!(f.has_ws());
    let mut f = Framing::in_string();
    assert_eq!(f.end(br#"a\\\"b" : 1"#), Some(7));
    let mut f = Framing::in_container();
    assert_eq!(f.end(b"\"x\\"), None);
    assert_eq!(
        f.end(b"\"\"]"),
        Some(3),
        "the quote after a backslash is escaped"
    );
}

#[test]
fn brackets_are_those_of_the_byte_rule() {
    texts(3000, |text, _| {
        let mut by_bytes = Vec::new();
        brackets_by_bytes(text, |i, open| by_bytes.push((i, open)));
        let mut by_blocks = Vec::new();
        for_each_bracket(text, |i, open| by_blocks.push((i, open)));
        assert_eq!(by_blocks, by_bytes, "{}", String::from_utf8_lossy(text));
    });
}
