//! The Sentinel STIX objects upload API (docs/design.md#sentinel-stix-upload).

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::super::http::{Request, Response};
use super::config::*;
use super::emulator::*;
use super::pipeline::*;

pub(super) fn sentinel_error(status: u16, code: &str, message: String) -> Response {
    Response::json(status, json!({"error": {"code": code, "message": message}}))
        .with("x-ms-error-code", code.to_string())
}

pub(super) fn sentinel(st: &mut State, req: &Request, ctx: &mut Ctx) -> Result<Response, Response> {
    let rest = &req.path["/workspaces/".len()..];
    let (workspace, op) = rest.split_once('/').unwrap_or((rest, ""));
    if op != "threat-intelligence-stix-objects:upload" {
        return Err(sentinel_error(
            404,
            "NotFound",
            format!("Resource not found: {}", req.path),
        ));
    }
    if req.method != "POST" {
        return Err(sentinel_error(
            405,
            "MethodNotAllowed",
            format!("{} is not allowed", req.method),
        ));
    }
    let client = authorize(st, req, Api::Sentinel, ctx)?;
    if !st
        .cfg
        .workspaces
        .iter()
        .any(|w| w.eq_ignore_ascii_case(workspace))
    {
        return Err(sentinel_error(
            404,
            "WorkspaceNotFound",
            format!("Workspace '{workspace}' was not found."),
        ));
    }
    if let Some(secs) = window_wait(st, Api::Sentinel, &client) {
        return Err(throttled(Api::Sentinel, secs, st.cfg.sentinel_retry_after));
    }
    match req.query("api-version") {
        Some(API_VERSION) => {}
        v => {
            return Err(sentinel_error(
                400,
                "UnsupportedApiVersion",
                format!(
                    "The api-version '{}' is not supported; use {API_VERSION}.",
                    v.unwrap_or("")
                ),
            ))
        }
    }
    let body: Value = serde_json::from_slice(&req.body).map_err(|e| {
        sentinel_error(
            400,
            "BadRequest",
            format!("The request body is not valid JSON: {e}"),
        )
    })?;
    let source = body
        .get("sourcesystem")
        .and_then(Value::as_str)
        .unwrap_or("");
    if source.is_empty() || source.len() > 256 {
        return Err(sentinel_error(
            400,
            "BadRequest",
            "The sourcesystem field is required (at most 256 characters).".into(),
        ));
    }
    if source.eq_ignore_ascii_case("Microsoft Sentinel") {
        return Err(sentinel_error(
            400,
            "BadRequest",
            "The sourcesystem 'Microsoft Sentinel' is reserved.".into(),
        ));
    }
    let Some(objects) = body
        .get("stixobjects")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
    else {
        return Err(sentinel_error(
            400,
            "BadRequest",
            "The stixobjects field is required and must be a non-empty array.".into(),
        ));
    };
    if objects.len() > st.cfg.sentinel_max_objects {
        return Err(sentinel_error(
            400,
            "BadRequest",
            format!(
                "The stixobjects array holds {} objects; at most {} are allowed.",
                objects.len(),
                st.cfg.sentinel_max_objects
            ),
        ));
    }
    let array_name = if st.cfg.validation_error_messages {
        "validationErrorMessages"
    } else {
        "errorMessages"
    };
    let mut errors = Vec::new();
    for (i, object) in objects.iter().enumerate() {
        let messages = validate_stix(object);
        if !messages.is_empty() {
            errors.push(json!({"recordIndex": i, array_name: messages}));
            continue;
        }
        store_stix(st, workspace, source, object);
    }
    ctx.rejected = errors.len();
    ctx.accepted = objects.len() - errors.len();
    Ok(if errors.is_empty() {
        Response::new(200)
    } else {
        Response::json(200, json!({"errors": errors}))
    })
}

pub(super) fn store_stix(st: &mut State, workspace: &str, source: &str, object: &Value) {
    let id = object["id"].as_str().unwrap_or_default().to_string();
    let modified = stix_time(&object["modified"]).unwrap_or_default();
    let object = if st.cfg.keep_bodies {
        object.clone()
    } else {
        json!({"id": object["id"], "created": object["created"], "modified": object["modified"]})
    };
    let versions = st
        .store
        .stix
        .entry((workspace.to_ascii_lowercase(), id))
        .or_default();
    let newer = versions.iter().all(|v| modified > v.modified);
    let created_changed = versions
        .first()
        .is_some_and(|v| v.object["created"] != object["created"]);
    // The log entry of this request is written once it is answered, under the same lock.
    let request = st.log.len() as u64 + 1;
    versions.push(StixVersion {
        request,
        object,
        sourcesystem: source.into(),
        newer,
        created_changed,
        modified,
    });
    st.stats.stix_not_newer += u64::from(!newer);
    st.stats.stix_created_changed += u64::from(created_changed);
}

