//! restSearch: the filters of a request (MISP's value syntax, time ranges,
//! deleted attributes) and the answers of both endpoints, paged and counted
//! as MISP counts them.

use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::super::http::Response;
use super::routes::answer;
use super::store::restyle;
use super::store::{as_bool, as_i64, attributes_of, strip_to_metadata, tag_names, Inner, Stored};

/// The fields of the `Event` beside each attribute of `/attributes/restSearch`
/// by default (MispAttribute.php: `contain` Event id, info, org_id, orgc_id,
/// uuid, plus `fields` Event.org_id, Event.distribution): no tags, threat
/// level, dates or publish time.
const STUB_FIELDS: &[&str] = &["id", "org_id", "distribution", "info", "orgc_id", "uuid"];

/// The event fields `includeContext` gives (MispAttribute.php,
/// `__fetchEventsForAttributeContext`), besides `Tag` and `Orgc`.
const CONTEXT_FIELDS: &[&str] = &[
    "id",
    "orgc_id",
    "org_id",
    "date",
    "threat_level_id",
    "info",
    "published",
    "uuid",
    "analysis",
    "timestamp",
    "distribution",
    "publish_timestamp",
    "sharing_group_id",
    "extends_uuid",
];

/// The tag fields MISP sends with event tags in the attributes scope.
const TAG_FIELDS: &[&str] = &["id", "name", "colour", "numerical_value"];

/// SQL LIKE, case-insensitive, `%` any run (MISP's tag and value matching).
pub(super) fn like(pattern: &str, text: &str) -> bool {
    let p = pattern.to_lowercase();
    let t = text.to_lowercase();
    if !p.contains('%') {
        return p == t;
    }
    let parts: Vec<&str> = p.split('%').collect();
    let mut pos = 0;
    for (i, part) in parts.iter().enumerate() {
        if part.is_empty() {
            continue;
        }
        if i == 0 {
            if !t.starts_with(part) {
                return false;
            }
            pos = part.len();
        } else if i == parts.len() - 1 {
            return t.len() >= pos + part.len() && t[pos..].ends_with(part);
        } else {
            match t[pos..].find(part) {
                Some(k) => pos += k + part.len(),
                None => return false,
            }
        }
    }
    true
}

/// A list filter in MISP's value syntax (docs/design.md#misp-rest-api).
#[derive(Debug, Default)]
pub(super) struct Cond {
    pub(super) or: Vec<String>,
    pub(super) and: Vec<String>,
    pub(super) not: Vec<String>,
}

impl Cond {
    pub(super) fn parse(v: Option<&Value>) -> Option<Cond> {
        let v = v?;
        let mut c = Cond::default();
        let add = |s: String, c: &mut Cond| {
            for item in s.split("||") {
                for part in item.split("&&") {
                    match part.strip_prefix('!') {
                        Some(n) => c.not.push(n.to_string()),
                        None if !part.is_empty() => c.or.push(part.to_string()),
                        None => {}
                    }
                }
            }
        };
        let text = |x: &Value| match x {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        };
        match v {
            Value::Object(m) => {
                for (k, list) in m {
                    let items: Vec<String> = match list {
                        Value::Array(a) => a.iter().filter_map(text).collect(),
                        x => text(x).into_iter().collect(),
                    };
                    match k.to_ascii_uppercase().as_str() {
                        "OR" => c.or.extend(items),
                        "AND" => c.and.extend(items),
                        "NOT" => c.not.extend(items),
                        _ => {}
                    }
                }
            }
            Value::Array(a) => a.iter().filter_map(text).for_each(|s| add(s, &mut c)),
            x => {
                if let Some(s) = text(x) {
                    add(s, &mut c)
                }
            }
        }
        Some(c)
    }

    pub(super) fn hit(list: &[String], candidates: &[String]) -> bool {
        list.iter().any(|p| candidates.iter().any(|c| like(p, c)))
    }

    /// Positive part: any OR and every AND matches.
    pub(super) fn positive(&self, candidates: &[String]) -> bool {
        (self.or.is_empty() || Self::hit(&self.or, candidates))
            && self
                .and
                .iter()
                .all(|p| candidates.iter().any(|c| like(p, c)))
    }

    pub(super) fn negative(&self, candidates: &[String]) -> bool {
        Self::hit(&self.not, candidates)
    }
}

