//! The MISP JSON model `ioc-map` reads (docs/design.md#misp-json, #misp-feeds): events,
//! attributes, objects, tags, Orgc, galaxy clusters ([`crate::misp::galaxy`]). Everything MISP may omit is optional;
//! numbers and ids are accepted as strings or integers, booleans as `true`,
//! `0`/`1` or `"0"`/`"1"` (MISP servers and feeds mix all of these).
//! Strings borrow from the input line where they have no escapes.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use crate::misp::fields::{
    AttributeField, EventField, Key, ObjectField, ObjectStubField, OrgField, TagField,
};
use serde_json::value::RawValue;

use crate::misp::galaxy::{galaxies, Galaxy};
pub(crate) use crate::misp::scalar::Str;
use crate::misp::scalar::{cow_str, opt_bool, opt_i64, opt_str};

/// One input line. A line is parsed once into this superset of an attribute,
/// then classified by [`Line::kind`]: a bare attribute (which may carry an
/// `Event` stub and `Object` stub as context), `{"Attribute":…}` (one or many),
/// `{"Event":…}`, or `{"response":…}`.
pub type Line<'a> = Attribute<'a>;

/// What a parsed line holds.
pub enum LineKind<'l, 'a> {
    /// A bare attribute (with `type` or `value`).
    Attribute(&'l Attribute<'a>),
    /// `{"Attribute": …}`: one attribute or a list.
    Attributes(&'l [Attribute<'a>]),
    /// `{"Event": …}`.
    Event(&'l Event<'a>),
    /// `{"response": …}`: a list of lines, or one.
    Response(&'l [Line<'a>]),
    /// None of these.
    Unknown,
}

/// Read in place (`InPlace`), without serde's array form: attributes are
/// the bulk of every input line, and the derived code was a tenth of the
/// whole run. Keys are MISP's ([`AttributeField`]: `type` for `kind`, `Tag`,
/// `Event`, `Object`, `Attribute`); unknown keys are skipped.
#[derive(Debug, Default)]
pub struct Attribute<'a> {
    /// Not read for the attributes of an event or object: nothing uses it there.
    pub id: Option<Str<'a>>,
    pub uuid: Option<Str<'a>>,
    /// `type`.
    pub kind: Option<Str<'a>>,
    pub value: Option<Str<'a>>,
    pub category: Option<Str<'a>>,
    pub comment: Option<Str<'a>>,
    pub to_ids: Option<bool>,
    pub deleted: Option<bool>,
    pub timestamp: Option<i64>,
    pub first_seen: Option<Str<'a>>,
    pub last_seen: Option<Str<'a>>,
    pub object_relation: Option<Str<'a>>,
    pub event_uuid: Option<Str<'a>>,
    /// `Tag`.
    pub tags: Vec<Tag<'a>>,
    /// `Event`: the event of a bare attribute (a stub, or full metadata with
    /// `includeContext`); the whole event of an `{"Event":…}` line.
    pub event: Option<Box<Event<'a>>>,
    /// `Object`: the object stub of a bare object attribute (`/attributes/restSearch`).
    pub object: Option<Box<ObjectStub<'a>>>,
    /// `Attribute`, only on a line: `{"Attribute": …}` (this and `response`
    /// boxed: a small attribute is quicker to move and drop).
    pub attributes: Option<Box<OneOrMany<Attribute<'a>>>>,
    /// Only on a line: `{"response": …}`.
    pub response: Option<Box<OneOrMany<Line<'a>>>>,
    /// `Galaxy`: the clusters attached to this attribute, as JSON text, read
    /// (by `galaxies_in`) only when `map::context` asks for them: most
    /// attributes have none, and a text costs nothing to drop, millions of times.
    pub galaxy: Option<&'a str>,
}

