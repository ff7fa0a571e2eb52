//! STIX 2.1 `indicator` objects for Sentinel's STIX objects upload API
//! (REFERENCE §3.2, §3.6, §14): one comparison per pattern, §14.2 escaping,
//! TLP 1.0 markings (§16.1), millisecond UTC times.

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

use crate::error::Result;
use crate::indicator::{HashAlgo, Indicator, Kind, SkipReason, Tlp};
use crate::output::Output;
use crate::sink::{Emitted, Sink};
use crate::stamp::Millis;
use crate::text;

#[derive(Debug, Clone, Default)]
pub struct StixOptions {
    /// `--misp-url`: adds the event's URL to `external_references`.
    pub misp_url: Option<String>,
}

/// The STIX 2.1 TLP marking-definition ids (TLP 1.0, REFERENCE §16.1).
pub fn tlp_marking(tlp: Tlp) -> &'static str {
    match tlp {
        Tlp::Clear => "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9",
        Tlp::Green => "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
        Tlp::Amber | Tlp::AmberStrict => "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82",
        Tlp::Red => "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed",
    }
}

/// The STIX hash key, quoted where it is not a plain identifier (§14.2);
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
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            c => out.push(c),
        }
    }
    out.push('\'');
}

/// Builds the pattern into `out`; returns its `pattern_type`.
pub fn pattern(ind: &Indicator, out: &mut String) -> Result<&'static str, SkipReason> {
    out.clear();
    let path: &str = match ind.kind {
        Kind::Ipv4 { .. } => "ipv4-addr:value",
        Kind::Ipv6 { .. } => "ipv6-addr:value",
        Kind::Domain => "domain-name:value",
        Kind::Url => "url:value",
        Kind::Email => "email-addr:value",
        Kind::EmailDisplayName => "email-addr:display_name",
        Kind::EmailSubject => "email-message:subject",
        Kind::EmailReplyTo => "email-message:additional_header_fields.reply_to",
        Kind::EmailXMailer => "email-message:additional_header_fields.x_mailer",
        Kind::EmailAttachment => "email-message:body_multipart[*].body_raw_ref.name",
        Kind::Hash(a) => {
            let key = hash_key(a).ok_or_else(|| {
                SkipReason::NotExpressible(format!(
                    "stix: no correct hash key for {}",
                    ind.part_type
                ))
            })?;
            out.push_str("[file:hashes.");
            out.push_str(key);
            ""
        }
        Kind::X509(a) => {
            out.push_str("[x509-certificate:hashes.");
            out.push_str(hash_key(a).expect("md5, sha1 or sha256"));
            ""
        }
        Kind::FileName => "file:name",
        Kind::RegistryKey => "windows-registry-key:key",
        Kind::Mutex => "mutex:name",
        Kind::AutonomousSystem => {
            // An integer property: a bare number (§14.2).
            out.push_str("[autonomous-system:number = ");
            out.push_str(&ind.value);
            out.push(']');
            return Ok("stix");
        }
        Kind::MacAddress => "mac-addr:value",
        Kind::UserAgent => {
            "network-traffic:extensions.'http-request-ext'.request_header.'User-Agent'"
        }
        Kind::GithubUsername => "user-account:account_login",
        Kind::Rule(lang) => {
            // Not a STIX pattern: the rule itself, in its own language.
            out.push_str(&ind.value);
            return Ok(lang.as_str());
        }
    };
    if !path.is_empty() {
        out.push('[');
        out.push_str(path);
    }
    out.push_str(" = ");
    push_quoted(out, &ind.value);
    out.push(']');
    Ok("stix")
}

/// `<prefix>--<uuid>` without allocating.
struct Id<'a>(&'a str, uuid::Uuid);

impl Serialize for Id<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0u8; 64];
        let p = self.0.len();
        buf[..p].copy_from_slice(self.0.as_bytes());
        buf[p..p + 2].copy_from_slice(b"--");
        let u = self
            .1
            .hyphenated()
            .encode_lower(&mut buf[p + 2..p + 38])
            .len();
        s.serialize_str(std::str::from_utf8(&buf[..p + 2 + u]).expect("ASCII"))
    }
}

struct Labels<'a>(&'a Indicator);

impl Serialize for Labels<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let ind = self.0;
        let mut seq = s.serialize_seq(None)?;
        for l in &ind.labels {
            seq.serialize_element(l)?;
        }
        // TLP 1.0 has no amber+strict marking: keep the strictness as a label.
        if ind.tlp == Tlp::AmberStrict {
            seq.serialize_element("tlp:amber+strict")?;
        }
        seq.end()
    }
}

struct KillChain<'a>(&'a [(String, String)]);

impl Serialize for KillChain<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for (chain, phase) in self.0 {
            seq.serialize_element(&Phase {
                kill_chain_name: chain,
                phase_name: phase,
            })?;
        }
        seq.end()
    }
}

#[derive(Serialize)]
struct Phase<'a> {
    kill_chain_name: &'a str,
    phase_name: &'a str,
}

struct ExtRefs<'a> {
    event_uuid: &'a str,
    url: Option<(&'a str, &'a str)>,
}

