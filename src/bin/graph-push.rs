//! graph-push: upload indicators to Microsoft Sentinel, Defender for Endpoint
//! or the legacy Graph tiIndicators API, at the quota, losing nothing.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use misp2ms::cli::args::{parse_duration_arg, HttpArgs, InputArgs};
use misp2ms::cli::interrupt::Interrupt;
use misp2ms::push::targets::{Cloud, Target};
use misp2ms::push::{self, Options};

const EXAMPLES: &str = "\
Examples:
  # Sentinel (STIX 2.1 from ioc-map), with a ledger and replayable failures
  export AZURE_TENANT_ID=… AZURE_CLIENT_ID=… AZURE_CLIENT_SECRET=…
  ioc-map events.ndjson | graph-push --workspace-id 3f0e…-… \\
      --ledger sentinel.ledger --failed failed.ndjson --rejected rejected.ndjson > results.ndjson

  # Replay what failed last time
  graph-push --workspace-id 3f0e…-… --ledger sentinel.ledger failed.ndjson

  # A complete pull: also retire what is no longer in MISP
  graph-push --workspace-id 3f0e…-… --ledger sentinel.ledger --retire-missing full.ndjson

  # Defender for Endpoint, see the requests without sending anything
  ioc-map --format defender events.ndjson | graph-push --target defender --dry-run

Clouds (--cloud) and the targets they have a known endpoint for:
  global     sentinel, defender, graph   login.microsoftonline.com
  usgov-gcc  defender                    login.microsoftonline.com
  usgov      sentinel, defender          login.microsoftonline.us (GCC High, DoD)
  china      none known (--api-url and, for sentinel, the known scope)
                                         login.partner.microsoftonline.cn
