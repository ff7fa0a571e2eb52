//! Refanging (`misp2ms::misp::refang`): never a panic, idempotent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use misp2ms::misp::refang::refang;

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    let once = refang(&s).into_owned();
    assert_eq!(
        refang(&once),
        once.as_str(),
        "refang is not idempotent on {s:?}"
    );
});
