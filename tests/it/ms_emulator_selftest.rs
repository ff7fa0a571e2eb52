//! Proves the Microsoft emulator faithful to the documented APIs
//! (docs/design.md, Wire facts) by talking to it with ureq.

use std::time::Duration;

use base64::Engine as _;
use serde_json::{json, Value};

use crate::support::emulator::ms::*;

pub(super) struct Reply {
    pub(super) status: u16,
    retry_after: Option<String>,
    warning: Option<String>,
    pub(super) body: String,
}

impl Reply {
    pub(super) fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

fn reply(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Reply {
    let mut r = r.expect("HTTP exchange");
    let header = |n: &str| r.headers().get(n).map(|v| v.to_str().unwrap().to_string());
    let (retry_after, warning) = (header("retry-after"), header("warning"));
    Reply {
        status: r.status().as_u16(),
        retry_after,
        warning,
        body: r.body_mut().read_to_string().unwrap(),
    }
}

pub(super) fn token_request(emu: &MsEmulator, form: &[(&str, &str)]) -> Reply {
    reply(
        agent()
            .post(emu.token_url())
            .send_form(form.iter().copied()),
    )
}

fn token(emu: &MsEmulator, scope: &str) -> String {
    let r = token_request(
        emu,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("scope", scope),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["access_token"].as_str().unwrap().to_string()
}

fn post(url: &str, token: &str, body: &Value) -> Reply {
    reply(
        agent()
            .post(url)
            .header("Authorization", format!("Bearer {token}"))
            .send_json(body),
    )
}

fn stix(n: u32, modified: &str) -> Value {
    json!({"type": "indicator", "spec_version": "2.1", "id": format!("indicator--4c0b5f5e-8e1a-4c1e-9d7a-{n:012}"),
        "created": "2026-03-02T10:15:00.000Z", "modified": modified, "pattern": format!("[domain-name:value = 'c{n}.example.net']"),
        "pattern_type": "stix", "valid_from": "2026-03-02T10:15:00Z", "valid_until": "2026-06-01T00:00:00Z", "confidence": 75})
}

fn upload(emu: &MsEmulator, tok: &str, objects: Vec<Value>) -> Reply {
    post(
        &emu.sentinel_upload_url(WORKSPACE),
        tok,
        &json!({"sourcesystem": "MISP", "stixobjects": objects}),
    )
}

fn defender_item(value: &str, ty: &str, action: &str) -> Value {
    json!({"indicatorValue": value, "indicatorType": ty, "action": action, "generateAlert": true,
        "title": "MISP 4711", "description": "test", "expirationTime": "2099-06-01T00:00:00Z", "severity": "Medium"})
}

fn graph_item(ext: &str, domain: &str) -> Value {
    json!({"action": "alert", "targetProduct": "Azure Sentinel", "threatType": "WatchList", "tlpLevel": "green",
        "description": "MISP 4711: C2 domain", "expirationDateTime": "2099-06-01T00:00:00Z", "externalId": ext,
        "domainName": domain, "confidence": 75})
}

#[test]
fn token_flow_and_api_authorisation() {
    let emu = MsEmulator::start(Config::default());
    let base = [
        ("grant_type", "client_credentials"),
        ("client_id", CLIENT_ID),
        ("scope", SENTINEL_SCOPE),
    ];
    let wrong = token_request(
        &emu,
        &[
            base[0],
            base[1],
            base[2],
            ("client_secret", "secret-id-not-value"),
        ],
    );
    assert_eq!(wrong.status, 400);
    assert_eq!(wrong.json()["error"], "invalid_client");
    assert_eq!(wrong.json()["error_codes"], json!([7000215]));
    assert!(wrong.json()["error_description"]
        .as_str()
        .unwrap()
        .starts_with("AADSTS7000215:"));
    assert!(!wrong.body.contains("secret-id-not-value"));

    let tenant = reply(
        agent()
            .post(format!("{}/no-such-tenant/oauth2/v2.0/token", emu.url()))
            .send_form(base),
    );
    assert_eq!(
        (tenant.status, tenant.json()["error"].as_str()),
        (400, Some("invalid_request"))
    );
    assert_eq!(tenant.json()["error_codes"], json!([90002]));
    let client = token_request(
        &emu,
        &[
            base[0],
            ("client_id", "someone-else"),
            base[2],
            ("client_secret", CLIENT_SECRET),
        ],
    );
    assert_eq!(client.json()["error_codes"], json!([700016]));
    let scope = token_request(
        &emu,
        &[
            base[0],
            base[1],
            ("scope", "https://management.azure.com"),
            ("client_secret", CLIENT_SECRET),
        ],
    );
    assert_eq!(
        (scope.status, scope.json()["error"].as_str()),
        (400, Some("invalid_scope"))
    );
    let none = token_request(&emu, &base);
    assert_eq!(none.json()["error_codes"], json!([7000218]));

    // Basic authentication carries the credentials as well.
    let basic = base64::engine::general_purpose::STANDARD
        .encode(format!("{CLIENT_ID}:{}", CLIENT_SECRET.replace('~', "%7E")));
    let r = reply(
        agent()
            .post(emu.token_url())
            .header("Authorization", format!("Basic {basic}"))
            .send_form([base[0], base[2]]),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["token_type"], "Bearer");
    assert_eq!(r.json()["expires_in"], 3599);

    let sentinel = token(&emu, SENTINEL_SCOPE);
    let graph = token(&emu, GRAPH_SCOPE);
    let objects = vec![stix(1, "2026-03-02T10:15:00.000Z")];
    assert_eq!(upload(&emu, "not-a-token", objects.clone()).status, 401);
    let forbidden = upload(&emu, &graph, objects.clone());
    assert_eq!(forbidden.status, 403);
    assert_eq!(upload(&emu, &sentinel, objects.clone()).status, 200);
    let defender = post(
        &emu.defender_import_url(),
        &sentinel,
        &json!({"Indicators": []}),
    );
    assert_eq!(defender.status, 403, "a Sentinel token is not for Defender");

    emu.expire_tokens();
    let expired = upload(&emu, &sentinel, objects.clone());
    assert_eq!(expired.status, 401);
    assert_eq!(
        expired.json()["message"],
        "Unauthorized. Access token is missing or invalid."
    );
    emu.set_token_lifetime(Duration::ZERO);
    let short = token(&emu, SENTINEL_SCOPE);
    assert_eq!(
        upload(&emu, &short, objects.clone()).status,
        401,
        "a zero lifetime token is born expired"
    );
    emu.set_token_lifetime(Duration::from_secs(60));
    assert_eq!(
        upload(&emu, &token(&emu, SENTINEL_SCOPE), objects).status,
        200
    );
    assert_eq!(emu.stats().token_requests, 10);
}

#[test]
fn sentinel_upload_stores_versions() {
    let emu = MsEmulator::start(Config::default());
    let tok = token(&emu, SENTINEL_SCOPE);
    let ok = upload(
        &emu,
        &tok,
        vec![
            stix(1, "2026-03-02T10:15:00.000Z"),
            stix(2, "2026-03-02T10:15:00.000Z"),
        ],
    );
    assert_eq!((ok.status, ok.body.as_str()), (200, ""));
    assert_eq!(emu.stix_current(WORKSPACE).len(), 2);

    let newer = stix(1, "2026-03-03T00:00:00.000Z");
    assert_eq!(upload(&emu, &tok, vec![newer.clone()]).status, 200);
    assert_eq!(
        upload(&emu, &tok, vec![stix(2, "2026-03-02T10:15:00.000Z")]).status,
        200
    );
    let v1 = emu.stix_versions(WORKSPACE, newer["id"].as_str().unwrap());
    assert_eq!(v1.len(), 2);
    assert!(v1[1].newer && !v1[1].created_changed);
    assert_eq!(v1[1].object, newer, "stored exactly as sent");
    assert_eq!(
        emu.stix_current(WORKSPACE)[newer["id"].as_str().unwrap()],
        newer
    );
    let s = emu.stats();
    assert_eq!(
        (s.stix_not_newer, s.objects_accepted, s.objects_received),
        (1, 4, 4)
    );

    let mut recreated = stix(1, "2026-03-04T00:00:00.000Z");
    recreated["created"] = json!("2026-03-04T00:00:00.000Z");
    upload(&emu, &tok, vec![recreated]);
    assert_eq!(emu.stats().stix_created_changed, 1);
}

#[test]
fn sentinel_partial_errors_and_whole_request_errors() {
    let emu = MsEmulator::start(Config::default());
    let tok = token(&emu, SENTINEL_SCOPE);
    let mut bad_id = stix(10, "2026-03-02T10:15:00.000Z");
    bad_id["id"] = json!("indicator--not-a-uuid");
    let mut no_z = stix(11, "2026-03-02T10:15:00.000+00:00");
    no_z["created"] = json!("2026-03-02T10:15:00.000+00:00");
    let mut backwards = stix(12, "2026-03-02T10:15:00.000Z");
    backwards["valid_until"] = json!("2026-03-01T00:00:00Z");
    let mut pattern = stix(13, "2026-03-02T10:15:00.000Z");
    pattern["pattern"] = json!("domain-name:value = 'x.example'");
    let mut confidence = stix(14, "2026-03-02T10:15:00.000Z");
    confidence["confidence"] = json!(101);
    let mut missing = stix(15, "2026-03-02T10:15:00.000Z");
    missing.as_object_mut().unwrap().remove("valid_from");
    let objects = vec![
        stix(1, "2026-03-02T10:15:00.000Z"),
        bad_id,
        no_z,
        backwards,
        pattern,
        confidence,
        missing,
        stix(2, "2026-03-02T10:15:00.000Z"),
    ];
    let r = upload(&emu, &tok, objects);
    assert_eq!(r.status, 200);
    let errors = r.json()["errors"].as_array().unwrap().clone();
    let indexes: Vec<u64> = errors
        .iter()
        .map(|e| e["recordIndex"].as_u64().unwrap())
        .collect();
    assert_eq!(indexes, [1, 2, 3, 4, 5, 6]);
    assert!(errors[3]["errorMessages"][0]
        .as_str()
        .unwrap()
        .starts_with("Error for Property=pattern"));
    assert!(errors[2]["errorMessages"][0]
        .as_str()
        .unwrap()
        .contains("valid_until"));
    assert_eq!(
        emu.stix_current(WORKSPACE).len(),
        2,
        "the good objects were stored"
    );
    assert_eq!(emu.stats().objects_rejected, 6);

    emu.update_config(|c| c.validation_error_messages = true);
    let r = upload(&emu, &tok, vec![json!({"type": "indicator"})]);
    assert!(
        r.json()["errors"][0]["validationErrorMessages"].is_array(),
        "{}",
        r.body
    );

    let many: Vec<Value> = (0..101)
        .map(|n| stix(n, "2026-03-02T10:15:00.000Z"))
        .collect();
    assert_eq!(upload(&emu, &tok, many).status, 400);
    let reserved = post(
        &emu.sentinel_upload_url(WORKSPACE),
        &tok,
        &json!({"sourcesystem": "Microsoft Sentinel", "stixobjects": [stix(1, "2026-03-02T10:15:00.000Z")]}),
    );
    assert_eq!(reserved.status, 400);
    assert!(reserved.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("reserved"));
    let unknown = post(
        &emu.sentinel_upload_url("11111111-2222-3333-4444-555555555555"),
        &tok,
        &json!({"sourcesystem": "MISP", "stixobjects": [stix(1, "2026-03-02T10:15:00.000Z")]}),
    );
    assert_eq!(unknown.status, 404);
    let old_path = format!("{}/workspaces/{WORKSPACE}/threatintelligencestixobjects:upload?api-version=2024-02-01-preview", emu.url());
    assert_eq!(post(&old_path, &tok, &json!({})).status, 404);
    let version = emu
        .sentinel_upload_url(WORKSPACE)
        .replace("2024-02-01-preview", "2022-07-01");
    assert_eq!(
        post(
            &version,
            &tok,
            &json!({"sourcesystem": "MISP", "stixobjects": []})
        )
        .status,
        400
    );
}

#[test]
fn sentinel_sliding_window_throttles_per_identity() {
    let other = "0d7e0000-0000-4000-8000-000000000002";
    let cfg = Config {
        sentinel_rpm: 3,
        clients: vec![
            (CLIENT_ID.into(), CLIENT_SECRET.into()),
            (other.into(), "s2".into()),
        ],
        ..Config::default()
    };
    let emu = MsEmulator::start(cfg);
    let tok = token(&emu, SENTINEL_SCOPE);
    for n in 0..3 {
        assert_eq!(
            upload(&emu, &tok, vec![stix(n, "2026-03-02T10:15:00.000Z")]).status,
            200
        );
    }
    let r = upload(&emu, &tok, vec![stix(9, "2026-03-02T10:15:00.000Z")]);
    assert_eq!(r.status, 429);
    assert_eq!(r.retry_after, None, "Sentinel documents no Retry-After");
    let msg = r.json()["message"].as_str().unwrap().to_string();
    let secs: u64 = msg
        .trim_start_matches("Rate limit is exceeded. Try again in ")
        .trim_end_matches(" seconds.")
        .parse()
        .unwrap();
    assert!((1..=60).contains(&secs), "{msg}");
    assert!(emu
        .stix_versions(WORKSPACE, "indicator--4c0b5f5e-8e1a-4c1e-9d7a-000000000009")
        .is_empty());

    let other_tok = emu.issue_token(other, "https://management.azure.com");
    assert_eq!(
        upload(&emu, &other_tok, vec![stix(9, "2026-03-02T10:15:00.000Z")]).status,
        200,
        "the quota is per identity"
    );
    emu.update_config(|c| c.sentinel_retry_after = true);
    assert!(
        upload(&emu, &tok, vec![stix(9, "2026-03-02T10:15:00.000Z")])
            .retry_after
            .is_some()
    );
    let stats = emu.stats();
    assert_eq!((stats.throttled, stats.throttled_injected), (2, 0));

    // A window that has passed lets requests through again.
    emu.update_config(|c| c.window = Duration::from_millis(200));
    std::thread::sleep(Duration::from_millis(250));
    assert_eq!(
        upload(&emu, &tok, vec![stix(9, "2026-03-02T10:15:00.000Z")]).status,
        200
    );
}

#[test]
fn injected_faults() {
    let emu = MsEmulator::start(Config::default());
    let tok = token(&emu, SENTINEL_SCOPE);
    let one = || vec![stix(1, "2026-03-02T10:15:00.000Z")];
    let id = "indicator--4c0b5f5e-8e1a-4c1e-9d7a-000000000001";

    emu.inject(1, Fault::Drop);
    let dropped = agent()
        .post(emu.sentinel_upload_url(WORKSPACE))
        .header("Authorization", format!("Bearer {tok}"))
        .send_json(json!({"sourcesystem": "MISP", "stixobjects": one()}));
    assert!(dropped.is_err(), "no answer on a dropped connection");
    assert!(
        emu.stix_versions(WORKSPACE, id).is_empty(),
        "a dropped request is not processed"
    );

    emu.inject(1, Fault::DropAfterProcessing);
    assert!(agent()
        .post(emu.sentinel_upload_url(WORKSPACE))
        .header("Authorization", format!("Bearer {tok}"))
        .send_json(json!({"sourcesystem": "MISP", "stixobjects": one()}))
        .is_err());
    assert_eq!(
        emu.stix_versions(WORKSPACE, id).len(),
        1,
        "processed, answer lost"
    );

    emu.inject_on(
        Api::Sentinel,
        1,
        Fault::Throttle {
            secs: 7,
            header: true,
        },
    );
    emu.add_fault(FaultRule::parse("503:2@sentinel").unwrap());
    let r = upload(&emu, &tok, one());
    assert_eq!((r.status, r.retry_after.as_deref()), (429, Some("7")));
    assert_eq!(
        r.json()["message"],
        "Rate limit is exceeded. Try again in 7 seconds."
    );
    assert_eq!(upload(&emu, &tok, one()).status, 503);
    assert!(
        token(&emu, GRAPH_SCOPE).len() > 10,
        "API faults leave the token endpoint alone"
    );
    assert_eq!(upload(&emu, &tok, one()).status, 503);
    assert_eq!(upload(&emu, &tok, one()).status, 200);

    emu.inject(1, Fault::ExpireToken);
    assert_eq!(upload(&emu, &tok, one()).status, 401);
    assert_eq!(
        upload(&emu, &tok, one()).status,
        401,
        "the token stays expired"
    );
    let fresh = token(&emu, SENTINEL_SCOPE);
    assert_eq!(upload(&emu, &fresh, one()).status, 200);

    emu.inject_on(Api::Token, 1, Fault::Status(500));
    let r = token_request(
        &emu,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("scope", SENTINEL_SCOPE),
        ],
    );
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (500, Some("temporarily_unavailable"))
    );

    // The control endpoints, as scripts use them.
    let a = agent();
    assert_eq!(
        reply(
            a.post(format!("{}/_emulator/faults", emu.url()))
                .send("429-retry-after=3:1")
        )
        .status,
        200
    );
    assert_eq!(
        reply(
            a.post(format!("{}/_emulator/faults", emu.url()))
                .send("bogus")
        )
        .status,
        400
    );
    assert_eq!(
        upload(&emu, &fresh, one()).retry_after.as_deref(),
        Some("3")
    );
    let stats = reply(a.get(format!("{}/_emulator/stats", emu.url())).call()).json();
    assert_eq!(stats["dropped"], 2);
    assert_eq!(stats["throttled_injected"], 2);
    assert_eq!(stats["by_status"]["503"], 2);
    let log = reply(a.get(format!("{}/_emulator/log", emu.url())).call()).json();
    assert_eq!(
        (log[0]["api"].as_str(), log[0]["client_id"].as_str()),
        (Some("token"), Some(CLIENT_ID))
    );
    assert_eq!(
        (
            log[1]["api"].as_str(),
            log[1]["status"].as_u64(),
            log[1]["objects"].as_u64()
        ),
        (Some("sentinel"), Some(0), Some(1))
    );
    let store = reply(a.get(format!("{}/_emulator/store", emu.url())).call()).json();
    assert!(store["sentinel"][WORKSPACE.to_lowercase()][id].is_array());
    assert_eq!(
        reply(
            a.post(format!("{}/_emulator/reset", emu.url()))
                .send_empty()
        )
        .status,
        200
    );
    assert_eq!(emu.stats().requests, 0);
    assert!(emu.stix_all(WORKSPACE).is_empty());
}

#[test]
fn latency_is_added() {
    let emu = MsEmulator::start(Config {
        latency: Duration::from_millis(50),
        ..Config::default()
    });
    let tok = token(&emu, SENTINEL_SCOPE);
    upload(&emu, &tok, vec![stix(1, "2026-03-02T10:15:00.000Z")]);
    assert!(
        emu.log().iter().all(|e| e.elapsed_ms >= 50),
        "{:?}",
        emu.log()
    );
}

#[test]
fn defender_import_validates_updates_and_caps() {
    let emu = MsEmulator::start(Config {
        defender_max_active: 3,
        defender_rpm: 5,
        ..Config::default()
    });
    let tok = token(&emu, DEFENDER_SCOPE);
    let url = emu.defender_import_url();
    let mut lower = defender_item("x.example", "DomainName", "Audit");
    lower["indicatorvalue"] = lower
        .as_object_mut()
        .unwrap()
        .remove("indicatorValue")
        .unwrap();
    let mut audit = defender_item("audit.example", "DomainName", "Audit");
    audit["generateAlert"] = json!(false);
    let items = vec![
        defender_item("c2.example.net", "DomainName", "Audit"),
        defender_item("198.51.100.0/24", "IpAddress", "Block"),
        defender_item("c2.example.net", "DomainName", "BlockAndRemediate"),
        defender_item("abc", "FileSha256", "Block"),
        lower,
        defender_item("x", "Mutex", "Block"),
        audit,
        defender_item(&"a".repeat(64), "FileSha256", "BlockAndRemediate"),
    ];
    let r = post(&url, &tok, &json!({"Indicators": items}));
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json()["value"].as_array().unwrap().clone();
    let failed: Vec<bool> = v.iter().map(|i| i["isFailed"].as_bool().unwrap()).collect();
    assert_eq!(failed, [false, true, true, true, true, true, true, false]);
    assert!(v[1]["failureReason"].as_str().unwrap().contains("CIDR"));
    assert!(v[2]["failureReason"]
        .as_str()
        .unwrap()
        .contains("BlockAndRemediate"));
    assert!(v[3]["failureReason"]
        .as_str()
        .unwrap()
        .starts_with("InvalidHashValue"));
    assert!(v[4]["failureReason"]
        .as_str()
        .unwrap()
        .starts_with("MissingRequiredParameter"));
    assert_eq!(v[0]["indicator"], "c2.example.net");
    let first_id = v[0]["id"].clone();

    // Same key: updated in place, same id.
    let mut changed = defender_item("c2.example.net", "DomainName", "Audit");
    changed["title"] = json!("new title");
    let r = post(&url, &tok, &json!({"Indicators": [changed.clone()]})).json();
    assert_eq!(r["value"][0]["id"], first_id);
    let stored = emu
        .defender_indicator("DomainName", "c2.example.net")
        .unwrap();
    assert_eq!((stored.sent, stored.updates), (changed, 1));

    // Cap of 3 active: 2 stored, an expired one does not count, the 4th active fails.
    let mut expired = defender_item("old.example", "DomainName", "Audit");
    expired["expirationTime"] = json!("2020-01-01T00:00:00Z");
    let batch = vec![
        expired,
        defender_item("198.51.100.7", "IpAddress", "Block"),
        defender_item("198.51.100.8", "IpAddress", "Block"),
    ];
    let r = post(&url, &tok, &json!({"Indicators": batch})).json();
    let failed: Vec<bool> = r["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["isFailed"].as_bool().unwrap())
        .collect();
    assert_eq!(failed, [false, false, true]);
    assert!(r["value"][2]["failureReason"]
        .as_str()
        .unwrap()
        .contains("(3)"));
    assert_eq!(emu.defender_indicators().len(), 4);

    let too_many: Vec<Value> = (0..501)
        .map(|n| defender_item(&format!("h{n}.example"), "DomainName", "Audit"))
        .collect();
    let r = post(&url, &tok, &json!({"Indicators": too_many}));
    assert_eq!(
        (r.status, r.json()["error"]["code"].as_str()),
        (400, Some("MaximumBatchSizeExceeded"))
    );
    assert_eq!(
        post(&url, &tok, &json!({"indicators": []})).json()["error"]["code"],
        "InvalidRequestBody"
    );
    // 5 calls a minute here: the 6th is throttled with Retry-After.
    let r = post(&url, &tok, &json!({"Indicators": []}));
    assert_eq!(r.status, 429);
    assert!(r.retry_after.as_deref().unwrap().parse::<u64>().unwrap() >= 1);
    assert_eq!(r.json()["error"]["code"], "TooManyRequests");

    let list = reply(
        agent()
            .get(format!("{}/api/indicators?$top=2&$skip=1", emu.url()))
            .header("Authorization", format!("Bearer {tok}"))
            .call(),
    );
    let list = list.json()["value"].as_array().unwrap().clone();
    assert_eq!(list.len(), 2);
    assert!(list[0]["id"].is_string());
}

#[test]
fn graph_submit_partial_and_delete() {
    let emu = MsEmulator::start(Config::default());
    let tok = token(&emu, GRAPH_SCOPE);
    let submit = emu.graph_url("submitTiIndicators");
    let ok = post(
        &submit,
        &tok,
        &json!({"value": [graph_item("e1", "a.example"), graph_item("e2", "b.example")]}),
    );
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert!(ok.json()["value"][0]["id"].is_string());

    let mut no_threat = graph_item("e3", "c.example");
    no_threat.as_object_mut().unwrap().remove("threatType");
    let mut atp = graph_item("e4", "d.example");
    atp["targetProduct"] = json!("Microsoft Defender ATP");
    atp.as_object_mut().unwrap().remove("domainName");
    atp["emailSenderAddress"] = json!("x@example.com");
    let partial = post(
        &submit,
        &tok,
        &json!({"value": [graph_item("e1", "a.example"), no_threat, atp]}),
    );
    assert_eq!(partial.status, 206, "{}", partial.body);
    assert!(partial.warning.as_deref().unwrap().starts_with("199 - "));
    let v = partial.json()["value"].as_array().unwrap().clone();
    assert!(v[0].get("Error").is_none());
    assert!(v[1]["Error"]["message"]
        .as_str()
        .unwrap()
        .contains("threatType"));
    assert_eq!(
        v[2]["Error"]["message"],
        "Recieved an empty indicator value."
    );
    assert_eq!(
        emu.graph_indicators()["e1"].len(),
        2,
        "Graph keeps duplicates"
    );

    let mut enum_case = graph_item("e5", "e.example");
    enum_case["action"] = json!("Alert");
    assert_eq!(
        post(&submit, &tok, &json!({"value": [enum_case]})).status,
        400
    );
    let mut string_number = graph_item("e6", "f.example");
    string_number["confidence"] = json!("75");
    assert_eq!(
        post(&submit, &tok, &json!({"value": [string_number]})).status,
        400
    );
    let many: Vec<Value> = (0..101)
        .map(|n| graph_item(&format!("m{n}"), "g.example"))
        .collect();
    assert_eq!(post(&submit, &tok, &json!({"value": many})).status, 400);

    let del = post(
        &emu.graph_url("deleteTiIndicatorsByExternalId"),
        &tok,
        &json!({"value": ["e1", "nope"]}),
    );
    assert_eq!(del.status, 200);
    assert_eq!(del.json()["value"][0]["code"], 0);
    assert_eq!(del.json()["value"][1]["code"], 404);
    assert_eq!(emu.graph_indicators().keys().collect::<Vec<_>>(), ["e2"]);

    let sentinel = token(&emu, SENTINEL_SCOPE);
    assert_eq!(post(&submit, &sentinel, &json!({"value": []})).status, 403);
    emu.update_config(|c| c.graph_rpm = 0);
    let r = post(&submit, &tok, &json!({"value": []}));
    assert_eq!(r.status, 429);
    assert!(r.retry_after.is_some());
}

#[test]
fn runner_reports_its_port_and_takes_faults() {
    let exe = std::env::current_exe().unwrap();
    let runner = exe
        .parent()
        .and_then(|d| d.parent())
        .map(|d| d.join("examples/ms-emulator"))
        .unwrap();
    if !runner.exists() {
        eprintln!("skipped: {} not built", runner.display());
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("port");
    let mut child = std::process::Command::new(&runner)
        .args([
            "--port",
            "0",
            "--sentinel-rpm",
            "3000",
            "--fault",
            "503:1@sentinel",
            "--ready-file",
        ])
        .arg(&ready)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let port: u16 = line
        .trim()
        .strip_prefix("listening on 127.0.0.1:")
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(&ready).unwrap().trim(),
        port.to_string()
    );
    let base = format!("http://127.0.0.1:{port}");
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", CLIENT_ID),
        ("client_secret", CLIENT_SECRET),
        ("scope", SENTINEL_SCOPE),
    ];
    let tok = reply(
        agent()
            .post(format!("{base}/{TENANT}/oauth2/v2.0/token"))
            .send_form(form),
    )
    .json()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let url = format!("{base}/workspaces/{WORKSPACE}/threat-intelligence-stix-objects:upload?api-version={API_VERSION}");
    let body =
        json!({"sourcesystem": "MISP", "stixobjects": [stix(1, "2026-03-02T10:15:00.000Z")]});
    assert_eq!(post(&url, &tok, &body).status, 503);
    assert_eq!(post(&url, &tok, &body).status, 200);
    let stats = reply(agent().get(format!("{base}/_emulator/stats")).call()).json();
    assert_eq!(stats["objects_accepted"], 1);
    child.kill().unwrap();
    child.wait().unwrap();
}
