//! A run's state and its start: the options checked, the ledger opened, the
//! side files opened; the records on their way to the remote and what the
//! sender threads hand back.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use crate::cli::interrupt::Interrupt;
use crate::error::{Error, Result};
use crate::io::output::Output;
use crate::push::ledger::{Ledger, RunKeys};
use crate::push::pacer::Pacer;
use crate::push::record::{self, Facts};
use crate::push::setup::{
    check_retire_inputs, common_setup, open_side_file, Counts, Options, TOOL,
};
use crate::push::targets::{self, Endpoints, Target};
use crate::push::uploader::{Outcome, Stats};
use crate::time::Timestamp;

/// Where a record came from: `FILE:LINE`, or `ledger` for a retirement it built.
pub(super) type Source = Arc<str>;

/// A record on its way to the remote.
pub(super) struct Pending {
    pub(super) source: Source,
    /// The original line (for `--failed`/`--rejected`).
    pub(super) line: Vec<u8>,
    /// The record as it will be sent (a STIX version bump changes it).
    pub(super) body: Vec<u8>,
    pub(super) facts: Facts,
    /// What the remote echoes to identify it (Defender value, Graph externalId).
    pub(super) echo: String,
    /// This record took one of `--max-active`'s slots.
    pub(super) took_slot: bool,
    /// This retirement frees a slot once accepted.
    pub(super) frees_slot: bool,
}

/// A relationship waiting for the answer to a request that carries one of its
/// ends (docs/design.md#context-objects).
pub(super) struct Held {
    pub(super) pending: Pending,
    pub(super) ends: [String; 2],
}

pub(super) struct Job {
    pub(super) items: Vec<Pending>,
}

pub(super) struct Done {
    pub(super) items: Vec<Pending>,
    pub(super) outcomes: Result<Vec<Outcome>>,
}

pub(super) struct Run {
    pub(super) opts: Options,
    pub(super) now: Timestamp,
    pub(super) now_ms: i64,
    pub(super) endpoints: Endpoints,
    pub(super) url: String,
    pub(super) batch_size: usize,
    pub(super) ledger: Option<Ledger>,
    /// Without a ledger: the versions this run sent (or would send, dry run).
    pub(super) run_keys: RunKeys,
    /// Keys in the batch or in a request not yet answered (at most one copy each).
    pub(super) on_the_way: HashSet<u128>,
    /// Relationships whose ends are still on their way, in input order.
    pub(super) held: VecDeque<Held>,
    /// Keys whose record this run saw rejected, failed or skipped as never
    /// sent (and not accepted since): a relationship to one is skipped.
    pub(super) refused: HashMap<u128, &'static str>,
    /// Skipped relationships this run kept in `--failed`: each once.
    pub(super) kept_relationships: HashSet<u128>,
    pub(super) out: Output,
    pub(super) failed_out: Option<Output>,
    pub(super) rejected_out: Option<Output>,
    pub(super) counts: Counts,
    pub(super) first_kind_seen: bool,
    pub(super) batch: Vec<Pending>,
    pub(super) in_flight: usize,
    pub(super) jobs: Option<Sender<Job>>,
    pub(super) done: Option<Receiver<Done>>,
    pub(super) workers: Vec<JoinHandle<()>>,
    pub(super) stats: Arc<Stats>,
    pub(super) pacer: Option<Arc<Pacer>>,
    /// Keys live at the remote (for `--max-active`).
    pub(super) active: usize,
    pub(super) fatal: Option<Error>,
    pub(super) interrupt: Interrupt,
    pub(super) progress: indicatif::ProgressBar,
    pub(super) started: Instant,
}

/// Runs `graph-push`; returns the exit status.
pub fn run(opts: Options, interrupt: Interrupt) -> Result<i32> {
    if opts.delete_external_ids.is_some() {
        return crate::push::delete::run(opts, interrupt);
    }
    let mut run = Run::start(opts, interrupt)?;
    if !run.opts.dry_run {
        run.start_workers()?;
    }
    let res = run.main_pass();
    run.finish(res)
}

impl Run {
    fn start(opts: Options, interrupt: Interrupt) -> Result<Run> {
        let (now, endpoints, workspace) = common_setup(&opts)?;
        let max = opts.target.max_batch();
        let batch_size = opts.batch_size.unwrap_or(max);
        if batch_size == 0 || batch_size > max {
            return Err(Error::usage(format!(
                "--batch-size must be 1 to {max} for --target {}",
                opts.target.name()
            )));
        }
        if opts.parallel == 0 {
            return Err(Error::usage("--parallel must be at least 1"));
        }
        if opts.retire_missing {
            check_retire_inputs(&opts)?;
        }
        if opts.target == Target::Graph {
            eprintln!(
                "{TOOL}: warning: the Graph tiIndicators API is deprecated and announced as \
                 removed (April 2026); move to --target sentinel or --target defender"
            );
        }
        let kind = opts.target.kind();
        let ledger = match opts.ledger.as_deref() {
            None => None,
            Some(p) if opts.dry_run => Some(Ledger::open_read_only(
                p,
                kind,
                opts.target.name(),
                &workspace,
            )?),
            Some(p) => Some(Ledger::open(
                p,
                kind,
                opts.target.name(),
                &workspace,
                opts.wait_lock,
                &interrupt,
            )?),
        };
        let now_ms = record::millis(&now);
        let active = ledger.as_ref().map_or(0, |l| l.active_count(now_ms));
        let url = targets::upload_url(opts.target, &endpoints.api_base, &workspace);
        let (failed_out, rejected_out) = if opts.dry_run {
            (None, None)
        } else {
            (
                open_side_file(&opts.failed)?,
                open_side_file(&opts.rejected)?,
            )
        };
        let progress = crate::cli::progress::spinner("{spinner} {msg}");
        Ok(Run {
            now,
            now_ms,
            endpoints,
            url,
            batch_size,
            ledger,
            run_keys: RunKeys::default(),
            on_the_way: HashSet::new(),
            held: VecDeque::new(),
            refused: HashMap::new(),
            kept_relationships: HashSet::new(),
            out: Output::stdout(),
            failed_out,
            rejected_out,
            counts: Counts::default(),
            first_kind_seen: false,
            batch: Vec::new(),
            in_flight: 0,
            jobs: None,
            done: None,
            workers: Vec::new(),
            stats: Arc::new(Stats::default()),
            pacer: None,
            active,
            fatal: None,
            interrupt,
            progress,
            started: Instant::now(),
            opts,
        })
    }

    pub(super) fn stopping(&self) -> bool {
        self.interrupt.fired() || self.fatal.is_some()
    }
}
