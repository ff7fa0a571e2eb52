//! One `graph-push` run: read records, recognise their kind, consult the
//! ledger, batch, hand batches to `--parallel` sender threads, and write one
//! result line per record (docs/design.md#results), the `--failed`/`--rejected` files,
//! the ledger, and one summary line. Records in = the sum of all statuses.

use std::collections::HashSet;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use self::ledger::{Accepted, Entry, Ledger, RunKeys};
use self::pacer::Pacer;
use self::record::{Facts, RecordKind};
use self::targets::{Endpoints, Target};
use self::uploader::{Outcome, Stats, Uploader};
use crate::cli::exit;
use crate::cli::interrupt::Interrupt;
use crate::error::{Error, Result};
use crate::io::input::{Lines, Next};
use crate::io::output::Output;
use crate::time::{self, Timestamp};

pub mod auth;
pub mod delete;
pub mod ledger;
pub mod pacer;
pub mod record;
pub mod targets;
pub mod uploader;

mod setup;
mod versions;

use setup::{check_retire_inputs, open_side_file, summary, Counts, TOOL};
pub use setup::{common_setup, token_source, Options};

/// Where a record came from: `FILE:LINE`, or `ledger` for a retirement it built.
type Source = Arc<str>;

/// A record on its way to the remote.
struct Pending {
    source: Source,
    /// The original line (for `--failed`/`--rejected`).
    line: Vec<u8>,
    /// The record as it will be sent (a STIX version bump changes it).
    body: Vec<u8>,
    facts: Facts,
    /// What the remote echoes to identify it (Defender value, Graph externalId).
    echo: String,
    /// This record took one of `--max-active`'s slots.
    took_slot: bool,
    /// This retirement frees a slot once accepted.
    frees_slot: bool,
}

struct Job {
    items: Vec<Pending>,
}

struct Done {
    items: Vec<Pending>,
    outcomes: Result<Vec<Outcome>>,
}

#[derive(Serialize)]
struct ResultLine<'a> {
    key: Option<&'a str>,
    status: &'a str,
    reason: Option<&'a str>,
    source: &'a str,
}

struct Run {
    opts: Options,
    now: Timestamp,
    now_ms: i64,
    endpoints: Endpoints,
    url: String,
    batch_size: usize,
    ledger: Option<Ledger>,
    /// Without a ledger: the versions this run sent (or would send, dry run).
    run_keys: RunKeys,
    /// Keys in the batch or in a request not yet answered (at most one copy each).
    on_the_way: HashSet<u128>,
    out: Output,
    failed_out: Option<Output>,
    rejected_out: Option<Output>,
    counts: Counts,
    first_kind_seen: bool,
    batch: Vec<Pending>,
    in_flight: usize,
    jobs: Option<Sender<Job>>,
    done: Option<Receiver<Done>>,
    workers: Vec<JoinHandle<()>>,
    stats: Arc<Stats>,
    pacer: Option<Arc<Pacer>>,
    /// Keys live at the remote (for `--max-active`).
    active: usize,
    fatal: Option<Error>,
    interrupt: Interrupt,
    progress: indicatif::ProgressBar,
    started: Instant,
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
        let ledger = opts
            .ledger
            .as_deref()
            .map(|p| {
                Ledger::open(
                    p,
                    opts.target.kind(),
                    opts.target.name(),
                    &workspace,
                    opts.dry_run,
                )
            })
            .transpose()?;
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

    /// Gets the first token (a bad credential ends the run before any
    /// result, exit 4) and starts the sender threads.
    fn start_workers(&mut self) -> Result<()> {
        let agent = crate::http::agent(&self.opts.http)?;
        let tokens = Arc::new(token_source(
            &self.opts,
            &self.endpoints,
            agent.clone(),
            &self.interrupt,
        )?);
        tokens.token()?;
        let rpm = self
            .opts
            .rpm
            .unwrap_or(self.opts.target.default_rpm() as f64);
        let pacer = Arc::new(Pacer::new(rpm));
        self.pacer = Some(Arc::clone(&pacer));
        let uploader = Arc::new(Uploader {
            target: self.opts.target,
            agent,
            tokens,
            pacer,
            interrupt: self.interrupt.clone(),
            max_retries: self.opts.max_retries,
            max_throttled: self.opts.max_throttled,
            retry_base: self.opts.retry_base,
            stats: Arc::clone(&self.stats),
        });
        let (job_tx, job_rx) = mpsc::channel::<Job>();
        let (done_tx, done_rx) = mpsc::channel::<Done>();
        let job_rx = Arc::new(Mutex::new(job_rx));
        for _ in 0..self.opts.parallel {
            let job_rx = Arc::clone(&job_rx);
            let done_tx = done_tx.clone();
            let up = Arc::clone(&uploader);
            let url = self.url.clone();
            let source_system = self.opts.source_system.clone();
            self.workers.push(std::thread::spawn(move || loop {
                let job = match job_rx.lock().expect("job queue").recv() {
                    Ok(j) => j,
                    Err(_) => return,
                };
                let bodies: Vec<&[u8]> = job.items.iter().map(|p| p.body.as_slice()).collect();
                let echoes: Vec<String> = job.items.iter().map(|p| p.echo.clone()).collect();
                let outcomes = up.upload(&url, &source_system, &bodies, &echoes);
                if done_tx
                    .send(Done {
                        items: job.items,
                        outcomes,
                    })
                    .is_err()
                {
                    return;
                }
            }));
        }
        self.jobs = Some(job_tx);
        self.done = Some(done_rx);
        Ok(())
    }