/// A time filter: `>= lo` and optionally `<= hi` (docs/design.md#misp-rest-api).
pub(super) fn time_range(v: Option<&Value>, now: i64) -> Option<(i64, i64)> {
    let one = |x: &Value| -> i64 {
        match x {
            Value::Number(n) => n.as_i64().unwrap_or(now + 1),
            Value::String(s) => {
                let s = s.trim();
                if let Ok(n) = s.parse::<i64>() {
                    return n;
                }
                let (num, unit) = s.split_at(s.len().saturating_sub(1));
                let mult = match unit {
                    "d" => 86400,
                    "h" => 3600,
                    "m" => 60,
                    "s" => 1,
                    _ => 0,
                };
                match num.parse::<i64>() {
                    Ok(n) if mult > 0 => now - n * mult,
                    // What strtotime() would not understand matches nothing.
                    _ => now + 1,
                }
            }
            _ => now + 1,
        }
    };
    match v? {
        Value::Array(a) if a.len() == 2 => {
            let (x, y) = (one(&a[0]), one(&a[1]));
            Some((x.min(y), x.max(y)))
        }
        Value::Array(_) => Some((i64::MAX, i64::MIN)),
        Value::Null => None,
        x => Some((one(x), i64::MAX)),
    }
}

pub(super) fn in_range(r: Option<(i64, i64)>, t: i64) -> bool {
    r.is_none_or(|(lo, hi)| t >= lo && t <= hi)
}

/// `deleted`: which attributes a search keeps.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Deleted {
    Live,
    Only,
    Both,
}

pub(super) fn deleted_mode(v: Option<&Value>) -> Deleted {
    match v {
        None => Deleted::Live,
        Some(Value::Array(a)) if a.len() >= 2 => Deleted::Both,
        Some(Value::String(s)) if s == "only" => Deleted::Only,
        Some(x) => {
            if as_bool(Some(x)) == Some(true) {
                Deleted::Only
            } else {
                Deleted::Live
            }
        }
    }
}

pub(super) fn keep_deleted(mode: Deleted, attr: &Value) -> bool {
    let d = as_bool(attr.get("deleted")).unwrap_or(false);
    match mode {
        Deleted::Live => !d,
        Deleted::Only => d,
        Deleted::Both => true,
    }
}

/// The filters of one restSearch request.
pub(super) struct Query {
    pub(super) published: Option<bool>,
    pub(super) eventid: Option<std::collections::HashSet<u64>>,
    pub(super) uuid: Option<Cond>,
    pub(super) tags: Option<Cond>,
    pub(super) types: Option<Cond>,
    pub(super) category: Option<Cond>,
    pub(super) org: Option<Cond>,
    pub(super) to_ids: Option<bool>,
    pub(super) timestamp: Option<(i64, i64)>,
    pub(super) publish_timestamp: Option<(i64, i64)>,
    pub(super) event_timestamp: Option<(i64, i64)>,
    pub(super) attribute_timestamp: Option<(i64, i64)>,
    pub(super) deleted: Deleted,
    pub(super) metadata: bool,
    pub(super) limit: Option<usize>,
    pub(super) page: Option<usize>,
    pub(super) order: Option<String>,
    pub(super) include_event_tags: bool,
    pub(super) include_context: bool,
    pub(super) include_galaxy: bool,
}

impl Query {
    pub(super) fn parse(b: &Map<String, Value>, now: i64) -> Query {
        let eventid = b.get("eventid").map(|v| match v {
            Value::Array(a) => a
                .iter()
                .filter_map(|x| as_i64(Some(x)))
                .map(|n| n as u64)
                .collect(),
            Value::String(s) => s
                .split("||")
                .filter_map(|x| x.trim().parse().ok())
                .collect(),
            x => as_i64(Some(x)).map(|n| n as u64).into_iter().collect(),
        });
        Query {
            published: as_bool(b.get("published")),
            eventid,
            uuid: Cond::parse(b.get("uuid")),
            tags: Cond::parse(b.get("tags").or_else(|| b.get("tag"))),
            types: Cond::parse(b.get("type")),
            category: Cond::parse(b.get("category")),
            org: Cond::parse(b.get("org")),
            to_ids: as_bool(b.get("to_ids")),
            timestamp: time_range(b.get("timestamp"), now),
            publish_timestamp: time_range(
                b.get("publish_timestamp").or_else(|| b.get("last")),
                now,
            ),
            event_timestamp: time_range(b.get("event_timestamp"), now),
            attribute_timestamp: time_range(b.get("attribute_timestamp"), now),
            deleted: deleted_mode(b.get("deleted")),
            metadata: as_bool(b.get("metadata")).unwrap_or(false),
            limit: as_i64(b.get("limit"))
                .filter(|n| *n > 0)
                .map(|n| n as usize),
            page: as_i64(b.get("page")).filter(|n| *n > 0).map(|n| n as usize),
            order: b.get("order").and_then(|o| o.as_str()).map(str::to_string),
            include_event_tags: as_bool(b.get("includeEventTags")).unwrap_or(false),
            include_context: as_bool(b.get("includeContext")).unwrap_or(false),
            include_galaxy: as_bool(b.get("includeGalaxy")).unwrap_or(false),
        }
    }

