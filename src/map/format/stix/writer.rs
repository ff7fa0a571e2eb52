//! The STIX 2.1 `indicator` records for Sentinel's STIX objects upload API
//! (docs/design.md#sentinel-stix-upload, #mapping), one a line: TLP 1.0
//! markings (docs/design.md#tlp-and-confidence), millisecond UTC times,
//! serialised in place into the pending output; with `--context inline` or
//! `objects`, the objects around them (docs/design.md#context-objects).

use crate::error::{Error, Result};
use crate::io::output::Output;
use crate::json::write as jsonw;
use crate::map::context::{Context, ContextMode};
use crate::map::format::stix::limits::{DESCRIPTION_MAX, NAME_MAX};
use crate::map::format::stix::memo::Memo;
use crate::map::format::stix::objects::{self, Written};
use crate::map::format::stix::pattern;
use crate::map::format::stix::relationship_ids::{self, RelationshipIds, PLACEHOLDER};
use crate::map::format::stix::times::TimeTexts;
use crate::map::format::text;
use crate::map::format::writer::{Emitted, FormatWriter};
use crate::map::indicator::{Indicator, SkipReason, Tlp};
use crate::misp::value::trim;

#[derive(Debug, Clone, Default)]
pub struct StixOptions {
    /// `--misp-url`: adds the event's URL to `external_references`.
    pub misp_url: Option<String>,
    /// `--context`.
    pub context: ContextMode,
}

impl StixOptions {
    /// The options of `--misp-url URL` (an `http://` or `https://` URL) or none.
    pub fn new(misp_url: Option<String>) -> Result<Self> {
        if misp_url
            .as_deref()
            .is_some_and(|u| !u.starts_with("http://") && !u.starts_with("https://"))
        {
            return Err(Error::usage(
                "--misp-url must start with http:// or https://",
            ));
        }
        Ok(StixOptions {
            misp_url,
            context: ContextMode::default(),
        })
    }
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

/// The start of a record, up to its id's uuid.
const RECORD_HEAD: &[u8] = b"{\"type\":\"indicator\",\"spec_version\":\"2.1\",\"id\":\"indicator--";

/// Pending records are passed on in blocks of at least this size: as large as
/// the output's own buffer, which then writes them without copying.
const FLUSH_AT: usize = 256 * 1024;

pub struct StixWriter {
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
    /// The text of the last times written.
    times: TimeTexts,
    created_by: Memo<Option<String>>,
    name_json: Memo<str>,
    kill_chain: Memo<[(String, String)]>,
    labels: Memo<[String]>,
    references: Memo<str>,
    /// The event key (`ContextKey::event`) of the last record written (0: none).
    last_event: u64,
    /// The shared objects written.
    written: Written,
    /// Records written besides indicators.
    context_objects: u64,
    /// The labels of a record with context (see `Context::labels`).
    context_labels: Vec<String>,
    /// The key of the last context whose objects were written (0: none).
    last_context: u64,
    /// The ATT&CK entries of `external_references` for the context of this
    /// key (see `attack_references`).
    attack_refs: (u64, Vec<u8>),
    /// The end of the last record's part its relationships repeat (from its
    /// id's closing quote to its creator: see `relationships`).
    shared_end: usize,
    /// The part of an indicator's relationships they all share (see `relationships`).
    relationship_middle: Vec<u8>,
    /// The relationships written whose ids are still to be filled in.
    relationship_ids: RelationshipIds,
}

impl StixWriter {
    pub fn new(out: Output, mut opts: StixOptions) -> Self {
        opts.misp_url = opts.misp_url.map(|u| u.trim_end_matches('/').to_string());
        StixWriter {
            out: Some(out),
            opts,
            pattern: String::new(),
            name: String::new(),
            description: String::new(),
            buf: Vec::with_capacity(FLUSH_AT + 64 * 1024),
            start: 0,
            times: TimeTexts::new(),
            created_by: Memo::new(),
            name_json: Memo::new(),
            kill_chain: Memo::new(),
            labels: Memo::new(),
            references: Memo::new(),
            last_event: 0,
            written: Written::default(),
            context_objects: 0,
            context_labels: Vec::new(),
            last_context: 0,
            attack_refs: (0, Vec::new()),
            relationship_middle: Vec::new(),
            shared_end: 0,
            relationship_ids: RelationshipIds::default(),
        }
    }

