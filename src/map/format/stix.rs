//! STIX 2.1 `indicator` objects for Sentinel's STIX objects upload API
//! (docs/design.md#sentinel-stix-upload, #mapping): one comparison per
//! pattern, STIX pattern escaping (docs/design.md#mapping), TLP 1.0 markings
//! (docs/design.md#tlp-and-confidence), millisecond UTC times.

use std::borrow::Borrow;

use crate::error::Result;
use crate::io::output::Output;
use crate::json::write as jsonw;
use crate::map::format::text;
use crate::map::format::writer::{Emitted, FormatWriter};
use crate::map::indicator::{HashAlgo, Indicator, SkipReason, Tlp, ValueKind};
use crate::misp::value::trim;
use crate::time::text::Millis;
use crate::time::Timestamp;

#[derive(Debug, Clone, Default)]
pub struct StixOptions {
    /// `--misp-url`: adds the event's URL to `external_references`.
    pub misp_url: Option<String>,
}

/// The STIX 2.1 TLP marking-definition ids (TLP 1.0, docs/design.md#tlp-and-confidence).
pub fn tlp_marking(tlp: Tlp) -> &'static str {
    match tlp {
        Tlp::Clear => "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9",
        Tlp::Green => "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
        Tlp::Amber | Tlp::AmberStrict => "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82",
        Tlp::Red => "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed",
    }
}

/// The STIX hash key, quoted where it is not a plain identifier (docs/design.md#mapping);
/// `None` where no key is right (`sha512/224` and `sha512/256`).
fn hash_key(a: HashAlgo) -> Option<&'static str> {
    use HashAlgo::*;
    Some(match a {
        Md5 => "MD5",
        Sha1 => "'SHA-1'",
        Sha224 => "'SHA-224'",
        Sha256 => "'SHA-256'",
        Sha384 => "'SHA-384'",
        Sha512 => "'SHA-512'",
        Sha3_224 => "'SHA3-224'",
        Sha3_256 => "'SHA3-256'",
        Sha3_384 => "'SHA3-384'",
        Sha3_512 => "'SHA3-512'",
        Ssdeep => "SSDEEP",
        Tlsh => "TLSH",
        Imphash => "IMPHASH",
        Impfuzzy => "IMPFUZZY",
        Authentihash => "AUTHENTIHASH",
        Vhash => "VHASH",
        Pehash => "PEHASH",
        Telfhash => "TELFHASH",
        Cdhash => "CDHASH",
        Sha512_224 | Sha512_256 => return None,
    })
}

/// Writes a single-quoted STIX string literal: `\` → `\\` first, then `'` → `\'`.
pub fn push_quoted(out: &mut String, v: &str) {
    out.push('\'');
    if memchr::memchr2(b'\\', b'\'', v.as_bytes()).is_none() {
        out.push_str(v);
        out.push('\'');
        return;
    }
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            c => out.push(c),
        }
    }
    out.push('\'');
}

