//! The `ioc-map` run: read MISP JSON records, map each attribute, write the
//! chosen format, account for every attribute (mapped, or skipped with one
//! reason) and every bad line, and end with one summary line on stderr.

use std::collections::HashSet;
use std::path::PathBuf;

use serde::Serialize;

use crate::cli::exit;
use crate::cli::interrupt::Interrupt;
use crate::cli::words::count;
use crate::error::{Error, Result};
use crate::io::input::{Lines, Location};
use crate::io::ndjson::{Record, Records};
use crate::io::output::Output;
use crate::map::context::{Context, ContextMode, Resolver};
use crate::map::format::select::{self, Format, FormatOptions};
use crate::map::format::writer::{Emitted, FormatWriter};
use crate::map::indicator::SkipReason;
use crate::map::mapper::{
    mapped_types, walk, EventFacts, Found, MapOptions, Mapper, ObjectInfo, Parts,
};
use crate::map::policy::allowlist::Allowlist;
use crate::map::policy::warninglist::Warninglists;
use crate::misp::model::{is_feed_manifest, Attribute, Event, Line};
use crate::misp::scan;

/// Everything a run needs (the binary fills it from its flags).
pub struct RunOptions {
    pub files: Vec<String>,
    pub strict: bool,
    pub max_line: usize,
    pub format: Format,
    pub formats: FormatOptions,
    /// `--context`.
    pub context: ContextMode,
    pub map: MapOptions,
    pub allowlists: Vec<PathBuf>,
    pub warninglist_dirs: Vec<PathBuf>,
    /// `--skipped FILE`: one NDJSON line per skipped attribute.
    pub skipped: Option<PathBuf>,
    pub interrupt: Interrupt,
}

/// Most messages about single lines printed before the rest are only counted.
const MAX_MESSAGES: u64 = 100;

#[derive(Default)]
struct Stats {
    attributes: u64,
    mapped: u64,
    skipped: Vec<(&'static str, u64)>,
    written: u64,
    retirements: u64,
    /// Records besides indicators (STIX context objects).
    context_objects: u64,
    bad_lines: u64,
    malformed: u64,
    messages: u64,
}

impl Stats {
    fn skip(&mut self, code: &'static str) {
        match self.skipped.iter_mut().find(|(c, _)| *c == code) {
            Some((_, n)) => *n += 1,
            None => self.skipped.push((code, 1)),
        }
    }

    fn summary(&self, lines: u64) -> String {
        let skipped: u64 = self.skipped.iter().map(|(_, n)| n).sum();
        let mut reasons = self.skipped.clone();
        reasons.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let reasons: Vec<String> = reasons.iter().map(|(c, n)| format!("{c}: {n}")).collect();
        let reasons = if reasons.is_empty() {
            String::new()
        } else {
            format!(" ({})", reasons.join(", "))
        };
        let retired = if self.retirements > 0 {
            format!(
                " ({})",
                count(self.retirements, "retirement", "retirements")
            )
        } else {
            String::new()
        };
        let objects = if self.context_objects > 0 {
            format!(
                ", {} written",
                count(self.context_objects, "context object", "context objects")
            )
        } else {
            String::new()
        };
        format!(
            "ioc-map: {}, {}: {} mapped, {skipped} skipped{reasons}, {} written{retired}{objects}, {}",
            count(lines, "line", "lines"),
            count(self.attributes, "attribute", "attributes"),
            self.mapped,
            count(self.written, "indicator", "indicators"),
            count(self.bad_lines, "bad line", "bad lines")
        )
    }
}

#[derive(Serialize)]
struct SkippedLine<'a> {
    source: String,
    uuid: Option<&'a str>,
    #[serde(rename = "type")]
    kind: Option<&'a str>,
    value: Option<&'a str>,
    reason: String,
}

struct Run {
    mapper: Mapper,
    sink: Box<dyn FormatWriter>,
    /// `--context` (`None`: no clusters are resolved).
    context: ContextMode,
    resolver: Resolver,
    skipped_out: Option<Output>,
    strict: bool,
    parts: Parts,
    stats: Stats,
}