    fn stopping(&self) -> bool {
        self.interrupt.fired() || self.fatal.is_some()
    }

    /// Reads every input record, then builds the retirements if asked.
    fn main_pass(&mut self) -> Result<()> {
        let mut lines = Lines::new(&self.opts.files, self.opts.max_line);
        let mut buf = Vec::new();
        loop {
            self.drain(false)?;
            if self.stopping() {
                break;
            }
            match lines.next_line(&mut buf)? {
                None => break,
                Some(Next::TooLong(at)) => {
                    let msg = format!("line longer than --max-line {} bytes", self.opts.max_line);
                    self.malformed(&at.to_string(), None, &msg)?;
                }
                Some(Next::Line(at)) => {
                    let source: Source = Arc::from(at.to_string());
                    let line = std::mem::take(&mut buf);
                    self.take_record(source, line)?;
                }
            }
            if self.counts.records % 1000 == 0 {
                self.show_progress();
            }
        }
        if self.stopping() {
            self.keep_unread(&mut lines, &mut buf)?;
        }
        if !self.stopping() && self.opts.retire_missing {
            self.retire_missing()?;
        }
        if !self.stopping() {
            self.submit()?;
        }
        Ok(())
    }

    /// A line that is not a usable record: counted, reported, kept in `--rejected`.
    /// A run that stopped (fatal error, signal) has FILE lines it never read: each
    /// goes to `--failed` as it is, with a `failed` result. Otherwise a replay file
    /// given as input and as `--failed` (`--failed F F new`) would lose its unread
    /// lines. Stdin is left alone: its producer's window is pulled again, as the
    /// pipeline's state is not committed after a stop.
    fn keep_unread(&mut self, lines: &mut Lines, buf: &mut Vec<u8>) -> Result<()> {
        if self.failed_out.is_none() {
            return Ok(());
        }
        lines.stop_at_stdin();
        let reason = if self.interrupt.fired() {
            "interrupted: not read"
        } else {
            "not read: the run stopped"
        };
        let mut kept = 0u64;
        while let Some(next) = lines.next_line(buf)? {
            let Next::Line(at) = next else {
                continue; // too long to keep; it would have been rejected
            };
            let key = serde_json::from_slice::<Value>(buf).ok().and_then(|v| {
                let kind = record::kind_of(&v)?;
                record::key_of(kind, v.as_object()?).ok()
            });
            if let Some(f) = self.failed_out.as_mut() {
                f.write_line(buf)?;
            }
            self.counts.records += 1;
            self.counts.failed += 1;
            self.result(key.as_deref(), "failed", Some(reason), &at.to_string())?;
            kept += 1;
        }
        if kept > 0 {
            eprintln!("{TOOL}: {kept} input lines not read before the stop kept as failed");
        }
        Ok(())
    }

    fn malformed(&mut self, source: &str, line: Option<&[u8]>, msg: &str) -> Result<()> {
        self.counts.records += 1;
        self.counts.malformed += 1;
        eprintln!("{TOOL}: {source}: {msg}");
        if self.opts.strict {
            return Err(Error::input(source, msg));
        }
        self.result(None, "rejected", Some(msg), source)?;
        if let (Some(f), Some(line)) = (self.rejected_out.as_mut(), line) {
            f.write_line(line)?;
        }
        self.counts.rejected += 1;
        Ok(())
    }

    fn result(
        &mut self,
        key: Option<&str>,
        status: &str,
        reason: Option<&str>,
        source: &str,
    ) -> Result<()> {
        if self.opts.dry_run {
            return Ok(());
        }
        self.out.write_json(&ResultLine {
            key,
            status,
            reason,
            source,
        })
    }