    /// Serialises one indicator as one JSON object (no newline) at the end of
    /// the pending records ([`StixWriter::buffer`] shows it), without context.
    pub fn record(&mut self, ind: &Indicator) -> Result<(), SkipReason> {
        self.record_in(ind, &Context::NONE)
    }

    /// [`StixWriter::record`] with the attribute's clusters: before the
    /// record, the shared objects it needs that are not written yet (each a
    /// line); in the record, their ATT&CK references and labels.
    pub fn record_in(&mut self, ind: &Indicator, ctx: &Context<'_>) -> Result<(), SkipReason> {
        self.start = self.buf.len();
        let shape = pattern::shape(ind)?;
        // The same event as the record before: the parts that depend on the
        // event alone are reused as they are.
        let same = ind.context.event != 0 && ind.context.event == self.last_event;
        if self.opts.context != ContextMode::None {
            self.shared_objects(ind, ctx, same);
            self.start = self.buf.len();
        }
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
        self.buf.extend_from_slice(RECORD_HEAD);
        jsonw::uuid(&mut self.buf, ind.id);
        self.buf.push(b'"');
        self.buf.extend_from_slice(b",\"created\":");
        self.times.write(&mut self.buf, 0, ind.created);
        self.buf.extend_from_slice(b",\"modified\":");
        // A retirement's `modified` is never before its `valid_until`: that it
        // was over when it was made is what tells graph-push it is one, whatever
        // graph-push's clock says (docs/design.md#retirement).
        let modified = if ind.retired && !ind.revoked {
            ind.modified.max(ind.valid_until)
        } else {
            ind.modified
        };
        self.times.write(&mut self.buf, 1, modified);
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
        self.shared_end = self.buf.len();
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
        let pattern_type = pattern::write_json(shape, ind, &mut self.pattern, &mut self.buf);
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
        self.times.write(&mut self.buf, 2, ind.valid_from);
        self.buf.extend_from_slice(b",\"valid_until\":");
        self.times.write(&mut self.buf, 3, ind.valid_until);
        self.kill_chain.write_keyed(
            &mut self.buf,
            ind.context.kill_chain,
            &ind.kill_chain,
            |phases, out| {
                json_array(
                    out,
                    b",\"kill_chain_phases\":[",
                    phases,
                    |out, (chain, phase)| {
                        out.extend_from_slice(b"{\"kill_chain_name\":");
                        jsonw::string(out, chain);
                        out.extend_from_slice(b",\"phase_name\":");
                        jsonw::string(out, phase);
                        out.push(b'}');
                    },
                )
            },
        );
        // TLP 1.0 has no amber+strict marking: the strictness is kept as a label.
        let strict = ind.tlp == Tlp::AmberStrict;
        let before_labels = self.buf.len();
        let (key, labels) = if ctx.is_empty() {
            (ind.context.labels, &ind.labels)
        } else {
            // The event's clusters alone: the labels' key still says which
            // records share them (and the labels are built only when new).
            let key = if ctx.own.is_empty() {
                ind.context.labels
            } else {
                0
            };
            if key == 0 || !self.labels.has_key(key) {
                ctx.labels(&ind.labels, &mut self.context_labels);
            }
            (key, &self.context_labels)
        };
        self.labels
            .write_keyed(&mut self.buf, key, labels, write_labels);
        if strict {
            if self.buf.len() == before_labels {
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
        if ctx.clusters().any(|c| c.cites) {
            self.attack_references(ctx, event_uuid.is_some());
        }
        self.buf.push(b'}');
        self.last_event = ind.context.event;
        Ok(())
    }

    /// The ATT&CK techniques and groups of `ctx`, each once, added to the
    /// record's `external_references` (after the MISP event's, when `misp`).
    fn attack_references(&mut self, ctx: &Context<'_>, misp: bool) {
        // The entries, `,{…},{…}`: built again only for other clusters than
        // the last record's (an event's attributes without clusters of their own share them).
        if ctx.key == 0 || ctx.key != self.attack_refs.0 {
            let entries = &mut self.attack_refs.1;
            entries.clear();
            for (i, c) in ctx.clusters().enumerate() {
                let (Some(id), Some(url)) = (c.cited_attack_id(), c.attack_url.as_deref()) else {
                    continue;
                };
                if ctx
                    .clusters()
                    .take(i)
                    .any(|d| d.cited_attack_id() == Some(id))
                {
                    continue;
                }
                entries.push(b',');
                objects::attack_reference(entries, id, url);
            }
            self.attack_refs.0 = ctx.key;
        }
        let entries = &self.attack_refs.1;
        if entries.is_empty() {
            return;
        }
        if misp {
            self.buf.pop(); // the `]` of the references
            self.buf.extend_from_slice(entries);
        } else {
            self.buf.extend_from_slice(b",\"external_references\":[");
            self.buf.extend_from_slice(&entries[1..]);
        }
        self.buf.push(b']');
    }

    /// Before a record: the organisation's `identity` and, with `--context
    /// objects`, the `attack-pattern`s and `threat-actor`s of its clusters,
    /// those not written yet. `same`: the same event as the record before,
    /// whose identity is written.
    fn shared_objects(&mut self, ind: &Indicator, ctx: &Context<'_>, same: bool) {
        if !same {
            let org = ind
                .event
                .orgc_uuid
                .as_deref()
                .and_then(|u| uuid::Uuid::try_parse(trim(u)).ok());
            if let Some(org) = org {
                if self
                    .written
                    .identity(&mut self.buf, org, ind.event.orgc_name.as_deref())
                {
                    self.context_objects += 1;
                }
            }
        }
        if self.opts.context == ContextMode::Objects
            && !ctx.is_empty()
            && (ctx.key == 0 || ctx.key != self.last_context)
        {
            for c in ctx.clusters() {
                if self.written.cluster(&mut self.buf, c) {
                    self.context_objects += 1;
                }
            }
            self.last_context = ctx.key;
        }
    }

    /// After a record, with `--context objects`: one `indicates`
    /// relationship from the indicator to each attack pattern and threat
    /// actor of its clusters, each a line, with the indicator's times,
    /// creator, revocation and marking.
    fn relationships(&mut self, ind: &Indicator, ctx: &Context<'_>) {
        // The record just written (`start`) has the id, times and creator
        // its relationships repeat: copied, not written again. (Its
        // `modified` is the indicator's: a retirement has no relationships.)
        let id_at = self.start + RECORD_HEAD.len() - "indicator--".len();
        let id_end = id_at + "indicator--".len() + uuid::fmt::Hyphenated::LENGTH;
        debug_assert_eq!(id_end - id_at, relationship_ids::SOURCE_LEN);
        // What the indicator's relationships share, built once: from the end
        // of the id to the target's, and after it.
        let mut middle = std::mem::take(&mut self.relationship_middle);
        middle.clear();
        middle.extend_from_slice(&self.buf[id_end..self.shared_end]);
        middle.extend_from_slice(b",\"relationship_type\":\"indicates\",\"source_ref\":\"");
        middle.extend_from_slice(&self.buf[id_at..id_end]);
        middle.extend_from_slice(b"\",\"target_ref\":\"");
        let end_at = middle.len();
        middle.push(b'"');
        if ind.revoked {
            middle.extend_from_slice(b",\"revoked\":true");
        }
        middle.extend_from_slice(b",\"object_marking_refs\":[\"");
        middle.extend_from_slice(tlp_marking(ind.tlp).as_bytes());
        middle.extend_from_slice(b"\"]}\n");
        let (middle_part, end_part) = middle.split_at(end_at);
        for (i, c) in ctx.clusters().enumerate() {
            let Some(target) = c.stix_id.as_deref() else {
                continue;
            };
            if ctx.clusters().take(i).any(|d| d.stix_id == c.stix_id) {
                continue;
            }
            self.buf.extend_from_slice(
                b"{\"type\":\"relationship\",\"spec_version\":\"2.1\",\"id\":\"relationship--",
            );
            // The id is hashed with others' before the buffer is passed on.
            let placeholder_at = self.buf.len();
            self.buf.extend_from_slice(PLACEHOLDER);
            self.buf.extend_from_slice(middle_part);
            let target_at = self.buf.len();
            self.buf.extend_from_slice(target.as_bytes());
            self.relationship_ids
                .wait(placeholder_at, id_at, target_at, target.len());
            self.buf.extend_from_slice(end_part);
            self.context_objects += 1;
        }
        self.relationship_middle = middle;
    }

    /// The record [`StixWriter::record`] wrote last.
    pub fn buffer(&self) -> &[u8] {
        &self.buf[self.start..]
    }
}

/// `,"labels":[…]`, nothing for no labels.
fn write_labels(labels: &[String], out: &mut Vec<u8>) {
    json_array(out, b",\"labels\":[", labels, |out, l| {
        jsonw::string(out, l)
    })
}

/// Appends `start` (`,"key":[`), the items, each written by `item`, and
/// `]`; nothing at all for no items.
#[inline]
fn json_array<T>(
    out: &mut Vec<u8>,
    start: &[u8],
    items: &[T],
    mut item: impl FnMut(&mut Vec<u8>, &T),
) {
    if items.is_empty() {
        return;
    }
    out.extend_from_slice(start);
    for (i, x) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        item(out, x);
    }
    out.push(b']');
}

impl FormatWriter for StixWriter {
    // Not `write_each`: this loop runs for every attribute, and matching on
    // `record`'s result here keeps it as short as it can be.
    fn write(&mut self, parts: &[Indicator], ctx: &Context<'_>) -> Result<Emitted> {
        let mut written = 0;
        let mut first_err = None;
        for ind in parts {
            match self.record_in(ind, ctx) {
                Ok(()) => {
                    self.buf.push(b'\n');
                    written += 1;
                    // A retirement ends the indicator, not its links: the
                    // relationships sent with it lapse with it. A revocation
                    // (`--revoke`) revokes them too (docs/design.md#context-objects).
                    let links = !ind.retired || ind.revoked;
                    if self.opts.context == ContextMode::Objects && !ctx.is_empty() && links {
                        self.relationships(ind, ctx);
                    }
                }
                Err(e) => {
                    self.buf.truncate(self.start);
                    first_err.get_or_insert(e);
                }
            }
        }
        if self.buf.len() >= FLUSH_AT {
            self.relationship_ids.fill(&mut self.buf);
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

    fn context_objects(&self) -> u64 {
        self.context_objects
    }

    fn finish(mut self: Box<Self>) -> Result<()> {
        let mut out = self.out.take().expect("finished once");
        self.relationship_ids.fill(&mut self.buf);
        out.write_bytes(&self.buf)?;
        self.buf.clear();
        out.finish()
    }
}

/// A run that stops early (`--strict`, an error) still passes on the records
/// written so far, as the output's own buffer does when dropped; a file output
/// is not created then all the same.
impl Drop for StixWriter {
    fn drop(&mut self) {
        if let Some(out) = &mut self.out {
            self.relationship_ids.fill(&mut self.buf);
            let _ = out.write_bytes(&self.buf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markings() {
        assert_eq!(
            tlp_marking(Tlp::Clear),
            "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9"
        );
        assert_eq!(tlp_marking(Tlp::AmberStrict), tlp_marking(Tlp::Amber));
    }
}
