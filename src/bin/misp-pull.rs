//! misp-pull: extract events or attributes from a MISP server or a feed, as
//! MISP's own JSON, one object a line.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use misp2ms::cli::args::{parse_duration_arg, HttpArgs};
use misp2ms::io::output::Output;
use misp2ms::pull::api::{check_key, RetryPolicy};
use misp2ms::pull::feed::{self, FeedConfig, Location, TextFeedConfig, TextKind};
use misp2ms::pull::filters::{self, Filters};
use misp2ms::pull::server::{self, RunOptions, Scope};
use misp2ms::{Error, Result};

const EXAMPLES: &str = "\
Examples:
  export MISP_URL=https://misp.example.org MISP_KEY=...   # the key: env or --key-file, never argv
  misp-pull --check
  misp-pull --since 7d --tags 'tlp:%' --tags '!tlp:red' > events.ndjson
  misp-pull --scope attributes --type ip-dst,domain --to-ids 1 -o attrs.ndjson.gz
  misp-pull --state pull.state -o events.ndjson && ioc-map events.ndjson | graph-push ... \
    && misp-pull --commit-state pull.state     # with set -o pipefail
  misp-pull --feed https://feeds.example.org/misp/ --since 30d
  misp-pull --feed ./infoblox-misp-feed --tags infoblox
  misp-pull --csv blocklist.csv --value-column 2 --feed-name blocklist
  misp-pull --freetext iocs.txt";

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ScopeArg {
    Events,
    Attributes,
}

/// Extract events or attributes from a MISP server (paged, streaming,
/// incremental) or from MISP, CSV and freetext feeds. Writes MISP's JSON, one
/// object a line: {"Event":{…}} or {"Attribute":{…}}. Event filters select
/// events; they do not trim the attributes inside them.
#[derive(Debug, Parser)]
#[command(name = "misp-pull", version, after_help = format!("{EXAMPLES}\n\n{}", misp2ms::cli::exit::TABLE))]
struct Args {
    /// MISP base URL. The API key comes from MISP_KEY or --key-file.
    #[arg(long, env = "MISP_URL", value_name = "URL")]
    url: Option<String>,

    /// File holding the MISP API key (instead of the MISP_KEY environment variable).
    #[arg(long, value_name = "FILE")]
    key_file: Option<PathBuf>,

    /// Verify URL, TLS, key and role (/servers/getVersion, /users/view/me), print them, and exit.
    #[arg(long)]
    check: bool,

    /// events: /events/restSearch, whole events; attributes: /attributes/restSearch, each with its event's tags and metadata.
    #[arg(long, value_enum, default_value = "events")]
    scope: ScopeArg,

    /// Read a MISP-format feed (directory or URL with manifest.json) instead of a server.
    #[arg(long, value_name = "DIR|URL", conflicts_with_all = ["csv", "freetext", "check"])]
    feed: Option<String>,

    /// Read a CSV feed; values are typed like MISP's feed parser does.
    #[arg(long, value_name = "FILE|URL", conflicts_with_all = ["freetext", "check"])]
    csv: Option<String>,

    /// Read a freetext feed (defanged values are refanged and typed).
    #[arg(long, value_name = "FILE|URL", conflicts_with = "check")]
    freetext: Option<String>,

    /// CSV: column to read, 1-based; repeat or list (2,3). Default: every column.
    #[arg(long, value_name = "N", value_delimiter = ',')]
    value_column: Vec<usize>,

    /// CSV: field delimiter (one character; \t for tab).
    #[arg(long, default_value = ",")]
    delimiter: String,

    /// CSV/freetext: the feed name in the derived attribute uuids (default: the file's base name).
    #[arg(long, value_name = "NAME")]
    feed_name: Option<String>,

    /// Tag filter in MISP syntax (`tlp:%`, `!tlp:red`); repeat for several.
    #[arg(long = "tags", value_name = "TAG")]
    tags: Vec<String>,

    /// Attribute type(s), e.g. ip-dst,domain or !link. Selects events; does not trim them.
    #[arg(long = "type", value_name = "TYPE", value_delimiter = ',')]
    types: Vec<String>,

    /// Attribute category; repeat for several.
    #[arg(long, value_name = "CATEGORY")]
    category: Vec<String>,

