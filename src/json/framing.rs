//! Where a JSON value ends: the one state machine that tracks bracket depth,
//! whether a byte is inside a string, and whether it is escaped. The stream
//! reader of MISP documents (`misp::stream`) frames elements with it, the
//! NDJSON reader (`io::ndjson`) gathers the lines of a pretty-printed
//! document with it, and `compact_into` drops the whitespace between
//! tokens with it.
//!
//! The rule is the byte loop (`Framing::bytes`): a `\` inside a string
//! escapes the next byte, a `"` not escaped opens or closes a string, and
//! brackets outside strings count. The bytes go through `Framing::block`
//! instead, 64 at a time with the bit masks of `json::simd` (the technique of
//! simdjson's first stage: the in-string mask is the prefix XOR of the
//! unescaped quotes), so the cost does not grow with the number of strings;
//! a tail shorter than 64 bytes is padded to a block. The block takes every
//! `\` for an escape; a block with a `\` outside a string (not JSON) goes
//! through the byte loop, so both give the same answer for any bytes.

use crate::json::simd::{masks, Masks};

/// JSON's whitespace between tokens.
#[inline]
pub fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// Bit i = XOR of bits 0..=i: inside a string from its opening quote up to
/// (not including) its closing one.
#[inline]
fn prefix_xor(mut x: u64) -> u64 {
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    x
}

/// The bits below and including bit `p`.
#[inline]
fn up_to(p: u32) -> u64 {
    if p == 63 {
        u64::MAX
    } else {
        (1u64 << (p + 1)) - 1
    }
}

/// The 64 bytes of `bytes` from `i` (there are at least 64).
#[inline(always)]
fn block_at(bytes: &[u8], i: usize) -> &[u8; 64] {
    bytes[i..i + 64].try_into().expect("64 bytes")
}

/// A tail shorter than 64 bytes as a block, padded with a byte that is in no
/// mask, and its length; `None` when it is empty.
#[inline]
fn padded(tail: &[u8]) -> Option<([u8; 64], usize)> {
    if tail.is_empty() {
        return None;
    }
    let mut block = [b'a'; 64];
    block[..tail.len()].copy_from_slice(tail);
    Some((block, tail.len()))
}

/// The strings of one 64-byte block, from [`Framing::strings`].
struct Strings {
    /// Bytes inside a string: its opening quote up to its closing one (not included).
    inside: u64,
    /// The quotes that open or close a string.
    quotes: u64,
    /// Whether the byte after the block's text is escaped.
    next_escaped: bool,
}

/// Where a scan through JSON text stands between two calls: bracket depth
/// (it may go below zero in text that is not one value), inside a string or
/// not, whether the next byte is escaped, and whether whitespace (any byte up
/// to 0x20) was seen between tokens.
#[derive(Debug, Default, Clone, Copy)]
pub struct Framing {
    depth: i64,
    in_str: bool,
    escaped: bool,
    has_ws: bool,
}

/// What one byte is, to the byte loop.
enum Byte {
    /// Inside a string, or its opening quote.
    InString,
    /// The quote that closes a string.
    Closing,
    Open,
    Close,
    /// A byte up to 0x20 outside strings.
    Space,
    Other,
}

impl Framing {
    /// Just past the opening bracket of an object or array.
    pub fn in_container() -> Self {
        Framing {
            depth: 1,
            ..Framing::default()
        }
    }

    /// Just past the opening quote of a string at the top.
    pub fn in_string() -> Self {
        Framing {
            in_str: true,
            ..Framing::default()
        }
    }

    /// The bracket depth: opening brackets seen minus closing ones.
    pub fn depth(&self) -> i64 {
        self.depth
    }

    /// Whether the text scanned so far ends inside a string.
    pub fn in_str(&self) -> bool {
        self.in_str
    }

    /// Whether whitespace sat between tokens (the value is not compact).
    pub fn has_ws(&self) -> bool {
        self.has_ws
    }

    /// Scans `bytes`, the continuation of a value started with
    /// [`Framing::in_container`] or [`Framing::in_string`]: the index just past
    /// the value's end (its closing bracket, or quote for a string), if it is
    /// there. Once it has answered, only [`Framing::has_ws`] is meaningful.
    #[inline]
    pub fn end(&mut self, bytes: &[u8]) -> Option<usize> {
        if self.depth == 0 {
            self.string_end(bytes)
        } else {
            self.run::<true>(bytes)
        }
    }

    /// Scans all of `bytes` (no stop where a value ends), for [`Framing::depth`]
    /// and [`Framing::in_str`] after them.
    pub fn scan(&mut self, bytes: &[u8]) {
        self.run::<false>(bytes);
    }