/// A MISP object read through its field enum ([`Key`]): each known key
/// into its field, unknown keys skipped, a key given twice an error (as
/// serde's derived code has it).
trait Fill<'de> {
    type Key: Key + Deserialize<'de>;
    /// The struct's name, for serde's messages.
    const NAME: &'static str;
    /// Reads the value of `field` from `d`.
    fn set<D: Deserializer<'de>>(&mut self, field: Self::Key, d: D) -> Result<(), D::Error>;
}

/// The fields of one JSON object into `t`.
fn fill<'de, T: Fill<'de>, A: MapAccess<'de>>(t: &mut T, mut map: A) -> Result<(), A::Error> {
    let mut seen = 0u32;
    while let Some(field) = map.next_key::<T::Key>()? {
        let Some(i) = field.index() else {
            map.next_value::<de::IgnoredAny>()?;
            continue;
        };
        if seen & 1 << i != 0 {
            return Err(de::Error::duplicate_field(T::Key::KEYS[i]));
        }
        seen |= 1 << i;
        map.next_value_seed(Set(t, field))?;
    }
    Ok(())
}

/// The value of one field, read into its struct.
struct Set<'t, T, K>(&'t mut T, K);

impl<'de, T: Fill<'de>> DeserializeSeed<'de> for Set<'_, T, T::Key> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        self.0.set(self.1, d)
    }
}

/// Reads a `T` as serde's derived code reads a struct whose fields all
/// default: from an object, or from an array of its fields in order.
struct Read<T>(PhantomData<T>);

impl<'de, T: Fill<'de> + Default> Visitor<'de> for Read<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "struct {}", T::NAME)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        let mut t = T::default();
        fill(&mut t, map)?;
        Ok(t)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<T, A::Error> {
        let mut t = T::default();
        for &field in T::Key::ALL {
            if seq.next_element_seed(Set(&mut t, field))?.is_none() {
                break;
            }
        }
        Ok(t)
    }
}

/// [`Fill`] for a struct (each field of its key enum read into a member by
/// a reader), and `Deserialize` through it and [`Read`].
macro_rules! fill_by_key {
    ($name:ident: $key:ident { $($field:ident => $member:ident by $read:expr,)* }) => {
        impl<'de: 'a, 'a> Fill<'de> for $name<'a> {
            type Key = $key;
            const NAME: &'static str = stringify!($name);

            fn set<D: Deserializer<'de>>(&mut self, field: $key, d: D) -> Result<(), D::Error> {
                match field {
                    $($key::$field => self.$member = ($read)(d)?,)*
                    $key::Other => skip(d)?,
                }
                Ok(())
            }
        }

        impl<'de: 'a, 'a> Deserialize<'de> for $name<'a> {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_struct(stringify!($name), $key::KEYS, Read(PhantomData))
            }
        }
    };
}

/// A value read and dropped (a key the model skips).
fn skip<'de, D: Deserializer<'de>>(d: D) -> Result<(), D::Error> {
    de::IgnoredAny::deserialize(d).map(drop)
}

/// Reads one attribute into `a`, in place (an attribute is large: moving it
/// from the parser into its list costs more than most of its fields).
struct InPlace<'s, 'de> {
    a: &'s mut Attribute<'de>,
    keep_id: bool,
}

impl<'de> Visitor<'de> for InPlace<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("struct Attribute")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, map: A) -> Result<(), A::Error> {
        fill(&mut self, map)
    }
}

impl<'de> DeserializeSeed<'de> for InPlace<'_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_struct("Attribute", AttributeField::KEYS, self)
    }
}

impl<'de> Fill<'de> for InPlace<'_, 'de> {
    type Key = AttributeField;
    const NAME: &'static str = "Attribute";