/// What a pattern is made of.
enum Shape {
    /// `[<path><key> = '<value>']`: one comparison with a string literal.
    Compare(&'static str, &'static str),
    /// `[autonomous-system:number = <value>]`: an integer property, a bare
    /// number (docs/design.md#mapping).
    Number,
    /// Not a STIX pattern: the rule itself, in its own language.
    Rule(&'static str),
}

fn shape(ind: &Indicator) -> Result<Shape, SkipReason> {
    let path = match ind.kind {
        ValueKind::Ipv4 { .. } => "ipv4-addr:value",
        ValueKind::Ipv6 { .. } => "ipv6-addr:value",
        ValueKind::Domain => "domain-name:value",
        ValueKind::Url => "url:value",
        ValueKind::Email => "email-addr:value",
        ValueKind::EmailDisplayName => "email-addr:display_name",
        ValueKind::EmailSubject => "email-message:subject",
        ValueKind::EmailReplyTo => "email-message:additional_header_fields.reply_to",
        ValueKind::EmailXMailer => "email-message:additional_header_fields.x_mailer",
        ValueKind::EmailAttachment => "email-message:body_multipart[*].body_raw_ref.name",
        ValueKind::Hash(a) => {
            let key = hash_key(a).ok_or_else(|| {
                SkipReason::NotExpressible(format!(
                    "stix: no correct hash key for {}",
                    ind.part_type
                ))
            })?;
            return Ok(Shape::Compare("file:hashes.", key));
        }
        ValueKind::X509(a) => {
            let key = hash_key(a).expect("md5, sha1 or sha256");
            return Ok(Shape::Compare("x509-certificate:hashes.", key));
        }
        ValueKind::FileName => "file:name",
        ValueKind::RegistryKey => "windows-registry-key:key",
        ValueKind::Mutex => "mutex:name",
        ValueKind::AutonomousSystem => return Ok(Shape::Number),
        ValueKind::MacAddress => "mac-addr:value",
        ValueKind::UserAgent => {
            "network-traffic:extensions.'http-request-ext'.request_header.'User-Agent'"
        }
        ValueKind::GithubUsername => "user-account:account_login",
        ValueKind::Rule(lang) => return Ok(Shape::Rule(lang.as_str())),
    };
    Ok(Shape::Compare(path, ""))
}

/// Builds the pattern into `out`; returns its `pattern_type`.
pub fn pattern(ind: &Indicator, out: &mut String) -> Result<&'static str, SkipReason> {
    Ok(build(shape(ind)?, ind, out))
}

fn build(shape: Shape, ind: &Indicator, out: &mut String) -> &'static str {
    out.clear();
    match shape {
        Shape::Compare(path, key) => {
            out.push('[');
            out.push_str(path);
            out.push_str(key);
            out.push_str(" = ");
            push_quoted(out, &ind.value);
            out.push(']');
        }
        Shape::Number => {
            out.push_str("[autonomous-system:number = ");
            out.push_str(&ind.value);
            out.push(']');
        }
        Shape::Rule(lang) => {
            out.push_str(&ind.value);
            return lang;
        }
    }
    "stix"
}

/// Whether `v` needs no escaping at all, neither in a STIX literal (`\`,
/// `'`) nor in JSON (`"`, `\`, control characters). No early exit: a few
/// vector instructions per 16 bytes.
fn plain(v: &str) -> bool {
    v.bytes().fold(true, |ok, b| {
        ok & (b >= 0x20) & (b != b'\\') & (b != b'\'') & (b != b'"')
    })
}

/// Longest `name` and `description` written.
pub const NAME_MAX: usize = 256;
pub const DESCRIPTION_MAX: usize = 1024;

/// The JSON text of a part of the record that repeats from one indicator to
/// the next (an event's name, labels, references, …), for the last few
/// sources seen (attributes of one event alternate between a few categories
/// and tag sets): built again only for a source not among them.
struct Memo<K: ?Sized + ToOwned> {
    entries: Vec<(K::Owned, Vec<u8>)>,
    /// Per entry: the last non-zero context key it was written for (0: none).
    keys: Vec<u64>,
    /// Per entry: when it was used last (the least recently used one goes
    /// first; entries are not moved, their texts not copied).
    used: Vec<u64>,
    clock: u64,
    /// The entry used last.
    last: usize,
}

/// Sources remembered per part (a linear search: keep it small).
const MEMO_SIZE: usize = 4;

impl<K: ?Sized + ToOwned + PartialEq> Memo<K> {
    fn new() -> Self {
        Memo {
            entries: Vec::with_capacity(MEMO_SIZE),
            keys: Vec::with_capacity(MEMO_SIZE),
            used: Vec::with_capacity(MEMO_SIZE),
            clock: 0,
            last: 0,
        }
    }