    /// Does an attribute match the attribute-level filters?
    pub(super) fn attr_matches(
        &self,
        a: &Value,
        ev_tags: &[String],
        attributes_scope: bool,
    ) -> bool {
        let s = |k: &str| a.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string();
        if let Some(c) = &self.types {
            let t = vec![s("type")];
            if !c.positive(&t) || c.negative(&t) {
                return false;
            }
        }
        if let Some(c) = &self.category {
            let t = vec![s("category")];
            if !c.positive(&t) || c.negative(&t) {
                return false;
            }
        }
        if let Some(want) = self.to_ids {
            if as_bool(a.get("to_ids")).unwrap_or(false) != want {
                return false;
            }
        }
        if attributes_scope {
            let ts = as_i64(a.get("timestamp")).unwrap_or(0);
            if !in_range(self.timestamp, ts) || !in_range(self.attribute_timestamp, ts) {
                return false;
            }
            if let Some(c) = &self.uuid {
                if !c.positive(&[s("uuid")]) {
                    return false;
                }
            }
            if let Some(c) = &self.tags {
                let mut all = tag_names(a);
                all.extend(ev_tags.iter().cloned());
                if !c.positive(&all) || c.negative(&all) {
                    return false;
                }
            }
        }
        true
    }
}

impl Inner {
    /// Event-level selection shared by both endpoints.
    pub(super) fn event_selected(
        &self,
        s: &Stored,
        q: &Query,
        attributes_scope: bool,
    ) -> Option<Value> {
        if let Some(p) = q.published {
            if s.published != p {
                return None;
            }
        }
        if let Some(ids) = &q.eventid {
            if !ids.contains(&s.id) {
                return None;
            }
        }
        if !in_range(q.publish_timestamp, s.publish_timestamp)
            || !in_range(q.event_timestamp, s.timestamp)
        {
            return None;
        }
        if !attributes_scope && !in_range(q.timestamp, s.timestamp) {
            return None;
        }
        let needs_value = q.uuid.is_some()
            || q.tags.is_some()
            || q.types.is_some()
            || q.category.is_some()
            || q.org.is_some()
            || q.to_ids.is_some()
            || attributes_scope
            || (!q.metadata && s.has_deleted && q.deleted != Deleted::Both);
        if !needs_value {
            return Some(Value::Null);
        }
        let v: Value = serde_json::from_slice(&s.full).unwrap();
        let ev = v.get("Event").unwrap();
        let ev_tags = tag_names(ev);
        if let Some(c) = &q.org {
            let orgc = ev.get("Orgc");
            let names: Vec<String> = ["id", "name", "uuid"]
                .iter()
                .filter_map(|k| {
                    orgc?
                        .get(*k)
                        .map(|x| x.as_str().map(str::to_string).unwrap_or(x.to_string()))
                })
                .collect();
            if !c.positive(&names) || c.negative(&names) {
                return None;
            }
        }
        if !attributes_scope {
            let attrs = attributes_of(ev);
            if let Some(c) = &q.uuid {
                let mut all = vec![s.uuid.clone()];
                all.extend(
                    attrs
                        .iter()
                        .filter_map(|a| a.get("uuid")?.as_str().map(str::to_string)),
                );
                if !c.positive(&all) {
                    return None;
                }
            }
            if let Some(c) = &q.tags {
                let mut all = ev_tags.clone();
                for a in &attrs {
                    all.extend(tag_names(a));
                }
                if !c.positive(&all) || c.negative(&ev_tags) {
                    return None;
                }
            }
            if q.types.is_some() || q.category.is_some() || q.to_ids.is_some() {
                let live: Vec<&&Value> = attrs
                    .iter()
                    .filter(|a| keep_deleted(q.deleted, a))
                    .collect();
                if !live.iter().any(|a| q.attr_matches(a, &ev_tags, false)) {
                    return None;
                }
            }
        }
        Some(v)
    }