    fn set<D: Deserializer<'de>>(&mut self, field: AttributeField, d: D) -> Result<(), D::Error> {
        let a = &mut *self.a;
        match field {
            AttributeField::Id if self.keep_id => a.id = opt_str(d)?,
            AttributeField::Id | AttributeField::Other => skip(d)?,
            AttributeField::Uuid => a.uuid = opt_str(d)?,
            AttributeField::Type => a.kind = opt_str(d)?,
            AttributeField::Value => a.value = opt_str(d)?,
            AttributeField::Category => a.category = opt_str(d)?,
            AttributeField::Comment => a.comment = opt_str(d)?,
            AttributeField::ToIds => a.to_ids = opt_bool(d)?,
            AttributeField::Deleted => a.deleted = opt_bool(d)?,
            AttributeField::Timestamp => a.timestamp = opt_i64(d)?,
            AttributeField::FirstSeen => a.first_seen = opt_str(d)?,
            AttributeField::LastSeen => a.last_seen = opt_str(d)?,
            AttributeField::ObjectRelation => a.object_relation = opt_str(d)?,
            AttributeField::EventUuid => a.event_uuid = opt_str(d)?,
            AttributeField::Tag => a.tags = Deserialize::deserialize(d)?,
            AttributeField::Event => a.event = Deserialize::deserialize(d)?,
            AttributeField::Object => a.object = Deserialize::deserialize(d)?,
            AttributeField::Attribute => a.attributes = Deserialize::deserialize(d)?,
            AttributeField::Response => a.response = Deserialize::deserialize(d)?,
            AttributeField::Galaxy => a.galaxy = Some(<&RawValue>::deserialize(d)?.get()),
        }
        Ok(())
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Attribute<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // A line's attribute (or the line itself) keeps its `id`.
        let mut a = Attribute::default();
        de::DeserializeSeed::deserialize(
            InPlace {
                a: &mut a,
                keep_id: true,
            },
            d,
        )?;
        Ok(a)
    }
}

impl<'a> Attribute<'a> {
    /// Classifies a parsed line.
    pub fn kind(&self) -> LineKind<'_, 'a> {
        if self.kind.is_some() || self.value.is_some() {
            LineKind::Attribute(self)
        } else if let Some(a) = &self.attributes {
            LineKind::Attributes(a.as_slice())
        } else if let Some(e) = &self.event {
            LineKind::Event(e)
        } else if let Some(r) = &self.response {
            LineKind::Response(r.as_slice())
        } else {
            LineKind::Unknown
        }
    }

    /// Tags that came from the event (`"inherited": 1` with `includeEventTags`).
    pub fn own_tags(&self) -> impl Iterator<Item = &Tag<'a>> {
        self.tags.iter().filter(|t| !t.inherited.unwrap_or(false))
    }

    pub fn inherited_tags(&self) -> impl Iterator<Item = &Tag<'a>> {
        self.tags.iter().filter(|t| t.inherited.unwrap_or(false))
    }
}

/// A MISP event (keys: [`EventField`]): a full event, or a bare attribute's
/// event stub.
#[derive(Debug, Default)]
pub struct Event<'a> {
    pub id: Option<Str<'a>>,
    pub uuid: Option<Str<'a>>,
    pub info: Option<Str<'a>>,
    /// `YYYY-MM-DD`.
    pub date: Option<Str<'a>>,
    pub threat_level_id: Option<i64>,
    pub timestamp: Option<i64>,
    pub publish_timestamp: Option<i64>,
    pub orgc: Option<Org<'a>>,
    pub tags: Vec<Tag<'a>>,
    pub attributes: Vec<Attribute<'a>>,
    pub objects: Vec<Object<'a>>,
    /// `Galaxy`: the clusters attached to the event (they apply to all its attributes).
    pub galaxies: Vec<Galaxy<'a>>,
}

/// An event's `Orgc` (keys: [`OrgField`]).
#[derive(Debug, Default)]
pub struct Org<'a> {
    pub uuid: Option<Str<'a>>,
    pub name: Option<Str<'a>>,
}

/// A MISP object inside an event, with its own attributes (keys: [`ObjectField`]).
#[derive(Debug, Default)]
pub struct Object<'a> {
    pub name: Option<Str<'a>>,
    pub uuid: Option<Str<'a>>,
    pub timestamp: Option<i64>,
    pub deleted: Option<bool>,
    pub first_seen: Option<Str<'a>>,
    pub last_seen: Option<Str<'a>>,
    pub attributes: Vec<Attribute<'a>>,
}

