//! Undoing the "defanging" people apply to network indicators so that they
//! cannot be clicked (CONTRACT §3, REFERENCE §12.3): `hxxp://bad[.]example`
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
    let start = value.trim_start();
    let bracket = memchr::memchr3(b'[', b'(', b'{', value.as_bytes()).is_some();
    // No defanged scheme begins like `http` (the usual URL): skip the list then.
    let http = start
        .get(..4)
        .is_some_and(|p| p.eq_ignore_ascii_case("http"));
    let scheme = !http
        && matches!(
            start.as_bytes().first(),
            Some(b'h' | b'H' | b'm' | b'M' | b'f' | b'F')
        )
        && SCHEMES.iter().any(|(from, _)| {
            start
                .get(..from.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(from))
        });
    if !bracket && !scheme {
        return std::borrow::Cow::Borrowed(value);
    }
    let lower = value.to_ascii_lowercase();
    let needs = INFIX.iter().any(|(from, _)| lower.contains(from))
        || SCHEMES.iter().any(|(from, _)| lower.contains(from))
        || lower.starts_with('[');
    if !needs {
        return std::borrow::Cow::Borrowed(value);
    }
    let mut out = value.trim().to_string();
    // A bracketed scheme prefix: `[hxxp://]bad.example` or `[http]://`.
    if out.starts_with('[') {
        if let Some(end) = out.find(']') {
            let inner = &out[1..end];
            let inner_l = inner.to_ascii_lowercase();
            if inner_l.contains("://")
                || SCHEMES.iter().any(|(f, _)| inner_l.starts_with(f))
                || inner_l.starts_with("http")
            {
                out = format!("{inner}{}", &out[end + 1..]);
            }
        }
    }
    for (from, to) in INFIX {
        if let Some(replaced) = replace_ci(&out, from, to) {
            out = replaced;
        }
    }
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
    std::borrow::Cow::Owned(out)
}

/// The first ASCII-case-insensitive occurrence of `from` (lower-case ASCII,
/// starting with a bracket, so without case itself) in `s` at or after `at`.
fn find_ci(s: &str, from: &str, mut at: usize) -> Option<usize> {
    let (first, rest) = from.as_bytes().split_first()?;
    while let Some(p) = memchr::memchr(*first, &s.as_bytes()[at..]) {
        let pos = at + p;
        let tail = &s.as_bytes()[pos + 1..];
        if tail.len() >= rest.len() && tail[..rest.len()].eq_ignore_ascii_case(rest) {
            return Some(pos);
        }
        at = pos + 1;
    }
    None
}

/// Replaces every ASCII-case-insensitive occurrence of `from` (a lower-case
/// [`INFIX`] form) in `s`, left to right; `None` when there is none.
fn replace_ci(s: &str, from: &str, to: &str) -> Option<String> {
    let mut pos = find_ci(s, from, 0)?;
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    loop {
        out.push_str(&s[i..pos]);
        out.push_str(to);
        i = pos + from.len();
        match find_ci(s, from, i) {
            Some(p) => pos = p,
            None => break,
        }
    }
    out.push_str(&s[i..]);
    Some(out)
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
        assert_eq!(refang("a[DOT]b[Dot]c(dot)d{.}e"), "a.b.c.d.e");
        assert_eq!(
            refang("HXXPS://x[.]example/[.]/(x)"),
            "https://x.example/./(x)"
        );
    }

    #[test]
    fn leaves_clean_values_alone() {
        assert_eq!(
            refang("https://good.example/hxxp"),
            "https://good.example/hxxp"
        );
        assert_eq!(refang("2001:db8::1"), "2001:db8::1");
    }
}
