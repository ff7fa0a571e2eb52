//! Property tests for what `ioc-map` parses: MISP events and attributes in
//! any JSON shape, numbers and booleans in every spelling MISP uses, and the
//! STIX patterns built from them (escaping as in docs/design.md#mapping).

use misp2ms::io::output::Output;
use misp2ms::map::format::stix::{push_quoted, StixOptions, StixWriter};
use misp2ms::map::indicator::{HashAlgo, Indicator};
use misp2ms::map::mapper::{for_each_attribute, mapped_types, MapOptions, Mapper, Parts};
use misp2ms::map::policy::allowlist::Allowlist;
use misp2ms::map::policy::warninglist::Warninglists;
use misp2ms::misp::fields::all_keys;
use misp2ms::misp::model::{Attribute, Line, LineKind};
use misp2ms::misp::scan;
use misp2ms::time::parse_rfc3339;
use proptest::prelude::*;
use serde_json::{json, Map, Value};

use crate::support::stix_literal::unquote;

const UUID: &str = "8a6f0c1e-3b2d-4e5f-8a9b-0c1d2e3f4a5b";

/// The literal of a one-comparison pattern `[path = 'literal']`.
fn pattern_literal(pattern: &str) -> Option<String> {
    let at = pattern.find(" = '")?;
    let (lit, rest) = unquote(&pattern[at + 3..])?;
    (pattern.starts_with('[') && rest == "]").then_some(lit)
}

/// Where the STIX sinks of these tests write what they hold when dropped: a
/// temporary file that is never finished, so removed (stdout would be the test
/// process's own, which libtest does not capture: megabytes on the console).
fn scratch() -> Output {
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("properties_map.ndjson");
    Output::file(&path, false).unwrap()
}

fn mapper() -> Mapper {
    let mut o = MapOptions::new(parse_rfc3339("2026-11-28T00:00:00Z").unwrap());
    o.allow_private = true;
    o.include_expired = true;
    o.include_filenames = true;
    Mapper::new(o, Allowlist::default(), Warninglists::default())
}

/// What one attribute became: its indicators, or the reason it gave none.
type Mapped<'p> = Result<&'p [Indicator], String>;

/// Every attribute a line holds, with its object and event (the walk
/// `ioc-map` uses), mapped; `f` sees each attribute's result.
fn map_line(m: &Mapper, line: &Line, f: &mut dyn FnMut(&Attribute, Mapped)) {
    let mut parts = Parts::default();
    for_each_attribute(line, |a, obj, ev| {
        let r = m.map(a, obj, ev, &mut parts);
        f(a, r.map(|()| parts.as_slice()).map_err(|e| e.to_string()));
    });
}

/// JSON in the shape of MISP documents, with values of every JSON type in
/// every field (MISP servers, feeds and hand-made files all differ).
fn misp_json() -> impl Strategy<Value = Value> {
    let scalar = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        "\\PC{0,20}".prop_map(Value::from),
        "-?[0-9]{1,20}".prop_map(Value::from),
        "( ?0*[0-9]{1,22} ?)".prop_map(Value::from),
        "(0|1|true|false| 1 |)".prop_map(Value::from),
        "[0-9a-f-]{36}".prop_map(Value::from),
        Just(Value::from(UUID)),
        prop::sample::select(mapped_types()).prop_map(Value::from),
        "(tlp:(clear|white|green|amber|amber\\+strict|red)|misp:confidence-level=\"[a-z-]+\"|x)"
            .prop_map(Value::from),
    ];
    // Every key the model reads, and ones it skips: short, and long ones
    // (the reader compares keys of 17-32 bytes and longer ones in blocks)
    // that share their first bytes with a known key or with each other.
    let mut keys = all_keys();
    keys.extend([
        "other",
        "object_relationX",
        "sixteen_bytes_k1",
        "sixteen_bytes_k2",
        "a_key_of_forty_bytes_that_nobody_reads1",
        "a_key_of_forty_bytes_that_nobody_reads2",
    ]);
    let keys = prop::sample::select(keys);
    scalar.prop_recursive(5, 64, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((keys.clone(), inner), 0..8).prop_map(|kv| Value::Object(
                kv.into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect::<Map<_, _>>()
            )),
        ]
    })
}

fn re(pattern: &str) -> BoxedStrategy<String> {
    proptest::string::string_regex(pattern).unwrap().boxed()
}