/// The `Object` context of a bare object attribute (`{id, distribution, …}`;
/// some servers add `name`; keys: [`ObjectStubField`]).
#[derive(Debug, Default)]
pub struct ObjectStub<'a> {
    pub name: Option<Str<'a>>,
    pub timestamp: Option<i64>,
    pub deleted: Option<bool>,
}

/// A tag (keys: [`TagField`]).
#[derive(Debug, Default)]
pub struct Tag<'a> {
    pub name: Str<'a>,
    /// A local tag (not shared).
    pub local: Option<bool>,
    /// An event tag copied onto an attribute (`includeEventTags`).
    pub inherited: Option<bool>,
}

fill_by_key! {
    Event: EventField {
        Id => id by opt_str,
        Uuid => uuid by opt_str,
        Info => info by opt_str,
        Date => date by opt_str,
        ThreatLevelId => threat_level_id by opt_i64,
        Timestamp => timestamp by opt_i64,
        PublishTimestamp => publish_timestamp by opt_i64,
        Orgc => orgc by Deserialize::deserialize,
        Tag => tags by Deserialize::deserialize,
        Attribute => attributes by |d| attributes_in(d, 512),
        Object => objects by Deserialize::deserialize,
        Galaxy => galaxies by galaxies,
    }
}

fill_by_key! {
    Org: OrgField {
        Uuid => uuid by opt_str,
        Name => name by opt_str,
    }
}

fill_by_key! {
    Object: ObjectField {
        Name => name by opt_str,
        Uuid => uuid by opt_str,
        Timestamp => timestamp by opt_i64,
        Deleted => deleted by opt_bool,
        FirstSeen => first_seen by opt_str,
        LastSeen => last_seen by opt_str,
        Attribute => attributes by |d| attributes_in(d, 0),
    }
}

fill_by_key! {
    ObjectStub: ObjectStubField {
        Name => name by opt_str,
        Timestamp => timestamp by opt_i64,
        Deleted => deleted by opt_bool,
    }
}

fill_by_key! {
    Tag: TagField {
        Name => name by cow_str,
        Local => local by opt_bool,
        Inherited => inherited by opt_bool,
    }
}

/// A value that MISP sends as one object or as a list of them.
#[derive(Debug)]
pub struct OneOrMany<T>(pub Vec<T>);

