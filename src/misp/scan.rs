//! A fast reader for the usual shape of `ioc-map`'s input lines: one JSON
//! object (a MISP event, or a bare attribute). It gives the same [`Line`] that
//! serde gives with the model in [`crate::misp::model`], and checks the JSON as it
//! goes, but it gives up (`None`) on anything it is not sure of: an error, a
//! duplicate key, an escape in a key, a value in a rare form. The caller then
//! parses the line with serde, which also words every error, so results
//! never differ (a property test compares the two).
//!
//! Why: serde's per-value plumbing made the typed parse cost 60% more than
//! checking the JSON alone, and attributes are the bulk of every line.

use std::borrow::Cow;
use std::marker::PhantomData;

use serde::de::DeserializeSeed;

#[cfg(target_arch = "x86_64")]
use crate::json::simd::escape_by_16;
use crate::json::write::next_escape;
use crate::misp::fields::{AttributeField, EventField, Key, ObjectField, TagField};
use crate::misp::galaxy::Galaxies;
use crate::misp::model::{Attribute, Event, Line, Object, OneOrMany, Str, Tag};
use crate::misp::scalar::{bool_text, i64_text, OptBool, OptI64, OptStr};

/// Deepest nesting read here. serde_json allows 128 levels of typed values
/// and does not limit skipped ones; counting every level up to 100 can only be
/// stricter, so a line read here is one serde reads too.
const MAX_DEPTH: u32 = 100;

/// The line as serde would read it, or `None` where the caller must ask serde.
pub fn line(text: &str) -> Option<Line<'_>> {
    let mut s = Scan {
        text,
        bytes: text.as_bytes(),
        i: 0,
        depth: 0,
        keys: AllKeys::default(),
    };
    s.ws();
    let mut line = Attribute::default();
    s.attribute(&mut line, true)?;
    s.ws();
    (s.i == text.len()).then_some(line)
}

struct Scan<'a> {
    text: &'a str,
    /// `text` as bytes.
    bytes: &'a [u8],
    /// The next byte to read.
    i: usize,
    /// Objects and arrays open.
    depth: u32,
    /// The keys of the objects read so far, by kind.
    keys: AllKeys<'a>,
}

/// The key of an object member as the last object of its kind had it, so
/// that the next object's keys are matched as bytes. MISP writes every
/// attribute's keys in one order; matching `"key":` whole spares reading the
/// key as a string and looking it up, about a third of the scan.
struct Seen<'a, K> {
    /// From the opening quote to the colon: a key without escapes, checked
    /// when it was first read.
    text: &'a [u8],
    /// Its first 16 bytes and the next 16 (zero-padded), and which of
    /// them count.
    head: u128,
    mask: u128,
    tail: u128,
    tail_mask: u128,
    field: K,
    /// The entry that came after it last time (`NONE`: unknown).
    next: u8,
}

const NONE: u8 = u8::MAX;

/// Keys remembered per kind of object (a few dozen at most).
const MAX_KEYS: usize = 48;

impl<K> Seen<'_, K> {
    /// Whether `b[i..]` starts with this key.
    #[inline(always)]
    fn at(&self, b: &[u8], i: usize) -> bool {
        let block = |at: usize| {
            b.get(at..at + 16)
                .map(|x| u128::from_le_bytes(x.try_into().expect("16 bytes")))
        };
        let n = self.text.len();
        let Some(x) = block(i) else {
            return b.get(i..i + n) == Some(self.text);
        };
        if (x ^ self.head) & self.mask != 0 {
            return false;
        }
        if n <= 16 {
            return true;
        }
        match block(i + 16) {
            Some(y) => {
                (y ^ self.tail) & self.tail_mask == 0
                    && (n <= 32 || b.get(i + 32..i + n) == Some(&self.text[32..]))
            }
            None => b.get(i + 16..i + n) == Some(&self.text[16..]),
        }
    }
}

/// The keys seen of one kind of object, each with the one that followed it.
struct Keys<'a, K> {
    seen: Vec<Seen<'a, K>>,
    /// The entry that came first last time.
    first: u8,
}

impl<K> Default for Keys<'_, K> {
    fn default() -> Self {
        Keys {
            seen: Vec::new(),
            first: NONE,
        }
    }
}

impl<'a, K: Key> Keys<'a, K> {
    /// The entry expected after `last` (`NONE`: the first key).
    #[inline(always)]
    fn after(&self, last: u8) -> u8 {
        match self.seen.get(usize::from(last)) {
            Some(k) => k.next,
            None => self.first,
        }
    }

