//! Undoing the "defanging" people apply to network indicators so that they
//! cannot be clicked (docs/design.md#values, docs/design.md#misp-feeds): `hxxp://bad[.]example`
//! becomes `http://bad.example`. Only for network values; never for others.

/// Replacements made anywhere in the value, case-insensitively, longest first.
const INFIX: &[(&str, &str)] = &[
    ("[dot]", "."),
    ("(dot)", "."),
    ("{dot}", "."),
    ("[.]", "."),
    ("(.)", "."),
    ("{.}", "."),
    ("[:]", ":"),
    ("[at]", "@"),
    ("(at)", "@"),
    ("[@]", "@"),
    ("[/]", "/"),
    ("[://]", "://"),
    ("[x]", "x"),
];

/// Defanged schemes, case-insensitive, at the start of the value (each begins
/// with `h`, `m` or `f`).
const SCHEMES: &[(&str, &str)] = &[
    ("hxxps", "https"),
    ("hxxp", "http"),
    ("hxtps", "https"),
    ("hxtp", "http"),
    ("htxps", "https"),
    ("htxp", "http"),
    ("h[tt]ps", "https"),
    ("h[tt]p", "http"),
    ("meows", "https"),
    ("meow", "http"),
    ("fxp", "ftp"),
];

/// Refangs one value. Returns the input unchanged (borrowed) when there is nothing to undo.
pub fn refang(value: &str) -> std::borrow::Cow<'_, str> {
    // Fast path (most values): every infix form has a bracket, every scheme is a prefix.
    if !has_bracket(value) && !defanged_scheme(crate::misp::value::trim(value)) {
        return std::borrow::Cow::Borrowed(value);
    }
    let trimmed = value.trim();
    // Without any form to undo, a trimmed value comes back as it is (no pass
    // changes it), so only an untrimmed one needs this search to stay untrimmed.
    if trimmed.len() != value.len() && !needs(value) {
        return std::borrow::Cow::Borrowed(value);
    }
    // One pass undoes one layer of defanging around a scheme; repeat until
    // nothing changes, so that refanging its own output changes nothing.
    let mut out = refang_once(trimmed);
    for _ in 0..MAX_PASSES {
        if unchanged_by_a_pass(&out) {
            break;
        }
        let next = refang_once(&out);
        if next == out {
            break;
        }
        out = next;
    }
    std::borrow::Cow::Owned(out)
}

/// Whether `value` has any of `[`, `(`, `{`.
fn has_bracket(value: &str) -> bool {
    memchr::memchr3(b'[', b'(', b'{', value.as_bytes()).is_some()
}

/// Whether `value` holds any form [`refang_once`] undoes.
fn needs(value: &str) -> bool {
    let lower = value.to_ascii_lowercase();
    INFIX.iter().any(|(from, _)| lower.contains(from))
        || SCHEMES.iter().any(|(from, _)| lower.contains(from))
        || lower.starts_with('[')
}

/// True when [`refang_once`] surely gives `s` back: trimmed, no bracket
/// (every infix form and bracketed scheme has one) and no defanged scheme.
fn unchanged_by_a_pass(s: &str) -> bool {
    s.trim().len() == s.len() && !has_bracket(s) && !defanged_scheme(s)
}

/// Whether `s` starts like one of [`SCHEMES`] without a bracket (those with
/// one, `h[tt]p`, are found by their bracket): four bytes compared at once
/// instead of the list.
fn defanged_scheme(s: &str) -> bool {
    let b = s.as_bytes();
    let low = |i: usize| b.get(i).map_or(0, u8::to_ascii_lowercase);
    matches!(
        [low(0), low(1), low(2), low(3)],
        [b'h', b'x', b'x' | b't', b'p']
            | [b'h', b't', b'x', b'p']
            | [b'm', b'e', b'o', b'w']
            | [b'f', b'x', b'p', _]
    )
}

/// More passes than any real defanging needs (nested brackets around a scheme).
const MAX_PASSES: usize = 8;

