//! The legacy Graph tiIndicators bulk submit and delete by external id
//! (docs/design.md#graph-tiindicators).

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::super::http::{Request, Response};
use super::config::*;
use super::emulator::*;
use super::pipeline::*;

pub(super) const GRAPH_INTS: [&str; 9] = [
    "confidence",
    "severity",
    "networkSourcePort",
    "networkDestinationPort",
    "networkPort",
    "networkSourceAsn",
    "networkDestinationAsn",
    "networkProtocol",
    "fileSize",
];
pub(super) const GRAPH_LISTS: [&str; 4] = [
    "activityGroupNames",
    "malwareFamilyNames",
    "tags",
    "killChain",
];
pub(super) const GRAPH_ENUMS: [(&str, &str, &[&str]); 4] = [
    (
        "action",
        "TiAction",
        &["unknown", "allow", "block", "alert"],
    ),
    (
        "tlpLevel",
        "TlpLevel",
        &["unknown", "white", "green", "amber", "red"],
    ),
    (
        "diamondModel",
        "DiamondModel",
        &[
            "unknown",
            "adversary",
            "capability",
            "infrastructure",
            "victim",
        ],
    ),
    (
        "fileHashType",
        "FileHashType",
        &[
            "unknown",
            "sha1",
            "sha256",
            "md5",
            "authenticodeHash256",
            "lsHash",
            "ctph",
        ],
    ),
];
pub(super) const GRAPH_THREATS: [&str; 11] = [
    "Botnet",
    "C2",
    "CryptoMining",
    "Darknet",
    "DDoS",
    "MaliciousUrl",
    "Malware",
    "Phishing",
    "Proxy",
    "PUA",
    "WatchList",
];
pub(super) const GRAPH_OBSERVABLES: &[&str] = &[
    "domainName",
    "url",
    "userAgent",
    "networkSourceIPv4",
    "networkSourceIPv6",
    "networkDestinationIPv4",
    "networkDestinationIPv6",
    "networkIPv4",
    "networkIPv6",
    "networkSourceCidrBlock",
    "networkDestinationCidrBlock",
    "networkCidrBlock",
    "networkSourcePort",
    "networkDestinationPort",
    "networkPort",
    "networkSourceAsn",
    "networkDestinationAsn",
    "networkProtocol",
    "fileName",
    "fileHashValue",
    "fileMutexName",
    "fileSize",
    "filePath",
    "fileType",
    "filePacker",
    "fileCompileDateTime",
    "fileCreatedDateTime",
    "emailSenderAddress",
    "emailSenderName",
    "emailSourceDomain",
    "emailSourceIpAddress",
    "emailRecipient",
    "emailSubject",
    "emailXMailer",
    "emailEncoding",
    "emailLanguage",
];
pub(super) const DEFENDER_ATP_OBSERVABLES: [&str; 5] = [
    "domainName",
    "url",
    "networkDestinationIPv4",
    "networkDestinationIPv6",
    "fileHashValue",
];

pub(super) fn graph_error(status: u16, code: &str, message: String) -> Response {
    Response::json(
        status,
        json!({"error": {"code": code, "message": message, "innerError": {"date": Utc::now().to_rfc3339(), "request-id": uuid::Uuid::new_v4().to_string()}}}),
    )
}

pub(super) fn graph(st: &mut State, req: &Request, ctx: &mut Ctx) -> Result<Response, Response> {
    let action = req
        .path
        .rsplit('/')
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    if req.method != "POST"
        || !["submittiindicators", "deletetiindicatorsbyexternalid"].contains(&action.as_str())
    {
        return Err(graph_error(
            400,
            "BadRequest",
            format!("{} {} is not emulated", req.method, req.path),
        ));
    }
    let client = authorize(st, req, Api::Graph, ctx)?;
    if let Some(secs) = window_wait(st, Api::Graph, &client) {
        return Err(throttled(Api::Graph, secs, true));
    }
    let body: Value = serde_json::from_slice(&req.body).map_err(|e| {
        graph_error(
            400,
            "BadRequest",
            format!("Unable to read JSON request payload: {e}"),
        )
    })?;
    let Some(items) = body.get("value").and_then(Value::as_array) else {
        return Err(graph_error(
            400,
            "BadRequest",
            "The request body must be {\"value\": [...]}.".into(),
        ));
    };
    if items.len() > st.cfg.graph_max_batch {
        return Err(graph_error(
            400,
            "BadRequest",
            format!(
                "At most {} items per request; received {}.",
                st.cfg.graph_max_batch,
                items.len()
            ),
        ));
    }
    if action == "deletetiindicatorsbyexternalid" {
        let mut results = Vec::new();
        for id in items {
            let id = id.as_str().ok_or_else(|| {
                graph_error(
                    400,
                    "BadRequest",
                    format!("Cannot convert {id} to Edm.String."),
                )
            })?;
            let removed = st.store.graph.remove(id).is_some();
            ctx.accepted += usize::from(removed);
            ctx.rejected += usize::from(!removed);
            results.push(if removed { json!({"code": 0, "message": "", "subcode": null}) } else { json!({"code": 404, "message": format!("No indicator with externalId {id}"), "subcode": null}) });
        }
        return Ok(Response::json(
            200,
            json!({"@odata.context": "https://graph.microsoft.com/beta/$metadata#Collection(microsoft.graph.resultInfo)", "value": results}),
        ));
    }
    if let Some(msg) = items.iter().find_map(graph_conversion_error) {
        return Err(graph_error(400, "BadRequest", msg));
    }
    let tenant = st.cfg.tenant.clone();
    let mut out = Vec::new();
    for item in items {
        let mut v = item.clone();
        match graph_item_error(item) {
            Some(msg) => {
                ctx.rejected += 1;
                v["Error"] = json!({"code": "InvalidIndicator", "message": msg});
            }
            None => {
                let id = uuid::Uuid::new_v4().to_string();
                v["id"] = json!(id);
                v["azureTenantId"] = json!(tenant);
                v["ingestedDateTime"] = json!(Utc::now().to_rfc3339());
                let key = item
                    .get("externalId")
                    .and_then(Value::as_str)
                    .map_or_else(|| format!("id:{id}"), str::to_string);
                st.store.graph.entry(key).or_default().push(GraphIndicator {
                    id,
                    sent: item.clone(),
                });
            }
        }
        out.push(v);
    }
    ctx.accepted = items.len() - ctx.rejected;
    let body = json!({"@odata.context": "https://graph.microsoft.com/beta/$metadata#Collection(tiIndicator)", "value": out});
    Ok(if ctx.rejected == 0 {
        Response::json(200, body)
    } else {
        Response::json(206, body).with(
            "Warning",
            format!("199 - \"Microsoft/Emulator/400/{}\"", ctx.rejected),
        )
    })
}

