//! MISP galaxy clusters as events and attributes carry them: `Galaxy[]`, each
//! with its `type` and `GalaxyCluster[]` (MISP's export shape: `uuid`, `type`,
//! `value`, `tag_name`, `description`, `local`, `meta.external_id`,
//! `meta.synonyms`, `meta.refs`; docs/design.md#misp-json). An event's are
//! read with the event; an attribute keeps its `Galaxy` as text, read here
//! when its context is asked for.
//!
//! Read leniently: a galaxy is context, not the indicator, so a value of an
//! unexpected JSON type (a number for a name, an object where PHP turned a
//! list into one, a string where a list was expected) is read as well as it
//! can be or left out, never an error that would cost the event its
//! indicators. A list sent as an object (PHP's form of a list with gaps) is
//! read as the list of its values; a single string where `meta` usually holds
//! a list is a list of one. The typed model and the fast reader both read a
//! `Galaxy` value with `galaxies`, so they agree.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::misp::fields::{ClusterField, GalaxyField, MetaField};
use crate::misp::scalar::{bool_text, Str};

/// One element of `Galaxy` (keys: [`GalaxyField`]).
#[derive(Debug, Default)]
pub struct Galaxy<'a> {
    /// `type`: the galaxy's type (`mitre-attack-pattern`, `threat-actor`, …),
    /// which its clusters share.
    pub kind: Option<Str<'a>>,
    /// `GalaxyCluster`.
    pub clusters: Vec<Cluster<'a>>,
}

/// A galaxy cluster (keys: [`ClusterField`]).
#[derive(Debug, Default)]
pub struct Cluster<'a> {
    /// The cluster's own uuid (MISP's ATT&CK clusters carry MITRE's STIX
    /// uuids); `collection_uuid` is the galaxy's, not read.
    pub uuid: Option<Str<'a>>,
    /// `type`: the galaxy type (older exports leave it to the galaxy).
    pub kind: Option<Str<'a>>,
    /// `Phishing - T1566`, `APT28 - G0007`, `Sofacy`.
    pub value: Option<Str<'a>>,
    /// `misp-galaxy:mitre-attack-pattern="Phishing - T1566"`.
    pub tag_name: Option<Str<'a>>,
    pub description: Option<Str<'a>>,
    /// Attached as a local tag (not shared).
    pub local: Option<bool>,
    pub meta: ClusterMeta<'a>,
}

/// What is read of a cluster's `meta` (keys: [`MetaField`]).
#[derive(Debug, Default)]
pub struct ClusterMeta<'a> {
    /// `["T1566"]`, `["G0007"]` (other sources too, such as `CAPEC-633`).
    pub external_id: Vec<Str<'a>>,
    pub synonyms: Vec<Str<'a>>,
    pub refs: Vec<Str<'a>>,
}

/// The value of a `Galaxy` key, read leniently (see the module comment).
pub(crate) fn galaxies<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Galaxy<'de>>, D::Error> {
    lenient(d)
}

/// [`galaxies`] of the JSON text of a `Galaxy` value (none where the text
/// is not JSON, which a line's reader has already refused).
pub(crate) fn galaxies_in(text: &str) -> Vec<Galaxy<'_>> {
    let mut de = serde_json::Deserializer::from_str(text);
    galaxies(&mut de).unwrap_or_default()
}

/// [`galaxies`] as a seed.
pub(crate) struct Galaxies;

impl<'de> DeserializeSeed<'de> for Galaxies {
    type Value = Vec<Galaxy<'de>>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        galaxies(d)
    }
}

/// A value read from any JSON value: each JSON type it does not take is read
/// to its end and gives `Default`.
trait Lenient<'de>: Default {
    fn from_str(_: Str<'de>) -> Self {
        Self::default()
    }
    fn from_bool(_: bool) -> Self {
        Self::default()
    }
    fn from_int(_: i128) -> Self {
        Self::default()
    }
    fn from_seq<A: SeqAccess<'de>>(mut a: A) -> Result<Self, A::Error> {
        while a.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Self::default())
    }
    fn from_map<A: MapAccess<'de>>(mut a: A) -> Result<Self, A::Error> {
        while a.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Self::default())
    }
}

