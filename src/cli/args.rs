//! Command-line pieces the three tools share, flattened into each tool's Args.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::error::Result;
use crate::http::HttpOptions;
use crate::io::input::DEFAULT_MAX_LINE;

/// NDJSON input: FILE arguments, strictness, line limit.
#[derive(Debug, Clone, Args)]
pub struct InputArgs {
    /// Input files, read in order; none or `-` means stdin. Gzip is recognised by its magic bytes.
    #[arg(value_name = "FILE")]
    pub files: Vec<String>,

    /// Stop at the first malformed input line instead of reporting, counting and skipping it.
    #[arg(long)]
    pub strict: bool,

    /// Longest accepted input line in bytes; a longer line is an error naming it.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_LINE)]
    pub max_line: usize,
}

/// Connection settings for the tools that talk HTTP.
#[derive(Debug, Clone, Args)]
pub struct HttpArgs {
    /// PEM file with the CA certificate(s) to trust (a private CA, a TLS-inspecting proxy).
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,

    /// Do not verify TLS certificates (warned about on every run; never use in production).
    #[arg(long)]
    pub insecure: bool,

    /// Connect timeout, e.g. 10s.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration_arg)]
    pub connect_timeout: Duration,

    /// Read timeout: longest wait for a response, and between two reads of its body.
    #[arg(long, value_name = "DURATION", default_value = "120s", value_parser = parse_duration_arg)]
    pub timeout: Duration,
}

impl HttpArgs {
    /// The HTTP options; prints the `--insecure` warning (every run, as promised).
    pub fn options(&self, tool: &str) -> HttpOptions {
        if self.insecure {
            eprintln!("{tool}: warning: --insecure: TLS certificates are NOT verified");
        }
        HttpOptions {
            ca_cert: self.ca_cert.clone(),
            insecure: self.insecure,
            connect_timeout: self.connect_timeout,
            read_timeout: self.timeout,
            ..HttpOptions::default()
        }
    }
}

/// clap value parser for durations such as `30s`, `5m`, `7d`.
pub fn parse_duration_arg(s: &str) -> Result<Duration, String> {
    crate::time::parse_duration(s).map_err(|e| e.to_string())
}

/// Reads a secret from a file, trimming the trailing newline. The error names
/// the file, never its content.
pub fn read_secret_file(path: &std::path::Path) -> Result<String> {
    let s = std::fs::read_to_string(path).map_err(|e| crate::error::Error::io(path, e))?;
    Ok(s.trim_end_matches(['\r', '\n']).to_string())
}
