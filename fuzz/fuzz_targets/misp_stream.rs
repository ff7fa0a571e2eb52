//! The streaming reader of MISP documents (`misp2ms::misp::stream`): any bytes
//! in every shape give elements or an error, never a panic; where serde_json
//! reads the document, the stream yields exactly its elements.
#![no_main]

use libfuzzer_sys::fuzz_target;
use misp2ms::misp::stream::{for_each_element, Shape};
use serde_json::Value;

fn elements(data: &[u8], shape: Shape) -> Option<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    for_each_element(data, shape, 1 << 16, |e| {
        assert!(!e.is_empty(), "an empty element");
        out.push(e.to_vec());
        Ok(())
    })
    .ok()
    .map(|n| {
        assert_eq!(n as usize, out.len(), "count differs from the elements");
        out
    })
}

/// What serde_json says the elements are, where the document is one the
/// stream must read (`response` first and only once: how MISP writes it).
fn expected(doc: &Value, data: &[u8], shape: Shape) -> Option<Vec<Value>> {
    let once = |key: &[u8]| data.windows(key.len()).filter(|w| *w == key).count() == 1;
    let first_is_response = doc
        .as_object()
        .and_then(|m| m.keys().next())
        .is_some_and(|k| k == "response")
        && once(b"\"response\"");
    match (shape, doc) {
        (Shape::Events, _) if first_is_response => doc["response"].as_array().cloned(),
        (Shape::Attributes, _) if first_is_response && once(b"\"Attribute\"") => {
            doc["response"]["Attribute"].as_array().cloned()
        }
        (Shape::FeedEvent, Value::Array(a)) => Some(a.clone()),
        (Shape::FeedEvent, Value::Object(_)) if first_is_response => {
            doc["response"].as_array().cloned()
        }
        (Shape::FeedEvent, Value::Object(m)) if !m.contains_key("response") => {
            Some(vec![doc.clone()])
        }
        _ => None,
    }
}

fuzz_target!(|data: &[u8]| {
    let doc = serde_json::from_slice::<Value>(data).ok();
    for shape in [Shape::Events, Shape::Attributes, Shape::FeedEvent] {
        let got = elements(data, shape);
        let Some(want) = doc.as_ref().and_then(|d| expected(d, data, shape)) else {
            continue;
        };
        let got = got.unwrap_or_else(|| {
            panic!("{shape:?}: serde_json reads this document, the stream refused it")
        });
        let got: Vec<Value> = got
            .iter()
            .map(|e| serde_json::from_slice(e).expect("an element serde_json read"))
            .collect();
        assert_eq!(got, want, "{shape:?}: elements differ from serde_json's");
    }
    // A document cut short is an error, never a short result.
    if doc.is_some() && data.len() > 1 {
        let cut = &data[..data.len() / 2];
        if !cut.iter().all(u8::is_ascii_whitespace) && serde_json::from_slice::<Value>(cut).is_err()
        {
            for shape in [Shape::Events, Shape::Attributes, Shape::FeedEvent] {
                if elements(data, shape).is_some() {
                    assert!(
                        elements(cut, shape).is_none(),
                        "{shape:?}: a cut document was accepted"
                    );
                }
            }
        }
    }
});
