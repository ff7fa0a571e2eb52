//! MISP's scalars in every spelling MISP servers and feeds use: numbers as
//! integers, floats or strings of digits; booleans as `true`, `0`/`1` or
//! `"0"`/`"1"`; strings borrowed from the input where they have no escapes.
//! Read by serde for the model ([`crate::misp::model`]), and, in their text
//! forms, by the fast reader ([`crate::misp::scan`]).

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, Visitor};

use crate::misp::value::trim;

pub(crate) type Str<'a> = Cow<'a, str>;

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

/// A number sent as a JSON integer, a float, a string of digits, or null/"" (= none).
pub(crate) fn opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
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
    let v = trim(v);
    if v.is_empty() {
        return Ok(None);
    }
    v.parse()
        .map(Some)
        .map_err(|_| format!("{v:?} is not a number"))
}

/// A boolean sent as a string ("" = none).
pub(crate) fn bool_text(v: &str) -> Result<Option<bool>, String> {
    match trim(v) {
        "1" | "true" | "True" => Ok(Some(true)),
        "0" | "false" | "False" => Ok(Some(false)),
        "" => Ok(None),
        other => Err(format!("{other:?} is not a boolean")),
    }
}

/// A boolean sent as `true`/`false`, `0`/`1`, `"0"`/`"1"`, `"true"`/`"false"`, or null.
pub(crate) fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
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
pub(crate) fn opt_str<'de: 'a, 'a, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Str<'a>>, D::Error> {
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

/// A string that must be there (a tag's `name`), borrowed from the input
/// where it has no escapes, as serde's derived code reads a borrowed `Cow`.
pub(crate) fn cow_str<'de: 'a, 'a, D: Deserializer<'de>>(d: D) -> Result<Str<'a>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Str<'de>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a string")
        }
        fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
            Ok(Cow::Borrowed(v))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Cow::Owned(v.to_owned()))
        }
        fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
            Ok(Cow::Owned(v))
        }
    }
    d.deserialize_str(V)
}