/// An attribute close to a real one: a mapped type, a valid or random value,
/// and the other fields (tags, times, flags) drawn from every JSON type.
fn near_attribute() -> impl Strategy<Value = Value> {
    (
        typed_attribute(),
        "\\PC{0,30}",
        any::<bool>(),
        prop::collection::vec(
            (
                prop::sample::select(vec![
                    "to_ids", "deleted", "timestamp", "first_seen", "last_seen", "comment",
                    "category", "Tag", "object_relation", "Event", "Object", "uuid",
                ]),
                misp_json(),
            ),
            0..4,
        ),
    )
        .prop_map(|((ty, good), junk, valid, extra)| {
            let mut a = json!({"uuid": UUID, "type": ty, "value": if valid { good } else { junk },
                "to_ids": true, "timestamp": "1793491200",
                "Tag": [{"name": "tlp:green"}, {"name": "misp:confidence-level=\"usually-confident\""}]});
            for (k, v) in extra {
                a[k] = v;
            }
            a
        })
}

/// MISP documents around near-real attributes: bare, `{"Attribute":…}`,
/// events with objects, `{"response":…}`.
fn misp_document() -> impl Strategy<Value = Value> {
    (prop::collection::vec(near_attribute(), 1..4), 0u8..5, misp_json()).prop_map(|(attrs, shape, ev)| {
        match shape {
            0 => attrs[0].clone(),
            1 => json!({"Attribute": attrs}),
            2 => json!({"Event": {"uuid": UUID, "info": ev, "Attribute": attrs}}),
            3 => json!({"Event": {"uuid": UUID, "Tag": [{"name": "tlp:clear"}],
                "Object": [{"name": "file", "deleted": ev, "Attribute": attrs}]}}),
            _ => json!({"response": [{"Event": {"uuid": UUID, "Attribute": attrs}}, {"Attribute": attrs}]}),
        }
    })
}

/// A valid value of a MISP type (the property is that valid values survive
/// with their literal intact).
fn valid_value(ty: &str) -> BoxedStrategy<String> {
    let label = "[a-z0-9][a-z0-9-]{0,10}[a-z0-9]";
    let domain = (
        prop::collection::vec(label, 1..4),
        "(com|net|org|de|io|xn--p1ai)",
    )
        .prop_map(|(l, t)| format!("{}.{t}", l.join(".")))
        .boxed();
    let ip = prop_oneof![
        any::<std::net::Ipv4Addr>().prop_map(|a| a.to_string()),
        any::<std::net::Ipv6Addr>().prop_map(|a| a.to_string()),
        (any::<std::net::Ipv4Addr>(), 0u8..=32).prop_map(|(a, n)| format!("{a}/{n}")),
        (any::<std::net::Ipv6Addr>(), 0u8..=128).prop_map(|(a, n)| format!("{a}/{n}")),
    ]
    .boxed();
    // Free text with what STIX escaping is about: quotes and backslashes.
    let text = "[^\\p{C}]{0,10}['\\\\][^\\p{C}]{0,10}|[^\\p{C}]{1,30}"
        .prop_filter("not blank", |s: &String| !s.trim().is_empty())
        .boxed();
    let hex = |n: usize| format!("[0-9a-fA-F]{{{n}}}");
    if let Some(algo) = HashAlgo::from_misp(ty) {
        return match (algo, algo.hex_len()) {
            (_, Some(n)) => re(&hex(n)),
            (HashAlgo::Ssdeep | HashAlgo::Impfuzzy, _) => {
                re("[0-9]{1,5}:[A-Za-z0-9/+]{1,30}:[A-Za-z0-9/+]{1,30}")
            }
            (HashAlgo::Tlsh | HashAlgo::Telfhash, _) => re("(T1|t1|)[0-9a-fA-F]{70}"),
            (HashAlgo::Cdhash, _) => re("[0-9a-fA-F]{40,64}"),
            _ => re("[!-{}~]{1,40}"), // vhash: anything without blanks (or '|')
        };
    }
    if let Some((left, right)) = ty.split_once('|') {
        return (valid_value(left), valid_value(right))
            .prop_filter("one '|'", |(l, r)| !l.contains('|') && !r.contains('|'))
            .prop_map(|(l, r)| format!("{l}|{r}"))
            .boxed();
    }
    match ty {
        "ip-src" | "ip-dst" => ip,
        "domain" | "hostname" => domain,
        "onion-address" => re("[a-z2-7]{56}\\.onion"),
        "url" | "link" | "uri" => (
            "(http|https|ftp)",
            domain,
            "(/[a-zA-Z0-9'\\\\%._~!$&()*+,;=:@-]{0,12}){0,3}",
        )
            .prop_map(|(s, d, p)| format!("{s}://{d}{p}"))
            .boxed(),
        "email" | "email-src" | "email-dst" | "email-reply-to" => {
            ("[a-zA-Z0-9.'_%+\\\\-]{1,16}", domain)
                .prop_map(|(l, d)| format!("{l}@{d}"))
                .boxed()
        }
        "x509-fingerprint-md5" => re(&hex(32)),
        "x509-fingerprint-sha1" => re("([0-9a-f]{2}:){19}[0-9a-f]{2}"),
        "x509-fingerprint-sha256" => re(&hex(64)),
        "AS" => (any::<u32>(), "(AS|as|)")
            .prop_map(|(n, p)| format!("{p}{n}"))
            .boxed(),
        "mac-address" => re("([0-9a-fA-F]{2}[:-]){5}[0-9a-fA-F]{2}"),
        "filename" => re("[a-zA-Z0-9' _\\\\-]{1,12}\\.(exe|dll|pdf)"),
        "regkey" => re("HK(LM|CU)\\\\[A-Za-z0-9' \\\\]{1,30}"),
        "port" => (1u16..).prop_map(|p| p.to_string()).boxed(),
        // Subjects, names, user agents, registry values: free text.
        _ => text,
    }
}

