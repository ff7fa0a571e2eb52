//! The one list of the MISP JSON keys `ioc-map` reads (docs/design.md#misp-json):
//! for each kind of MISP object (attribute, event, object, an attribute's
//! object stub, tag, Orgc, galaxy, galaxy cluster and its meta) an enum of its fields and the key that spells
//! each. The typed model ([`crate::misp::model`]) and the fast reader
//! ([`crate::misp::scan`]) both know a key through it, and the property
//! tests draw keys from [`all_keys`].

/// What the readers need of a field enum.
pub trait Key: Copy + Sized + 'static {
    /// The fields, in the order of the model's struct (as serde reads a
    /// struct from an array); `Other` left out.
    const ALL: &'static [Self];
    /// Their keys, in the same order (each field's first spelling).
    const KEYS: &'static [&'static str];
    /// Every spelling of every key.
    const SPELLINGS: &'static [&'static str];
    /// The field that `key` names (`Other`: a key the model skips).
    fn of(key: &str) -> Self;
    /// The field's place in [`Key::ALL`] (`None` for `Other`).
    fn index(self) -> Option<usize>;
}

/// `Name { Field = "key" | "alias", … }`: a field enum, its [`Key`] and its
/// serde identifier.
macro_rules! fields {
    ($(#[$doc:meta])* $name:ident {
        $($(#[$fdoc:meta])* $field:ident = $key:literal $(| $alias:literal)*,)*
    }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum $name {
            $($(#[$fdoc])* $field,)*
            /// A key the model skips.
            Other,
        }

        impl Key for $name {
            const ALL: &'static [Self] = &[$(Self::$field),*];
            const KEYS: &'static [&'static str] = &[$($key),*];
            const SPELLINGS: &'static [&'static str] = &[$($key, $($alias,)*)*];

            fn of(key: &str) -> Self {
                match key {
                    $($key $(| $alias)* => Self::$field,)*
                    _ => Self::Other,
                }
            }

            #[inline]
            fn index(self) -> Option<usize> {
                match self {
                    Self::Other => None,
                    f => Some(f as usize),
                }
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl serde::de::Visitor<'_> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                        f.write_str("field identifier")
                    }
                    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<$name, E> {
                        Ok(<$name as Key>::of(v))
                    }
                }
                d.deserialize_identifier(V)
            }
        }
    };
}

fields! {
    /// An attribute's keys, and a line's (a line is read as an attribute
    /// that may hold `Attribute` or `response`).
    AttributeField {
        Id = "id",
        Uuid = "uuid",
        Type = "type",
        Value = "value",
        Category = "category",
        Comment = "comment",
        ToIds = "to_ids",
        Deleted = "deleted",
        Timestamp = "timestamp",
        FirstSeen = "first_seen",
        LastSeen = "last_seen",
        ObjectRelation = "object_relation",
        EventUuid = "event_uuid",
        Tag = "Tag",
        Event = "Event",
        Object = "Object",
        Attribute = "Attribute",
        Response = "response",
        Galaxy = "Galaxy",
    }
}

fields! {
    /// An event's keys (a full event, or a bare attribute's event stub).
    EventField {
        Id = "id",
        Uuid = "uuid",
        Info = "info",
        Date = "date",
        ThreatLevelId = "threat_level_id",
        Timestamp = "timestamp",
        PublishTimestamp = "publish_timestamp",
        Orgc = "Orgc" | "orgc",
        Tag = "Tag",
        Attribute = "Attribute",
        Object = "Object",
        Galaxy = "Galaxy",
    }
}

fields! {
    /// The keys of a MISP object inside an event.
    ObjectField {
        Name = "name",
        Uuid = "uuid",
        Timestamp = "timestamp",
        Deleted = "deleted",
        FirstSeen = "first_seen",
        LastSeen = "last_seen",
        Attribute = "Attribute",
    }
}

fields! {
    /// The keys read of a bare object attribute's `Object` stub.
    ObjectStubField {
        Name = "name",
        Timestamp = "timestamp",
        Deleted = "deleted",
    }
}

fields! {
    /// A tag's keys.
    TagField {
        Name = "name",
        Local = "local",
        Inherited = "inherited",
    }
}

fields! {
    /// The keys read of an event's `Orgc`.
    OrgField {
        Uuid = "uuid",
        Name = "name",
    }
}

fields! {
    /// The keys read of a galaxy (an element of an event's or attribute's `Galaxy`).
    GalaxyField {
        Type = "type",
        Cluster = "GalaxyCluster",
    }
}

fields! {
    /// The keys read of a galaxy cluster (MISP's export shape).
    ClusterField {
        Uuid = "uuid",
        Type = "type",
        Value = "value",
        TagName = "tag_name",
        Description = "description",
        Local = "local",
        Meta = "meta",
    }
}

fields! {
    /// The keys read of a cluster's `meta`.
    MetaField {
        ExternalId = "external_id",
        Synonyms = "synonyms",
        Refs = "refs",
    }
}

/// Every key read anywhere, each once: an attribute's, then a tag's, an
/// event's, an object's, a galaxy's.
pub fn all_keys() -> Vec<&'static str> {
    let mut keys: Vec<&'static str> = Vec::new();
    for list in [
        AttributeField::SPELLINGS,
        TagField::SPELLINGS,
        EventField::SPELLINGS,
        ObjectField::SPELLINGS,
        ObjectStubField::SPELLINGS,
        OrgField::SPELLINGS,
        GalaxyField::SPELLINGS,
        ClusterField::SPELLINGS,
        MetaField::SPELLINGS,
    ] {
        for k in list {
            if !keys.contains(k) {
                keys.push(k);
            }
        }
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_their_fields() {
        for (i, (f, k)) in EventField::ALL.iter().zip(EventField::KEYS).enumerate() {
            assert_eq!(EventField::of(k), *f);
            assert_eq!(f.index(), Some(i));
        }
        assert_eq!(EventField::of("orgc"), EventField::Orgc);
        assert_eq!(EventField::of("ORGC"), EventField::Other);
        assert_eq!(AttributeField::of("type"), AttributeField::Type);
        assert_eq!(AttributeField::Other.index(), None);
        assert_eq!(AttributeField::KEYS.len(), AttributeField::ALL.len());
    }

    #[test]
    fn all_keys_once_each() {
        let keys = all_keys();
        assert_eq!(&keys[..3], ["id", "uuid", "type"]);
        assert!(keys.contains(&"orgc") && keys.contains(&"publish_timestamp"));
        let mut sorted = keys.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), keys.len());
    }
}
