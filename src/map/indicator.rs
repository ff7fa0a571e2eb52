//! The intermediate form between the MISP model and the output formats: one
//! observable, normalised, with all the context any format needs. `ioc-map`
//! turns each MISP attribute into zero or more of these (composites split),
//! then a format turns each into one output record, or skips it with a reason.

use std::fmt;

use uuid::Uuid;

use crate::time::Timestamp;

/// Hash algorithms MISP knows as attribute types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashAlgo {
    Md5,
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
    Sha512_224,
    Sha512_256,
    Sha3_224,
    Sha3_256,
    Sha3_384,
    Sha3_512,
    Ssdeep,
    Tlsh,
    Imphash,
    Impfuzzy,
    Authentihash,
    Vhash,
    Pehash,
    Telfhash,
    Cdhash,
}

impl HashAlgo {
    /// From the MISP type name (`sha256`, `sha512/224`, `sha3-256`, …).
    pub fn from_misp(t: &str) -> Option<Self> {
        use HashAlgo::*;
        Some(match t {
            "md5" => Md5,
            "sha1" => Sha1,
            "sha224" => Sha224,
            "sha256" => Sha256,
            "sha384" => Sha384,
            "sha512" => Sha512,
            "sha512/224" => Sha512_224,
            "sha512/256" => Sha512_256,
            "sha3-224" => Sha3_224,
            "sha3-256" => Sha3_256,
            "sha3-384" => Sha3_384,
            "sha3-512" => Sha3_512,
            "ssdeep" => Ssdeep,
            "tlsh" => Tlsh,
            "imphash" => Imphash,
            "impfuzzy" => Impfuzzy,
            "authentihash" => Authentihash,
            "vhash" => Vhash,
            "pehash" => Pehash,
            "telfhash" => Telfhash,
            "cdhash" => Cdhash,
            _ => return None,
        })
    }

    /// Hex digits of a fixed-length digest, `None` for variable-length hashes.
    pub fn hex_len(self) -> Option<usize> {
        use HashAlgo::*;
        match self {
            Md5 | Imphash => Some(32),
            Sha1 => Some(40),
            Sha224 | Sha512_224 | Sha3_224 => Some(56),
            Sha256 | Sha512_256 | Sha3_256 | Authentihash | Pehash => Some(64),
            Sha384 | Sha3_384 => Some(96),
            Sha512 | Sha3_512 => Some(128),
            Ssdeep | Tlsh | Impfuzzy | Vhash | Telfhash | Cdhash => None,
        }
    }
}

/// What an observable is, as far as the output formats care.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueKind {
    /// An IPv4 address, or a CIDR block when `cidr`.
    Ipv4 {
        cidr: bool,
    },
    /// An IPv6 address (compressed), or a CIDR block when `cidr`.
    Ipv6 {
        cidr: bool,
    },
    /// `domain` and `hostname` (lower-case, no trailing dot).
    Domain,
    /// An absolute URL (`url`, `link`) or, for `uri`, possibly a bare path.
    Url,
    /// An e-mail address (`email`, `email-src`, `email-dst`, …).
    Email,
    EmailDisplayName,
    EmailSubject,
    EmailReplyTo,
    EmailXMailer,
    EmailAttachment,
    /// A file hash (also the hash half of `filename|<hash>` and `malware-sample`).
    Hash(HashAlgo),
    /// A certificate fingerprint (`x509-fingerprint-md5/-sha1/-sha256`).
    X509(HashAlgo),
    FileName,
    RegistryKey,
    Mutex,
    /// `AS`: `value` holds the number without the `AS` prefix.
    AutonomousSystem,
    MacAddress,
    UserAgent,
    GithubUsername,
    /// A detection rule (`yara`, `sigma`, `snort`, `suricata`): the value is the raw rule.
    Rule(RuleLang),
}

/// The languages of MISP's rule types; STIX `pattern_type` takes the same names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuleLang {
    Yara,
    Sigma,
    Snort,
    Suricata,
}

