//! One galaxy cluster as the output formats need it (docs/design.md#context-objects):
//! what it is (an ATT&CK technique, an actor, malware, a tool, something
//! else), its readable name and label, its ATT&CK id and its STIX id, from a
//! `GalaxyCluster` or from a bare `misp-galaxy:TYPE="VALUE"` tag.

use uuid::Uuid;

use crate::map::context::attack::{split_value, url, AttackKind};
use crate::misp::galaxy::Cluster as MispCluster;
use crate::misp::ids::NAMESPACE;
use crate::misp::value::trim;

/// What a cluster is, by its galaxy type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// An ATT&CK technique: a STIX `attack-pattern`.
    AttackPattern,
    /// An actor: a STIX `threat-actor` (Sentinel takes no `intrusion-set`).
    ThreatActor,
    /// Malware: a label (and Graph's `malwareFamilyNames`); no Sentinel type.
    Malware,
    /// A tool: a label; no Sentinel type.
    Tool,
    /// Any other galaxy (sectors, countries, …): a label.
    Other,
}

/// The galaxy types of each class (MISP's galaxies; the `mitre-enterprise-attack-*`,
/// `-mobile-` and `-pre-` ones are older exports' names of ATT&CK's).
const CLASSES: &[(&str, Class)] = &[
    ("mitre-attack-pattern", Class::AttackPattern),
    (
        "mitre-enterprise-attack-attack-pattern",
        Class::AttackPattern,
    ),
    ("mitre-mobile-attack-attack-pattern", Class::AttackPattern),
    ("mitre-pre-attack-attack-pattern", Class::AttackPattern),
    ("threat-actor", Class::ThreatActor),
    ("mitre-intrusion-set", Class::ThreatActor),
    ("mitre-enterprise-attack-intrusion-set", Class::ThreatActor),
    ("mitre-mobile-attack-intrusion-set", Class::ThreatActor),
    ("mitre-pre-attack-intrusion-set", Class::ThreatActor),
    ("microsoft-activity-group", Class::ThreatActor),
    ("malpedia", Class::Malware),
    ("ransomware", Class::Malware),
    ("mitre-malware", Class::Malware),
    ("mitre-enterprise-attack-malware", Class::Malware),
    ("mitre-mobile-attack-malware", Class::Malware),
    ("android", Class::Malware),
    ("backdoor", Class::Malware),
    ("banker", Class::Malware),
    ("botnet", Class::Malware),
    ("rat", Class::Malware),
    ("stealer", Class::Malware),
    ("mitre-tool", Class::Tool),
    ("mitre-enterprise-attack-tool", Class::Tool),
    ("mitre-mobile-attack-tool", Class::Tool),
    ("tool", Class::Tool),
];

impl Class {
    /// The class of a galaxy type.
    pub fn of(galaxy_type: &str) -> Class {
        CLASSES
            .iter()
            .find(|(t, _)| *t == galaxy_type)
            .map_or(Class::Other, |&(_, c)| c)
    }

    /// The STIX type of the class's objects, where Sentinel has one.
    pub fn stix_type(self) -> Option<&'static str> {
        match self {
            Class::AttackPattern => Some("attack-pattern"),
            Class::ThreatActor => Some("threat-actor"),
            _ => None,
        }
    }

    /// The first part of its readable labels (`None`: the galaxy type).
    fn label(self) -> Option<&'static str> {
        match self {
            Class::AttackPattern => Some("attack-pattern"),
            Class::ThreatActor => Some("threat-actor"),
            Class::Malware => Some("malware"),
            Class::Tool => Some("tool"),
            Class::Other => None,
        }
    }
}

/// The namespace every galaxy tag has.
const TAG_PREFIX: &str = "misp-galaxy:";

/// `misp-galaxy:TYPE="VALUE"` → (TYPE, VALUE); the namespace in any case,
/// the quotes optional. `None` for any other tag.
#[inline]
pub fn parse_tag(name: &str) -> Option<(&str, &str)> {
    let b = name.as_bytes();
    // Most tags are not galaxy tags: decided by their first bytes.
    if !b.starts_with(TAG_PREFIX.as_bytes())
        && !b
            .get(..TAG_PREFIX.len())
            .is_some_and(|h| h.eq_ignore_ascii_case(TAG_PREFIX.as_bytes()))
    {
        return None;
    }
    parse_galaxy_tag(name)
}

/// [`parse_tag`] of a tag in the galaxy namespace.
fn parse_galaxy_tag(name: &str) -> Option<(&str, &str)> {
    let rest = &name[TAG_PREFIX.len()..];
    let eq = rest.bytes().position(|b| b == b'=')?;
    let (kind, value) = (&rest[..eq], &rest[eq + 1..]);
    let value = value.strip_prefix('"').unwrap_or(value);
    let value = value.strip_suffix('"').unwrap_or(value);
    let (kind, value) = (trim(kind), trim(value));
    (!kind.is_empty() && !value.is_empty()).then_some((kind, value))
}