    /// Appends the text used last (for the same key as last time).
    fn repeat(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.entries[self.last].1);
    }

    /// Entry `i` is used now: its text is appended to `out`.
    fn use_entry(&mut self, i: usize, out: &mut Vec<u8>) {
        self.clock += 1;
        self.used[i] = self.clock;
        self.last = i;
        out.extend_from_slice(&self.entries[i].1);
    }

    /// [`Memo::write`], found by a non-zero context key when it was seen
    /// (no comparison of the source then).
    fn write_keyed(
        &mut self,
        out: &mut Vec<u8>,
        context: u64,
        key: &K,
        build: impl FnOnce(&K, &mut Vec<u8>),
    ) {
        if context != 0 {
            if let Some(i) = self.keys.iter().position(|&k| k == context) {
                self.use_entry(i, out);
                return;
            }
        }
        self.write(out, key, build);
        self.keys[self.last] = context;
    }

    /// Appends the text for `key` to `out`; `build` writes it when `key` is new.
    fn write(&mut self, out: &mut Vec<u8>, key: &K, build: impl FnOnce(&K, &mut Vec<u8>)) {
        let i = match self.entries.iter().position(|(k, _)| k.borrow() == key) {
            Some(i) => i,
            None => {
                let i = if self.entries.len() < MEMO_SIZE {
                    self.entries.push((key.to_owned(), Vec::new()));
                    self.keys.push(0);
                    self.used.push(0);
                    self.entries.len() - 1
                } else {
                    // The least recently used entry, reusing its allocations.
                    (0..MEMO_SIZE)
                        .min_by_key(|&i| self.used[i])
                        .expect("entries")
                };
                let (k, json) = &mut self.entries[i];
                key.clone_into(k);
                json.clear();
                build(key, json);
                self.keys[i] = 0;
                i
            }
        };
        self.use_entry(i, out);
    }
}

/// Pending records are passed on in blocks of at least this size: as large as
/// the output's own buffer, which then writes them without copying.
const FLUSH_AT: usize = 256 * 1024;

/// Dates kept (see [`StixSink::days`]).
const DAYS_CACHED: usize = 4;

/// Texts of `valid_until` kept (see [`StixSink::time`]).
const UNTIL_CACHED: usize = 4;

pub struct StixSink {
    /// `None` once finished.
    out: Option<Output>,
    opts: StixOptions,
    pattern: String,
    name: String,
    description: String,
    /// Records written and not yet passed on (newline-terminated), then the
    /// record being built from `start`: records are serialised in place, not
    /// copied once more into the output's buffer.
    buf: Vec<u8>,
    start: usize,
    /// The last text of each of the four time fields (of `valid_until`, the
    /// last few): consecutive indicators of one event mostly share them, and
    /// formatting dates is not free.
    stamps: [(Timestamp, [u8; 26]); 3 + UNTIL_CACHED],
    /// The `valid_until` entry to replace next.
    until_next: usize,
    /// The text of the last few dates written (`YYYY-MM-DD`): one event's
    /// times fall on a few days, and a date is the costly part of a time to write.
    days: [(Option<chrono::NaiveDate>, [u8; 10]); DAYS_CACHED],
    /// The `days` entry to replace next.
    day_next: usize,
    created_by: Memo<Option<String>>,
    name_json: Memo<str>,
    kill_chain: Memo<[(String, String)]>,
    labels: Memo<[String]>,
    references: Memo<str>,
    /// The event key (`ContextKey::event`) of the last record written (0: none).
    last_event: u64,
}