/// A STIX 2.1 timestamp: RFC 3339 in UTC with a `Z`.
pub(super) fn stix_time(v: &Value) -> Option<DateTime<Utc>> {
    let s = v.as_str()?;
    if !s.ends_with('Z') {
        return None;
    }
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

pub(super) fn is_stix_id(s: &str, prefix: Option<&str>) -> bool {
    let Some((ty, uuid)) = s.split_once("--") else {
        return false;
    };
    prefix.is_none_or(|p| p == ty)
        && !ty.is_empty()
        && uuid.len() == 36
        && uuid::Uuid::try_parse(uuid).is_ok()
}

/// The STIX object types the upload API takes
/// (learn.microsoft.com/azure/sentinel/stix-objects-api).
pub(super) const SENTINEL_TYPES: &[&str] = &[
    "indicator",
    "attack-pattern",
    "identity",
    "threat-actor",
    "relationship",
];

/// Sentinel's per-object checks; the messages follow its "Error for Property=…" style.
pub(super) fn validate_stix(o: &Value) -> Vec<String> {
    let Some(m) = o.as_object() else {
        return vec!["Error: each STIX object must be a JSON object.".into()];
    };
    let mut errs = Vec::new();
    let mut err = |p: &str, msg: &str| errs.push(format!("Error for Property={p}: {msg}"));
    let ty = m.get("type").and_then(Value::as_str).unwrap_or("");
    if ty.is_empty() {
        err("type", "The type field is required.");
    } else if !SENTINEL_TYPES.contains(&ty) {
        err(
            "type",
            &format!("'{ty}' is not a supported STIX object type; supported: {SENTINEL_TYPES:?}."),
        );
    }
    match m.get("id").and_then(Value::as_str) {
        None => err("id", "The id field is required."),
        Some(id) if !is_stix_id(id, Some(ty)) => err(
            "id",
            &format!("'{id}' is not a valid identifier: expected '{ty}--<UUID>'."),
        ),
        Some(_) => {}
    }
    if let Some(v) = m.get("spec_version") {
        if v != "2.1" && v != "2.0" {
            err("spec_version", "Must be 2.0 or 2.1.");
        }
    }
    let created = stix_time(m.get("created").unwrap_or(&Value::Null));
    let modified = stix_time(m.get("modified").unwrap_or(&Value::Null));
    if created.is_none() {
        err("created", "Required; a timestamp in UTC ending in Z.");
    }
    if modified.is_none() {
        err("modified", "Required; a timestamp in UTC ending in Z.");
    }
    if let (Some(c), Some(md)) = (created, modified) {
        if md < c {
            err("modified", "Must be later than or equal to created.");
        }
    }
    if let Some(c) = m.get("confidence") {
        if !c.as_i64().is_some_and(|c| (0..=100).contains(&c)) {
            err("confidence", "Must be an integer between 0 and 100.");
        }
    }
    if m.get("revoked").is_some_and(|r| !r.is_boolean()) {
        err("revoked", "Must be a boolean.");
    }
    for name in ["labels", "indicator_types"] {
        if m.get(name)
            .is_some_and(|v| !v.as_array().is_some_and(|a| a.iter().all(Value::is_string)))
        {
            err(name, "Must be an array of strings.");
        }
    }
    if let Some(refs) = m.get("object_marking_refs") {
        let ok = refs.as_array().is_some_and(|a| {
            a.iter().all(|r| {
                r.as_str()
                    .is_some_and(|s| is_stix_id(s, Some("marking-definition")))
            })
        });
        if !ok {
            err(
                "object_marking_refs",
                "Must be an array of marking-definition identifiers.",
            );
        }
    }
    if m.get("created_by_ref")
        .is_some_and(|r| !r.as_str().is_some_and(|s| is_stix_id(s, Some("identity"))))
    {
        err("created_by_ref", "Must be an identity identifier.");
    }
    if matches!(ty, "identity" | "attack-pattern" | "threat-actor")
        && m.get("name")
            .and_then(Value::as_str)
            .is_none_or(|n| n.trim().is_empty())
    {
        err("name", "The name field is required.");
    }
    if ty == "relationship" {
        if m.get("relationship_type")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            err(
                "relationship_type",
                "The relationship_type field is required.",
            );
        }
        // The API checks the form of the ends, not that the workspace holds them:
        // a relationship may arrive before (or without) its ends.
        for end in ["source_ref", "target_ref"] {
            if !m
                .get(end)
                .and_then(Value::as_str)
                .is_some_and(|s| is_stix_id(s, None))
            {
                err(end, "Required; a STIX identifier.");
            }
        }
    }
    if ty == "indicator" {
        let pattern_type = m.get("pattern_type").and_then(Value::as_str);
        if pattern_type.is_none_or(str::is_empty) {
            err("pattern_type", "The pattern_type field is required.");
        }
        match m.get("pattern").and_then(Value::as_str).map(str::trim) {
            None | Some("") => err("pattern", "The pattern field is required."),
            Some(p)
                if pattern_type == Some("stix") && !(p.starts_with('[') && p.ends_with(']')) =>
            {
                err("pattern", &format!("'{p}' is not a valid STIX pattern."))
            }
            Some(_) => {}
        }
        let from = stix_time(m.get("valid_from").unwrap_or(&Value::Null));
        if from.is_none() {
            err("valid_from", "Required; a timestamp in UTC ending in Z.");
        }
        if let Some(u) = m.get("valid_until") {
            match (stix_time(u), from) {
                (None, _) => err("valid_until", "Must be a timestamp in UTC ending in Z."),
                (Some(u), Some(f)) if u <= f => {
                    err("valid_until", "Must be later than valid_from.")
                }
                _ => {}
            }
        }
    }
    errs
}
