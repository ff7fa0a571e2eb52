//! The three upload targets (docs/design.md#sentinel-stix-upload,
//! #defender-indicators, #graph-tiindicators) and the clouds they live in
//! (docs/design.md#entra-id-tokens): endpoints, token scopes, batch sizes, default pacing, request
//! bodies and the per-record results of a batch.

use serde_json::Value;

use crate::error::{Error, Result};
use crate::push::record::RecordKind;

/// Where `graph-push` uploads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Target {
    /// Microsoft Sentinel STIX objects upload API (STIX 2.1 indicators).
    Sentinel,
    /// Microsoft Defender for Endpoint indicators import API.
    Defender,
    /// Legacy Microsoft Graph tiIndicators (deprecated, announced as removed).
    Graph,
}

impl Target {
    pub fn name(self) -> &'static str {
        match self {
            Target::Sentinel => "sentinel",
            Target::Defender => "defender",
            Target::Graph => "graph",
        }
    }

    /// The record kind the target takes.
    pub fn kind(self) -> RecordKind {
        match self {
            Target::Sentinel => RecordKind::Stix,
            Target::Defender => RecordKind::Defender,
            Target::Graph => RecordKind::Graph,
        }
    }

    /// Most records one request may carry.
    pub fn max_batch(self) -> usize {
        match self {
            Target::Sentinel => 100,
            Target::Defender => 500,
            Target::Graph => 100,
        }
    }

    /// The documented request quota per minute.
    pub fn default_rpm(self) -> u32 {
        match self {
            Target::Sentinel => 100,
            Target::Defender => 30,
            Target::Graph => 1000,
        }
    }
}

/// National clouds (docs/design.md#entra-id-tokens).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Cloud {
    /// Azure public cloud.
    Global,
    /// US Government Community Cloud (Defender GCC; Entra in the public cloud).
    UsgovGcc,
    /// US Government GCC High and DoD.
    #[value(alias = "gcc-high", alias = "dod")]
    Usgov,
    /// Azure China (21Vianet).
    China,
}

impl Cloud {
    pub fn authority(self) -> &'static str {
        match self {
            Cloud::Global | Cloud::UsgovGcc => "https://login.microsoftonline.com",
            Cloud::Usgov => "https://login.microsoftonline.us",
            Cloud::China => "https://login.partner.microsoftonline.cn",
        }
    }

    /// (API base URL, token scope) of a target here; a missing host is None.
    fn table(self, target: Target) -> (Option<&'static str>, Option<&'static str>) {
        use Cloud::*;
        use Target::*;
        match (self, target) {
            (Global, Sentinel) => (
                Some("https://api.ti.sentinel.azure.com"),
                Some("https://management.azure.com/.default"),
            ),
            (Global, Defender) => (
                Some("https://api.security.microsoft.com"),
                Some("https://api.securitycenter.microsoft.com/.default"),
            ),
            (Global, Graph) => (
                Some("https://graph.microsoft.com"),
                Some("https://graph.microsoft.com/.default"),
            ),
            (UsgovGcc, Defender) => (
                Some("https://api-gcc.securitycenter.microsoft.us"),
                Some("https://api-gcc.securitycenter.microsoft.us/.default"),
            ),
            (Usgov, Sentinel) => (
                Some("https://api.ti.sentinel.azure.us"),
                Some("https://management.usgovcloudapi.net/.default"),
            ),
            (Usgov, Defender) => (
                Some("https://api-gov.securitycenter.microsoft.us"),
                Some("https://api-gov.securitycenter.microsoft.us/.default"),
            ),
            (China, Sentinel) => (None, Some("https://management.chinacloudapi.cn/.default")),
            _ => (None, None),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Cloud::Global => "global",
            Cloud::UsgovGcc => "usgov-gcc",
            Cloud::Usgov => "usgov",
            Cloud::China => "china",
        }
    }
}

/// Resolved addresses of one run.
#[derive(Debug, Clone)]
pub struct Endpoints {
    /// API base, without a trailing slash.
    pub api_base: String,
    /// Token scope (`<resource>/.default`).
    pub scope: String,
    /// Authority URL, without a trailing slash.
    pub authority: String,
}