    /// Notes that `next` came after `last`; gives `next`.
    fn link(&mut self, last: u8, next: u8) -> u8 {
        match self.seen.get_mut(usize::from(last)) {
            Some(k) => k.next = next,
            None => self.first = next,
        }
        next
    }

    /// Notes that `text` (`"key":`) came after `last`; gives its entry.
    fn learn(&mut self, last: u8, text: &'a [u8], field: K) -> u8 {
        let found = self.seen.iter().position(|k| k.text == text);
        let next = match found {
            Some(n) => n as u8,
            None if self.seen.len() < MAX_KEYS => {
                // Bytes `from..from + 16` of the text (zero-padded), and a
                // mask of those that are there.
                let block = |from: usize| {
                    let (mut bytes, mut mask) = ([0u8; 16], [0u8; 16]);
                    let part = text.get(from..).unwrap_or_default();
                    let n = part.len().min(16);
                    bytes[..n].copy_from_slice(&part[..n]);
                    mask[..n].fill(0xff);
                    (u128::from_le_bytes(bytes), u128::from_le_bytes(mask))
                };
                let ((head, mask), (tail, tail_mask)) = (block(0), block(16));
                self.seen.push(Seen {
                    text,
                    head,
                    mask,
                    tail,
                    tail_mask,
                    field,
                    next: NONE,
                });
                (self.seen.len() - 1) as u8
            }
            None => NONE,
        };
        self.link(last, next)
    }
}

/// The keys of each kind of object read with [`Scan::fields`].
#[derive(Default)]
struct AllKeys<'a> {
    attribute: Keys<'a, AttributeField>,
    event: Keys<'a, EventField>,
    object: Keys<'a, ObjectField>,
    tag: Keys<'a, TagField>,
}

/// A field enum whose keys [`Scan::fields`] remembers.
trait Cached<'a>: Key {
    fn keys<'k>(all: &'k mut AllKeys<'a>) -> &'k mut Keys<'a, Self>;
}

macro_rules! cached {
    ($($key:ident: $member:ident,)*) => {
        $(impl<'a> Cached<'a> for $key {
            fn keys<'k>(all: &'k mut AllKeys<'a>) -> &'k mut Keys<'a, Self> {
                &mut all.$member
            }
        })*
    };
}

cached! {
    AttributeField: attribute,
    EventField: event,
    ObjectField: object,
    TagField: tag,
}

