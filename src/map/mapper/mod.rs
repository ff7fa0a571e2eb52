//! One MISP attribute → zero or more [`Indicator`]s (docs/design.md#mapping,
//! #ids-and-keys, #values, #time, #retirement), or the one reason it gives
//! none. Composites are split into parts, values normalised and filtered,
//! TLP, confidence, labels and times decided.
//!
//! Checks run in this order, and the first that fails is the attribute's
//! reason: malformed, not an indicator type, `--types`/`--exclude-types`,
//! deleted / `to_ids` false, TLP above `--tlp-max`, below `--min-confidence`,
//! then per part: invalid value, private, allowlisted, warninglist, expired.
//!
//! Indicators are written into reusable slots ([`Parts`]) so that mapping
//! millions of attributes does not allocate for each.

use std::collections::HashSet;
use std::sync::OnceLock;

use chrono::Duration as ChronoDuration;

use crate::map::policy::allowlist::Allowlist;
use crate::map::policy::expiry::{ExpireFrom, Expiry};
use smallvec::SmallVec;

use crate::map::ids::part_uuid;
use crate::map::indicator::{
    ContextKey, EventContext, Indicator, ObjectContext, SkipReason, Tlp, ValueKind,
};
use crate::map::mapper::normalize::{normalize, Norm};
use crate::map::policy::warninglist::Warninglists;
use crate::misp::model::{Attribute, Event, Object, ObjectStub, Tag};
use crate::misp::value::trim;
use crate::time::{self, Timestamp};

/// The mapping policy (from the command line).
#[derive(Debug, Clone)]
pub struct MapOptions {
    pub now: Timestamp,
    pub include_non_ids: bool,
    /// Retire (instead of skip) attributes whose `to_ids` is false (formats with retirements).
    pub retire_non_ids: bool,
    /// Retire with STIX `revoked: true`.
    pub revoke: bool,
    /// Also emit the file-name part of `filename|<hash>` and `malware-sample`.
    pub include_filenames: bool,
    /// Keep the file-name part as context of a surviving hash part even without
    /// `include_filenames` (Graph puts both in one tiIndicator).
    pub filename_context: bool,
    pub include_expired: bool,
    pub allow_private: bool,
    pub default_tlp: Tlp,
    pub tlp_max: Tlp,
    pub default_confidence: u8,
    pub min_confidence: u8,
    pub expiry: Expiry,
    pub expire_from: ExpireFrom,
    /// Only these MISP types (`None`: all).
    pub types: Option<HashSet<String>>,
    pub exclude_types: HashSet<String>,
    /// Whether the output format carries retirements (STIX does; Defender and Graph do not).
    pub retirements: bool,
}

impl MapOptions {
    /// The defaults of the command line, at time `now`.
    pub fn new(now: Timestamp) -> Self {
        MapOptions {
            now,
            include_non_ids: false,
            retire_non_ids: false,
            revoke: false,
            include_filenames: false,
            filename_context: false,
            include_expired: false,
            allow_private: false,
            default_tlp: Tlp::Amber,
            tlp_max: Tlp::AmberStrict,
            default_confidence: 50,
            min_confidence: 0,
            expiry: Expiry::default(),
            expire_from: ExpireFrom::Misp,
            types: None,
            exclude_types: HashSet::new(),
            retirements: true,
        }
    }
}