/// A galaxy cluster, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Cluster {
    pub class: Class,
    /// The galaxy type (`mitre-attack-pattern`).
    pub galaxy: String,
    /// The uuid of its STIX id: the cluster's own uuid, or without one (no
    /// `uuid`, an empty one, or not a UUID) UUIDv5(NS, tag name).
    pub uuid: Uuid,
    /// Whether `uuid` is the cluster's own.
    pub own_uuid: bool,
    /// Its tag name (`misp-galaxy:TYPE="VALUE"`), as given or built.
    pub tag: String,
    /// The value without its ATT&CK suffix (`Phishing`).
    pub name: String,
    /// `attack-pattern:Phishing`, `threat-actor:APT28`, `malware:LockBit`,
    /// `<galaxy type>:<name>` for other galaxies.
    pub label: String,
    /// Its ATT&CK id (`T1566`, `T1566.001`, `G0007`, `S0002`): the first
    /// ATT&CK id of `meta.external_id`, else the value's suffix.
    pub attack_id: Option<String>,
    /// Whether indicators cite `attack_id` ([`Cluster::cited_attack_id`]).
    pub cites: bool,
    /// The ATT&CK page of `attack_id`.
    pub attack_url: Option<String>,
    /// Its STIX id (`attack-pattern--…`, `threat-actor--…`) where its class has a STIX type.
    pub stix_id: Option<String>,
    pub description: Option<String>,
    /// `meta.synonyms` without the name and repeats.
    pub aliases: Vec<String>,
    /// `meta.refs`.
    pub refs: Vec<String>,
}

impl Cluster {
    /// Whether `other` is this cluster: the same tag name, or the same id.
    pub fn same(&self, other: &Cluster) -> bool {
        self.tag == other.tag || (self.class == other.class && self.uuid == other.uuid)
    }

    /// From a bare tag (`None`: not a galaxy tag).
    pub fn from_tag(name: &str) -> Option<Cluster> {
        let (kind, value) = parse_tag(name)?;
        Some(Cluster::build::<&str>(
            kind,
            value,
            trim(name),
            None,
            None,
            &[],
            &[],
            &[],
        ))
    }

    /// From a `GalaxyCluster` of a galaxy of type `galaxy_type` (`None`: a
    /// local cluster, or one without a value or type that its tag would give).
    pub fn from_misp(galaxy_type: Option<&str>, c: &MispCluster<'_>) -> Option<Cluster> {
        if c.local == Some(true) {
            return None;
        }
        fn given(s: Option<&str>) -> Option<&str> {
            s.map(trim).filter(|s| !s.is_empty())
        }
        let tag_name = given(c.tag_name.as_deref());
        let from_tag = tag_name.and_then(parse_tag);
        let kind = given(c.kind.as_deref())
            .or(given(galaxy_type))
            .or(from_tag.map(|t| t.0))?;
        let value = given(c.value.as_deref()).or(from_tag.map(|t| t.1))?;
        let built;
        let tag = match tag_name {
            Some(t) => t,
            None => {
                built = format!("{TAG_PREFIX}{kind}=\"{value}\"");
                &built
            }
        };
        let uuid = given(c.uuid.as_deref()).and_then(|u| Uuid::try_parse(u).ok());
        let meta = &c.meta;
        Some(Cluster::build(
            kind,
            value,
            tag,
            uuid,
            given(c.description.as_deref()),
            &meta.external_id,
            &meta.synonyms,
            &meta.refs,
        ))
    }

    #[allow(clippy::too_many_arguments)]
    fn build<S: AsRef<str>>(
        kind: &str,
        value: &str,
        tag: &str,
        uuid: Option<Uuid>,
        description: Option<&str>,
        external_ids: &[S],
        synonyms: &[S],
        refs: &[S],
    ) -> Cluster {
        let class = Class::of(kind);
        let uuid_given = uuid.is_some();
        let (name, suffix) = split_value(value);
        let attack_id = external_ids
            .iter()
            .map(|s| trim(s.as_ref()))
            .find(|s| AttackKind::of(s).is_some())
            .or(suffix);
        let mut aliases: Vec<String> = Vec::new();
        for s in synonyms.iter().map(|s| trim(s.as_ref())) {
            if !s.is_empty() && s != name && !aliases.iter().any(|a| a == s) {
                aliases.push(s.to_owned());
            }
        }
        let mut urls: Vec<String> = Vec::new();
        for s in refs.iter().map(|s| trim(s.as_ref())) {
            if !s.is_empty() && !urls.iter().any(|a| a == s) {
                urls.push(s.to_owned());
            }
        }
        let cites = match class {
            Class::AttackPattern => {
                attack_id.and_then(AttackKind::of) == Some(AttackKind::Technique)
            }
            Class::ThreatActor => attack_id.and_then(AttackKind::of) == Some(AttackKind::Group),
            _ => false,
        };
        let uuid = uuid.unwrap_or_else(|| tag_uuid(tag));
        Cluster {
            class,
            cites,
            attack_url: attack_id.and_then(url),
            stix_id: class
                .stix_type()
                .map(|t| format!("{t}--{}", uuid.hyphenated())),
            galaxy: kind.to_owned(),
            uuid,
            own_uuid: uuid_given,
            tag: tag.to_owned(),
            name: name.to_owned(),
            label: format!("{}:{name}", class.label().unwrap_or(kind)),
            attack_id: attack_id.map(str::to_owned),
            description: description.map(str::to_owned),
            aliases,
            refs: urls,
        }
    }