/// Makes a URL of a bare host (`login.microsoftonline.us`) and drops a trailing slash.
pub fn normalise_base(s: &str) -> String {
    let s = s.trim().trim_end_matches('/');
    if s.contains("://") {
        s.to_string()
    } else {
        format!("https://{s}")
    }
}

/// Picks the endpoints from the cloud table and the overrides.
pub fn endpoints(
    target: Target,
    cloud: Cloud,
    api_url: Option<&str>,
    authority_host: Option<&str>,
    scope: Option<&str>,
) -> Result<Endpoints> {
    let (host, known_scope) = cloud.table(target);
    let api_base = match (api_url, host) {
        (Some(u), _) => normalise_base(u),
        (None, Some(h)) => h.to_string(),
        (None, None) => {
            return Err(Error::usage(format!(
                "--target {} has no known endpoint in --cloud {} (see the clouds table in \
                 --help); give --api-url (and --scope) if your tenant has one",
                target.name(),
                cloud.name()
            )))
        }
    };
    let scope = match (scope, known_scope) {
        (Some(s), _) => s.to_string(),
        (None, Some(s)) => s.to_string(),
        (None, None) => {
            return Err(Error::usage(format!(
                "--target {} has no known token scope in --cloud {}: give --scope",
                target.name(),
                cloud.name()
            )))
        }
    };
    Ok(Endpoints {
        api_base,
        scope,
        authority: authority_host
            .map(normalise_base)
            .unwrap_or_else(|| cloud.authority().to_string()),
    })
}

/// The upload URL of a target.
pub fn upload_url(target: Target, api_base: &str, workspace_id: &str) -> String {
    match target {
        Target::Sentinel => format!(
            "{api_base}/workspaces/{workspace_id}/threat-intelligence-stix-objects:upload?api-version=2024-02-01-preview"
        ),
        Target::Defender => format!("{api_base}/api/indicators/import"),
        Target::Graph => format!("{api_base}/beta/security/tiIndicators/submitTiIndicators"),
    }
}

/// The legacy Graph bulk delete by external id.
pub fn graph_delete_url(api_base: &str) -> String {
    format!("{api_base}/beta/security/tiIndicators/deleteTiIndicatorsByExternalId")
}

/// Builds a request body around records that are each one JSON document.
/// The records' bytes are spliced in unchanged.
pub fn body(target: Target, source_system: &str, records: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(records.iter().map(|r| r.len() + 1).sum::<usize>() + 64);
    match target {
        Target::Sentinel => {
            out.extend_from_slice(b"{\"sourcesystem\":");
            out.extend_from_slice(
                serde_json::to_string(source_system)
                    .expect("a string serialises")
                    .as_bytes(),
            );
            out.extend_from_slice(b",\"stixobjects\":[");
        }
        Target::Defender => out.extend_from_slice(b"{\"Indicators\":["),
        Target::Graph => out.extend_from_slice(b"{\"value\":["),
    }
    for (i, r) in records.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(r);
    }
    out.extend_from_slice(b"]}");
    out
}

/// What the remote said about one record of a batch it answered 200/206.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordResult {
    Accepted,
    Rejected(String),
    /// No word on this record where one was due: worth resending.
    Unknown(String),
}

/// Joins the strings of an array field (`errorMessages`, …).
fn messages(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(a)) => a
            .iter()
            .map(|m| match m {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    }
}

/// Reads the per-record results of a successful (200/206) batch answer.
/// `match_values` are what the remote may echo to identify a record
/// (Defender's `indicatorValue`, Graph's `externalId`).
pub fn parse_results(target: Target, body: &str, match_values: &[String]) -> Vec<RecordResult> {
    let n = match_values.len();
    let doc: Value = if body.trim().is_empty() {
        Value::Null
    } else {
        match serde_json::from_str(body) {
            Ok(v) => v,
            Err(_) if target == Target::Sentinel => Value::Null,
            Err(e) => return vec![RecordResult::Unknown(format!("unreadable answer: {e}")); n],
        }
    };
    match target {
        Target::Sentinel => sentinel_results(&doc, n),
        Target::Defender | Target::Graph => item_results(target, &doc, match_values),
    }
}