impl<T> OneOrMany<T> {
    pub fn as_slice(&self) -> &[T] {
        &self.0
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OneOrMany<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = OneOrMany<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object or a list of objects")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
                while let Some(x) = seq.next_element()? {
                    v.push(x);
                }
                Ok(OneOrMany(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                let one = T::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(OneOrMany(vec![one]))
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// The attributes of an event or object, without their `id`s, with room
/// for `capacity` from the start: events hold hundreds, and a list grown from
/// empty moves each attribute several times (an object holds a few).
fn attributes_in<'de: 'a, 'a, D: Deserializer<'de>>(
    d: D,
    capacity: usize,
) -> Result<Vec<Attribute<'a>>, D::Error> {
    struct V(usize);
    impl<'de> Visitor<'de> for V {
        type Value = Vec<Attribute<'de>>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a sequence")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut v = Vec::with_capacity(self.0);
            loop {
                // Parsed where it is kept (see `InPlace`); the slot goes again at the end.
                v.push(Attribute::default());
                let a = v.last_mut().expect("just pushed");
                let seed = InPlace { a, keep_id: false };
                if seq.next_element_seed(seed)?.is_none() {
                    v.pop();
                    return Ok(v);
                }
            }
        }
    }
    d.deserialize_seq(V(capacity))
}

/// Whether a JSON object looks like a MISP feed's `manifest.json`: keyed by
/// event uuids, each value an object with `info` or `Orgc`.
pub fn is_feed_manifest(bytes: &[u8]) -> bool {
    let Ok(map) = serde_json::from_slice::<
        std::collections::HashMap<&str, std::collections::HashMap<&str, de::IgnoredAny>>,
    >(bytes) else {
        return false;
    };
    !map.is_empty()
        && map.iter().all(|(k, v)| {
            uuid::Uuid::try_parse(k).is_ok() && (v.contains_key("info") || v.contains_key("Orgc"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(s: &str) -> Line<'_> {
        serde_json::from_str(s).unwrap()
    }

    #[test]
    fn numbers_and_booleans_in_every_form() {
        let a = line(
            r#"{"type":"domain","value":"x.example","timestamp":"17","to_ids":"1","deleted":0,"id":42}"#,
        );
        assert_eq!(a.timestamp, Some(17));
        assert_eq!(a.to_ids, Some(true));
        assert_eq!(a.deleted, Some(false));
        assert_eq!(a.id.as_deref(), Some("42"));
        let a =
            line(r#"{"type":"domain","value":"x","timestamp":17,"to_ids":false,"deleted":"0"}"#);
        assert_eq!(
            (a.timestamp, a.to_ids, a.deleted),
            (Some(17), Some(false), Some(false))
        );
        let a = line(r#"{"type":"domain","value":"x","timestamp":null,"to_ids":null}"#);
        assert_eq!((a.timestamp, a.to_ids), (None, None));
        assert!(serde_json::from_str::<Line>(r#"{"type":"d","to_ids":"maybe"}"#).is_err());
    }

    #[test]
    fn classifies_lines() {
        assert!(matches!(
            line(r#"{"Event":{"uuid":"u"}}"#).kind(),
            LineKind::Event(_)
        ));
        assert!(matches!(
            line(r#"{"Attribute":{"type":"md5","value":"x"}}"#).kind(),
            LineKind::Attributes(a) if a.len() == 1
        ));
        assert!(matches!(
            line(r#"{"type":"md5","value":"x","Event":{"uuid":"e"}}"#).kind(),
            LineKind::Attribute(_)
        ));
        let r = line(r#"{"response":[{"Event":{"uuid":"a"}},{"Event":{"uuid":"b"}}]}"#);
        assert!(matches!(r.kind(), LineKind::Response(l) if l.len() == 2));
        let r = line(r#"{"response":{"Attribute":[{"type":"md5","value":"x"}]}}"#);
        assert!(matches!(r.kind(), LineKind::Response(l) if l.len() == 1));
        assert!(matches!(line(r#"{"foo":1}"#).kind(), LineKind::Unknown));
    }

    #[test]
    fn event_with_objects_tags_and_orgc() {
        let l = line(
            r#"{"Event":{"id":"4711","uuid":"e","threat_level_id":2,"date":"2026-03-01",
            "Orgc":{"uuid":"o","name":"CERT"},"Tag":[{"name":"tlp:green","local":0}],
            "Attribute":[{"type":"domain","value":"a.example","Tag":[{"name":"x","inherited":1}]}],
            "Object":[{"name":"file","timestamp":"5","Attribute":[{"type":"sha256","value":"ab","object_relation":"sha256"}]}]}}"#,
        );
        let LineKind::Event(e) = l.kind() else {
            panic!()
        };
        assert_eq!(e.threat_level_id, Some(2));
        assert_eq!(e.orgc.as_ref().unwrap().name.as_deref(), Some("CERT"));
        assert_eq!(
            e.objects[0].attributes[0].object_relation.as_deref(),
            Some("sha256")
        );
        assert_eq!(e.attributes[0].inherited_tags().count(), 1);
        assert_eq!(e.tags[0].local, Some(false));
    }

    #[test]
    fn recognises_feed_manifests() {
        assert!(is_feed_manifest(
            br#"{"5f0e8b1a-6d2c-4a8e-b1f3-0c9d8e7f6a5b":{"Orgc":{"name":"x"},"info":"y","timestamp":1}}"#
        ));
        assert!(!is_feed_manifest(br#"{"foo":{"info":"y"}}"#));
        assert!(!is_feed_manifest(br#"{}"#));
    }
}
