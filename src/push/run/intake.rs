//! The input side of a run: every record read, checked, decided against the
//! ledger (or what this run already sent) and put into the batch.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::start::{Held, Pending, Run, Source};
use super::versions;
use crate::cli::words::count;
use crate::error::{Error, Result};
use crate::io::input::{Lines, Next, Polled};
use crate::push::record::{self, RecordKind};
use crate::push::setup::TOOL;
use crate::push::targets::Target;
use crate::time;

/// How `refused` names an end skipped as never sent (a retirement of a key the
/// target never had): its relationships can never be sent.
const SKIPPED_NEVER_SENT: &str = "skipped as never sent";

/// How long the intake waits on a silent stream before it looks for a signal
/// (and for answers) again.
const IDLE_CHECK: Duration = Duration::from_millis(100);

impl Run {
    /// Reads every input record, then builds the retirements if asked.
    pub(super) fn main_pass(&mut self) -> Result<()> {
        // A stream (stdin, a pipe) is read on a thread of its own: a producer that
        // keeps the pipe open and sends nothing does not keep a signal waiting.
        let mut lines = Lines::new(&self.opts.files, self.opts.max_line).with_streams_on_thread();
        let mut buf = Vec::new();
        loop {
            self.drain(false)?;
            self.release_held()?;
            if self.stopping() {
                break;
            }
            match lines.poll_line(&mut buf, IDLE_CHECK)? {
                Polled::End => break,
                Polled::Idle => {
                    self.show_progress();
                    continue;
                }
                Polled::Line(Next::TooLong(at)) => {
                    let msg = format!("line longer than --max-line {} bytes", self.opts.max_line);
                    self.malformed(&at.to_string(), None, &msg)?;
                }
                Polled::Line(Next::Line(at)) => {
                    let source: Source = Arc::from(at.to_string());
                    let line = std::mem::take(&mut buf);
                    self.take_record(source, line)?;
                }
            }
            if self.counts.records.is_multiple_of(1000) {
                self.show_progress();
            }
        }
        if self.stopping() {
            self.keep_unread(&mut lines, &mut buf)?;
        }
        if !self.stopping() && self.opts.retire_missing {
            self.retire_missing()?;
        }
        self.flush_held()?;
        if !self.stopping() {
            self.submit()?;
        }
        Ok(())
    }

