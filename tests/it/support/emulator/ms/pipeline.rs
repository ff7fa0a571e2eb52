//! Each API request: faults, latency, authorisation, throttling, the service, the log.

use std::collections::VecDeque;
use std::thread;
use std::time::Instant;

use chrono::Utc;
use serde_json::{json, Value};

use super::super::http::{Request, Response};
use super::config::*;
use super::control::*;
use super::defender::*;
use super::emulator::*;
use super::entra::*;
use super::graph::*;
use super::sentinel::*;

/// Per-request facts gathered for the log.
#[derive(Default)]
pub(super) struct Ctx {
    pub(super) client_id: Option<String>,
    pub(super) rejected: usize,
    pub(super) accepted: usize,
}

/// None: drop the connection without an answer.
pub(super) fn handle(sh: &Shared, req: &Request) -> Option<Response> {
    if let Some(action) = req.path.strip_prefix("/_emulator/") {
        return Some(control(sh, req, action));
    }
    let begun = Instant::now();
    let at_ms = sh.started.elapsed().as_millis() as u64;
    let api = route(&req.path);
    let objects = api.map_or(0, |a| count_objects(a, &req.body));
    let (fault, latency) = {
        let mut st = sh.state();
        let fault = take_fault(&mut st.faults, api);
        (fault, st.cfg.latency)
    };
    thread::sleep(latency);
    if let Some(Fault::Delay(d)) = &fault {
        thread::sleep(*d);
    }
    let mut st = sh.state();
    let mut ctx = Ctx::default();
    if matches!(fault, Some(Fault::ExpireToken)) {
        if let Some(t) = bearer(req).and_then(|t| st.tokens.get_mut(t)) {
            t.expires = Instant::now();
        }
    }
    let resp = match (&fault, api) {
        (Some(Fault::Drop), _) => None,
        (Some(Fault::Throttle { secs, header }), Some(api)) => Some(throttled(api, *secs, *header)),
        (Some(Fault::Status(code)), Some(api)) => Some(server_error(api, *code)),
        (Some(Fault::DropAfterProcessing), _) => {
            dispatch(&mut st, req, api, &mut ctx);
            None
        }
        _ => Some(dispatch(&mut st, req, api, &mut ctx)),
    };
    let status = resp.as_ref().map_or(0, |r| r.status);
    let s = &mut st.stats;
    s.requests += 1;
    s.token_requests += u64::from(api == Some(Api::Token));
    *s.by_status.entry(status).or_default() += 1;
    s.throttled += u64::from(status == 429);
    s.throttled_injected += u64::from(matches!(fault, Some(Fault::Throttle { .. })));
    s.faults_injected += u64::from(fault.is_some());
    s.dropped += u64::from(resp.is_none());
    s.objects_received += objects as u64;
    s.objects_accepted += ctx.accepted as u64;
    s.objects_rejected += ctx.rejected as u64;
    s.first_request_ms.get_or_insert(at_ms);
    s.last_request_ms = Some(at_ms);
    let seq = st.log.len() as u64 + 1;
    st.log.push(LogEntry {
        seq,
        at_ms,
        method: req.method.clone(),
        path: req.path.clone(),
        api,
        client_id: ctx.client_id,
        status,
        objects,
        rejected: ctx.rejected,
        fault: fault.map(|f| format!("{f:?}")),
        elapsed_ms: begun.elapsed().as_millis() as u64,
    });
    resp
}

pub(super) fn take_fault(faults: &mut VecDeque<FaultRule>, api: Option<Api>) -> Option<Fault> {
    let api = api?;
    let i = faults
        .iter()
        .position(|r| r.count > 0 && r.api.map_or(api != Api::Token, |a| a == api))?;
    let rule = &mut faults[i];
    rule.count -= 1;
    let fault = rule.fault.clone();
    if rule.count == 0 {
        faults.remove(i);
    }
    Some(fault)
}

pub(super) fn route(path: &str) -> Option<Api> {
    let lower = path.to_ascii_lowercase();
    if lower.ends_with("/oauth2/v2.0/token") {
        Some(Api::Token)
    } else if lower.starts_with("/workspaces/") {
        Some(Api::Sentinel)
    } else if lower == "/api/indicators" || lower.starts_with("/api/indicators/") {
        Some(Api::Defender)
    } else if lower.starts_with("/beta/security/tiindicators") {
        Some(Api::Graph)
    } else {
        None
    }
}

pub(super) fn dispatch(st: &mut State, req: &Request, api: Option<Api>, ctx: &mut Ctx) -> Response {
    let result = match api {
        Some(Api::Token) => Ok(token(st, req, ctx)),
        Some(Api::Sentinel) => sentinel(st, req, ctx),
        Some(Api::Defender) => defender(st, req, ctx),
        Some(Api::Graph) => graph(st, req, ctx),
        None => Ok(Response::json(
            404,
            json!({"error": {"code": "NotFound", "message": format!("No route for {}", req.path)}}),
        )),
    };
    result.unwrap_or_else(|r| r)
}

