//! The emulator's handle and state: start, settings, faults, tokens, the request log
//! and stats, and what each service stored.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Map, Value};

use super::super::http::{Connections, Request, Server};
use super::config::*;
use super::pipeline::*;

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
    /// The `seq` of the request that carried it (the order the emulator saw).
    pub request: u64,
    pub object: Value,
    pub sourcesystem: String,
    /// `modified` later than every earlier version of this id.
    pub newer: bool,
    pub created_changed: bool,
    #[serde(skip)]
    pub(super) modified: DateTime<Utc>,
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

pub(super) struct TokenInfo {
    pub(super) client_id: String,
    pub(super) audience: String,
    pub(super) expires: Instant,
}

#[derive(Default)]
pub(super) struct Store {
    pub(super) stix: BTreeMap<(String, String), Vec<StixVersion>>,
    pub(super) defender: BTreeMap<(String, String), DefenderIndicator>,
    pub(super) graph: BTreeMap<String, Vec<GraphIndicator>>,
}

pub(super) struct State {
    pub(super) cfg: Config,
    pub(super) tokens: HashMap<String, TokenInfo>,
    /// The `jti` of every client assertion seen: one is good for one request.
    pub(super) seen_jti: std::collections::HashSet<String>,
    /// The header of each client assertion accepted, oldest first.
    pub(super) assertion_headers: Vec<Value>,
    pub(super) windows: HashMap<(Api, String), VecDeque<Instant>>,
    pub(super) faults: VecDeque<FaultRule>,
    pub(super) store: Store,
    pub(super) next_id: u64,
    pub(super) log: Vec<LogEntry>,
    pub(super) stats: Stats,
}

pub(super) struct Shared {
    pub(super) state: Mutex<State>,
    pub(super) started: Instant,
}

impl Shared {
    pub(super) fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The running emulator; dropping it stops the server.
pub struct MsEmulator {
    pub(super) shared: Arc<Shared>,
    pub(super) server: Server,
}

impl MsEmulator {
    /// Binds 127.0.0.1:`cfg.port` and serves in background threads.
    pub fn start(cfg: Config) -> MsEmulator {
        let port = cfg.port;
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                cfg,
                tokens: HashMap::new(),
                seen_jti: Default::default(),
                assertion_headers: Vec::new(),
                windows: HashMap::new(),
                faults: VecDeque::new(),
                store: Store::default(),
                next_id: 1,
                log: Vec::new(),
                stats: Stats::default(),
            }),
            started: Instant::now(),
        });
        let sh = Arc::clone(&shared);
        let handler = move |req: &Request| handle(&sh, req);
        let server = Server::start(port, Connections::KeepAlive, Arc::new(handler));
        MsEmulator { shared, server }
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }
    /// `http://127.0.0.1:PORT`: the authority host and the base of every API.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr())
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

    /// The header (`alg`, thumbprints, `x5c`) of each client assertion the token
    /// endpoint accepted, oldest first: what the client really sent.
    pub fn assertion_headers(&self) -> Vec<Value> {
        self.shared.state().assertion_headers.clone()
    }

    pub fn stats(&self) -> Stats {
        self.shared.state().stats.clone()
    }
    pub fn log(&self) -> Vec<LogEntry> {
        self.shared.state().log.clone()
    }
    /// Clears store, log, assertion headers, stats, throttling windows and faults;
    /// tokens stay valid.
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
}

pub(super) fn reset(st: &mut State) {
    st.windows.clear();
    st.faults.clear();
    st.store = Store::default();
    st.log.clear();
    st.assertion_headers.clear();
    st.stats = Stats::default();
}

pub(super) fn issue(st: &mut State, client_id: &str, audience: &str, lifetime: Duration) -> String {
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

pub(super) fn store_json(st: &State) -> Value {
    let mut stix = Map::new();
    for ((ws, id), versions) in &st.store.stix {
        let w = stix.entry(ws.clone()).or_insert_with(|| json!({}));
        w[id] = json!(versions);
    }
    let defender: Vec<&DefenderIndicator> = st.store.defender.values().collect();
    json!({"sentinel": stix, "defender": defender, "graph": st.store.graph})
}
