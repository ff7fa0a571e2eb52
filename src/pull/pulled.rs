//! The few fields `misp-pull` reads from the events and attributes it passes
//! on (ids for de-duplication, times for the state mark, counts for the
//! summary). Reading them also checks that the element is valid JSON. MISP
//! writes numbers as strings or as integers (docs/design.md#misp-json): both are taken.

use serde::de::{self, IgnoredAny};
use serde::{Deserialize, Deserializer};

use crate::json::framing::{for_each_bracket, is_ws};

/// A number sent as an integer, a numeric string, or null.
pub fn num<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    struct V;
    impl<'de> de::Visitor<'de> for V {
        type Value = Option<i64>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a number or a numeric string")
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(v))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            i64::try_from(v).map(Some).map_err(E::custom)
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            Ok(Some(v as i64))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            let v = v.trim();
            if v.is_empty() {
                return Ok(None);
            }
            v.parse()
                .map(Some)
                .map_err(|_| E::custom(format!("{v:?} is not a number")))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(V)
        }
    }
    d.deserialize_any(V)
}

#[derive(Deserialize)]
struct EventDoc {
    #[serde(rename = "Event", deserialize_with = "object")]
    event: EventFields,
}

/// A struct read from a JSON object only: serde's derive would also take a
/// list, field by field in order, which no MISP event or attribute is.
fn object<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<T, D::Error> {
    struct V<T>(std::marker::PhantomData<T>);
    impl<'de, T: Deserialize<'de>> de::Visitor<'de> for V<T> {
        type Value = T;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
            T::deserialize(de::value::MapAccessDeserializer::new(map))
        }
    }
    d.deserialize_map(V(std::marker::PhantomData))
}

#[derive(Deserialize)]
struct EventFields {
    #[serde(default, deserialize_with = "num")]
    id: Option<i64>,
    #[serde(default)]
    uuid: Option<String>,
    #[serde(default, deserialize_with = "num")]
    timestamp: Option<i64>,
    #[serde(default, deserialize_with = "num")]
    publish_timestamp: Option<i64>,
    #[serde(default, deserialize_with = "num")]
    attribute_count: Option<i64>,
    #[serde(rename = "Attribute", default)]
    attributes: Option<Vec<IgnoredAny>>,
    #[serde(rename = "Object", default)]
    objects: Option<Vec<ObjectFields>>,
}

#[derive(Deserialize)]
struct ObjectFields {
    #[serde(rename = "Attribute", default)]
    attributes: Option<Vec<IgnoredAny>>,
}

/// What the puller needs to know about one `{"Event":…}`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PulledEvent {
    pub id: Option<i64>,
    pub uuid: Option<String>,
    pub timestamp: Option<i64>,
    pub publish_timestamp: Option<i64>,
    /// `attribute_count` as MISP states it (present in metadata listings).
    pub attribute_count: Option<i64>,
    /// Attributes present: `Event.Attribute[]` plus every `Event.Object[].Attribute[]`.
    pub attributes: u64,
}

/// Reads one `{"Event":…}` (and checks it is valid JSON).
pub fn event_info(bytes: &[u8]) -> Result<PulledEvent, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let e = object::<_, EventDoc>(&mut de)?.event;
    de.end()?;
    let standalone = e.attributes.map_or(0, |a| a.len() as u64);
    let in_objects: u64 = e
        .objects
        .unwrap_or_default()
        .iter()
        .map(|o| o.attributes.as_ref().map_or(0, |a| a.len() as u64))
        .sum();
    Ok(PulledEvent {
        id: e.id,
        uuid: e.uuid,
        timestamp: e.timestamp,
        publish_timestamp: e.publish_timestamp,
        attribute_count: e.attribute_count,
        attributes: standalone + in_objects,
    })
}

/// `Event.id` of one `{"Event":…}`, read without parsing the rest of the
/// event (MISP writes `id` first, so this costs almost nothing however big the
/// event is). `None` when there is no `id`; an error when what comes before it
/// is not JSON.
pub fn event_id(bytes: &[u8]) -> Result<Option<i64>, serde_json::Error> {
    use serde::de::{Error as _, MapAccess, Visitor};
    use std::cell::Cell;

    const FOUND: &str = "misp2ms: id found";

    #[derive(Deserialize)]
    struct Num(#[serde(deserialize_with = "num")] Option<i64>);

    struct Outer<'a>(&'a Cell<Option<i64>>);
    struct Inner<'a>(&'a Cell<Option<i64>>);

    impl<'de> Visitor<'de> for Outer<'_> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("{\"Event\":{…}}")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            while let Some(key) = map.next_key::<std::borrow::Cow<str>>()? {
                if key == "Event" {
                    map.next_value_seed(Inner(self.0))?;
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(())
        }
    }

    impl<'de> de::DeserializeSeed<'de> for Inner<'_> {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_map(self)
        }
    }

    impl<'de> Visitor<'de> for Inner<'_> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an event object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            while let Some(key) = map.next_key::<std::borrow::Cow<str>>()? {
                if key == "id" {
                    self.0.set(map.next_value::<Num>()?.0);
                    // Stop here: the rest of the event is not needed.
                    return Err(A::Error::custom(FOUND));
                }
                map.next_value::<IgnoredAny>()?;
            }
            Ok(())
        }
    }

    let found = Cell::new(None);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    match de.deserialize_map(Outer(&found)) {
        Ok(()) => Ok(None),
        Err(e) if e.to_string().starts_with(FOUND) => Ok(found.get()),
        Err(e) => Err(e),
    }
}

