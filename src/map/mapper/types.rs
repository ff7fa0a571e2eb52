//! The MISP types ioc-map maps (docs/design.md#mapping): how each splits
//! into parts and how each part is normalised; MISP's default `to_ids`.

use std::sync::OnceLock;

use crate::map::mapper::normalize::Norm;

/// How a MISP type splits into parts.
#[derive(Clone, Copy)]
pub(super) enum Shape {
    Plain,
    /// `left|right`; `None` for a half that is no indicator (a port, a registry value).
    Composite {
        left: Option<&'static str>,
        right: Option<&'static str>,
        /// Which half is the primary part (docs/design.md#ids-and-keys): 0 left, 1 right.
        primary: usize,
        /// The right half is a port.
        port: bool,
        /// The left half is a file name (emitted only with `--include-filenames`).
        filename_left: bool,
    },
}

/// What the mapping knows of a MISP type it maps.
pub(super) struct TypeInfo {
    /// The type's name, `'static` (a plain type is its own part type).
    pub(super) name: &'static str,
    pub(super) shape: Shape,
    /// The normalisers of the (left, right) parts; a plain type has only the first.
    pub(super) norms: [Option<Norm>; 2],
}

const PLAIN_TYPES: &[&str] = &[
    "ip-src",
    "ip-dst",
    "domain",
    "hostname",
    "onion-address",
    "url",
    "link",
    "uri",
    "email",
    "email-src",
    "email-dst",
    "email-src-display-name",
    "email-dst-display-name",
    "email-subject",
    "email-reply-to",
    "email-x-mailer",
    "email-attachment",
    "md5",
    "sha1",
    "sha224",
    "sha256",
    "sha384",
    "sha512",
    "sha512/224",
    "sha512/256",
    "sha3-224",
    "sha3-256",
    "sha3-384",
    "sha3-512",
    "ssdeep",
    "tlsh",
    "imphash",
    "impfuzzy",
    "authentihash",
    "vhash",
    "pehash",
    "telfhash",
    "cdhash",
    "filename",
    "x509-fingerprint-md5",
    "x509-fingerprint-sha1",
    "x509-fingerprint-sha256",
    "regkey",
    "mutex",
    "AS",
    "mac-address",
    "user-agent",
    "github-username",
    "yara",
    "sigma",
    "snort",
    "suricata",
];

const FILENAME_HASHES: &[(&str, &str)] = &[
    ("filename|md5", "md5"),
    ("filename|sha1", "sha1"),
    ("filename|sha224", "sha224"),
    ("filename|sha256", "sha256"),
    ("filename|sha384", "sha384"),
    ("filename|sha512", "sha512"),
    ("filename|sha512/224", "sha512/224"),
    ("filename|sha512/256", "sha512/256"),
    ("filename|sha3-224", "sha3-224"),
    ("filename|sha3-256", "sha3-256"),
    ("filename|sha3-384", "sha3-384"),
    ("filename|sha3-512", "sha3-512"),
    ("filename|authentihash", "authentihash"),
    ("filename|vhash", "vhash"),
    ("filename|ssdeep", "ssdeep"),
    ("filename|imphash", "imphash"),
    ("filename|impfuzzy", "impfuzzy"),
    ("filename|pehash", "pehash"),
    ("filename|tlsh", "tlsh"),
];

/// Looked up for every attribute: foldhash, not the default SipHash.
type TypeTable = foldhash::HashMap<&'static str, TypeInfo>;

pub(super) fn type_table() -> &'static TypeTable {
    static TABLE: OnceLock<TypeTable> = OnceLock::new();
    TABLE.get_or_init(|| {
        let comp = |left, right, primary, port, filename_left| Shape::Composite {
            left,
            right,
            primary,
            port,
            filename_left,
        };
        let mut m = TypeTable::default();
        let mut add = |name: &'static str, shape| {
            let norm = |t: &str| Some(Norm::of(t).expect("every part type has a normaliser"));
            let norms = match shape {
                Shape::Plain => [norm(name), None],
                Shape::Composite { left, right, .. } => [left.and_then(norm), right.and_then(norm)],
            };
            m.insert(name, TypeInfo { name, shape, norms });
        };
        for t in PLAIN_TYPES {
            add(t, Shape::Plain);
        }
        for (t, h) in FILENAME_HASHES {
            add(t, comp(Some("filename"), Some(*h), 1, false, true));
        }
        add(
            "malware-sample",
            comp(Some("filename"), Some("md5"), 1, false, true),
        );
        add("regkey|value", comp(Some("regkey"), None, 0, false, false));
        add(
            "domain|ip",
            comp(Some("domain"), Some("ip-dst"), 0, false, false),
        );
        add("ip-src|port", comp(Some("ip-src"), None, 0, true, false));
        add("ip-dst|port", comp(Some("ip-dst"), None, 0, true, false));
        add(
            "hostname|port",
            comp(Some("hostname"), None, 0, true, false),
        );
        m
    })
}

/// Every MISP type ioc-map maps (for `--types` and the README), sorted.
pub fn mapped_types() -> Vec<&'static str> {
    let mut v: Vec<&'static str> = type_table().keys().copied().collect();
    v.sort_unstable();
    v
}

/// MISP's default `to_ids` for a type (docs/design.md#mapping), used when the key is missing.
pub fn default_to_ids(t: &str) -> bool {
    !matches!(
        t,
        "AS" | "user-agent"
            | "mac-address"
            | "link"
            | "email-subject"
            | "email-reply-to"
            | "email-src-display-name"
            | "email-dst-display-name"
            | "email-x-mailer"
            | "github-username"
    )
}
