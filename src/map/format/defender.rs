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
use crate::map::context::Context;
use crate::map::format::text;
use crate::map::format::writer::{write_each, Emitted, FormatWriter, Outcome};
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

/// The Defender keys (`indicatorType` + `indicatorValue`) written in this
/// run, as 16-byte hashes: each key is written once (also by `defender-csv`).
#[derive(Default)]
pub struct WrittenKeys(HashSet<u128>);

impl WrittenKeys {
    /// Whether this is the first time the key is written (it is remembered).
    pub fn first(&mut self, indicator_type: &str, value: &str) -> bool {
        let half = |salt: u8| {
            let mut h = DefaultHasher::new();
            (salt, indicator_type, value).hash(&mut h);
            h.finish() as u128
        };
        self.0.insert(half(1) << 64 | half(2))
    }
}

/// The `indicatorType` of an indicator, or why `format` (`defender`,
/// `defender-csv`) cannot send it with `action`.
pub fn indicator_type(
    ind: &Indicator,
    action: Action,
    format: &str,
) -> std::result::Result<&'static str, SkipReason> {
    let t = ind.kind.defender_type()?;
    let refuse = |why: &str| Err(SkipReason::NotExpressible(format!("{format}: {why}")));
    if ind.kind == ValueKind::Url && !ind.value.contains("://") {
        return refuse("relative URI");
    }
    if action == Action::BlockAndRemediate && is_network(ind.kind) {
        return refuse("BlockAndRemediate on a network indicator");
    }
    Ok(t)
}

/// The `title` (`MISP: <name>`) and `description` of an indicator, cut to
/// Defender's limits (also the Title and Description of `defender-csv`).
pub fn title_and_description(ind: &Indicator, title: &mut String, description: &mut String) {
    text::name(ind, description);
    title.clear();
    title.push_str("MISP: ");
    title.push_str(description);
    text::truncate(title, TITLE_MAX);
    text::describe(ind, description);
    text::truncate(description, DESCRIPTION_MAX);
}

pub struct DefenderWriter {
    out: Output,
    opts: DefenderOptions,
    seen: WrittenKeys,
    title: String,
    description: String,
    buf: Vec<u8>,
}

impl DefenderWriter {
    pub fn new(out: Output, opts: DefenderOptions) -> Self {
        DefenderWriter {
            out,
            opts,
            seen: WrittenKeys::default(),
            title: String::new(),
            description: String::new(),
            buf: Vec::with_capacity(1024),
        }
    }

    fn one(&mut self, ind: &Indicator) -> Result<Outcome> {
        // Deletions emit nothing (docs/design.md#retirement); the mapper
        // does not pass them here.
        debug_assert!(!ind.retired);
        let t = match indicator_type(ind, self.opts.action, "defender") {
            Ok(t) => t,
            Err(e) => return Ok(Outcome::Skipped(e)),
        };
        if !self.seen.first(t, &ind.value) {
            return Ok(Outcome::Skipped(SkipReason::DuplicateKey));
        }
        title_and_description(ind, &mut self.title, &mut self.description);
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
        Ok(Outcome::Written)
    }
}

impl FormatWriter for DefenderWriter {
    /// The import API's Indicator documents no field for ATT&CK techniques,
    /// actors or malware: the context is not written (docs/design.md#context-objects).
    fn write(&mut self, parts: &[Indicator], _: &Context<'_>) -> Result<Emitted> {
        write_each(parts, |ind| self.one(ind))
    }

    fn finish(self: Box<Self>) -> Result<()> {
        self.out.finish()
    }
}
