//! A Microsoft emulator on 127.0.0.1 for integration tests and benches: the Entra ID
//! token endpoint, the Sentinel STIX objects upload API, the Defender for Endpoint
//! indicators API and the legacy Graph tiIndicators API, with the shapes, limits and
//! error bodies of REFERENCE.md §2–§9, plus fault injection and a request log.
//!
//! Use: `#[path = "support/ms_emulator.rs"] mod ms_emulator;` then
//! `let emu = MsEmulator::start(Config::default());` and point the client at
//! `emu.url()` (authority host and every API base: routing is by path). Dropping the
//! handle stops the server and closes its connections. `examples/ms-emulator.rs` runs
//! it as a process.
//!
//! Endpoints (one server, routed by path):
//! - `POST /{tenant}/oauth2/v2.0/token`: client credentials with `client_secret` (form or
//!   `Authorization: Basic`), a client assertion JWT (structure, `aud` = this token URL,
//!   `iss` = `sub` = client id, `exp`/`nbf`, `jti`; the signature is not verified), or a
//!   federated token (`aud` `api://AzureADTokenExchange`, issuer/subject as configured).
//!   Errors are Entra's JSON bodies (AADSTS90002 unknown tenant, 700016 unknown client,
//!   7000215 wrong secret with `Config::invalid_client_status`, 7000218, 1002012, 500011).
//!   Tokens are opaque random strings remembered with client, audience and expiry.
//! - `POST /workspaces/{id}/threat-intelligence-stix-objects:upload?api-version=2024-02-01-preview`
//!   (audience management.azure.com or management.core.windows.net).
//! - `POST /api/indicators/import`, `GET /api/indicators?$top=&$skip=` (audience
//!   `https://api.securitycenter.microsoft.com`).
//! - `POST /beta/security/tiIndicators/submitTiIndicators` and `.../deleteTiIndicatorsByExternalId`
//!   (audience `https://graph.microsoft.com`).
//!
//! APIs answer 401 for a missing, unknown or expired token, 403 for another audience.
//! Throttling is a sliding window (`Config::window`, default 60 s) of requests per API and
//! client id. Sentinel stores every version of (workspace, id) and flags versions whose
//! `modified` is not later than an earlier one and changes of `created`; Defender keys by
//! (indicatorType, indicatorValue), updated in place, with the active-indicator cap; Graph
//! keeps every submitted copy per `externalId` (duplicates stay visible). A 206 item that
//! failed carries `"Error": {"code", "message"}` (REFERENCE §7.3: the shape is undocumented).
//!
//! Faults (`inject`, `inject_on`, runner `--fault`, `POST /_emulator/faults` with a spec
//! such as `503:2@sentinel`, see [`FaultRule::parse`]) apply to the next N matching
//! requests. Control endpoints (never logged, throttled or faulted): `GET /_emulator/stats`,
//! `GET /_emulator/log`, `GET /_emulator/store`, `POST /_emulator/faults`,
//! `POST /_emulator/latency` (`{"ms": 200}`), `POST /_emulator/expire-tokens`,
//! `POST /_emulator/reset` (store, log, stats, windows and faults; tokens stay valid).
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Map, Value};

pub const TENANT: &str = "72f988bf-0000-4000-8000-00000000e7e1";
pub const CLIENT_ID: &str = "5e1a0c2d-0000-4000-8000-0000000c11e7";
pub const CLIENT_SECRET: &str = "emu~Secret.Value_0123456789";
pub const WORKSPACE: &str = "0b5e7c1a-0000-4000-8000-0000000005ec";
pub const SENTINEL_SCOPE: &str = "https://management.azure.com/.default";
pub const DEFENDER_SCOPE: &str = "https://api.securitycenter.microsoft.com/.default";
pub const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";
pub const API_VERSION: &str = "2024-02-01-preview";
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const FEDERATED_AUDIENCE: &str = "api://AzureADTokenExchange";
const KNOWN_RESOURCES: [&str; 5] = [
    "https://management.azure.com",
    "https://management.core.windows.net",
    "https://api.securitycenter.microsoft.com",
    "https://api.security.microsoft.com",
    "https://graph.microsoft.com",
];