/// The right half of a composite that is no indicator (a port, a registry value).
fn composite_value(ty: &str) -> BoxedStrategy<String> {
    match ty {
        "ip-src|port" | "ip-dst|port" => (valid_value("ip-dst"), valid_value("port"))
            .prop_filter("an address, not a block", |(ip, _)| !ip.contains('/'))
            .prop_map(|(ip, p)| format!("{ip}|{p}"))
            .boxed(),
        "hostname|port" => (valid_value("hostname"), valid_value("port"))
            .prop_map(|(h, p)| format!("{h}|{p}"))
            .boxed(),
        "regkey|value" => (valid_value("regkey"), valid_value("value"))
            .prop_filter("one '|'", |(_, v)| !v.contains('|'))
            .prop_map(|(k, v)| format!("{k}|{v}"))
            .boxed(),
        "domain|ip" => (valid_value("domain"), valid_value("ip-dst"))
            .prop_filter("an address, not a block", |(_, ip)| !ip.contains('/'))
            .prop_map(|(d, ip)| format!("{d}|{ip}"))
            .boxed(),
        "malware-sample" => valid_value("filename|md5"),
        _ => valid_value(ty),
    }
}

/// One valid attribute of a mapped type (rule types excepted: their pattern
/// is the rule itself), as (type, value).
fn typed_attribute() -> impl Strategy<Value = (String, String)> {
    let types: Vec<&'static str> = mapped_types()
        .into_iter()
        .filter(|t| !matches!(*t, "yara" | "sigma" | "snort" | "suricata"))
        .collect();
    prop::sample::select(types).prop_flat_map(|t| (Just(t.to_string()), composite_value(t)))
}

/// A number as MISP may send it.
fn num(n: i64, form: u8) -> Value {
    match form % 3 {
        0 => Value::from(n),
        1 => Value::from(n.to_string()),
        _ => Value::from(format!(" {n} ")),
    }
}

/// A boolean as MISP may send it.
fn boolean(b: bool, form: u8) -> Value {
    match form % 5 {
        0 => Value::from(b),
        1 => Value::from(u8::from(b)),
        2 => Value::from(if b { "1" } else { "0" }),
        3 => Value::from(if b { "true" } else { "false" }),
        _ => Value::from(if b { "True" } else { "False" }),
    }
}

