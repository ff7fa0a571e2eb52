//! The text of MISP values, as every stage reads it: the trim every reader
//! of a value, comment or event info applies, and the one check of a DNS
//! name (for `ioc-map`'s normalisation and allowlists, and `misp-pull`'s
//! freetext typing).

/// `str::trim` with a fast exit for the usual value with nothing to trim
/// (`str::trim` is an out-of-line, Unicode-aware call and shows in profiles).
#[inline]
pub fn trim(s: &str) -> &str {
    // Unicode white space is ASCII white space (<= ' ') or not ASCII at all.
    let plain = |b: &u8| *b > b' ' && *b < 0x80;
    match (s.as_bytes().first(), s.as_bytes().last()) {
        (Some(a), Some(z)) if plain(a) && plain(z) => s,
        _ => s.trim(),
    }
}

/// Whether `v` is a DNS name (any case, no trailing dot; non-ASCII labels
/// allowed): at most 253 bytes, and labels as `is_ascii_domain` reads them
/// (for a non-ASCII name, "letters and digits" are Unicode's).
pub fn is_domain(v: &str) -> bool {
    domain_is_ascii(v).is_some()
}

/// [`is_domain`], saying whether the name is ASCII: `Some(true)` for an
/// ASCII name, `Some(false)` for another name, `None` for no name.
pub fn domain_is_ascii(v: &str) -> Option<bool> {
    // No IP check needed: an IPv4 address has an all-digit "TLD", IPv6 has ':'.
    if v.is_empty() || v.len() > 253 {
        return None;
    }
    // Any byte that is not ASCII fails the ASCII grammar: the usual name
    // needs no `is_ascii` pass first.
    if is_ascii_domain(v.as_bytes()) {
        return Some(true);
    }
    if v.is_ascii() {
        return None;
    }
    let mut labels = 0;
    let mut last = "";
    for label in v.split('.') {
        labels += 1;
        let ok = !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && label
                .chars()
                .all(|c| c.is_alphanumeric() || c == '-' || c == '_');
        if !ok {
            return None;
        }
        last = label;
    }
    (labels >= 2 && !last.bytes().all(|b| b.is_ascii_digit())).then_some(false)
}

/// The last label (the TLD, for the caller to look up) of `v` when MISP's
/// freetext typing takes it for a host name (docs/design.md#misp-feeds).
///
/// The labels of [`is_domain`], with two rules more and one less, because
/// the two checks answer different questions. [`is_domain`] checks a value
/// MISP already typed as a name, and takes whatever DNS and IDN allow.
/// Freetext typing guesses a type for any word of a text, so it takes only
/// what plainly is a host name: ASCII only, no label ending in `-` (and the
/// caller wants a known TLD). It has never had the 253-byte limit; that
/// stays so, so that a feed types as it did.
pub fn freetext_domain_tld(v: &str) -> Option<&str> {
    let plain = v.is_ascii()
        && is_ascii_domain(v.as_bytes())
        && !v.split('.').any(|label| label.ends_with('-'));
    plain.then(|| v.rsplit('.').next()).flatten()
}

/// Bytes allowed in an ASCII label (letters, digits, `-`, `_`), as a table:
/// one load per byte instead of a chain of range checks.
const LABEL_BYTE: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric() || c == b'-' || c == b'_';
        b += 1;
    }
    t
};

/// The one grammar of a name's labels, for ASCII names, in one pass over the
/// bytes: two or more labels of 1 to 63 letters, digits, `-` or `_`, none
/// starting with `-`, the last not all digits (so no IPv4 address).
fn is_ascii_domain(v: &[u8]) -> bool {
    let bad_label = |l: &[u8]| l.is_empty() || l.len() > 63 || l[0] == b'-';
    let (mut labels, mut start) = (0, 0);
    for (i, &b) in v.iter().enumerate() {
        if b == b'.' {
            if bad_label(&v[start..i]) {
                return false;
            }
            labels += 1;
            start = i + 1;
        } else if !LABEL_BYTE[usize::from(b)] {
            return false;
        }
    }
    let tail = &v[start..];
    if bad_label(tail) {
        return false;
    }
    // At least two labels; the last not all digits (no IPv4 address).
    labels >= 1 && !tail.iter().all(u8::is_ascii_digit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_names() {
        for ok in [
            "a.example",
            "C2.Example.NET",
            "x_y.a-b.io",
            "bücher.example",
            "a-.example",
        ] {
            assert!(is_domain(ok), "{ok}");
        }
        for bad in [
            "",
            "example",
            "192.0.2.1",
            "-a.example",
            "a..example",
            "a.example.",
            "bad domain.example",
            "2001:db8::1",
        ] {
            assert!(!is_domain(bad), "{bad}");
        }
        let long = format!("{}example", "a.".repeat(130));
        assert!(!is_domain(&long));
        assert_eq!(freetext_domain_tld(&long), Some("example"));
    }

    #[test]
    fn ascii_or_not() {
        assert_eq!(domain_is_ascii("C2.Example.NET"), Some(true));
        assert_eq!(domain_is_ascii("bücher.example"), Some(false));
        assert_eq!(domain_is_ascii("bücher"), None);
        assert_eq!(domain_is_ascii("bad domain.example"), None);
        assert_eq!(domain_is_ascii("a.ü1"), Some(false));
        assert_eq!(domain_is_ascii("a.1"), None);
    }

    #[test]
    fn freetext_names_are_stricter() {
        assert_eq!(freetext_domain_tld("c2.Bad.COM"), Some("COM"));
        assert_eq!(freetext_domain_tld("a-.example"), None);
        assert_eq!(freetext_domain_tld("bücher.example"), None);
        assert_eq!(freetext_domain_tld("192.0.2.1"), None);
        assert_eq!(freetext_domain_tld("example"), None);
    }
}