impl RuleLang {
    pub fn from_misp(t: &str) -> Option<Self> {
        Some(match t {
            "yara" => RuleLang::Yara,
            "sigma" => RuleLang::Sigma,
            "snort" => RuleLang::Snort,
            "suricata" => RuleLang::Suricata,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RuleLang::Yara => "yara",
            RuleLang::Sigma => "sigma",
            RuleLang::Snort => "snort",
            RuleLang::Suricata => "suricata",
        }
    }
}

impl ValueKind {
    /// Defender for Endpoint's `indicatorType` for this observable (docs/design.md#mapping),
    /// or why Defender cannot express it.
    pub fn defender_type(self) -> Result<&'static str, SkipReason> {
        let no = |what: &str| Err(SkipReason::NotExpressible(format!("defender: {what}")));
        match self {
            ValueKind::Ipv4 { cidr: false } | ValueKind::Ipv6 { cidr: false } => Ok("IpAddress"),
            ValueKind::Ipv4 { cidr: true } | ValueKind::Ipv6 { cidr: true } => no("CIDR"),
            ValueKind::Domain => Ok("DomainName"),
            ValueKind::Url => Ok("Url"),
            ValueKind::Hash(HashAlgo::Md5) => Ok("FileMd5"),
            ValueKind::Hash(HashAlgo::Sha1) => Ok("FileSha1"),
            ValueKind::Hash(HashAlgo::Sha256) => Ok("FileSha256"),
            ValueKind::X509(HashAlgo::Sha1) => Ok("CertificateThumbprint"),
            ValueKind::Hash(_) => no("hash type"),
            ValueKind::X509(_) => no("certificate fingerprint other than SHA-1"),
            ValueKind::Email
            | ValueKind::EmailDisplayName
            | ValueKind::EmailSubject
            | ValueKind::EmailReplyTo
            | ValueKind::EmailXMailer
            | ValueKind::EmailAttachment => no("e-mail"),
            ValueKind::FileName => no("file name"),
            ValueKind::RegistryKey => no("registry key"),
            ValueKind::Mutex => no("mutex"),
            ValueKind::AutonomousSystem => no("AS number"),
            ValueKind::MacAddress => no("MAC address"),
            ValueKind::UserAgent => no("user agent"),
            ValueKind::GithubUsername => no("user account"),
            ValueKind::Rule(_) => no("detection rule"),
        }
    }
}

/// Defender `severity` from MISP's event threat level (1 High, 2 Medium, 3 Low, 4 Undefined).
pub fn defender_severity(threat_level: Option<u8>) -> &'static str {
    match threat_level {
        Some(1) => "High",
        Some(2) => "Medium",
        Some(3) => "Low",
        _ => "Informational",
    }
}

/// Traffic Light Protocol levels, in order of restriction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tlp {
    Clear,
    Green,
    Amber,
    AmberStrict,
    Red,
}

impl Tlp {
    /// From a tag name such as `tlp:green` or `TLP:AMBER+STRICT` (any case).
    /// `white` is `clear`. `ex:chr`, `unclear` and unknown levels give `None`.
    pub fn from_tag(tag: &str) -> Option<Self> {
        let (ns, level) = tag.split_once(':')?;
        if !ns.trim().eq_ignore_ascii_case("tlp") {
            return None;
        }
        Self::parse(level)
    }

    /// From a level name (`clear`, `white`, `green`, `amber`, `amber+strict`, `red`), any case.
    pub fn parse(level: &str) -> Option<Self> {
        const LEVELS: [(&str, Tlp); 6] = [
            ("clear", Tlp::Clear),
            ("white", Tlp::Clear),
            ("green", Tlp::Green),
            ("amber", Tlp::Amber),
            ("amber+strict", Tlp::AmberStrict),
            ("red", Tlp::Red),
        ];
        // No lower-cased copy: compared ignoring ASCII case.
        let level = crate::misp::value::trim(level).trim_matches('"');
        LEVELS
            .iter()
            .find(|(name, _)| level.eq_ignore_ascii_case(name))
            .map(|&(_, t)| t)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Tlp::Clear => "clear",
            Tlp::Green => "green",
            Tlp::Amber => "amber",
            Tlp::AmberStrict => "amber+strict",
            Tlp::Red => "red",
        }
    }
}

impl fmt::Display for Tlp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The event an attribute belongs to, as far as it is known (the attributes
/// scope gives only a small stub).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventContext {
    pub uuid: Option<String>,
    pub id: Option<String>,
    pub info: Option<String>,
    pub orgc_uuid: Option<String>,
    pub orgc_name: Option<String>,
    /// 1 High, 2 Medium, 3 Low, 4 Undefined.
    pub threat_level: Option<u8>,
}

/// The MISP object an attribute sits in.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectContext {
    pub name: String,
    pub relation: Option<String>,
}