/// How a MISP type splits into parts.
#[derive(Clone, Copy)]
enum Shape {
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
struct TypeInfo {
    /// The type's name, `'static` (a plain type is its own part type).
    name: &'static str,
    shape: Shape,
    /// The normalisers of the (left, right) parts; a plain type has only the first.
    norms: [Option<Norm>; 2],
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

fn type_table() -> &'static TypeTable {
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

/// What a tag means to the mapping.
enum TagMeaning<'t> {
    /// A `tlp:` tag (`None`: a level with no marking, such as `ex:chr`).
    Tlp(Option<Tlp>),
    /// `misp:confidence-level="…"` (`None`: cannot be evaluated).
    Confidence(Option<u8>),
    /// `kill-chain:<phase>`: also a label.
    KillChain(&'t str),
    Label,
}

fn meaning(name: &str) -> TagMeaning<'_> {
    let Some((ns, rest)) = name.split_once(':') else {
        return TagMeaning::Label;
    };
    if ns.eq_ignore_ascii_case("tlp") {
        return TagMeaning::Tlp(Tlp::parse(rest));
    }
    if ns.eq_ignore_ascii_case("misp") {
        if let Some(v) = rest.strip_prefix("confidence-level=") {
            return TagMeaning::Confidence(match v.trim_matches('"') {
                "completely-confident" => Some(100),
                "usually-confident" => Some(75),
                "fairly-confident" => Some(50),
                "rarely-confident" => Some(25),
                "unconfident" => Some(0),
                _ => None,
            });
        }
    }
    if ns.eq_ignore_ascii_case("kill-chain") {
        return TagMeaning::KillChain(rest.trim_matches('"'));
    }
    TagMeaning::Label
}

/// TLP, confidence, labels and kill-chain phases found in one level of tags.
#[derive(Default)]
struct TagSummary<'t> {
    tlp: Option<Tlp>,
    confidence: Option<u8>,
    /// A confidence tag that cannot be evaluated was seen.
    confidence_tagged: bool,
    /// Inline: tagged attributes have a tag or two, and this runs for each.
    labels: SmallVec<[&'t str; 4]>,
    kill_chain: SmallVec<[&'t str; 2]>,
}

impl<'t> TagSummary<'t> {
    fn add(&mut self, tag: &'t Tag<'_>) {
        let name: &'t str = tag.name.as_ref();
        match meaning(name) {
            // Several TLP tags on one level: the most restrictive wins.
            TagMeaning::Tlp(t) => self.tlp = self.tlp.max(t),
            TagMeaning::Confidence(c) => {
                self.confidence_tagged = true;
                if let Some(c) = c {
                    self.confidence = Some(self.confidence.map_or(c, |x| x.min(c)));
                }
            }
            TagMeaning::KillChain(p) => {
                self.kill_chain.push(p);
                self.push_label(tag, name);
            }
            TagMeaning::Label => self.push_label(tag, name),
        }
    }

    fn push_label(&mut self, tag: &Tag<'_>, name: &'t str) {
        if !tag.local.unwrap_or(false) && !name.is_empty() && !self.labels.contains(&name) {
            self.labels.push(name);
        }
    }

    fn is_empty(&self) -> bool {
        self.tlp.is_none()
            && !self.confidence_tagged
            && self.labels.is_empty()
            && self.kill_chain.is_empty()
    }
}

/// What the mapping needs of an event, computed once per event.
pub struct EventFacts<'t> {
    ctx: EventContext,
    /// Unique to this `EventFacts`: slots filled from it need no new copy of `ctx`.
    id: u64,
    tags: TagSummary<'t>,
    timestamp: Option<Timestamp>,
    publish: Option<Timestamp>,
    date: Option<Timestamp>,
}

impl<'t> EventFacts<'t> {
    /// From a full event or an attribute's event stub (`None`: nothing known).
    pub fn new(ev: Option<&'t Event<'_>>, attr_event_uuid: Option<&str>) -> Self {
        let mut tags = TagSummary::default();
        let Some(ev) = ev else {
            return EventFacts {
                ctx: EventContext {
                    uuid: attr_event_uuid.map(str::to_owned),
                    ..EventContext::default()
                },
                id: next_event_id(),
                tags,
                timestamp: None,
                publish: None,
                date: None,
            };
        };
        for t in &ev.tags {
            tags.add(t);
        }
        let orgc = ev.orgc.as_ref();
        EventFacts {
            ctx: EventContext {
                uuid: ev.uuid.as_deref().or(attr_event_uuid).map(str::to_owned),
                id: ev.id.as_deref().map(str::to_owned),
                info: ev.info.as_deref().map(str::to_owned),
                orgc_uuid: orgc.and_then(|o| o.uuid.as_deref()).map(str::to_owned),
                orgc_name: orgc.and_then(|o| o.name.as_deref()).map(str::to_owned),
                threat_level: ev.threat_level_id.and_then(|t| u8::try_from(t).ok()),
            },
            id: next_event_id(),
            tags,
            timestamp: ev.timestamp.and_then(time::from_epoch),
            publish: ev.publish_timestamp.and_then(time::from_epoch),
            date: ev.date.as_deref().and_then(time::parse_date),
        }
    }
}

/// A new [`EventFacts::id`] (never 0, which marks a slot not filled yet).
fn next_event_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// The object an attribute sits in, from an event's `Object[]` or an attribute's stub.
#[derive(Default, Clone, Copy)]
pub struct ObjectInfo<'t> {
    pub name: Option<&'t str>,
    pub timestamp: Option<i64>,
    pub deleted: bool,
    pub first_seen: Option<&'t str>,
    pub last_seen: Option<&'t str>,
}

