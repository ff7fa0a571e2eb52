//! Reusable indicator slots: mapping millions of attributes does not
//! allocate for each, as every field is overwritten in place.

use crate::map::indicator::{ContextKey, EventContext, Indicator, Tlp, ValueKind};
use crate::time::Timestamp;

/// Reusable indicator slots: the parts of the attribute mapped last.
#[derive(Default)]
pub struct Parts {
    items: Vec<Indicator>,
    /// Per slot: the `id` of the [`EventFacts`](super::context::EventFacts) its `event` was copied from.
    events: Vec<u64>,
    pub(super) len: usize,
}

impl Parts {
    pub fn as_slice(&self) -> &[Indicator] {
        &self.items[..self.len]
    }

    pub(super) fn clear(&mut self) {
        self.len = 0;
    }

    /// The next free slot (its old content is overwritten field by field), and
    /// the id of the event it holds.
    pub(super) fn slot(&mut self) -> (&mut Indicator, &mut u64) {
        if self.items.len() == self.len {
            self.items.push(blank());
            self.events.push(0);
        }
        (&mut self.items[self.len], &mut self.events[self.len])
    }

    pub(super) fn commit(&mut self) {
        self.len += 1;
    }
}

fn blank() -> Indicator {
    let epoch = Timestamp::default();
    Indicator {
        id: uuid::Uuid::nil(),
        attribute_uuid: String::new(),
        misp_type: String::new(),
        part_type: String::new(),
        kind: ValueKind::Domain,
        value: String::new(),
        port: None,
        category: None,
        comment: None,
        object: None,
        event: EventContext::default(),
        labels: Vec::new(),
        tlp: Tlp::Amber,
        tlp_tagged: false,
        confidence: 0,
        to_ids: true,
        kill_chain: Vec::new(),
        created: epoch,
        modified: epoch,
        valid_from: epoch,
        valid_until: epoch,
        retired: false,
        revoked: false,
        context: ContextKey::default(),
    }
}

pub(super) fn set(dst: &mut String, src: &str) {
    dst.clear();
    dst.push_str(src);
}

pub(super) fn set_opt(dst: &mut Option<String>, src: Option<&str>) {
    match (dst.as_mut(), src) {
        (Some(d), Some(s)) => set(d, s),
        (_, None) => *dst = None,
        (None, Some(s)) => *dst = Some(s.to_owned()),
    }
}

/// Sets `dst` to the names of `src`, without repeats (first occurrence kept),
/// reusing `dst`'s strings: no list of the names seen is built.
pub(super) fn set_unique<'s>(dst: &mut Vec<String>, src: impl Iterator<Item = &'s str>) {
    let mut n = 0;
    for s in src {
        if dst[..n].iter().any(|d| d == s) {
            continue;
        }
        match dst.get_mut(n) {
            Some(d) => set(d, s),
            None => dst.push(s.to_owned()),
        }
        n += 1;
    }
    dst.truncate(n);
}

pub(super) fn set_event(dst: &mut EventContext, src: &EventContext) {
    set_opt(&mut dst.uuid, src.uuid.as_deref());
    set_opt(&mut dst.id, src.id.as_deref());
    set_opt(&mut dst.info, src.info.as_deref());
    set_opt(&mut dst.orgc_uuid, src.orgc_uuid.as_deref());
    set_opt(&mut dst.orgc_name, src.orgc_name.as_deref());
    dst.threat_level = src.threat_level;
}
