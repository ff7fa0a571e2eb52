//! STIX pattern string literals (`misp2ms::map::format::stix::push_quoted`): the escaped
//! literal reads back as the original, for any string.
#![no_main]

use libfuzzer_sys::fuzz_target;
use misp2ms::map::format::stix::push_quoted;

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    let mut out = String::new();
    push_quoted(&mut out, &s);
    let inner = out
        .strip_prefix('\'')
        .and_then(|o| o.strip_suffix('\''))
        .expect("quoted");
    let mut back = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => back.push(chars.next().expect("an escape is complete")),
            '\'' => panic!("an unescaped quote inside {out:?}"),
            c => back.push(c),
        }
    }
    assert_eq!(back, s);
});