    /// One input record: checks, ledger decisions, and into the batch.
    fn take_record(&mut self, source: Source, line: Vec<u8>) -> Result<()> {
        let mut v: Value = match serde_json::from_slice(&line) {
            Ok(v) => v,
            Err(e) => return self.malformed(&source, Some(&line), &format!("not JSON: {e}")),
        };
        let want = self.opts.target.kind();
        let kind = match record::kind_of(&v) {
            None => {
                return self.malformed(
                    &source,
                    Some(&line),
                    "not a STIX object, Defender indicator or Graph tiIndicator",
                )
            }
            Some(k) if k != want => {
                if !self.first_kind_seen {
                    return Err(Error::usage(format!(
                        "{source}: the input holds {} records, but --target {} takes {} records \
                         (map with the matching ioc-map --format, or change --target)",
                        k.name(),
                        self.opts.target.name(),
                        want.name()
                    )));
                }
                let msg = format!(
                    "a {} record in a stream for --target {}",
                    k.name(),
                    self.opts.target.name()
                );
                return self.malformed(&source, Some(&line), &msg);
            }
            Some(k) => k,
        };
        self.first_kind_seen = true;
        let facts = match record::facts(kind, &v, &self.now) {
            Ok(f) => f,
            Err(msg) => return self.malformed(&source, Some(&line), &msg),
        };
        self.counts.records += 1;
        // The key came earlier in this run (a replayed --failed file beside a new
        // pull, say) and that copy is on its way: decide this one once that one is
        // answered, so that the two never travel together.
        self.wait_for(facts.key_hash)?;
        let (entry, duplicate) = match self.ledger.as_mut() {
            Some(l) => {
                let duplicate = l.mark_seen(facts.key_hash);
                (l.get(facts.key_hash), duplicate)
            }
            None => {
                let e = self.run_keys.get(facts.key_hash);
                (e, e.is_some())
            }
        };
        let end_ms = facts.valid_end.as_ref().map_or(i64::MAX, record::millis);
        if let Some(e) = entry {
            let refresh_ms = self.opts.refresh_before.as_millis() as i64;
            let unchanged = e.content_hash == facts.content_hash
                && e.live() == facts.live
                && (!facts.live
                    || e.valid_end == end_ms
                    || e.valid_end > self.now_ms.saturating_add(refresh_ms));
            if unchanged {
                let reason = duplicate.then_some("duplicate in this run");
                return self.status(&facts.key, "unchanged", reason, &source);
            }
            if kind == RecordKind::Stix && e.live() {
                let modified = facts.modified.as_ref().map_or(i64::MIN, record::millis);
                if modified < e.modified {
                    let holder = if self.ledger.is_some() {
                        "the ledger holds"
                    } else {
                        "this run sent"
                    };
                    let reason = format!(
                        "{holder} a newer version (modified {})",
                        time::fmt_millis(&record::from_millis(e.modified))
                    );
                    return self.status(&facts.key, "stale", Some(&reason), &source);
                }
            }
        } else if !facts.live && self.ledger.is_some() {
            return self.status(&facts.key, "skipped", Some("never sent"), &source);
        }
        let was_active = entry.is_some_and(|e| e.active(self.now_ms));
        let mut took_slot = false;
        if self.opts.target == Target::Defender && facts.live && !was_active {
            if self.active >= self.opts.max_active {
                let reason = format!("tenant cap (--max-active {})", self.opts.max_active);
                return self.status(&facts.key, "skipped", Some(&reason), &source);
            }
            self.active += 1;
            took_slot = true;
        }
        let mut facts = facts;
        let bumped = match (kind, entry) {
            (RecordKind::Stix, Some(e)) if self.ledger.is_some() => {
                self.bump_version(&mut v, &facts, &e)?
            }
            (RecordKind::Stix, Some(e)) => versions::bump_past_sent(&mut v, &mut facts, e.modified),
            _ => None,
        };
        let body = bumped.unwrap_or_else(|| line.clone());
        let echo = echo_of(kind, &v);
        self.enqueue(Pending {
            source,
            line,
            body,
            facts,
            echo,
            took_slot,
            frees_slot: was_active && self.opts.target == Target::Defender,
        })
    }

    /// A result decided here, without the remote.
    fn status(&mut self, key: &str, status: &str, reason: Option<&str>, src: &str) -> Result<()> {
        match status {
            "unchanged" => self.counts.unchanged += 1,
            "stale" => self.counts.stale += 1,
            _ => self.counts.skipped += 1,
        }
        self.result(Some(key), status, reason, src)
    }

