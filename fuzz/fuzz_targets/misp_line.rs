//! `ioc-map`'s MISP model and mapping (`misp2ms::misp::model`, `misp::scan`,
//! `map::mapper`, `map::format::stix`): any line parses or is refused, the fast
//! reader agrees with serde, every attribute (found by the walk `ioc-map` uses)
//! maps or gets a reason, and every STIX record is JSON whose pattern literal
//! is the indicator's value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use misp2ms::io::output::Output;
use misp2ms::map::format::stix::{StixOptions, StixWriter};
use misp2ms::map::indicator::Indicator;
use misp2ms::map::mapper::{for_each_attribute, MapOptions, Mapper, Parts};
use misp2ms::map::policy::allowlist::Allowlist;
use misp2ms::map::policy::warninglist::Warninglists;
use misp2ms::misp::model::Line;

#[path = "../../tests/it/support/stix_literal.rs"]
mod stix_literal;
use stix_literal::unquote;

fn check(sink: &mut StixWriter, ind: &Indicator) {
    if sink.record(ind).is_err() {
        return;
    }
    let v: serde_json::Value =
        serde_json::from_slice(sink.buffer()).expect("a STIX record is JSON");
    if v["pattern_type"] != "stix" {
        return;
    }
    let pattern = v["pattern"].as_str().expect("a pattern");
    if let Some(n) = pattern.strip_prefix("[autonomous-system:number = ") {
        assert_eq!(n.strip_suffix(']'), Some(ind.value.as_str()));
        return;
    }
    let at = pattern.find(" = '").expect("one comparison");
    let (lit, rest) = unquote(&pattern[at + 3..]).expect("a well-formed literal");
    assert_eq!(rest, "]", "{pattern}");
    assert_eq!(lit, ind.value, "{pattern}");
}

fuzz_target!(|data: &[u8]| {
    // The fast line reader reads what serde reads, or leaves the line to it.
    if let Some(fast) = std::str::from_utf8(data)
        .ok()
        .and_then(misp2ms::misp::scan::line)
    {
        let slow =
            serde_json::from_slice::<Line>(data).expect("serde reads what the fast reader read");
        assert_eq!(format!("{fast:?}"), format!("{slow:?}"));
    }
    let Ok(line) = serde_json::from_slice::<Line>(data) else {
        return;
    };
    let mut o = MapOptions::new(misp2ms::time::parse_rfc3339("2026-11-28T00:00:00Z").unwrap());
    o.allow_private = true;
    o.include_expired = true;
    o.include_filenames = true;
    let m = Mapper::new(o, Allowlist::default(), Warninglists::default());
    let mut sink = StixWriter::new(Output::stdout(), StixOptions::default());
    let mut parts = Parts::default();
    for_each_attribute(&line, |a, obj, ev| {
        if m.map(a, obj, ev, &mut parts).is_ok() {
            assert!(
                !parts.as_slice().is_empty(),
                "mapped to nothing without a reason"
            );
            for ind in parts.as_slice() {
                check(&mut sink, ind);
            }
        }
    });
});
