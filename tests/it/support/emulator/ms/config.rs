//! What the emulator enforces (`Config`), which API a request is for, and the faults
//! a test or runner injects.

use std::time::Duration;

use serde::Serialize;

pub const TENANT: &str = "72f988bf-0000-4000-8000-00000000e7e1";
pub const CLIENT_ID: &str = "5e1a0c2d-0000-4000-8000-0000000c11e7";
pub const CLIENT_SECRET: &str = "emu~Secret.Value_0123456789";
pub const WORKSPACE: &str = "0b5e7c1a-0000-4000-8000-0000000005ec";
pub const SENTINEL_SCOPE: &str = "https://management.azure.com/.default";
pub const DEFENDER_SCOPE: &str = "https://api.securitycenter.microsoft.com/.default";
pub const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";
pub const API_VERSION: &str = "2024-02-01-preview";
pub(super) const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
pub(super) const FEDERATED_AUDIENCE: &str = "api://AzureADTokenExchange";
pub(super) const KNOWN_RESOURCES: [&str; 5] = [
    "https://management.azure.com",
    "https://management.core.windows.net",
    "https://api.securitycenter.microsoft.com",
    "https://api.security.microsoft.com",
    "https://graph.microsoft.com",
];

/// Everything the emulator enforces. `Default` gives the documented limits
/// (docs/design.md, Wire facts).
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
    /// Status of `invalid_client` answers (documented as 400, docs/design.md#entra-id-tokens;
    /// live Entra may say 401).
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

pub(super) fn parse_api(s: &str) -> Option<Option<Api>> {
    Some(match s {
        "api" | "any" => None,
        "token" => Some(Api::Token),
        "sentinel" => Some(Api::Sentinel),
        "defender" => Some(Api::Defender),
        "graph" => Some(Api::Graph),
        _ => return None,
    })
}
