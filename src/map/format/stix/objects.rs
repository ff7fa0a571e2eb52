//! The STIX objects around the indicators (docs/design.md#context-objects):
//! the publishing organisation's `identity`, `attack-pattern` and
//! `threat-actor` objects of galaxy clusters, and `indicates` relationships
//! from an indicator to them. Shared objects are written once per run, before
//! the first record that refers to them; [`Written`] remembers which.

use std::collections::HashSet;

use uuid::Uuid;

use crate::json::write as jsonw;
use crate::map::context::{attack, Class, Cluster};
use crate::map::format::stix::limits::{DESCRIPTION_MAX, NAME_MAX};
use crate::map::format::text::truncate;
use crate::misp::ids::NAMESPACE;

/// `created` and `modified` of the shared objects: the same on every run
/// (neither MISP's `Orgc` nor a cluster has a time of its own), so that a
/// shared object written again is the same version.
pub const SHARED_TIME: &str = "1970-01-01T00:00:00.000Z";

/// The kinds of shared object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Identity,
    AttackPattern,
    ThreatActor,
}

/// The shared objects written in this run: 17 bytes of key each (at most
/// 64 with the set's overhead, docs/design.md#memory).
#[derive(Default)]
pub(super) struct Written {
    ids: HashSet<(Kind, Uuid)>,
}

impl Written {
    /// True the first time `uuid` of `kind` is asked for.
    fn first(&mut self, kind: Kind, uuid: Uuid) -> bool {
        self.ids.insert((kind, uuid))
    }

    /// Writes the `identity` of an organisation (its uuid, its name) to
    /// `out` unless written before; true when written.
    pub(super) fn identity(&mut self, out: &mut Vec<u8>, org: Uuid, name: Option<&str>) -> bool {
        if !self.first(Kind::Identity, org) {
            return false;
        }
        head(out, "identity", org);
        out.extend_from_slice(b",\"name\":");
        let mut text = match name.map(str::trim).filter(|n| !n.is_empty()) {
            Some(n) => n.to_owned(),
            None => org.to_string(),
        };
        truncate(&mut text, NAME_MAX);
        jsonw::string(out, &text);
        out.extend_from_slice(b",\"identity_class\":\"organization\"}\n");
        true
    }

    /// Writes the `attack-pattern` or `threat-actor` of a cluster to `out`
    /// unless written before (or the cluster has no such type); true when written.
    pub(super) fn cluster(&mut self, out: &mut Vec<u8>, c: &Cluster) -> bool {
        let (kind, stix_type) = match c.class {
            Class::AttackPattern => (Kind::AttackPattern, "attack-pattern"),
            Class::ThreatActor => (Kind::ThreatActor, "threat-actor"),
            _ => return false,
        };
        if !self.first(kind, c.uuid) {
            return false;
        }
        head(out, stix_type, c.uuid);
        out.extend_from_slice(b",\"name\":");
        let mut text = c.name.clone();
        truncate(&mut text, NAME_MAX);
        jsonw::string(out, &text);
        if let Some(d) = &c.description {
            let mut text = d.clone();
            truncate(&mut text, DESCRIPTION_MAX);
            out.extend_from_slice(b",\"description\":");
            jsonw::string(out, &text);
        }
        if !c.aliases.is_empty() {
            out.extend_from_slice(b",\"aliases\":[");
            for (i, a) in c.aliases.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                jsonw::string(out, a);
            }
            out.push(b']');
        }
        let attack = c
            .attack_id
            .as_deref()
            .and_then(|id| Some((id, attack::url(id)?)));
        let refs: Vec<&str> = c
            .refs
            .iter()
            .map(String::as_str)
            .filter(|r| is_url(r))
            .filter(|r| {
                // The ATT&CK page is the first reference already.
                attack
                    .as_ref()
                    .is_none_or(|(_, u)| r.trim_end_matches('/') != u.trim_end_matches('/'))
            })
            .collect();
        if attack.is_some() || !refs.is_empty() {
            out.extend_from_slice(b",\"external_references\":[");
            let mut first = true;
            if let Some((id, url)) = &attack {
                attack_reference(out, id, url);
                first = false;
            }
            for r in refs {
                if !first {
                    out.push(b',');
                }
                first = false;
                out.extend_from_slice(b"{\"source_name\":");
                jsonw::string(out, &c.galaxy);
                out.extend_from_slice(b",\"url\":");
                jsonw::string(out, r);
                out.push(b'}');
            }
            out.push(b']');
        }
        out.extend_from_slice(b"}\n");
        true
    }
}

