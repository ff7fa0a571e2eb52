//! misp-airgap: carry MISP data across an air gap in signed, checksummed,
//! sequenced bundles.
#![forbid(unsafe_code)]

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use misp2ms::airgap::{self, Check, Pack, Sequence};

const EXAMPLES: &str = "\
Examples:
  # once: a key pair (the secret key stays on the MISP side)
  misp-airgap keygen --secret-key airgap.key --public-key airgap.pub

  # MISP side: pull, then pack with the next sequence number
  misp-pull --feed https://misp.example/feed -o events.ndjson.gz
  misp-airgap pack --secret-key airgap.key --seq-file airgap.seq \\
      --out bundle.tar events.ndjson.gz

  # Microsoft side: check everything, refuse replays, then unpack
  misp-airgap unpack --public-key airgap.pub --journal airgap.journal \\
      --into incoming bundle.tar
  ioc-map incoming/events.ndjson.gz | graph-push ...

A refused bundle (bad signature, checksum, size or record count, truncated,
unsigned, replayed) exits 1 and writes nothing. A good bundle whose sequence
number skips one or more bundles is unpacked with a warning and exits 3.";

fn after_help() -> String {
    format!("{EXAMPLES}\n\n{}", misp2ms::cli::exit::TABLE)
}

/// Carry MISP data across an air gap: bundle NDJSON files (plain or .gz) with a
/// manifest of SHA-256 checksums, sizes, record counts and a sequence number,
/// signed with Ed25519; check all of it before anything is unpacked.
#[derive(Debug, Parser)]
#[command(name = "misp-airgap", version, after_help = after_help())]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Make an Ed25519 key pair (never overwrites a file). The secret key signs
    /// bundles on the MISP side; the public key checks them on the Microsoft side.
    #[command(after_help = after_help())]
    Keygen {
        /// Secret key file to create (mode 0600).
        #[arg(long, value_name = "FILE")]
        secret_key: PathBuf,
        /// Public key file to create.
        #[arg(long, value_name = "FILE")]
        public_key: PathBuf,
    },

    /// Bundle NDJSON files (plain or .gz) into one signed tar file.
    #[command(after_help = after_help())]
    Pack {
        /// Secret key file (from `keygen`).
        #[arg(long, value_name = "FILE")]
        secret_key: PathBuf,
        /// The bundle to write (atomically: it appears only when complete).
        #[arg(long, short = 'o', value_name = "BUNDLE")]
        out: PathBuf,
        /// Use this sequence number (1 or more).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..),
              conflicts_with = "seq_file", required_unless_present = "seq_file")]
        seq: Option<u64>,
        /// Use one more than the number in FILE (0 if FILE does not exist), and
        /// store it there once the bundle is written.
        #[arg(long, value_name = "FILE")]
        seq_file: Option<PathBuf>,
        /// The bundle's creation time (RFC 3339) instead of the clock: the same
        /// files, key, sequence and time make a byte-identical bundle.
        #[arg(long, value_name = "TIME")]
        now: Option<String>,
        /// The files to carry; stored under their base names, which must differ.
        #[arg(value_name = "FILE", required = true)]
        files: Vec<PathBuf>,
    },

    /// Check a bundle (signature, then every file's size, SHA-256 and record
    /// count), refuse a replay, then move its files into DIR and record its
    /// sequence number in the journal.
    #[command(after_help = after_help())]
    Unpack {
        /// Public key file (from `keygen`).
        #[arg(long, value_name = "FILE")]
        public_key: PathBuf,
        /// Journal of the sequence numbers unpacked so far (created if absent).
        #[arg(long, value_name = "FILE")]
        journal: PathBuf,
        /// Directory to unpack into: created if absent; existing files are never replaced.
        #[arg(long, value_name = "DIR")]
        into: PathBuf,
        /// The time recorded in the journal (RFC 3339) instead of the clock.
        #[arg(long, value_name = "TIME")]
        now: Option<String>,
        /// The bundle file.
        #[arg(value_name = "BUNDLE")]
        bundle: PathBuf,
    },

    /// The checks of `unpack` without extracting or recording anything.
    #[command(after_help = after_help())]
    Verify {
        /// Public key file (from `keygen`).
        #[arg(long, value_name = "FILE")]
        public_key: PathBuf,
        /// Also refuse a replay and report a gap, as `unpack` would (read only).
        #[arg(long, value_name = "FILE")]
        journal: Option<PathBuf>,
        /// The bundle file.
        #[arg(value_name = "BUNDLE")]
        bundle: PathBuf,
    },
}

/// Calls the library function of the subcommand.
fn run(args: Args) -> misp2ms::Result<i32> {
    match args.command {
        Command::Keygen {
            secret_key,
            public_key,
        } => airgap::keygen(&secret_key, &public_key),
        Command::Pack {
            secret_key,
            out,
            seq,
            seq_file,
            now,
            files,
        } => airgap::pack(&Pack {
            secret_key: &secret_key,
            out: &out,
            sequence: &Sequence::from_flags(seq, seq_file)?,
            now: misp2ms::time::now(now.as_deref())?,
            files: &files,
        }),
        Command::Unpack {
            public_key,
            journal,
            into,
            now,
            bundle,
        } => airgap::check(&Check {
            bundle: &bundle,
            public_key: &public_key,
            journal: Some(&journal),
            into: Some(&into),
            now: misp2ms::time::now(now.as_deref())?,
        }),
        Command::Verify {
            public_key,
            journal,
            bundle,
        } => airgap::check(&Check {
            bundle: &bundle,
            public_key: &public_key,
            journal: journal.as_deref(),
            into: None,
            now: misp2ms::time::now(None)?,
        }),
    }
}

fn main() {
    let result = run(misp2ms::cli::generate::parse_or_generate::<Args>());
    std::process::exit(misp2ms::error::report("misp-airgap", result));
}
