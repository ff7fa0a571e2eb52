//! Text of MISP values: the trim every reader of a value, comment or event
//! info applies, with a fast exit for the usual value that needs none.

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
