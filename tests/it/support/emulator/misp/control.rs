//! The control endpoint `/_control/…`: changes and queries for a runner
//! started as a process (examples/misp-emulator.rs lists them).

use std::time::Duration;

use serde_json::{json, Value};

use super::super::http::Response;
use super::emulator::{Emulator, Fault};
use super::routes::{answer, error};
use super::store::{as_bool, as_i64};

impl Emulator {
    /// Handles one control request (`/_control/…`, for the runner and for
    /// tests in other processes). See examples/misp-emulator.rs for the list.
    pub(super) fn control(&self, method: &str, path: &str, body: &Value) -> Response {
        let ok = |v: Value| answer(200, serde_json::to_vec(&v).unwrap());
        let uuid = body.get("uuid").and_then(|u| u.as_str()).unwrap_or("");
        let attr = body.get("attribute").and_then(|u| u.as_str()).unwrap_or("");
        let done = |found: bool| {
            if found {
                ok(json!({"ok": true}))
            } else {
                error(404, "no such event", path)
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
                    return error(
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
            _ => error(404, "Not Found", path),
        }
    }
}