    pub(super) fn search_events(&self, q: &Query) -> Response {
        let mut selected: Vec<(&Stored, Value)> = self
            .events
            .values()
            .filter_map(|s| self.event_selected(s, q, false).map(|v| (s, v)))
            .collect();
        match q.order.as_deref() {
            Some("Event.id desc") => selected.reverse(),
            Some("Event.timestamp asc") => selected.sort_by_key(|(s, _)| (s.timestamp, s.id)),
            Some("Event.timestamp desc") => {
                selected.sort_by_key(|(s, _)| std::cmp::Reverse((s.timestamp, s.id)))
            }
            Some("Event.publish_timestamp asc") => {
                selected.sort_by_key(|(s, _)| (s.publish_timestamp, s.id))
            }
            _ => {}
        }
        let total = selected.len();
        let page: Vec<(&Stored, Value)> = match (q.limit, self.ignore_paging) {
            (Some(limit), false) => {
                let page = q.page.unwrap_or(1);
                selected
                    .into_iter()
                    .skip(limit * (page - 1))
                    .take(limit)
                    .collect()
            }
            _ => selected,
        };
        let mut parts: Vec<Arc<Vec<u8>>> = vec![Arc::new(b"{\"response\":[".to_vec())];
        let comma = Arc::new(b",".to_vec());
        for (i, (s, v)) in page.into_iter().enumerate() {
            if i > 0 {
                parts.push(comma.clone());
            }
            if v.is_null() {
                parts.push(if q.metadata {
                    s.meta.clone()
                } else {
                    s.full.clone()
                });
                continue;
            }
            let mut v = v;
            let ev = v.get_mut("Event").unwrap().as_object_mut().unwrap();
            if q.metadata {
                strip_to_metadata(ev);
            } else {
                let not_tags = q.tags.as_ref().map(|c| c.not.clone()).unwrap_or_default();
                let keep =
                    |a: &Value| keep_deleted(q.deleted, a) && !Cond::hit(&not_tags, &tag_names(a));
                if let Some(Value::Array(a)) = ev.get_mut("Attribute") {
                    a.retain(keep);
                }
                if let Some(Value::Array(objs)) = ev.get_mut("Object") {
                    for o in objs.iter_mut() {
                        if let Some(Value::Array(a)) = o.get_mut("Attribute") {
                            a.retain(keep);
                        }
                    }
                    // Objects whose attributes were all filtered out are dropped.
                    objs.retain(|o| {
                        o.get("Attribute")
                            .and_then(|a| a.as_array())
                            .is_none_or(|a| !a.is_empty())
                    });
                }
            }
            parts.push(Arc::new(serde_json::to_vec(&v).unwrap()));
        }
        parts.push(Arc::new(b"]}".to_vec()));
        let a = Response::new(200)
            .with("Content-Type", "application/json")
            .with("X-Export-Module-Used", "json")
            .with("X-Response-Format", "json")
            .with("X-Result-Count", total.to_string());
        parts.into_iter().fold(a, Response::part)
    }

