//! Property tests for what `misp-pull` parses: the streaming reader of MISP
//! documents, the fields it reads from events and attributes, feed manifests,
//! CSV cells and freetext typing.

use std::io::Read;

use misp2ms::misp::refang::refang;
use misp2ms::misp::stream::{for_each_element, Shape};
use misp2ms::pull::feed::freetext::{resolve, tokens};
use misp2ms::pull::feed::{csv_cells, manifest_entry};
use misp2ms::pull::pulled::{attribute_count, attribute_info, event_id, event_info};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

/// Any JSON value, with strings full of what trips up a framer: quotes,
/// backslashes, brackets, control and non-ASCII characters.
fn json_value() -> impl Strategy<Value = Value> {
    let string = prop_oneof!["[\\\\\"\\[\\]{}:, a-z\n\t\u{1}é€😀]{0,40}", "\\PC{0,80}",];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1e6f64..1e6).prop_map(Value::from),
        string.prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(("[a-zA-Z_\"\\\\ ]{0,12}", inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// An object (events and attributes are objects).
fn json_object() -> impl Strategy<Value = Value> {
    prop::collection::vec(("[a-zA-Z_]{1,10}", json_value()), 0..5)
        .prop_map(|kv| Value::Object(kv.into_iter().collect()))
}

/// Hands out at most `step` bytes per read (the framer must not care).
struct Chunked<'a> {
    data: &'a [u8],
    step: usize,
}

impl Read for Chunked<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.step.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

fn stream(
    text: &[u8],
    shape: Shape,
    step: usize,
) -> Result<Vec<Vec<u8>>, misp2ms::misp::stream::StreamError> {
    let mut out = Vec::new();
    for_each_element(Chunked { data: text, step }, shape, 1 << 20, |e| {
        out.push(e.to_vec());
        Ok(())
    })?;
    Ok(out)
}

/// A document of `shape` holding `elements`, with unrelated keys where MISP
/// may put them (`response` comes first: that is how an answer is told from
/// an error body).
fn document(shape: u8, elements: &[Value], extra: &Value) -> (Shape, Value) {
    match shape % 5 {
        0 => (Shape::Events, json!({"response": elements, "after": extra})),
        1 => (
            Shape::Attributes,
            json!({"response": {"x": extra, "Attribute": elements, "y": extra}, "z": extra}),
        ),
        2 => (Shape::FeedEvent, Value::Array(elements.to_vec())),
        3 => (Shape::FeedEvent, json!({"response": elements})),
        // A single feed event: the whole document is the one element.
        _ => (Shape::FeedEvent, json!({"Event": extra})),
    }
}

fn elements_of(shape: u8, doc: &Value) -> Vec<Value> {
    match shape % 5 {
        0 | 3 => doc["response"].as_array().unwrap().clone(),
        1 => doc["response"]["Attribute"].as_array().unwrap().clone(),
        2 => doc.as_array().unwrap().clone(),
        _ => vec![doc.clone()],
    }
}

/// A number as MISP may send it: an integer or a string of digits.
fn num_or_string(n: i64, as_string: bool) -> Value {
    if as_string {
        Value::String(n.to_string())
    } else {
        Value::from(n)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The elements the streaming reader yields are exactly serde_json's, byte
    /// for byte in compact form, whatever the whitespace and read sizes.
    #[test]
    fn stream_yields_what_serde_yields(
        elements in prop::collection::vec(json_object(), 0..5),
        extra in json_value(),
        shape in any::<u8>(),
        pretty in any::<bool>(),
        step in 1usize..300,
    ) {
        let (s, doc) = document(shape, &elements, &extra);
        let text = if pretty {
            serde_json::to_vec_pretty(&doc).unwrap()
        } else {
            serde_json::to_vec(&doc).unwrap()
        };
        let got = stream(&text, s, step).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let want: Vec<Vec<u8>> = elements_of(shape, &doc)
            .iter()
            .map(|e| serde_json::to_vec(e).unwrap())
            .collect();
        prop_assert_eq!(got, want);
    }

    /// A document cut anywhere before its end is an error, never a short result.
    #[test]
    fn cut_documents_are_errors(
        elements in prop::collection::vec(json_object(), 0..4),
        extra in json_value(),
        shape in any::<u8>(),
        pretty in any::<bool>(),
        cut in any::<prop::sample::Index>(),
        step in 1usize..100,
    ) {
        let (s, doc) = document(shape, &elements, &extra);
        let text = if pretty {
            serde_json::to_vec_pretty(&doc).unwrap()
        } else {
            serde_json::to_vec(&doc).unwrap()
        };
        let cut = cut.index(text.len());
        let res = stream(&text[..cut], s, step);
        prop_assert!(res.is_err(), "cut at {} of {} accepted: {:?}", cut, text.len(), res);
    }

    /// Any bytes: an answer or an error, never a panic; elements are never empty.
    #[test]
    fn stream_never_panics(data in prop::collection::vec(any::<u8>(), 0..300), step in 1usize..64) {
        for shape in [Shape::Events, Shape::Attributes, Shape::FeedEvent] {
            if let Ok(els) = stream(&data, shape, step) {
                prop_assert!(els.iter().all(|e| !e.is_empty()));
            }
        }
    }

    /// Structured noise (JSON-like tokens) reaches deeper than random bytes.
    #[test]
    fn stream_never_panics_on_json_like_input(
        parts in prop::collection::vec(
            prop_oneof![
                Just("{"), Just("}"), Just("["), Just("]"), Just("\""), Just("\\"),
                Just(","), Just(":"), Just(" "), Just("\"response\""), Just("\"Attribute\""),
                Just("\"Event\""), Just("1"), Just("null"),
            ],
            0..60,
        ),
        step in 1usize..16,
    ) {
        let text = parts.concat();
        for shape in [Shape::Events, Shape::Attributes, Shape::FeedEvent] {
            let _ = stream(text.as_bytes(), shape, step);
        }
    }

    /// Numbers read the same whether MISP sent them as integers or strings;
    /// `event_id` (which stops early) agrees with the full read.
    #[test]
    fn event_numbers_as_integers_or_strings(
        id in any::<i64>(),
        ts in any::<i64>(),
        pts in any::<i64>(),
        count in any::<i64>(),
        forms in any::<[bool; 4]>(),
        attrs in 0usize..4,
        objects in prop::collection::vec(0usize..3, 0..3),
        uuid in "[0-9a-f-]{0,36}",
    ) {
        let mk = |forms: [bool; 4]| json!({"Event": {
            "id": num_or_string(id, forms[0]),
            "uuid": uuid,
            "timestamp": num_or_string(ts, forms[1]),
            "publish_timestamp": num_or_string(pts, forms[2]),
            "attribute_count": num_or_string(count, forms[3]),
            "Attribute": vec![json!({"id": "1"}); attrs],
            "Object": objects.iter().map(|n| json!({"Attribute": vec![json!({}); *n]})).collect::<Vec<_>>(),
        }});
        let a = event_info(&serde_json::to_vec(&mk(forms)).unwrap()).unwrap();
        let b = event_info(&serde_json::to_vec(&mk([false; 4])).unwrap()).unwrap();
        prop_assert_eq!(&a, &b);
        prop_assert_eq!(a.id, Some(id));
        prop_assert_eq!(a.timestamp, Some(ts));
        prop_assert_eq!(a.attributes, (attrs + objects.iter().sum::<usize>()) as u64);
        prop_assert_eq!(event_id(&serde_json::to_vec(&mk(forms)).unwrap()).unwrap(), Some(id));
        let attr = json!({"id": num_or_string(id, forms[0]), "event_id": num_or_string(ts, forms[1])});
        let ai = attribute_info(&serde_json::to_vec(&attr).unwrap()).unwrap();
        prop_assert_eq!((ai.id, ai.event_id), (Some(id), Some(ts)));
    }

    /// Any JSON: the event and attribute readers answer without panicking, and
    /// where the full read succeeds the early-stopping id read agrees.
    #[test]
    fn event_readers_never_panic(v in json_value(), inner in json_object()) {
        for doc in [v.clone(), json!({"Event": v}), json!({"Event": inner})] {
            let bytes = serde_json::to_vec(&doc).unwrap();
            let full = event_info(&bytes);
            let early = event_id(&bytes);
            if let Ok(info) = full {
                prop_assert_eq!(early.ok(), Some(info.id));
            }
            let _ = attribute_info(&bytes);
            let _ = attribute_count(&bytes);
        }
    }

    /// The summary's count of an event's attributes, read from its brackets,
    /// is the full read's: `Event.Attribute[]` and every `Event.Object[].Attribute[]`,
    /// whatever else the event holds and however it is spaced.
    #[test]
    fn attribute_count_is_what_a_full_read_counts(
        attrs in prop::collection::vec(json_object(), 0..5),
        objects in prop::collection::vec((prop::collection::vec(json_object(), 0..4), json_object()), 0..4),
        extra in json_object(),
        pretty in any::<bool>(),
    ) {
        let mut ev = extra.as_object().unwrap().clone();
        ev.insert("Attribute".into(), json!(attrs));
        let objects: Vec<Value> = objects
            .into_iter()
            .map(|(a, o)| {
                let mut o = o.as_object().unwrap().clone();
                o.insert("Attribute".into(), json!(a));
                Value::Object(o)
            })
            .collect();
        ev.insert("Object".into(), json!(objects));
        let doc = json!({"Event": ev});
        let bytes = if pretty {
            serde_json::to_vec_pretty(&doc).unwrap()
        } else {
            serde_json::to_vec(&doc).unwrap()
        };
        prop_assert_eq!(attribute_count(&bytes), event_info(&bytes).unwrap().attributes);
    }

    /// A feed manifest entry: any JSON reads without a panic, and the fields
    /// read the same whether the timestamp is a number or a string.
    #[test]
    fn manifest_entries(
        v in json_value(),
        ts in any::<i64>(),
        as_string in any::<bool>(),
        tags in prop::collection::vec("\\PC{0,20}", 0..4),
        org in "\\PC{0,20}",
        org_uuid in "[0-9a-f-]{36}",
        lower in any::<bool>(),
    ) {
        let _ = manifest_entry(&v);
        let orgc = if lower { "orgc" } else { "Orgc" };
        let entry = json!({
            "info": v,
            "timestamp": num_or_string(ts, as_string),
            "Tag": tags.iter().map(|t| json!({"name": t, "colour": "#ffffff"})).collect::<Vec<_>>(),
            orgc: {"name": org, "uuid": org_uuid},
        });
        let e = manifest_entry(&entry);
        prop_assert_eq!(e.timestamp, Some(ts));
        prop_assert_eq!(&e.tags, &tags.iter().map(String::as_str).collect::<Vec<_>>());
        prop_assert_eq!(e.orgs, vec![org.as_str(), org_uuid.as_str()]);
    }

    /// CSV: any text and any column choice gives cells or an error naming a
    /// line, never a panic; cells are never empty nor padded.
    #[test]
    fn csv_never_panics(
        text in "[a-z0-9.,;\"'# \t\r\n|\\\\]{0,200}",
        columns in prop::collection::vec(0usize..5, 0..3),
        delimiter in prop::sample::select(vec![b',', b';', b'\t', b'|', b' ']),
    ) {
        if let Ok(cells) = csv_cells(&text, &columns, delimiter, "feed.csv") {
            for c in cells {
                prop_assert!(!c.is_empty());
                prop_assert_eq!(c.trim_matches([' ', '\t', '\n', '\r', '\0', '"', '\'']), c.as_str());
            }
        }
    }

    /// CSV: generated rows give back the chosen column's values, quoted or not.
    #[test]
    fn csv_reads_the_column(
        rows in prop::collection::vec(prop::collection::vec("[a-z0-9.:/-]{1,12}", 3), 0..8),
        column in 1usize..=3,
        quote in any::<bool>(),
        comment in any::<bool>(),
    ) {
        let mut text = String::new();
        if comment {
            text.push_str("# a comment, with, commas\n");
        }
        for r in &rows {
            let cells: Vec<String> = r.iter().map(|c| if quote { format!("\"{c}\"") } else { c.clone() }).collect();
            text.push_str(&cells.join(","));
            text.push('\n');
        }
        let cells = csv_cells(&text, &[column], b',', "feed.csv").unwrap();
        let want: Vec<String> = rows.iter().map(|r| r[column - 1].clone()).collect();
        prop_assert_eq!(cells, want);
    }

    /// Freetext: any text cuts into tokens and types without a panic.
    #[test]
    fn freetext_never_panics(text in "\\PC{0,200}") {
        for t in tokens(&text) {
            let _ = resolve(&t);
        }
    }

    /// Typing is idempotent on its own output: a typed value typed again
    /// gives the same type and value. Composite `|port` values are stored as
    /// MISP stores them (`host|port`), which is not a freetext spelling: they
    /// are retyped from `host:port`.
    #[test]
    fn typing_is_idempotent(token in candidate()) {
        if let Some(hit) = resolve(&token) {
            let again = match hit.kind {
                "ip-dst|port" | "hostname|port" => {
                    let (h, p) = hit.value.rsplit_once('|').unwrap();
                    let h = if h.contains(':') { format!("[{h}]") } else { h.to_string() };
                    resolve(&format!("{h}:{p}"))
                }
                _ => resolve(&hit.value),
            };
            prop_assert_eq!(Some(&hit), again.as_ref(), "from {:?}", token);
        }
    }

    /// Typed values are refanged: no defanged spelling survives typing, and
    /// typing a defanged value gives what typing the clean one gives.
    #[test]
    fn typed_values_are_refanged(labels in prop::collection::vec("[a-z][a-z0-9]{0,8}", 1..4), tld in "(com|net|org|io|de)", path in "(/[a-zA-Z0-9]{1,6}){0,2}", scheme in "(http|https)") {
        let clean_host = format!("{}.{tld}", labels.join("."));
        let defanged_host = format!("{}[.]{tld}", labels.join("[.]"));
        let clean_url = format!("{scheme}://{clean_host}{path}");
        let defanged_url = format!("{}{}{path}", scheme.replace("tt", "xx"), format_args!("[://]{defanged_host}"));
        for (clean, defanged) in [(&clean_host, &defanged_host), (&clean_url, &defanged_url)] {
            let want = resolve(clean);
            prop_assert!(want.is_some(), "{} untyped", clean);
            prop_assert_eq!(resolve(defanged), want.clone(), "{}", defanged);
            let v = want.unwrap().value;
            prop_assert_eq!(refang(&v).into_owned(), v.clone());
            prop_assert!(!v.contains("[.]") && !v.contains("hxxp"), "{}", v);
        }
    }
}

/// Candidate values shaped like indicators (and near misses), plain or defanged.
fn candidate() -> impl Strategy<Value = String> {
    let label = "[a-zA-Z0-9][a-zA-Z0-9-]{0,6}";
    prop_oneof![
        any::<std::net::Ipv4Addr>().prop_map(|ip| ip.to_string()),
        any::<std::net::Ipv6Addr>().prop_map(|ip| ip.to_string()),
        (any::<std::net::Ipv4Addr>(), 0u32..70000).prop_map(|(ip, p)| format!("{ip}:{p}")),
        (any::<std::net::Ipv6Addr>(), 0u32..70000).prop_map(|(ip, p)| format!("[{ip}]:{p}")),
        (any::<std::net::Ipv4Addr>(), 0u8..40).prop_map(|(ip, n)| format!("{ip}/{n}")),
        (
            prop::collection::vec(label, 1..4),
            "(com|net|io|de|xyz|onion|zz|c0m)"
        )
            .prop_map(|(l, t)| format!("{}.{t}", l.join("."))),
        (
            prop::collection::vec(label, 1..3),
            "(com|net|de)",
            0u32..70000
        )
            .prop_map(|(l, t, p)| format!("{}.{t}:{p}", l.join("."))),
        (
            "(http|hxxp|https|ftp)",
            prop::collection::vec(label, 1..3),
            "(com|net|de)",
            "[a-zA-Z0-9/?=&.%-]{0,20}"
        )
            .prop_map(|(s, l, t, p)| format!("{s}://{}.{t}/{p}", l.join("."))),
        (
            "[a-z0-9._+-]{1,10}",
            prop::collection::vec(label, 1..3),
            "(com|net|de)"
        )
            .prop_map(|(u, l, t)| format!("{u}@{}.{t}", l.join("."))),
        "[0-9a-fA-F]{32}|[0-9a-fA-F]{40}|[0-9a-fA-F]{64}|[0-9a-fA-F]{128}",
        ("[a-z]{1,8}\\.(exe|dll|pdf)", "[0-9a-f]{32}|[0-9a-f]{64}")
            .prop_map(|(f, h)| format!("{f}|{h}")),
        "[0-9]{1,3}:[a-zA-Z0-9/+]{1,20}:[a-zA-Z0-9/+]{1,20}",
        "(CVE|cve)-[0-9]{4}-[0-9]{4,6}",
        "(AS|as)[0-9]{1,10}",
        "(HKLM|HKCU)\\\\[A-Za-z\\\\]{1,20}",
        "[a-zA-Z0-9_-]{1,10}\\.[a-z0-9]{1,5}",
        "[13][a-km-zA-HJ-NP-Z1-9]{25,34}",
        "\\PC{1,30}",
    ]
    .prop_flat_map(|s| {
        // Sometimes defanged, sometimes wrapped in what surrounds values in prose.
        let junk = "[\"'(),. ]{0,3}";
        (Just(s), 0u8..4, junk, junk).prop_map(|(s, how, pre, post)| match how {
            0 => s.replace('.', "[.]"),
            1 => format!("{pre}{s}{post}"),
            2 => format!("{pre}{}{post}", s.replace('.', "[.]")),
            _ => s,
        })
    })
}

// Regressions: inputs the properties above (or the fuzzer) once failed on.

/// A defanged dot before the `@` refanged into a leading dot: typed as the
/// e-mail `.@a.com`, which typed again was the file name `@a.com`.
#[test]
fn regression_refanged_leading_dot() {
    let hit = resolve("[.]@a[.]com").unwrap();
    assert!(!hit.value.starts_with('.'), "{hit:?}");
    assert_eq!(resolve(&hit.value), Some(hit));
}

/// serde's derive reads a struct from a list too: `[{}]` and `{"Event":[…]}`
/// passed as events (without an id) where the early id read refused them.
#[test]
fn regression_events_and_attributes_are_objects() {
    for doc in [&b"[{}]"[..], br#"{"Event":[]}"#, br#"{"Event":["1","u"]}"#] {
        assert!(event_info(doc).is_err(), "{}", String::from_utf8_lossy(doc));
        assert!(event_id(doc).is_err(), "{}", String::from_utf8_lossy(doc));
    }
    assert!(attribute_info(b"[7,12]").is_err());
}

/// A value defanged twice was typed as the file name `www[.]bad.example.com`,
/// and as a host name when typed again (found by the fuzzer).
#[test]
fn regression_typing_doubly_defanged() {
    let hit = resolve("www[[.]]bad[.]example[.]com").unwrap();
    assert_eq!(
        (hit.kind, hit.value.as_str()),
        ("hostname", "www.bad.example.com")
    );
}

/// A dot before a quote stopped the trimming: `."x@example.org"` was typed
/// as the e-mail `"x@example.org` (found by the fuzzer).
#[test]
fn regression_mixed_dots_and_quotes() {
    for t in [
        r#"."x@example.org""#,
        r#"[.]"x@example.org"#,
        r#"("evil.example.com".)"#,
    ] {
        let hit = resolve(t).unwrap();
        assert!(!hit.value.starts_with(['"', '.']), "{t}: {hit:?}");
        assert_eq!(resolve(&hit.value), Some(hit));
    }
}
