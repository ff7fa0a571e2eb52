//! Defender for Endpoint's indicators import and list (docs/design.md#defender-indicators).

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::super::http::{Request, Response};
use super::config::*;
use super::emulator::*;
use super::pipeline::*;

pub(super) fn defender_error(status: u16, code: &str, message: String) -> Response {
    Response::json(
        status,
        json!({"error": {"code": code, "message": message, "target": uuid::Uuid::new_v4().to_string()}}),
    )
}

pub(super) fn defender(st: &mut State, req: &Request, ctx: &mut Ctx) -> Result<Response, Response> {
    let client = authorize(st, req, Api::Defender, ctx)?;
    match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/api/indicators") => Ok(defender_list(st, req)),
        ("POST", "/api/indicators/import") => {
            if let Some(secs) = window_wait(st, Api::Defender, &client) {
                return Err(throttled(Api::Defender, secs, true));
            }
            defender_import(st, req, &client, ctx)
        }
        _ => Err(defender_error(
            404,
            "NotFound",
            format!("{} {} is not emulated", req.method, req.path),
        )),
    }
}

pub(super) fn defender_list(st: &State, req: &Request) -> Response {
    let top = req
        .query("$top")
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000usize)
        .min(10_000);
    let skip = req
        .query("$skip")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0usize);
    let items: Vec<Value> = st
        .store
        .defender
        .values()
        .skip(skip)
        .take(top)
        .map(|d| {
            let mut v = d.sent.clone();
            v["id"] = json!(d.id.to_string());
            v["createdBy"] = json!(d.created_by);
            v["sourceType"] = json!("AadApp");
            v
        })
        .collect();
    Response::json(
        200,
        json!({"@odata.context": "https://api.securitycenter.microsoft.com/api/$metadata#Indicators", "value": items}),
    )
}

pub(super) fn is_active(indicator: &Value, now: DateTime<Utc>) -> bool {
    match indicator.get("expirationTime").and_then(Value::as_str) {
        Some(t) => DateTime::parse_from_rfc3339(t).is_ok_and(|t| t > now),
        None => true,
    }
}

pub(super) fn defender_import(
    st: &mut State,
    req: &Request,
    client: &str,
    ctx: &mut Ctx,
) -> Result<Response, Response> {
    let body: Value = serde_json::from_slice(&req.body).map_err(|e| {
        defender_error(
            400,
            "InvalidRequestBody",
            format!("Request body is not valid JSON: {e}"),
        )
    })?;
    let Some(items) = body.get("Indicators").and_then(Value::as_array) else {
        return Err(defender_error(
            400,
            "InvalidRequestBody",
            "Request body must be {\"Indicators\": [...]} (names are case-sensitive).".into(),
        ));
    };
    if items.len() > st.cfg.defender_max_batch {
        return Err(defender_error(
            400,
            "MaximumBatchSizeExceeded",
            format!(
                "Maximum batch size exceeded. Received: {}, allowed: {}.",
                items.len(),
                st.cfg.defender_max_batch
            ),
        ));
    }
    let now = Utc::now();
    let cap = st.cfg.defender_max_active;
    let mut active = st
        .store
        .defender
        .values()
        .filter(|d| is_active(&d.sent, now))
        .count();
    let mut results = Vec::new();
    for item in items {
        let value = item.get("indicatorValue").cloned().unwrap_or(Value::Null);
        let outcome = validate_defender(item).and_then(|key| {
            let was_active = st.store.defender.get(&key).map(|d| is_active(&d.sent, now));
            let now_active = is_active(item, now);
            if now_active && was_active != Some(true) && active >= cap {
                return Err(format!("The maximum number of active indicators for this tenant ({cap}) has been reached."));
            }
            active = active + usize::from(now_active) - usize::from(was_active == Some(true));
            let id = match st.store.defender.get_mut(&key) {
                Some(d) => {
                    d.sent = item.clone();
                    d.updates += 1;
                    d.id
                }
                None => {
                    let id = st.next_id;
                    st.next_id += 1;
                    let created_by = client.to_string();
                    st.store.defender.insert(key, DefenderIndicator { id, sent: item.clone(), updates: 0, created_by });
                    id
                }
            };
            Ok(id)
        });
        results.push(match outcome {
            Ok(id) => json!({"id": id.to_string(), "indicator": value, "isFailed": false, "failureReason": null}),
            Err(reason) => {
                ctx.rejected += 1;
                json!({"id": null, "indicator": value, "isFailed": true, "failureReason": reason})
            }
        });
    }
    ctx.accepted = items.len() - ctx.rejected;
    Ok(Response::json(
        200,
        json!({"@odata.context": "https://api.securitycenter.microsoft.com/api/$metadata#Collection(microsoft.windowsDefenderATP.api.ImportIndicatorResult)", "value": results}),
    ))
}