    /// The ATT&CK id an indicator cites for it: a technique's of an
    /// attack pattern, a group's of an actor.
    pub fn cited_attack_id(&self) -> Option<&str> {
        self.attack_id.as_deref().filter(|_| self.cites)
    }
}

/// The uuid of a cluster without one of its own: UUIDv5(NS, tag name).
pub fn tag_uuid(tag: &str) -> Uuid {
    Uuid::new_v5(&NAMESPACE, tag.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn galaxy_tags() {
        assert_eq!(
            parse_tag("misp-galaxy:mitre-attack-pattern=\"Phishing - T1566\""),
            Some(("mitre-attack-pattern", "Phishing - T1566"))
        );
        assert_eq!(
            parse_tag("MISP-Galaxy:threat-actor=Sofacy"),
            Some(("threat-actor", "Sofacy"))
        );
        for no in [
            "misp-galaxy:x",
            "misp-galaxy:=\"v\"",
            "misp-galaxy:t=\"\"",
            "tlp:green",
            "misp-galax",
            "",
        ] {
            assert_eq!(parse_tag(no), None, "{no}");
        }
    }

    #[test]
    fn clusters_from_tags() {
        let c = Cluster::from_tag("misp-galaxy:mitre-attack-pattern=\"Phishing - T1566\"").unwrap();
        assert_eq!(c.class, Class::AttackPattern);
        assert_eq!(
            (c.name.as_str(), c.label.as_str()),
            ("Phishing", "attack-pattern:Phishing")
        );
        assert_eq!(c.attack_id.as_deref(), Some("T1566"));
        assert_eq!(c.cited_attack_id(), Some("T1566"));
        assert!(!c.own_uuid);
        assert_eq!(c.uuid, tag_uuid(&c.tag));
        assert_eq!(c.uuid.get_version_num(), 5);
        let c = Cluster::from_tag("misp-galaxy:mitre-intrusion-set=\"APT28 - G0007\"").unwrap();
        assert_eq!(
            (c.class, c.label.as_str(), c.cited_attack_id()),
            (Class::ThreatActor, "threat-actor:APT28", Some("G0007"))
        );
        let c = Cluster::from_tag("misp-galaxy:ransomware=\"LockBit\"").unwrap();
        assert_eq!(
            (c.class, c.label.as_str()),
            (Class::Malware, "malware:LockBit")
        );
        let c = Cluster::from_tag("misp-galaxy:mitre-malware=\"BlackEnergy - S0089\"").unwrap();
        assert_eq!(
            (c.label.as_str(), c.cited_attack_id()),
            ("malware:BlackEnergy", None)
        );
        let c = Cluster::from_tag("misp-galaxy:sector=\"Finance\"").unwrap();
        assert_eq!(
            (c.class, c.label.as_str()),
            (Class::Other, "sector:Finance")
        );
    }

    #[test]
    fn clusters_from_misp() {
        let json = r#"[{"type":"mitre-attack-pattern","GalaxyCluster":[
            {"uuid":"A62A8DB3-F23A-4D8F-AFD6-9DBC77E7813B","value":"Spearphishing Attachment - T1566.001",
             "meta":{"external_id":["CAPEC-163","T1566.001"],"synonyms":["Spearphishing Attachment","SA","SA"]}},
            {"uuid":"","value":"Phishing - T1566","tag_name":"misp-galaxy:mitre-attack-pattern=\"Phishing - T1566\""},
            {"value":"Local","local":true},
            {"uuid":"x"}]}]"#;
        let mut de = serde_json::Deserializer::from_str(json);
        let g = crate::misp::galaxy::galaxies(&mut de).unwrap();
        let kind = g[0].kind.as_deref();
        let all: Vec<Option<Cluster>> = g[0]
            .clusters
            .iter()
            .map(|c| Cluster::from_misp(kind, c))
            .collect();
        let a = all[0].as_ref().unwrap();
        assert!(a.own_uuid);
        assert_eq!(a.uuid.to_string(), "a62a8db3-f23a-4d8f-afd6-9dbc77e7813b");
        assert_eq!(a.attack_id.as_deref(), Some("T1566.001"));
        assert_eq!(a.aliases, ["SA"]);
        assert_eq!(
            a.tag,
            "misp-galaxy:mitre-attack-pattern=\"Spearphishing Attachment - T1566.001\""
        );
        // An empty uuid counts as none: the tag's UUIDv5, as for the bare tag.
        let b = all[1].as_ref().unwrap();
        assert!(!b.own_uuid);
        assert_eq!(
            b.uuid,
            Cluster::from_tag("misp-galaxy:mitre-attack-pattern=\"Phishing - T1566\"")
                .unwrap()
                .uuid
        );
        assert!(all[2].is_none() && all[3].is_none());
    }
}