/// Errors that make Graph refuse the whole batch (the body does not deserialise).
pub(super) fn graph_conversion_error(item: &Value) -> Option<String> {
    let Some(m) = item.as_object() else {
        return Some("Each item must be a tiIndicator object.".into());
    };
    for name in GRAPH_INTS {
        if m.get(name).is_some_and(|v| !v.is_null() && !v.is_i64()) {
            return Some(format!(
                "Cannot convert the literal '{}' to the expected type 'Edm.Int32' ({name}).",
                m[name]
            ));
        }
    }
    for name in GRAPH_LISTS {
        if m.get(name).is_some_and(|v| {
            !v.is_null() && !v.as_array().is_some_and(|a| a.iter().all(Value::is_string))
        }) {
            return Some(format!(
                "Cannot convert {} to Collection(Edm.String) ({name}).",
                m[name]
            ));
        }
    }
    for (name, ty, values) in GRAPH_ENUMS {
        if let Some(v) = m.get(name).filter(|v| !v.is_null()) {
            if !v.as_str().is_some_and(|s| values.contains(&s)) {
                return Some(format!(
                    "Error converting value {v} to type 'microsoft.graph.{ty}'."
                ));
            }
        }
    }
    None
}

/// Errors for one item (a 206 with the item marked failed).
pub(super) fn graph_item_error(item: &Value) -> Option<String> {
    let m = item.as_object()?;
    let present = |n: &str| {
        m.get(n)
            .is_some_and(|v| !v.is_null() && v.as_str() != Some(""))
    };
    for name in [
        "action",
        "description",
        "expirationDateTime",
        "targetProduct",
        "threatType",
        "tlpLevel",
    ] {
        if !present(name) {
            return Some(format!("Required property '{name}' is missing."));
        }
    }
    let s = |n: &str| m.get(n).and_then(Value::as_str).unwrap_or("");
    if s("description").chars().count() > 100 {
        return Some("description must be at most 100 characters.".into());
    }
    let target = s("targetProduct");
    if !["Azure Sentinel", "Microsoft Defender ATP"].contains(&target) {
        return Some(format!("targetProduct '{target}' is not supported."));
    }
    if !GRAPH_THREATS.contains(&s("threatType")) {
        return Some(format!(
            "threatType '{}' is not supported.",
            s("threatType")
        ));
    }
    if DateTime::parse_from_rfc3339(s("expirationDateTime")).is_err() {
        return Some("expirationDateTime must be an ISO 8601 UTC time.".into());
    }
    if !GRAPH_OBSERVABLES.iter().any(|n| present(n)) {
        return Some("At least one email, file or network observable is required.".into());
    }
    if target == "Microsoft Defender ATP" && !DEFENDER_ATP_OBSERVABLES.iter().any(|n| present(n)) {
        return Some("Recieved an empty indicator value.".into());
    }
    if present("fileHashValue") && !present("fileHashType") {
        return Some("fileHashType is required with fileHashValue.".into());
    }
    if m.get("confidence")
        .and_then(Value::as_i64)
        .is_some_and(|c| !(0..=100).contains(&c))
    {
        return Some("confidence must be between 0 and 100.".into());
    }
    if m.get("severity")
        .and_then(Value::as_i64)
        .is_some_and(|c| !(0..=5).contains(&c))
    {
        return Some("severity must be between 0 and 5.".into());
    }
    None
}
