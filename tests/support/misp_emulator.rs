//! A MISP server emulator for tests and benchmarks (REFERENCE §10–§11), on
//! 127.0.0.1 only, built on std `TcpListener` and threads so that tests can
//! cut responses off, drop connections, throttle and slow down.
//!
//! What it emulates: the API key check (403 with MISP's body), `Accept`
//! handling, `/servers/getVersion`, `/users/view/me`, `/events/restSearch`
//! and `/attributes/restSearch` with the filters misp-pull sends (published,
//! timestamp / publish_timestamp / attribute_timestamp, deleted, eventid,
//! uuid, tags, type, category, to_ids, org, metadata, order, limit and
//! 1-based page, includeEventTags, includeContext), `X-Result-Count` as MISP
//! sets it (a total for events, page rows + 1 when full for attributes), and
//! numbers as strings or as integers. Faults are queued per path: an HTTP
//! status (429 with `Retry-After` or `X-Rate-Limit-Reset`, 5xx), a response
//! cut off after N bytes (with or without a declared length), a dropped
//! connection, a delay before the answer. Events can be added, edited,
//! soft-deleted, unpublished and deleted between and during runs, directly
//! or through the control endpoint `/_control/…` (see `control`).
//!
//! Included by tests with `#[path = "support/misp_emulator.rs"] mod misp_emulator;`
//! and by `examples/misp-emulator.rs`.
#![allow(dead_code)]

use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use serde_json::{json, Map, Value};

/// A key the emulator accepts by default (40 letters and digits).
pub const TEST_KEY: &str = "Emul4torKey0000000000000000000000000000x";

/// Numeric fields MISP writes as strings (or integers, REFERENCE §11.1).
const NUMERIC: &[&str] = &[
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

/// Something to do to the next request whose path contains `path`.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with this status and MISP error body, plus optional throttling headers.
    Status {
        code: u16,
        retry_after: Option<String>,
        rate_limit_reset: Option<u64>,
    },
    /// Send only the first `after` bytes of the body, then close. `declared`:
    /// with the full Content-Length (the client sees a short body); else
    /// close-delimited (only the JSON shows it is incomplete).
    Cut { after: usize, declared: bool },
    /// Close the connection without answering.
    Drop,
    /// Wait before answering.
    Delay(Duration),
}

/// One request as the emulator saw it.
#[derive(Debug, Clone)]
pub struct Logged {
    pub method: String,
    pub path: String,
    pub body: Value,
    pub authorized: bool,
    /// Every header value, to check that nothing leaks (e.g. the key in a URL).
    pub raw_head: String,
}

/// An event as stored: what the filters need, plus the rendered JSON.
struct Stored {
    id: u64,
    uuid: String,
    published: bool,
    timestamp: i64,
    publish_timestamp: i64,
    /// `{"Event":{…}}` in the configured number style, without trimming.
    full: Arc<Vec<u8>>,
    /// The same with `metadata: true` (no attributes, objects, …).
    meta: Arc<Vec<u8>>,
    /// Does any attribute carry `deleted: true` (then the default search trims).
    has_deleted: bool,
}

struct Inner {
    key: String,
    numbers_as_strings: bool,
    events: BTreeMap<u64, Stored>,
    next_event_id: u64,
    next_attribute_id: u64,
    /// The emulator's clock (epoch seconds), advanced by each change.
    clock: i64,
    faults: Vec<(String, VecDeque<Fault>)>,
    /// Actions run after the n-th request to a path (counted from 1).
    hooks: Vec<(String, usize, Hook)>,
    counts: BTreeMap<String, usize>,
    log: Vec<Logged>,
    /// Ignore limit and page (MISP's paging regressions, REFERENCE §10.8).
    ignore_paging: bool,
    /// Static files (feeds) served without a key: URL prefix and directory.
    static_dirs: Vec<(String, std::path::PathBuf)>,
}

type Hook = Box<dyn FnOnce(&mut Emulator) + Send>;

/// A running emulator. Dropping it stops the listener.
#[derive(Clone)]
pub struct Emulator {
    pub addr: SocketAddr,
    pub url: String,
    inner: Arc<Mutex<Inner>>,
    stop: Arc<AtomicBool>,
}

fn as_i64(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        Value::Bool(b) => Some(*b as i64),
        _ => None,
    }
}

fn as_bool(v: Option<&Value>) -> Option<bool> {
    match v? {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => Some(n.as_i64() != Some(0)),
        Value::String(s) => Some(!matches!(s.as_str(), "0" | "" | "false")),
        _ => None,
    }
}