/// Everything the emulator enforces. `Default` gives REFERENCE.md's documented limits.
#[derive(Clone, Debug)]
pub struct Config {
    /// 0 picks a free port.
    pub port: u16,
    pub tenant: String,
    /// (client id, secret) pairs known to the tenant.
    pub clients: Vec<(String, String)>,
    /// Workload identity: (issuer, subject) accepted in a federated client assertion.
    pub federated: Option<(String, String)>,
    /// Reported as `expires_in` (whole seconds) and enforced by the APIs.
    pub token_lifetime: Duration,
    /// Status of `invalid_client` answers (REFERENCE §2.4 says 400; live Entra may say 401).
    pub invalid_client_status: u16,
    /// Sentinel workspace ids that exist (compared case-insensitively).
    pub workspaces: Vec<String>,
    /// Length of the sliding throttling window for every API.
    pub window: Duration,
    pub sentinel_rpm: usize,
    pub sentinel_max_objects: usize,
    /// Add `Retry-After` to Sentinel's 429 (undocumented upstream, so off by default).
    pub sentinel_retry_after: bool,
    /// Name the per-record array `validationErrorMessages` (the spec) instead of `errorMessages` (Learn).
    pub validation_error_messages: bool,
    pub defender_rpm: usize,
    pub defender_max_batch: usize,
    /// Active (unexpired) indicators allowed per tenant.
    pub defender_max_active: usize,
    pub graph_rpm: usize,
    pub graph_max_batch: usize,
    /// Added before every API or token answer.
    pub latency: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            port: 0,
            tenant: TENANT.into(),
            clients: vec![(CLIENT_ID.into(), CLIENT_SECRET.into())],
            federated: None,
            token_lifetime: Duration::from_secs(3599),
            invalid_client_status: 400,
            workspaces: vec![WORKSPACE.into()],
            window: Duration::from_secs(60),
            sentinel_rpm: 100,
            sentinel_max_objects: 100,
            sentinel_retry_after: false,
            validation_error_messages: false,
            defender_rpm: 30,
            defender_max_batch: 500,
            defender_max_active: 15_000,
            graph_rpm: 1000,
            graph_max_batch: 100,
            latency: Duration::ZERO,
        }
    }
}

/// Which endpoint a request went to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Api {
    Token,
    Sentinel,
    Defender,
    Graph,
}

/// What an injected fault does to one request.
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// 429 in the API's own shape; "N seconds" in the body, and `Retry-After: N` if `header`.
    Throttle { secs: u64, header: bool },
    /// This status (500, 502, 503, ...) with the API's error body; nothing stored.
    Status(u16),
    /// The request is read, then the connection is closed without an answer; nothing stored.
    Drop,
    /// The request is processed (and stored), then the connection is closed without an answer.
    DropAfterProcessing,
    /// The presented token expires now: the request gets 401 and later ones too.
    ExpireToken,
    /// Extra latency for this request, then normal processing.
    Delay(Duration),
}

/// `count` requests to `api` (None: any API but the token endpoint) get `fault`.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultRule {
    pub api: Option<Api>,
    pub count: u64,
    pub fault: Fault,
}

impl FaultRule {
    /// Parses `KIND[=ARG][:COUNT][@API]`: KIND `429` (body only), `429-retry-after`
    /// (with the header), ARG the seconds (default 1); `500`/`503`/any 5xx; `drop`;
    /// `drop-after`; `expire-token`; `delay=MS`. COUNT defaults to 1; API is `sentinel`,
    /// `defender`, `graph`, `token` or `api` (default: any API but the token endpoint).
    pub fn parse(spec: &str) -> Result<FaultRule, String> {
        let bad = || format!("bad fault spec {spec:?} (KIND[=ARG][:COUNT][@API])");
        let (rest, api) = match spec.trim().split_once('@') {
            Some((r, a)) => (r, parse_api(a).ok_or_else(bad)?),
            None => (spec.trim(), None),
        };
        let (kind, count) = match rest.split_once(':') {
            Some((k, c)) => (k, c.parse().map_err(|_| bad())?),
            None => (rest, 1),
        };
        let (kind, arg) = match kind.split_once('=') {
            Some((k, a)) => (k, Some(a.parse::<u64>().map_err(|_| bad())?)),
            None => (kind, None),
        };
        let fault = match kind {
            "429" | "429-retry-after" => Fault::Throttle {
                secs: arg.unwrap_or(1),
                header: kind != "429",
            },
            "drop" => Fault::Drop,
            "drop-after" => Fault::DropAfterProcessing,
            "expire-token" => Fault::ExpireToken,
            "delay" => Fault::Delay(Duration::from_millis(arg.ok_or_else(bad)?)),
            s => match s.parse::<u16>() {
                Ok(code) if (400..600).contains(&code) => Fault::Status(code),
                _ => return Err(bad()),
            },
        };
        Ok(FaultRule { api, count, fault })
    }
}

fn parse_api(s: &str) -> Option<Option<Api>> {
    Some(match s {
        "api" | "any" => None,
        "token" => Some(Api::Token),
        "sentinel" => Some(Api::Sentinel),
        "defender" => Some(Api::Defender),
        "graph" => Some(Api::Graph),
        _ => return None,
    })
}

/// One request as the log keeps it.
#[derive(Clone, Debug, Serialize)]
pub struct LogEntry {
    pub seq: u64,
    /// Milliseconds since the emulator started, when the request was read.
    pub at_ms: u64,
    pub method: String,
    pub path: String,
    pub api: Option<Api>,
    pub client_id: Option<String>,
    /// 0 when the connection was dropped on purpose.
    pub status: u16,
    /// Objects in the request body (STIX objects, Defender indicators, Graph items or ids).
    pub objects: usize,
    pub rejected: usize,
    pub fault: Option<String>,
    pub elapsed_ms: u64,
}