impl<'t> ObjectInfo<'t> {
    pub fn of_object(o: &'t Object<'_>) -> Self {
        ObjectInfo {
            name: o.name.as_deref(),
            timestamp: o.timestamp,
            deleted: o.deleted.unwrap_or(false),
            first_seen: o.first_seen.as_deref(),
            last_seen: o.last_seen.as_deref(),
        }
    }

    pub fn of_stub(o: &'t ObjectStub<'_>) -> Self {
        ObjectInfo {
            name: o.name.as_deref(),
            timestamp: o.timestamp,
            deleted: o.deleted.unwrap_or(false),
            ..ObjectInfo::default()
        }
    }
}

/// Reusable indicator slots: the parts of the attribute mapped last.
#[derive(Default)]
pub struct Parts {
    items: Vec<Indicator>,
    /// Per slot: the [`EventFacts::id`] its `event` was copied from.
    events: Vec<u64>,
    len: usize,
}

impl Parts {
    pub fn as_slice(&self) -> &[Indicator] {
        &self.items[..self.len]
    }

    fn clear(&mut self) {
        self.len = 0;
    }

    /// The next free slot (its old content is overwritten field by field), and
    /// the id of the event it holds.
    fn slot(&mut self) -> (&mut Indicator, &mut u64) {
        if self.items.len() == self.len {
            self.items.push(blank());
            self.events.push(0);
        }
        (&mut self.items[self.len], &mut self.events[self.len])
    }

    fn commit(&mut self) {
        self.len += 1;
    }
}

fn blank() -> Indicator {
    let epoch = Timestamp::default();
    Indicator {
        id: uuid::Uuid::nil(),
        attribute_uuid: String::new(),
        misp_type: String::new(),
        part_type: String::new(),
        kind: ValueKind::Domain,
        value: String::new(),
        port: None,
        category: None,
        comment: None,
        object: None,
        event: EventContext::default(),
        labels: Vec::new(),
        tlp: Tlp::Amber,
        tlp_tagged: false,
        confidence: 0,
        to_ids: true,
        kill_chain: Vec::new(),
        created: epoch,
        modified: epoch,
        valid_from: epoch,
        valid_until: epoch,
        retired: false,
        revoked: false,
        context: ContextKey::default(),
    }
}

fn set(dst: &mut String, src: &str) {
    dst.clear();
    dst.push_str(src);
}

fn set_opt(dst: &mut Option<String>, src: Option<&str>) {
    match (dst.as_mut(), src) {
        (Some(d), Some(s)) => set(d, s),
        (_, None) => *dst = None,
        (None, Some(s)) => *dst = Some(s.to_owned()),
    }
}

/// Sets `dst` to the names of `src`, without repeats (first occurrence kept),
/// reusing `dst`'s strings: no list of the names seen is built.
fn set_unique<'s>(dst: &mut Vec<String>, src: impl Iterator<Item = &'s str>) {
    let mut n = 0;
    for s in src {
        if dst[..n].iter().any(|d| d == s) {
            continue;
        }
        match dst.get_mut(n) {
            Some(d) => set(d, s),
            None => dst.push(s.to_owned()),
        }
        n += 1;
    }
    dst.truncate(n);
}

