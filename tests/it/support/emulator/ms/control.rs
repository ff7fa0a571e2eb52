//! The control endpoints `/_emulator/…` (never logged, throttled or faulted).

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::super::http::{Request, Response};
use super::config::*;
use super::emulator::*;

pub(super) fn control(sh: &Shared, req: &Request, action: &str) -> Response {
    let mut st = sh.state();
    let text = String::from_utf8_lossy(&req.body).trim().to_string();
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    match (req.method.as_str(), action) {
        ("GET", "stats") => Response::json(200, json!(st.stats)),
        ("GET", "log") => {
            let since: u64 = req.query("since").and_then(|s| s.parse().ok()).unwrap_or(0);
            let entries: Vec<&LogEntry> = st.log.iter().filter(|e| e.seq > since).collect();
            Response::json(200, json!(entries))
        }
        ("GET", "store") => Response::json(200, store_json(&st)),
        ("POST", "faults") => {
            let specs: Vec<String> = match &body {
                Value::Object(_) => body
                    .get("spec")
                    .and_then(Value::as_str)
                    .map(|s| vec![s.to_string()])
                    .unwrap_or_default(),
                Value::Array(a) => a
                    .iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect(),
                _ => text
                    .split(|c: char| c == ',' || c.is_whitespace())
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect(),
            };
            let rules: Result<Vec<FaultRule>, String> =
                specs.iter().map(|s| FaultRule::parse(s)).collect();
            match rules {
                Ok(rules) if !rules.is_empty() => {
                    st.faults.extend(rules);
                    Response::json(200, json!({"pending": st.faults.len()}))
                }
                Ok(_) => Response::json(400, json!({"error": "no fault spec given"})),
                Err(e) => Response::json(400, json!({"error": e})),
            }
        }
        ("POST", "latency") => match body
            .get("ms")
            .and_then(Value::as_u64)
            .or_else(|| text.parse().ok())
        {
            Some(ms) => {
                st.cfg.latency = Duration::from_millis(ms);
                Response::json(200, json!({"latency_ms": ms}))
            }
            None => Response::json(400, json!({"error": "expected {\"ms\": N}"})),
        },
        ("POST", "expire-tokens") => {
            let now = Instant::now();
            st.tokens.values_mut().for_each(|t| t.expires = now);
            Response::json(200, json!({"expired": st.tokens.len()}))
        }
        ("POST", "reset") => {
            reset(&mut st);
            Response::json(200, json!({"reset": true}))
        }
        _ => Response::json(
            404,
            json!({"error": format!("unknown control endpoint {} /_emulator/{action}", req.method)}),
        ),
    }
}
