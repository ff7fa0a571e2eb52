//! What `graph-push` needs to know about one input record
//! (docs/design.md#ids-and-keys, #retirement, #results): its kind, its key,
//! whether it is live or a retirement, its `modified` and validity end, and a
//! stable hash of its content.

use serde_json::{Map, Value};

use crate::time::{self, Timestamp};

/// The three record kinds `ioc-map` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    Stix,
    Defender,
    Graph,
}

impl RecordKind {
    pub fn name(self) -> &'static str {
        match self {
            RecordKind::Stix => "STIX",
            RecordKind::Defender => "Defender indicator",
            RecordKind::Graph => "Graph tiIndicator",
        }
    }

    /// The field that ends the record's validity.
    pub fn validity_field(self) -> &'static str {
        match self {
            RecordKind::Stix => "valid_until",
            RecordKind::Defender => "expirationTime",
            RecordKind::Graph => "expirationDateTime",
        }
    }
}

/// The STIX object types Sentinel's upload API takes (docs/graph-push.md#context-objects---target-sentinel):
/// indicators, the shared objects that give them context, and relationships.
pub const SHARED_STIX_TYPES: &[&str] = &["identity", "attack-pattern", "threat-actor"];

/// The STIX `type` of a record, if it has one.
pub fn stix_type(v: &Value) -> Option<&str> {
    v.get("type").and_then(Value::as_str)
}

/// A shared context object (identity, attack-pattern, threat-actor): sent once,
/// then unchanged through the ledger, never retired by `--retire-missing`.
pub fn is_shared(v: &Value) -> bool {
    stix_type(v).is_some_and(|t| SHARED_STIX_TYPES.contains(&t))
}

/// The two ends (`source_ref`, `target_ref`) of a STIX relationship; `None`
/// for any other record, an error for a relationship without both ends.
pub fn relationship_ends(v: &Value) -> Option<Result<[String; 2], String>> {
    if stix_type(v) != Some("relationship") {
        return None;
    }
    let end = |f: &str| {
        v.get(f)
            .and_then(Value::as_str)
            .filter(|s| s.contains("--"))
            .map(str::to_string)
            .ok_or_else(|| format!("relationship without a {f}"))
    };
    Some(end("source_ref").and_then(|s| Ok([s, end("target_ref")?])))
}

/// Graph tiIndicator observable fields (docs/design.md#graph-tiindicators): any
/// one marks a tiIndicator.
const GRAPH_OBSERVABLES: &[&str] = &[
    "domainName",
    "url",
    "userAgent",
    "networkSourceIPv4",
    "networkSourceIPv6",
    "networkDestinationIPv4",
    "networkDestinationIPv6",
    "networkIPv4",
    "networkIPv6",
    "networkSourceCidrBlock",
    "networkDestinationCidrBlock",
    "networkCidrBlock",
    "fileHashValue",
    "fileName",
    "fileMutexName",
    "filePath",
    "emailSenderAddress",
    "emailSourceDomain",
    "emailSourceIpAddress",
    "emailRecipient",
    "emailSubject",
];

/// Recognises a record's kind by its shape (docs/design.md#ids-and-keys).
pub fn kind_of(v: &Value) -> Option<RecordKind> {
    let o = v.as_object()?;
    if o.contains_key("type") && o.contains_key("spec_version") {
        Some(RecordKind::Stix)
    } else if o.contains_key("indicatorType") && o.contains_key("indicatorValue") {
        Some(RecordKind::Defender)
    } else if o.contains_key("targetProduct")
        || GRAPH_OBSERVABLES.iter().any(|f| o.contains_key(*f))
    {
        Some(RecordKind::Graph)
    } else {
        None
    }
}