/// Checks flag combinations that the target would refuse (exit 2).
fn check(opts: &RunOptions) -> Result<()> {
    let known: HashSet<&str> = mapped_types().into_iter().collect();
    for t in opts
        .map
        .types
        .iter()
        .flatten()
        .chain(&opts.map.exclude_types)
    {
        if !known.contains(t.as_str()) {
            return Err(Error::usage(format!(
                "--types/--exclude-types: {t:?} is not a MISP type ioc-map maps (see the README's mapping table)"
            )));
        }
    }
    if opts.context == ContextMode::Objects && opts.format != Format::Stix {
        return Err(Error::usage(
            "--context objects applies to --format stix only (the other formats carry context inline)",
        ));
    }
    let csv = matches!(opts.format, Format::SentinelCsv | Format::DefenderCsv);
    if opts.formats.max_rows.is_some() && !csv {
        return Err(Error::usage(
            "--max-rows applies to --format sentinel-csv and defender-csv only",
        ));
    }
    if matches!(opts.format, Format::Defender | Format::DefenderCsv) {
        opts.formats.defender.check()?;
        if opts.formats.defender.action == crate::map::format::defender::Action::BlockAndRemediate {
            let network = [
                "ip-src",
                "ip-dst",
                "ip-src|port",
                "ip-dst|port",
                "domain",
                "hostname",
                "domain|ip",
                "hostname|port",
                "url",
                "link",
                "uri",
                "onion-address",
            ];
            let chosen_network = match &opts.map.types {
                None => true,
                Some(t) => network
                    .iter()
                    .any(|n| t.contains(*n) && !opts.map.exclude_types.contains(*n)),
            };
            if chosen_network {
                return Err(Error::usage(
                    "--defender-action BlockAndRemediate cannot apply to network indicators (IP, domain, URL): \
                     restrict --types to file hashes and certificates, e.g. --types md5,sha1,sha256,x509-fingerprint-sha1",
                ));
            }
        }
    }
    Ok(())
}

/// Runs ioc-map; returns the exit status.
pub fn run(mut opts: RunOptions) -> Result<i32> {
    check(&opts)?;
    opts.map.retirements = opts.format.retirements();
    opts.map.filename_context = opts.format.filename_context();
    opts.formats.tiindicator.include_filenames = opts.map.include_filenames;
    opts.formats.stix.context = opts.context;
    let allowlist = Allowlist::load(&opts.allowlists)?;
    let warninglists = Warninglists::load(&opts.warninglist_dirs)?;
    if !opts.warninglist_dirs.is_empty() {
        eprintln!(
            "ioc-map: {} warninglists loaded ({} entries)",
            warninglists.len(),
            warninglists.entries()
        );
    }
    let skipped_out = match &opts.skipped {
        Some(p) => Some(Output::file(p, p.extension().is_some_and(|e| e == "gz"))?),
        None => None,
    };
    let mut run = Run {
        mapper: Mapper::new(opts.map.clone(), allowlist, warninglists),
        sink: select::open(opts.format, &opts.formats)?,
        context: opts.context,
        resolver: Resolver::default(),
        skipped_out,
        strict: opts.strict,
        parts: Parts::default(),
        stats: Stats::default(),
    };
    let mut records = Records::new(Lines::new(&opts.files, opts.max_line), opts.max_line);
    while let Some(rec) = records.next_record()? {
        if opts.interrupt.fired() {
            break;
        }
        let at = match rec {
            Record::TooLong(at) => {
                run.bad(&at, "line longer than --max-line")?;
                continue;
            }
            Record::Unfinished(at, why) => {
                run.bad(&at, why)?;
                continue;
            }
            Record::Json(at) => at,
        };
        let text = std::mem::take(&mut records.text);
        let res = run.record(&at, &text);
        records.text = text;
        if let Err(Error::Input { msg, .. }) = &res {
            if msg == EOF_MARK {
                // A pretty-printed document: gather its other lines and parse it whole.
                match records.gather(&at)? {
                    Some(Record::Json(at)) => {
                        let text = std::mem::take(&mut records.text);
                        let res = run.record(&at, &text);
                        records.text = text;
                        if let Err(Error::Input { msg, .. }) = &res {
                            let msg = msg.clone();
                            run.bad(&at, &msg)?;
                        } else {
                            res?;
                        }
                    }
                    Some(Record::Unfinished(at, why)) => run.bad(&at, why)?,
                    _ => unreachable!("gather returns a record"),
                }
                continue;
            }
            let msg = msg.clone();
            run.bad(&at, &msg)?;
            continue;
        }
        res?;
    }
    run.stats.context_objects = run.sink.context_objects();
    let Run {
        mapper,
        sink,
        skipped_out,
        stats,
        ..
    } = run;
    let unknown = mapper.unknown_event_tlp();
    if unknown > 0 {
        // docs/design.md#tlp-and-confidence: never TLP:CLEAR, and never silent.
        let what = if unknown == 1 {
            "1 attribute".to_string()
        } else {
            format!("{unknown} attributes")
        };
        eprintln!("ioc-map: warning: {what} came without their event's tags (no TLP tag of their own, no inherited event tags, no Event.Tag): their event's TLP is unknown, so --default-tlp {} applied (misp-pull --scope attributes brings the event's tags)", opts.map.default_tlp.as_str());
    }
    sink.finish()?;
    if let Some(o) = skipped_out {
        o.finish()?;
    }
    eprintln!("{}", stats.summary(records.lines_read));
    if let Some(code) = opts.interrupt.exit_code() {
        return Ok(code);
    }
    Ok(if stats.bad_lines > 0 || stats.malformed > 0 {
        exit::PARTIAL
    } else {
        exit::OK
    })
}

