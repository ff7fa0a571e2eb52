//! The fields `misp-pull` reads from events and attributes
//! (`misp2ms::pull::pulled`): never a panic; where the full event read
//! succeeds, the early id read agrees.
#![no_main]

use libfuzzer_sys::fuzz_target;
use misp2ms::pull::pulled::{attribute_info, event_id, event_info};

fuzz_target!(|data: &[u8]| {
    let full = event_info(data);
    let early = event_id(data);
    if let Ok(info) = &full {
        assert_eq!(
            early.as_ref().ok(),
            Some(&info.id),
            "event_id disagrees with event_info"
        );
    }
    let _ = attribute_info(data);
});