/// Per-indicator checks; Ok((indicatorType, indicatorValue)), the store key.
pub(super) fn validate_defender(item: &Value) -> Result<(String, String), String> {
    let Some(m) = item.as_object() else {
        return Err("InvalidRequestBody: an indicator must be a JSON object".into());
    };
    for name in [
        "indicatorValue",
        "indicatorType",
        "action",
        "title",
        "description",
    ] {
        if m.get(name)
            .and_then(Value::as_str)
            .is_none_or(|s| s.trim().is_empty())
        {
            return Err(format!(
                "MissingRequiredParameter: {name} is required (names are case-sensitive)"
            ));
        }
    }
    let s = |n: &str| m[n].as_str().unwrap_or_default();
    let (ty, value, action) = (s("indicatorType"), s("indicatorValue"), s("action"));
    const TYPES: [&str; 7] = [
        "FileSha1",
        "FileSha256",
        "FileMd5",
        "CertificateThumbprint",
        "IpAddress",
        "DomainName",
        "Url",
    ];
    const ACTIONS: [&str; 7] = [
        "Alert",
        "Warn",
        "Block",
        "Audit",
        "BlockAndRemediate",
        "AlertAndBlock",
        "Allowed",
    ];
    if !TYPES.contains(&ty) {
        return Err(format!(
            "InvalidRequestBody: indicatorType '{ty}' is not one of {}",
            TYPES.join(", ")
        ));
    }
    if !ACTIONS.contains(&action) {
        return Err(format!(
            "InvalidRequestBody: action '{action}' is not one of {}",
            ACTIONS.join(", ")
        ));
    }
    let network = matches!(ty, "IpAddress" | "DomainName" | "Url");
    if network && action == "BlockAndRemediate" {
        return Err(format!(
            "InvalidRequestBody: action BlockAndRemediate is not supported for indicatorType {ty}"
        ));
    }
    if action == "Audit" && m.get("generateAlert") != Some(&Value::Bool(true)) {
        return Err("InvalidRequestBody: action Audit requires generateAlert true".into());
    }
    if let Some(sev) = m.get("severity") {
        if !["Informational", "Low", "Medium", "High"].contains(&sev.as_str().unwrap_or("")) {
            return Err(format!(
                "InvalidRequestBody: severity {sev} is not Informational, Low, Medium or High"
            ));
        }
    }
    if m.get("generateAlert").is_some_and(|g| !g.is_boolean()) {
        return Err("InvalidRequestBody: generateAlert must be a boolean".into());
    }
    if let Some(t) = m.get("expirationTime") {
        if t.as_str()
            .is_none_or(|t| DateTime::parse_from_rfc3339(t).is_err())
        {
            return Err(format!(
                "InvalidRequestBody: expirationTime {t} is not an ISO 8601 UTC time"
            ));
        }
    }
    if m.get("rbacGroupNames")
        .is_some_and(|r| !r.as_array().is_some_and(|a| a.iter().all(Value::is_string)))
    {
        return Err("InvalidRequestBody: rbacGroupNames must be an array of strings".into());
    }
    let hex = |lens: &[usize]| {
        lens.contains(&value.len()) && value.bytes().all(|b| b.is_ascii_hexdigit())
    };
    let ok = match ty {
        "FileSha1" => hex(&[40]),
        "FileSha256" => hex(&[64]),
        "FileMd5" => hex(&[32]),
        "CertificateThumbprint" => hex(&[40, 64]),
        "IpAddress" if value.contains('/') => {
            return Err(format!(
                "InvalidIpAddress: '{value}' is a CIDR range; only single addresses are supported"
            ))
        }
        "IpAddress" => value.parse::<std::net::IpAddr>().is_ok(),
        "DomainName" => is_domain(value),
        _ => !value.chars().any(char::is_whitespace) && value.len() <= 2048,
    };
    if !ok {
        let code = match ty {
            "IpAddress" => "InvalidIpAddress",
            "DomainName" => "InvalidDomainName",
            "Url" => "InvalidUrl",
            _ => "InvalidHashValue",
        };
        return Err(format!("{code}: '{value}' is not a valid {ty}"));
    }
    Ok((ty.to_string(), value.to_string()))
}

pub(super) fn is_domain(s: &str) -> bool {
    s.len() <= 253
        && s.contains('.')
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}
