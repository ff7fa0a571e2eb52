//! ioc-map: MISP JSON lines in, indicators out (STIX 2.1, Defender, Graph tiIndicator,
//! the portals' CSV files).
#![forbid(unsafe_code)]

use std::collections::HashSet;
use std::path::PathBuf;

use clap::Parser;

use misp2ms::cli::args::InputArgs;
use misp2ms::cli::interrupt::Interrupt;
use misp2ms::map::context::ContextMode;
use misp2ms::map::format::defender::{Action, DefenderOptions};
use misp2ms::map::format::select::{Format, FormatOptions};
use misp2ms::map::format::stix::StixOptions;
use misp2ms::map::format::tiindicator::{TiAction, TiOptions, TARGET_PRODUCTS, THREAT_TYPES};
use misp2ms::map::indicator::Tlp;
use misp2ms::map::mapper::MapOptions;
use misp2ms::map::policy::expiry::{ExpireFrom, Expiry};
use misp2ms::map::run::{run, RunOptions};
use misp2ms::Result;

const EXAMPLES: &str = "\
Examples:
  misp-pull --state s.json | ioc-map > indicators.ndjson
  ioc-map --now 2026-11-28T00:00:00Z examples/sample-feed/*.json
  ioc-map --format defender --types ip-dst,domain,url,sha256 events.ndjson.gz
  ioc-map --context objects events.ndjson > stix-with-attack-patterns-and-actors.ndjson
  ioc-map --format tiindicator --azure-tenant-id $TENANT -o ti.ndjson events.ndjson
  ioc-map --format defender-csv -o defender.csv events.ndjson    # defender-0001.csv, … when split
  ioc-map --warninglist-dir misp-warninglists/lists --allowlist ours.txt --skipped skipped.ndjson events.ndjson

Expiry classes (--expire CLASS=DURATION,…; all=DURATION sets every class):
  ip 30d, domain 90d, url 90d, email 180d, hash 365d, file 180d, other 180d
";

/// Map MISP attributes to indicators: STIX 2.1 for Sentinel (default), Defender
/// for Endpoint, or legacy Graph tiIndicator, one record a line on stdout.
/// Every attribute is mapped or skipped with one reason (summary on stderr).
#[derive(Parser)]
#[command(name = "ioc-map", version, after_help = format!("{EXAMPLES}\n{}", misp2ms::cli::exit::TABLE))]
struct Args {
    #[command(flatten)]
    input: InputArgs,

    /// Output format.
    #[arg(short, long, value_enum, default_value = "stix")]
    format: Format,

    /// Threat context from MISP galaxies and the event's creator: none (indicators
    /// only), inline (in each record: ATT&CK references, readable labels, the
    /// format's fields; STIX adds the creator's identity), objects (STIX: inline
    /// plus attack-pattern, threat-actor and relationship objects).
    #[arg(long, value_enum, value_name = "MODE", default_value = "inline")]
    context: ContextMode,

    /// Write to FILE (atomically: a temporary file renamed when complete; .gz compresses).
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,

    /// CSV formats: data rows per file, more are split into FILE-0001.csv, … (0: no limit).
    /// Default: 500 for defender-csv, none for sentinel-csv (its files are cut at 50 MB).
    #[arg(long, value_name = "N")]
    max_rows: Option<u64>,

    /// Write one NDJSON line per skipped attribute (source, uuid, type, value, reason) to FILE.
    #[arg(long, value_name = "FILE")]
    skipped: Option<PathBuf>,

    /// The run's clock (RFC 3339), for reproducible runs and replays.
    #[arg(long, value_name = "TIME")]
    now: Option<String>,

    /// Map only these MISP types (comma-separated, e.g. ip-dst,domain,url).
    #[arg(long, value_name = "TYPES", value_delimiter = ',')]
    types: Option<Vec<String>>,

    /// Never map these MISP types (comma-separated).
    #[arg(long, value_name = "TYPES", value_delimiter = ',')]
    exclude_types: Vec<String>,

    /// Map attributes whose to_ids is false too (skipped by default).
    #[arg(long)]
    include_non_ids: bool,

    /// STIX: emit retirements for attributes whose to_ids is false (instead of skipping them).
    #[arg(long, conflicts_with = "include_non_ids")]
    retire_non_ids: bool,

    /// STIX: retire with `revoked: true` (permanent: the id can never come back) instead of ending validity now.
    #[arg(long)]
    revoke: bool,

    /// Also emit a file-name indicator for filename|<hash> and malware-sample (the hash is always emitted).
    #[arg(long)]
    include_filenames: bool,

    /// Map indicators whose validity already ended (skipped as `expired` by default).
    #[arg(long)]
    include_expired: bool,

    /// Export private and reserved addresses and names (loopback, RFC 1918, documentation, …).
    #[arg(long)]
    allow_private: bool,

    /// File of values never to export: IPs/CIDRs, domains (with subdomains), exact values. Repeatable.
    #[arg(long, value_name = "FILE")]
    allowlist: Vec<PathBuf>,

    /// Directory of MISP warninglists (JSON, searched recursively); hits are skipped. Repeatable.
    #[arg(long, value_name = "DIR")]
    warninglist_dir: Vec<PathBuf>,

    /// TLP of attributes without a TLP tag (clear, green, amber, amber+strict, red).
    #[arg(long, value_name = "LEVEL", default_value = "amber", value_parser = parse_tlp)]
    default_tlp: Tlp,

    /// Highest TLP exported (order clear < green < amber < amber+strict < red).
    #[arg(long, value_name = "LEVEL", default_value = "amber+strict", value_parser = parse_tlp)]
    tlp_max: Tlp,

    /// Confidence (0-100) of attributes without a misp:confidence-level tag.
    #[arg(long, value_name = "N", default_value_t = 50, value_parser = clap::value_parser!(u8).range(0..=100))]
    default_confidence: u8,

    /// Skip attributes whose confidence is below N.
    #[arg(long, value_name = "N", default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=100))]
    min_confidence: u8,

    /// Expiry per class, e.g. ip=30d,domain=90d,url=90d,hash=365d (see below).
    #[arg(long, value_name = "SPEC")]
    expire: Option<String>,

    /// What validity counts from without last_seen: misp (attribute or publish time) or now (today 00:00Z).
    #[arg(long, value_enum, value_name = "FROM", default_value = "misp")]
    expire_from: ExpireFrom,

    /// STIX: base URL of the MISP server, to add each event's URL to external_references.
    #[arg(long, value_name = "URL")]
    misp_url: Option<String>,

    /// Defender: action (BlockAndRemediate only with --types limited to file hashes and certificates).
    #[arg(long, value_enum, default_value = "Audit", ignore_case = true)]
    defender_action: Action,

    /// Defender: set generateAlert false (not with Audit).
    #[arg(long)]
    no_alert: bool,

    /// tiindicator: targetProduct.
    #[arg(long, value_name = "PRODUCT", default_value = "Azure Sentinel", value_parser = clap::builder::PossibleValuesParser::new(TARGET_PRODUCTS))]
    target_product: String,

    /// tiindicator: azureTenantId (the Entra tenant id).
    #[arg(long, value_name = "ID")]
    azure_tenant_id: Option<String>,

    /// tiindicator: action.
    #[arg(long, value_enum, default_value = "alert")]
    ti_action: TiAction,

    /// tiindicator: threatType.
    #[arg(long, value_name = "TYPE", default_value = "WatchList", value_parser = clap::builder::PossibleValuesParser::new(THREAT_TYPES))]
    threat_type: String,
}

fn parse_tlp(s: &str) -> Result<Tlp, String> {
    Tlp::parse(s)
        .ok_or_else(|| format!("{s:?}: expected clear, white, green, amber, amber+strict or red"))
}

impl Args {
    fn into_options(self) -> Result<RunOptions> {
        let now = misp2ms::time::now(self.now.as_deref())?;
        let mut map = MapOptions::new(now);
        map.include_non_ids = self.include_non_ids;
        map.retire_non_ids = self.retire_non_ids;
        map.revoke = self.revoke;
        map.include_filenames = self.include_filenames;
        map.include_expired = self.include_expired;
        map.allow_private = self.allow_private;
        map.default_tlp = self.default_tlp;
        map.tlp_max = self.tlp_max;
        map.default_confidence = self.default_confidence;
        map.min_confidence = self.min_confidence;
        map.expiry = match &self.expire {
            Some(spec) => Expiry::parse(spec)?,
            None => Expiry::default(),
        };
        map.expire_from = self.expire_from;
        map.types = self.types.map(|t| {
            t.into_iter()
                .map(|s| s.trim().to_string())
                .collect::<HashSet<_>>()
        });
        map.exclude_types = self
            .exclude_types
            .into_iter()
            .map(|s| s.trim().to_string())
            .collect();
        let stix = StixOptions::new(self.misp_url)?;
        Ok(RunOptions {
            files: self.input.files,
            strict: self.input.strict,
            max_line: self.input.max_line,
            format: self.format,
            context: self.context,
            formats: FormatOptions {
                output: self.output,
                stix,
                defender: DefenderOptions {
                    action: self.defender_action,
                    generate_alert: !self.no_alert,
                },
                tiindicator: TiOptions {
                    target_product: self.target_product,
                    azure_tenant_id: self.azure_tenant_id,
                    action: self.ti_action,
                    threat_type: self.threat_type,
                    include_filenames: self.include_filenames,
                },
                max_rows: self.max_rows,
            },
            map,
            allowlists: self.allowlist,
            warninglist_dirs: self.warninglist_dir,
            skipped: self.skipped,
            interrupt: Interrupt::install()?,
        })
    }
}

fn main() {
    let result = misp2ms::cli::generate::parse_or_generate::<Args>()
        .into_options()
        .and_then(run);
    std::process::exit(misp2ms::error::report("ioc-map", result));
}