fn set_event(dst: &mut EventContext, src: &EventContext) {
    set_opt(&mut dst.uuid, src.uuid.as_deref());
    set_opt(&mut dst.id, src.id.as_deref());
    set_opt(&mut dst.info, src.info.as_deref());
    set_opt(&mut dst.orgc_uuid, src.orgc_uuid.as_deref());
    set_opt(&mut dst.orgc_name, src.orgc_name.as_deref());
    dst.threat_level = src.threat_level;
}

/// 1–16 for MISP's 16 categories (`describeTypes.json`), nearly every `category`.
fn category_index(category: &str) -> Option<u64> {
    Some(match category {
        "Internal reference" => 1,
        "Targeting data" => 2,
        "Antivirus detection" => 3,
        "Payload delivery" => 4,
        "Artifacts dropped" => 5,
        "Payload installation" => 6,
        "Persistence mechanism" => 7,
        "Network activity" => 8,
        "Payload type" => 9,
        "Attribution" => 10,
        "External analysis" => 11,
        "Financial fraud" => 12,
        "Support Tool" => 13,
        "Social network" => 14,
        "Person" => 15,
        "Other" => 16,
        _ => return None,
    })
}

/// Their kill-chain phase names, in the order of [`category_index`].
const CATEGORY_SLUGS: [&str; 16] = [
    "internal-reference",
    "targeting-data",
    "antivirus-detection",
    "payload-delivery",
    "artifacts-dropped",
    "payload-installation",
    "persistence-mechanism",
    "network-activity",
    "payload-type",
    "attribution",
    "external-analysis",
    "financial-fraud",
    "support-tool",
    "social-network",
    "person",
    "other",
];

/// `Network activity` → `network-activity` (STIX wants lower case and hyphens in phase names).
fn push_slug(dst: &mut String, s: &str) {
    dst.clear();
    let s = trim(s);
    if s.is_ascii() {
        dst.extend(s.bytes().map(|b| {
            if b.is_ascii_whitespace() || b == b'_' {
                '-'
            } else {
                b.to_ascii_lowercase() as char
            }
        }));
        return;
    }
    for c in s.chars() {
        if c.is_whitespace() || c == '_' {
            dst.push('-');
        } else {
            dst.extend(c.to_lowercase());
        }
    }
}

/// Time fields shared by the parts of one attribute.
struct Times {
    created: Timestamp,
    modified: Timestamp,
    valid_from: Timestamp,
    last_seen: Option<Timestamp>,
    reference: Timestamp,
}

/// End-of-validity times kept by a [`Mapper`] (one per expiry class, mostly).
const UNTIL_CACHED: usize = 8;

pub struct Mapper {
    pub opts: MapOptions,
    allowlist: Allowlist,
    warninglists: Warninglists,
    /// The last few end-of-validity times computed: an event's attributes
    /// mostly share their reference time and the expiry of their kind.
    until: std::cell::RefCell<Vec<(Timestamp, std::time::Duration, Timestamp)>>,
}

impl Mapper {
    pub fn new(opts: MapOptions, allowlist: Allowlist, warninglists: Warninglists) -> Self {
        Mapper {
            opts,
            allowlist,
            warninglists,
            until: std::cell::RefCell::new(Vec::with_capacity(UNTIL_CACHED)),
        }
    }

