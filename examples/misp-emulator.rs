//! A MISP server emulator on 127.0.0.1 for benchmarks and end-to-end tests
//! (the same one the integration tests use, tests/it/support/emulator/misp/).
//!
//!     cargo run --release --example misp-emulator -- --data examples/sample-feed
//!     cargo run --release --example misp-emulator -- --generate 30000 --attributes 100 --port 8088
//!
//! It prints `listening on 127.0.0.1:PORT` once ready, and serves
//! /servers/getVersion, /users/view/me, /events/restSearch and
//! /attributes/restSearch to clients sending the key (MISP_KEY, or --key, or
//! the built-in test key). Control endpoint (no key needed; JSON bodies):
//!   POST /_control/events            {"Event":{…}} or a list: add or replace by uuid
//!   POST /_control/edit              {"uuid":U,"set":{field:value,…}}  (unpublishes, bumps timestamp)
//!   POST /_control/add-attribute     {"uuid":U,"Attribute":{…}}        (unpublishes)
//!   POST /_control/change-attribute  {"uuid":U,"attribute":A,"value":V} (unpublishes)
//!   POST /_control/delete-attribute  {"uuid":U,"attribute":A}           (soft delete; unpublishes)
//!   POST /_control/publish           {"uuid":U}   (publish_timestamp = now)
//!   POST /_control/unpublish         {"uuid":U}
//!   POST /_control/delete-event      {"uuid":U}
//!   POST /_control/fault             {"path":"/events/restSearch", one of: "status":503 ["retry_after":"1"]
//!                                     ["rate_limit_reset":2] | "cut_after":BYTES ["declared":false] |
//!                                     "delay_ms":MS | "drop":true}  (applies to the next such request)
//!   POST /_control/clock             {"now":EPOCH}
//!   GET  /_control/events            ids, uuids, published flags and timestamps
//!   GET  /_control/requests          every request seen (method, path, body, authorized)

// The emulator and its HTTP layer, shared with the integration tests (which use
// the parts of its API this runner does not).
#[path = "../tests/it/support/emulator"]
#[allow(dead_code, unused_imports)]
mod emulator {
    pub mod http;
    pub mod misp;
}

use std::path::{Path, PathBuf};

use clap::{Parser, ValueEnum};
use emulator::misp::Emulator;
use serde_json::Value;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Numbers {
    Strings,
    Integers,
}

/// MISP REST API emulator on 127.0.0.1.
#[derive(Debug, Parser)]
struct Args {
    /// Port to listen on (0: any free port; the one chosen is printed).
    #[arg(long, default_value_t = 0)]
    port: u16,

    /// Serve the events in DIR: a MISP feed (manifest.json + <uuid>.json) or any *.json holding {"Event":…}.
    #[arg(long, value_name = "DIR")]
    data: Vec<PathBuf>,

    /// Generate N published events (for benchmarks).
    #[arg(long, value_name = "N", default_value_t = 0)]
    generate: usize,

    /// Attributes per generated event.
    #[arg(long, value_name = "M", default_value_t = 100)]
    attributes: usize,

    /// The API key to accept (default: MISP_KEY, else the built-in test key).
    #[arg(long)]
    key: Option<String>,

    /// Numbers as JSON strings (MISP's usual form) or integers.
    #[arg(long, value_enum, default_value = "strings")]
    numbers: Numbers,

    /// Ignore limit/page and return everything (MISP's paging regressions).
    #[arg(long)]
    ignore_paging: bool,

    /// Start the clock (epoch seconds) here instead of the default.
    #[arg(long)]
    clock: Option<i64>,
}

fn main() {
    let a = Args::parse();
    let emu = match a.key.or_else(|| std::env::var("MISP_KEY").ok()) {
        Some(k) => Emulator::start_with_key(a.port, k.trim()),
        None => Emulator::start(a.port),
    };
    emu.set_numbers_as_strings(matches!(a.numbers, Numbers::Strings));
    if let Some(t) = a.clock {
        emu.set_clock(t);
    }
    emu.set_ignore_paging(a.ignore_paging);
    for d in &a.data {
        let n = load_dir(&emu, d);
        eprintln!("misp-emulator: {n} events from {}", d.display());
    }
    if a.generate > 0 {
        emu.generate(a.generate, a.attributes);
        eprintln!("misp-emulator: {} events generated", a.generate);
    }
    println!("listening on {}", emu.url.trim_start_matches("http://"));
    use std::io::Write;
    let _ = std::io::stdout().flush();
    loop {
        std::thread::park();
    }
}

/// Adds every event of a directory: a MISP feed (manifest.json + <uuid>.json)
/// or any `*.json` files holding `{"Event":…}`. Returns how many.
fn load_dir(emu: &Emulator, dir: &Path) -> usize {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .expect("read data dir")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .filter(|p| p.file_name().is_some_and(|n| n != "manifest.json"))
        .collect();
    names.sort();
    let mut n = 0;
    for p in names {
        let Ok(bytes) = std::fs::read(&p) else {
            continue;
        };
        let Ok(v) = serde_json::from_slice::<Value>(&bytes) else {
            eprintln!("misp-emulator: {}: not JSON, skipped", p.display());
            continue;
        };
        if v.get("Event").is_some() {
            emu.add_event(v);
            n += 1;
        }
    }
    n
}
