//! The memo of the record parts that repeat from one STIX indicator to the
//! next: their JSON text, kept for the last few sources seen.

use std::borrow::Borrow;

/// The JSON text of a part of the record that repeats from one indicator to
/// the next (an event's name, labels, references, …), for the last few
/// sources seen (attributes of one event alternate between a few categories
/// and tag sets): built again only for a source not among them.
pub(super) struct Memo<K: ?Sized + ToOwned> {
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
    pub(super) fn new() -> Self {
        Memo {
            entries: Vec::with_capacity(MEMO_SIZE),
            keys: Vec::with_capacity(MEMO_SIZE),
            used: Vec::with_capacity(MEMO_SIZE),
            clock: 0,
            last: 0,
        }
    }

    /// Appends the text used last (for the same key as last time).
    #[inline]
    pub(super) fn repeat(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.entries[self.last].1);
    }

    /// Entry `i` is used now: its text is appended to `out`.
    #[inline]
    fn use_entry(&mut self, i: usize, out: &mut Vec<u8>) {
        self.clock += 1;
        self.used[i] = self.clock;
        self.last = i;
        out.extend_from_slice(&self.entries[i].1);
    }

    /// Whether a text is remembered for the non-zero context key `context`.
    #[inline]
    pub(super) fn has_key(&self, context: u64) -> bool {
        self.keys.contains(&context)
    }

    /// [`Memo::write`], found by a non-zero context key when it was seen
    /// (no comparison of the source then).
    #[inline]
    pub(super) fn write_keyed(
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
    #[inline]
    pub(super) fn write(
        &mut self,
        out: &mut Vec<u8>,
        key: &K,
        build: impl FnOnce(&K, &mut Vec<u8>),
    ) {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