fn refang_once(value: &str) -> String {
    let value = value.trim();
    let mut out = match unwrap_scheme(value) {
        Some(unwrapped) => undo_infix(&unwrapped),
        None => undo_infix(value),
    };
    // The schemes are ASCII: compare the prefix in place, no lower-case copy.
    for (from, to) in SCHEMES {
        let n = from.len();
        if out.len() >= n && out.as_bytes()[..n].eq_ignore_ascii_case(from.as_bytes()) {
            // (`://` starts with `:`.)
            if out[n..].starts_with(':') {
                out.replace_range(..n, to);
            }
            break;
        }
    }
    out
}

/// A bracketed scheme prefix: `[hxxp://]bad.example`, `[http]://`, or nested
/// (`[[hxxp://]]…`, blanks between the brackets too). Every further `[`
/// encloses the first one's `://` as well, so all leading `[` go at once, each
/// with the first `]` left (linear time; a pass per bracket is not needed).
fn unwrap_scheme(s: &str) -> Option<String> {
    if !s.starts_with('[') {
        return None;
    }
    let lead = s.len()
        - s.trim_start_matches(|c: char| c == '[' || c.is_whitespace())
            .len();
    let opens = s[..lead].bytes().filter(|&b| b == b'[').count();
    let end = s.find(']')?;
    if opens == 0 || !s.starts_with('[') {
        return None;
    }
    let inner = s[1..end].trim_start().to_ascii_lowercase();
    let scheme = opens == 1
        && (SCHEMES.iter().any(|(f, _)| inner.starts_with(f)) || inner.starts_with("http"));
    if !inner.contains("://") && !scheme {
        return None;
    }
    let closes = s.bytes().filter(|&b| b == b']').count().min(opens);
    let mut out = "[".repeat(opens - closes);
    let mut left = closes;
    for c in s[lead..].chars() {
        if c == ']' && left > 0 {
            left -= 1;
        } else {
            out.push(c);
        }
    }
    Some(out)
}