/// Edits for `fast_reader_agrees_with_serde`.
const EDITS: &[&str] = &[
    "",
    "\"",
    "\\",
    ",",
    ":",
    "{",
    "}",
    "[",
    "]",
    " ",
    "\t",
    "\n",
    "\u{1}",
    "\\u12",
    "\\ud800",
    "\\u00e9",
    "\\n",
    "\\x",
    "0",
    "01",
    "-",
    "1e",
    ".5",
    "1e999",
    "99999999999999999999",
    "null",
    "tru",
    "\"id\":1,",
    "\"type\":\"md5\",",
    "\"uuid\":null,",
    "\"Tag\":[],",
    "\"ty\\u0070e\":\"x\",",
    "\"ty\\u0070e\":\"x\",\"type\":\"y\",",
    "\"type\" :\"md5\",",
    "\\/",
    "\\b",
    "\\f",
    "\\r",
    "\\t",
    "\\\\u0041",
    "\"name\":\"x\",",
    "\"orgc\":{},",
    "\"to_ids\":\"1\",",
    "\"timestamp\":\" 17 \",",
    "\u{e9}",
    // Members (after a `{`) and values (after a `:`) in forms JSON refuses
    // or MISP rarely sends; `other` is a key the model skips.
    "\"other\":01,",
    "\"other\":-1.,",
    "\"other\":1e+,",
    "\"other\":-0.5e-3,",
    "\"other\":\"\u{1}\",",
    "\"other\":\"\\ud800\",",
    "\"other\":[1,],",
    "\"other\":{\"a\":1,},",
    "\"other\":{\"a\" 1},",
    "\"other\":[[[[]]]],",
    "\"other\":nul,",
    "01,\"other\":",
    "17,\"other\":",
    "-17,\"other\":",
    "1.0,\"other\":",
    "\"17\",\"other\":",
    "\"x\\\"y\",\"other\":",
    "true,\"other\":",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The escaped literal reads back as the original, for any string.
    #[test]
    fn stix_escaping_round_trips(s in "\\PC{0,40}|[\\\\'a]{0,12}") {
        let mut out = String::new();
        push_quoted(&mut out, &s);
        let (back, rest) = unquote(&out).expect("a well-formed literal");
        prop_assert_eq!(back, s);
        prop_assert_eq!(rest, "");
    }

    /// Any JSON in MISP's shapes: parsing and mapping never panic, and every
    /// STIX record written is JSON whose pattern literal is the indicator's value.
    #[test]
    fn any_misp_json_maps_without_panic(v in prop_oneof![misp_json(), misp_document()]) {
        let text = serde_json::to_string(&v).unwrap();
        let Ok(line) = serde_json::from_str::<Line>(&text) else { return Ok(()) };
        let m = mapper();
        let mut sink = StixWriter::new(scratch(), StixOptions::default());
        let mut failure = None;
        map_line(&m, &line, &mut |_, r| {
            for ind in r.unwrap_or_default() {
                if failure.is_none() {
                    failure = check_record(&mut sink, ind).err();
                }
            }
        });
        if let Some(f) = failure {
            return Err(TestCaseError::fail(f));
        }
    }

    /// Arbitrary bytes: the line parser answers without panicking.
    #[test]
    fn any_bytes_parse_without_panic(b in prop::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(line) = serde_json::from_slice::<Line>(&b) {
            map_line(&mapper(), &line, &mut |_, _| {});
        }
    }

    /// Numbers and booleans read the same in every spelling MISP uses.
    #[test]
    fn numbers_and_booleans_in_any_spelling(
        id in any::<u32>(),
        ts in 0i64..4_000_000_000,
        tl in 1i64..5,
        flags in any::<[bool; 4]>(),
        forms in any::<[u8; 10]>(),
    ) {
        let doc = |f: [u8; 10]| json!({"Event": {
            "id": num(i64::from(id), f[0] % 2), "uuid": UUID, "info": "x",
            "threat_level_id": num(tl, f[1]), "timestamp": num(ts, f[2]),
            "publish_timestamp": num(ts, f[3]),
            "Tag": [{"name": "tlp:green", "local": boolean(flags[0], f[4])}],
            "Attribute": [{"id": num(i64::from(id), f[0] % 2), "uuid": UUID, "type": "domain",
                "value": "a.example.com", "to_ids": boolean(flags[1], f[5]),
                "deleted": boolean(flags[2], f[6]), "timestamp": num(ts, f[7]),
                "Tag": [{"name": "x", "inherited": boolean(flags[3], f[8])}]}],
            "Object": [{"name": "file", "timestamp": num(ts, f[9]), "deleted": boolean(flags[2], f[6]),
                "Attribute": []}],
        }});
        let a = serde_json::to_string(&doc(forms)).unwrap();
        let b = serde_json::to_string(&doc([0; 10])).unwrap();
        let (la, lb) = (serde_json::from_str::<Line>(&a).unwrap(), serde_json::from_str::<Line>(&b).unwrap());
        prop_assert_eq!(format!("{la:?}"), format!("{lb:?}"));
        let LineKind::Event(e) = la.kind() else { panic!("an event") };
        prop_assert_eq!(e.timestamp, Some(ts));
        prop_assert_eq!(e.threat_level_id, Some(tl));
        prop_assert_eq!(e.attributes[0].to_ids, Some(flags[1]));
        prop_assert_eq!(e.attributes[0].deleted, Some(flags[2]));
        // The id of a bare attribute (an event's attributes have theirs skipped: unused).
        let id_text = id.to_string();
        let bare = json!({"id": num(i64::from(id), forms[0] % 2), "type": "domain", "value": "x"}).to_string();
        let bare: Line = serde_json::from_str(&bare).unwrap();
        prop_assert_eq!(bare.id.as_deref(), Some(id_text.as_str()));
        // And the mapping sees the same: same indicators or the same reason.
        let outcome = |l: &Line| {
            let mut v = Vec::new();
            map_line(&mapper(), l, &mut |_, r| v.push(r.map(<[Indicator]>::to_vec)));
            v
        };
        prop_assert_eq!(outcome(&la), outcome(&lb));
    }

    /// A valid attribute of each mapped type becomes indicators whose STIX
    /// pattern literal reads back as the normalised value.
    #[test]
    fn valid_attributes_give_round_tripping_patterns((ty, value) in typed_attribute()) {
        let text = json!({"uuid": UUID, "type": ty, "value": value, "to_ids": true,
            "timestamp": "1793491200"}).to_string();
        let line: Line = serde_json::from_str(&text).unwrap();
        let mut sink = StixWriter::new(scratch(), StixOptions::default());
        let mut result = Ok(());
        map_line(&mapper(), &line, &mut |_, r| {
            result = match r {
                Err(e) if e.contains("no correct hash key") || e.contains("not expressible") => Ok(()),
                Err(e) => Err(format!("{ty} {value:?} not mapped: {e}")),
                Ok(parts) => parts.iter().try_for_each(|ind| check_record(&mut sink, ind)),
            };
        });
        result.map_err(TestCaseError::fail)?;
    }
}