impl Serialize for ExtRefs<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct One<'b>(&'b ExtRefs<'b>);
        impl Serialize for One<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut m = s.serialize_map(None)?;
                m.serialize_entry("source_name", "MISP")?;
                m.serialize_entry("external_id", self.0.event_uuid)?;
                if let Some((base, u)) = self.0.url {
                    m.serialize_entry("url", &format!("{base}/events/view/{u}"))?;
                }
                m.end()
            }
        }
        let mut seq = s.serialize_seq(Some(1))?;
        seq.serialize_element(&One(self))?;
        seq.end()
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

#[derive(Serialize)]
struct StixIndicator<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    spec_version: &'static str,
    id: Id<'a>,
    created: Millis,
    modified: Millis,
    #[serde(skip_serializing_if = "Option::is_none")]
    created_by_ref: Option<Id<'a>>,
    name: &'a str,
    description: &'a str,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    indicator_types: &'a [&'static str],
    pattern: &'a str,
    pattern_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pattern_version: Option<&'static str>,
    valid_from: Millis,
    valid_until: Millis,
    #[serde(skip_serializing_if = "Option::is_none")]
    kill_chain_phases: Option<KillChain<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    labels: Option<Labels<'a>>,
    confidence: u8,
    #[serde(skip_serializing_if = "is_false")]
    revoked: bool,
    object_marking_refs: [&'static str; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    external_references: Option<ExtRefs<'a>>,
}

/// Longest `name` and `description` written.
pub const NAME_MAX: usize = 256;
pub const DESCRIPTION_MAX: usize = 1024;

pub struct StixSink {
    out: Output,
    opts: StixOptions,
    pattern: String,
    name: String,
    description: String,
    buf: Vec<u8>,
}

impl StixSink {
    pub fn new(out: Output, mut opts: StixOptions) -> Self {
        opts.misp_url = opts.misp_url.map(|u| u.trim_end_matches('/').to_string());
        StixSink {
            out,
            opts,
            pattern: String::new(),
            name: String::new(),
            description: String::new(),
            buf: Vec::with_capacity(4096),
        }
    }

    /// Serialises one indicator as one JSON object (no newline) into `buf`.
    pub fn record(&mut self, ind: &Indicator) -> Result<(), SkipReason> {
        let pattern_type = pattern(ind, &mut self.pattern)?;
        text::name(ind, &mut self.name);
        text::truncate(&mut self.name, NAME_MAX);
        text::describe(ind, &mut self.description);
        text::truncate(&mut self.description, DESCRIPTION_MAX);
        let parse_uuid = |s: &Option<String>| {
            s.as_deref()
                .and_then(|u| uuid::Uuid::try_parse(u.trim()).ok())
        };
        let event_uuid = ind
            .event
            .uuid
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty());
        let rec = StixIndicator {
            kind: "indicator",
            spec_version: "2.1",
            id: Id("indicator", ind.id),
            created: Millis(ind.created),
            modified: Millis(ind.modified),
            created_by_ref: parse_uuid(&ind.event.orgc_uuid).map(|u| Id("identity", u)),
            name: &self.name,
            description: &self.description,
            indicator_types: if ind.to_ids {
                &["malicious-activity"]
            } else {
                &[]
            },
            pattern: &self.pattern,
            pattern_type,
            pattern_version: (pattern_type == "stix").then_some("2.1"),
            valid_from: Millis(ind.valid_from),
            valid_until: Millis(ind.valid_until),
            kill_chain_phases: (!ind.kill_chain.is_empty()).then_some(KillChain(&ind.kill_chain)),
            labels: (!ind.labels.is_empty() || ind.tlp == Tlp::AmberStrict).then_some(Labels(ind)),
            confidence: ind.confidence,
            revoked: ind.revoked,
            object_marking_refs: [tlp_marking(ind.tlp)],
            external_references: event_uuid.map(|u| ExtRefs {
                event_uuid: u,
                url: self.opts.misp_url.as_deref().map(|b| (b, u)),
            }),
        };
        self.buf.clear();
        serde_json::to_writer(&mut self.buf, &rec).expect("serialising to memory");
        Ok(())
    }

    pub fn buffer(&self) -> &[u8] {
        &self.buf
    }
}

impl Sink for StixSink {
    fn write(&mut self, parts: &[Indicator]) -> Result<Emitted> {
        let mut written = 0;
        let mut first_err = None;
        for ind in parts {
            match self.record(ind) {
                Ok(()) => {
                    self.out.write_line(&self.buf)?;
                    written += 1;
                }
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        Ok(match first_err {
            Some(e) if written == 0 => Emitted::Skipped(e),
            _ => Emitted::Written(written),
        })
    }

    fn finish(self: Box<Self>) -> Result<()> {
        self.out.finish()
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

    #[test]
    fn markings() {
        assert_eq!(
            tlp_marking(Tlp::Clear),
            "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9"
        );
        assert_eq!(tlp_marking(Tlp::AmberStrict), tlp_marking(Tlp::Amber));
    }
}