    /// [`Framing::end`] (`STOP`) or [`Framing::scan`] of an object or array.
    fn run<const STOP: bool>(&mut self, bytes: &[u8]) -> Option<usize> {
        let mut i = 0;
        while bytes.len() - i >= 64 {
            if let Some(end) = self.block::<STOP>(block_at(bytes, i), 64) {
                return Some(i + end);
            }
            i += 64;
        }
        let (tail, len) = padded(&bytes[i..])?;
        self.block::<STOP>(&tail, len).map(|end| i + end)
    }

    /// [`Framing::end`] of a string at the top.
    fn string_end(&mut self, bytes: &[u8]) -> Option<usize> {
        let mut i = 0;
        while bytes.len() - i >= 64 {
            if let Some(end) = self.string_block(block_at(bytes, i), 64) {
                return Some(i + end);
            }
            i += 64;
        }
        let (tail, len) = padded(&bytes[i..])?;
        self.string_block(&tail, len).map(|end| i + end)
    }

    /// The strings of a block with masks `m` and `len` bytes of text, or
    /// `None` when a `\` stands outside a string (the block is then for the
    /// byte loop). Leaves `self` as it is.
    #[inline]
    fn strings(&self, m: &Masks, len: usize) -> Option<Strings> {
        let flip = if self.in_str { u64::MAX } else { 0 };
        if m.backslash == 0 && !self.escaped {
            // Most blocks: no escapes.
            return Some(Strings {
                inside: prefix_xor(m.quote) ^ flip,
                quotes: m.quote,
                next_escaped: false,
            });
        }
        // Which bytes are escaped: the one after each backslash that is not itself escaped.
        let mut escaped = self.escaped as u64;
        let mut carry = false;
        let mut b = m.backslash;
        while b != 0 {
            let p = b.trailing_zeros();
            b &= b - 1;
            if escaped >> p & 1 == 1 {
                continue;
            }
            if p == 63 {
                carry = true;
            } else {
                escaped |= 1 << (p + 1);
            }
        }
        let quotes = m.quote & !escaped;
        let inside = prefix_xor(quotes) ^ flip;
        if m.backslash & !inside != 0 {
            return None;
        }
        Some(Strings {
            inside,
            quotes,
            next_escaped: if len == 64 {
                carry
            } else {
                escaped >> len & 1 == 1
            },
        })
    }

    /// One block (`len` bytes of text) of a value or of any text: the end of
    /// the value if `STOP` and it is there.
    #[inline(always)]
    fn block<const STOP: bool>(&mut self, block: &[u8; 64], len: usize) -> Option<usize> {
        let m = masks(block);
        let Some(s) = self.strings(&m, len) else {
            return self.bytes::<STOP>(&block[..len]);
        };
        let open = m.open & !s.inside;
        let close = m.close & !s.inside;
        let space = m.space & !s.inside & !s.quotes;
        if STOP {
            let mut brackets = open | close;
            while brackets != 0 {
                let p = brackets.trailing_zeros();
                brackets &= brackets - 1;
                if open >> p & 1 == 1 {
                    self.depth += 1;
                } else {
                    self.depth -= 1;
                    if self.depth == 0 {
                        self.has_ws |= space & up_to(p) != 0;
                        return Some(p as usize + 1);
                    }
                }
            }
        } else {
            self.depth += i64::from(open.count_ones()) - i64::from(close.count_ones());
        }
        self.has_ws |= space != 0;
        self.in_str = s.inside >> (len - 1) & 1 == 1;
        self.escaped = s.next_escaped;
        None
    }

    /// One block of a string at the top: the index just past its closing quote.
    #[inline(always)]
    fn string_block(&mut self, block: &[u8; 64], len: usize) -> Option<usize> {
        let Some(s) = self.strings(&masks(block), len) else {
            return self.bytes::<true>(&block[..len]);
        };
        let closing = s.quotes & !s.inside;
        if closing != 0 {
            return Some(closing.trailing_zeros() as usize + 1);
        }
        self.escaped = s.next_escaped;
        None
    }

    /// One byte of the rule, with the state it leaves.
    #[inline(always)]
    fn step(&mut self, b: u8) -> Byte {
        if self.escaped {
            self.escaped = false;
            return Byte::InString;
        }
        if self.in_str {
            return match b {
                b'\\' => {
                    self.escaped = true;
                    Byte::InString
                }
                b'"' => {
                    self.in_str = false;
                    Byte::Closing
                }
                _ => Byte::InString,
            };
        }
        match b {
            b'"' => {
                self.in_str = true;
                Byte::InString
            }
            b'{' | b'[' => Byte::Open,
            b'}' | b']' => Byte::Close,
            0..=0x20 => Byte::Space,
            _ => Byte::Other,
        }
    }

