//! The Microsoft emulator as a process, for scripts and benches:
//! `cargo run --example ms-emulator -- --port 0 --sentinel-rpm 3000 --ready-file /tmp/port`.
//! Prints `listening on 127.0.0.1:PORT` on stdout, writes PORT to `--ready-file`, and
//! serves until killed. Control it over HTTP: `GET /_emulator/stats`, `GET /_emulator/log`,
//! `GET /_emulator/store`, `POST /_emulator/faults` (body `503:2@sentinel`),
//! `POST /_emulator/latency` (`{"ms":200}`), `POST /_emulator/expire-tokens`, `POST /_emulator/reset`.

// The emulator and its HTTP layer, shared with the integration tests (which use
// the parts of its API this runner does not).
#[path = "../tests/it/support/emulator"]
#[allow(dead_code, unused_imports)]
mod emulator {
    pub mod http;
    pub mod ms;
}

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use emulator::ms::{self as ms_emulator, Config, FaultRule, MsEmulator};

#[derive(Parser)]
#[command(
    about = "Emulates Entra ID tokens, Sentinel STIX upload, Defender indicators and Graph tiIndicators on 127.0.0.1"
)]
struct Args {
    /// Port on 127.0.0.1 (0: any free port, reported on stdout and in --ready-file).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Write the chosen port to FILE (atomically) once listening.
    #[arg(long, value_name = "FILE")]
    ready_file: Option<PathBuf>,
    #[arg(long, default_value = ms_emulator::TENANT)]
    tenant: String,
    #[arg(long, default_value = ms_emulator::CLIENT_ID)]
    client_id: String,
    /// File holding the client secret (default: the emulator's fixed test secret;
    /// also MS_EMULATOR_CLIENT_SECRET).
    #[arg(long, value_name = "FILE")]
    client_secret_file: Option<PathBuf>,
    /// PEM with the client's RSA key and optionally its certificate: client assertions
    /// must be signed with it and name the certificate's thumbprint.
    #[arg(long, value_name = "FILE")]
    client_cert: Option<PathBuf>,
    /// Workload identity: accept federated assertions with this ISSUER,SUBJECT.
    #[arg(long, value_name = "ISSUER,SUBJECT")]
    federated: Option<String>,
    /// Sentinel workspace ids that exist (repeatable; default: the emulator's fixed one).
    #[arg(long = "workspace", value_name = "ID")]
    workspaces: Vec<String>,
    /// Token lifetime in seconds (expires_in).
    #[arg(long, default_value_t = 3599)]
    token_lifetime: u64,
    /// HTTP status of invalid_client answers (400 as documented, see
    /// docs/design.md#entra-id-tokens; live Entra may use 401).
    #[arg(long, default_value_t = 400)]
    invalid_client_status: u16,
    /// Throttling window in seconds (all APIs).
    #[arg(long, default_value_t = 60)]
    window: u64,
    #[arg(long, default_value_t = 100)]
    sentinel_rpm: usize,
    #[arg(long, default_value_t = 100)]
    sentinel_max_objects: usize,
    /// Add Retry-After to Sentinel's 429 answers.
    #[arg(long)]
    sentinel_retry_after: bool,
    /// Name Sentinel's per-record array validationErrorMessages instead of errorMessages.
    #[arg(long)]
    validation_error_messages: bool,
    #[arg(long, default_value_t = 30)]
    defender_rpm: usize,
    #[arg(long, default_value_t = 500)]
    defender_max_batch: usize,
    #[arg(long, default_value_t = 15_000)]
    defender_max_active: usize,
    #[arg(long, default_value_t = 1000)]
    graph_rpm: usize,
    #[arg(long, default_value_t = 100)]
    graph_max_batch: usize,
    /// Added latency per request, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Keep only id, created and modified of stored STIX versions (long benches).
    #[arg(long)]
    no_bodies: bool,
    /// Fault for the next requests: KIND[=ARG][:COUNT][@API], e.g. `429-retry-after=2:3@sentinel`,
    /// `503:2`, `drop`, `drop-after`, `expire-token`, `delay=500` (repeatable).
    #[arg(long = "fault", value_name = "SPEC", value_parser = FaultRule::parse)]
    faults: Vec<FaultRule>,
}

fn main() {
    let args = Args::parse();
    let secret = match &args.client_secret_file {
        Some(path) => match std::fs::read_to_string(path) {
            Ok(s) => s.trim().to_string(),
            Err(e) => {
                eprintln!("ms-emulator: {}: {e}", path.display());
                std::process::exit(2);
            }
        },
        None => std::env::var("MS_EMULATOR_CLIENT_SECRET")
            .unwrap_or_else(|_| ms_emulator::CLIENT_SECRET.into()),
    };
    let client_certificate_pem = args.client_cert.as_ref().map(|path| {
        std::fs::read_to_string(path).unwrap_or_else(|e| {
            eprintln!("ms-emulator: {}: {e}", path.display());
            std::process::exit(2);
        })
    });
    let federated = args.federated.as_deref().map(|f| {
        let (iss, sub) = f.split_once(',').unwrap_or((f, ""));
        (iss.to_string(), sub.to_string())
    });
    let cfg = Config {
        port: args.port,
        tenant: args.tenant,
        clients: vec![(args.client_id, secret)],
        client_certificate_pem,
        federated,
        token_lifetime: Duration::from_secs(args.token_lifetime),
        invalid_client_status: args.invalid_client_status,
        workspaces: if args.workspaces.is_empty() {
            vec![ms_emulator::WORKSPACE.into()]
        } else {
            args.workspaces
        },
        window: Duration::from_secs(args.window),
        sentinel_rpm: args.sentinel_rpm,
        sentinel_max_objects: args.sentinel_max_objects,
        sentinel_retry_after: args.sentinel_retry_after,
        validation_error_messages: args.validation_error_messages,
        defender_rpm: args.defender_rpm,
        defender_max_batch: args.defender_max_batch,
        defender_max_active: args.defender_max_active,
        graph_rpm: args.graph_rpm,
        graph_max_batch: args.graph_max_batch,
        latency: Duration::from_millis(args.latency_ms),
        keep_bodies: !args.no_bodies,
    };
    let emu = MsEmulator::start(cfg);
    for rule in args.faults {
        emu.add_fault(rule);
    }
    if let Some(path) = &args.ready_file {
        let tmp = path.with_extension("tmp");
        if let Err(e) = std::fs::write(&tmp, format!("{}\n", emu.addr().port()))
            .and_then(|_| std::fs::rename(&tmp, path))
        {
            eprintln!("ms-emulator: {}: {e}", path.display());
            std::process::exit(1);
        }
    }
    let mut out = std::io::stdout();
    let _ = writeln!(out, "listening on {}", emu.addr());
    let _ = out.flush();
    loop {
        std::thread::park();
    }
}
