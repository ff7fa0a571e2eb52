//! How events are stored: rendered once, in the configured number style, with
//! what the search filters need beside them.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::emulator::{Fault, Hook, Logged};

/// Numeric fields MISP writes as strings (or integers, docs/design.md#misp-json).
pub(super) const NUMERIC: &[&str] = &[
    "id",
    "event_id",
    "object_id",
    "org_id",
    "orgc_id",
    "timestamp",
    "publish_timestamp",
    "distribution",
    "threat_level_id",
    "analysis",
    "sharing_group_id",
    "attribute_count",
    "proposal_email_lock",
    "locked",
];
/// An event as stored: what the filters need, plus the rendered JSON.
pub(super) struct Stored {
    pub(super) id: u64,
    pub(super) uuid: String,
    pub(super) published: bool,
    pub(super) timestamp: i64,
    pub(super) publish_timestamp: i64,
    /// `{"Event":{…}}` in the configured number style, without trimming.
    pub(super) full: Arc<Vec<u8>>,
    /// The same with `metadata: true` (no attributes, objects, …).
    pub(super) meta: Arc<Vec<u8>>,
    /// Does any attribute carry `deleted: true` (then the default search trims).
    pub(super) has_deleted: bool,
}

pub(super) struct Inner {
    pub(super) key: String,
    pub(super) numbers_as_strings: bool,
    pub(super) events: BTreeMap<u64, Stored>,
    pub(super) next_event_id: u64,
    pub(super) next_attribute_id: u64,
    /// The emulator's clock (epoch seconds), advanced by each change.
    pub(super) clock: i64,
    pub(super) faults: Vec<(String, VecDeque<Fault>)>,
    /// Actions run after the n-th request to a path (counted from 1).
    pub(super) hooks: Vec<(String, usize, Hook)>,
    pub(super) counts: BTreeMap<String, usize>,
    pub(super) log: Vec<Logged>,
    /// Ignore limit and page (MISP's paging regressions, docs/design.md#misp-rest-api).
    pub(super) ignore_paging: bool,
    /// Static files (feeds) served without a key: URL prefix and directory.
    pub(super) static_dirs: Vec<(String, PathBuf)>,
}

pub(super) fn as_i64(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        Value::Bool(b) => Some(*b as i64),
        _ => None,
    }
}

pub(super) fn as_bool(v: Option<&Value>) -> Option<bool> {
    match v? {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => Some(n.as_i64() != Some(0)),
        Value::String(s) => Some(!matches!(s.as_str(), "0" | "" | "false")),
        _ => None,
    }
}

/// Rewrites MISP's numeric fields as strings or as integers.
pub(super) fn restyle(v: &mut Value, strings: bool) {
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                if NUMERIC.contains(&k.as_str()) {
                    match x {
                        Value::String(s) if !strings => {
                            if let Ok(n) = s.parse::<i64>() {
                                *x = json!(n);
                            }
                        }
                        Value::Number(n) if strings => *x = Value::String(n.to_string()),
                        _ => {}
                    }
                } else {
                    restyle(x, strings);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| restyle(x, strings)),
        _ => {}
    }
}

/// Every attribute of an event: standalone ones, then those of each object.
pub(super) fn attributes_of(ev: &Value) -> Vec<&Value> {
    let mut out: Vec<&Value> = ev
        .get("Attribute")
        .and_then(|a| a.as_array())
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    if let Some(objs) = ev.get("Object").and_then(|o| o.as_array()) {
        for o in objs {
            if let Some(a) = o.get("Attribute").and_then(|a| a.as_array()) {
                out.extend(a.iter());
            }
        }
    }
    out
}