Credentials (environment, never the command line): AZURE_TENANT_ID, AZURE_CLIENT_ID and one of
AZURE_CLIENT_SECRET (or --client-secret-file), AZURE_CLIENT_CERTIFICATE_PATH (PEM with certificate
and RSA key, or a PKCS#12 .pfx/.p12 file and AZURE_CLIENT_CERTIFICATE_PASSWORD),
AZURE_FEDERATED_TOKEN_FILE (workload identity).
";

fn after_help() -> String {
    format!("{EXAMPLES}\n{}", misp2ms::cli::exit::TABLE)
}

/// Upload indicators (NDJSON from ioc-map) to Microsoft Sentinel, Defender for Endpoint or the
/// legacy Graph tiIndicators API: batched, paced to the quota, retried, one result line per record.
#[derive(Debug, Parser)]
#[command(name = "graph-push", version, args_override_self = true, after_help = after_help())]
struct Args {
    #[command(flatten)]
    input: InputArgs,

    /// Where to upload; the input's record kind must match (STIX, Defender, Graph tiIndicator).
    #[arg(long, value_enum, default_value = "sentinel")]
    target: Target,

    /// Sentinel: the Log Analytics workspace ID (a GUID, not the name).
    #[arg(long, env = "SENTINEL_WORKSPACE_ID", value_name = "GUID")]
    workspace_id: Option<String>,

    /// Sentinel: the source system stamped on the indicators ("Microsoft Sentinel" is refused).
    #[arg(long, default_value = "MISP", value_name = "NAME")]
    source_system: String,

    /// National cloud: picks the authority, API host and token scope (table below).
    #[arg(long, value_enum, default_value = "global")]
    cloud: Cloud,

    /// API base URL instead of the cloud's (e.g. a regional Defender host, a test server).
    #[arg(long, env = "GRAPH_PUSH_API_URL", value_name = "URL")]
    api_url: Option<String>,

    /// Entra authority host or URL instead of the cloud's.
    #[arg(long, env = "AZURE_AUTHORITY_HOST", value_name = "HOST")]
    authority_host: Option<String>,

    /// Token scope instead of the target's (`<resource>/.default`).
    #[arg(long, value_name = "SCOPE")]
    scope: Option<String>,

    /// Directory (tenant) id.
    #[arg(long, env = "AZURE_TENANT_ID", value_name = "ID")]
    tenant_id: Option<String>,

    /// Application (client) id.
    #[arg(long, env = "AZURE_CLIENT_ID", value_name = "ID")]
    client_id: Option<String>,

    /// Read the client secret from FILE (else AZURE_CLIENT_SECRET, certificate, workload identity).
    #[arg(long, value_name = "FILE")]
    client_secret_file: Option<PathBuf>,

    /// Requests per minute [default: the target's quota: sentinel 100, defender 30, graph 1000].
    /// Several processes with one identity share Sentinel's quota: split it between them.
    #[arg(long, value_name = "N")]
    rpm: Option<f64>,

    /// Requests in flight at once.
    #[arg(long, default_value_t = 4, value_name = "N")]
    parallel: usize,

    /// Records per request [default and maximum: sentinel 100, defender 500, graph 100].
    #[arg(long, value_name = "N")]
    batch_size: Option<usize>,

    /// Retries of a batch after 5xx, timeouts or dropped connections; then its records fail.
    #[arg(long, default_value_t = 5, value_name = "N")]
    max_retries: u32,

    /// Resends of a batch answered 429 (each after the wait the answer asks for).
    #[arg(long, default_value_t = 30, value_name = "N")]
    max_throttled: u32,

    /// First backoff wait (doubling, with jitter, up to 60s) when the answer names none.
    #[arg(long, default_value = "2s", value_parser = parse_duration_arg, value_name = "DURATION")]
    retry_base: Duration,

    /// Ledger file of what the remote holds (one per target and workspace): unchanged records
    /// are not resent, old replays are `stale`, STIX versions are bumped properly. One run at a
    /// time writes it (lock on FILE.lock).
    #[arg(long, value_name = "FILE")]
    ledger: Option<PathBuf>,

    /// One run at a time writes a ledger: while another holds it, wait up to SECONDS for it
    /// (then exit 2) instead of refusing at once.
    #[arg(long, requires = "ledger", value_name = "SECONDS")]
    wait_lock: Option<u64>,

    /// After a complete run, retire every live ledger key absent from the input FILEs
    /// (files only, never stdin).
    #[arg(long, requires = "ledger")]
    retire_missing: bool,

    /// Refuse --retire-missing when it would retire more than this percentage of live keys.
    #[arg(long, default_value_t = 10.0, value_name = "PERCENT")]
    max_retire: f64,

    /// Retire even beyond --max-retire.
    #[arg(long)]
    force: bool,

    /// Resend an unchanged record when its remembered validity ends within this time.
    #[arg(long, default_value = "7d", value_parser = parse_duration_arg, value_name = "DURATION")]
    refresh_before: Duration,

    /// Defender: most live indicators in the tenant; records beyond are `skipped` (tenant cap).
    #[arg(long, default_value_t = 15_000, value_name = "N")]
    max_active: usize,

    /// Write the original lines of `failed` records to FILE (replay them next run).
    #[arg(long, value_name = "FILE")]
    failed: Option<PathBuf>,

    /// Write the original lines of `rejected` records to FILE (for a person to look at).
    #[arg(long, value_name = "FILE")]
    rejected: Option<PathBuf>,

    /// Send nothing, need no credentials: write the requests that would be sent.
    #[arg(long)]
    dry_run: bool,

    /// The time to act at (RFC 3339) instead of the clock: records whose validity ended before
    /// it have lapsed (a retirement is one by its own fields, whatever the clock).
    #[arg(long, value_name = "TIME")]
    now: Option<String>,

    /// Graph: delete the tiIndicators with the external ids in FILE (one a line).
    #[arg(long, value_name = "FILE")]
    delete_external_ids: Option<PathBuf>,

    #[command(flatten)]
    http: HttpArgs,
}

fn main() {
    let args: Args = misp2ms::cli::generate::parse_or_generate();
    let result = Interrupt::install().and_then(|interrupt| push::run(options(args), interrupt));
    std::process::exit(misp2ms::error::report("graph-push", result));
}

fn options(a: Args) -> Options {
    Options {
        files: a.input.files,
        strict: a.input.strict,
        max_line: a.input.max_line,
        target: a.target,
        workspace_id: a.workspace_id,
        source_system: a.source_system,
        cloud: a.cloud,
        api_url: a.api_url,
        authority_host: a.authority_host,
        scope: a.scope,
        tenant_id: a.tenant_id,
        client_id: a.client_id,
        client_secret_file: a.client_secret_file,
        rpm: a.rpm,
        parallel: a.parallel,
        batch_size: a.batch_size,
        max_retries: a.max_retries,
        max_throttled: a.max_throttled,
        retry_base: a.retry_base,
        ledger: a.ledger,
        wait_lock: a.wait_lock.map(Duration::from_secs),
        retire_missing: a.retire_missing,
        max_retire: a.max_retire,
        force: a.force,
        refresh_before: a.refresh_before,
        max_active: a.max_active,
        failed: a.failed,
        rejected: a.rejected,
        dry_run: a.dry_run,
        now: a.now,
        delete_external_ids: a.delete_external_ids,
        http: a.http.options("graph-push"),
    }
}
