//! What the emulator answers to each request: the key check, queued faults,
//! static feed files, the control endpoint and MISP's REST endpoints.

use std::thread;

use serde_json::{json, Value};

use super::super::http::{Request, Response};
use super::emulator::{Emulator, Fault, Hook, Logged};
use super::search::Query;

/// JSON as MISP sends it.
pub(super) fn answer(status: u16, body: Vec<u8>) -> Response {
    Response::new(status)
        .with("Content-Type", "application/json")
        .body(body)
}

/// MISP's error answer.
pub(super) fn error(status: u16, message: &str, url: &str) -> Response {
    let body = json!({"name": message, "message": message, "url": url});
    answer(status, serde_json::to_vec(&body).unwrap())
}

impl Emulator {
    /// Answers one request (None: close the connection without an answer).
    pub(super) fn handle(&self, req: &Request) -> Option<Response> {
        let method = req.method.clone();
        let body = &req.body;
        let get = |name: &str| req.header(name).map(str::to_string);
        let body_json: Value = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(body)
                .unwrap_or(Value::String(String::from_utf8_lossy(body).into_owned()))
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
        let route = req.path.clone();
        self.inner.lock().unwrap().log.push(Logged {
            method: method.clone(),
            path: route.clone(),
            body: body_json.clone(),
            authorized,
            raw_head: req.head.clone(),
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
                return None;
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
                let mut a = error(code, msg, &route);
                if let Some(r) = retry_after {
                    a = a.with("Retry-After", r);
                }
                if let Some(r) = rate_limit_reset {
                    a = a
                        .with("X-Rate-Limit-Limit", "10")
                        .with("X-Rate-Limit-Remaining", "0")
                        .with("X-Rate-Limit-Reset", r.to_string());
                }
                self.after(&route);
                return Some(a);
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
        let mut reply = if let Some(file) = static_dir {
            match std::fs::read(&file) {
                Ok(bytes) if !route.contains("..") => {
                    let mut a = answer(200, bytes);
                    if let Ok(m) = std::fs::metadata(&file).and_then(|m| m.modified()) {
                        let t: chrono::DateTime<chrono::Utc> = m.into();
                        let t = t.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
                        a = a.with("Last-Modified", t);
                    }
                    a
                }
                _ => error(404, "Not Found", &route),
            }
        } else if route.starts_with("/_control/") {
            self.control(&method, &route, &body_json)
        } else if !authorized {
            error(
                403,
                "Authentication failed. Please make sure you pass the API key of an API enabled user along in the Authorization header.",
                &route,
            )
        } else {
            match (method.as_str(), route.as_str()) {
                ("GET", "/servers/getVersion") | ("GET", "/users/view/me") if !accept_json => Response::new(302)
                    .with("Location", "/users/login")
                    .with("Content-Type", "text/html")
                    .body(b"<html><body>Login</body></html>".to_vec()),
                ("GET", "/servers/getVersion") => answer(
                    200,
                    serde_json::to_vec(&json!({"version": "2.5.1", "pymisp_recommended_version": "2.5.1", "perm_sync": false, "perm_sighting": false, "perm_galaxy_editor": false, "request_encoding": ["gzip", "br"], "filter_sightings": true})).unwrap(),
                ),
                ("GET", "/users/view/me") => answer(
                    200,
                    serde_json::to_vec(&json!({"User": {"id": "1", "org_id": "1", "email": "sync@emulator.test", "role_id": "3", "password": "*****", "totp": "*****", "disabled": false},
                        "Role": {"id": "3", "name": "User", "perm_auth": true, "perm_add": true},
                        "UserSetting": [], "Organisation": {"id": "1", "name": "ORGNAME", "uuid": "1c4f2d3e-5a6b-4c7d-8e9f-0a1b2c3d4e5f"}})).unwrap(),
                ),
                ("POST", "/events/restSearch") | ("POST", "/attributes/restSearch") => {
                    self.rest_search(&route, &body_json)
                }
                _ => error(404, "Not Found", &route),
            }
        };
        // Hooks run before the answer leaves, so the client's next request sees their change.
        reply.cut = cut;
        self.after(&route);
        Some(reply)
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

    fn rest_search(&self, route: &str, body: &Value) -> Response {
        let body = match body {
            Value::Object(m) => match m.get("request") {
                Some(Value::Object(r)) if m.len() == 1 => r.clone(),
                _ => m.clone(),
            },
            _ => {
                return error(
                    400,
                    "Either specify the search terms in the url, or POST a json with the filter parameters.",
                    route,
                )
            }
        };
        if let Some(f) = body.get("returnFormat") {
            if f != "json" {
                return error(404, "Invalid output format.", route);
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
