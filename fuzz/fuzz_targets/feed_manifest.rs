//! A MISP feed's `manifest.json` as `misp-pull --feed` and `ioc-map` read it
//! (`misp2ms::pull::feed::manifest_entry`, `misp2ms::misp::model::is_feed_manifest`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use misp2ms::pull::feed::manifest_entry;
use misp2ms::misp::model::is_feed_manifest;
use serde_json::{Map, Value};

fuzz_target!(|data: &[u8]| {
    let recognised = is_feed_manifest(data);
    match serde_json::from_slice::<Map<String, Value>>(data) {
        Ok(m) => {
            for entry in m.values() {
                let e = manifest_entry(entry);
                if let Some(Value::Number(n)) = entry.get("timestamp") {
                    assert_eq!(e.timestamp, n.as_i64());
                }
            }
        }
        Err(_) => {}
    }
    // The shape is right; what the recognition skips (strings' UTF-8, numbers'
    // range) is not checked there.
    let text = String::from_utf8_lossy(data);
    if let (true, Ok(m)) = (
        recognised,
        serde_json::from_str::<Map<String, Value>>(&text),
    ) {
        assert!(!m.is_empty());
        assert!(
            m.values().all(Value::is_object),
            "a manifest entry is not an object"
        );
    }
});
