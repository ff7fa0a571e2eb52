//! Microsoft's batch answers (`misp2ms::push::targets::parse_results`,
//! `error_text`, `misp2ms::push::delete::delete_results`): one result per
//! record for any body, and no panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use misp2ms::push::delete::delete_results;
use misp2ms::push::targets::{error_text, parse_results, Target};

fuzz_target!(|data: &[u8]| {
    let [n, rest @ ..] = data else { return };
    let n = usize::from(*n % 16);
    let body = String::from_utf8_lossy(rest);
    let values: Vec<String> = (0..n).map(|i| format!("v{i}.example.com")).collect();
    for t in [Target::Sentinel, Target::Defender, Target::Graph] {
        assert_eq!(parse_results(t, &body, &values).len(), n);
    }
    assert_eq!(delete_results(&body, n).len(), n);
    let text = error_text(&body);
    assert!(text.chars().count() <= 301);
    assert!(!text.contains(['\n', '\r']), "{text:?}");
});
