//! The [`Mapper`]: one attribute, in its event and object, to its parts'
//! indicators or the reason it gives none (the order of checks: see the
//! module map, `map::mapper`).

use chrono::Duration as ChronoDuration;

use crate::map::indicator::{ContextKey, Indicator, ObjectContext, SkipReason};
use crate::map::mapper::categories::{category_index, push_slug, CATEGORY_SLUGS};
use crate::map::mapper::context::{EventFacts, ObjectInfo};
use crate::map::mapper::normalize::{normalize, Norm};
use crate::map::mapper::options::MapOptions;
use crate::map::mapper::parts::{set, set_event, set_opt, set_unique, Parts};
use crate::map::mapper::tags::TagSummary;
use crate::map::mapper::types::{default_to_ids, type_table, Shape};
use crate::map::policy::allowlist::Allowlist;
use crate::map::policy::expiry::ExpireFrom;
use crate::map::policy::private::is_private_seen;
use crate::map::policy::warninglist::Warninglists;
use crate::misp::ids::part_uuid;
use crate::misp::model::Attribute;
use crate::misp::value::trim;
use crate::time::{self, Timestamp};

/// Time fields shared by the parts of one attribute.
struct Times {
    created: Timestamp,
    modified: Timestamp,
    valid_from: Timestamp,
    last_seen: Option<Timestamp>,
    reference: Timestamp,
}

/// End-of-validity times kept by a [`Mapper`] (one per expiry class, mostly).
const UNTIL_CACHED: usize = 8;

pub struct Mapper {
    pub opts: MapOptions,
    allowlist: Allowlist,
    warninglists: Warninglists,
    /// The last few end-of-validity times computed: an event's attributes
    /// mostly share their reference time and the expiry of their kind.
    until: std::cell::RefCell<Vec<(Timestamp, std::time::Duration, Timestamp)>>,
    /// Attributes whose TLP came from `--default-tlp` because nothing told
    /// their event's TLP (see [`Mapper::unknown_event_tlp`]).
    unknown_event_tlp: std::cell::Cell<u64>,
    /// The last `first_seen` and `last_seen` read: feeds repeat them over an
    /// event's or object's attributes, and chrono's parse costs far more
    /// than comparing the text.
    first_seen: LastTime,
    last_seen: LastTime,
    /// Attributes' and objects' epoch seconds, mostly on the day read last.
    epoch: time::EpochDays,
    /// The start of `opts.now`'s day: `--expire-from now`'s reference time,
    /// the same for the whole run.
    today: Timestamp,
}

/// One remembered time text and the time it reads as.
#[derive(Default)]
struct LastTime(std::cell::RefCell<(String, Option<Timestamp>)>);

impl LastTime {
    /// [`time::parse_misp_time`] of `s`, remembered while `s` repeats.
    fn parse(&self, s: &str) -> Option<Timestamp> {
        let mut last = self.0.borrow_mut();
        if last.0 != s {
            last.1 = time::parse_misp_time(s);
            set(&mut last.0, s);
        }
        last.1
    }
}

impl Mapper {
    pub fn new(opts: MapOptions, allowlist: Allowlist, warninglists: Warninglists) -> Self {
        Mapper {
            allowlist,
            warninglists,
            until: std::cell::RefCell::new(Vec::with_capacity(UNTIL_CACHED)),
            unknown_event_tlp: std::cell::Cell::new(0),
            first_seen: LastTime::default(),
            last_seen: LastTime::default(),
            epoch: time::EpochDays::default(),
            today: time::start_of_day(&opts.now),
            opts,
        }
    }

    /// How many attributes so far took `--default-tlp` because their event's
    /// TLP was unknown: bare attribute lines with no TLP tag of their own, no
    /// inherited event tags and no `Event.Tag` (docs/design.md#tlp-and-confidence).
    pub fn unknown_event_tlp(&self) -> u64 {
        self.unknown_event_tlp.get()
    }

