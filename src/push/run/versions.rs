//! What the ledger changes in the records a run sends (docs/design.md#retirement, #results):
//! STIX version bumps with the first `created` kept, and the retirements
//! `--retire-missing` builds from the records the ledger remembers.

use std::sync::Arc;

use serde_json::Value;

use crate::error::{Error, Result};
use crate::push::ledger::Entry;
use crate::push::record::{self, Facts, RecordKind};
use crate::push::setup::TOOL;
use crate::push::targets::Target;
use crate::time;

use super::start::{Pending, Run, Source};

impl Run {
    /// For a STIX key the ledger knows: keep the first `created`, and make
    /// `modified` later than the version last sent (docs/design.md#results). Returns the
    /// new body, or None when the record can go as it is.
    pub(super) fn bump_version(
        &mut self,
        v: &mut Value,
        facts: &Facts,
        entry: &Entry,
    ) -> Result<Option<Vec<u8>>> {
        let ledger = self
            .ledger
            .as_mut()
            .expect("a ledger entry implies a ledger");
        let (_, stored) = ledger.stored(entry)?;
        let sent_modified = stored
            .get("modified")
            .and_then(Value::as_str)
            .and_then(time::parse_rfc3339);
        let created = stored.get("created").cloned();
        let incoming = facts.modified.expect("STIX facts have modified");
        let mut modified = incoming;
        if let Some(sent) = sent_modified {
            if modified <= sent {
                modified = sent + chrono::Duration::milliseconds(1);
            }
        }
        let o = v.as_object_mut().expect("a record is an object");
        let mut changed = false;
        if modified != incoming {
            o.insert(
                "modified".into(),
                Value::String(time::fmt_millis(&modified)),
            );
            changed = true;
        }
        if let Some(c) = created {
            if o.get("created") != Some(&c) {
                o.insert("created".into(), c);
                changed = true;
            }
        }
        Ok(changed.then(|| serde_json::to_vec(v).expect("a Value serialises")))
    }

    /// `--retire-missing`: retires every live key the input did not hold,
    /// unless that is more than `--max-retire` of them (docs/design.md#retirement).
    pub(super) fn retire_missing(&mut self) -> Result<()> {
        let Some(ledger) = self.ledger.as_mut() else {
            return Ok(());
        };
        let mut live = ledger.active_count(self.now_ms);
        // Left alone (docs/design.md#context-objects), neither counted against
        // --max-retire nor said to be retired: a shared context object, which
        // describes the world, not this input; and a relationship whose
        // indicator left the input or lapsed, as it lapses with it. The latter
        // are not counted among the live keys either.
        let mut missing = Vec::new();
        for key_hash in ledger.missing(self.now_ms) {
            let entry = ledger.get(key_hash).expect("listed keys are indexed");
            let stored = ledger.stored(&entry)?.1;
            if record::is_shared(&stored) {
                continue;
            }
            if let Some(Ok([source, _])) = record::relationship_ends(&stored) {
                let from = ledger.get(record::key_hash(RecordKind::Stix, &source));
                if !from.is_some_and(|e| e.active(self.now_ms) && e.seen()) {
                    live -= 1;
                    continue;
                }
            }
            missing.push(key_hash);
        }
        let limit = (live as f64 * self.opts.max_retire / 100.0).floor() as usize;
        if missing.len() > limit && !self.opts.force {
            return Err(Error::Other(format!(
                "--retire-missing: refusing to retire {} of {live} live keys (more than \
                 --max-retire {}%): is the input complete? Nothing was retired; use --force \
                 to retire them anyway",
                missing.len(),
                self.opts.max_retire
            )));
        }
        if !missing.is_empty() {
            eprintln!(
                "{TOOL}: retiring {} live keys absent from the input",
                missing.len()
            );
        }
        let source: Source = Arc::from("ledger");
        for key_hash in missing {
            if self.stopping() {
                break;
            }
            self.drain(false)?;
            let ledger = self.ledger.as_mut().expect("checked above");
            let entry = ledger.get(key_hash).expect("listed keys are indexed");
            let (key, stored) = ledger.stored(&entry)?;
            let retirement = self.retirement(stored, &entry);
            let line = serde_json::to_vec(&retirement).expect("a Value serialises");
            let kind = self.opts.target.kind();
            let mut facts = match record::facts(kind, &retirement, &self.now) {
                Ok(f) => f,
                Err(msg) => {
                    return Err(Error::Other(format!(
                        "ledger record of {key} unusable: {msg}"
                    )))
                }
            };
            // Its `valid_until` is not after its `modified`: `facts` sees a retirement.
            debug_assert!(!facts.live);
            facts.live = false;
            self.counts.records += 1;
            self.counts.from_ledger += 1;
            let echo = record::echo_of(kind, &retirement);
            self.enqueue(Pending {
                source: Arc::clone(&source),
                body: line.clone(),
                line,
                facts,
                echo,
                took_slot: false,
                frees_slot: self.opts.target == Target::Defender,
            })?;
        }
        Ok(())
    }