    /// Maps one attribute into `parts` (primary part first). `Err` when no part is left.
    pub fn map(
        &self,
        attr: &Attribute<'_>,
        object: Option<ObjectInfo<'_>>,
        ev: &EventFacts<'_>,
        parts: &mut Parts,
    ) -> Result<(), SkipReason> {
        parts.clear();
        let o = &self.opts;
        let malformed = |what: &str| SkipReason::Malformed(what.to_string());
        let misp_type = attr.kind.as_deref().ok_or_else(|| malformed("no type"))?;
        let raw = attr.value.as_deref().ok_or_else(|| malformed("no value"))?;
        let uuid_str = attr.uuid.as_deref().ok_or_else(|| malformed("no uuid"))?;
        let uuid =
            uuid::Uuid::try_parse(trim(uuid_str)).map_err(|_| malformed("uuid is not a UUID"))?;

        let info = type_table()
            .get(misp_type)
            .ok_or(SkipReason::NotIndicatorType)?;
        if o.types.as_ref().is_some_and(|t| !t.contains(misp_type)) {
            return Err(SkipReason::Filtered("--types"));
        }
        if o.exclude_types.contains(misp_type) {
            return Err(SkipReason::Filtered("--exclude-types"));
        }

        let object = object.unwrap_or_default();
        let to_ids = attr.to_ids.unwrap_or_else(|| default_to_ids(misp_type));
        let retired = if attr.deleted.unwrap_or(false) || object.deleted {
            if !o.retirements {
                return Err(SkipReason::DeletedNoRetirement);
            }
            true
        } else if !to_ids && !o.include_non_ids {
            if !(o.retire_non_ids && o.retirements) {
                return Err(SkipReason::NotIds);
            }
            true
        } else {
            false
        };

        // Tags: the attribute's own over the event's (and inherited event tags).
        let mut own = TagSummary::default();
        let mut inherited = TagSummary::default();
        for t in &attr.tags {
            if t.inherited.unwrap_or(false) {
                inherited.add(t);
            } else {
                own.add(t);
            }
        }
        let event_tlp = inherited.tlp.max(ev.tags.tlp);
        let tlp_found = own.tlp.or(event_tlp);
        let tlp = tlp_found.unwrap_or(o.default_tlp);
        if tlp > o.tlp_max {
            return Err(SkipReason::TlpTooHigh);
        }
        let min = |a: Option<u8>, b: Option<u8>| match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let confidence = own
            .confidence
            .or_else(|| {
                if own.confidence_tagged {
                    None
                } else {
                    min(inherited.confidence, ev.tags.confidence)
                }
            })
            .unwrap_or(o.default_confidence);
        if confidence < o.min_confidence {
            return Err(SkipReason::BelowMinConfidence);
        }

        let times = self.times(attr, &object, ev)?;

        // Split the value.
        let halves: [Option<(&str, &'static str, Norm)>; 2];
        let mut port = None;
        let primary;
        let mut filename_left = false;
        match info.shape {
            Shape::Plain => {
                halves = [info.norms[0].map(|n| (raw, info.name, n)), None];
                primary = 0;
            }
            Shape::Composite {
                left,
                right,
                primary: p,
                port: has_port,
                filename_left: fl,
            } => {
                let mut it = raw.split('|');
                let (Some(l), Some(r), None) = (it.next(), it.next(), it.next()) else {
                    return Err(SkipReason::InvalidValue(format!(
                        "{misp_type} value needs exactly one '|'"
                    )));
                };
                if has_port {
                    let r = trim(r);
                    port = Some(r.parse::<u16>().map_err(|_| {
                        SkipReason::InvalidValue(format!("port {r:?} is not a number 0-65535"))
                    })?);
                }
                halves = [
                    left.zip(info.norms[0]).map(|(t, n)| (l, t, n)),
                    right.zip(info.norms[1]).map(|(t, n)| (r, t, n)),
                ];
                primary = p;
                filename_left = fl;
            }
        }

        // Sinks may reuse parts between indicators (see `ContextKey`): one
        // event's name (its `info`; without one the name is the type),
        // creator and references; and for its attributes without tags of
        // their own, labels and kill-chain phases by category.
        let named = ev.ctx.info.as_deref().is_some_and(|i| !trim(i).is_empty());
        let untagged = inherited.is_empty() && own.is_empty();
        let category_ix = attr.category.as_deref().and_then(category_index);
        let key = ContextKey {
            event: if named { ev.id } else { 0 },
            labels: if untagged { ev.id } else { 0 },
            kill_chain: match category_ix {
                Some(c) if untagged => ev.id << 5 | c,
                _ => 0,
            },
        };
        let mut first_err: Option<SkipReason> = None;
        let mut primary_ok = false;
        let order = if primary == 0 { [0, 1] } else { [1, 0] };
        for i in order {
            let Some((value, part_type, norm)) = halves[i] else {
                continue;
            };
            if filename_left
                && i == 0
                && !o.include_filenames
                && !(o.filename_context && primary_ok)
            {
                continue;
            }
            let (slot, slot_event) = parts.slot();
            let res = self.fill_part(
                slot,
                value,
                part_type,
                norm,
                i == primary,
                uuid,
                uuid_str,
                misp_type,
                &times,
                retired,
            );
            match res {
                Ok(()) => {
                    slot.port = port;
                    slot.to_ids = to_ids;
                    slot.tlp = tlp;
                    slot.tlp_tagged = tlp_found.is_some();
                    slot.confidence = confidence;
                    set(&mut slot.misp_type, misp_type);
                    set_opt(&mut slot.category, attr.category.as_deref());
                    set_opt(
                        &mut slot.comment,
                        attr.comment.as_deref().filter(|c| !trim(c).is_empty()),
                    );
                    match (
                        &mut slot.object,
                        object.name.or(attr.object_relation.as_deref().map(|_| "")),
                    ) {
                        (_, None) => slot.object = None,
                        (Some(oc), Some(name)) => {
                            set(&mut oc.name, name);
                            set_opt(&mut oc.relation, attr.object_relation.as_deref());
                        }
                        (None, Some(name)) => {
                            slot.object = Some(ObjectContext {
                                name: name.to_owned(),
                                relation: attr.object_relation.as_deref().map(str::to_owned),
                            })
                        }
                    }
                    // Attributes of one event fill the same slots: copy its context once.
                    if *slot_event != ev.id {
                        set_event(&mut slot.event, &ev.ctx);
                        *slot_event = ev.id;
                    }
                    // Labels and kill-chain phases: those of the last attribute in
                    // this slot when their key is the same (see `ContextKey`).
                    if key.labels == 0 || slot.context.labels != key.labels {
                        let labels = (ev.tags.labels.iter().copied())
                            .chain(inherited.labels.iter().copied());
                        set_unique(&mut slot.labels, labels.chain(own.labels.iter().copied()));
                    }
                    if key.kill_chain == 0 || slot.context.kill_chain != key.kill_chain {
                        let category = attr.category.as_deref().map(|c| (c, category_ix));
                        self.set_kill_chain(slot, category, ev, &inherited, &own);
                    }
                    slot.context = key;
                    parts.commit();
                    primary_ok |= i == primary;
                }
                Err(e) => {
                    if first_err.is_none() {
                        first_err = Some(e);
                    }
                }
            }
        }
        if parts.len == 0 {
            return Err(first_err.unwrap_or(SkipReason::NotIndicatorType));
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn fill_part(
        &self,
        slot: &mut Indicator,
        value: &str,
        part_type: &'static str,
        norm: Norm,
        is_primary: bool,
        uuid: uuid::Uuid,
        uuid_str: &str,
        misp_type: &str,
        times: &Times,
        retired: bool,
    ) -> Result<(), SkipReason> {
        let o = &self.opts;
        let (kind, private) = normalize(norm, value, &mut slot.value, !o.allow_private)?;
        if private {
            return Err(SkipReason::Private);
        }
        if self.allowlist.matches(kind, &slot.value) {
            return Err(SkipReason::Allowlisted);
        }
        if let Some(name) = self
            .warninglists
            .check(misp_type, part_type, kind, &slot.value)
        {
            return Err(SkipReason::Warninglist(name.to_string()));
        }
        let one_ms = ChronoDuration::milliseconds(1);
        let mut valid_until = self.until(
            times.last_seen.unwrap_or(times.reference),
            o.expiry.for_kind(kind),
        );
        if valid_until <= times.valid_from {
            valid_until = times.valid_from + one_ms;
        }
        let mut revoked = false;
        if retired {
            if o.revoke {
                revoked = true;
            } else {
                valid_until = o.now.max(times.valid_from + one_ms);
            }
        } else if valid_until <= o.now && !o.include_expired {
            return Err(SkipReason::Expired);
        }
        slot.id = if is_primary {
            uuid
        } else {
            part_uuid(trim(uuid_str), part_type)
        };
        slot.kind = kind;
        set(&mut slot.attribute_uuid, trim(uuid_str));
        set(&mut slot.part_type, part_type);
        slot.created = times.created;
        slot.modified = times.modified;
        slot.valid_from = times.valid_from;
        slot.valid_until = valid_until;
        slot.retired = retired;
        slot.revoked = revoked;
        Ok(())
    }

    /// `from` plus `expiry`, from the cache when computed lately.
    fn until(&self, from: Timestamp, expiry: std::time::Duration) -> Timestamp {
        let mut cache = self.until.borrow_mut();
        if let Some(&(_, _, t)) = cache.iter().find(|(f, e, _)| *f == from && *e == expiry) {
            return t;
        }
        let t = time::add(&from, expiry);
        if cache.len() == UNTIL_CACHED {
            cache.remove(0);
        }
        cache.push((from, expiry, t));
        t
    }

    fn set_kill_chain(
        &self,
        slot: &mut Indicator,
        // The attribute's category and its `category_index`, when MISP knows it.
        category: Option<(&str, Option<u64>)>,
        ev: &EventFacts<'_>,
        inherited: &TagSummary<'_>,
        own: &TagSummary<'_>,
    ) {
        let phases = (own.kill_chain.iter().copied())
            .chain(inherited.kill_chain.iter().copied())
            .chain(ev.tags.kill_chain.iter().copied());
        let mut n = 0;
        let mut put = |slot: &mut Indicator, chain: &str, phase: &str, known: Option<u64>| {
            if slot.kill_chain.len() == n {
                slot.kill_chain.push((String::new(), String::new()));
            }
            let (c, p) = &mut slot.kill_chain[n];
            set(c, chain);
            match known {
                // MISP's own categories from the table: this runs for most indicators.
                Some(i) => set(p, CATEGORY_SLUGS[i as usize - 1]),
                None => push_slug(p, phase),
            }
            n += 1;
        };
        if let Some((c, ix)) = category.filter(|(c, _)| !trim(c).is_empty()) {
            put(slot, "misp-category", c, ix);
        }
        for p in phases {
            put(slot, "lockheed-martin-cyber-kill-chain", p, None);
        }
        slot.kill_chain.truncate(n);
    }

    fn times(
        &self,
        attr: &Attribute<'_>,
        obj: &ObjectInfo<'_>,
        ev: &EventFacts<'_>,
    ) -> Result<Times, SkipReason> {
        let malformed = |what: String| SkipReason::Malformed(what);
        let attr_ts = attr
            .timestamp
            .or(obj.timestamp)
            .and_then(time::from_epoch)
            .or(ev.timestamp)
            .ok_or_else(|| malformed("no timestamp".into()))?;
        let modified = [obj.timestamp.and_then(time::from_epoch), ev.timestamp]
            .into_iter()
            .flatten()
            .fold(attr_ts, Timestamp::max);
        let created = ev.date.map_or(attr_ts, |d| d.min(modified));
        let seen = |s: Option<&str>, what: &str| -> Result<Option<Timestamp>, SkipReason> {
            match s.map(str::trim).filter(|s| !s.is_empty()) {
                None => Ok(None),
                Some(s) => time::parse_misp_time(s)
                    .map(Some)
                    .ok_or_else(|| malformed(format!("{what} {s:?} is not a time"))),
            }
        };
        let first_seen = seen(attr.first_seen.as_deref().or(obj.first_seen), "first_seen")?;
        let last_seen = seen(attr.last_seen.as_deref().or(obj.last_seen), "last_seen")?;
        let reference = match self.opts.expire_from {
            ExpireFrom::Misp => ev.publish.map_or(attr_ts, |p| p.max(attr_ts)),
            ExpireFrom::Now => time::start_of_day(&self.opts.now),
        };
        Ok(Times {
            created,
            modified,
            valid_from: first_seen.unwrap_or(attr_ts),
            last_seen,
            reference,
        })
    }
}

pub mod normalize;
pub mod refang;

#[cfg(test)]
mod tests;