impl StixSink {
    /// Writes time field `i` (quoted), from the cache when unchanged. The
    /// last field, `valid_until`, takes one of a few values per event (one
    /// per expiry), which alternate: it has [`UNTIL_CACHED`] entries.
    fn time(&mut self, mut i: usize, t: Timestamp) {
        if i == 3 {
            match self.stamps[3..].iter().position(|(last, _)| *last == t) {
                Some(k) => i = 3 + k,
                None => {
                    i = 3 + self.until_next;
                    self.until_next = (self.until_next + 1) % UNTIL_CACHED;
                }
            }
        }
        let (last, text) = &mut self.stamps[i];
        if *last != t || text[0] != b'"' {
            let date = t.date_naive();
            let written = text[0] == b'"';
            let digits: &mut [u8; 24] = (&mut text[1..25]).try_into().expect("24 bytes");
            match self.days.iter().find(|(d, _)| *d == Some(date)) {
                // A text written before: only the date and time are new.
                Some((_, ymd)) if written => Millis(t).on_date(ymd, digits),
                _ => {
                    let Some(fixed) = Millis(t).fixed() else {
                        jsonw::time(&mut self.buf, Millis(t)); // outside years 0–9999: not cached
                        return;
                    };
                    *digits = fixed;
                    text[0] = b'"';
                    text[25] = b'"';
                    let ymd = fixed[..10].try_into().expect("10 bytes");
                    self.days[self.day_next] = (Some(date), ymd);
                    self.day_next = (self.day_next + 1) % DAYS_CACHED;
                }
            }
            *last = t;
        }
        self.buf.extend_from_slice(text);
    }

    pub fn new(out: Output, mut opts: StixOptions) -> Self {
        opts.misp_url = opts.misp_url.map(|u| u.trim_end_matches('/').to_string());
        StixSink {
            out: Some(out),
            opts,
            pattern: String::new(),
            name: String::new(),
            description: String::new(),
            buf: Vec::with_capacity(FLUSH_AT + 64 * 1024),
            start: 0,
            stamps: [(Timestamp::default(), [0; 26]); 3 + UNTIL_CACHED],
            until_next: 0,
            days: [(None, [0; 10]); DAYS_CACHED],
            day_next: 0,
            created_by: Memo::new(),
            name_json: Memo::new(),
            kill_chain: Memo::new(),
            labels: Memo::new(),
            references: Memo::new(),
            last_event: 0,
        }
    }