impl<'a> Scan<'a> {
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.i) {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.i).copied()
    }

    fn open(&mut self, c: u8) -> Option<()> {
        if self.peek()? != c || self.depth >= MAX_DEPTH {
            return None;
        }
        self.i += 1;
        self.depth += 1;
        self.ws();
        Some(())
    }

    /// After an element: `,` (true: more follow) or `close` (false).
    fn next(&mut self, close: u8) -> Option<bool> {
        self.ws();
        let c = self.peek()?;
        self.i += 1;
        if c == b',' {
            self.ws();
            Some(true)
        } else if c == close {
            self.depth -= 1;
            Some(false)
        } else {
            None
        }
    }

    /// A MISP object (`{` next) whose keys are `K`'s: `member` reads the
    /// value of each (`Other` for a key the model skips). A key with escapes
    /// (none of MISP's has one) or given twice is left to serde, which words
    /// the error.
    #[inline(always)]
    fn fields<K: Cached<'a>>(
        &mut self,
        mut member: impl FnMut(&mut Self, K) -> Option<()>,
    ) -> Option<()> {
        self.open(b'{')?;
        if self.peek()? == b'}' {
            self.i += 1;
            self.depth -= 1;
            return Some(());
        }
        // Taken out while the members are read (an object of the same kind
        // inside starts with none).
        let mut keys = std::mem::take(K::keys(&mut self.keys));
        let read = self.members(&mut keys, &mut member);
        *K::keys(&mut self.keys) = keys;
        read
    }

    /// The members of an object whose `{` has been read, up to its `}`.
    fn members<K: Key>(
        &mut self,
        keys: &mut Keys<'a, K>,
        member: &mut impl FnMut(&mut Self, K) -> Option<()>,
    ) -> Option<()> {
        let mut seen = 0u32;
        let mut last = NONE;
        loop {
            let next = keys.after(last);
            let field = match keys.seen.get(usize::from(next)) {
                Some(k) if k.at(self.bytes, self.i) => {
                    // `"key":` as the last object had it: checked then.
                    self.i += k.text.len();
                    last = next;
                    k.field
                }
                _ => {
                    let start = self.i;
                    let (key, escaped) = self.string()?;
                    if escaped {
                        return None;
                    }
                    let field = K::of(key);
                    last = match self.bytes.get(self.i) {
                        Some(b':') => keys.learn(last, &self.bytes[start..=self.i], field),
                        _ => keys.link(last, NONE),
                    };
                    self.ws();
                    if self.peek()? != b':' {
                        return None;
                    }
                    self.i += 1;
                    field
                }
            };
            self.ws();
            if let Some(i) = field.index() {
                if seen & 1 << i != 0 {
                    return None;
                }
                seen |= 1 << i;
            }
            member(self, field)?;
            if !self.next(b'}')? {
                return Some(());
            }
        }
    }

    /// An array (`[` next): `element` reads each element.
    fn array(&mut self, mut element: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.open(b'[')?;
        if self.peek()? == b']' {
            self.i += 1;
            self.depth -= 1;
            return Some(());
        }
        loop {
            element(self)?;
            if !self.next(b']')? {
                return Some(());
            }
        }
    }

    /// A string (`"` next): its text between the quotes, and whether it has
    /// escapes. Checked as serde_json checks a string it skips: no control
    /// characters, only JSON's escapes.
    fn string(&mut self) -> Option<(&'a str, bool)> {
        if self.peek()? != b'"' {
            return None;
        }
        let start = self.i + 1;
        // Most strings have no escape: the first byte JSON escapes ends them.
        // (No loop around this scan here: where the scan's constants sat in
        // one, they were kept in registers for every string, 4 % of a run.)
        let end = next_escape(self.bytes, start);
        if *self.bytes.get(end)? == b'"' {
            self.i = end + 1;
            return Some((&self.text[start..end], false));
        }
        self.escaped(start, end)
    }

    /// The rest of a string whose text starts at `start`, from the first byte
    /// at `i` that is not plain text: an escape, or a control character.
    #[cold]
    #[inline(never)]
    fn escaped(&mut self, start: usize, mut i: usize) -> Option<(&'a str, bool)> {
        loop {
            match *self.bytes.get(i)? {
                b'"' => break,
                b'\\' => {}
                _ => return None, // a control character
            }
            match *self.bytes.get(i + 1)? {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => i += 2,
                b'u' => {
                    let hex = self.bytes.get(i + 2..i + 6)?;
                    if !hex.iter().all(u8::is_ascii_hexdigit) {
                        return None;
                    }
                    i += 6;
                }
                _ => return None,
            }
            i = next_escape(self.bytes, i);
        }
        self.i = i + 1;
        Some((&self.text[start..i], true))
    }

    /// A number, by JSON's grammar: its text.
    fn number(&mut self) -> Option<&'a str> {
        let (b, start) = (self.bytes, self.i);
        let digits = |mut i: usize| {
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            i
        };
        let mut i = start + usize::from(b.get(start) == Some(&b'-'));
        i = match b.get(i)? {
            b'0' => i + 1,
            b'1'..=b'9' => digits(i + 1),
            _ => return None,
        };
        if b.get(i) == Some(&b'.') {
            let end = digits(i + 1);
            if end == i + 1 {
                return None;
            }
            i = end;
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            i += 1 + usize::from(matches!(b.get(i + 1), Some(b'+' | b'-')));
            let end = digits(i);
            if end == i {
                return None;
            }
            i = end;
        }
        self.i = i;
        Some(&self.text[start..i])
    }

    /// `word` next (its length known: compared without a call).
    fn literal<const N: usize>(&mut self, word: &[u8; N]) -> Option<()> {
        if self.bytes.get(self.i..self.i + N)? != word {
            return None;
        }
        self.i += N;
        Some(())
    }

    /// A string without escapes (`"` next), scanned in place: where its
    /// text starts and ends. `None` (nothing read) for any other string.
    #[inline(always)]
    fn plain(&mut self) -> Option<(usize, usize)> {
        let start = self.i + 1;
        // Sixteen bytes at a time here (inlined): a string is found whole
        // this way but near the end of the line.
        #[cfg(target_arch = "x86_64")]
        let end = match escape_by_16(self.bytes, start) {
            Ok(end) => end,
            Err(rest) => next_escape(self.bytes, rest),
        };
        #[cfg(not(target_arch = "x86_64"))]
        let end = next_escape(self.bytes, start);
        if self.bytes.get(end) != Some(&b'"') {
            return None;
        }
        self.i = end + 1;
        Some((start, end))
    }

    /// Skips one value, checking it.
    fn skip(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => match self.plain() {
                Some(_) => Some(()),
                None => self.string().map(drop),
            },
            b'{' => self.skip_object(),
            b'[' => self.array(Self::skip),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => self.number().map(drop),
        }
    }

    /// Skips one value, inlined for a string without escapes, a boolean or
    /// a plain integer: what an attribute's keys the model skips hold
    /// (`distribution`, `disable_correlation`, an event's attributes' `id`).
    #[inline(always)]
    fn skip_scalar(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' if self.plain().is_some() => return Some(()),
            b't' => return self.literal(b"true"),
            b'f' => return self.literal(b"false"),
            b'1'..=b'9' => {
                if let Some((_, end)) = bare_integer(self.bytes, self.i) {
                    self.i = end;
                    return Some(());
                }
            }
            _ => {}
        }
        self.skip()
    }

    /// Skips an object (`{` next), checking it; a key without escapes is
    /// scanned in place (galaxies are skipped whole, and most of their
    /// strings are keys).
    fn skip_object(&mut self) -> Option<()> {
        self.open(b'{')?;
        if self.peek()? == b'}' {
            self.i += 1;
            self.depth -= 1;
            return Some(());
        }
        loop {
            if self.peek()? != b'"' {
                return None;
            }
            if self.plain().is_none() {
                self.string()?;
            }
            self.ws();
            if self.peek()? != b':' {
                return None;
            }
            self.i += 1;
            self.ws();
            self.skip()?;
            if !self.next(b'}')? {
                return Some(());
            }
        }
    }

    /// The value here, read by serde (the forms this reader leaves to it).
    fn serde<T>(&mut self, seed: impl DeserializeSeed<'a, Value = T>) -> Option<T> {
        let start = self.i;
        self.skip()?;
        let mut de = serde_json::Deserializer::from_str(&self.text[start..self.i]);
        let value = seed.deserialize(&mut de).ok()?;
        de.end().ok()?;
        Some(value)
    }

    /// A string's value (`"` next), borrowed where it has no escapes.
    fn str(&mut self) -> Option<Str<'a>> {
        let start = self.i;
        let (text, escaped) = self.string()?;
        if !escaped {
            return Some(Cow::Borrowed(text));
        }
        // JSON's one-letter escapes (quotes in MISP's galaxy tags) decoded
        // here; serde decodes `\u` (and refuses lone surrogates).
        if let Some(text) = unescape(text) {
            return Some(Cow::Owned(text));
        }
        serde_json::from_str::<String>(&self.text[start..self.i])
            .ok()
            .map(Cow::Owned)
    }

    /// Inlined for its usual case, a string without escapes: most of an
    /// attribute's values (a call and its result in memory cost as much as
    /// scanning a short string).
    #[inline(always)]
    fn opt_str(&mut self) -> Option<Option<Str<'a>>> {
        if self.peek()? == b'"' {
            if let Some((start, end)) = self.plain() {
                return Some(Some(Cow::Borrowed(&self.text[start..end])));
            }
        }
        self.opt_str_rest()
    }

    #[inline(never)]
    fn opt_str_rest(&mut self) -> Option<Option<Str<'a>>> {
        match self.peek()? {
            b'"' => self.str().map(Some),
            b'n' => self.literal(b"null").map(|()| None),
            _ => self.serde(OptStr),
        }
    }

    fn opt_bool(&mut self) -> Option<Option<bool>> {
        match self.peek()? {
            b't' => self.literal(b"true").map(|()| Some(true)),
            b'f' => self.literal(b"false").map(|()| Some(false)),
            b'n' => self.literal(b"null").map(|()| None),
            b'"' => match self.string()? {
                (text, false) => bool_text(text).ok(),
                (_, true) => None,
            },
            _ => self.serde(OptBool),
        }
    }

    fn opt_i64(&mut self) -> Option<Option<i64>> {
        // MISP's usual forms, `"1795317989"` and `1795317989`, read at once:
        // what `i64_text` and `str::parse` give for up to 18 digits.
        let read = if self.peek()? == b'"' {
            digits(self.bytes, self.i + 1)
                .filter(|&(_, end)| self.bytes.get(end) == Some(&b'"'))
                .map(|(v, end)| (v, end + 1))
        } else {
            bare_integer(self.bytes, self.i)
        };
        if let Some((v, end)) = read {
            self.i = end;
            return Some(Some(v));
        }
        match self.peek()? {
            b'"' => match self.string()? {
                (text, false) => i64_text(text).ok(),
                (_, true) => None,
            },
            b'n' => self.literal(b"null").map(|()| None),
            _ => {
                let start = self.i;
                let text = self.number()?;
                // Plain integers that fit; serde reads the other forms.
                if text.len() <= 18 && !text.contains(['.', 'e', 'E']) {
                    text.parse().ok().map(Some)
                } else {
                    self.i = start;
                    self.serde(OptI64)
                }
            }
        }
    }

    /// One attribute object (`{` next) into `a`, as the model reads it.
    fn attribute(&mut self, a: &mut Attribute<'a>, keep_id: bool) -> Option<()> {
        self.fields(|s, field| {
            match field {
                AttributeField::Id if keep_id => a.id = s.opt_str()?,
                AttributeField::Id | AttributeField::Other => s.skip_scalar()?,
                AttributeField::Uuid => a.uuid = s.opt_str()?,
                AttributeField::Type => a.kind = s.opt_str()?,
                AttributeField::Value => a.value = s.opt_str()?,
                AttributeField::Category => a.category = s.opt_str()?,
                AttributeField::Comment => a.comment = s.opt_str()?,
                AttributeField::ToIds => a.to_ids = s.opt_bool()?,
                AttributeField::Deleted => a.deleted = s.opt_bool()?,
                AttributeField::Timestamp => a.timestamp = s.opt_i64()?,
                AttributeField::FirstSeen => a.first_seen = s.opt_str()?,
                AttributeField::LastSeen => a.last_seen = s.opt_str()?,
                AttributeField::ObjectRelation => a.object_relation = s.opt_str()?,
                AttributeField::EventUuid => a.event_uuid = s.opt_str()?,
                AttributeField::Tag => a.tags = s.list(4, Self::tag)?,
                AttributeField::Event => {
                    a.event = match s.peek()? {
                        b'{' => Some(Box::new(s.event()?)),
                        _ => s.serde(PhantomData)?,
                    }
                }
                AttributeField::Object => a.object = s.serde(PhantomData)?,
                AttributeField::Attribute => a.attributes = s.one_or_many()?,
                AttributeField::Response => a.response = s.one_or_many()?,
                // Kept as text, as serde's `RawValue` keeps it.
                AttributeField::Galaxy => {
                    let start = s.i;
                    s.skip()?;
                    a.galaxy = Some(&s.text[start..s.i]);
                }
            }
            Some(())
        })
    }

    /// `Attribute` or `response` of a line (misp-pull's attribute lines,
    /// restSearch documents): one object or a list, each read as a line
    /// (keeping its `id`), as serde reads a `OneOrMany<Attribute>`.
    fn one_or_many(&mut self) -> Option<Option<Box<OneOrMany<Attribute<'a>>>>> {
        let list = match self.peek()? {
            b'{' => {
                let mut one = Attribute::default();
                self.attribute(&mut one, true)?;
                vec![one]
            }
            b'[' => self.list(16, |s, a| s.attribute(a, true))?,
            _ => return self.serde(PhantomData),
        };
        Some(Some(Box::new(OneOrMany(list))))
    }

    /// A list (`[` next), each element read by `one` into a default `T` in
    /// place (moving an attribute costs more than most of its fields), with
    /// room for `capacity` once it has one.
    fn list<T: Default>(
        &mut self,
        capacity: usize,
        mut one: impl FnMut(&mut Self, &mut T) -> Option<()>,
    ) -> Option<Vec<T>> {
        let mut list = Vec::new();
        self.array(|s| {
            if list.capacity() == 0 {
                // At the first element (an empty list allocates nothing):
                // growing a list from nothing cost as much as its tags.
                list = Vec::with_capacity(capacity);
            }
            list.push(T::default());
            one(s, list.last_mut().expect("just pushed"))
        })?;
        Some(list)
    }

    /// A tag object (`{` next) into `t`.
    fn tag(&mut self, t: &mut Tag<'a>) -> Option<()> {
        self.fields(|s, field| {
            match field {
                TagField::Name if s.peek()? == b'"' => t.name = s.str()?,
                TagField::Name => return None,
                TagField::Local => t.local = s.opt_bool()?,
                TagField::Inherited => t.inherited = s.opt_bool()?,
                TagField::Other => s.skip()?,
            }
            Some(())
        })
    }

    /// An event object (`{` next).
    fn event(&mut self) -> Option<Event<'a>> {
        let mut e = Event::default();
        self.fields(|s, field| {
            match field {
                EventField::Id => e.id = s.opt_str()?,
                EventField::Uuid => e.uuid = s.opt_str()?,
                EventField::Info => e.info = s.opt_str()?,
                EventField::Date => e.date = s.opt_str()?,
                EventField::ThreatLevelId => e.threat_level_id = s.opt_i64()?,
                EventField::Timestamp => e.timestamp = s.opt_i64()?,
                EventField::PublishTimestamp => e.publish_timestamp = s.opt_i64()?,
                EventField::Orgc => e.orgc = s.serde(PhantomData)?,
                EventField::Tag => e.tags = s.list(8, Self::tag)?,
                EventField::Attribute => {
                    e.attributes = s.list(512, |s, a| s.attribute(a, false))?;
                }
                EventField::Object => e.objects = s.list(16, Self::misp_object)?,
                // Galaxies are rare and small beside an event's attributes:
                // serde reads them, on the value's own text.
                EventField::Galaxy => e.galaxies = s.serde(Galaxies)?,
                EventField::Other => s.skip()?,
            }
            Some(())
        })?;
        Some(e)
    }

    /// A MISP object (`{` next) into `o`.
    fn misp_object(&mut self, o: &mut Object<'a>) -> Option<()> {
        self.fields(|s, field| {
            match field {
                ObjectField::Name => o.name = s.opt_str()?,
                ObjectField::Uuid => o.uuid = s.opt_str()?,
                ObjectField::Timestamp => o.timestamp = s.opt_i64()?,
                ObjectField::Deleted => o.deleted = s.opt_bool()?,
                ObjectField::FirstSeen => o.first_seen = s.opt_str()?,
                ObjectField::LastSeen => o.last_seen = s.opt_str()?,
                ObjectField::Attribute => o.attributes = s.list(8, |s, a| s.attribute(a, false))?,
                ObjectField::Other => s.skip()?,
            }
            Some(())
        })
    }
}