/// Counters over every API and token request (control endpoints excluded).
#[derive(Clone, Debug, Default, Serialize)]
pub struct Stats {
    pub requests: u64,
    pub token_requests: u64,
    pub tokens_issued: u64,
    pub by_status: BTreeMap<u16, u64>,
    /// Every 429, injected or from a window.
    pub throttled: u64,
    pub throttled_injected: u64,
    pub faults_injected: u64,
    pub dropped: u64,
    /// Objects in the bodies of all API requests, throttled and failed ones included.
    pub objects_received: u64,
    pub objects_accepted: u64,
    pub objects_rejected: u64,
    /// STIX versions stored whose `modified` was not later than an earlier version's.
    pub stix_not_newer: u64,
    /// STIX versions stored whose `created` differs from the first version's.
    pub stix_created_changed: u64,
    pub first_request_ms: Option<u64>,
    pub last_request_ms: Option<u64>,
}

/// One stored STIX object version.
#[derive(Clone, Debug, Serialize)]
pub struct StixVersion {
    pub object: Value,
    pub sourcesystem: String,
    /// `modified` later than every earlier version of this id.
    pub newer: bool,
    pub created_changed: bool,
    #[serde(skip)]
    modified: DateTime<Utc>,
}

/// One stored Defender indicator, exactly as last sent.
#[derive(Clone, Debug, Serialize)]
pub struct DefenderIndicator {
    pub id: u64,
    pub sent: Value,
    /// Number of imports that updated it in place after it was created.
    pub updates: u64,
    pub created_by: String,
}

/// One stored Graph tiIndicator: the id Graph gave it and the item as sent.
#[derive(Clone, Debug, Serialize)]
pub struct GraphIndicator {
    pub id: String,
    pub sent: Value,
}

struct TokenInfo {
    client_id: String,
    audience: String,
    expires: Instant,
}

#[derive(Default)]
struct Store {
    stix: BTreeMap<(String, String), Vec<StixVersion>>,
    defender: BTreeMap<(String, String), DefenderIndicator>,
    graph: BTreeMap<String, Vec<GraphIndicator>>,
}

struct State {
    cfg: Config,
    tokens: HashMap<String, TokenInfo>,
    windows: HashMap<(Api, String), VecDeque<Instant>>,
    faults: VecDeque<FaultRule>,
    store: Store,
    next_id: u64,
    log: Vec<LogEntry>,
    stats: Stats,
}