    /// Organisation (id, name or uuid); repeat for several, `!` to exclude.
    #[arg(long, value_name = "ORG")]
    org: Vec<String>,

    /// Event id(s).
    #[arg(long, value_name = "ID", value_delimiter = ',')]
    event_id: Vec<String>,

    /// Event or attribute uuid(s).
    #[arg(long, value_name = "UUID", value_delimiter = ',')]
    uuid: Vec<String>,

    /// to_ids flag: 1/true or 0/false (sent as 0/1).
    #[arg(long, value_name = "0|1", value_parser = parse_bool01)]
    to_ids: Option<bool>,

    /// Lower time bound: epoch seconds, ISO date or time, or a duration ago (7d, 12h, 30m).
    #[arg(long, value_name = "TIME")]
    since: Option<String>,

    /// Upper time bound, same forms as --since.
    #[arg(long, value_name = "TIME")]
    until: Option<String>,

    /// Apply --since/--until to publish_timestamp instead of timestamp.
    #[arg(long)]
    by_publish_time: bool,

    /// Include unpublished events (drafts); the state mark is then on timestamp.
    #[arg(long)]
    include_unpublished: bool,

    /// Include soft-deleted attributes (deleted: [0,1]); always on with --state.
    #[arg(long)]
    include_deleted: bool,

    /// Drop attributes on MISP's warning lists (enforceWarninglist).
    #[arg(long)]
    warninglists: bool,

    /// Accepted for compatibility: the attributes scope always asks for the event tags (includeEventTags).
    #[arg(long)]
    include_event_tags: bool,

    /// Accepted for compatibility: the attributes scope always asks for the event metadata (includeContext).
    #[arg(long)]
    include_context: bool,

    /// Any other restSearch parameter, KEY=JSON (threat_level_id=[1,2]); repeatable.
    #[arg(long, value_name = "KEY=JSON", value_parser = filters::parse_filter)]
    filter: Vec<(String, serde_json::Value)>,

    /// JSON file with restSearch filters; the flags are added to it.
    #[arg(long, value_name = "FILE")]
    body: Option<PathBuf>,

    /// Events per request when fetching whole events (or their attributes).
    #[arg(long, value_name = "N", default_value_t = 100)]
    page_size: usize,

    /// Events per page of the metadata listing; 0: one unpaged listing.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    list_page_size: usize,

    /// Most attributes (by the listing's attribute_count) asked for in one request.
    #[arg(long, value_name = "N", default_value_t = 200_000)]
    batch_attributes: u64,

    /// Largest single event accepted, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = misp2ms::io::input::DEFAULT_MAX_LINE)]
    max_event: usize,

    /// Incremental runs: read the high-water mark from FILE, write FILE.next after a complete run.
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,

    /// How far before the mark an incremental run starts.
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_duration_arg)]
    overlap: Duration,

    /// Promote FILE.next to FILE (after every later stage succeeded) and exit.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["state", "check", "feed", "csv", "freetext"])]
    commit_state: Option<PathBuf>,

    /// Write to FILE (atomically) instead of stdout; .gz compresses.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,

    /// Gzip the output file.
    #[arg(long)]
    gzip: bool,

    /// Retries after a failed request (connection error, 5xx, 429, cut-off response).
    #[arg(long, value_name = "N", default_value_t = 6)]
    retries: u32,

    /// Give up retrying a request after this long.
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_duration_arg)]
    retry_max_time: Duration,

    /// First backoff wait (doubles each retry, with jitter) when the server gives no Retry-After.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_duration_arg)]
    retry_wait: Duration,

    #[command(flatten)]
    http: HttpArgs,

    /// The run's clock (RFC 3339), for relative --since values and the state file.
    #[arg(long, value_name = "TIME")]
    now: Option<String>,

    /// Log each request (never the key) on stderr.
    #[arg(short, long)]
    verbose: bool,
}

fn parse_bool01(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" => Ok(true),
        "0" | "false" | "no" | "exclude" => Ok(false),
        _ => Err(format!("{s:?}: expected 0 or 1")),
    }
}

