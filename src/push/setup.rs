//! What a run is told, and the checks and pieces set up before it starts:
//! clock, endpoints, workspace, credentials, side files; and the summary.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::cli::interrupt::Interrupt;
use crate::cli::words::count;
use crate::error::{Error, Result};
use crate::http::HttpOptions;
use crate::io::output::Output;
use crate::push::auth::{AuthSettings, TokenSource};
use crate::push::credential::Credential;
use crate::push::targets::{self, Cloud, Endpoints, Target};
use crate::push::uploader::Stats;
use crate::time::{self, Timestamp};

pub(super) const TOOL: &str = "graph-push";

/// What a run did with its records, for the summary line (records in = the sum of the statuses).
#[derive(Debug, Default)]
pub(super) struct Counts {
    pub(super) records: u64,
    pub(super) accepted: u64,
    pub(super) unchanged: u64,
    pub(super) stale: u64,
    pub(super) skipped: u64,
    pub(super) rejected: u64,
    pub(super) failed: u64,
    pub(super) malformed: u64,
    /// Of `skipped`: held back by the tenant cap (`--max-active`).
    pub(super) capped: u64,
    pub(super) from_ledger: u64,
    pub(super) would_send: u64,
    pub(super) dry_requests: u64,
}

/// Everything a run is told.
#[derive(Debug, Clone)]
pub struct Options {
    pub files: Vec<String>,
    pub strict: bool,
    pub max_line: usize,
    pub target: Target,
    pub workspace_id: Option<String>,
    pub source_system: String,
    pub cloud: Cloud,
    pub api_url: Option<String>,
    pub authority_host: Option<String>,
    pub scope: Option<String>,
    pub tenant_id: Option<String>,
    pub client_id: Option<String>,
    pub client_secret_file: Option<PathBuf>,
    pub rpm: Option<f64>,
    pub parallel: usize,
    pub batch_size: Option<usize>,
    pub max_retries: u32,
    pub max_throttled: u32,
    pub retry_base: Duration,
    pub ledger: Option<PathBuf>,
    /// Wait this long for another run's lock on the ledger instead of refusing at once.
    pub wait_lock: Option<Duration>,
    pub retire_missing: bool,
    pub max_retire: f64,
    pub force: bool,
    pub refresh_before: Duration,
    pub max_active: usize,
    pub failed: Option<PathBuf>,
    pub rejected: Option<PathBuf>,
    pub dry_run: bool,
    pub now: Option<String>,
    pub delete_external_ids: Option<PathBuf>,
    pub http: HttpOptions,
}

/// Settings shared by the push and delete runs: the clock, endpoints and
/// the workspace check.
pub fn common_setup(opts: &Options) -> Result<(Timestamp, Endpoints, String)> {
    let now = time::now(opts.now.as_deref())?;
    let endpoints = targets::endpoints(
        opts.target,
        opts.cloud,
        opts.api_url.as_deref(),
        opts.authority_host.as_deref(),
        opts.scope.as_deref(),
    )?;
    if opts.rpm.is_some_and(|r| !(r.is_finite() && r > 0.0)) {
        return Err(Error::usage(
            "--rpm must be a positive number of requests per minute",
        ));
    }
    if opts.source_system.trim().is_empty() || opts.source_system.len() > 256 {
        return Err(Error::usage("--source-system must be 1 to 256 characters"));
    }
    if opts
        .source_system
        .trim()
        .eq_ignore_ascii_case("Microsoft Sentinel")
    {
        return Err(Error::usage(
            "--source-system \"Microsoft Sentinel\" is reserved by Sentinel and refused; choose another name",
        ));
    }
    let workspace = match opts.target {
        Target::Sentinel => {
            let ws = opts.workspace_id.as_deref().map(str::trim).unwrap_or("");
            if ws.is_empty() {
                return Err(Error::usage(
                    "--target sentinel needs the Log Analytics workspace ID: --workspace-id or SENTINEL_WORKSPACE_ID",
                ));
            }
            if ws.len() > 38
                || !ws
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() || matches!(c, '-' | '{' | '}'))
            {
                return Err(Error::usage(format!(
                    "--workspace-id {ws:?} is not a workspace ID (a GUID, not the workspace name)"
                )));
            }
            ws.to_string()
        }
        _ => opts.workspace_id.clone().unwrap_or_default(),
    };
    Ok((now, endpoints, workspace))
}