struct Shared {
    state: Mutex<State>,
    started: Instant,
    shutdown: AtomicBool,
    conns: Mutex<HashMap<u64, TcpStream>>,
    next_conn: AtomicU64,
    addr: SocketAddr,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The running emulator; dropping it stops the server.
pub struct MsEmulator {
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl MsEmulator {
    /// Binds 127.0.0.1:`cfg.port` and serves in background threads.
    pub fn start(cfg: Config) -> MsEmulator {
        let listener = TcpListener::bind(("127.0.0.1", cfg.port)).expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("local addr");
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                cfg,
                tokens: HashMap::new(),
                windows: HashMap::new(),
                faults: VecDeque::new(),
                store: Store::default(),
                next_id: 1,
                log: Vec::new(),
                stats: Stats::default(),
            }),
            started: Instant::now(),
            shutdown: AtomicBool::new(false),
            conns: Mutex::new(HashMap::new()),
            next_conn: AtomicU64::new(0),
            addr,
        });
        let sh = Arc::clone(&shared);
        let acceptor = thread::spawn(move || {
            for stream in listener.incoming() {
                if sh.shutdown.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let id = sh.next_conn.fetch_add(1, Ordering::SeqCst);
                if let Ok(clone) = stream.try_clone() {
                    sh.conns.lock().unwrap().insert(id, clone);
                }
                let sh = Arc::clone(&sh);
                thread::spawn(move || {
                    serve_connection(&sh, stream);
                    sh.conns.lock().unwrap().remove(&id);
                });
            }
        });
        MsEmulator {
            shared,
            acceptor: Some(acceptor),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.shared.addr
    }
    pub fn port(&self) -> u16 {
        self.shared.addr.port()
    }
    /// `http://127.0.0.1:PORT`: the authority host and the base of every API.
    pub fn url(&self) -> String {
        format!("http://{}", self.shared.addr)
    }
    pub fn token_url(&self) -> String {
        let tenant = self.shared.state().cfg.tenant.clone();
        format!("{}/{tenant}/oauth2/v2.0/token", self.url())
    }
    pub fn sentinel_upload_url(&self, workspace: &str) -> String {
        format!(
            "{}/workspaces/{workspace}/threat-intelligence-stix-objects:upload?api-version={API_VERSION}",
            self.url()
        )
    }
    pub fn defender_import_url(&self) -> String {
        format!("{}/api/indicators/import", self.url())
    }
    pub fn graph_url(&self, action: &str) -> String {
        format!("{}/beta/security/tiIndicators/{action}", self.url())
    }

    pub fn config(&self) -> Config {
        self.shared.state().cfg.clone()
    }
    /// Changes limits, lifetimes or latency while running (the port cannot change).
    pub fn update_config(&self, f: impl FnOnce(&mut Config)) {
        f(&mut self.shared.state().cfg)
    }
    pub fn set_latency(&self, latency: Duration) {
        self.update_config(|c| c.latency = latency)
    }
    pub fn set_token_lifetime(&self, lifetime: Duration) {
        self.update_config(|c| c.token_lifetime = lifetime)
    }

    /// The next `count` API requests (token endpoint excluded) get `fault`.
    pub fn inject(&self, count: u64, fault: Fault) {
        self.add_fault(FaultRule {
            api: None,
            count,
            fault,
        })
    }
    /// The next `count` requests to `api` get `fault`.
    pub fn inject_on(&self, api: Api, count: u64, fault: Fault) {
        self.add_fault(FaultRule {
            api: Some(api),
            count,
            fault,
        })
    }
    /// Rules queue up: a request takes the first rule that matches it.
    pub fn add_fault(&self, rule: FaultRule) {
        self.shared.state().faults.push_back(rule)
    }
    pub fn clear_faults(&self) {
        self.shared.state().faults.clear()
    }
    /// Faults not yet used up.
    pub fn pending_faults(&self) -> Vec<FaultRule> {
        self.shared.state().faults.iter().cloned().collect()
    }
    /// Every token issued so far expires now (a token that lapses mid-run).
    pub fn expire_tokens(&self) {
        let now = Instant::now();
        for t in self.shared.state().tokens.values_mut() {
            t.expires = now;
        }
    }
    /// A valid token for `audience` (e.g. `https://management.azure.com`) without the token endpoint.
    pub fn issue_token(&self, client_id: &str, audience: &str) -> String {
        let mut st = self.shared.state();
        let lifetime = st.cfg.token_lifetime;
        issue(&mut st, client_id, audience, lifetime)
    }

    pub fn stats(&self) -> Stats {
        self.shared.state().stats.clone()
    }
    pub fn log(&self) -> Vec<LogEntry> {
        self.shared.state().log.clone()
    }
    /// Clears store, log, stats, throttling windows and faults; tokens stay valid.
    pub fn reset(&self) {
        reset(&mut self.shared.state())
    }

    /// Every version received of one STIX id, oldest first.
    pub fn stix_versions(&self, workspace: &str, id: &str) -> Vec<StixVersion> {
        let key = (workspace.to_ascii_lowercase(), id.to_string());
        self.shared
            .state()
            .store
            .stix
            .get(&key)
            .cloned()
            .unwrap_or_default()
    }
    /// All versions of every STIX id of a workspace.
    pub fn stix_all(&self, workspace: &str) -> BTreeMap<String, Vec<StixVersion>> {
        let ws = workspace.to_ascii_lowercase();
        let st = self.shared.state();
        st.store
            .stix
            .iter()
            .filter(|((w, _), _)| *w == ws)
            .map(|((_, id), v)| (id.clone(), v.clone()))
            .collect()
    }
    /// The current object of each STIX id (the version with the latest `modified`;
    /// the later upload on a tie).
    pub fn stix_current(&self, workspace: &str) -> BTreeMap<String, Value> {
        self.stix_all(workspace)
            .into_iter()
            .filter_map(|(id, versions)| {
                let best = versions.iter().rev().max_by_key(|v| v.modified)?;
                Some((id, best.object.clone()))
            })
            .collect()
    }
    pub fn defender_indicators(&self) -> Vec<DefenderIndicator> {
        self.shared
            .state()
            .store
            .defender
            .values()
            .cloned()
            .collect()
    }
    pub fn defender_indicator(
        &self,
        indicator_type: &str,
        value: &str,
    ) -> Option<DefenderIndicator> {
        let key = (indicator_type.to_string(), value.to_string());
        self.shared.state().store.defender.get(&key).cloned()
    }
    /// Every stored tiIndicator per `externalId` (more than one: a duplicate was created).
    pub fn graph_indicators(&self) -> BTreeMap<String, Vec<GraphIndicator>> {
        self.shared.state().store.graph.clone()
    }
    /// The whole store as `GET /_emulator/store` returns it.
    pub fn store_json(&self) -> Value {
        store_json(&self.shared.state())
    }
}

impl Drop for MsEmulator {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.shared.addr); // wakes the acceptor
        for (_, c) in self.shared.conns.lock().unwrap().drain() {
            let _ = c.shutdown(Shutdown::Both);
        }
        if let Some(h) = self.acceptor.take() {
            let _ = h.join();
        }
    }
}