    /// Waits until no copy of `key_hash` is on its way: sends the batch that
    /// holds it, then handles answers until its own has come.
    fn wait_for(&mut self, key_hash: u128) -> Result<()> {
        while self.on_the_way.contains(&key_hash) {
            if self.batch.iter().any(|p| p.facts.key_hash == key_hash) {
                self.submit()?;
            } else if self.in_flight > 0 {
                self.drain(true)?;
            } else {
                debug_assert!(false, "a key on its way is in the batch or in flight");
                self.on_the_way.remove(&key_hash);
            }
        }
        Ok(())
    }

    /// Without a ledger, remembers a version sent in this run (docs/design.md#results).
    fn remember(&mut self, facts: &Facts) {
        if self.ledger.is_none() {
            let entry = Entry::in_memory(
                facts.live,
                facts.content_hash,
                facts.modified.as_ref().map_or(i64::MIN, record::millis),
                facts.valid_end.as_ref().map_or(i64::MAX, record::millis),
            );
            self.run_keys.insert(facts.key_hash, entry);
        }
    }

    fn enqueue(&mut self, p: Pending) -> Result<()> {
        self.on_the_way.insert(p.facts.key_hash);
        self.batch.push(p);
        if self.batch.len() >= self.batch_size {
            self.submit()?;
        }
        Ok(())
    }