/// The token source of a run that talks to the remote.
pub fn token_source(
    opts: &Options,
    endpoints: &Endpoints,
    agent: ureq::Agent,
    interrupt: &Interrupt,
) -> Result<TokenSource> {
    let tenant = opts
        .tenant_id
        .clone()
        .ok_or_else(|| Error::usage("no tenant id: set AZURE_TENANT_ID or --tenant-id"))?;
    let client = opts
        .client_id
        .clone()
        .ok_or_else(|| Error::usage("no client id: set AZURE_CLIENT_ID or --client-id"))?;
    let credential = Credential::from_env(opts.client_secret_file.as_deref())?;
    let settings = AuthSettings::new(
        &endpoints.authority,
        &tenant,
        &client,
        &endpoints.scope,
        credential,
    )?;
    Ok(TokenSource::new(
        settings,
        agent,
        opts.retry_base,
        opts.max_retries,
        interrupt.clone(),
    ))
}

pub(super) fn open_side_file(path: &Option<PathBuf>) -> Result<Option<Output>> {
    path.as_deref()
        .map(|p| Output::open(Some(p), false))
        .transpose()
}

/// `--retire-missing` reads complete files only: a cut-off pipe would look
/// like mass deletion (docs/design.md#retirement).
pub(super) fn check_retire_inputs(opts: &Options) -> Result<()> {
    if opts.ledger.is_none() {
        return Err(Error::usage("--retire-missing needs --ledger"));
    }
    if opts.files.is_empty() {
        return Err(Error::usage(
            "--retire-missing reads FILE arguments only, never stdin: write the complete input to files first",
        ));
    }
    for f in &opts.files {
        let meta = std::fs::metadata(f).map_err(|e| Error::io(f, e))?;
        if f == "-" || !meta.is_file() {
            return Err(Error::usage(format!(
                "--retire-missing: {f} is not a regular file (pipes and stdin could be cut off)"
            )));
        }
    }
    if !(0.0..=100.0).contains(&opts.max_retire) {
        return Err(Error::usage("--max-retire is a percentage, 0 to 100"));
    }
    Ok(())
}

pub(super) fn summary(opts: &Options, c: &Counts, stats: &Stats, started: Instant) {
    let secs = started.elapsed().as_secs_f64();
    if opts.dry_run {
        eprintln!(
            "{TOOL}: dry run: {}: {} would be sent in {}, {} unchanged, {} stale, \
             {} skipped, {} malformed; {:.1}s",
            count(c.records, "record", "records"),
            c.would_send,
            count(c.dry_requests, "request", "requests"),
            c.unchanged,
            c.stale,
            c.skipped,
            c.malformed,
            secs
        );
        return;
    }
    let ledger = if c.from_ledger > 0 {
        format!(
            " ({} from the ledger)",
            count(c.from_ledger, "retirement", "retirements")
        )
    } else {
        String::new()
    };
    eprintln!(
        "{TOOL}: {}{ledger}: {} accepted, {} unchanged, {} stale, {} skipped, {} rejected, \
         {} failed ({} malformed); {}, {} throttled (429), {} retried, {} split; {:.1}s",
        count(c.records, "record", "records"),
        c.accepted,
        c.unchanged,
        c.stale,
        c.skipped,
        c.rejected,
        c.failed,
        c.malformed,
        count(Stats::get(&stats.requests), "request", "requests"),
        Stats::get(&stats.throttled),
        Stats::get(&stats.retried),
        Stats::get(&stats.splits),
        secs
    );
}