    /// The rule, byte by byte (for blocks with a `\` outside strings): the
    /// end of the value if `STOP` and it is there.
    fn bytes<const STOP: bool>(&mut self, bytes: &[u8]) -> Option<usize> {
        for (k, &b) in bytes.iter().enumerate() {
            match self.step(b) {
                Byte::Open => self.depth += 1,
                Byte::Close => {
                    self.depth -= 1;
                    if STOP && self.depth == 0 {
                        return Some(k + 1);
                    }
                }
                Byte::Closing if STOP && self.depth == 0 => return Some(k + 1),
                Byte::Space => self.has_ws = true,
                Byte::InString | Byte::Closing | Byte::Other => {}
            }
        }
        None
    }

    /// One block (`len` bytes of text) of [`compact_into`].
    #[inline(always)]
    fn compact_block(&mut self, block: &[u8; 64], len: usize, out: &mut Vec<u8>) {
        let m = masks(block);
        let Some(s) = self.strings(&m, len) else {
            self.compact_bytes(&block[..len], out);
            return;
        };
        let outside = m.space & !s.inside;
        if outside == 0 {
            out.extend_from_slice(&block[..len]);
        } else {
            // Of the bytes up to 0x20 outside strings only JSON's whitespace
            // is dropped (a control character is kept, for the parser to refuse).
            let mut drop = outside;
            let mut d = outside;
            while d != 0 {
                let p = d.trailing_zeros();
                d &= d - 1;
                if !is_ws(block[p as usize]) {
                    drop &= !(1 << p);
                }
            }
            copy_kept(block, !drop & up_to(len as u32 - 1), out);
        }
        self.in_str = s.inside >> (len - 1) & 1 == 1;
        self.escaped = s.next_escaped;
    }

    /// The rule, byte by byte, copying all but whitespace between tokens.
    fn compact_bytes(&mut self, bytes: &[u8], out: &mut Vec<u8>) {
        for &b in bytes {
            if !matches!(self.step(b), Byte::Space if is_ws(b)) {
                out.push(b);
            }
        }
    }
}

/// Calls `f` with the index of each bracket outside strings in `bytes` (text
/// from the start of a value) and whether it opens one: the structure of the
/// value without its strings, for readers that want a few keys of a big
/// value without parsing it (`misp-pull` counting an event's attributes).
pub fn for_each_bracket(bytes: &[u8], mut f: impl FnMut(usize, bool)) {
    let mut fr = Framing::default();
    let mut i = 0;
    while bytes.len() - i >= 64 {
        fr.bracket_block(block_at(bytes, i), 64, i, &mut f);
        i += 64;
    }
    if let Some((tail, len)) = padded(&bytes[i..]) {
        fr.bracket_block(&tail, len, i, &mut f);
    }
}

impl Framing {
    /// One block (`len` bytes of text, starting at `base`) of [`for_each_bracket`].
    fn bracket_block(
        &mut self,
        block: &[u8; 64],
        len: usize,
        base: usize,
        f: &mut impl FnMut(usize, bool),
    ) {
        let m = masks(block);
        let Some(s) = self.strings(&m, len) else {
            for (k, &b) in block[..len].iter().enumerate() {
                match self.step(b) {
                    Byte::Open => f(base + k, true),
                    Byte::Close => f(base + k, false),
                    _ => {}
                }
            }
            return;
        };
        let open = m.open & !s.inside;
        let mut brackets = (open | m.close) & !s.inside;
        while brackets != 0 {
            let p = brackets.trailing_zeros();
            brackets &= brackets - 1;
            f(base + p as usize, open >> p & 1 == 1);
        }
        self.in_str = s.inside >> (len - 1) & 1 == 1;
        self.escaped = s.next_escaped;
    }
}

/// Copies `raw` without the whitespace between tokens (strings untouched).
pub fn compact_into(raw: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.reserve(raw.len());
    let mut f = Framing::default();
    let mut i = 0;
    while raw.len() - i >= 64 {
        f.compact_block(block_at(raw, i), 64, out);
        i += 64;
    }
    if let Some((tail, len)) = padded(&raw[i..]) {
        f.compact_block(&tail, len, out);
    }
}

/// Appends the bytes of `block` whose bit is set in `keep`, run by run, each
/// run copied 16 bytes at a time (fixed-size copies, no call per run).
#[inline]
fn copy_kept(block: &[u8; 64], mut keep: u64, out: &mut Vec<u8>) {
    let mut from = [b'a'; 64 + 16];
    from[..64].copy_from_slice(block);
    let mut kept = [0u8; 64 + 16];
    let mut n = 0;
    while keep != 0 {
        let start = keep.trailing_zeros() as usize;
        let run = (keep >> start).trailing_ones() as usize;
        let mut k = 0;
        // n + k < 64 and start + k < 64: the 16 bytes stay in both arrays.
        while k < run {
            kept[n + k..n + k + 16].copy_from_slice(&from[start + k..start + k + 16]);
            k += 16;
        }
        n += run;
        keep &= !up_to((start + run - 1) as u32);
    }
    out.extend_from_slice(&kept[..n]);
}

#[cfg(test)]
mod tests;