/// Replaces the [`INFIX`] forms, ASCII-case-insensitively, each as soon as its
/// closing bracket arrives: nested forms (`[[.]]`, defanged twice) go in the
/// same pass, in linear time.
fn undo_infix(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    // Up to and with each closing bracket at once: only they end a form.
    while let Some(i) = memchr::memchr3(b']', b')', b'}', rest.as_bytes()) {
        out.push_str(&rest[..=i]);
        rest = &rest[i + 1..];
        let tail = out.as_bytes();
        let found = INFIX.iter().find(|(from, _)| {
            tail.len() >= from.len()
                && tail[tail.len() - from.len()..].eq_ignore_ascii_case(from.as_bytes())
        });
        if let Some((from, to)) = found {
            out.truncate(out.len() - from.len());
            out.push_str(to);
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::refang;

    #[test]
    fn common_defanging() {
        assert_eq!(refang("hxxp://bad[.]example/x"), "http://bad.example/x");
        assert_eq!(refang("hXXps://bad(.)example"), "https://bad.example");
        assert_eq!(refang("bad{.}example"), "bad.example");
        assert_eq!(refang("user[at]bad[dot]example"), "user@bad.example");
        assert_eq!(refang("a[@]b.example"), "a@b.example");
        assert_eq!(refang("192.0.2[.]1"), "192.0.2.1");
        assert_eq!(refang("[hxxp://]bad.example"), "http://bad.example");
        assert_eq!(refang("http[:]//x.example"), "http://x.example");
        assert_eq!(refang("meow://x.example"), "http://x.example");
        // Defanged twice.
        assert_eq!(refang("www[[.]]bad[[.]]example"), "www.bad.example");
        assert_eq!(refang("[[hxxp://]]bad.example"), "http://bad.example");
    }

    #[test]
    fn scheme_test_agrees_with_the_list() {
        for (from, _) in super::SCHEMES {
            let up = from.to_ascii_uppercase();
            for v in [from.to_string(), up, format!("{from}://x")] {
                assert_eq!(super::defanged_scheme(&v), !v.contains('['), "{v}");
            }
        }
        for v in ["http://x", "hxx", "fx", "meo", "ftp", "", "h", "x.hxxp"] {
            assert!(!super::defanged_scheme(v), "{v}");
        }
    }

    #[test]
    fn leaves_clean_values_alone() {
        assert_eq!(
            refang("https://good.example/hxxp"),
            "https://good.example/hxxp"
        );
        assert_eq!(refang("2001:db8::1"), "2001:db8::1");
    }

    /// The refang of commit 6768474 (before its fast paths), as the reference.
    mod reference {
        use super::super::{defanged_scheme, unwrap_scheme, INFIX, MAX_PASSES, SCHEMES};

        pub fn refang(value: &str) -> String {
            let bracket = value.bytes().any(|b| b"[({".contains(&b));
            if !bracket && !defanged_scheme(crate::misp::value::trim(value)) {
                return value.to_string();
            }
            let lower = value.to_ascii_lowercase();
            let needs = INFIX.iter().any(|(from, _)| lower.contains(from))
                || SCHEMES.iter().any(|(from, _)| lower.contains(from))
                || lower.starts_with('[');
            if !needs {
                return value.to_string();
            }
            let mut out = refang_once(value.trim());
            for _ in 0..MAX_PASSES {
                let next = refang_once(&out);
                if next == out {
                    break;
                }
                out = next;
            }
            out
        }

        fn refang_once(value: &str) -> String {
            let mut out = value.trim().to_string();
            if let Some(unwrapped) = unwrap_scheme(&out) {
                out = unwrapped;
            }
            out = undo_infix(&out);
            let lower = out.to_ascii_lowercase();
            for (from, to) in SCHEMES {
                if lower.starts_with(from) {
                    let rest = &out[from.len()..];
                    if rest.starts_with("://") || rest.starts_with(':') {
                        out = format!("{to}{rest}");
                    }
                    break;
                }
            }
            out
        }

        fn undo_infix(s: &str) -> String {
            let mut out = String::with_capacity(s.len());
            for c in s.chars() {
                out.push(c);
                if !matches!(c, ']' | ')' | '}') {
                    continue;
                }
                let tail = out.as_bytes();
                let found = INFIX.iter().find(|(from, _)| {
                    tail.len() >= from.len()
                        && tail[tail.len() - from.len()..].eq_ignore_ascii_case(from.as_bytes())
                });
                if let Some((from, to)) = found {
                    out.truncate(out.len() - from.len());
                    out.push_str(to);
                }
            }
            out
        }
    }

    const PIECES: &[&str] = &[
        "[",
        "]",
        "(",
        ")",
        "{",
        "}",
        "[.]",
        "(.)",
        "{.}",
        "[dot]",
        "(DOT)",
        "[:]",
        "[at]",
        "[@]",
        "[/]",
        "[://]",
        "[x]",
        "://",
        ":",
        "/",
        ".",
        "@",
        " ",
        "\t",
        "hxxp",
        "HXXPS",
        "hxtp",
        "htxps",
        "h[tt]p",
        "meow",
        "fxp",
        "http",
        "[hxxp://]",
        "bad",
        "example",
        "é",
        "x",
        "s",
        "\u{a0}",
    ];

    proptest::proptest! {
        #[test]
        fn same_as_the_reference(
            parts in proptest::collection::vec(proptest::sample::select(PIECES), 0..12)
        ) {
            let v = parts.concat();
            proptest::prop_assert_eq!(refang(&v).into_owned(), reference::refang(&v));
        }

        #[test]
        fn same_as_the_reference_on_any_text(v in "[\\[\\](){}.:/@ hxtpsmeowfdaé\\t]{0,24}") {
            proptest::prop_assert_eq!(refang(&v).into_owned(), reference::refang(&v));
        }
    }
}