/// How many attributes one `{"Event":…}` holds: `Event.Attribute[]` plus
/// every `Event.Object[].Attribute[]`, the way `ioc-map` counts them (and
/// [`event_info`]), without parsing the event: only its brackets outside
/// strings are visited (`json::framing`), and the key before a bracket is
/// looked at only directly inside the event and its objects. The bytes must
/// be JSON (the stream framing has checked their structure).
pub fn attribute_count(bytes: &[u8]) -> u64 {
    /// What an open bracket is.
    #[derive(Clone, Copy, PartialEq)]
    enum Open {
        /// The `{"Event":…}` wrapper.
        Doc,
        Event,
        /// An `Attribute` list: each object in it is an attribute.
        Attributes,
        /// `Event.Object`, and one object in it.
        Objects,
        Object,
        Other,
    }
    let mut stack: Vec<Open> = Vec::with_capacity(16);
    let mut count = 0u64;
    for_each_bracket(bytes, |at, opens| {
        if !opens {
            stack.pop();
            return;
        }
        let is = |name: &[u8]| key_before(bytes, at) == Some(name);
        let object = bytes[at] == b'{';
        let open = match stack.last() {
            None if object => Open::Doc,
            Some(Open::Doc) if object && is(b"Event") => Open::Event,
            Some(Open::Event) if !object && is(b"Attribute") => Open::Attributes,
            Some(Open::Event) if !object && is(b"Object") => Open::Objects,
            Some(Open::Objects) if object => Open::Object,
            Some(Open::Object) if !object && is(b"Attribute") => Open::Attributes,
            Some(Open::Attributes) if object => {
                count += 1;
                Open::Other
            }
            _ => Open::Other,
        };
        stack.push(open);
    });
    count
}

/// The key of the value that starts at `at` (`"key": ` just before it), when
/// it has no escapes (the keys looked for have none).
fn key_before(bytes: &[u8], at: usize) -> Option<&[u8]> {
    let skip_ws = |mut i: usize| {
        while i > 0 && is_ws(bytes[i - 1]) {
            i -= 1;
        }
        i
    };
    let colon = skip_ws(at).checked_sub(1)?;
    if bytes[colon] != b':' {
        return None;
    }
    let close = skip_ws(colon).checked_sub(1)?;
    if bytes[close] != b'"' {
        return None;
    }
    let open = memchr::memrchr2(b'"', b'\\', &bytes[..close])?;
    // Outside strings no `\` stands before an opening quote: one there makes
    // this quote part of a key with escapes.
    let escaped = open > 0 && bytes[open - 1] == b'\\';
    (bytes[open] == b'"' && !escaped).then(|| &bytes[open + 1..close])
}

#[derive(Deserialize)]
struct AttributeFields {
    #[serde(default, deserialize_with = "num")]
    id: Option<i64>,
    #[serde(default, deserialize_with = "num")]
    event_id: Option<i64>,
    #[serde(default, deserialize_with = "uuid_text")]
    uuid: Option<u128>,
}

/// A `uuid` that is a UUID's text; any other value (another type, another
/// text) is no uuid, never an unreadable attribute.
fn uuid_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u128>, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    Ok(v.as_str()
        .and_then(|u| uuid::Uuid::try_parse(u.trim()).ok())
        .map(|u| u.as_u128()))
}

/// What the puller needs to know about one attribute of `/attributes/restSearch`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PulledAttribute {
    pub id: Option<i64>,
    pub event_id: Option<i64>,
    /// Its uuid, where it has one that is a UUID.
    pub uuid: Option<u128>,
}

