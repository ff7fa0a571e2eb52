//! The event and object an attribute sits in, as the mapping needs them.

use crate::map::indicator::EventContext;
use crate::map::mapper::tags::TagSummary;
use crate::misp::model::{Event, Object, ObjectStub};
use crate::time::{self, Timestamp};

/// What the mapping needs of an event, computed once per event.
pub struct EventFacts<'t> {
    pub(super) ctx: EventContext,
    /// Unique to this `EventFacts`: slots filled from it need no new copy of `ctx`.
    pub(super) id: u64,
    pub(super) tags: TagSummary<'t>,
    pub(super) timestamp: Option<Timestamp>,
    pub(super) publish: Option<Timestamp>,
    pub(super) date: Option<Timestamp>,
    /// The event's own tag list came with it: a whole event (tagged or not),
    /// or an attribute's `Event` context holding tags (`includeContext`).
    /// Without it, and without inherited tags on the attribute, the event's
    /// TLP is unknown (docs/design.md#tlp-and-confidence).
    pub(super) tags_given: bool,
}

impl<'t> EventFacts<'t> {
    /// From a whole event (`{"Event":…}`, whose tags are all there is) or,
    /// for callers that have no more, an attribute's event stub (`None`:
    /// nothing known).
    pub fn new(ev: Option<&'t Event<'_>>, attr_event_uuid: Option<&str>) -> Self {
        let mut facts = Self::bare(ev, attr_event_uuid);
        facts.tags_given = ev.is_some();
        facts
    }

    /// From the `Event` beside a bare attribute (`None`: nothing known). Its
    /// tags count as given when it holds some, or when it is MISP's full
    /// context (`includeContext`: `date` and `publish_timestamp` beside a
    /// `Tag` list that is empty for an untagged event); MISP's small default
    /// context (id, info, uuid, orgs, distribution) has none.
    pub fn bare(ev: Option<&'t Event<'_>>, attr_event_uuid: Option<&str>) -> Self {
        let mut tags = TagSummary::default();
        let Some(ev) = ev else {
            return EventFacts {
                ctx: EventContext {
                    uuid: attr_event_uuid.map(str::to_owned),
                    ..EventContext::default()
                },
                id: next_event_id(),
                tags,
                timestamp: None,
                publish: None,
                date: None,
                tags_given: false,
            };
        };
        for t in &ev.tags {
            tags.add(t);
        }
        let orgc = ev.orgc.as_ref();
        EventFacts {
            ctx: EventContext {
                uuid: ev.uuid.as_deref().or(attr_event_uuid).map(str::to_owned),
                id: ev.id.as_deref().map(str::to_owned),
                info: ev.info.as_deref().map(str::to_owned),
                orgc_uuid: orgc.and_then(|o| o.uuid.as_deref()).map(str::to_owned),
                orgc_name: orgc.and_then(|o| o.name.as_deref()).map(str::to_owned),
                threat_level: ev.threat_level_id.and_then(|t| u8::try_from(t).ok()),
            },
            id: next_event_id(),
            tags,
            timestamp: ev.timestamp.and_then(time::from_epoch),
            publish: ev.publish_timestamp.and_then(time::from_epoch),
            date: ev.date.as_deref().and_then(time::parse_date),
            tags_given: !ev.tags.is_empty()
                || (ev.date.is_some() && ev.publish_timestamp.is_some()),
        }
    }
}

/// A new [`EventFacts::id`] (never 0, which marks a slot not filled yet).
fn next_event_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// The object an attribute sits in, from an event's `Object[]` or an attribute's stub.
#[derive(Default, Clone, Copy)]
pub struct ObjectInfo<'t> {
    pub name: Option<&'t str>,
    pub timestamp: Option<i64>,
    pub deleted: bool,
    pub first_seen: Option<&'t str>,
    pub last_seen: Option<&'t str>,
}

impl<'t> ObjectInfo<'t> {
    pub fn of_object(o: &'t Object<'_>) -> Self {
        ObjectInfo {
            name: o.name.as_deref(),
            timestamp: o.timestamp,
            deleted: o.deleted.unwrap_or(false),
            first_seen: o.first_seen.as_deref(),
            last_seen: o.last_seen.as_deref(),
        }
    }

    pub fn of_stub(o: &'t ObjectStub<'_>) -> Self {
        ObjectInfo {
            name: o.name.as_deref(),
            timestamp: o.timestamp,
            deleted: o.deleted.unwrap_or(false),
            ..ObjectInfo::default()
        }
    }
}