/// The facts about one record that batching, results and the ledger use.
#[derive(Debug, Clone)]
pub struct Facts {
    pub key: String,
    /// 128 bits of SHA-1 over kind and key: the ledger's index key.
    pub key_hash: u128,
    /// False for a retirement (by its own fields, see [`facts`]) or a lapsed record.
    pub live: bool,
    /// STIX `modified` (None for other kinds).
    pub modified: Option<Timestamp>,
    /// The validity end, if the record has one.
    pub valid_end: Option<Timestamp>,
    /// Hash of the content without created/modified/valid_from and the validity end.
    pub content_hash: u64,
}

fn str_field<'a>(o: &'a Map<String, Value>, f: &str) -> Option<&'a str> {
    o.get(f).and_then(Value::as_str)
}

fn time_field(o: &Map<String, Value>, f: &str) -> Result<Option<Timestamp>, String> {
    match o.get(f) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => time::parse_rfc3339(s)
            .map(Some)
            .ok_or_else(|| format!("{f} {s:?} is not an RFC 3339 time")),
        Some(_) => Err(format!("{f} is not a string")),
    }
}

/// The key of a record of a known kind, or why it has none.
pub fn key_of(kind: RecordKind, o: &Map<String, Value>) -> Result<String, String> {
    match kind {
        RecordKind::Stix => str_field(o, "id")
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .ok_or_else(|| "STIX object without an id".to_string()),
        RecordKind::Defender => match (
            str_field(o, "indicatorType"),
            str_field(o, "indicatorValue"),
        ) {
            (Some(t), Some(v)) if !t.is_empty() && !v.is_empty() => Ok(format!("{t}:{v}")),
            _ => Err("indicatorType or indicatorValue empty or not a string".to_string()),
        },
        RecordKind::Graph => str_field(o, "externalId")
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .ok_or_else(|| "tiIndicator without an externalId".to_string()),
    }
}

/// Hashes a key of a kind into the ledger's 128-bit index key.
pub fn key_hash(kind: RecordKind, key: &str) -> u128 {
    let mut h = sha1_smol::Sha1::new();
    h.update(kind.name().as_bytes());
    h.update(&[0]);
    h.update(key.as_bytes());
    let d = h.digest().bytes();
    u128::from_be_bytes(d[..16].try_into().expect("16 bytes"))
}

/// Reads the facts of a record of a known kind.
///
/// Live or not (docs/design.md#retirement): a retirement says so itself, never
/// by the pushing process's clock: STIX `revoked: true`, or a `valid_until` at
/// or before the record's own `modified` (a version already over when it was
/// made, as ioc-map and `--retire-missing` write retirements); Graph
/// `isActive: false`. Any record whose validity ended before `now` has lapsed
/// and is not live either: it is not worth sending as a new indicator. A
/// retirement stamped with a clock a little ahead of `now` therefore stays a
/// retirement, where comparing its `valid_until` with `now` made it look live.
pub fn facts(kind: RecordKind, v: &Value, now: &Timestamp) -> Result<Facts, String> {
    let o = v.as_object().ok_or("not a JSON object")?;
    let key = key_of(kind, o)?;
    let valid_end = time_field(o, kind.validity_field())?;
    let modified = match kind {
        RecordKind::Stix => Some(time_field(o, "modified")?.ok_or("STIX object without modified")?),
        _ => None,
    };
    let live = !is_retirement(kind, o, modified.as_ref(), valid_end.as_ref())
        && valid_end.is_none_or(|end| end > *now);
    Ok(Facts {
        key_hash: key_hash(kind, &key),
        key,
        live,
        modified,
        valid_end,
        content_hash: content_hash(kind, o),
    })
}

/// A record that says by itself that it retires its key (see [`facts`]).
fn is_retirement(
    kind: RecordKind,
    o: &Map<String, Value>,
    modified: Option<&Timestamp>,
    valid_end: Option<&Timestamp>,
) -> bool {
    match kind {
        RecordKind::Stix => {
            o.get("revoked") == Some(&Value::Bool(true))
                || matches!((valid_end, modified), (Some(end), Some(m)) if end <= m)
        }
        RecordKind::Graph => o.get("isActive") == Some(&Value::Bool(false)),
        RecordKind::Defender => false,
    }
}