/// The message of a parse error that means "the JSON ended early" (a multi-line document).
const EOF_MARK: &str = "\u{0}eof";

impl Run {
    fn message(&mut self, at: &Location, msg: &str) {
        self.stats.messages += 1;
        if self.stats.messages <= MAX_MESSAGES {
            eprintln!("ioc-map: {at}: {msg}");
        } else if self.stats.messages == MAX_MESSAGES + 1 {
            eprintln!("ioc-map: more messages suppressed; see the summary");
        }
    }

    /// A bad line: reported and counted, or fatal with `--strict`.
    fn bad(&mut self, at: &Location, msg: &str) -> Result<()> {
        if self.strict {
            return Err(Error::input(at.to_string(), msg));
        }
        self.stats.bad_lines += 1;
        self.message(at, msg);
        Ok(())
    }

    /// Parses and maps one record. Parse errors come back as `Error::Input`.
    fn record(&mut self, at: &Location, text: &[u8]) -> Result<()> {
        let json = utf8(text)?;
        let first = text.iter().find(|b| !b.is_ascii_whitespace());
        if first == Some(&b'[') {
            let lines: Vec<Line> = parse(json)?;
            for l in &lines {
                self.line(at, l, text)?;
            }
            return Ok(());
        }
        let line: Line = match scan::line(json) {
            Some(line) => line,
            None => parse(json)?,
        };
        self.line(at, &line, text)
    }

    /// Maps every attribute of one parsed line; a line that is neither an
    /// event nor attributes is a bad line (a feed manifest only a message).
    fn line(&mut self, at: &Location, line: &Line<'_>, text: &[u8]) -> Result<()> {
        self.resolver.new_line();
        walk(line, &mut |found| match found {
            Found::Attribute {
                attr,
                object,
                event,
                source,
            } => self.attribute(at, attr, object, event, source),
            Found::Unknown { nested: false } if is_feed_manifest(text) => {
                self.message(
                    at,
                    "a MISP feed manifest, not an event: skipped (read the event files)",
                );
                Ok(())
            }
            Found::Unknown { .. } => self.bad(at, "neither a MISP event nor an attribute"),
        })
    }

    fn attribute(
        &mut self,
        at: &Location,
        a: &Attribute<'_>,
        obj: Option<ObjectInfo<'_>>,
        ev: &EventFacts<'_>,
        source: Option<&Event<'_>>,
    ) -> Result<()> {
        self.stats.attributes += 1;
        let outcome = match self.mapper.map(a, obj, ev, &mut self.parts) {
            Ok(()) => {
                let ctx = match self.context {
                    ContextMode::None => Context::NONE,
                    _ => self.resolver.context(source, a),
                };
                self.sink.write(self.parts.as_slice(), &ctx)?
            }
            Err(e) => Emitted::Skipped(e),
        };
        match outcome {
            Emitted::Written(n) => {
                self.stats.mapped += 1;
                self.stats.written += n as u64;
                if self.parts.as_slice().first().is_some_and(|p| p.retired) {
                    self.stats.retirements += n as u64;
                }
                Ok(())
            }
            Emitted::Skipped(reason) => self.skipped(at, a, reason),
        }
    }

    fn skipped(&mut self, at: &Location, a: &Attribute<'_>, reason: SkipReason) -> Result<()> {
        self.stats.skip(reason.code());
        if let SkipReason::Malformed(what) = &reason {
            let who = a.uuid.as_deref().unwrap_or("without uuid");
            let msg = format!("attribute {who}: {what}");
            if self.strict {
                return Err(Error::input(at.to_string(), msg));
            }
            self.stats.malformed += 1;
            self.message(at, &msg);
        }
        if let Some(out) = &mut self.skipped_out {
            out.write_json(&SkippedLine {
                source: at.to_string(),
                uuid: a.uuid.as_deref(),
                kind: a.kind.as_deref(),
                value: a.value.as_deref(),
                reason: reason.to_string(),
            })?;
        }
        Ok(())
    }
}

/// One UTF-8 check of the whole line: `from_str` and the scanner then do not
/// check every string again as `from_slice` does.
fn utf8(text: &[u8]) -> Result<&str> {
    std::str::from_utf8(text)
        .map_err(|e| Error::input(String::new(), format!("not valid JSON: not UTF-8: {e}")))
}

fn parse<'a, T: serde::Deserialize<'a>>(text: &'a str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| {
        let msg = if e.is_eof() {
            EOF_MARK.to_string()
        } else if e.is_data() {
            format!("cannot read this MISP record: {e}")
        } else {
            format!("not valid JSON: {e}")
        };
        Error::input(String::new(), msg)
    })
}
