//! Entra ID token error answers (`misp2ms::push::auth::token_error`): any body
//! gives an error, an authentication error for 400/401/403, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use misp2ms::push::auth::token_error;
use misp2ms::Error;

fuzz_target!(|data: &[u8]| {
    let [s, rest @ ..] = data else { return };
    let status = [400u16, 401, 403, 429, 500, 503][usize::from(*s) % 6];
    let body = String::from_utf8_lossy(rest);
    let e = token_error("https://login.example/t/oauth2/v2.0/token", status, &body);
    assert_eq!(
        matches!(e, Error::Auth(_)),
        matches!(status, 400 | 401 | 403)
    );
    // One line, whatever the body holds (the summary and cron mail read lines).
    let msg = e.to_string();
    assert!(!msg.contains(['\n', '\r']), "{msg:?}");
    // A documented answer: its trace and correlation ids are left out.
    let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    if let (Some(err), Some(d)) = (v["error"].as_str(), v["error_description"].as_str()) {
        let kept = d.split("Trace ID:").next().unwrap_or(d);
        assert!(
            !msg.contains("Trace ID:") || kept.contains("Trace ID:") || err.contains("Trace ID:"),
            "{msg}"
        );
    }
});
