//! The MISP JSON model `ioc-map` reads (docs/design.md#misp-json, #misp-feeds): events,
//! attributes, objects, tags, Orgc. Everything MISP may omit is optional;
//! numbers and ids are accepted as strings or integers, booleans as `true`,
//! `0`/`1` or `"0"`/`"1"` (MISP servers and feeds mix all of these).
//! Strings borrow from the input line where they have no escapes.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

pub(crate) type Str<'a> = Cow<'a, str>;

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

/// Read by hand ([`fill`]), not derived: attributes are the bulk
/// of every input line, and the derived code was a tenth of the whole run.
/// Keys are MISP's (`type` for `kind`, `Tag`, `Event`, `Object`, `Attribute`);
/// unknown keys are skipped.
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
}

/// The keys of [`Attribute`], in the order of [`Field`].
const FIELDS: &[&str] = &[
    "id",
    "uuid",
    "type",
    "value",
    "category",
    "comment",
    "to_ids",
    "deleted",
    "timestamp",
    "first_seen",
    "last_seen",
    "object_relation",
    "event_uuid",
    "Tag",
    "Event",
    "Object",
    "Attribute",
    "response",
];

#[derive(Clone, Copy)]
pub(crate) enum Field {
    Id,
    Uuid,
    Type,
    Value,
    Category,
    Comment,
    ToIds,
    Deleted,
    Timestamp,
    FirstSeen,
    LastSeen,
    ObjectRelation,
    EventUuid,
    Tag,
    Event,
    Object,
    Attribute,
    Response,
    Other,
}

impl Field {
    /// The field a key names ([`Field::Other`]: a key this model skips).
    pub(crate) fn of(key: &str) -> Field {
        match key {
            "id" => Field::Id,
            "uuid" => Field::Uuid,
            "type" => Field::Type,
            "value" => Field::Value,
            "category" => Field::Category,
            "comment" => Field::Comment,
            "to_ids" => Field::ToIds,
            "deleted" => Field::Deleted,
            "timestamp" => Field::Timestamp,
            "first_seen" => Field::FirstSeen,
            "last_seen" => Field::LastSeen,
            "object_relation" => Field::ObjectRelation,
            "event_uuid" => Field::EventUuid,
            "Tag" => Field::Tag,
            "Event" => Field::Event,
            "Object" => Field::Object,
            "Attribute" => Field::Attribute,
            "response" => Field::Response,
            _ => Field::Other,
        }
    }
}

impl<'de> Deserialize<'de> for Field {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Field;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("field identifier")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Field, E> {
                Ok(Field::of(v))
            }
        }
        d.deserialize_identifier(V)
    }
}

/// [`opt_str`], [`opt_bool`] and [`opt_i64`] as seeds for `next_value_seed`.
pub(crate) struct OptStr;
pub(crate) struct OptBool;
pub(crate) struct OptI64;

impl<'de> de::DeserializeSeed<'de> for OptStr {
    type Value = Option<Str<'de>>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        opt_str(d)
    }
}

impl<'de> de::DeserializeSeed<'de> for OptBool {
    type Value = Option<bool>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        opt_bool(d)
    }
}

impl<'de> de::DeserializeSeed<'de> for OptI64 {
    type Value = Option<i64>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        opt_i64(d)
    }
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

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        fill(self.a, map, self.keep_id)
    }
}

impl<'de> de::DeserializeSeed<'de> for InPlace<'_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_struct("Attribute", FIELDS, self)
    }
}