/// Events whose attributes repeat and alternate what the STIX writer reuses
/// from one record to the next (event name, creator, labels, kill-chain
/// phases by category, times by expiry), with and without tags of their own.
fn repetitive_event() -> impl Strategy<Value = Value> {
    let tag = prop::sample::select(vec![
        "kill-chain:Delivery",
        "kill-chain:Exploitation",
        "osint:source-type=\"block-or-filter-list\"",
        "tlp:green",
        "tlp:amber+strict",
        "misp:confidence-level=\"usually-confident\"",
        "apt",
    ]);
    let attribute = (
        prop::sample::select(vec![
            ("domain", "a.example.com"),
            ("domain", "b.example.org"),
            ("ip-dst", "198.51.100.7"),
            ("md5", "d41d8cd98f00b204e9800998ecf8427e"),
            ("url", "https://c.example.net/x"),
            (
                "filename|sha256",
                "x.exe|e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            ),
        ]),
        prop::sample::select(vec![
            "Network activity",
            "Payload delivery",
            "Other",
            "Something else",
            "",
        ]),
        prop::collection::vec(tag.clone(), 0..3),
        0i64..4,
    )
        .prop_map(|((ty, value), category, tags, age)| {
            let tags: Vec<Value> = tags.into_iter().map(|t| json!({"name": t})).collect();
            let mut a = json!({"uuid": uuid::Uuid::new_v4().to_string(), "type": ty, "value": value,
                "category": category, "to_ids": true, "timestamp": 1793491200 - age * 86400});
            if !tags.is_empty() {
                a["Tag"] = Value::Array(tags);
            }
            a
        });
    (
        prop::sample::select(vec![Some("Campaign"), Some("  "), None]),
        prop::collection::vec(tag, 0..3),
        prop::collection::vec(attribute, 1..25),
    )
        .prop_map(|(info, tags, attrs)| {
            let tags: Vec<Value> = tags.into_iter().map(|t| json!({"name": t})).collect();
            let mut ev = json!({"uuid": UUID, "Orgc": {"uuid": UUID, "name": "CERT"},
                "timestamp": 1793491200, "publish_timestamp": 1793491200, "Tag": tags,
                "Attribute": attrs});
            if let Some(info) = info {
                ev["info"] = json!(info);
            }
            json!({"Event": ev})
        })
}

proptest! {
    /// What one sink writes for a whole event (reusing parts between records)
    /// is what a new sink writes for each record alone.
    #[test]
    fn reused_parts_equal_parts_built_anew(events in prop::collection::vec(repetitive_event(), 1..3)) {
        let mapper = mapper();
        let mut shared = StixWriter::new(scratch(), StixOptions::default());
        let mut result = Ok(());
        for event in &events {
            let text = event.to_string();
            let line: Line = serde_json::from_str(&text).unwrap();
            map_line(&mapper, &line, &mut |_, r| {
                for ind in r.unwrap_or(&[]) {
                    let mut alone = StixWriter::new(scratch(), StixOptions::default());
                    let both = (shared.record(ind), alone.record(ind));
                    if both.0.is_ok() && shared.buffer() != alone.buffer() {
                        result = Err(format!(
                            "reused:\n{}\nanew:\n{}",
                            String::from_utf8_lossy(shared.buffer()),
                            String::from_utf8_lossy(alone.buffer())
                        ));
                    }
                }
            });
        }
        result.map_err(TestCaseError::fail)?;
    }
}

/// Writes one STIX record and checks it: valid JSON, and a pattern whose
/// literal (or AS number) is exactly the indicator's value.
fn check_record(sink: &mut StixWriter, ind: &Indicator) -> Result<(), String> {
    if sink.record(ind).is_err() {
        return Ok(()); // not expressible in STIX: skipped with a reason
    }
    let v: Value = serde_json::from_slice(sink.buffer()).map_err(|e| {
        format!(
            "record is not JSON ({e}): {}",
            String::from_utf8_lossy(sink.buffer())
        )
    })?;
    let pattern = v["pattern"].as_str().ok_or("no pattern")?;
    if v["pattern_type"] != "stix" {
        return Ok(());
    }
    if let Some(n) = pattern.strip_prefix("[autonomous-system:number = ") {
        return (n.strip_suffix(']') == Some(ind.value.as_str()))
            .then_some(())
            .ok_or_else(|| format!("AS pattern {pattern:?} for {:?}", ind.value));
    }
    match pattern_literal(pattern) {
        Some(lit) if lit == ind.value => Ok(()),
        other => Err(format!(
            "pattern {pattern:?} reads back as {other:?}, not {:?}",
            ind.value
        )),
    }
}

// Regressions: inputs the properties above (or the fuzzer) once failed on.

proptest! {
    // Cheap cases, and edits that matter are rare among them: many cases.
    #![proptest_config(ProptestConfig::with_cases(16384))]

    /// The fast line reader gives what serde gives, or leaves the line to
    /// serde: on MISP-shaped JSON, compact or pretty, and on the same text
    /// with one edit (a cut, a stray byte, a duplicate key, an escape, a
    /// number JSON refuses) that makes it invalid or unusual.
    #[test]
    fn fast_reader_agrees_with_serde(
        v in prop_oneof![misp_json(), misp_document()],
        pretty in any::<bool>(),
        edit in prop::option::weighted(0.8, (any::<prop::sample::Index>(), 0usize..EDITS.len(), 0u8..4)),
    ) {
        let mut text = if pretty {
            serde_json::to_string_pretty(&v).unwrap()
        } else {
            serde_json::to_string(&v).unwrap()
        };
        if let Some((at, e, mode)) = edit {
            // Anywhere (0: inserted, 1: replacing a character), or right
            // after an object's `{` (2: a member first) or a `:` (3: a value's start).
            let after = |c: char| text.char_indices().filter(|&(_, x)| x == c).map(|(i, _)| i + 1).collect::<Vec<_>>();
            let places = match mode {
                2 => after('{'),
                3 => after(':'),
                _ => text.char_indices().map(|(i, _)| i).chain([text.len()]).collect(),
            };
            if !places.is_empty() {
                let at = places[at.index(places.len())];
                if mode == 1 && at < text.len() {
                    let len = text[at..].chars().next().unwrap().len_utf8();
                    text.replace_range(at..at + len, "");
                }
                text.insert_str(at, EDITS[e]);
            }
        }
        if let Some(fast) = scan::line(&text) {
            match serde_json::from_str::<Line>(&text) {
                Ok(slow) => prop_assert_eq!(format!("{fast:?}"), format!("{slow:?}"), "{}", text),
                Err(e) => return Err(TestCaseError::fail(format!("fast read what serde refuses ({e}): {text}"))),
            }
        }
    }
}
