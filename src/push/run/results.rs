//! What a run reports (docs/design.md#results): one result line per record,
//! the `--failed`/`--rejected` files, the ledger, the progress line, the
//! summary and the exit status.

use serde::Serialize;

use super::start::{Done, Pending, Run};
use crate::cli::exit;
use crate::cli::words::count;
use crate::error::{Error, Result};
use crate::push::ledger::{Accepted, Entry};
use crate::push::record::{self, Facts};
use crate::push::setup::{summary, TOOL};
use crate::push::uploader::{Outcome, Stats};

#[derive(Serialize)]
struct ResultLine<'a> {
    key: Option<&'a str>,
    status: &'a str,
    reason: Option<&'a str>,
    source: &'a str,
}

impl Run {
    pub(super) fn result(
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

    /// Without a ledger, remembers a version sent in this run (docs/design.md#results);
    /// in a dry run, also with one (a relationship's ends would be accepted).
    pub(super) fn remember(&mut self, facts: &Facts) {
        if self.ledger.is_none() || self.opts.dry_run {
            let entry = Entry::in_memory(
                facts.live,
                facts.content_hash,
                facts.modified.as_ref().map_or(i64::MIN, record::millis),
                facts.valid_end.as_ref().map_or(i64::MAX, record::millis),
            );
            self.run_keys.insert(facts.key_hash, entry);
        }
    }

    pub(super) fn handle(&mut self, done: Done) -> Result<()> {
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
    pub(super) fn finish_item(&mut self, p: Pending, o: Outcome) -> Result<()> {
        self.on_the_way.remove(&p.facts.key_hash);
        if matches!(o, Outcome::Accepted) {
            self.remember(&p.facts);
        }
        let key = p.facts.key.as_str();
        match &o {
            Outcome::Accepted => {
                self.refused.remove(&p.facts.key_hash);
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
                let refused = if matches!(o, Outcome::Rejected(_)) {
                    "rejected"
                } else {
                    "failed"
                };
                self.refused.insert(p.facts.key_hash, refused);
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

    /// One line when the tenant cap held records back: how many, the cap, and
    /// which records it kept (docs/graph-push.md: the input's order chooses).
    fn warn_capped(&self) {
        let capped = self.counts.capped;
        if capped == 0 {
            return;
        }
        let held = if self.opts.dry_run {
            "would be skipped"
        } else {
            "skipped"
        };
        eprintln!(
            "{TOOL}: warning: {} {held} at the tenant cap (--max-active {}): kept are the \
             indicators already live, then the records first in input order; sort the input \
             to choose which go first",
            count(capped, "Defender record", "Defender records"),
            self.opts.max_active
        );
    }

    pub(super) fn show_progress(&self) {
        if self.progress.is_hidden() {
            return;
        }
        let c = &self.counts;
        let waiting = match &self.pacer {
            Some(p) if p.waiting() => ", waiting on quota",
            _ => "",
        };
        self.progress.set_message(format!(
            "{}, {} accepted, {} unchanged, {} failed, {} rejected, {}, {} throttled{waiting}",
            count(c.records, "record", "records"),
            c.accepted,
            c.unchanged,
            c.failed,
            c.rejected,
            count(Stats::get(&self.stats.requests), "request", "requests"),
            Stats::get(&self.stats.throttled),
        ));
    }

    /// Waits for what is in flight, accounts for what was not sent, closes
    /// the files, prints the summary, and picks the exit status.
    pub(super) fn finish(mut self, res: Result<()>) -> Result<i32> {
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
            let mut items = std::mem::take(&mut self.batch);
            items.extend(
                std::mem::take(&mut self.held)
                    .into_iter()
                    .map(|h| h.pending),
            );
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
        if !abort {
            self.warn_capped();
        }
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