    /// Sends the current batch off (waiting for a free sender), or in a dry
    /// run writes the request it would be.
    fn submit(&mut self) -> Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        if self.opts.dry_run {
            return self.write_dry_request();
        }
        while self.in_flight >= self.opts.parallel {
            self.drain(true)?;
        }
        let items = std::mem::take(&mut self.batch);
        self.jobs
            .as_ref()
            .expect("workers started")
            .send(Job { items })
            .map_err(|_| Error::Other("sender threads ended unexpectedly".into()))?;
        self.in_flight += 1;
        Ok(())
    }

    fn write_dry_request(&mut self) -> Result<()> {
        let items = std::mem::take(&mut self.batch);
        let bodies: Vec<&[u8]> = items.iter().map(|p| p.body.as_slice()).collect();
        let body = targets::body(self.opts.target, &self.opts.source_system, &bodies);
        let mut line = Vec::with_capacity(body.len() + 256);
        line.extend_from_slice(b"{\"method\":\"POST\",\"url\":");
        serde_json::to_writer(&mut line, &self.url).expect("a string serialises");
        line.extend_from_slice(
            b",\"headers\":{\"Authorization\":\"Bearer <token>\",\"Content-Type\":\"application/json\"},\"body\":",
        );
        line.extend_from_slice(&body);
        line.push(b'}');
        self.out.write_line(&line)?;
        for p in &items {
            self.on_the_way.remove(&p.facts.key_hash);
            self.remember(&p.facts);
        }
        self.counts.dry_requests += 1;
        self.counts.would_send += items.len() as u64;
        Ok(())
    }

    /// Handles finished batches; with `block`, waits for at least one.
    fn drain(&mut self, block: bool) -> Result<()> {
        let mut waited = false;
        while self.in_flight > 0 {
            let rx = self.done.as_ref().expect("workers started");
            let done = if block && !waited {
                match rx.recv_timeout(Duration::from_millis(250)) {
                    Ok(d) => d,
                    Err(RecvTimeoutError::Timeout) => {
                        self.show_progress();
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => {
                        return Err(Error::Other("sender threads ended unexpectedly".into()))
                    }
                }
            } else {
                match rx.try_recv() {
                    Ok(d) => d,
                    Err(_) => break,
                }
            };
            waited = true;
            self.in_flight -= 1;
            self.handle(done)?;
        }
        Ok(())
    }

    fn handle(&mut self, done: Done) -> Result<()> {
        let outcomes = match done.outcomes {
            Ok(o) => o,
            Err(e) => {
                let reason = e.to_string();
                if self.fatal.is_none() {
                    self.fatal = Some(e);
                }
                vec![Outcome::Failed(reason); done.items.len()]
            }
        };
        for (p, o) in done.items.into_iter().zip(outcomes) {
            self.finish_item(p, o)?;
        }
        if let Some(l) = self.ledger.as_mut() {
            l.flush()?;
        }
        self.show_progress();
        Ok(())
    }

    /// Writes the result of one record that went (or was to go) to the remote.
    fn finish_item(&mut self, p: Pending, o: Outcome) -> Result<()> {
        self.on_the_way.remove(&p.facts.key_hash);
        if matches!(o, Outcome::Accepted) {
            self.remember(&p.facts);
        }
        let key = p.facts.key.as_str();
        match &o {
            Outcome::Accepted => {
                self.counts.accepted += 1;
                if p.frees_slot && !p.facts.live {
                    self.active = self.active.saturating_sub(1);
                }
                if let Some(l) = self.ledger.as_mut() {
                    l.append(&Accepted {
                        key,
                        key_hash: p.facts.key_hash,
                        content_hash: p.facts.content_hash,
                        modified: p.facts.modified.as_ref().map(record::millis),
                        valid_end: p.facts.valid_end.as_ref().map(record::millis),
                        live: p.facts.live,
                        record: &p.body,
                    })?;
                }
                self.out.write_json(&ResultLine {
                    key: Some(key),
                    status: "accepted",
                    reason: None,
                    source: &p.source,
                })?;
            }
            Outcome::Rejected(reason) | Outcome::Failed(reason) => {
                if p.took_slot {
                    self.active = self.active.saturating_sub(1);
                }
                let (status, file) = if matches!(o, Outcome::Rejected(_)) {
                    self.counts.rejected += 1;
                    ("rejected", self.rejected_out.as_mut())
                } else {
                    self.counts.failed += 1;
                    ("failed", self.failed_out.as_mut())
                };
                if let Some(f) = file {
                    f.write_line(&p.line)?;
                }
                self.out.write_json(&ResultLine {
                    key: Some(key),
                    status,
                    reason: Some(reason),
                    source: &p.source,
                })?;
            }
        }
        Ok(())
    }

    fn show_progress(&self) {
        if self.progress.is_hidden() {
            return;
        }
        let c = &self.counts;
        let waiting = match &self.pacer {
            Some(p) if p.waiting() => ", waiting on quota",
            _ => "",
        };
        self.progress.set_message(format!(
            "{} records, {} accepted, {} unchanged, {} failed, {} rejected, {} requests, {} throttled{waiting}",
            c.records,
            c.accepted,
            c.unchanged,
            c.failed,
            c.rejected,
            Stats::get(&self.stats.requests),
            Stats::get(&self.stats.throttled),
        ));
    }

    /// Waits for what is in flight, accounts for what was not sent, closes
    /// the files, prints the summary, and picks the exit status.
    fn finish(mut self, res: Result<()>) -> Result<i32> {
        let mut error = res.err();
        // A usage error (kind mismatch) ends the run before anything was sent.
        let abort = matches!(error, Some(Error::Usage(_)));
        while self.in_flight > 0 {
            if let Err(e) = self.drain(true) {
                error.get_or_insert(e);
                break;
            }
        }
        drop(self.jobs.take());
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
        if !abort {
            let reason = if self.interrupt.fired() {
                "interrupted".to_string()
            } else if let Some(e) = self.fatal.as_ref().or(error.as_ref()) {
                format!("not sent: the run stopped: {e}")
            } else {
                "not sent".to_string()
            };
            let items = std::mem::take(&mut self.batch);
            if !self.opts.dry_run {
                for p in items {
                    if let Err(e) = self.finish_item(p, Outcome::Failed(reason.clone())) {
                        error.get_or_insert(e);
                    }
                }
            }
        }
        if let Some(mut l) = self.ledger.take() {
            if let Err(e) = l.sync() {
                error.get_or_insert(e);
            }
        }
        self.progress.finish_and_clear();
        // A usage error ends the run before anything was decided: the side files
        // stay as they were (one of them may be this run's input).
        let (failed_out, rejected_out) = (self.failed_out.take(), self.rejected_out.take());
        let closed = if abort {
            [Some(self.out), None, None]
        } else {
            [Some(self.out), failed_out, rejected_out]
        };
        for o in closed.into_iter().flatten() {
            if let Err(e) = o.finish() {
                if !matches!(e, Error::BrokenPipe) {
                    error.get_or_insert(e);
                } else {
                    error.get_or_insert(Error::BrokenPipe);
                }
            }
        }
        if !abort {
            summary(&self.opts, &self.counts, &self.stats, self.started);
        }
        if let Some(code) = self.interrupt.exit_code() {
            return Err(Error::Interrupted(code));
        }
        if let Some(e) = self.fatal.take().or(error) {
            return Err(e);
        }
        let c = &self.counts;
        Ok(if c.rejected + c.failed + c.malformed > 0 {
            exit::PARTIAL
        } else {
            exit::OK
        })
    }
}

/// What the remote echoes to identify a record in its per-record answer.
fn echo_of(kind: RecordKind, v: &Value) -> String {
    let field = match kind {
        RecordKind::Stix => "id",
        RecordKind::Defender => "indicatorValue",
        RecordKind::Graph => "externalId",
    };
    v.get(field)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}