fn lenient<'de, T: Lenient<'de>, D: Deserializer<'de>>(d: D) -> Result<T, D::Error> {
    d.deserialize_any(Any(PhantomData))
}

/// The visitor, and seed, of a [`Lenient`] `T`.
struct Any<T>(PhantomData<T>);

impl<'de, T: Lenient<'de>> DeserializeSeed<'de> for Any<T> {
    type Value = T;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
        d.deserialize_any(self)
    }
}

fn any<T>() -> Any<T> {
    Any(PhantomData)
}

impl<'de, T: Lenient<'de>> Visitor<'de> for Any<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<T, E> {
        Ok(T::from_str(Str::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        Ok(T::from_str(Str::Owned(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<T, E> {
        Ok(T::from_str(Str::Owned(v)))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<T, E> {
        Ok(T::from_bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        Ok(T::from_int(v.into()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        Ok(T::from_int(v.into()))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<T, E> {
        Ok(T::default())
    }
    fn visit_unit<E: de::Error>(self) -> Result<T, E> {
        Ok(T::default())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, a: A) -> Result<T, A::Error> {
        T::from_seq(a)
    }
    fn visit_map<A: MapAccess<'de>>(self, a: A) -> Result<T, A::Error> {
        T::from_map(a)
    }
}

impl<'de> Lenient<'de> for Option<Str<'de>> {
    fn from_str(s: Str<'de>) -> Self {
        Some(s)
    }
}

impl<'de> Lenient<'de> for Option<bool> {
    fn from_bool(b: bool) -> Self {
        Some(b)
    }
    fn from_int(n: i128) -> Self {
        Some(n != 0)
    }
    fn from_str(s: Str<'de>) -> Self {
        bool_text(&s).ok().flatten()
    }
}

/// A list of strings: a list (other elements left out), or one string.
impl<'de> Lenient<'de> for Vec<Str<'de>> {
    fn from_str(s: Str<'de>) -> Self {
        vec![s]
    }
    fn from_seq<A: SeqAccess<'de>>(mut a: A) -> Result<Self, A::Error> {
        let mut v = Vec::new();
        while let Some(s) = a.next_element_seed(any::<Option<Str<'de>>>())? {
            v.extend(s);
        }
        Ok(v)
    }
}

/// Lists of MISP objects: a list, or an object holding them as its values.
macro_rules! object_list {
    ($($t:ident),*) => {$(
        impl<'de> Lenient<'de> for Vec<$t<'de>> {
            fn from_seq<A: SeqAccess<'de>>(mut a: A) -> Result<Self, A::Error> {
                let mut v = Vec::new();
                while let Some(x) = a.next_element_seed(any::<$t<'de>>())? {
                    v.push(x);
                }
                Ok(v)
            }
            fn from_map<A: MapAccess<'de>>(mut a: A) -> Result<Self, A::Error> {
                let mut v = Vec::new();
                while a.next_key::<IgnoredAny>()?.is_some() {
                    v.push(a.next_value_seed(any::<$t<'de>>())?);
                }
                Ok(v)
            }
        }
    )*};
}

object_list!(Galaxy, Cluster);

/// Reads a MISP object's keys (`$key`'s fields; a key given twice: the last
/// one counts) into `$t`'s members.
macro_rules! lenient_object {
    ($t:ident: $key:ident { $($field:ident => $member:ident,)* }) => {
        impl<'de> Lenient<'de> for $t<'de> {
            fn from_map<A: MapAccess<'de>>(mut a: A) -> Result<Self, A::Error> {
                let mut x = $t::default();
                while let Some(k) = a.next_key::<$key>()? {
                    match k {
                        $($key::$field => x.$member = a.next_value_seed(any())?,)*
                        $key::Other => {
                            a.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(x)
            }
        }
    };
}

lenient_object!(Galaxy: GalaxyField {
    Type => kind,
    Cluster => clusters,
});

lenient_object!(Cluster: ClusterField {
    Uuid => uuid,
    Type => kind,
    Value => value,
    TagName => tag_name,
    Description => description,
    Local => local,
    Meta => meta,
});

lenient_object!(ClusterMeta: MetaField {
    ExternalId => external_id,
    Synonyms => synonyms,
    Refs => refs,
});

#[cfg(test)]
mod tests {
    use super::*;

    fn read(json: &str) -> Vec<Galaxy<'_>> {
        let mut de = serde_json::Deserializer::from_str(json);
        let g = galaxies(&mut de).unwrap();
        de.end().unwrap();
        g
    }

    #[test]
    fn reads_misps_export_shape() {
        let g = read(
            r#"[{"id":"13","uuid":"c4e851fa-775f-11e7-8163-b774922098cd","name":"Attack Pattern",
            "type":"mitre-attack-pattern","GalaxyCluster":[{"id":"1","uuid":"a62a8db3-f23a-4d8f-afd6-9dbc77e7813b",
            "collection_uuid":"dcb864dc-775f-11e7-9fbb-1f41b4996683","type":"mitre-attack-pattern",
            "value":"Phishing - T1566","tag_name":"misp-galaxy:mitre-attack-pattern=\"Phishing - T1566\"",
            "description":"Adversaries may send phishing messages.","local":false,
            "meta":{"external_id":["T1566"],"kill_chain":["mitre-attack:initial-access"],
            "refs":["https://attack.mitre.org/techniques/T1566"]},"GalaxyElement":[{"key":"x","value":"y"}]}]}]"#,
        );
        assert_eq!(g.len(), 1);
        assert_eq!(g[0].kind.as_deref(), Some("mitre-attack-pattern"));
        let c = &g[0].clusters[0];
        assert_eq!(
            c.uuid.as_deref(),
            Some("a62a8db3-f23a-4d8f-afd6-9dbc77e7813b")
        );
        assert_eq!(c.value.as_deref(), Some("Phishing - T1566"));
        assert_eq!(
            c.tag_name.as_deref(),
            Some("misp-galaxy:mitre-attack-pattern=\"Phishing - T1566\"")
        );
        assert_eq!(c.local, Some(false));
        assert_eq!(c.meta.external_id, ["T1566"]);
        assert_eq!(c.meta.refs.len(), 1);
        assert!(c.meta.synonyms.is_empty());
        // Borrowed where the text has no escapes.
        assert!(matches!(c.value, Some(Str::Borrowed(_))));
    }

    #[test]
    fn odd_shapes_are_read_as_well_as_they_can_be() {
        // A list sent as an object, a string for a list, numbers and nulls for strings.
        let g = read(
            r#"{"3":{"type":"threat-actor","GalaxyCluster":{"0":{"uuid":"","value":"Sofacy",
            "meta":{"synonyms":"APT28","refs":[1,"https://example.org/",null],"external_id":{"a":1}},
            "local":"1","tag_name":7}}}}"#,
        );
        let c = &g[0].clusters[0];
        assert_eq!(c.uuid.as_deref(), Some(""));
        assert_eq!(c.meta.synonyms, ["APT28"]);
        assert_eq!(c.meta.refs, ["https://example.org/"]);
        assert!(c.meta.external_id.is_empty());
        assert_eq!((c.local, c.tag_name.as_deref()), (Some(true), None));
        // Anything else: no galaxy, no error.
        for json in [
            "null",
            "5",
            "\"x\"",
            "[1,[2],{\"GalaxyCluster\":7}]",
            "true",
        ] {
            let g = read(json);
            assert!(g.iter().all(|g| g.clusters.is_empty()), "{json}");
        }
        // Still JSON: a syntax error is one.
        let mut de = serde_json::Deserializer::from_str("[{\"type\":}]");
        assert!(galaxies(&mut de).is_err());
    }
}