/// Sentinel: all accepted but those listed in `errors[].recordIndex`.
fn sentinel_results(doc: &Value, n: usize) -> Vec<RecordResult> {
    let mut out = vec![RecordResult::Accepted; n];
    if let Some(errors) = doc.get("errors").and_then(Value::as_array) {
        for e in errors {
            let Some(i) = e.get("recordIndex").and_then(Value::as_u64) else {
                continue;
            };
            let Some(slot) = out.get_mut(i as usize) else {
                continue;
            };
            let mut msgs = messages(e.get("errorMessages"));
            msgs.extend(messages(e.get("validationErrorMessages")));
            if msgs.is_empty() {
                msgs.push("rejected without a message".to_string());
            }
            *slot = RecordResult::Rejected(msgs.join("; "));
        }
    }
    out
}

/// The failure text of one Defender or Graph result item, if it failed.
fn item_failure(target: Target, item: &Value) -> Option<String> {
    match target {
        Target::Defender => (item.get("isFailed") == Some(&Value::Bool(true))).then(|| {
            item.get("failureReason")
                .and_then(Value::as_str)
                .unwrap_or("failed without a reason")
                .to_string()
        }),
        _ => {
            let err = item.get("error").or_else(|| item.get("Error"))?;
            if err.is_null() {
                return None;
            }
            Some(match err {
                Value::String(s) => s.clone(),
                Value::Object(o) => {
                    let code = o.get("code").and_then(Value::as_str).unwrap_or("");
                    let msg = o.get("message").and_then(Value::as_str).unwrap_or("");
                    format!("{code}: {msg}")
                        .trim_matches([' ', ':'])
                        .to_string()
                }
                other => other.to_string(),
            })
        }
    }
}

/// The value a result item echoes to identify its record.
fn item_echo(target: Target, item: &Value) -> Option<&str> {
    let field = match target {
        Target::Defender => "indicator",
        _ => "externalId",
    };
    item.get(field).and_then(Value::as_str)
}

/// Defender and Graph answer one item per record: matched by position when
/// the counts agree and the echoes do not contradict, else by echoed value.
fn item_results(target: Target, doc: &Value, match_values: &[String]) -> Vec<RecordResult> {
    let n = match_values.len();
    let items: &[Value] = doc
        .get("value")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let result_of = |item: &Value| match item_failure(target, item) {
        Some(reason) => RecordResult::Rejected(reason),
        None => RecordResult::Accepted,
    };
    let positional = items.len() == n
        && items.iter().zip(match_values).all(|(item, want)| {
            item_echo(target, item).is_none_or(|got| got.eq_ignore_ascii_case(want))
        });
    if positional {
        return items.iter().map(result_of).collect();
    }
    let mut out = vec![RecordResult::Unknown("no result for this record in the answer".into()); n];
    let mut used = vec![false; items.len()];
    for (slot, want) in out.iter_mut().zip(match_values) {
        let found = items.iter().enumerate().find(|(j, item)| {
            !used[*j] && item_echo(target, item).is_some_and(|got| got.eq_ignore_ascii_case(want))
        });
        if let Some((j, item)) = found {
            used[j] = true;
            *slot = result_of(item);
        }
    }
    out
}