/// Rewrites MISP's numeric fields as strings or as integers.
fn restyle(v: &mut Value, strings: bool) {
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
fn attributes_of(ev: &Value) -> Vec<&Value> {
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

fn tag_names(v: &Value) -> Vec<String> {
    v.get("Tag")
        .and_then(|t| t.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|t| t.get("name")?.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// SQL LIKE, case-insensitive, `%` any run (MISP's tag and value matching).
fn like(pattern: &str, text: &str) -> bool {
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

/// A list filter in MISP's value syntax (REFERENCE §10.6).
#[derive(Debug, Default)]
struct Cond {
    or: Vec<String>,
    and: Vec<String>,
    not: Vec<String>,
}

impl Cond {
    fn parse(v: Option<&Value>) -> Option<Cond> {
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

    fn hit(list: &[String], candidates: &[String]) -> bool {
        list.iter().any(|p| candidates.iter().any(|c| like(p, c)))
    }

    /// Positive part: any OR and every AND matches.
    fn positive(&self, candidates: &[String]) -> bool {
        (self.or.is_empty() || Self::hit(&self.or, candidates))
            && self
                .and
                .iter()
                .all(|p| candidates.iter().any(|c| like(p, c)))
    }

    fn negative(&self, candidates: &[String]) -> bool {
        Self::hit(&self.not, candidates)
    }
}

/// A time filter: `>= lo` and optionally `<= hi` (REFERENCE §10.6).
fn time_range(v: Option<&Value>, now: i64) -> Option<(i64, i64)> {
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

fn in_range(r: Option<(i64, i64)>, t: i64) -> bool {
    r.map_or(true, |(lo, hi)| t >= lo && t <= hi)
}

/// `deleted`: which attributes a search keeps.
#[derive(Clone, Copy, PartialEq)]
enum Deleted {
    Live,
    Only,
    Both,
}

fn deleted_mode(v: Option<&Value>) -> Deleted {
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

fn keep_deleted(mode: Deleted, attr: &Value) -> bool {
    let d = as_bool(attr.get("deleted")).unwrap_or(false);
    match mode {
        Deleted::Live => !d,
        Deleted::Only => d,
        Deleted::Both => true,
    }
}

/// The filters of one restSearch request.
struct Query {
    published: Option<bool>,
    eventid: Option<std::collections::HashSet<u64>>,
    uuid: Option<Cond>,
    tags: Option<Cond>,
    types: Option<Cond>,
    category: Option<Cond>,
    org: Option<Cond>,
    to_ids: Option<bool>,
    timestamp: Option<(i64, i64)>,
    publish_timestamp: Option<(i64, i64)>,
    event_timestamp: Option<(i64, i64)>,
    attribute_timestamp: Option<(i64, i64)>,
    deleted: Deleted,
    metadata: bool,
    limit: Option<usize>,
    page: Option<usize>,
    order: Option<String>,
    include_event_tags: bool,
    include_context: bool,
}

impl Query {
    fn parse(b: &Map<String, Value>, now: i64) -> Query {
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
        }
    }

    /// Does an attribute match the attribute-level filters?
    fn attr_matches(&self, a: &Value, ev_tags: &[String], attributes_scope: bool) -> bool {
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

fn error_body(message: &str, url: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({"name": message, "message": message, "url": url})).unwrap()
}

/// What a request is answered with.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    parts: Vec<Arc<Vec<u8>>>,
}

impl Answer {
    fn json(status: u16, body: Vec<u8>) -> Answer {
        Answer {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            parts: vec![Arc::new(body)],
        }
    }
    fn error(status: u16, message: &str, url: &str) -> Answer {
        Answer::json(status, error_body(message, url))
    }
}

impl Emulator {
    /// Starts an emulator on 127.0.0.1:`port` (0: any free port).
    pub fn start(port: u16) -> Emulator {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind 127.0.0.1");
        let addr = listener.local_addr().unwrap();
        let emu = Emulator {
            addr,
            url: format!("http://{addr}"),
            inner: Arc::new(Mutex::new(Inner {
                key: TEST_KEY.to_string(),
                numbers_as_strings: true,
                events: BTreeMap::new(),
                next_event_id: 1,
                next_attribute_id: 1,
                clock: 1_772_000_000,
                faults: Vec::new(),
                hooks: Vec::new(),
                counts: BTreeMap::new(),
                log: Vec::new(),
                ignore_paging: false,
                static_dirs: Vec::new(),
            })),
            stop: Arc::new(AtomicBool::new(false)),
        };
        let server = emu.clone();
        thread::spawn(move || {
            for conn in listener.incoming() {
                if server.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let s = server.clone();
                thread::spawn(move || s.serve(conn));
            }
        });
        emu
    }

    /// Stops accepting connections.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }

    pub fn set_key(&self, key: &str) {
        self.inner.lock().unwrap().key = key.to_string();
    }

    /// Numbers as JSON strings (MISP with stringified fetches) or integers.
    pub fn set_numbers_as_strings(&self, strings: bool) {
        let mut g = self.inner.lock().unwrap();
        if g.numbers_as_strings != strings {
            g.numbers_as_strings = strings;
            let ids: Vec<u64> = g.events.keys().copied().collect();
            for id in ids {
                let e = g.events.get_mut(&id).unwrap();
                for bytes in [&mut e.full, &mut e.meta] {
                    let mut v: Value = serde_json::from_slice(bytes).unwrap();
                    restyle(&mut v, strings);
                    *bytes = Arc::new(serde_json::to_vec(&v).unwrap());
                }
            }
        }
    }

    /// Serves the files of `dir` under the URL prefix (e.g. `/feeds/x/`), like
    /// a feed host: no key, `Last-Modified` from the file, 404 when missing.
    pub fn serve_dir(&self, prefix: &str, dir: &Path) {
        self.inner
            .lock()
            .unwrap()
            .static_dirs
            .push((prefix.to_string(), dir.to_path_buf()));
    }

    pub fn set_ignore_paging(&self, ignore: bool) {
        self.inner.lock().unwrap().ignore_paging = ignore;
    }

    pub fn now(&self) -> i64 {
        self.inner.lock().unwrap().clock
    }

    pub fn set_clock(&self, t: i64) {
        self.inner.lock().unwrap().clock = t;
    }

    /// Queues a fault for the next request whose path contains `path`.
    pub fn fault(&self, path: &str, fault: Fault) {
        let mut g = self.inner.lock().unwrap();
        match g.faults.iter_mut().find(|(p, _)| p == path) {
            Some((_, q)) => q.push_back(fault),
            None => g.faults.push((path.to_string(), VecDeque::from([fault]))),
        }
    }

    /// Runs `action` right after the `n`-th request to a path containing `path` was answered.
    pub fn after_request(
        &self,
        path: &str,
        n: usize,
        action: impl FnOnce(&mut Emulator) + Send + 'static,
    ) {
        self.inner
            .lock()
            .unwrap()
            .hooks
            .push((path.to_string(), n, Box::new(action)));
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Logged> {
        self.inner.lock().unwrap().log.clone()
    }

    /// Requests to paths containing `path`.
    pub fn requests_to(&self, path: &str) -> Vec<Logged> {
        self.requests()
            .into_iter()
            .filter(|r| r.path.contains(path))
            .collect()
    }

    pub fn event_count(&self) -> usize {
        self.inner.lock().unwrap().events.len()
    }

    /// Adds (or replaces, by uuid) an event given as `{"Event":{…}}` or its
    /// inside. Missing ids are assigned; a feed event becomes a published
    /// server event. Returns the event id.
    pub fn add_event(&self, event: Value) -> u64 {
        let mut g = self.inner.lock().unwrap();
        g.insert(event, false)
    }

    /// Adds every event of a directory: a MISP feed (manifest.json + <uuid>.json)
    /// or any `*.json` files holding `{"Event":…}`. Returns how many.
    pub fn load_dir(&self, dir: &Path) -> usize {
        let mut names: Vec<_> = std::fs::read_dir(dir)
            .expect("read data dir")
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .filter(|p| p.file_name().is_some_and(|n| n != "manifest.json"))
            .collect();
        names.sort();
        let mut n = 0;
        for p in names {
            let Ok(bytes) = std::fs::read(&p) else {
                continue;
            };
            let Ok(v) = serde_json::from_slice::<Value>(&bytes) else {
                eprintln!("misp-emulator: {}: not JSON, skipped", p.display());
                continue;
            };
            if v.get("Event").is_some() {
                self.add_event(v);
                n += 1;
            }
        }
        n
    }

    /// Generates `n` events of `attrs` attributes each, rendered once (for benchmarks).
    pub fn generate(&self, n: usize, attrs: usize) {
        let mut g = self.inner.lock().unwrap();
        let strings = g.numbers_as_strings;
        let q = |x: i64| {
            if strings {
                format!("\"{x}\"")
            } else {
                x.to_string()
            }
        };
        for i in 0..n {
            let id = g.next_event_id;
            g.next_event_id += 1;
            let ts = 1_700_000_000 + i as i64;
            let uuid = format!("{:08x}-0000-4000-8000-{:012x}", id, id);
            let mut s = String::with_capacity(attrs * 360 + 800);
            let mut head = String::with_capacity(800);
            head.push_str(&format!(
                "{{\"Event\":{{\"id\":{},\"orgc_id\":{},\"org_id\":{},\"date\":\"2026-03-01\",\"threat_level_id\":{},\"info\":\"Generated event {id}\",\"published\":true,\"uuid\":\"{uuid}\",\"attribute_count\":{},\"analysis\":{},\"timestamp\":{},\"distribution\":{},\"proposal_email_lock\":false,\"locked\":false,\"publish_timestamp\":{},\"sharing_group_id\":{},\"disable_correlation\":false,\"extends_uuid\":\"\",\"Org\":{{\"id\":{},\"name\":\"ORGNAME\",\"uuid\":\"1c4f2d3e-5a6b-4c7d-8e9f-0a1b2c3d4e5f\",\"local\":true}},\"Orgc\":{{\"id\":{},\"name\":\"SharingCERT\",\"uuid\":\"1c4f2d3e-5a6b-4c7d-8e9f-0a1b2c3d4e5f\",\"local\":false}},",
                q(id as i64), q(2), q(1), q(2), q(attrs as i64), q(2), q(ts), q(1), q(ts + 60), q(0), q(1), q(2)
            ));
            const TAGS: &str = "\"Tag\":[{\"id\":\"3\",\"name\":\"tlp:green\",\"colour\":\"#33FF00\",\"exportable\":true,\"local\":false,\"is_galaxy\":false}]";
            let meta = format!("{head}{TAGS}}}}}");
            s.push_str(&head);
            s.push_str("\"Attribute\":[");
            for j in 0..attrs {
                let aid = g.next_attribute_id;
                g.next_attribute_id += 1;
                if j > 0 {
                    s.push(',');
                }
                let (t, v) = match j % 4 {
                    0 => ("domain", format!("c2-{aid}.bad-example.com")),
                    1 => (
                        "ip-dst",
                        format!("203.0.{}.{}", (aid / 256) % 256, aid % 256),
                    ),
                    2 => (
                        "url",
                        format!("http://dl-{aid}.bad-example.net/payload/{aid}.bin"),
                    ),
                    _ => (
                        "sha256",
                        format!("{:064x}", (aid as u128) * 0x9e37_79b9_7f4a_7c15_u128),
                    ),
                };
                s.push_str(&format!(
                    "{{\"id\":{},\"type\":\"{t}\",\"category\":\"Network activity\",\"to_ids\":true,\"uuid\":\"{:08x}-1111-4000-8000-{:012x}\",\"event_id\":{},\"distribution\":{},\"timestamp\":{},\"comment\":\"generated\",\"sharing_group_id\":{},\"deleted\":false,\"disable_correlation\":false,\"object_id\":{},\"object_relation\":null,\"first_seen\":null,\"last_seen\":null,\"value\":\"{v}\",\"Galaxy\":[],\"ShadowAttribute\":[],\"Tag\":[{{\"id\":\"77\",\"name\":\"misp:confidence-level=\\\"usually-confident\\\"\",\"colour\":\"#0088cc\",\"numerical_value\":\"75\",\"local\":false}}]}}",
                    q(aid as i64), aid, aid, q(id as i64), q(5), q(ts), q(0), q(0)
                ));
            }
            s.push_str("],\"ShadowAttribute\":[],\"RelatedEvent\":[],\"Galaxy\":[],\"Object\":[],\"EventReport\":[],\"CryptographicKey\":[],");
            s.push_str(TAGS);
            s.push_str("}}");
            g.events.insert(
                id,
                Stored {
                    id,
                    uuid,
                    published: true,
                    timestamp: ts,
                    publish_timestamp: ts + 60,
                    full: Arc::new(s.into_bytes()),
                    meta: Arc::new(meta.into_bytes()),
                    has_deleted: false,
                },
            );
        }
    }

    /// The stored event with this uuid, as `{"Event":{…}}`.
    pub fn event(&self, uuid: &str) -> Option<Value> {
        let g = self.inner.lock().unwrap();
        g.events
            .values()
            .find(|e| e.uuid == uuid)
            .map(|e| serde_json::from_slice(&e.full).unwrap())
    }

    /// Edits an event as a MISP user would: `f` changes the event object, the
    /// event timestamp becomes now and the event is unpublished (MISP's edit
    /// unpublishes until the next publish). Returns false if there is no such event.
    pub fn edit(&self, uuid: &str, f: impl FnOnce(&mut Map<String, Value>, i64)) -> bool {
        self.rewrite(uuid, |ev, now| {
            f(ev, now);
            ev.insert("timestamp".into(), json!(now.to_string()));
            ev.insert("published".into(), json!(false));
        })
    }

    /// Moves the clock on and stores the event with this uuid again as `f`
    /// changed it. Returns false if there is no such event.
    fn rewrite(&self, uuid: &str, f: impl FnOnce(&mut Map<String, Value>, i64)) -> bool {
        let mut g = self.inner.lock().unwrap();
        g.clock += 10;
        let now = g.clock;
        let Some(id) = g.events.values().find(|e| e.uuid == uuid).map(|e| e.id) else {
            return false;
        };
        let mut v: Value = serde_json::from_slice(&g.events[&id].full).unwrap();
        f(v.get_mut("Event").unwrap().as_object_mut().unwrap(), now);
        g.insert(v, true);
        true
    }

    /// Adds an attribute to an event (an edit: unpublishes).
    pub fn add_attribute(&self, uuid: &str, mut attr: Value) -> bool {
        let aid = {
            let mut g = self.inner.lock().unwrap();
            g.next_attribute_id += 1;
            g.next_attribute_id - 1
        };
        self.edit(uuid, move |ev, now| {
            let a = attr.as_object_mut().unwrap();
            a.entry("id").or_insert(json!(aid.to_string()));
            a.insert("timestamp".into(), json!(now.to_string()));
            a.entry("deleted").or_insert(json!(false));
            a.entry("object_id").or_insert(json!("0"));
            ev.entry("Attribute")
                .or_insert(json!([]))
                .as_array_mut()
                .unwrap()
                .push(attr);
        })
    }

    /// Changes an attribute's value (an edit: unpublishes).
    pub fn change_attribute(&self, uuid: &str, attr_uuid: &str, value: &str) -> bool {
        self.edit_attribute(uuid, attr_uuid, "value", json!(value))
    }

    /// Soft-deletes an attribute (an edit: unpublishes).
    pub fn soft_delete_attribute(&self, uuid: &str, attr_uuid: &str) -> bool {
        self.edit_attribute(uuid, attr_uuid, "deleted", json!(true))
    }

    /// Sets `field` of an event's attribute, and its timestamp to now (an edit: unpublishes).
    fn edit_attribute(&self, uuid: &str, attr_uuid: &str, field: &str, value: Value) -> bool {
        self.edit(uuid, |ev, now| {
            for_each_attr(ev, |a| {
                if a.get("uuid").and_then(|u| u.as_str()) == Some(attr_uuid) {
                    a.insert(field.into(), value.clone());
                    a.insert("timestamp".into(), json!(now.to_string()));
                }
            })
        })
    }

    /// Publishes an event: `published` true, `publish_timestamp` now.
    pub fn publish(&self, uuid: &str) -> bool {
        self.set_published(uuid, true)
    }

    /// Unpublishes an event (as an edit does), leaving its timestamps.
    pub fn unpublish(&self, uuid: &str) -> bool {
        self.set_published(uuid, false)
    }

    fn set_published(&self, uuid: &str, published: bool) -> bool {
        self.rewrite(uuid, |ev, now| {
            ev.insert("published".into(), json!(published));
            if published {
                ev.insert("publish_timestamp".into(), json!(now.to_string()));
            }
        })
    }

    /// Deletes an event (MISP deletes events for good).
    pub fn delete_event(&self, uuid: &str) -> bool {
        let mut g = self.inner.lock().unwrap();
        let id = g.events.values().find(|e| e.uuid == uuid).map(|e| e.id);
        id.map(|id| g.events.remove(&id)).is_some()
    }

    /// Handles one control request (`/_control/…`, for the runner and for
    /// tests in other processes). See examples/misp-emulator.rs for the list.
    fn control(&self, method: &str, path: &str, body: &Value) -> Answer {
        let ok = |v: Value| Answer::json(200, serde_json::to_vec(&v).unwrap());
        let uuid = body.get("uuid").and_then(|u| u.as_str()).unwrap_or("");
        let attr = body.get("attribute").and_then(|u| u.as_str()).unwrap_or("");
        let done = |found: bool| {
            if found {
                ok(json!({"ok": true}))
            } else {
                Answer::error(404, "no such event", path)
            }
        };
        match (method, path) {
            ("POST", "/_control/events") => {
                let list = match body {
                    Value::Array(a) => a.clone(),
                    v => vec![v.clone()],
                };
                let ids: Vec<u64> = list.into_iter().map(|e| self.add_event(e)).collect();
                ok(json!({"ids": ids}))
            }
            ("POST", "/_control/add-attribute") => {
                done(self.add_attribute(uuid, body.get("Attribute").cloned().unwrap_or(json!({}))))
            }
            ("POST", "/_control/change-attribute") => done(self.change_attribute(
                uuid,
                attr,
                body.get("value").and_then(|v| v.as_str()).unwrap_or(""),
            )),
            ("POST", "/_control/delete-attribute") => done(self.soft_delete_attribute(uuid, attr)),
            ("POST", "/_control/edit") => {
                let set = body
                    .get("set")
                    .and_then(|s| s.as_object())
                    .cloned()
                    .unwrap_or_default();
                done(self.edit(uuid, move |ev, _| {
                    for (k, v) in set {
                        ev.insert(k, v);
                    }
                }))
            }
            ("POST", "/_control/publish") => done(self.publish(uuid)),
            ("POST", "/_control/unpublish") => done(self.unpublish(uuid)),
            ("POST", "/_control/delete-event") => done(self.delete_event(uuid)),
            ("POST", "/_control/fault") => {
                let path = body
                    .get("path")
                    .and_then(|p| p.as_str())
                    .unwrap_or("/")
                    .to_string();
                let fault = if let Some(code) = as_i64(body.get("status")) {
                    Fault::Status {
                        code: code as u16,
                        retry_after: body.get("retry_after").map(|v| match v {
                            Value::String(s) => s.clone(),
                            v => v.to_string(),
                        }),
                        rate_limit_reset: as_i64(body.get("rate_limit_reset")).map(|n| n as u64),
                    }
                } else if let Some(after) = as_i64(body.get("cut_after")) {
                    Fault::Cut {
                        after: after as usize,
                        declared: as_bool(body.get("declared")).unwrap_or(true),
                    }
                } else if let Some(ms) = as_i64(body.get("delay_ms")) {
                    Fault::Delay(Duration::from_millis(ms as u64))
                } else if as_bool(body.get("drop")) == Some(true) {
                    Fault::Drop
                } else {
                    return Answer::error(
                        400,
                        "fault: give status, cut_after, delay_ms or drop",
                        "/_control/fault",
                    );
                };
                self.fault(&path, fault);
                ok(json!({"ok": true}))
            }
            ("POST", "/_control/clock") => {
                if let Some(t) = as_i64(body.get("now")) {
                    self.set_clock(t);
                }
                ok(json!({"now": self.now()}))
            }
            ("GET", "/_control/requests") => {
                let log: Vec<Value> = self
                    .requests()
                    .into_iter()
                    .map(|r| json!({"method": r.method, "path": r.path, "body": r.body, "authorized": r.authorized}))
                    .collect();
                ok(json!(log))
            }
            ("GET", "/_control/events") => {
                let g = self.inner.lock().unwrap();
                let list: Vec<Value> = g
                    .events
                    .values()
                    .map(|e| json!({"id": e.id, "uuid": e.uuid, "published": e.published, "timestamp": e.timestamp, "publish_timestamp": e.publish_timestamp}))
                    .collect();
                ok(json!(list))
            }
            _ => Answer::error(404, "Not Found", path),
        }
    }

    fn serve(&self, conn: TcpStream) {
        let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
        let mut reader = BufReader::new(match conn.try_clone() {
            Ok(c) => c,
            Err(_) => return,
        });
        let mut out = conn;
        // One request per connection: the answer says `Connection: close`.
        let mut head = String::new();
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            if line == "\r\n" || line == "\n" {
                break;
            }
            head.push_str(&line);
        }
        let mut lines = head.lines();
        let request_line = lines.next().unwrap_or("");
        let mut it = request_line.split_whitespace();
        let method = it.next().unwrap_or("").to_string();
        let path = it.next().unwrap_or("").to_string();
        let mut headers: Vec<(String, String)> = Vec::new();
        for l in lines {
            if let Some((k, v)) = l.split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        let get = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let len: usize = get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let body_json: Value = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&body)
                .unwrap_or(Value::String(String::from_utf8_lossy(&body).into_owned()))
        };
        let key = self.inner.lock().unwrap().key.clone();
        // X-MISP-AUTH wins over Authorization; the value is split on commas
        // and only a part of exactly 40 letters and digits counts.
        let auth_value = get("x-misp-auth")
            .or_else(|| get("authorization"))
            .unwrap_or_default();
        let authorized = auth_value
            .split(',')
            .map(str::trim)
            .any(|p| p.len() == 40 && p.bytes().all(|b| b.is_ascii_alphanumeric()) && p == key);
        let route = path.split('?').next().unwrap_or("").to_string();
        self.inner.lock().unwrap().log.push(Logged {
            method: method.clone(),
            path: route.clone(),
            body: body_json.clone(),
            authorized,
            raw_head: head.clone(),
        });

        // A queued fault for this path?
        let fault = {
            let mut g = self.inner.lock().unwrap();
            g.faults
                .iter_mut()
                .find(|(p, q)| route.contains(p.as_str()) && !q.is_empty())
                .and_then(|(_, q)| q.pop_front())
        };
        let mut cut = None;
        match fault {
            Some(Fault::Drop) => {
                self.after(&route);
                return;
            }
            Some(Fault::Delay(d)) => thread::sleep(d),
            Some(Fault::Cut { after, declared }) => cut = Some((after, declared)),
            Some(Fault::Status {
                code,
                retry_after,
                rate_limit_reset,
            }) => {
                let msg = match code {
                    429 => "Rate limit exceeded.",
                    500 => "An Internal Error Has Occurred.",
                    _ => "Service Unavailable",
                };
                let mut a = Answer::error(code, msg, &route);
                if let Some(r) = retry_after {
                    a.headers.push(("Retry-After".into(), r));
                }
                if let Some(r) = rate_limit_reset {
                    a.headers.push(("X-Rate-Limit-Limit".into(), "10".into()));
                    a.headers
                        .push(("X-Rate-Limit-Remaining".into(), "0".into()));
                    a.headers.push(("X-Rate-Limit-Reset".into(), r.to_string()));
                }
                self.after(&route);
                write_answer(&mut out, a, None);
                return;
            }
            None => {}
        }

        let accept_json = get("accept").is_some_and(|a| a.contains("application/json"));
        let static_dir = {
            let g = self.inner.lock().unwrap();
            g.static_dirs
                .iter()
                .find(|(p, _)| route.starts_with(p.as_str()))
                .map(|(p, d)| d.join(&route[p.len()..]))
        };
        let answer = if let Some(file) = static_dir {
            match std::fs::read(&file) {
                Ok(bytes) if !route.contains("..") => {
                    let mut a = Answer::json(200, bytes);
                    if let Ok(m) = std::fs::metadata(&file).and_then(|m| m.modified()) {
                        let t: chrono::DateTime<chrono::Utc> = m.into();
                        a.headers.push((
                            "Last-Modified".into(),
                            t.format("%a, %d %b %Y %H:%M:%S GMT").to_string(),
                        ));
                    }
                    a
                }
                _ => Answer::error(404, "Not Found", &route),
            }
        } else if route.starts_with("/_control/") {
            self.control(&method, &route, &body_json)
        } else if !authorized {
            Answer::error(
                403,
                "Authentication failed. Please make sure you pass the API key of an API enabled user along in the Authorization header.",
                &route,
            )
        } else {
            match (method.as_str(), route.as_str()) {
                ("GET", "/servers/getVersion") | ("GET", "/users/view/me") if !accept_json => Answer {
                    status: 302,
                    headers: vec![("Location".into(), "/users/login".into()), ("Content-Type".into(), "text/html".into())],
                    parts: vec![Arc::new(b"<html><body>Login</body></html>".to_vec())],
                },
                ("GET", "/servers/getVersion") => Answer::json(
                    200,
                    serde_json::to_vec(&json!({"version": "2.5.1", "pymisp_recommended_version": "2.5.1", "perm_sync": false, "perm_sighting": false, "perm_galaxy_editor": false, "request_encoding": ["gzip", "br"], "filter_sightings": true})).unwrap(),
                ),
                ("GET", "/users/view/me") => Answer::json(
                    200,
                    serde_json::to_vec(&json!({"User": {"id": "1", "org_id": "1", "email": "sync@emulator.test", "role_id": "3", "password": "*****", "totp": "*****", "disabled": false},
                        "Role": {"id": "3", "name": "User", "perm_auth": true, "perm_add": true},
                        "UserSetting": [], "Organisation": {"id": "1", "name": "ORGNAME", "uuid": "1c4f2d3e-5a6b-4c7d-8e9f-0a1b2c3d4e5f"}})).unwrap(),
                ),
                ("POST", "/events/restSearch") | ("POST", "/attributes/restSearch") => {
                    self.rest_search(&route, &body_json)
                }
                _ => Answer::error(404, "Not Found", &route),
            }
        };
        // Hooks run before the answer leaves, so the client's next request sees their change.
        self.after(&route);
        write_answer(&mut out, answer, cut);
    }

    /// Counts a request to `route` and runs the hooks due.
    fn after(&self, route: &str) {
        let due: Vec<Hook> = {
            let mut g = self.inner.lock().unwrap();
            let mut due = Vec::new();
            let paths: Vec<String> = g.hooks.iter().map(|(p, _, _)| p.clone()).collect();
            for p in paths.iter().collect::<std::collections::BTreeSet<_>>() {
                if route.contains(p.as_str()) {
                    *g.counts.entry(p.clone()).or_insert(0) += 1;
                }
            }
            let counts = g.counts.clone();
            let mut i = 0;
            while i < g.hooks.len() {
                let (p, n, _) = &g.hooks[i];
                if route.contains(p.as_str()) && counts.get(p).copied().unwrap_or(0) >= *n {
                    due.push(g.hooks.remove(i).2);
                } else {
                    i += 1;
                }
            }
            due
        };
        for hook in due {
            let mut me = self.clone();
            hook(&mut me);
        }
    }

    fn rest_search(&self, route: &str, body: &Value) -> Answer {
        let body = match body {
            Value::Object(m) => match m.get("request") {
                Some(Value::Object(r)) if m.len() == 1 => r.clone(),
                _ => m.clone(),
            },
            _ => {
                return Answer::error(
                    400,
                    "Either specify the search terms in the url, or POST a json with the filter parameters.",
                    route,
                )
            }
        };
        if let Some(f) = body.get("returnFormat") {
            if f != "json" {
                return Answer::error(404, "Invalid output format.", route);
            }
        }
        let g = self.inner.lock().unwrap();
        let q = Query::parse(&body, g.clock);
        if route == "/events/restSearch" {
            g.search_events(&q)
        } else {
            g.search_attributes(&q)
        }
    }
}

/// What `metadata: true` leaves of an event.
fn strip_to_metadata(ev: &mut Map<String, Value>) {
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

fn for_each_attr(ev: &mut Map<String, Value>, mut f: impl FnMut(&mut Map<String, Value>)) {
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
    fn insert(&mut self, event: Value, keep_times: bool) -> u64 {
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

    /// Event-level selection shared by both endpoints.
    fn event_selected(&self, s: &Stored, q: &Query, attributes_scope: bool) -> Option<Value> {
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

    fn search_events(&self, q: &Query) -> Answer {
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
                            .map_or(true, |a| !a.is_empty())
                    });
                }
            }
            parts.push(Arc::new(serde_json::to_vec(&v).unwrap()));
        }
        parts.push(Arc::new(b"]}".to_vec()));
        let mut headers = vec![
            ("Content-Type".to_string(), "application/json".to_string()),
            ("X-Export-Module-Used".into(), "json".into()),
            ("X-Response-Format".into(), "json".into()),
        ];
        headers.push(("X-Result-Count".into(), total.to_string()));
        Answer {
            status: 200,
            headers,
            parts,
        }
    }

    fn search_attributes(&self, q: &Query) -> Answer {
        let strings = self.numbers_as_strings;
        let mut rows: Vec<(u64, Value)> = Vec::new();
        for s in self.events.values() {
            let Some(v) = self.event_selected(s, q, true) else {
                continue;
            };
            let ev = v.get("Event").unwrap();
            let ev_tags = tag_names(ev);
            let stub = if q.include_context {
                let mut m = ev.as_object().unwrap().clone();
                for k in [
                    "Attribute",
                    "Object",
                    "ShadowAttribute",
                    "RelatedEvent",
                    "Galaxy",
                    "EventReport",
                ] {
                    m.remove(k);
                }
                Value::Object(m)
            } else {
                json!({"id": ev.get("id"), "org_id": ev.get("org_id").cloned().unwrap_or(json!("1")),
                       "orgc_id": ev.get("orgc_id").cloned().unwrap_or(json!("1")),
                       "distribution": ev.get("distribution").cloned().unwrap_or(json!("1")),
                       "info": ev.get("info"), "uuid": ev.get("uuid"),
                       "publish_timestamp": ev.get("publish_timestamp")})
            };
            let mut push = |a: &Value, object: Option<&Value>| {
                if !keep_deleted(q.deleted, a) || !q.attr_matches(a, &ev_tags, true) {
                    return;
                }
                let mut row = a.as_object().unwrap().clone();
                row.remove("ShadowAttribute");
                if q.include_event_tags {
                    let mut tags = row
                        .get("Tag")
                        .and_then(|t| t.as_array())
                        .cloned()
                        .unwrap_or_default();
                    for t in ev
                        .get("Tag")
                        .and_then(|t| t.as_array())
                        .cloned()
                        .unwrap_or_default()
                    {
                        let mut t = t;
                        t.as_object_mut()
                            .unwrap()
                            .insert("inherited".into(), json!(1));
                        tags.push(t);
                    }
                    if !tags.is_empty() {
                        row.insert("Tag".into(), json!(tags));
                    }
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
        let mut a = Answer::json(200, body);
        a.headers.push(("X-Result-Count".into(), count.to_string()));
        a
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        302 => "Found",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// Writes an answer; `cut` sends only the first bytes of the body.
fn write_answer(out: &mut TcpStream, a: Answer, cut: Option<(usize, bool)>) {
    let total: usize = a.parts.iter().map(|p| p.len()).sum();
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nConnection: close\r\n",
        a.status,
        reason(a.status)
    );
    for (k, v) in &a.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !matches!(cut, Some((_, false))) {
        head.push_str(&format!("Content-Length: {total}\r\n"));
    }
    head.push_str("\r\n");
    if out.write_all(head.as_bytes()).is_err() {
        return;
    }
    let mut left = cut.map_or(usize::MAX, |(n, _)| n);
    let mut w = std::io::BufWriter::with_capacity(1 << 20, &mut *out);
    for p in &a.parts {
        let n = p.len().min(left);
        if w.write_all(&p[..n]).is_err() {
            return;
        }
        left -= n;
        if left == 0 {
            break;
        }
    }
    let _ = w.flush();
    drop(w);
    let _ = out.shutdown(std::net::Shutdown::Write);
    // Let the client read everything before the socket goes away.
    let mut sink = [0u8; 1024];
    let _ = out.set_read_timeout(Some(Duration::from_millis(200)));
    while matches!(out.read(&mut sink), Ok(n) if n > 0) {}
}
