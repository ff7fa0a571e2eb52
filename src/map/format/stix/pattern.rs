//! STIX patterns (docs/design.md#mapping): one comparison per pattern, its
//! path chosen by the indicator's kind, its value a STIX string literal
//! (escaped, docs/design.md#mapping); a detection rule is written as it is.

use crate::json::write as jsonw;
use crate::map::indicator::{HashAlgo, Indicator, SkipReason, ValueKind};

/// The STIX hash key, quoted where it is not a plain identifier (docs/design.md#mapping);
/// `None` where no key is right (`sha512/224` and `sha512/256`).
fn hash_key(a: HashAlgo) -> Option<&'static str> {
    use HashAlgo::*;
    Some(match a {
        Md5 => "MD5",
        Sha1 => "'SHA-1'",
        Sha224 => "'SHA-224'",
        Sha256 => "'SHA-256'",
        Sha384 => "'SHA-384'",
        Sha512 => "'SHA-512'",
        Sha3_224 => "'SHA3-224'",
        Sha3_256 => "'SHA3-256'",
        Sha3_384 => "'SHA3-384'",
        Sha3_512 => "'SHA3-512'",
        Ssdeep => "SSDEEP",
        Tlsh => "TLSH",
        Imphash => "IMPHASH",
        Impfuzzy => "IMPFUZZY",
        Authentihash => "AUTHENTIHASH",
        Vhash => "VHASH",
        Pehash => "PEHASH",
        Telfhash => "TELFHASH",
        Cdhash => "CDHASH",
        Sha512_224 | Sha512_256 => return None,
    })
}

/// Writes a single-quoted STIX string literal: `\` → `\\` first, then `'` → `\'`.
pub fn push_quoted(out: &mut String, v: &str) {
    out.push('\'');
    if memchr::memchr2(b'\\', b'\'', v.as_bytes()).is_none() {
        out.push_str(v);
        out.push('\'');
        return;
    }
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            c => out.push(c),
        }
    }
    out.push('\'');
}

/// What a pattern is made of.
pub(super) enum Shape {
    /// `[<path><key> = '<value>']`: one comparison with a string literal.
    Compare(&'static str, &'static str),
    /// `[autonomous-system:number = <value>]`: an integer property, a bare
    /// number (docs/design.md#mapping).
    Number,
    /// Not a STIX pattern: the rule itself, in its own language.
    Rule(&'static str),
}

#[inline]
pub(super) fn shape(ind: &Indicator) -> Result<Shape, SkipReason> {
    let path = match ind.kind {
        ValueKind::Ipv4 { .. } => "ipv4-addr:value",
        ValueKind::Ipv6 { .. } => "ipv6-addr:value",
        ValueKind::Domain => "domain-name:value",
        ValueKind::Url => "url:value",
        ValueKind::Email => "email-addr:value",
        ValueKind::EmailDisplayName => "email-addr:display_name",
        ValueKind::EmailSubject => "email-message:subject",
        ValueKind::EmailReplyTo => "email-message:additional_header_fields.reply_to",
        ValueKind::EmailXMailer => "email-message:additional_header_fields.x_mailer",
        ValueKind::EmailAttachment => "email-message:body_multipart[*].body_raw_ref.name",
        ValueKind::Hash(a) => {
            let key = hash_key(a).ok_or_else(|| {
                SkipReason::NotExpressible(format!(
                    "stix: no correct hash key for {}",
                    ind.part_type
                ))
            })?;
            return Ok(Shape::Compare("file:hashes.", key));
        }
        ValueKind::X509(a) => {
            let key = hash_key(a).expect("md5, sha1 or sha256");
            return Ok(Shape::Compare("x509-certificate:hashes.", key));
        }
        ValueKind::FileName => "file:name",
        ValueKind::RegistryKey => "windows-registry-key:key",
        ValueKind::Mutex => "mutex:name",
        ValueKind::AutonomousSystem => return Ok(Shape::Number),
        ValueKind::MacAddress => "mac-addr:value",
        ValueKind::UserAgent => {
            "network-traffic:extensions.'http-request-ext'.request_header.'User-Agent'"
        }
        ValueKind::GithubUsername => "user-account:account_login",
        ValueKind::Rule(lang) => return Ok(Shape::Rule(lang.as_str())),
    };
    Ok(Shape::Compare(path, ""))
}

/// Builds the pattern into `out`; returns its `pattern_type`.
pub fn pattern(ind: &Indicator, out: &mut String) -> Result<&'static str, SkipReason> {
    Ok(build(shape(ind)?, ind, out))
}

#[inline]
fn build(shape: Shape, ind: &Indicator, out: &mut String) -> &'static str {
    out.clear();
    match shape {
        Shape::Compare(path, key) => {
            out.push('[');
            out.push_str(path);
            out.push_str(key);
            out.push_str(" = ");
            push_quoted(out, &ind.value);
            out.push(']');
        }
        Shape::Number => {
            out.push_str("[autonomous-system:number = ");
            out.push_str(&ind.value);
            out.push(']');
        }
        Shape::Rule(lang) => {
            out.push_str(&ind.value);
            return lang;
        }
    }
    "stix"
}

/// Whether `v` needs no escaping at all, neither in a STIX literal (`\`,
/// `'`) nor in JSON (`"`, `\`, control characters). No early exit: a few
/// vector instructions per 16 bytes.
fn plain(v: &str) -> bool {
    v.bytes().fold(true, |ok, b| {
        ok & (b >= 0x20) & (b != b'\\') & (b != b'\'') & (b != b'"')
    })
}

/// Writes `,"pattern":` and the pattern as a JSON string into `buf`; returns
/// its `pattern_type`. The usual value needs no escaping: written as it is,
/// the pattern not built first (`scratch` holds it otherwise).
#[inline]
pub(super) fn write_json(
    shape: Shape,
    ind: &Indicator,
    scratch: &mut String,
    buf: &mut Vec<u8>,
) -> &'static str {
    let plain = matches!(shape, Shape::Compare(..)) && plain(&ind.value);
    if !plain {
        buf.extend_from_slice(b",\"pattern\":");
    }
    match shape {
        // (Paths and keys need no JSON escaping.)
        Shape::Compare(path, key) if plain => {
            buf.extend_from_slice(b",\"pattern\":\"[");
            buf.extend_from_slice(path.as_bytes());
            buf.extend_from_slice(key.as_bytes());
            buf.extend_from_slice(b" = '");
            buf.extend_from_slice(ind.value.as_bytes());
            buf.extend_from_slice(b"']\"");
            "stix"
        }
        Shape::Rule(lang) => {
            jsonw::string(buf, &ind.value);
            lang
        }
        shape => {
            let pattern_type = build(shape, ind, scratch);
            jsonw::string(buf, scratch);
            pattern_type
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_backslash_first() {
        let mut s = String::new();
        push_quoted(&mut s, r"C:\Temp\O'Brien.exe");
        assert_eq!(s, r"'C:\\Temp\\O\'Brien.exe'");
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            r#""'C:\\\\Temp\\\\O\\'Brien.exe'""#
        );
    }
}
