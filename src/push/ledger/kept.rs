//! Which fields of a record the ledger keeps (docs/design.md#retirement): for
//! STIX only those a later version and a retirement need, read from the
//! record's text without building the others; Defender and Graph records
//! whole. A rule about records, apart from how the journal stores them: what
//! is kept can change without a change to the format on disk.

use serde_json::{Map, Value};

use crate::push::record::RecordKind;

/// The fields of a record a ledger keeps (docs/design.md#retirement): for STIX
/// those a later version and a retirement carry (identity, pattern, validity
/// start, author, name, TLP marking and any `tlp:` label; a relationship's type
/// and ends); for Defender and
/// Graph records, all of them (the APIs want them back whole, and a Defender
/// tenant holds at most 15,000 live indicators).
pub fn kept(kind: RecordKind, mut o: Map<String, Value>) -> Map<String, Value> {
    if kind != RecordKind::Stix {
        return o;
    }
    o.retain(|k, _| STIX_KEPT.contains(&k.as_str()));
    if let Some(Value::Array(labels)) = o.get_mut("labels") {
        labels.retain(|l| {
            l.as_str()
                .is_some_and(|s| s.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("tlp:")))
        });
        if labels.is_empty() {
            o.remove("labels");
        }
    }
    o
}

/// [`kept`] of a record's JSON text: for STIX only the kept fields are parsed.
pub(super) fn kept_of_text(
    kind: RecordKind,
    text: &[u8],
) -> serde_json::Result<Map<String, Value>> {
    if kind != RecordKind::Stix {
        return serde_json::from_slice(text);
    }
    let mut de = serde_json::Deserializer::from_slice(text);
    let o = serde::Deserializer::deserialize_map(&mut de, KeptFields)?;
    de.end()?;
    Ok(kept(kind, o))
}

const STIX_KEPT: &[&str] = &[
    "type",
    "spec_version",
    "id",
    "created",
    "modified",
    "created_by_ref",
    "name",
    "pattern",
    "pattern_type",
    "pattern_version",
    "valid_from",
    "object_marking_refs",
    "granular_markings",
    "labels",
    // A relationship's retirement names what it linked.
    "relationship_type",
    "source_ref",
    "target_ref",
];

/// Reads a STIX object's kept fields and skips the others without building them.
struct KeptFields;

/// The index in [`STIX_KEPT`] of a field name, if kept.
struct KeptName(Option<usize>);

impl<'de> serde::Deserialize<'de> for KeptName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = KeptName;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E>(self, s: &str) -> std::result::Result<KeptName, E> {
                Ok(KeptName(STIX_KEPT.iter().position(|k| *k == s)))
            }
        }
        d.deserialize_str(V)
    }
}

impl<'de> serde::de::Visitor<'de> for KeptFields {
    type Value = Map<String, Value>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut m: A,
    ) -> std::result::Result<Self::Value, A::Error> {
        let mut o = Map::new();
        while let Some(KeptName(name)) = m.next_key()? {
            match name {
                Some(i) => {
                    o.insert(STIX_KEPT[i].to_string(), m.next_value()?);
                }
                None => {
                    m.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        Ok(o)
    }
}