    /// Maps one attribute into `parts` (primary part first). `Err` when no part is left.
    pub fn map(
        &self,
        attr: &Attribute<'_>,
        object: Option<ObjectInfo<'_>>,
        ev: &EventFacts<'_>,
        parts: &mut Parts,
    ) -> Result<(), SkipReason> {
        parts.clear();
        let o = &self.opts;
        let malformed = |what: &str| SkipReason::Malformed(what.to_string());
        let misp_type = attr.kind.as_deref().ok_or_else(|| malformed("no type"))?;
        let raw = attr.value.as_deref().ok_or_else(|| malformed("no value"))?;
        let uuid_str = attr.uuid.as_deref().ok_or_else(|| malformed("no uuid"))?;
        let uuid =
            uuid::Uuid::try_parse(trim(uuid_str)).map_err(|_| malformed("uuid is not a UUID"))?;

        let info = type_table()
            .get(misp_type)
            .ok_or(SkipReason::NotIndicatorType)?;
        if o.types.as_ref().is_some_and(|t| !t.contains(misp_type)) {
            return Err(SkipReason::Filtered("--types"));
        }
        if o.exclude_types.contains(misp_type) {
            return Err(SkipReason::Filtered("--exclude-types"));
        }

        let object = object.unwrap_or_default();
        let to_ids = attr.to_ids.unwrap_or_else(|| default_to_ids(misp_type));
        let retired = if attr.deleted.unwrap_or(false) || object.deleted {
            if !o.retirements {
                return Err(SkipReason::DeletedNoRetirement);
            }
            true
        } else if !to_ids && !o.include_non_ids {
            if !(o.retire_non_ids && o.retirements) {
                return Err(SkipReason::NotIds);
            }
            true
        } else {
            false
        };

        // Tags: the attribute's own over the event's. Inherited tags are
        // copies of the event's (without `local`): read only when the event's
        // own list did not come along.
        let mut own = TagSummary::default();
        let mut inherited = TagSummary::default();
        let mut any_inherited = false;
        for t in &attr.tags {
            if t.inherited.unwrap_or(false) {
                any_inherited = true;
                if !ev.tags_given {
                    inherited.add(t);
                }
            } else {
                own.add(t);
            }
        }
        let event_tlp = inherited.tlp.max(ev.tags.tlp);
        let tlp_found = own.tlp.or(event_tlp);
        if own.tlp.is_none() && !ev.tags_given && !any_inherited {
            // Nothing says what the event's TLP is: never TLP:CLEAR, the default.
            self.unknown_event_tlp.set(self.unknown_event_tlp.get() + 1);
        }
        let tlp = tlp_found.unwrap_or(o.default_tlp);
        if tlp > o.tlp_max {
            return Err(SkipReason::TlpTooHigh);
        }
        let min = |a: Option<u8>, b: Option<u8>| match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let confidence = own
            .confidence
            .or_else(|| {
                if own.confidence_tagged {
                    None
                } else {
                    min(inherited.confidence, ev.tags.confidence)
                }
            })
            .unwrap_or(o.default_confidence);
        if confidence < o.min_confidence {
            return Err(SkipReason::BelowMinConfidence);
        }

        let times = self.times(attr, &object, ev)?;

        // Split the value.
        let halves: [Option<(&str, &'static str, Norm)>; 2];
        let mut port = None;
        let primary;
        let mut filename_left = false;
        match info.shape {
            Shape::Plain => {
                halves = [info.norms[0].map(|n| (raw, info.name, n)), None];
                primary = 0;
            }
            Shape::Composite {
                left,
                right,
                primary: p,
                port: has_port,
                filename_left: fl,
            } => {
                // Exactly one '|': two memchr calls, not a split's searcher.
                let bar = memchr::memchr(b'|', raw.as_bytes());
                let one = bar.filter(|&i| memchr::memchr(b'|', &raw.as_bytes()[i + 1..]).is_none());
                let Some((l, r)) = one.map(|i| (&raw[..i], &raw[i + 1..])) else {
                    return Err(SkipReason::InvalidValue(format!(
                        "{misp_type} value needs exactly one '|'"
                    )));
                };
                if has_port {
                    let r = trim(r);
                    port = Some(r.parse::<u16>().map_err(|_| {
                        SkipReason::InvalidValue(format!("port {r:?} is not a number 0-65535"))
                    })?);
                }
                halves = [
                    left.zip(info.norms[0]).map(|(t, n)| (l, t, n)),
                    right.zip(info.norms[1]).map(|(t, n)| (r, t, n)),
                ];
                primary = p;
                filename_left = fl;
            }
        }

        // Sinks may reuse parts between indicators (see `ContextKey`): one
        // event's name (its `info`; without one the name is the type),
        // creator and references; and for its attributes without labels
        // (or phases) of their own, labels (and kill-chain phases by
        // category). A TLP or confidence tag alone changes neither.
        let named = ev.ctx.info.as_deref().is_some_and(|i| !trim(i).is_empty());
        let event_labels = inherited.labels.is_empty() && own.labels.is_empty();
        let event_phases = inherited.kill_chain.is_empty() && own.kill_chain.is_empty();
        let category_ix = attr.category.as_deref().and_then(category_index);
        let key = ContextKey {
            event: if named { ev.id } else { 0 },
            labels: if event_labels { ev.id } else { 0 },
            kill_chain: match category_ix {
                Some(c) if event_phases => ev.id << 5 | c,
                _ => 0,
            },
        };
        let mut first_err: Option<SkipReason> = None;
        let mut primary_ok = false;
        let order = if primary == 0 { [0, 1] } else { [1, 0] };
        for i in order {
            let Some((value, part_type, norm)) = halves[i] else {
                continue;
            };
            if filename_left
                && i == 0
                && !o.include_filenames
                && !(o.filename_context && primary_ok)
            {
                continue;
            }
            let (slot, slot_event) = parts.slot();
            let res = self.fill_part(
                slot,
                value,
                part_type,
                norm,
                i == primary,
                uuid,
                uuid_str,
                misp_type,
                &times,
                retired,
            );
            match res {
                Ok(()) => {
                    slot.port = port;
                    slot.to_ids = to_ids;
                    slot.tlp = tlp;
                    slot.tlp_tagged = tlp_found.is_some();
                    slot.confidence = confidence;
                    set(&mut slot.misp_type, misp_type);
                    set_opt(&mut slot.category, attr.category.as_deref());
                    set_opt(
                        &mut slot.comment,
                        attr.comment.as_deref().filter(|c| !trim(c).is_empty()),
                    );
                    match (
                        &mut slot.object,
                        object.name.or(attr.object_relation.as_deref().map(|_| "")),
                    ) {
                        // Most attributes have no object: no drop call then.
                        (None, None) => {}
                        (_, None) => slot.object = None,
                        (Some(oc), Some(name)) => {
                            set(&mut oc.name, name);
                            set_opt(&mut oc.relation, attr.object_relation.as_deref());
                        }
                        (None, Some(name)) => {
                            slot.object = Some(ObjectContext {
                                name: name.to_owned(),
                                relation: attr.object_relation.as_deref().map(str::to_owned),
                            })
                        }
                    }
                    // Attributes of one event fill the same slots: copy its context once.
                    if *slot_event != ev.id {
                        set_event(&mut slot.event, &ev.ctx);
                        *slot_event = ev.id;
                    }
                    // Labels and kill-chain phases: those of the last attribute in
                    // this slot when their key is the same (see `ContextKey`).
                    if key.labels == 0 || slot.context.labels != key.labels {
                        let labels = (ev.tags.labels.iter().copied())
                            .chain(inherited.labels.iter().copied());
                        set_unique(&mut slot.labels, labels.chain(own.labels.iter().copied()));
                    }
                    if key.kill_chain == 0 || slot.context.kill_chain != key.kill_chain {
                        match category_ix {
                            // The same event's phases under another category
                            // (an event's categories alternate): only the first changes.
                            Some(c)
                                if key.kill_chain != 0 && slot.context.kill_chain >> 5 == ev.id =>
                            {
                                set(&mut slot.kill_chain[0].1, CATEGORY_SLUGS[c as usize - 1]);
                            }
                            _ => {
                                let category = attr.category.as_deref().map(|c| (c, category_ix));
                                self.set_kill_chain(slot, category, ev, &inherited, &own);
                            }
                        }
                    }
                    slot.context = key;
                    parts.commit();
                    primary_ok |= i == primary;
                }
                Err(e) => {
                    if first_err.is_none() {
                        first_err = Some(e);
                    }
                }
            }
        }
        if parts.len == 0 {
            return Err(first_err.unwrap_or(SkipReason::NotIndicatorType));
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn fill_part(
        &self,
        slot: &mut Indicator,
        value: &str,
        part_type: &'static str,
        norm: Norm,
        is_primary: bool,
        uuid: uuid::Uuid,
        uuid_str: &str,
        misp_type: &str,
        times: &Times,
        retired: bool,
    ) -> Result<(), SkipReason> {
        let o = &self.opts;
        let (kind, seen) = normalize(norm, value, &mut slot.value)?;
        if !o.allow_private && is_private_seen(kind, seen, &slot.value) {
            return Err(SkipReason::Private);
        }
        if self.allowlist.matches(kind, &slot.value) {
            return Err(SkipReason::Allowlisted);
        }
        if let Some(name) = self
            .warninglists
            .check(misp_type, part_type, kind, &slot.value)
        {
            return Err(SkipReason::Warninglist(name.to_string()));
        }
        let one_ms = ChronoDuration::milliseconds(1);
        let mut valid_until = self.until(
            times.last_seen.unwrap_or(times.reference),
            o.expiry.for_kind(kind),
        );
        if valid_until <= times.valid_from {
            valid_until = times.valid_from + one_ms;
        }
        let mut revoked = false;
        if retired {
            if o.revoke {
                revoked = true;
            } else {
                valid_until = o.now.max(times.valid_from + one_ms);
            }
        } else if valid_until <= o.now && !o.include_expired {
            return Err(SkipReason::Expired);
        }
        slot.id = if is_primary {
            uuid
        } else {
            part_uuid(trim(uuid_str), part_type)
        };
        slot.kind = kind;
        set(&mut slot.attribute_uuid, trim(uuid_str));
        set(&mut slot.part_type, part_type);
        slot.created = times.created;
        slot.modified = times.modified;
        slot.valid_from = times.valid_from;
        slot.valid_until = valid_until;
        slot.retired = retired;
        slot.revoked = revoked;
        Ok(())
    }

    /// `from` plus `expiry`, from the cache when computed lately.
    fn until(&self, from: Timestamp, expiry: std::time::Duration) -> Timestamp {
        let mut cache = self.until.borrow_mut();
        if let Some(&(_, _, t)) = cache.iter().find(|(f, e, _)| *f == from && *e == expiry) {
            return t;
        }
        let t = time::add(&from, expiry);
        if cache.len() == UNTIL_CACHED {
            cache.remove(0);
        }
        cache.push((from, expiry, t));
        t
    }

    fn set_kill_chain(
        &self,
        slot: &mut Indicator,
        // The attribute's category and its `category_index`, when MISP knows it.
        category: Option<(&str, Option<u64>)>,
        ev: &EventFacts<'_>,
        inherited: &TagSummary<'_>,
        own: &TagSummary<'_>,
    ) {
        let phases = (own.kill_chain.iter().copied())
            .chain(inherited.kill_chain.iter().copied())
            .chain(ev.tags.kill_chain.iter().copied());
        let mut n = 0;
        let mut put = |slot: &mut Indicator, chain: &str, phase: &str, known: Option<u64>| {
            if slot.kill_chain.len() == n {
                slot.kill_chain.push((String::new(), String::new()));
            }
            let (c, p) = &mut slot.kill_chain[n];
            set(c, chain);
            match known {
                // MISP's own categories from the table: this runs for most indicators.
                Some(i) => set(p, CATEGORY_SLUGS[i as usize - 1]),
                None => push_slug(p, phase),
            }
            n += 1;
        };
        if let Some((c, ix)) = category.filter(|(c, _)| !trim(c).is_empty()) {
            put(slot, "misp-category", c, ix);
        }
        for p in phases {
            put(slot, "lockheed-martin-cyber-kill-chain", p, None);
        }
        slot.kill_chain.truncate(n);
    }

    fn times(
        &self,
        attr: &Attribute<'_>,
        obj: &ObjectInfo<'_>,
        ev: &EventFacts<'_>,
    ) -> Result<Times, SkipReason> {
        let malformed = |what: String| SkipReason::Malformed(what);
        let attr_ts = attr
            .timestamp
            .or(obj.timestamp)
            .and_then(|s| self.epoch.from_epoch(s))
            .or(ev.timestamp)
            .ok_or_else(|| malformed("no timestamp".into()))?;
        let obj_ts = obj.timestamp.and_then(|s| self.epoch.from_epoch(s));
        let modified = [obj_ts, ev.timestamp]
            .into_iter()
            .flatten()
            .fold(attr_ts, Timestamp::max);
        let created = ev.date.map_or(attr_ts, |d| d.min(modified));
        let first_seen = seen(
            attr.first_seen.as_deref().or(obj.first_seen),
            &self.first_seen,
            "first_seen",
        )?;
        let last_seen = seen(
            attr.last_seen.as_deref().or(obj.last_seen),
            &self.last_seen,
            "last_seen",
        )?;
        let reference = match self.opts.expire_from {
            ExpireFrom::Misp => ev.publish.map_or(attr_ts, |p| p.max(attr_ts)),
            ExpireFrom::Now => self.today,
        };
        Ok(Times {
            created,
            modified,
            valid_from: first_seen.unwrap_or(attr_ts),
            last_seen,
            reference,
        })
    }
}

/// A `first_seen` or `last_seen` time: inline for the usual attribute
/// without one, so that it costs no call.
#[inline(always)]
fn seen(s: Option<&str>, last: &LastTime, what: &str) -> Result<Option<Timestamp>, SkipReason> {
    match s {
        None => Ok(None),
        Some(s) => parse_seen(s, last, what),
    }
}

fn parse_seen(s: &str, last: &LastTime, what: &str) -> Result<Option<Timestamp>, SkipReason> {
    match s.trim() {
        "" => Ok(None),
        s => last
            .parse(s)
            .map(Some)
            .ok_or_else(|| SkipReason::Malformed(format!("{what} {s:?} is not a time"))),
    }
}
