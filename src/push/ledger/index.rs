//! The ledger's memory (docs/design.md#memory): at most 64 bytes per key, a
//! 128-bit key hash and the journal offset, content hash, `modified` and
//! validity end of the latest version (48 bytes) in a sorted vector, plus a
//! small hash map of keys added since the last merge.

use std::collections::HashMap;

const LIVE: u64 = 1 << 63;
const SEEN: u64 = 1 << 62;
const OFFSET: u64 = (1 << 56) - 1;

/// The latest accepted version of one key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Entry {
    /// Journal offset of the line, plus the LIVE and SEEN flags.
    word: u64,
    pub content_hash: u64,
    /// The record's own `modified` (before any bump), ms; `i64::MIN` if none.
    pub modified: i64,
    /// Validity end, ms; `i64::MAX` if none.
    pub valid_end: i64,
}

impl Entry {
    /// The remote holds a live version (not a retirement).
    pub fn live(&self) -> bool {
        self.word & LIVE != 0
    }

    /// Live and not yet lapsed at `now_ms`.
    pub fn active(&self, now_ms: i64) -> bool {
        self.live() && self.valid_end > now_ms
    }

    /// Journal offset of the line.
    pub(super) fn offset(&self) -> u64 {
        self.word & OFFSET
    }

    /// The entry of a journal line at `offset`.
    pub(super) fn on_disk(
        offset: u64,
        live: bool,
        content_hash: u64,
        modified: i64,
        valid_end: i64,
    ) -> Self {
        Entry {
            word: offset | if live { LIVE } else { 0 },
            content_hash,
            modified,
            valid_end,
        }
    }

    /// The same entry, its line moved to `offset` (compaction).
    pub(super) fn moved_to(&mut self, offset: u64) {
        self.word = (self.word & !OFFSET) | offset;
    }

    /// This run's input held the key (or this run sent it).
    pub fn seen(&self) -> bool {
        self.word & SEEN != 0
    }

    /// Marks the key seen in this run; true if it was already.
    pub(super) fn mark_seen(&mut self) -> bool {
        let before = self.seen();
        self.word |= SEEN;
        before
    }

    /// An entry with no journal line (a [`RunKeys`] entry).
    pub fn in_memory(live: bool, content_hash: u64, modified: i64, valid_end: i64) -> Self {
        Entry::on_disk(0, live, content_hash, modified, valid_end)
    }
}

/// What a run without a ledger remembers of the versions it sent, so that a
/// key coming twice in one run is decided like the ledger would (docs/design.md#results):
/// the same 48 bytes a key as the ledger's index, nothing on disk. `modified`
/// is the version as sent (after any bump).
#[derive(Default)]
pub struct RunKeys {
    index: KeyIndex,
}

impl RunKeys {
    pub fn get(&self, key_hash: u128) -> Option<Entry> {
        self.index.get(key_hash).copied()
    }

    pub fn insert(&mut self, key_hash: u128, entry: Entry) {
        self.index.insert(key_hash, entry);
    }
}

/// The key → entry index: a vector sorted by key (48 bytes a key) for the
/// bulk, and a hash map for keys added since the last merge, merged in when
/// it reaches an eighth of the vector, so that the whole stays within 64
/// bytes a key (a hash map alone can need twice that after it grows).
#[derive(Default)]
pub(super) struct KeyIndex {
    sorted: Vec<(u128, Entry)>,
    recent: HashMap<u128, Entry>,
}

impl KeyIndex {
    pub(super) fn len(&self) -> usize {
        self.sorted.len() + self.recent.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(super) fn get(&self, k: u128) -> Option<&Entry> {
        match self.sorted.binary_search_by_key(&k, |(key, _)| *key) {
            Ok(i) => Some(&self.sorted[i].1),
            Err(_) => self.recent.get(&k),
        }
    }

    pub(super) fn get_mut(&mut self, k: u128) -> Option<&mut Entry> {
        match self.sorted.binary_search_by_key(&k, |(key, _)| *key) {
            Ok(i) => Some(&mut self.sorted[i].1),
            Err(_) => self.recent.get_mut(&k),
        }
    }

    pub(super) fn insert(&mut self, k: u128, e: Entry) {
        if let Some(slot) = self.get_mut(k) {
            *slot = e;
            return;
        }
        self.recent.insert(k, e);
        if self.recent.len() >= 4096.max(self.sorted.len() / 8) {
            self.merge();
        }
    }

    /// Moves the recent keys into the sorted vector (a linear merge from the back).
    pub(super) fn merge(&mut self) {
        let mut add: Vec<(u128, Entry)> = self.recent.drain().collect();
        self.recent.shrink_to_fit();
        add.sort_unstable_by_key(|(k, _)| *k);
        let old = self.sorted.len();
        self.sorted.reserve_exact(add.len());
        self.sorted.resize(old + add.len(), (0, Entry::default()));
        let (mut i, mut j, mut to) = (old, add.len(), old + add.len());
        while j > 0 {
            if i > 0 && self.sorted[i - 1].0 > add[j - 1].0 {
                self.sorted[to - 1] = self.sorted[i - 1];
                i -= 1;
            } else {
                self.sorted[to - 1] = add[j - 1];
                j -= 1;
            }
            to -= 1;
        }
    }

    pub(super) fn values(&self) -> impl Iterator<Item = &Entry> {
        self.sorted
            .iter()
            .map(|(_, e)| e)
            .chain(self.recent.values())
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = (u128, &Entry)> {
        self.sorted
            .iter()
            .map(|(k, e)| (*k, e))
            .chain(self.recent.iter().map(|(k, e)| (*k, e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::push::record::{self, RecordKind};

    #[test]
    fn index_entry_fits_the_memory_budget() {
        assert!(std::mem::size_of::<(u128, Entry)>() <= 48);
    }

    #[test]
    fn key_index_merges_and_finds_everything() {
        let mut idx = KeyIndex::default();
        let key = |i: u64| record::key_hash(RecordKind::Graph, &i.to_string());
        let entry = |i: u64| Entry {
            word: i,
            ..Entry::default()
        };
        for i in 0..20_000u64 {
            idx.insert(key(i), entry(i));
        }
        // Updates land in place, wherever the key lives.
        for i in (0..20_000u64).step_by(7) {
            idx.insert(key(i), entry(i + 1_000_000));
        }
        assert_eq!(idx.len(), 20_000);
        assert!(idx.sorted.len() >= 16_000, "merged: {}", idx.sorted.len());
        assert!(idx.sorted.windows(2).all(|w| w[0].0 < w[1].0));
        for i in 0..20_000u64 {
            let want = if i % 7 == 0 { i + 1_000_000 } else { i };
            assert_eq!(idx.get(key(i)).unwrap().word, want);
        }
        assert!(idx.get(key(20_001)).is_none());
        assert_eq!(idx.values().count(), 20_000);
    }
}
