//! A Microsoft emulator on 127.0.0.1 for integration tests and benches: the Entra ID
//! token endpoint, the Sentinel STIX objects upload API, the Defender for Endpoint
//! indicators API and the legacy Graph tiIndicators API, with the shapes, limits and
//! error bodies the public documentation gives (docs/design.md#entra-id-tokens,
//! docs/design.md#sentinel-stix-upload, docs/design.md#defender-indicators,
//! docs/design.md#graph-tiindicators, docs/design.md#throttling-and-retries), plus fault
//! injection and a request log.
//!
//! Use: `let emu = MsEmulator::start(Config::default());` and point the client at
//! `emu.url()` (authority host and every API base: routing is by path). Dropping the
//! handle stops the server and closes its connections. `examples/ms-emulator.rs` runs
//! it as a process.
//!
//! Endpoints (one server, routed by path):
//! - `POST /{tenant}/oauth2/v2.0/token`: client credentials with `client_secret` (form or
//!   `Authorization: Basic`), a client assertion JWT (structure, `aud` = this token URL,
//!   `iss` = `sub` = client id, `exp`/`nbf`, `jti`; the signature and the certificate thumbprint
//!   when `Config::client_certificate_pem` is set; `assertion_headers` gives back the
//!   header of each one accepted), or a
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
//! failed carries `"Error": {"code", "message"}` (the shape is undocumented:
//! docs/design.md#graph-tiindicators).
//!
//! Faults (`inject`, `inject_on`, runner `--fault`, `POST /_emulator/faults` with a spec
//! such as `503:2@sentinel`, see [`FaultRule::parse`]) apply to the next N matching
//! requests. Control endpoints (never logged, throttled or faulted): `GET /_emulator/stats`,
//! `GET /_emulator/log[?since=SEQ]`, `GET /_emulator/store`, `POST /_emulator/faults`,
//! `POST /_emulator/latency` (`{"ms": 200}`), `POST /_emulator/expire-tokens`,
//! `POST /_emulator/reset` (store, log, assertion headers, stats, windows and faults;
//! tokens stay valid).
//!
//! Layout: config.rs (settings, faults), emulator.rs (the handle, the state, what it
//! stores), pipeline.rs (each request: faults, latency, authorisation, throttling,
//! log), control.rs (the control endpoints), and one file per service: entra.rs,
//! sentinel.rs, defender.rs, graph.rs. The HTTP layer is the emulators' (../http.rs).

mod config;
mod control;
mod defender;
mod emulator;
mod entra;
mod graph;
mod pipeline;
mod sentinel;

pub use config::{
    Api, Config, Fault, FaultRule, API_VERSION, CLIENT_ID, CLIENT_SECRET, DEFENDER_SCOPE,
    GRAPH_SCOPE, SENTINEL_SCOPE, TENANT, WORKSPACE,
};
pub use emulator::{LogEntry, MsEmulator};
pub use entra::{client_key, thumbprints};
