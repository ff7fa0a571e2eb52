//! An independent reader of STIX pattern string literals, the oracle that the
//! property tests (tests/it/properties_map.rs) and the `misp_line` fuzz target
//! check ioc-map's escaping against. The fuzz target includes this file by path.

/// Reads a STIX string literal that starts at `s[0] == '\''`: its value and
/// what follows it; `None` when it is not a well-formed literal.
pub fn unquote(s: &str) -> Option<(String, &str)> {
    let mut chars = s.strip_prefix('\'')?.char_indices();
    let mut out = String::new();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => match chars.next()? {
                (_, '\\') => out.push('\\'),
                (_, '\'') => out.push('\''),
                _ => return None,
            },
            '\'' => return Some((out, &s[1 + i + 1..])),
            c => out.push(c),
        }
    }
    None
}
