//! Freetext feeds (`misp2ms::pull::feed::freetext`): cutting into tokens and typing never
//! panic, and typing is idempotent on its own output.
#![no_main]

use libfuzzer_sys::fuzz_target;
use misp2ms::pull::feed::freetext::{resolve, tokens};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for t in tokens(&text) {
        let Some(hit) = resolve(&t) else { continue };
        let again = match hit.kind {
            // Stored as MISP stores them (`host|port`): retyped from `host:port`.
            "ip-dst|port" | "hostname|port" => {
                let (h, p) = hit.value.rsplit_once('|').unwrap();
                let h = if h.contains(':') {
                    format!("[{h}]")
                } else {
                    h.to_string()
                };
                resolve(&format!("{h}:{p}"))
            }
            _ => resolve(&hit.value),
        };
        assert_eq!(Some(&hit), again.as_ref(), "typing {t:?} is not stable");
    }
});