    /// The retirement of a stored record: validity ends now (docs/design.md#retirement).
    /// It is built from what the ledger kept of the record (`ledger::kept`).
    fn retirement(&self, mut rec: Value, entry: &Entry) -> Value {
        let now = self.now;
        let o = rec.as_object_mut().expect("stored records are objects");
        match self.opts.target {
            Target::Sentinel => {
                let last = o
                    .get("modified")
                    .and_then(Value::as_str)
                    .and_then(time::parse_rfc3339)
                    .unwrap_or(record::from_millis(entry.modified));
                let from = o
                    .get("valid_from")
                    .and_then(Value::as_str)
                    .and_then(time::parse_rfc3339)
                    .unwrap_or(now);
                let until = now.max(from + chrono::Duration::milliseconds(1));
                // Newer than the version sent, and never before its own end of
                // validity: that is what makes it a retirement, whatever clock
                // reads it later (a replay from --failed).
                let modified = now.max(last + chrono::Duration::milliseconds(1)).max(until);
                o.insert(
                    "modified".into(),
                    Value::String(time::fmt_millis(&modified)),
                );
                if o.get("type").and_then(Value::as_str) == Some("indicator") {
                    o.insert(
                        "valid_until".into(),
                        Value::String(time::fmt_millis(&until)),
                    );
                } else {
                    // A relationship has no validity: it is revoked.
                    o.insert("revoked".into(), Value::Bool(true));
                }
            }
            Target::Defender => {
                o.insert("expirationTime".into(), Value::String(time::fmt_secs(&now)));
            }
            Target::Graph => {
                o.insert(
                    "expirationDateTime".into(),
                    Value::String(time::fmt_secs(&now)),
                );
                // The tiIndicator page's way to deactivate an indicator.
                o.insert("isActive".into(), Value::Bool(false));
            }
        }
        rec
    }
}

/// Without a ledger, a later copy of a STIX key this run already sent, with
/// other content, goes as a newer version: `modified` one millisecond past
/// the one sent if need be (docs/design.md#results). Its `created` stays as given: the
/// copies of one attribute share it. Updates `facts` to the version as sent.
pub(super) fn bump_past_sent(v: &mut Value, facts: &mut Facts, sent_ms: i64) -> Option<Vec<u8>> {
    let incoming = facts.modified?;
    if record::millis(&incoming) > sent_ms {
        return None;
    }
    let modified = record::from_millis(sent_ms) + chrono::Duration::milliseconds(1);
    let o = v.as_object_mut().expect("a record is an object");
    o.insert(
        "modified".into(),
        Value::String(time::fmt_millis(&modified)),
    );
    facts.modified = Some(modified);
    Some(serde_json::to_vec(v).expect("a Value serialises"))
}