    pub(super) fn search_attributes(&self, q: &Query) -> Response {
        let strings = self.numbers_as_strings;
        let mut rows: Vec<(u64, Value)> = Vec::new();
        for s in self.events.values() {
            let Some(v) = self.event_selected(s, q, true) else {
                continue;
            };
            let ev = v.get("Event").unwrap();
            let ev_tags = tag_names(ev);
            // The `Event` MISP puts beside each attribute (MispAttribute.php,
            // fetchAttributes): a few fields by default; with includeContext the
            // event's metadata, its tags and its creator organisation.
            let pick = |keys: &[&str]| -> Map<String, Value> {
                keys.iter()
                    .filter_map(|k| Some((k.to_string(), ev.get(*k)?.clone())))
                    .collect()
            };
            let stub = if q.include_context {
                let mut m = pick(CONTEXT_FIELDS);
                let tags = event_tags(ev, TagsAs::Context);
                m.insert("Tag".into(), json!(tags));
                if let Some(o) = ev.get("Orgc") {
                    m.insert("Orgc".into(), o.clone());
                }
                Value::Object(m)
            } else {
                let mut m = pick(STUB_FIELDS);
                for (k, default) in [("org_id", "1"), ("orgc_id", "1"), ("distribution", "1")] {
                    m.entry(k).or_insert(json!(default));
                }
                Value::Object(m)
            };
            // includeEventTags: the event's tags after the attribute's own, with
            // the tag fields MISP reads for them and `"inherited": 1` (JsonExport.php).
            let inherited = event_tags(ev, TagsAs::Inherited);
            let mut push = |a: &Value, object: Option<&Value>| {
                if !keep_deleted(q.deleted, a) || !q.attr_matches(a, &ev_tags, true) {
                    return;
                }
                let mut row = a.as_object().unwrap().clone();
                row.remove("ShadowAttribute");
                // includeGalaxy: the clusters of the attribute's galaxy tags,
                // then those of its event's, in one `Galaxy` list
                // (MispAttribute.php, fetchAttributes: array_merge_recursive of
                // the two massageTags results); without it, no `Galaxy`.
                let own = row.remove("Galaxy");
                if q.include_galaxy {
                    let mut galaxies = own
                        .as_ref()
                        .and_then(|g| g.as_array())
                        .cloned()
                        .unwrap_or_default();
                    if let Some(g) = ev.get("Galaxy").and_then(|g| g.as_array()) {
                        galaxies.extend(g.iter().cloned());
                    }
                    row.insert("Galaxy".into(), json!(galaxies));
                }
                if q.include_event_tags && !inherited.is_empty() {
                    let mut tags = row
                        .get("Tag")
                        .and_then(|t| t.as_array())
                        .cloned()
                        .unwrap_or_default();
                    tags.extend(inherited.iter().cloned());
                    row.insert("Tag".into(), json!(tags));
                }
                let tag = row.remove("Tag");
                row.insert("Event".into(), stub.clone());
                if let Some(o) = object {
                    row.insert("Object".into(), json!({"id": o.get("id"), "distribution": o.get("distribution").cloned().unwrap_or(json!("5")), "sharing_group_id": "0"}));
                }
                if let Some(t) = tag {
                    row.insert("Tag".into(), t);
                }
                let id = as_i64(row.get("id")).unwrap_or(0) as u64;
                let mut row = Value::Object(row);
                restyle(&mut row, strings);
                rows.push((id, row));
            };
            if let Some(a) = ev.get("Attribute").and_then(|a| a.as_array()) {
                a.iter().for_each(|x| push(x, None));
            }
            if let Some(objs) = ev.get("Object").and_then(|o| o.as_array()) {
                for o in objs {
                    if let Some(a) = o.get("Attribute").and_then(|a| a.as_array()) {
                        a.iter().for_each(|x| push(x, Some(o)));
                    }
                }
            }
        }
        if q.order.as_deref() == Some("Attribute.id asc") {
            rows.sort_by_key(|(id, _)| *id);
        }
        let (page_rows, full) = match (q.limit, self.ignore_paging) {
            (Some(limit), false) => {
                let page = q.page.unwrap_or(1);
                let r: Vec<_> = rows
                    .into_iter()
                    .skip(limit * (page - 1))
                    .take(limit)
                    .collect();
                let full = r.len() == limit;
                (r, full)
            }
            _ => (rows, false),
        };
        let count = page_rows.len() + usize::from(full);
        let list: Vec<Value> = page_rows.into_iter().map(|(_, v)| v).collect();
        let body = serde_json::to_vec(&json!({"response": {"Attribute": list}})).unwrap();
        answer(200, body).with("X-Result-Count", count.to_string())
    }
}

/// Where [`event_tags`] puts an event's tags beside an attribute.
enum TagsAs {
    /// In the `Event` of `includeContext`: `local` first.
    Context,
    /// Among the attribute's own (`includeEventTags`): `"inherited": 1` last.
    Inherited,
}

/// The event's tags with the fields MISP gives them beside an attribute
/// ([`TAG_FIELDS`]), in the order MISP writes them.
fn event_tags(ev: &Value, like: TagsAs) -> Vec<Value> {
    let Some(tags) = ev.get("Tag").and_then(|t| t.as_array()) else {
        return Vec::new();
    };
    tags.iter()
        .map(|t| {
            let mut x = Map::new();
            if let TagsAs::Context = like {
                let local = t.get("local").cloned().unwrap_or(json!(false));
                x.insert("local".into(), local);
            }
            for k in TAG_FIELDS {
                if let Some(v) = t.get(*k) {
                    x.insert(k.to_string(), v.clone());
                }
            }
            if let TagsAs::Inherited = like {
                x.insert("inherited".into(), json!(1));
            }
            Value::Object(x)
        })
        .collect()
}