pub(super) fn count_objects(api: Api, body: &[u8]) -> usize {
    let key = match api {
        Api::Token => return 0,
        Api::Sentinel => "stixobjects",
        Api::Defender => "Indicators",
        Api::Graph => "value",
    };
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get(key).and_then(Value::as_array).map(Vec::len))
        .unwrap_or(0)
}

pub(super) fn bearer(req: &Request) -> Option<&str> {
    let h = req.header("authorization")?;
    let (scheme, token) = h.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The caller's client id, or the API's 401/403 answer.
pub(super) fn authorize(
    st: &mut State,
    req: &Request,
    api: Api,
    ctx: &mut Ctx,
) -> Result<String, Response> {
    let info = bearer(req).and_then(|t| st.tokens.get(t));
    let Some(info) = info.filter(|i| Instant::now() < i.expires) else {
        let resp = match api {
            Api::Sentinel => Response::json(
                401,
                json!({"statusCode": 401, "message": "Unauthorized. Access token is missing or invalid."}),
            ),
            Api::Graph => Response::json(
                401,
                json!({"error": {"code": "InvalidAuthenticationToken", "message": "Access token has expired or is not yet valid."}}),
            ),
            _ => Response::json(
                401,
                json!({"error": {"code": "Unauthorized", "message": "Authorization has been denied for this request.", "target": uuid::Uuid::new_v4().to_string()}}),
            ),
        };
        return Err(resp.with("WWW-Authenticate", "Bearer"));
    };
    ctx.client_id = Some(info.client_id.clone());
    let aud = info.audience.trim_end_matches('/');
    let ok = match api {
        Api::Sentinel => {
            aud == "https://management.azure.com" || aud == "https://management.core.windows.net"
        }
        Api::Defender => aud == "https://api.securitycenter.microsoft.com",
        _ => aud == "https://graph.microsoft.com",
    };
    if ok {
        return Ok(info.client_id.clone());
    }
    let msg = format!(
        "The access token audience '{}' is not valid for this API.",
        info.audience
    );
    Err(match api {
        Api::Sentinel => Response::json(403, json!({"statusCode": 403, "message": msg})),
        Api::Graph => Response::json(
            403,
            json!({"error": {"code": "Authorization_RequestDenied", "message": msg}}),
        ),
        _ => Response::json(
            403,
            json!({"error": {"code": "Forbidden", "message": msg, "target": uuid::Uuid::new_v4().to_string()}}),
        ),
    })
}

/// Sliding-window throttle per (API, client): Some(seconds to wait) when over `limit`.
pub(super) fn window_wait(st: &mut State, api: Api, client: &str) -> Option<u64> {
    let limit = match api {
        Api::Sentinel => st.cfg.sentinel_rpm,
        Api::Defender => st.cfg.defender_rpm,
        _ => st.cfg.graph_rpm,
    };
    let window = st.cfg.window;
    let now = Instant::now();
    let q = st.windows.entry((api, client.to_string())).or_default();
    while q.front().is_some_and(|t| now.duration_since(*t) >= window) {
        q.pop_front();
    }
    if q.len() >= limit {
        let wait = window.saturating_sub(now.duration_since(q[0]));
        return Some(wait.as_secs_f64().ceil().max(1.0) as u64);
    }
    q.push_back(now);
    None
}

pub(super) fn throttled(api: Api, secs: u64, header: bool) -> Response {
    let resp = match api {
        Api::Sentinel => Response::json(
            429,
            json!({"statusCode": 429, "message": format!("Rate limit is exceeded. Try again in {secs} seconds.")}),
        ),
        Api::Defender => Response::json(
            429,
            json!({"error": {"code": "TooManyRequests", "message": format!("Too many requests. Try again in {secs} seconds."), "target": uuid::Uuid::new_v4().to_string()}}),
        ),
        Api::Graph => Response::json(
            429,
            json!({"error": {"code": "TooManyRequests", "message": "Too many requests.", "innerError": {"date": Utc::now().to_rfc3339(), "request-id": uuid::Uuid::new_v4().to_string()}}}),
        ),
        Api::Token => aad_error(
            429,
            "temporarily_unavailable",
            90055,
            "The tenant is throttled: too many requests.",
        ),
    };
    if header {
        resp.with("Retry-After", secs.to_string())
    } else {
        resp
    }
}

pub(super) fn server_error(api: Api, code: u16) -> Response {
    match api {
        Api::Token => aad_error(
            code,
            "temporarily_unavailable",
            90033,
            "A transient error has occurred. Please try again.",
        ),
        _ => Response::json(
            code,
            json!({"error": {"code": if code == 503 { "ServiceUnavailable" } else { "InternalServerError" }, "message": "An unexpected error occurred (injected)."}}),
        ),
    }
}