    /// Serialises one indicator as one JSON object (no newline) at the end of
    /// the pending records ([`StixSink::buffer`] shows it).
    pub fn record(&mut self, ind: &Indicator) -> Result<(), SkipReason> {
        self.start = self.buf.len();
        let shape = shape(ind)?;
        // The same event as the record before: the parts that depend on the
        // event alone are reused as they are.
        let same = ind.context.event != 0 && ind.context.event == self.last_event;
        if !same {
            text::name(ind, &mut self.name);
            text::truncate(&mut self.name, NAME_MAX);
        }
        text::describe(ind, &mut self.description);
        text::truncate(&mut self.description, DESCRIPTION_MAX);
        let event_uuid = ind
            .event
            .uuid
            .as_deref()
            .map(trim)
            .filter(|u| !u.is_empty());
        self.buf.extend_from_slice(
            b"{\"type\":\"indicator\",\"spec_version\":\"2.1\",\"id\":\"indicator--",
        );
        jsonw::uuid(&mut self.buf, ind.id);
        self.buf.push(b'"');
        self.buf.extend_from_slice(b",\"created\":");
        self.time(0, ind.created);
        self.buf.extend_from_slice(b",\"modified\":");
        // A retirement's `modified` is never before its `valid_until`: that it
        // was over when it was made is what tells graph-push it is one, whatever
        // graph-push's clock says (docs/design.md#retirement).
        let modified = if ind.retired && !ind.revoked {
            ind.modified.max(ind.valid_until)
        } else {
            ind.modified
        };
        self.time(1, modified);
        if same {
            self.created_by.repeat(&mut self.buf);
        } else {
            self.created_by
                .write(&mut self.buf, &ind.event.orgc_uuid, |org, out| {
                    let org = org
                        .as_deref()
                        .and_then(|u| uuid::Uuid::try_parse(trim(u)).ok());
                    if let Some(org) = org {
                        out.extend_from_slice(b",\"created_by_ref\":");
                        jsonw::id(out, "identity", org);
                    }
                });
        }
        if same {
            self.name_json.repeat(&mut self.buf);
        } else {
            self.name_json
                .write(&mut self.buf, &self.name, |name, out| {
                    out.extend_from_slice(b",\"name\":");
                    jsonw::string(out, name);
                });
        }
        self.buf.extend_from_slice(b",\"description\":");
        jsonw::string(&mut self.buf, &self.description);
        if ind.to_ids {
            self.buf
                .extend_from_slice(b",\"indicator_types\":[\"malicious-activity\"]");
        }
        let pattern_type = self.write_pattern(shape, ind);
        // The pattern types are plain words: no escaping.
        if pattern_type == "stix" {
            self.buf
                .extend_from_slice(b",\"pattern_type\":\"stix\",\"pattern_version\":\"2.1\"");
        } else {
            self.buf.extend_from_slice(b",\"pattern_type\":\"");
            self.buf.extend_from_slice(pattern_type.as_bytes());
            self.buf.push(b'"');
        }
        self.buf.extend_from_slice(b",\"valid_from\":");
        self.time(2, ind.valid_from);
        self.buf.extend_from_slice(b",\"valid_until\":");
        self.time(3, ind.valid_until);
        self.kill_chain.write_keyed(
            &mut self.buf,
            ind.context.kill_chain,
            &ind.kill_chain,
            |phases, out| {
                if phases.is_empty() {
                    return;
                }
                out.extend_from_slice(b",\"kill_chain_phases\":[");
                for (i, (chain, phase)) in phases.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    out.extend_from_slice(b"{\"kill_chain_name\":");
                    jsonw::string(out, chain);
                    out.extend_from_slice(b",\"phase_name\":");
                    jsonw::string(out, phase);
                    out.push(b'}');
                }
                out.push(b']');
            },
        );
        // TLP 1.0 has no amber+strict marking: the strictness is kept as a label.
        let strict = ind.tlp == Tlp::AmberStrict;
        self.labels.write_keyed(
            &mut self.buf,
            ind.context.labels,
            &ind.labels,
            |labels, out| {
                if labels.is_empty() {
                    return;
                }
                out.extend_from_slice(b",\"labels\":[");
                for (i, l) in labels.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    jsonw::string(out, l);
                }
                out.push(b']');
            },
        );
        if strict {
            if ind.labels.is_empty() {
                self.buf.extend_from_slice(b",\"labels\":[");
            } else {
                self.buf.pop(); // the `]` of the labels
                self.buf.push(b',');
            }
            self.buf.extend_from_slice(b"\"tlp:amber+strict\"]");
        }
        self.buf.extend_from_slice(b",\"confidence\":");
        self.buf
            .extend_from_slice(itoa::Buffer::new().format(ind.confidence).as_bytes());
        if ind.revoked {
            self.buf.extend_from_slice(b",\"revoked\":true");
        }
        // The marking ids are plain: no escaping.
        self.buf.extend_from_slice(b",\"object_marking_refs\":[\"");
        self.buf.extend_from_slice(tlp_marking(ind.tlp).as_bytes());
        self.buf.extend_from_slice(b"\"]");
        let misp_url = self.opts.misp_url.as_deref();
        if same {
            self.references.repeat(&mut self.buf);
        } else {
            self.references
                .write(&mut self.buf, event_uuid.unwrap_or(""), |u, out| {
                    if u.is_empty() {
                        return;
                    }
                    out.extend_from_slice(
                        b",\"external_references\":[{\"source_name\":\"MISP\",\"external_id\":",
                    );
                    jsonw::string(out, u);
                    if let Some(base) = misp_url {
                        out.extend_from_slice(b",\"url\":");
                        jsonw::string(out, &format!("{base}/events/view/{u}"));
                    }
                    out.extend_from_slice(b"}]");
                });
        }
        self.buf.push(b'}');
        self.last_event = ind.context.event;
        Ok(())
    }

    /// Writes `,"pattern":` and the pattern as a JSON string; returns its
    /// `pattern_type`. The usual value needs no escaping: written as it is,
    /// the pattern not built first.
    fn write_pattern(&mut self, shape: Shape, ind: &Indicator) -> &'static str {
        let buf = &mut self.buf;
        let plain = matches!(shape, Shape::Compare(..)) && plain(&ind.value);
        if !plain {
            buf.extend_from_slice(b",\"pattern\":");
        }
        match shape {
            // (Paths and keys need no JSON escaping.)
            Shape::Compare(path, key) if plain => {
                buf.extend_from_slice(b",\"pattern\":\"[");
                buf.extend_from_slice(path.as_bytes());
                buf.extend_from_slice(key.as_bytes());
                buf.extend_from_slice(b" = '");
                buf.extend_from_slice(ind.value.as_bytes());
                buf.extend_from_slice(b"']\"");
                "stix"
            }
            Shape::Rule(lang) => {
                jsonw::string(buf, &ind.value);
                lang
            }
            shape => {
                let pattern_type = build(shape, ind, &mut self.pattern);
                jsonw::string(buf, &self.pattern);
                pattern_type
            }
        }
    }

    /// The record [`StixSink::record`] wrote last.
    pub fn buffer(&self) -> &[u8] {
        &self.buf[self.start..]
    }
}

