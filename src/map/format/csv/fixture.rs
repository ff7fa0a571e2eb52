//! The indicator the CSV formats' tests write.

use crate::map::indicator::{EventContext, Indicator, Tlp, ValueKind};
use crate::time::parse_rfc3339;
use uuid::Uuid;

/// A domain-like indicator of event 4711 (TLP green, confidence 75), with
/// this kind, MISP type and value.
pub(super) fn ind(kind: ValueKind, part_type: &str, value: &str) -> Indicator {
    let t = |s| parse_rfc3339(s).unwrap();
    Indicator {
        id: Uuid::from_u128(1),
        attribute_uuid: "5f0e8b1a-6d2c-4a8e-b1f3-0c9d8e7f6a5b".into(),
        misp_type: part_type.into(),
        part_type: part_type.into(),
        kind,
        value: value.into(),
        port: None,
        category: Some("Network activity".into()),
        comment: None,
        object: None,
        event: EventContext {
            uuid: Some("0b3c6d1e-2f4a-4b5c-8d6e-7f8091a2b3c4".into()),
            id: Some("4711".into()),
            info: Some("C2, \"infra\"".into()),
            orgc_uuid: None,
            orgc_name: None,
            threat_level: Some(2),
        },
        labels: vec!["misp".into(), "demo".into()],
        tlp: Tlp::Green,
        tlp_tagged: true,
        confidence: 75,
        to_ids: true,
        kill_chain: vec![],
        context: Default::default(),
        created: t("2026-03-02T00:00:00Z"),
        modified: t("2026-03-02T10:15:00Z"),
        valid_from: t("2026-03-02T10:15:00Z"),
        valid_until: t("2026-06-01T00:00:00Z"),
        retired: false,
        revoked: false,
    }
}
