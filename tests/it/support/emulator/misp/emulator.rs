//! The emulator's handle: starting it, its settings, queued faults, the request
//! log, and the changes a MISP user makes to events.

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use serde_json::{json, Map, Value};

use super::super::http::{Connections, Request, Server};
use super::store::{for_each_attr, restyle, Inner, Stored};

/// A key the emulator accepts by default (40 letters and digits).
pub const TEST_KEY: &str = "Emul4torKey0000000000000000000000000000x";

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

/// An action run after the n-th request to a path (see [`Emulator::after_request`]).
pub(super) type Hook = Box<dyn FnOnce(&mut Emulator) + Send>;

/// A running emulator; the server stops when the last clone of it is dropped.
#[derive(Clone)]
pub struct Emulator {
    pub url: String,
    pub(super) inner: Arc<Mutex<Inner>>,
    /// Keeps the server running (None in the copy the server itself holds).
    _server: Option<Arc<Server>>,
}

impl Emulator {
    /// Starts an emulator on 127.0.0.1:`port` (0: any free port) that accepts [`TEST_KEY`].
    pub fn start(port: u16) -> Emulator {
        Emulator::start_with_key(port, TEST_KEY)
    }

    /// Starts an emulator on 127.0.0.1:`port` that accepts `key`.
    pub fn start_with_key(port: u16, key: &str) -> Emulator {
        let inner = Arc::new(Mutex::new(Inner {
            key: key.to_string(),
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
        }));
        // The server answers through a copy of the handle that does not own it.
        let this: Arc<OnceLock<Emulator>> = Arc::new(OnceLock::new());
        let that = Arc::clone(&this);
        let handler = move |req: &Request| that.get()?.handle(req);
        let server = Server::start(port, Connections::OneRequest, Arc::new(handler));
        let emu = Emulator {
            url: format!("http://{}", server.addr()),
            inner,
            _server: None,
        };
        let _ = this.set(emu.clone());
        Emulator {
            _server: Some(Arc::new(server)),
            ..emu
        }
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

    /// Adds (or replaces, by uuid) an event given as `{"Event":{…}}` or its
    /// inside. Missing ids are assigned; a feed event becomes a published
    /// server event. Returns the event id.
    pub fn add_event(&self, event: Value) -> u64 {
        let mut g = self.inner.lock().unwrap();
        g.insert(event, false)
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
}