    /// A line that is not a usable record: counted, reported, kept in `--rejected`.
    /// A run that stopped (fatal error, signal) has FILE lines it never read: each
    /// goes to `--failed` as it is, with a `failed` result. Otherwise a replay file
    /// given as input and as `--failed` (`--failed F F new`) would lose its unread
    /// lines. So do the lines a stream's thread had read ahead. The rest of stdin
    /// (and of any other stream) is left alone: its producer's window is pulled
    /// again, as the pipeline's state is not committed after a stop.
    /// Without `--failed` the files are not read on, but the lines read ahead
    /// still get their results.
    pub(super) fn keep_unread(&mut self, lines: &mut Lines, buf: &mut Vec<u8>) -> Result<()> {
        if self.failed_out.is_some() {
            lines.stop_at_streams();
        } else {
            lines.only_read_ahead();
        }
        let interrupted = self.interrupt.fired();
        let mut kept = 0u64;
        while let Some(next) = lines.next_line(buf)? {
            let Next::Line(at) = next else {
                continue; // too long to keep; it would have been rejected
            };
            // A line read ahead from a pipe is one of the records not sent.
            let reason = match (interrupted, lines.on_thread()) {
                (true, true) => "interrupted",
                (true, false) => "interrupted: not read",
                (false, _) => "not read: the run stopped",
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
            let kept_in = if self.failed_out.is_some() {
                "kept as failed"
            } else {
                "reported as failed"
            };
            eprintln!(
                "{TOOL}: {} not read before the stop {kept_in}",
                count(kept, "input line", "input lines")
            );
        }
        Ok(())
    }

    pub(super) fn malformed(&mut self, source: &str, line: Option<&[u8]>, msg: &str) -> Result<()> {
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

    /// One input record: checks, ledger decisions, and into the batch.
    pub(super) fn take_record(&mut self, source: Source, line: Vec<u8>) -> Result<()> {
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
        let ends = match record::relationship_ends(&v) {
            None => None,
            Some(Ok(ends)) => Some(ends),
            Some(Err(msg)) => return self.malformed(&source, Some(&line), &msg),
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
        if ends.is_some() && facts.live && entry.is_some_and(|e| !e.live()) {
            // A retired relationship is revoked, and STIX allows no version
            // after a revocation (docs/design.md#context-objects).
            let reason = "revoked earlier: a revoked STIX object takes no later version";
            return self.status(&facts.key, "skipped", Some(reason), &source);
        }
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
            // Its relationships, if any, could never be sent: see `settle`.
            self.refused.insert(facts.key_hash, SKIPPED_NEVER_SENT);
            return self.status(&facts.key, "skipped", Some("never sent"), &source);
        }
        let was_active = entry.is_some_and(|e| e.active(self.now_ms));
        let mut took_slot = false;
        if self.opts.target == Target::Defender && facts.live && !was_active {
            if self.active >= self.opts.max_active {
                self.counts.capped += 1;
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
        let echo = record::echo_of(kind, &v);
        let pending = Pending {
            source,
            line,
            body,
            facts,
            echo,
            took_slot,
            frees_slot: was_active && self.opts.target == Target::Defender,
        };
        match ends {
            // A retirement of a relationship needs no ends: it only ends it.
            Some(ends) if pending.facts.live => self.hold(Held { pending, ends }),
            _ => self.enqueue(pending),
        }
    }

    /// The most relationships held at once: those whose ends travel in the batch
    /// or in a request in flight; beyond it, the oldest one's ends are waited for.
    fn max_held(&self) -> usize {
        self.batch_size * (self.opts.parallel + 1) * 4
    }

    /// Sends a relationship once both its ends were accepted in an earlier
    /// request or are in the ledger; holds it while an end is on its way
    /// (docs/design.md#context-objects).
    fn hold(&mut self, h: Held) -> Result<()> {
        // A later copy of the same key waits for this one (see `wait_for`).
        self.on_the_way.insert(h.pending.facts.key_hash);
        self.held.push_back(h);
        self.release_held()?;
        while self.held.len() > self.max_held() && !self.stopping() {
            let ends = self.held.front().expect("not empty").ends.clone();
            for end in &ends {
                self.wait_for(record::key_hash(RecordKind::Stix, end))?;
            }
            self.release_held()?;
        }
        Ok(())
    }

    fn end_on_the_way(&self, end: &str) -> bool {
        self.on_the_way
            .contains(&record::key_hash(RecordKind::Stix, end))
    }

    /// Sends or skips each held relationship none of whose ends is on its way.
    pub(super) fn release_held(&mut self) -> Result<()> {
        if self.held.is_empty() {
            return Ok(());
        }
        let mut waiting = std::collections::VecDeque::new();
        let mut ready = Vec::new();
        for h in std::mem::take(&mut self.held) {
            if h.ends.iter().any(|e| self.end_on_the_way(e)) {
                waiting.push_back(h);
            } else {
                ready.push(h);
            }
        }
        self.held = waiting;
        for h in ready {
            self.settle(h)?;
        }
        Ok(())
    }

    /// Before the input's end is final: sends the batch and waits for the
    /// answers until no relationship is held.
    fn flush_held(&mut self) -> Result<()> {
        while !self.held.is_empty() && !self.stopping() {
            if !self.batch.is_empty() {
                self.submit()?;
            } else if self.in_flight > 0 {
                self.drain(true)?;
            }
            self.release_held()?;
        }
        Ok(())
    }

    /// Why an end keeps its relationship back, or None if it was accepted.
    fn end_missing(&self, end: &str) -> Option<String> {
        let h = record::key_hash(RecordKind::Stix, end);
        let known = self.ledger.as_ref().is_some_and(|l| l.get(h).is_some())
            || self.run_keys.get(h).is_some();
        if known {
            return None;
        }
        Some(match self.refused.get(&h) {
            Some(status) => format!("end {end} was {status}"),
            None => {
                format!("end {end} was not accepted earlier in this run nor held in the ledger")
            }
        })
    }

    /// A relationship whose ends are no longer on their way: into the batch if
    /// both were accepted; otherwise `skipped`, and kept in `--failed` (once a
    /// run) so that a replay sends it once its ends are there; not when an end
    /// was skipped as never sent, which no replay can change.
    fn settle(&mut self, h: Held) -> Result<()> {
        let missing: Vec<String> = h.ends.iter().filter_map(|e| self.end_missing(e)).collect();
        let reason = missing.join("; ");
        if missing.is_empty() {
            self.on_the_way.remove(&h.pending.facts.key_hash);
            return self.enqueue(h.pending);
        }
        let p = h.pending;
        self.on_the_way.remove(&p.facts.key_hash);
        let can_come = h.ends.iter().all(|e| {
            self.refused.get(&record::key_hash(RecordKind::Stix, e)) != Some(&SKIPPED_NEVER_SENT)
        });
        if can_come && self.kept_relationships.insert(p.facts.key_hash) {
            if let Some(f) = self.failed_out.as_mut() {
                f.write_line(&p.line)?;
            }
        }
        self.status(&p.facts.key, "skipped", Some(&reason), &p.source)
    }

    /// A result decided here, without the remote.
    pub(super) fn status(
        &mut self,
        key: &str,
        status: &str,
        reason: Option<&str>,
        src: &str,
    ) -> Result<()> {
        match status {
            "unchanged" => self.counts.unchanged += 1,
            "stale" => self.counts.stale += 1,
            _ => self.counts.skipped += 1,
        }
        self.result(Some(key), status, reason, src)
    }

    /// Waits until no copy of `key_hash` is on its way: sends the batch that
    /// holds it, then handles answers until its own has come.
    pub(super) fn wait_for(&mut self, key_hash: u128) -> Result<()> {
        while self.on_the_way.contains(&key_hash) {
            if self.batch.iter().any(|p| p.facts.key_hash == key_hash) {
                self.submit()?;
            } else if self.in_flight > 0 {
                self.drain(true)?;
            } else if let Some(h) = self
                .held
                .iter()
                .find(|h| h.pending.facts.key_hash == key_hash)
            {
                let ends = h.ends.clone();
                for end in &ends {
                    self.wait_for(record::key_hash(RecordKind::Stix, end))?;
                }
                self.release_held()?;
            } else {
                debug_assert!(false, "a key on its way is in the batch or in flight");
                self.on_the_way.remove(&key_hash);
            }
        }
        Ok(())
    }

    pub(super) fn enqueue(&mut self, p: Pending) -> Result<()> {
        self.on_the_way.insert(p.facts.key_hash);
        self.batch.push(p);
        if self.batch.len() >= self.batch_size {
            self.submit()?;
        }
        Ok(())
    }
}