/// A stable 64-bit hash of the record's content: keys sorted, and without
/// the fields that change on every mapping run (docs/design.md#results).
pub fn content_hash(kind: RecordKind, o: &Map<String, Value>) -> u64 {
    let skip = ["created", "modified", "valid_from", kind.validity_field()];
    let mut h = sha1_smol::Sha1::new();
    let mut keys: Vec<&String> = o.keys().filter(|k| !skip.contains(&k.as_str())).collect();
    keys.sort();
    for k in keys {
        h.update(k.as_bytes());
        h.update(&[0]);
        canonical(&o[k.as_str()], &mut h);
    }
    let d = h.digest().bytes();
    u64::from_be_bytes(d[..8].try_into().expect("8 bytes"))
}

/// Feeds a value to the hash with object keys in sorted order.
fn canonical(v: &Value, h: &mut sha1_smol::Sha1) {
    match v {
        Value::Object(o) => {
            let mut keys: Vec<&String> = o.keys().collect();
            keys.sort();
            h.update(b"{");
            for k in keys {
                h.update(k.as_bytes());
                h.update(&[0]);
                canonical(&o[k.as_str()], h);
            }
            h.update(b"}");
        }
        Value::Array(a) => {
            h.update(b"[");
            for x in a {
                canonical(x, h);
                h.update(b",");
            }
            h.update(b"]");
        }
        other => h.update(other.to_string().as_bytes()),
    }
}

/// Milliseconds since the epoch (the ledger's time unit).
pub fn millis(t: &Timestamp) -> i64 {
    t.timestamp_millis()
}

/// The inverse of [`millis`].
pub fn from_millis(ms: i64) -> Timestamp {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC)
}

