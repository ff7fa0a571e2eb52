//! CSV feeds (`misp2ms::pull::feed::csv_cells`) and the typing of their cells: the
//! first bytes choose the delimiter and columns, the rest is the feed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use misp2ms::pull::feed::csv_cells;
use misp2ms::pull::feed::freetext::resolve;

fuzz_target!(|data: &[u8]| {
    let [d, c1, c2, rest @ ..] = data else {
        return;
    };
    let delimiter = [b',', b';', b'\t', b'|', b' ', *d][usize::from(*d) % 6];
    let columns: Vec<usize> = [*c1, *c2]
        .iter()
        .filter(|c| **c < 16)
        .map(|c| usize::from(*c))
        .collect();
    let text = String::from_utf8_lossy(rest);
    if let Ok(cells) = csv_cells(&text, &columns, delimiter, "feed.csv") {
        for c in &cells {
            assert!(!c.is_empty());
            let _ = resolve(c);
        }
    }
});