/// The fields of one attribute object into `a` (a default attribute).
fn fill<'de, A: MapAccess<'de>>(
    a: &mut Attribute<'de>,
    mut map: A,
    keep_id: bool,
) -> Result<(), A::Error> {
    // A key given twice is an error, as serde's derived code has it.
    let mut seen = 0u32;
    while let Some(field) = map.next_key::<Field>()? {
        if !matches!(field, Field::Other) {
            let bit = 1u32 << field as u32;
            if seen & bit != 0 {
                return Err(de::Error::duplicate_field(FIELDS[field as usize]));
            }
            seen |= bit;
        }
        match field {
            Field::Id if keep_id => a.id = map.next_value_seed(OptStr)?,
            Field::Id | Field::Other => {
                map.next_value::<de::IgnoredAny>()?;
            }
            Field::Uuid => a.uuid = map.next_value_seed(OptStr)?,
            Field::Type => a.kind = map.next_value_seed(OptStr)?,
            Field::Value => a.value = map.next_value_seed(OptStr)?,
            Field::Category => a.category = map.next_value_seed(OptStr)?,
            Field::Comment => a.comment = map.next_value_seed(OptStr)?,
            Field::ToIds => a.to_ids = map.next_value_seed(OptBool)?,
            Field::Deleted => a.deleted = map.next_value_seed(OptBool)?,
            Field::Timestamp => a.timestamp = map.next_value_seed(OptI64)?,
            Field::FirstSeen => a.first_seen = map.next_value_seed(OptStr)?,
            Field::LastSeen => a.last_seen = map.next_value_seed(OptStr)?,
            Field::ObjectRelation => a.object_relation = map.next_value_seed(OptStr)?,
            Field::EventUuid => a.event_uuid = map.next_value_seed(OptStr)?,
            Field::Tag => a.tags = map.next_value()?,
            Field::Event => a.event = map.next_value()?,
            Field::Object => a.object = map.next_value()?,
            Field::Attribute => a.attributes = map.next_value()?,
            Field::Response => a.response = map.next_value()?,
        }
    }
    Ok(())
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

#[derive(Debug, Default, Deserialize)]
pub struct Event<'a> {
    #[serde(default, borrow, deserialize_with = "opt_str")]
    pub id: Option<Str<'a>>,
    #[serde(default, borrow, deserialize_with = "opt_str")]
    pub uuid: Option<Str<'a>>,
    #[serde(default, borrow, deserialize_with = "opt_str")]
    pub info: Option<Str<'a>>,
    /// `YYYY-MM-DD`.
    #[serde(default, borrow, deserialize_with = "opt_str")]
    pub date: Option<Str<'a>>,
    #[serde(default, deserialize_with = "opt_i64")]
    pub threat_level_id: Option<i64>,
    #[serde(default, deserialize_with = "opt_i64")]
    pub timestamp: Option<i64>,
    #[serde(default, deserialize_with = "opt_i64")]
    pub publish_timestamp: Option<i64>,
    #[serde(default, borrow, rename = "Orgc", alias = "orgc")]
    pub orgc: Option<Org<'a>>,
    #[serde(default, borrow, rename = "Tag")]
    pub tags: Vec<Tag<'a>>,
    #[serde(
        default,
        borrow,
        rename = "Attribute",
        deserialize_with = "attribute_list"
    )]
    pub attributes: Vec<Attribute<'a>>,
    #[serde(default, borrow, rename = "Object")]
    pub objects: Vec<Object<'a>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Org<'a> {
    #[serde(default, borrow, deserialize_with = "opt_str")]
    pub uuid: Option<Str<'a>>,
    #[serde(default, borrow, deserialize_with = "opt_str")]
    pub name: Option<Str<'a>>,
}

/// A MISP object inside an event, with its own attributes.
#[derive(Debug, Default, Deserialize)]
pub struct Object<'a> {
    #[serde(default, borrow, deserialize_with = "opt_str")]
    pub name: Option<Str<'a>>,
    #[serde(default, borrow, deserialize_with = "opt_str")]
    pub uuid: Option<Str<'a>>,
    #[serde(default, deserialize_with = "opt_i64")]
    pub timestamp: Option<i64>,
    #[serde(default, deserialize_with = "opt_bool")]
    pub deleted: Option<bool>,
    #[serde(default, borrow, deserialize_with = "opt_str")]
    pub first_seen: Option<Str<'a>>,
    #[serde(default, borrow, deserialize_with = "opt_str")]
    pub last_seen: Option<Str<'a>>,
    #[serde(
        default,
        borrow,
        rename = "Attribute",
        deserialize_with = "object_attribute_list"
    )]
    pub attributes: Vec<Attribute<'a>>,
}