impl FormatWriter for StixSink {
    fn write(&mut self, parts: &[Indicator]) -> Result<Emitted> {
        let mut written = 0;
        let mut first_err = None;
        for ind in parts {
            match self.record(ind) {
                Ok(()) => {
                    self.buf.push(b'\n');
                    written += 1;
                }
                Err(e) => {
                    self.buf.truncate(self.start);
                    first_err.get_or_insert(e);
                }
            }
        }
        if self.buf.len() >= FLUSH_AT {
            self.out
                .as_mut()
                .expect("not finished")
                .write_bytes(&self.buf)?;
            self.buf.clear();
        }
        Ok(match first_err {
            Some(e) if written == 0 => Emitted::Skipped(e),
            _ => Emitted::Written(written),
        })
    }

    fn finish(mut self: Box<Self>) -> Result<()> {
        let mut out = self.out.take().expect("finished once");
        out.write_bytes(&self.buf)?;
        self.buf.clear();
        out.finish()
    }
}

/// A run that stops early (`--strict`, an error) still passes on the records
/// written so far, as the output's own buffer does when dropped; a file output
/// is not created then all the same.
impl Drop for StixSink {
    fn drop(&mut self) {
        if let Some(out) = &mut self.out {
            let _ = out.write_bytes(&self.buf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_backslash_first() {
        let mut s = String::new();
        push_quoted(&mut s, r"C:\Temp\O'Brien.exe");
        assert_eq!(s, r"'C:\\Temp\\O\'Brien.exe'");
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            r#""'C:\\\\Temp\\\\O\\'Brien.exe'""#
        );
    }

    #[test]
    fn memo_rebuilds_only_unknown_sources() {
        let mut memo: Memo<str> = Memo::new();
        let mut builds = 0;
        let mut out = Vec::new();
        for key in ["a", "b", "a", "b", "c", "d", "e", "a", "e"] {
            out.clear();
            memo.write(&mut out, key, |k, json| {
                builds += 1;
                json.extend_from_slice(k.as_bytes());
            });
            assert_eq!(out, key.as_bytes());
        }
        // a, b, c, d, e, then a again (pushed out by e, the fifth source).
        assert_eq!(builds, 6);
    }

    #[test]
    fn markings() {
        assert_eq!(
            tlp_marking(Tlp::Clear),
            "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9"
        );
        assert_eq!(tlp_marking(Tlp::AmberStrict), tlp_marking(Tlp::Amber));
    }
}