/// Reads one bare attribute object (and checks it is valid JSON).
pub fn attribute_info(bytes: &[u8]) -> Result<PulledAttribute, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let a: AttributeFields = object(&mut de)?;
    de.end()?;
    Ok(PulledAttribute {
        id: a.id,
        event_id: a.event_id,
        uuid: a.uuid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_and_integers() {
        let s = br#"{"Event":{"id":"12","uuid":"u","timestamp":"100","publish_timestamp":200,
            "Attribute":[{"id":"1"},{"id":"2"}],"Object":[{"Attribute":[{"id":"3"}]},{"name":"x"}]}}"#;
        let e = event_info(s).unwrap();
        assert_eq!(e.id, Some(12));
        assert_eq!(e.timestamp, Some(100));
        assert_eq!(e.publish_timestamp, Some(200));
        assert_eq!(e.attributes, 3);
        let a = attribute_info(br#"{"id":7,"event_id":"12","value":"x"}"#).unwrap();
        assert_eq!((a.id, a.event_id, a.uuid), (Some(7), Some(12), None));
        let a = attribute_info(br#"{"id":"7","uuid":"5d0c0ffe-0000-4000-8000-00000000e001"}"#);
        assert_eq!(
            a.unwrap().uuid,
            Some(0x5d0c0ffe_0000_4000_8000_00000000e001)
        );
        let a = attribute_info(br#"{"id":"7","uuid":7}"#).unwrap();
        assert_eq!((a.id, a.uuid), (Some(7), None));
    }

    #[test]
    fn attribute_count_is_event_and_object_attributes() {
        let docs: [&[u8]; 8] = [
            br#"{"Event":{"id":"12","uuid":"u","Attribute":[{"id":"1"},{"id":"2","Tag":[{"name":"Attribute"}]}],"Object":[{"Attribute":[{"id":"3","value":"\"Attribute\":[{}]"}]},{"name":"x"},{"Attribute":[]}]}}"#,
            br#"{"Event":{"info":"{\"Attribute\":[{},{}]}","Galaxy":[{"GalaxyCluster":[{"Attribute":[{}]}]}],"Attribute":[]}}"#,
            br#"{"Event":{"Object":[{"name":"file","Attribute":[{"id":"1"},{"id":"2"}],"ObjectReference":[{"Attribute":{"id":"9"}}]}],"ShadowAttribute":[{"id":"5"}]}}"#,
            br#"{ "Event" : { "Attribute" : [ { "id" : "1" } , { "id" : "2" } ] } }"#,
            br#"{"Event":{"id":"1"}}"#,
            br#"{"Event":{"Attribute":[{"id":"1","comment":"a \\"},{"id":"2"}],"Tag":[]}}"#,
            br#"{"Event":{"x\"Attribute":[{"id":"1"}],"\\Attribute":[{"id":"2"}]}}"#,
            br#"{"Event":{"Attribute":[{"id":"1","x":"Attribute\\"}, {"id":"2"}],"Object":[{"Attribute":[{}],"Object":[{"Attribute":[{}]}]}]}}"#,
        ];
        for d in docs {
            let by_serde = event_info(d).unwrap().attributes;
            assert_eq!(
                attribute_count(d),
                by_serde,
                "{}",
                String::from_utf8_lossy(d)
            );
        }
        assert_eq!(attribute_count(docs[0]), 3);
        assert_eq!(attribute_count(docs[2]), 2);
        assert_eq!(attribute_count(docs[5]), 2);
    }

    #[test]
    fn event_id_without_reading_the_rest() {
        assert_eq!(
            event_id(br#"{"Event":{"id":"12","Attribute":[{"id":"1"}]}}"#).unwrap(),
            Some(12)
        );
        assert_eq!(
            event_id(br#"{"Event":{"info":"x","id":7,"Attribute":[]}}"#).unwrap(),
            Some(7)
        );
        assert_eq!(event_id(br#"{"Event":{"info":"x"}}"#).unwrap(), None);
        assert!(event_id(br#"{"Event":{"info":x,"id":1}}"#).is_err());
        assert!(event_id(br#"{"Event":{"id":"x1"}}"#).is_err());
    }

    #[test]
    fn invalid_json_is_an_error() {
        assert!(event_info(br#"{"Event":{"id":"1","info":"a}}"#).is_err());
        assert!(event_info(br#"{"Event":{"id":"x1"}}"#).is_err());
        assert!(event_info(br#"{"event":{}}"#).is_err());
        assert!(event_info(br#"{"Event":["1","u"]}"#).is_err());
        assert!(event_info(br#"[{"id":"1"}]"#).is_err());
        assert!(event_info(br#"{"Event":{"id":"1"}} x"#).is_err());
        assert!(attribute_info(br#"[7,12]"#).is_err());
        assert!(attribute_info(br#"{"id":7} x"#).is_err());
    }
}
