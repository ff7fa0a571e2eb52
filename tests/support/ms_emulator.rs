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
//!   `iss` = `sub` = client id, `exp`/`nbf`, `jti`; the signature and the certificate thumbprint
//!   when `Config::client_certificate_pem` is set), or a
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
//! `GET /_emulator/log[?since=SEQ]`, `GET /_emulator/store`, `POST /_emulator/faults`,
//! `POST /_emulator/latency` (`{"ms": 200}`), `POST /_emulator/expire-tokens`,
//! `POST /_emulator/reset` (store, log, stats, windows and faults; tokens stay valid).
//!
//! Layout: this file holds the configuration, the public API, the request pipeline
//! (faults, latency, authorisation, throttling, log) and the control endpoints;
//! `ms_emulator/{http,entra,sentinel,defender,graph}.rs` hold the wire protocol and
//! each service.
#![allow(dead_code, unused_imports)]

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

#[path = "ms_emulator/defender.rs"]
mod defender;
#[path = "ms_emulator/entra.rs"]
mod entra;
#[path = "ms_emulator/graph.rs"]
mod graph;
#[path = "ms_emulator/http.rs"]
mod http;
#[path = "ms_emulator/sentinel.rs"]
mod sentinel;

use defender::defender;
use entra::{aad_error, token};
pub use entra::{client_key, thumbprints};
use graph::graph;
use http::{serve_connection, Request, Response};
use sentinel::sentinel;

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
    /// PEM with the client's RSA key (public, PKCS#8 or PKCS#1) and optionally its
    /// certificate: assertions must then be signed with it (RS256/PS256) and name the
    /// certificate's thumbprint. None: the signature is not checked.
    pub client_certificate_pem: Option<String>,
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
    /// Keep whole STIX objects; false keeps only id, created and modified of each
    /// version (long benches: hundreds of thousands of objects).
    pub keep_bodies: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            port: 0,
            tenant: TENANT.into(),
            clients: vec![(CLIENT_ID.into(), CLIENT_SECRET.into())],
            client_certificate_pem: None,
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
            keep_bodies: true,
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

// ---------------------------------------------------------------- control endpoints

fn control(sh: &Shared, req: &Request, action: &str) -> Response {
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
