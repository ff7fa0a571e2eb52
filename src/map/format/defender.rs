//! Defender for Endpoint indicator import objects
//! (docs/design.md#defender-indicators, #mapping), with the exact,
//! case-sensitive field names. Defender keys indicators by
//! `indicatorType` + `indicatorValue`, so each key is written once per run
//! (docs/design.md#ids-and-keys); the set of keys seen holds 16-byte hashes
//! (docs/design.md#memory).

use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::io::output::Output;
use crate::map::format::text;
use crate::map::format::writer::{Emitted, FormatWriter};
use crate::map::indicator::{defender_severity, Indicator, SkipReason, ValueKind};
use crate::time::text::Secs;

/// `--defender-action` (current guidance; `Alert`/`AlertAndBlock` are legacy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Action {
    #[value(name = "Audit")]
    Audit,
    #[value(name = "Warn")]
    Warn,
    #[value(name = "Block")]
    Block,
    #[value(name = "BlockAndRemediate")]
    BlockAndRemediate,
    #[value(name = "Allowed")]
    Allowed,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Audit => "Audit",
            Action::Warn => "Warn",
            Action::Block => "Block",
            Action::BlockAndRemediate => "BlockAndRemediate",
            Action::Allowed => "Allowed",
        }
    }
}

#[derive(Debug, Clone)]
pub struct DefenderOptions {
    pub action: Action,
    pub generate_alert: bool,
}

impl Default for DefenderOptions {
    fn default() -> Self {
        DefenderOptions {
            action: Action::Audit,
            generate_alert: true,
        }
    }
}

impl DefenderOptions {
    /// Refuses combinations Defender rejects.
    pub fn check(&self) -> Result<()> {
        if self.action == Action::Audit && !self.generate_alert {
            return Err(Error::usage(
                "--defender-action Audit needs alerts: drop --no-alert",
            ));
        }
        Ok(())
    }
}

/// Whether Defender treats this kind as a network indicator (no `BlockAndRemediate`).
pub fn is_network(kind: ValueKind) -> bool {
    matches!(
        kind,
        ValueKind::Ipv4 { .. } | ValueKind::Ipv6 { .. } | ValueKind::Domain | ValueKind::Url
    )
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DefenderIndicator<'a> {
    indicator_value: &'a str,
    indicator_type: &'static str,
    action: &'static str,
    generate_alert: bool,
    title: &'a str,
    description: &'a str,
    expiration_time: Secs,
    severity: &'static str,
}

pub const TITLE_MAX: usize = 200;
pub const DESCRIPTION_MAX: usize = 1000;

pub struct DefenderSink {
    out: Output,
    opts: DefenderOptions,
    seen: HashSet<u128>,
    title: String,
    description: String,
    buf: Vec<u8>,
}

/// The 16-byte hash of a Defender key (`indicatorType` + `indicatorValue`), for
/// the per-run set of keys written (also usable by the Defender CSV format).
pub fn key(t: &str, v: &str) -> u128 {
    let half = |salt: u8| {
        let mut h = DefaultHasher::new();
        (salt, t, v).hash(&mut h);
        h.finish() as u128
    };
    half(1) << 64 | half(2)
}

impl DefenderSink {
    pub fn new(out: Output, opts: DefenderOptions) -> Self {
        DefenderSink {
            out,
            opts,
            seen: HashSet::new(),
            title: String::new(),
            description: String::new(),
            buf: Vec::with_capacity(1024),
        }
    }

    fn one(&mut self, ind: &Indicator) -> Result<Option<SkipReason>> {
        let t = match ind.kind.defender_type() {
            Ok(t) => t,
            Err(e) => return Ok(Some(e)),
        };
        if ind.kind == ValueKind::Url && !ind.value.contains("://") {
            return Ok(Some(SkipReason::NotExpressible(
                "defender: relative URI".into(),
            )));
        }
        if self.opts.action == Action::BlockAndRemediate && is_network(ind.kind) {
            return Ok(Some(SkipReason::NotExpressible(
                "defender: BlockAndRemediate on a network indicator".into(),
            )));
        }
        if !self.seen.insert(key(t, &ind.value)) {
            return Ok(Some(SkipReason::DuplicateKey));
        }
        self.title.clear();
        self.title.push_str("MISP: ");
        text::name(ind, &mut self.description);
        self.title.push_str(&self.description);
        text::truncate(&mut self.title, TITLE_MAX);
        text::describe(ind, &mut self.description);
        text::truncate(&mut self.description, DESCRIPTION_MAX);
        let rec = DefenderIndicator {
            indicator_value: &ind.value,
            indicator_type: t,
            action: self.opts.action.as_str(),
            generate_alert: self.opts.generate_alert,
            title: &self.title,
            description: &self.description,
            expiration_time: Secs(ind.valid_until),
            severity: defender_severity(ind.event.threat_level),
        };
        self.buf.clear();
        serde_json::to_writer(&mut self.buf, &rec).expect("serialising to memory");
        self.out.write_line(&self.buf)?;
        Ok(None)
    }
}

impl FormatWriter for DefenderSink {
    fn write(&mut self, parts: &[Indicator]) -> Result<Emitted> {
        let mut written = 0;
        let mut first_err = None;
        for ind in parts {
            // Deletions emit nothing (docs/design.md#retirement); the mapper
            // does not pass them here.
            debug_assert!(!ind.retired);
            match self.one(ind)? {
                None => written += 1,
                Some(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        Ok(match first_err {
            Some(e) if written == 0 => Emitted::Skipped(e),
            _ => Emitted::Written(written),
        })
    }

    fn finish(self: Box<Self>) -> Result<()> {
        self.out.finish()
    }
}