/// The remote's error text from an error answer (`{"error":{"code","message"}}`,
/// `{"statusCode","message"}`, or plain text), cut to a readable length.
pub fn error_text(body: &str) -> String {
    let text = match serde_json::from_str::<Value>(body) {
        Ok(v) => {
            // `{"error":{…}}`, or OAuth's `{"error":"code","error_description":"…"}`.
            let e = v.get("error").filter(|e| e.is_object()).unwrap_or(&v);
            let code = e
                .get("code")
                .or_else(|| e.get("error"))
                .and_then(Value::as_str);
            let msg = e
                .get("message")
                .or_else(|| e.get("error_description"))
                .and_then(Value::as_str);
            match (code, msg) {
                (Some(c), Some(m)) => format!("{c}: {m}"),
                (None, Some(m)) => m.to_string(),
                (Some(c), None) => c.to_string(),
                (None, None) => body.trim().to_string(),
            }
        }
        Err(_) => body.trim().to_string(),
    };
    // One line: an HTML error page or a message with line breaks would split
    // the log line (and control characters have no place on a terminal).
    let text = text
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let mut t: String = text.chars().take(300).collect();
    if t.len() < text.len() {
        t.push('…');
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clouds_and_overrides() {
        let e = endpoints(Target::Defender, Cloud::Global, None, None, None).unwrap();
        assert_eq!(e.api_base, "https://api.security.microsoft.com");
        assert_eq!(e.scope, "https://api.securitycenter.microsoft.com/.default");
        assert!(endpoints(Target::Graph, Cloud::Usgov, None, None, None).is_err());
        assert!(endpoints(Target::Sentinel, Cloud::China, None, None, None).is_err());
        let e = endpoints(
            Target::Sentinel,
            Cloud::China,
            Some("http://127.0.0.1:8080/"),
            Some("127.0.0.1:9"),
            None,
        )
        .unwrap();
        assert_eq!(e.api_base, "http://127.0.0.1:8080");
        assert_eq!(e.authority, "https://127.0.0.1:9");
        assert_eq!(e.scope, "https://management.chinacloudapi.cn/.default");
    }

    #[test]
    fn bodies_splice_records() {
        let b = body(
            Target::Sentinel,
            "MISP \"prod\"",
            &[b"{\"a\":1}", b"{\"b\":2}"],
        );
        let v: Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(v["sourcesystem"], "MISP \"prod\"");
        assert_eq!(v["stixobjects"][1]["b"], 2);
        let v: Value = serde_json::from_slice(&body(Target::Defender, "", &[b"{}"])).unwrap();
        assert_eq!(v["Indicators"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn sentinel_partial_failure_reads_both_arrays() {
        let body = r#"{"errors":[{"recordIndex":1,"errorMessages":["bad pattern"]},
            {"recordIndex":2,"validationErrorMessages":["bad valid_until"]},{"recordIndex":9}]}"#;
        let r = parse_results(Target::Sentinel, body, &vec![String::new(); 3]);
        assert_eq!(r[0], RecordResult::Accepted);
        assert_eq!(r[1], RecordResult::Rejected("bad pattern".into()));
        assert_eq!(r[2], RecordResult::Rejected("bad valid_until".into()));
        assert_eq!(
            parse_results(Target::Sentinel, "", &[String::new()]),
            vec![RecordResult::Accepted]
        );
    }

    #[test]
    fn defender_items_by_position_or_value() {
        let vals = vec!["a.example".to_string(), "b.example".to_string()];
        let body = r#"{"value":[{"id":"1","indicator":"b.example","isFailed":true,"failureReason":"InvalidDomainName"},
            {"id":"2","indicator":"a.example","isFailed":false,"failureReason":null}]}"#;
        let r = parse_results(Target::Defender, body, &vals);
        assert_eq!(r[0], RecordResult::Accepted);
        assert_eq!(r[1], RecordResult::Rejected("InvalidDomainName".into()));
        let r = parse_results(Target::Defender, r#"{"value":[]}"#, &vals);
        assert!(matches!(r[0], RecordResult::Unknown(_)));
    }

    #[test]
    fn graph_items_with_errors() {
        let vals = vec!["u1".to_string(), "u2".to_string()];
        let body = r#"{"value":[{"id":"x","externalId":"u1"},
            {"externalId":"u2","error":{"code":"InvalidRequest","message":"empty indicator value"}}]}"#;
        let r = parse_results(Target::Graph, body, &vals);
        assert_eq!(r[0], RecordResult::Accepted);
        assert_eq!(
            r[1],
            RecordResult::Rejected("InvalidRequest: empty indicator value".into())
        );
    }

    #[test]
    fn error_texts() {
        assert_eq!(
            error_text(r#"{"error":{"code":"InvalidRequestBody","message":"bad"}}"#),
            "InvalidRequestBody: bad"
        );
        assert_eq!(
            error_text(r#"{"statusCode":429,"message":"Rate limit is exceeded."}"#),
            "Rate limit is exceeded."
        );
        assert_eq!(error_text("oops\n"), "oops");
        assert_eq!(
            error_text("<html>\r\n<body>Bad\tGateway</body>\n</html>"),
            "<html> <body>Bad Gateway</body> </html>"
        );
    }
}