/// What the remote echoes to identify a record in its per-record answer.
pub fn echo_of(kind: RecordKind, v: &Value) -> String {
    let field = match kind {
        RecordKind::Stix => "id",
        RecordKind::Defender => "indicatorValue",
        RecordKind::Graph => "externalId",
    };
    v.get(field)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> Timestamp {
        time::parse_rfc3339("2026-11-28T00:00:00Z").unwrap()
    }

    fn stix() -> Value {
        json!({"type":"indicator","spec_version":"2.1","id":"indicator--4c0b5f5e-8e1a-4c1e-9d7a-2f0c7d2b9a11",
            "created":"2026-03-02T10:15:00.000Z","modified":"2026-03-02T10:15:00.000Z",
            "pattern":"[domain-name:value = 'c2.example.net']","pattern_type":"stix",
            "valid_from":"2026-03-02T10:15:00Z","valid_until":"2027-06-01T00:00:00Z"})
    }

    #[test]
    fn kinds_by_shape() {
        assert_eq!(kind_of(&stix()), Some(RecordKind::Stix));
        assert_eq!(
            kind_of(&json!({"indicatorType":"DomainName","indicatorValue":"x.example"})),
            Some(RecordKind::Defender)
        );
        assert_eq!(
            kind_of(&json!({"externalId":"u","domainName":"x.example"})),
            Some(RecordKind::Graph)
        );
        assert_eq!(kind_of(&json!({"Event":{}})), None);
        let rel = json!({"type":"relationship","spec_version":"2.1","id":"relationship--1",
            "relationship_type":"indicates","source_ref":"indicator--a","target_ref":"attack-pattern--b"});
        assert_eq!(kind_of(&rel), Some(RecordKind::Stix));
        assert_eq!(
            relationship_ends(&rel).unwrap().unwrap(),
            ["indicator--a".to_string(), "attack-pattern--b".to_string()]
        );
        assert!(
            relationship_ends(&json!({"type":"relationship","source_ref":"indicator--a"}))
                .unwrap()
                .is_err()
        );
        assert!(relationship_ends(&stix()).is_none());
        for t in ["identity", "attack-pattern", "threat-actor"] {
            let o = json!({"type":t,"spec_version":"2.1","id":format!("{t}--1")});
            assert_eq!(kind_of(&o), Some(RecordKind::Stix));
            assert!(is_shared(&o));
        }
        assert!(!is_shared(&stix()));
        assert_eq!(kind_of(&json!([1])), None);
    }

    #[test]
    fn keys_and_liveness() {
        let f = facts(RecordKind::Stix, &stix(), &now()).unwrap();
        assert_eq!(f.key, "indicator--4c0b5f5e-8e1a-4c1e-9d7a-2f0c7d2b9a11");
        assert!(f.live);
        let mut retired = stix();
        retired["valid_until"] = json!("2026-11-28T00:00:00.000Z");
        assert!(!facts(RecordKind::Stix, &retired, &now()).unwrap().live);
        let mut revoked = stix();
        revoked["revoked"] = json!(true);
        assert!(!facts(RecordKind::Stix, &revoked, &now()).unwrap().live);
        let lapsed = {
            let mut r = stix();
            r["valid_until"] = json!("2026-11-27T23:59:59.999Z");
            r
        };
        assert!(!facts(RecordKind::Stix, &lapsed, &now()).unwrap().live);
        let d = json!({"indicatorType":"IpAddress","indicatorValue":"192.0.2.1","expirationTime":"2026-01-01T00:00:00Z"});
        let f = facts(RecordKind::Defender, &d, &now()).unwrap();
        assert_eq!(f.key, "IpAddress:192.0.2.1");
        assert!(!f.live);
        assert!(facts(RecordKind::Graph, &json!({"domainName":"x"}), &now()).is_err());
    }

    #[test]
    fn a_retirement_says_so_itself_whatever_the_clock() {
        // Stamped by a mapping host whose clock runs a second ahead of ours:
        // its validity ends after our `now`, but not after its own `modified`.
        let mut r = stix();
        r["modified"] = json!("2026-11-28T00:00:01.000Z");
        r["valid_until"] = json!("2026-11-28T00:00:01.000Z");
        assert!(!facts(RecordKind::Stix, &r, &now()).unwrap().live);
        // Even a day ahead.
        r["modified"] = json!("2026-11-29T00:00:00.000Z");
        r["valid_until"] = json!("2026-11-28T12:00:00.000Z");
        assert!(!facts(RecordKind::Stix, &r, &now()).unwrap().live);
        // Validity that ends a millisecond after its own `modified` is live.
        r["valid_until"] = json!("2026-11-29T00:00:00.001Z");
        assert!(facts(RecordKind::Stix, &r, &now()).unwrap().live);
        let g = json!({"externalId":"u","domainName":"x.example","isActive":false,
            "expirationDateTime":"2027-01-01T00:00:00Z"});
        assert!(!facts(RecordKind::Graph, &g, &now()).unwrap().live);
    }

    #[test]
    fn content_ignores_times_and_key_order() {
        let a = stix();
        let mut b = stix();
        b["modified"] = json!("2026-04-01T00:00:00.000Z");
        b["valid_until"] = json!("2028-01-01T00:00:00Z");
        let hash = |v: &Value| content_hash(RecordKind::Stix, v.as_object().unwrap());
        assert_eq!(hash(&a), hash(&b));
        let reordered: Value = serde_json::from_str(
            &serde_json::to_string(&json!({"pattern_type":"stix","x":{"b":1,"a":2}})).unwrap(),
        )
        .unwrap();
        assert_eq!(
            hash(&reordered),
            hash(&json!({"x":{"a":2,"b":1},"pattern_type":"stix"}))
        );
        b["pattern"] = json!("[domain-name:value = 'other.example']");
        assert_ne!(hash(&a), hash(&b));
        assert_ne!(
            key_hash(RecordKind::Stix, "a"),
            key_hash(RecordKind::Graph, "a"),
            "kinds never share an index key"
        );
    }
}