/// The `Object` context of a bare object attribute (`{id, distribution, …}`;
/// some servers add `name`).
#[derive(Debug, Default, Deserialize)]
pub struct ObjectStub<'a> {
    #[serde(default, borrow, deserialize_with = "opt_str")]
    pub name: Option<Str<'a>>,
    #[serde(default, deserialize_with = "opt_i64")]
    pub timestamp: Option<i64>,
    #[serde(default, deserialize_with = "opt_bool")]
    pub deleted: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Tag<'a> {
    #[serde(default, borrow)]
    pub name: Str<'a>,
    /// A local tag (not shared).
    #[serde(default, deserialize_with = "opt_bool")]
    pub local: Option<bool>,
    /// An event tag copied onto an attribute (`includeEventTags`).
    #[serde(default, deserialize_with = "opt_bool")]
    pub inherited: Option<bool>,
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
        struct V<T>(std::marker::PhantomData<T>);
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
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// An event's attributes, with room for 512 from the start: events
/// hold hundreds, and a list grown from empty moves each attribute several times.
fn attribute_list<'de: 'a, 'a, D: Deserializer<'de>>(d: D) -> Result<Vec<Attribute<'a>>, D::Error> {
    attributes_in(d, 512)
}

/// An object's attributes (a few).
fn object_attribute_list<'de: 'a, 'a, D: Deserializer<'de>>(
    d: D,
) -> Result<Vec<Attribute<'a>>, D::Error> {
    attributes_in(d, 0)
}

/// The attributes of an event or object, without their `id`s.
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

/// A number sent as a JSON integer, a float, a string of digits, or null/"" (= none).
fn opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<i64>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an integer or a string of digits")
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(v))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            i64::try_from(v)
                .map(Some)
                .map_err(|_| E::custom("number out of range"))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            Ok(Some(v as i64))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            i64_text(v).map_err(E::custom)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    }
    d.deserialize_any(V)
}

/// A number sent as a string ("" = none).
pub(crate) fn i64_text(v: &str) -> Result<Option<i64>, String> {
    let v = crate::misp::value::trim(v);
    if v.is_empty() {
        return Ok(None);
    }
    v.parse()
        .map(Some)
        .map_err(|_| format!("{v:?} is not a number"))
}

/// A boolean sent as a string ("" = none).
pub(crate) fn bool_text(v: &str) -> Result<Option<bool>, String> {
    match crate::misp::value::trim(v) {
        "1" | "true" | "True" => Ok(Some(true)),
        "0" | "false" | "False" => Ok(Some(false)),
        "" => Ok(None),
        other => Err(format!("{other:?} is not a boolean")),
    }
}

/// A boolean sent as `true`/`false`, `0`/`1`, `"0"`/`"1"`, `"true"`/`"false"`, or null.
fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<bool>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a boolean, 0 or 1")
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
            Ok(Some(v))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(v != 0))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(v != 0))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            bool_text(v).map_err(E::custom)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    }
    d.deserialize_any(V)
}

/// A string, borrowed from the input where it has no escapes (serde's own
/// `Option<Cow<str>>` always copies). Integers are accepted too (ids).
fn opt_str<'de: 'a, 'a, D: Deserializer<'de>>(d: D) -> Result<Option<Str<'a>>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<Str<'de>>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an id (string or integer)")
        }
        fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Borrowed(v)))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v.to_owned())))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(itoa::Buffer::new().format(v).to_owned())))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(itoa::Buffer::new().format(v).to_owned())))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    }
    d.deserialize_any(V)
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