/// One observable ready for any output format.
#[derive(Debug, Clone, PartialEq)]
pub struct Indicator {
    /// The STIX id's uuid (docs/design.md#ids-and-keys): the attribute uuid for the primary
    /// part, UUIDv5 over `"<attribute uuid>/<part type>"` for any other part.
    pub id: Uuid,
    pub attribute_uuid: String,
    /// The attribute's MISP type (`filename|sha256`).
    pub misp_type: String,
    /// The MISP type of this part (`sha256` or `filename` for `filename|sha256`).
    pub part_type: String,
    pub kind: ValueKind,
    /// Normalised value (docs/design.md#values).
    pub value: String,
    /// The port of `ip-*|port` and `hostname|port`.
    pub port: Option<u16>,
    pub category: Option<String>,
    pub comment: Option<String>,
    pub object: Option<ObjectContext>,
    pub event: EventContext,
    /// Tag names without TLP, confidence and local tags.
    pub labels: Vec<String>,
    pub tlp: Tlp,
    /// False when no TLP tag was found and `tlp` is the `--default-tlp`.
    pub tlp_tagged: bool,
    /// 0–100.
    pub confidence: u8,
    /// The attribute's `to_ids` (the type's default when MISP omitted it).
    pub to_ids: bool,
    /// `kill_chain_phases` as (kill chain name, phase name).
    pub kill_chain: Vec<(String, String)>,
    pub created: Timestamp,
    pub modified: Timestamp,
    pub valid_from: Timestamp,
    pub valid_until: Timestamp,
    /// A retirement (docs/design.md#retirement): validity ends now; the key leaves the target.
    pub retired: bool,
    /// With `--revoke`: retire through STIX `revoked: true` instead.
    pub revoked: bool,
    /// Which indicators share their context parts (see [`ContextKey`]).
    pub context: ContextKey,
}

/// Which indicators share parts, so that a sink may reuse what it wrote for
/// an earlier one instead of comparing them. Zero: unknown. Not part of an
/// indicator's value: any two keys compare equal.
#[derive(Debug, Clone, Copy, Default)]
pub struct ContextKey {
    /// Same non-zero key: same event (name, creator, references).
    pub event: u64,
    /// Same non-zero key: same labels (an event's attributes without labels
    /// of their own).
    pub labels: u64,
    /// Same non-zero key: same kill-chain phases (an event's attributes
    /// without phases of their own, of one category).
    pub kill_chain: u64,
}

impl PartialEq for ContextKey {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// Why an attribute (or one part of it) produced no record. The text is the
/// reason written to the summary and `--skipped`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SkipReason {
    NotIndicatorType,
    NotIds,
    Expired,
    InvalidValue(String),
    Private,
    Filtered(&'static str),
    Allowlisted,
    Warninglist(String),
    TlpTooHigh,
    BelowMinConfidence,
    /// The format cannot express this observable (`defender: CIDR`, …).
    NotExpressible(String),
    /// A format that keys by value already wrote this key in this run.
    DuplicateKey,
    /// A deleted attribute in a format that retires only through the ledger.
    DeletedNoRetirement,
    /// The attribute cannot be read (no uuid, no type, …): counted as malformed input (exit 3).
    Malformed(String),
}

impl SkipReason {
    /// The short reason used for counting (no per-value detail).
    pub fn code(&self) -> &'static str {
        match self {
            SkipReason::NotIndicatorType => "not an indicator type",
            SkipReason::NotIds => "to_ids false",
            SkipReason::Expired => "expired",
            SkipReason::InvalidValue(_) => "invalid value",
            SkipReason::Private => "private",
            SkipReason::Filtered(_) => "filtered",
            SkipReason::Allowlisted => "allowlisted",
            SkipReason::Warninglist(_) => "warninglist",
            SkipReason::TlpTooHigh => "tlp above --tlp-max",
            SkipReason::BelowMinConfidence => "below --min-confidence",
            SkipReason::NotExpressible(_) => "not expressible in this format",
            SkipReason::DuplicateKey => "duplicate key",
            SkipReason::DeletedNoRetirement => "deleted (retired only by --retire-missing)",
            SkipReason::Malformed(_) => "malformed attribute",
        }
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::InvalidValue(d)
            | SkipReason::Warninglist(d)
            | SkipReason::NotExpressible(d)
            | SkipReason::Malformed(d) => write!(f, "{}: {d}", self.code()),
            SkipReason::Filtered(why) => write!(f, "filtered: {why}"),
            _ => f.write_str(self.code()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tlp_tags_any_case() {
        assert_eq!(Tlp::from_tag("TLP:AMBER"), Some(Tlp::Amber));
        assert_eq!(Tlp::from_tag("tlp:white"), Some(Tlp::Clear));
        assert_eq!(Tlp::from_tag("tlp:amber+strict"), Some(Tlp::AmberStrict));
        assert_eq!(Tlp::from_tag("tlp:ex:chr"), None);
        assert_eq!(Tlp::from_tag("misp:tlp"), None);
        assert!(Tlp::Clear < Tlp::Green && Tlp::AmberStrict < Tlp::Red);
    }
}
