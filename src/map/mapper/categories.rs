//! MISP's attribute categories as kill-chain phases.

use crate::misp::value::trim;

/// 1–16 for MISP's 16 categories (`describeTypes.json`), nearly every `category`.
pub(super) fn category_index(category: &str) -> Option<u64> {
    Some(match category {
        "Internal reference" => 1,
        "Targeting data" => 2,
        "Antivirus detection" => 3,
        "Payload delivery" => 4,
        "Artifacts dropped" => 5,
        "Payload installation" => 6,
        "Persistence mechanism" => 7,
        "Network activity" => 8,
        "Payload type" => 9,
        "Attribution" => 10,
        "External analysis" => 11,
        "Financial fraud" => 12,
        "Support Tool" => 13,
        "Social network" => 14,
        "Person" => 15,
        "Other" => 16,
        _ => return None,
    })
}

/// Their kill-chain phase names, in the order of [`category_index`].
pub(super) const CATEGORY_SLUGS: [&str; 16] = [
    "internal-reference",
    "targeting-data",
    "antivirus-detection",
    "payload-delivery",
    "artifacts-dropped",
    "payload-installation",
    "persistence-mechanism",
    "network-activity",
    "payload-type",
    "attribution",
    "external-analysis",
    "financial-fraud",
    "support-tool",
    "social-network",
    "person",
    "other",
];

/// `Network activity` → `network-activity` (STIX wants lower case and hyphens in phase names).
pub(super) fn push_slug(dst: &mut String, s: &str) {
    dst.clear();
    let s = trim(s);
    if s.is_ascii() {
        dst.extend(s.bytes().map(|b| {
            if b.is_ascii_whitespace() || b == b'_' {
                '-'
            } else {
                b.to_ascii_lowercase() as char
            }
        }));
        return;
    }
    for c in s.chars() {
        if c.is_whitespace() || c == '_' {
            dst.push('-');
        } else {
            dst.extend(c.to_lowercase());
        }
    }
}