fn reset(st: &mut State) {
    st.windows.clear();
    st.faults.clear();
    st.store = Store::default();
    st.log.clear();
    st.stats = Stats::default();
}

fn issue(st: &mut State, client_id: &str, audience: &str, lifetime: Duration) -> String {
    let token = format!(
        "emu.{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let info = TokenInfo {
        client_id: client_id.into(),
        audience: audience.into(),
        expires: Instant::now() + lifetime,
    };
    st.tokens.insert(token.clone(), info);
    st.stats.tokens_issued += 1;
    token
}

fn store_json(st: &State) -> Value {
    let mut stix = Map::new();
    for ((ws, id), versions) in &st.store.stix {
        let w = stix.entry(ws.clone()).or_insert_with(|| json!({}));
        w[id] = json!(versions);
    }
    let defender: Vec<&DefenderIndicator> = st.store.defender.values().collect();
    json!({"sentinel": stix, "defender": defender, "graph": st.store.graph})
}

// ---------------------------------------------------------------- HTTP plumbing

struct Request {
    method: String,
    path: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    keep_alive: bool,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

struct Response {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

impl Response {
    fn json(status: u16, v: Value) -> Response {
        Response {
            status,
            headers: vec![("Content-Type", "application/json; charset=utf-8".into())],
            body: v.to_string().into_bytes(),
        }
    }
    fn empty(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }
    fn with(mut self, name: &'static str, value: impl Into<String>) -> Response {
        self.headers.push((name, value.into()));
        self
    }
}

fn serve_connection(sh: &Shared, stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    while !sh.shutdown.load(Ordering::SeqCst) {
        let req = match read_request(&mut reader) {
            Ok(Some(r)) => r,
            Ok(None) => break,
            Err(msg) => {
                let body = json!({"error": {"code": "BadRequest", "message": msg}});
                let _ = write_response(&mut writer, &Response::json(400, body), false);
                break;
            }
        };
        match handle(sh, &req) {
            Some(resp) => {
                if write_response(&mut writer, &resp, req.keep_alive).is_err() || !req.keep_alive {
                    break;
                }
            }
            None => break,
        }
    }
    let _ = writer.shutdown(Shutdown::Both);
}

/// Reads one request; Ok(None) when the client closed the connection between requests.
fn read_request(r: &mut BufReader<TcpStream>) -> Result<Option<Request>, String> {
    let mut head = Vec::new();
    loop {
        let mut line = Vec::new();
        let n = r.read_until(b'\n', &mut line).map_err(|e| e.to_string())?;
        if n == 0 {
            return if head.is_empty() {
                Ok(None)
            } else {
                Err("truncated request head".into())
            };
        }
        if head.is_empty() && (line == b"\r\n" || line == b"\n") {
            continue; // stray CRLF between requests
        }
        head.extend_from_slice(&line);
        if line == b"\r\n" || line == b"\n" {
            break;
        }
        if head.len() > 64 * 1024 {
            return Err("request head too large".into());
        }
    }
    let mut raw = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Request::new(&mut raw);
    match parsed.parse(&head) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => return Err("malformed request head".into()),
    }
    let method = parsed.method.unwrap_or("").to_string();
    let target = parsed.path.unwrap_or("/").to_string();
    let http10 = parsed.version == Some(0);
    let headers: Vec<(String, String)> = parsed
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_ascii_lowercase(),
                String::from_utf8_lossy(h.value).trim().to_string(),
            )
        })
        .collect();
    let get = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.to_ascii_lowercase())
    };
    let connection = get("connection").unwrap_or_default();
    let keep_alive = if http10 {
        connection.contains("keep-alive")
    } else {
        !connection.contains("close")
    };
    let mut body = Vec::new();
    if get("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        loop {
            let mut size = String::new();
            r.read_line(&mut size).map_err(|e| e.to_string())?;
            let hex = size.trim().split(';').next().unwrap_or("");
            let n = usize::from_str_radix(hex, 16).map_err(|_| "bad chunk size".to_string())?;
            if n == 0 {
                loop {
                    let mut trailer = String::new();
                    if r.read_line(&mut trailer).map_err(|e| e.to_string())? == 0
                        || trailer.trim().is_empty()
                    {
                        break;
                    }
                }
                break;
            }
            let start = body.len();
            body.resize(start + n, 0);
            r.read_exact(&mut body[start..])
                .map_err(|e| e.to_string())?;
            let mut crlf = String::new();
            r.read_line(&mut crlf).map_err(|e| e.to_string())?;
        }
    } else if let Some(len) = get("content-length") {
        let len: usize = len.parse().map_err(|_| "bad Content-Length".to_string())?;
        body.resize(len, 0);
        r.read_exact(&mut body).map_err(|e| e.to_string())?;
    }
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (
            p.to_string(),
            form_urlencoded::parse(q.as_bytes()).into_owned().collect(),
        ),
        None => (target.clone(), Vec::new()),
    };
    Ok(Some(Request {
        method,
        path,
        query,
        headers,
        body,
        keep_alive,
    }))
}