pub(super) fn tag_names(v: &Value) -> Vec<String> {
    v.get("Tag")
        .and_then(|t| t.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|t| t.get("name")?.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// What `metadata: true` leaves of an event.
pub(super) fn strip_to_metadata(ev: &mut Map<String, Value>) {
    for k in [
        "Attribute",
        "Object",
        "ShadowAttribute",
        "RelatedEvent",
        "Galaxy",
        "EventReport",
        "CryptographicKey",
    ] {
        ev.remove(k);
    }
}

pub(super) fn for_each_attr(
    ev: &mut Map<String, Value>,
    mut f: impl FnMut(&mut Map<String, Value>),
) {
    if let Some(Value::Array(a)) = ev.get_mut("Attribute") {
        a.iter_mut()
            .filter_map(|x| x.as_object_mut())
            .for_each(&mut f);
    }
    if let Some(Value::Array(objs)) = ev.get_mut("Object") {
        for o in objs {
            if let Some(Value::Array(a)) = o.get_mut("Attribute") {
                a.iter_mut()
                    .filter_map(|x| x.as_object_mut())
                    .for_each(&mut f);
            }
        }
    }
}

impl Inner {
    /// Stores an event (replacing one with the same uuid), assigning ids.
    pub(super) fn insert(&mut self, event: Value, keep_times: bool) -> u64 {
        let mut v = if event.get("Event").is_some() {
            event
        } else {
            json!({ "Event": event })
        };
        let ev = v.get_mut("Event").unwrap().as_object_mut().unwrap();
        let uuid = ev
            .get("uuid")
            .and_then(|u| u.as_str())
            .map(str::to_string)
            .unwrap_or_else(|| format!("00000000-0000-4000-8000-{:012x}", self.next_event_id));
        let existing = self.events.values().find(|e| e.uuid == uuid).map(|e| e.id);
        let id = match existing.or_else(|| as_i64(ev.get("id")).map(|n| n as u64)) {
            Some(id) => id,
            None => {
                self.next_event_id += 1;
                self.next_event_id - 1
            }
        };
        self.next_event_id = self.next_event_id.max(id + 1);
        ev.insert("id".into(), json!(id.to_string()));
        ev.insert("uuid".into(), json!(uuid));
        ev.entry("published").or_insert(json!(true));
        if !keep_times {
            ev.entry("timestamp")
                .or_insert(json!(self.clock.to_string()));
        }
        let ts = as_i64(ev.get("timestamp")).unwrap_or(self.clock);
        if as_bool(ev.get("published")) == Some(true) && !ev.contains_key("publish_timestamp") {
            ev.insert("publish_timestamp".into(), json!(ts.to_string()));
        }
        ev.entry("publish_timestamp").or_insert(json!("0"));
        let mut next_attr = self.next_attribute_id;
        let mut count = 0u64;
        let mut has_deleted = false;
        let fix = |a: &mut Map<String, Value>, object_id: &str, next: &mut u64| {
            if as_i64(a.get("id")).is_none() {
                a.insert("id".into(), json!(next.to_string()));
                *next += 1;
            }
            a.insert("event_id".into(), json!(id.to_string()));
            a.insert("object_id".into(), json!(object_id));
            a.entry("deleted").or_insert(json!(false));
        };
        if let Some(Value::Array(a)) = ev.get_mut("Attribute") {
            for x in a.iter_mut().filter_map(|x| x.as_object_mut()) {
                fix(x, "0", &mut next_attr);
                count += 1;
                has_deleted |= as_bool(x.get("deleted")) == Some(true);
            }
        }
        if let Some(Value::Array(objs)) = ev.get_mut("Object") {
            for (k, o) in objs.iter_mut().enumerate() {
                let oid = as_i64(o.get("id"))
                    .unwrap_or((id * 1000 + k as u64) as i64)
                    .to_string();
                if let Some(om) = o.as_object_mut() {
                    om.insert("id".into(), json!(oid));
                    if let Some(Value::Array(a)) = om.get_mut("Attribute") {
                        for x in a.iter_mut().filter_map(|x| x.as_object_mut()) {
                            fix(x, &oid, &mut next_attr);
                            count += 1;
                            has_deleted |= as_bool(x.get("deleted")) == Some(true);
                        }
                    }
                }
            }
        }
        for x in attributes_of(v.get("Event").unwrap()) {
            if let Some(n) = as_i64(x.get("id")) {
                next_attr = next_attr.max(n as u64 + 1);
            }
        }
        self.next_attribute_id = next_attr;
        let ev = v.get_mut("Event").unwrap().as_object_mut().unwrap();
        ev.insert("attribute_count".into(), json!(count.to_string()));
        restyle(&mut v, self.numbers_as_strings);
        let mut m = v.clone();
        strip_to_metadata(m.get_mut("Event").unwrap().as_object_mut().unwrap());
        let e = v.get("Event").unwrap();
        let stored = Stored {
            id,
            uuid,
            published: as_bool(e.get("published")).unwrap_or(false),
            timestamp: as_i64(e.get("timestamp")).unwrap_or(0),
            publish_timestamp: as_i64(e.get("publish_timestamp")).unwrap_or(0),
            full: Arc::new(serde_json::to_vec(&v).unwrap()),
            meta: Arc::new(serde_json::to_vec(&m).unwrap()),
            has_deleted,
        };
        self.events.insert(id, stored);
        id
    }
}