/// `{"type":…,"spec_version":"2.1","id":…,"created":…,"modified":…` of a shared object.
fn head(out: &mut Vec<u8>, stix_type: &str, uuid: Uuid) {
    out.extend_from_slice(b"{\"type\":\"");
    out.extend_from_slice(stix_type.as_bytes());
    out.extend_from_slice(b"\",\"spec_version\":\"2.1\",\"id\":");
    jsonw::id(out, stix_type, uuid);
    out.extend_from_slice(b",\"created\":\"");
    out.extend_from_slice(SHARED_TIME.as_bytes());
    out.extend_from_slice(b"\",\"modified\":\"");
    out.extend_from_slice(SHARED_TIME.as_bytes());
    out.push(b'"');
}

/// An absolute http(s) URL without blanks (the validator checks `url`'s form).
fn is_url(s: &str) -> bool {
    (s.starts_with("https://") || s.starts_with("http://"))
        && s.len() > "https://".len()
        && !s.contains(|c: char| c.is_whitespace() || c.is_control())
}

/// `{"source_name":"mitre-attack","external_id":…,"url":…}`.
pub(super) fn attack_reference(out: &mut Vec<u8>, id: &str, url: &str) {
    out.extend_from_slice(b"{\"source_name\":\"");
    out.extend_from_slice(attack::SOURCE_NAME.as_bytes());
    out.extend_from_slice(b"\",\"external_id\":");
    jsonw::string(out, id);
    out.extend_from_slice(b",\"url\":");
    jsonw::string(out, url);
    out.push(b'}');
}

/// The id of a relationship: UUIDv5(NS, `"<source id>|<type>|<target id>"`),
/// the ids in full (`indicator--…`). The writer computes the same ids in
/// batches (`relationship_ids`).
pub fn relationship_uuid(source: &str, relationship_type: &str, target: &str) -> Uuid {
    Uuid::new_v5(
        &NAMESPACE,
        format!("{source}|{relationship_type}|{target}").as_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(out: &[u8]) -> serde_json::Value {
        let s = std::str::from_utf8(out).unwrap();
        assert!(s.ends_with('\n') && s.lines().count() == 1, "{s}");
        serde_json::from_str(s).unwrap()
    }

    #[test]
    fn shared_objects_once_each() {
        let mut w = Written::default();
        let org = Uuid::parse_str("1c4f2d3e-5a6b-4c7d-8e9f-0a1b2c3d4e5f").unwrap();
        let mut out = Vec::new();
        assert!(w.identity(&mut out, org, Some(" CIRCL ")));
        let v = text(&out);
        assert_eq!(v["id"], "identity--1c4f2d3e-5a6b-4c7d-8e9f-0a1b2c3d4e5f");
        assert_eq!(
            (v["name"].as_str(), v["created"].as_str()),
            (Some("CIRCL"), Some(SHARED_TIME))
        );
        assert!(!w.identity(&mut out, org, Some("CIRCL")));

        let mut c = Cluster::from_tag("misp-galaxy:mitre-intrusion-set=\"APT28 - G0007\"").unwrap();
        c.aliases = vec!["Sofacy".into()];
        c.refs = vec![
            "https://attack.mitre.org/groups/G0007".into(),
            "not a url".into(),
            "https://example.org/apt28".into(),
        ];
        let mut out = Vec::new();
        assert!(w.cluster(&mut out, &c));
        let v = text(&out);
        assert_eq!(v["type"], "threat-actor");
        assert_eq!(v["id"], format!("threat-actor--{}", c.uuid));
        assert_eq!(v["name"], "APT28");
        assert_eq!(v["aliases"], serde_json::json!(["Sofacy"]));
        assert_eq!(
            v["external_references"],
            serde_json::json!([
                {"source_name":"mitre-attack","external_id":"G0007","url":"https://attack.mitre.org/groups/G0007/"},
                {"source_name":"mitre-intrusion-set","url":"https://example.org/apt28"}
            ])
        );
        assert!(!w.cluster(&mut out, &c));
        let malware = Cluster::from_tag("misp-galaxy:ransomware=\"LockBit\"").unwrap();
        assert!(!w.cluster(&mut Vec::new(), &malware));
    }

    #[test]
    fn relationship_ids_are_stable() {
        let a = relationship_uuid("indicator--x", "indicates", "attack-pattern--y");
        // Values computed apart, with Python's uuid.uuid5 and the namespace.
        assert_eq!(a.to_string(), "f38de33f-9447-543c-b234-8044a998565f");
        assert_eq!(
            relationship_uuid(
                "indicator--1c4f2d3e-5a6b-4c7d-8e9f-0a1b2c3d4e5f",
                "indicates",
                "attack-pattern--a62a8db3-f23a-4d8f-afd6-9dbc77e7813b"
            )
            .to_string(),
            "4036fbcc-9a86-5152-8d12-d952386e83bf"
        );
        assert_ne!(
            a,
            relationship_uuid("indicator--x", "indicates", "threat-actor--y")
        );
        assert_eq!(a.get_version_num(), 5);
    }
}