fn write_response(w: &mut TcpStream, resp: &Response, keep_alive: bool) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {} {}\r\n", resp.status, reason(resp.status));
    for (n, v) in &resp.headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n", resp.body.len()));
    head.push_str(if keep_alive {
        "Connection: keep-alive\r\n\r\n"
    } else {
        "Connection: close\r\n\r\n"
    });
    let mut out = head.into_bytes();
    out.extend_from_slice(&resp.body);
    w.write_all(&out)?;
    w.flush()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        206 => "Partial Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

// ---------------------------------------------------------------- request pipeline

/// Per-request facts gathered for the log.
#[derive(Default)]
struct Ctx {
    client_id: Option<String>,
    rejected: usize,
    accepted: usize,
}

/// None: drop the connection without an answer.
fn handle(sh: &Shared, req: &Request) -> Option<Response> {
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

fn take_fault(faults: &mut VecDeque<FaultRule>, api: Option<Api>) -> Option<Fault> {
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

fn route(path: &str) -> Option<Api> {
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

fn dispatch(st: &mut State, req: &Request, api: Option<Api>, ctx: &mut Ctx) -> Response {
    let result = match api {
        Some(Api::Token) => Ok(token(st, req)),
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

fn count_objects(api: Api, body: &[u8]) -> usize {
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

fn bearer(req: &Request) -> Option<&str> {
    let h = req.header("authorization")?;
    let (scheme, token) = h.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The caller's client id, or the API's 401/403 answer.
fn authorize(st: &mut State, req: &Request, api: Api, ctx: &mut Ctx) -> Result<String, Response> {
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
fn window_wait(st: &mut State, api: Api, client: &str) -> Option<u64> {
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

fn throttled(api: Api, secs: u64, header: bool) -> Response {
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

fn server_error(api: Api, code: u16) -> Response {
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

// ---------------------------------------------------------------- Entra ID token endpoint

fn aad_error(status: u16, error: &str, code: u32, desc: &str) -> Response {
    let (trace, corr) = (
        uuid::Uuid::new_v4().to_string(),
        uuid::Uuid::new_v4().to_string(),
    );
    let ts = Utc::now().format("%Y-%m-%d %H:%M:%SZ").to_string();
    Response::json(
        status,
        json!({
        "error": error,
        "error_description": format!("AADSTS{code}: {desc} Trace ID: {trace} Correlation ID: {corr} Timestamp: {ts}"),
        "error_codes": [code], "timestamp": ts, "trace_id": trace, "correlation_id": corr,
        "error_uri": format!("https://login.microsoftonline.com/error?code={code}")}),
    )
}

fn token(st: &mut State, req: &Request) -> Response {
    let tenant = req
        .path
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or("")
        .to_string();
    if req.method != "POST" {
        return aad_error(
            400,
            "invalid_request",
            900561,
            "The endpoint only accepts POST requests.",
        );
    }
    if !tenant.eq_ignore_ascii_case(&st.cfg.tenant) {
        return aad_error(400, "invalid_request", 90002, &format!("Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."));
    }
    let form: HashMap<String, String> = form_urlencoded::parse(&req.body).into_owned().collect();
    let mut client_id = form.get("client_id").cloned();
    let mut secret = form.get("client_secret").cloned();
    if let Some((id, s)) = basic_credentials(req) {
        client_id.get_or_insert(id);
        secret.get_or_insert(s);
    }
    match form.get("grant_type").map(String::as_str) {
        None => {
            return aad_error(
                400,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'grant_type'.",
            )
        }
        Some("client_credentials") => {}
        Some(g) => {
            return aad_error(
                400,
                "unsupported_grant_type",
                70003,
                &format!("The app requested an unsupported grant type '{g}'."),
            )
        }
    }
    let Some(client_id) = client_id else {
        return aad_error(
            400,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'client_id'.",
        );
    };
    let Some(known_secret) = st
        .cfg
        .clients
        .iter()
        .find(|(id, _)| *id == client_id)
        .map(|(_, s)| s.clone())
    else {
        return aad_error(400, "unauthorized_client", 700016, &format!("Application with identifier '{client_id}' was not found in the directory '{tenant}'."));
    };
    let bad_client = st.cfg.invalid_client_status;
    if let Some(assertion) = form.get("client_assertion") {
        if form.get("client_assertion_type").map(String::as_str) != Some(ASSERTION_TYPE) {
            return aad_error(400, "invalid_request", 50027, "Invalid client_assertion_type; expected urn:ietf:params:oauth:client-assertion-type:jwt-bearer.");
        }
        let host = req.header("host").unwrap_or("");
        let token_url = format!("http://{host}/{tenant}/oauth2/v2.0/token");
        if let Err((code, msg)) =
            check_assertion(assertion, &client_id, &token_url, st.cfg.federated.as_ref())
        {
            return aad_error(bad_client, "invalid_client", code, &msg);
        }
    } else {
        match secret {
            None => return aad_error(bad_client, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'."),
            Some(s) if s != known_secret => return aad_error(bad_client, "invalid_client", 7000215, "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app."),
            Some(_) => {}
        }
    }
    let scope = form
        .get("scope")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    if scope.is_empty() || scope.contains(' ') {
        return aad_error(400, "invalid_scope", 70011, &format!("The provided request must include a single 'scope' input parameter; got '{scope}'."));
    }
    let Some(resource) = scope.strip_suffix("/.default") else {
        return aad_error(400, "invalid_scope", 1002012, &format!("The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."));
    };
    let audience = resource.trim_end_matches('/');
    if !KNOWN_RESOURCES.contains(&audience) {
        return aad_error(400, "invalid_resource", 500011, &format!("The resource principal named {resource} was not found in the tenant named {tenant}."));
    }
    let lifetime = st.cfg.token_lifetime;
    let access_token = issue(st, &client_id, audience, lifetime);
    let secs = lifetime.as_secs();
    Response::json(200, json!({"token_type": "Bearer", "expires_in": secs, "ext_expires_in": secs, "access_token": access_token}))
        .with("Cache-Control", "no-store, no-cache")
}

fn basic_credentials(req: &Request) -> Option<(String, String)> {
    let (scheme, b64) = req.header("authorization")?.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (id, secret) = text.split_once(':')?;
    let dec = |s: &str| {
        form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
    };
    Some((dec(id)?, dec(secret)?))
}

/// Checks a client assertion JWT's structure and claims (not its signature).
fn check_assertion(
    jwt: &str,
    client_id: &str,
    token_url: &str,
    federated: Option<&(String, String)>,
) -> Result<(), (u32, String)> {
    let malformed = |why: &str| (50027, format!("JWT token is invalid or malformed: {why}."));
    let parts: Vec<&str> = jwt.split('.').collect();
    if parts.len() != 3 || parts[2].is_empty() {
        return Err(malformed(
            "expected three base64url segments with a signature",
        ));
    }
    let decode = |s: &str| -> Option<Value> {
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s)
            .ok()?;
        serde_json::from_slice(&raw).ok()
    };
    let header = decode(parts[0]).ok_or_else(|| malformed("header is not base64url JSON"))?;
    let claims = decode(parts[1]).ok_or_else(|| malformed("payload is not base64url JSON"))?;
    let claim = |n: &str| claims.get(n).and_then(Value::as_str).unwrap_or("");
    let now = Utc::now().timestamp();
    let exp = claims
        .get("exp")
        .and_then(Value::as_i64)
        .ok_or_else(|| malformed("no numeric exp claim"))?;
    if exp <= now
        || claims
            .get("nbf")
            .and_then(Value::as_i64)
            .is_some_and(|nbf| nbf > now + 300)
    {
        return Err((
            700024,
            "Client assertion is not within its valid time range.".into(),
        ));
    }
    if let Some((issuer, subject)) = federated.filter(|_| {
        claims
            .get("aud")
            .is_some_and(|a| aud_has(a, FEDERATED_AUDIENCE))
    }) {
        return if claim("iss") == issuer && claim("sub") == subject {
            Ok(())
        } else {
            Err((700213, format!("No matching federated identity record found for presented assertion subject '{}'.", claim("sub"))))
        };
    }
    let alg = header.get("alg").and_then(Value::as_str).unwrap_or("");
    if !["RS256", "PS256"].contains(&alg) {
        return Err(malformed("alg must be RS256 or PS256"));
    }
    if header.get("x5t").is_none() && header.get("x5t#S256").is_none() {
        return Err(malformed("header lacks x5t or x5t#S256"));
    }
    if claim("iss") != client_id || claim("sub") != client_id {
        return Err((700021, "Client assertion application identifier doesn't match 'client_id' parameter (iss and sub must be the client id).".into()));
    }
    if !claims.get("aud").is_some_and(|a| aud_has(a, token_url)) {
        return Err((
            700016,
            format!("Client assertion audience must be the token endpoint {token_url}."),
        ));
    }
    if claim("jti").is_empty() {
        return Err(malformed("no jti claim"));
    }
    Ok(())
}

fn aud_has(aud: &Value, want: &str) -> bool {
    match aud {
        Value::String(s) => s == want,
        Value::Array(a) => a.iter().any(|v| v.as_str() == Some(want)),
        _ => false,
    }
}

// ---------------------------------------------------------------- Sentinel STIX upload

fn sentinel_error(status: u16, code: &str, message: String) -> Response {
    Response::json(status, json!({"error": {"code": code, "message": message}}))
        .with("x-ms-error-code", code.to_string())
}

fn sentinel(st: &mut State, req: &Request, ctx: &mut Ctx) -> Result<Response, Response> {
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
        Response::empty(200)
    } else {
        Response::json(200, json!({"errors": errors}))
    })
}

fn store_stix(st: &mut State, workspace: &str, source: &str, object: &Value) {
    let id = object["id"].as_str().unwrap_or_default().to_string();
    let modified = stix_time(&object["modified"]).unwrap_or_default();
    let versions = st
        .store
        .stix
        .entry((workspace.to_ascii_lowercase(), id))
        .or_default();
    let newer = versions.iter().all(|v| modified > v.modified);
    let created_changed = versions
        .first()
        .is_some_and(|v| v.object["created"] != object["created"]);
    versions.push(StixVersion {
        object: object.clone(),
        sourcesystem: source.into(),
        newer,
        created_changed,
        modified,
    });
    st.stats.stix_not_newer += u64::from(!newer);
    st.stats.stix_created_changed += u64::from(created_changed);
}

/// A STIX 2.1 timestamp: RFC 3339 in UTC with a `Z`.
fn stix_time(v: &Value) -> Option<DateTime<Utc>> {
    let s = v.as_str()?;
    if !s.ends_with('Z') {
        return None;
    }
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn is_stix_id(s: &str, prefix: Option<&str>) -> bool {
    let Some((ty, uuid)) = s.split_once("--") else {
        return false;
    };
    prefix.map_or(true, |p| p == ty)
        && !ty.is_empty()
        && uuid.len() == 36
        && uuid::Uuid::try_parse(uuid).is_ok()
}

/// Sentinel's per-object checks; the messages follow its "Error for Property=…" style.
fn validate_stix(o: &Value) -> Vec<String> {
    let Some(m) = o.as_object() else {
        return vec!["Error: each STIX object must be a JSON object.".into()];
    };
    let mut errs = Vec::new();
    let mut err = |p: &str, msg: &str| errs.push(format!("Error for Property={p}: {msg}"));
    let ty = m.get("type").and_then(Value::as_str).unwrap_or("");
    if ty.is_empty() {
        err("type", "The type field is required.");
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
    if ty == "indicator" {
        let pattern_type = m.get("pattern_type").and_then(Value::as_str);
        if pattern_type.map_or(true, str::is_empty) {
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

// ---------------------------------------------------------------- Defender indicators

fn defender_error(status: u16, code: &str, message: String) -> Response {
    Response::json(
        status,
        json!({"error": {"code": code, "message": message, "target": uuid::Uuid::new_v4().to_string()}}),
    )
}

fn defender(st: &mut State, req: &Request, ctx: &mut Ctx) -> Result<Response, Response> {
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

fn defender_list(st: &State, req: &Request) -> Response {
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

fn is_active(indicator: &Value, now: DateTime<Utc>) -> bool {
    match indicator.get("expirationTime").and_then(Value::as_str) {
        Some(t) => DateTime::parse_from_rfc3339(t).is_ok_and(|t| t > now),
        None => true,
    }
}

fn defender_import(
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
fn validate_defender(item: &Value) -> Result<(String, String), String> {
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
        if !m
            .get(name)
            .and_then(Value::as_str)
            .is_some_and(|s| !s.trim().is_empty())
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
        if !t
            .as_str()
            .is_some_and(|t| DateTime::parse_from_rfc3339(t).is_ok())
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

fn is_domain(s: &str) -> bool {
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

// ---------------------------------------------------------------- Graph tiIndicators

const GRAPH_INTS: [&str; 9] = [
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
const GRAPH_LISTS: [&str; 4] = [
    "activityGroupNames",
    "malwareFamilyNames",
    "tags",
    "killChain",
];
const GRAPH_ENUMS: [(&str, &str, &[&str]); 4] = [
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
const GRAPH_THREATS: [&str; 11] = [
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
const GRAPH_OBSERVABLES: &[&str] = &[
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
const DEFENDER_ATP_OBSERVABLES: [&str; 5] = [
    "domainName",
    "url",
    "networkDestinationIPv4",
    "networkDestinationIPv6",
    "fileHashValue",
];

fn graph_error(status: u16, code: &str, message: String) -> Response {
    Response::json(
        status,
        json!({"error": {"code": code, "message": message, "innerError": {"date": Utc::now().to_rfc3339(), "request-id": uuid::Uuid::new_v4().to_string()}}}),
    )
}

fn graph(st: &mut State, req: &Request, ctx: &mut Ctx) -> Result<Response, Response> {
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
fn graph_conversion_error(item: &Value) -> Option<String> {
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
fn graph_item_error(item: &Value) -> Option<String> {
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

// ---------------------------------------------------------------- control endpoints

fn control(sh: &Shared, req: &Request, action: &str) -> Response {
    let mut st = sh.state();
    let text = String::from_utf8_lossy(&req.body).trim().to_string();
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    match (req.method.as_str(), action) {
        ("GET", "stats") => Response::json(200, json!(st.stats)),
        ("GET", "log") => Response::json(200, json!(st.log)),
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