fn run(a: Args) -> Result<i32> {
    if let Some(path) = &a.commit_state {
        misp2ms::pull::state::commit(path)?;
        eprintln!("misp-pull: committed {}", path.display());
        return Ok(misp2ms::cli::exit::OK);
    }
    let now = misp2ms::time::now(a.now.as_deref())?;
    let http = a.http.options("misp-pull");
    let retry = RetryPolicy {
        retries: a.retries,
        max_time: a.retry_max_time,
        base: a.retry_wait,
    };
    let time = |s: &Option<String>| {
        s.as_deref()
            .map(|t| filters::parse_time(t, &now))
            .transpose()
    };
    let filters = Filters {
        tags: a.tags,
        types: a.types,
        categories: a.category,
        orgs: a.org,
        event_ids: a.event_id,
        uuids: a.uuid,
        to_ids: a.to_ids,
        since: time(&a.since)?,
        until: time(&a.until)?,
        by_publish_time: a.by_publish_time,
        include_unpublished: a.include_unpublished,
        include_deleted: a.include_deleted,
        warninglists: a.warninglists,
        include_event_tags: a.include_event_tags,
        include_context: a.include_context,
        extra: a.filter,
        body: a.body.as_deref().map(filters::read_body).transpose()?,
    };
    let run = RunOptions {
        output: a.output,
        gzip: a.gzip,
        verbose: a.verbose,
        now,
        http,
        retry,
    };
    let text = match (&a.csv, &a.freetext) {
        (Some(loc), _) => Some((
            loc.clone(),
            TextKind::Csv {
                columns: a.value_column.clone(),
                delimiter: feed::parse_delimiter(&a.delimiter)?,
            },
        )),
        (None, Some(loc)) => Some((loc.clone(), TextKind::Freetext)),
        _ => None,
    };
    if let Some((location, kind)) = text {
        if a.state.is_some() {
            return Err(Error::usage("--state applies to MISP servers and MISP feeds; CSV and freetext feeds are always read whole"));
        }
        if a.value_column.contains(&0) {
            return Err(Error::usage("--value-column is 1-based"));
        }
        filters::check_feed_filters(&filters, "--csv/--freetext")?;
        if !filters.tags.is_empty()
            || !filters.orgs.is_empty()
            || !filters.uuids.is_empty()
            || filters.since.is_some()
            || filters.until.is_some()
        {
            return Err(Error::usage(
                "CSV and freetext feeds have no tags, organisations, uuids or times to filter on",
            ));
        }
        return feed::run_text_feed(TextFeedConfig {
            location,
            kind,
            feed_name: a.feed_name,
            run,
        });
    }
    if let Some(loc) = &a.feed {
        filters::check_feed_filters(&filters, "--feed")?;
        return feed::run_misp_feed(FeedConfig {
            location: Location::parse(loc),
            filters,
            state: a.state,
            overlap: a.overlap,
            run,
            max_event: a.max_event,
        });
    }
    let url = a.url.ok_or_else(|| {
        Error::usage("no source: give --url (or MISP_URL), --feed, --csv or --freetext")
    })?;
    let key = match &a.key_file {
        Some(path) => check_key(
            &misp2ms::cli::args::read_secret_file(path)?,
            &path.display().to_string(),
        )?,
        None => match std::env::var("MISP_KEY") {
            Ok(k) => check_key(&k, "MISP_KEY")?,
            Err(_) => {
                return Err(Error::usage(
                    "no MISP API key: set MISP_KEY or give --key-file FILE",
                ))
            }
        },
    };
    if a.check {
        let mut out = Output::stdout();
        let code = server::check(&url, key, &run, &mut out)?;
        out.finish()?;
        return Ok(code);
    }
    server::run(server::Config {
        url,
        key,
        scope: match a.scope {
            ScopeArg::Events => Scope::Events,
            ScopeArg::Attributes => Scope::Attributes,
        },
        filters,
        page_size: a.page_size,
        list_page_size: a.list_page_size,
        batch_attributes: a.batch_attributes,
        max_event: a.max_event,
        state: a.state,
        overlap: a.overlap,
        run,
    })
}

fn main() {
    let args = misp2ms::cli::generate::parse_or_generate::<Args>();
    std::process::exit(misp2ms::error::report("misp-pull", run(args)));
}