/// The text of a string (checked: only JSON's escapes) with its one-letter
/// escapes decoded; `None` where it has a `\u` escape.
fn unescape(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('\\') {
        out.push_str(&rest[..at]);
        out.push(match rest.as_bytes()[at + 1] {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            _ => return None,
        });
        rest = &rest[at + 2..];
    }
    out.push_str(rest);
    Some(out)
}

/// A bare JSON integer of one to 18 digits at `i`, whole: not a leading 0
/// (JSON's `0` alone, left to the slow path), nor the start of a longer or
/// fractional number. Its value and where it ends.
#[inline(always)]
fn bare_integer(b: &[u8], i: usize) -> Option<(i64, usize)> {
    if b.get(i) == Some(&b'0') {
        return None;
    }
    let (v, end) = digits(b, i)?;
    (!matches!(b.get(end), Some(b'0'..=b'9' | b'.' | b'e' | b'E'))).then_some((v, end))
}

/// The value of the ASCII digits at `i` (one to 18 of them, so that it fits),
/// and where they end.
#[inline(always)]
fn digits(b: &[u8], start: usize) -> Option<(i64, usize)> {
    let mut v = 0;
    let mut i = start;
    // The first eight at once where they are all digits (a timestamp has ten).
    if let Some(x) = b.get(i..i + 8) {
        let x = u64::from_le_bytes(x.try_into().expect("8 bytes"));
        const ONES: u64 = u64::MAX / 255;
        // Each byte 0x30..=0x39: high nibble 3, and adding 6 keeps it 3.
        let high = 0xf0 * ONES;
        if x & high == 0x30 * ONES && x.wrapping_add(6 * ONES) & high == 0x30 * ONES {
            // Lemire's eight-digit parse: pairs, then fours, then all eight.
            let x = (x & (0x0f * ONES)).wrapping_mul(2561) >> 8;
            let x = (x & 0x00ff_00ff_00ff_00ff).wrapping_mul(6_553_601) >> 16;
            v = ((x & 0x0000_ffff_0000_ffff).wrapping_mul(42_949_672_960_001) >> 32) as i64;
            i += 8;
        }
    }
    while let Some(d @ b'0'..=b'9') = b.get(i) {
        if i - start == 18 {
            break;
        }
        v = v * 10 + i64::from(d - b'0');
        i += 1;
    }
    (i > start).then_some((v, i))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Read here (not left to serde) and read as serde reads it.
    fn same(text: &str) {
        let fast = line(text).unwrap_or_else(|| panic!("left to serde: {text}"));
        let slow: Line = serde_json::from_str(text).unwrap();
        assert_eq!(format!("{fast:?}"), format!("{slow:?}"), "{text}");
    }

    #[test]
    fn reads_the_usual_shapes() {
        same(
            r##" {"Event":{"id":"4711","uuid":"e","threat_level_id":"2","date":"2026-03-01","info":"caf\u00e9 \"x\"",
            "timestamp":1795362919,"publish_timestamp":"1795362919","orgc":{"uuid":"o","name":"CERT"},
            "Tag":[{"name":"tlp:green","local":0,"colour":"#fff"}],"Galaxy":[{"x":[1,2.5e3,-0,null,true]}],
            "Attribute":[{"id":"1","type":"domain","value":"a.example","to_ids":"1","deleted":false,
              "timestamp":"17","comment":"","first_seen":null,"Tag":[{"name":"x","inherited":1}]}],
            "Object":[{"name":"file","deleted":"0","timestamp":"5","Attribute":[{"type":"sha256",
              "value":"ab","object_relation":"sha256","to_ids":true}]}]}} "##,
        );
        same(
            r#"{"id":"9","type":"ip-dst","value":"192.0.2.1","event_uuid":"e","to_ids":null,
            "Event":{"uuid":"e","info":"stub"},"Object":{"id":"3","name":"x","deleted":false}}"#,
        );
        same(r#"{"response":[{"Event":{"uuid":"a"}},{"Attribute":[{"type":"md5","value":"x"}]}]}"#);
        same(
            r#"{"Attribute":{"id":"7","type":"md5","value":"x","Event":{"uuid":"e"},"Object":{"name":"f"}}}"#,
        );
        same(r#"{"Attribute":[{"id":7,"type":"md5"},{"id":"8"}],"response":null}"#);
        // Galaxies on the event and on an attribute, in MISP's export shape and odd ones.
        same(
            r#"{"Event":{"uuid":"e","Galaxy":[{"type":"mitre-attack-pattern","GalaxyCluster":[{"uuid":
            "a62a8db3-f23a-4d8f-afd6-9dbc77e7813b","value":"Phishing - T1566","tag_name":
            "misp-galaxy:mitre-attack-pattern=\"Phishing - T1566\"","meta":{"external_id":["T1566"]}}]}],
            "Attribute":[{"type":"domain","value":"a.example","Galaxy":{"0":{"type":"threat-actor",
            "GalaxyCluster":[{"uuid":"","value":"Sofacy","local":"0","meta":{"synonyms":"APT28"}}]}}}]}}"#,
        );
        same("{}");
    }

    #[test]
    fn keys_remembered_from_one_object_to_the_next() {
        // Orders that change, keys added, dropped, spaced, and keys that
        // only start like a remembered one.
        same(
            r#"{"Event":{"Attribute":[{"id":"1","type":"md5","value":"a","Tag":[{"name":"x","local":0}]},
            {"id":"2","type":"md5","value":"b","Tag":[{"name":"y","local":1}]},
            {"type":"sha1","id":"3","value":"c","to_ids":true,"Tag":[{"local":1,"name":"z"}]},
            {"id":"4","type" :"url","typed":"x","value":"d","valuex":1,"comment":"e"},
            {"id":"5","type":"ip-src","value":"f","object_relation":"r","first_seen":"2026"},
            {"id":"6","ty":"x","type":"domain","value":"g"}],
            "Object":[{"name":"o","Attribute":[{"type":"md5","value":"h"},{"type":"md5","value":"i"}]},
            {"name":"p","uuid":"u","Attribute":[{"value":"j","type":"md5"}]}]}}"#,
        );
        // A key given twice after its first object is still serde's to word.
        for text in [
            r#"{"Event":{"Attribute":[{"type":"a","value":"b"},{"type":"a","value":"b","type":"c"}]}}"#,
            r#"{"Event":{"Attribute":[{"type":"a","value":"b"},{"type":"a","value":"b","value":"c"}]}}"#,
            r#"{"Event":{"Tag":[{"name":"a"},{"name":"b","name":"c"}]}}"#,
        ] {
            assert!(line(text).is_none(), "{text}");
        }
        // More distinct keys than are remembered.
        let many: String = (0..2 * MAX_KEYS)
            .map(|i| format!(r#""k{i}":{i},"#))
            .collect();
        same(&format!(
            r#"{{"Event":{{"Attribute":[{{{many}"type":"a"}},{{{many}"value":"b"}}]}}}}"#
        ));
    }

    #[test]
    fn reads_numbers_in_every_form() {
        for ts in [
            r#""1795317989""#,
            "1795317989",
            r#""0017""#,
            "0",
            "7",
            r#""""#,
            r#"" 12 ""#,
            r#""123456789012345678""#,
            r#""1234567890123456789""#,
            "123456789012345678",
            "1234567890123456789",
            "12.5",
            "1e3",
            "-5",
            r#""-5""#,
            "null",
        ] {
            same(&format!(r#"{{"type":"a","timestamp":{ts}}}"#));
        }
        // Not JSON, or an escape (left to serde).
        for ts in ["01", "1.", r#""1"#, "1x", r#""1\u0030""#] {
            assert!(
                line(&format!(r#"{{"type":"a","timestamp":{ts}}}"#)).is_none(),
                "{ts}"
            );
        }
    }

    #[test]
    fn decodes_escapes_as_serde_does() {
        for v in [
            r#""a\"b\\c\/d\be\ff\ng\rh\ti""#,
            r#""\\\"\\""#,
            r#""\"x\"""#,
            r#""caf\u00e9 \"x\"""#,
            r#""\ud83d\ude00\n""#,
        ] {
            same(&format!(
                r#"{{"type":"a","value":{v},"Tag":[{{"name":{v}}}],"Event":{{"info":{v}}}}}"#
            ));
        }
    }

    #[test]
    fn digits_as_str_parse_reads_them() {
        for text in [
            "0",
            "7",
            "12345678",
            "87654321x",
            "1795317989",
            "99999999",
            "00000000",
            "123456789012345678",
            "1234567890123456789",
            "1234567/",
            "12345678:",
            "9:",
            "1234567",
            "",
            "x",
        ] {
            let b = text.as_bytes();
            let n = b.iter().take_while(|c| c.is_ascii_digit()).count().min(18);
            let want = (n > 0).then(|| (text[..n].parse::<i64>().unwrap(), n));
            assert_eq!(digits(b, 0), want, "{text}");
        }
    }

    #[test]
    fn skips_what_the_model_does_not_read() {
        let events = |v: &str| {
            format!(
                r#"{{"Event":{{"Attribute":[{{"id":{v},"distribution":{v},"type":"a"}},{{"id":{v},"distribution":{v},"type":"b"}}]}}}}"#
            )
        };
        for v in [
            "5",
            r#""5""#,
            "0",
            "-1",
            "1.5",
            "1e5",
            "12345678",
            "123456789012345678",
            "12345678901234567890",
            "true",
            "false",
            "null",
            r#""a\"b""#,
            "[1,{}]",
            r#"{"x":[true]}"#,
        ] {
            same(&events(v));
        }
        for v in ["01", "1.", "tru", "falsy", "1x", r#""a"#, "+1"] {
            assert!(line(&events(v)).is_none(), "{v}");
        }
    }

    #[test]
    fn leaves_what_it_is_not_sure_of_to_serde() {
        for text in [
            r#"{"type":"md5","type":"x"}"#,       // duplicate key: serde's error
            r#"{"ty\u0070e":"md5"}"#,             // escaped key
            r#"{"type":"md5","timestamp":01}"#,   // not JSON
            r#"{"type":"md5","to_ids":"maybe"}"#, // serde words the error
            r#"{"type":"md5","value":"\ud800"}"#, // a lone surrogate
            r#"{"Event":{"Attribute":null}}"#,    // serde's error
            r#"{"type":"md5"} x"#,                // trailing characters
            "[{\"type\":\"md5\"}]",               // a list (ioc-map reads it with serde)
            "{\"value\":\"a\u{1}\"}",             // a control character in a string
        ] {
            assert!(line(text).is_none(), "{text}");
        }
        let deep = format!(
            "{}{}",
            "[".repeat(MAX_DEPTH as usize + 1),
            "]".repeat(MAX_DEPTH as usize + 1)
        );
        assert!(line(&format!(r#"{{"other":{deep}}}"#)).is_none());
    }

    #[test]
    fn reads_the_sample_feed_and_the_infoblox_feed() {
        use std::io::Write as _;
        let mut read = 0;
        for dir in [
            "examples/sample-feed",
            "../shared/fixtures/infoblox-misp-feed",
        ] {
            let Ok(entries) = std::fs::read_dir(dir) else {
                // The Infoblox feed is only there beside a full checkout; say
                // so where libtest does not capture it.
                let _ = writeln!(std::io::stderr(), "{dir}: skipped: feed not present");
                continue;
            };
            for e in entries {
                let path = e.unwrap().path();
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                if !name.ends_with(".json") || name == "manifest.json" {
                    continue;
                }
                same(&std::fs::read_to_string(&path).unwrap());
                read += 1;
            }
        }
        assert!(read > 0);
    }
}
