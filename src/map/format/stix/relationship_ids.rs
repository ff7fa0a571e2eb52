//! The ids of the `indicates` relationships, hashed in batches: each is
//! written into the pending output as a placeholder, and all of them are
//! filled in just before the output is passed on. A relationship id is a
//! UUIDv5, so two SHA-1 blocks after the namespace and source (hashed once
//! per indicator); in a batch the blocks of four ids go through the SHA
//! instructions side by side (`json::simd::sha1_lanes`), which is what made
//! `--context objects` affordable (BENCHMARKS.md, "Relationship ids in lanes").
//! The ids are the ones [`super::objects::relationship_uuid`] defines.

use crate::json::simd::sha1_lanes::{self, INIT, LANES};
use crate::misp::ids::NAMESPACE;

/// What is hashed between the source and the target: `|indicates|`.
const MIDDLE: &[u8] = b"|indicates|";
/// The length of a source id (`indicator--` and a uuid): with the namespace
/// and the first `|`, one whole SHA-1 block, hashed once for all its relationships.
pub(super) const SOURCE_LEN: usize = 47;
/// The longest target id the tail's two blocks hold: 128 bytes less the
/// padding's 9 and `indicates|`.
const TARGET_MAX: usize = 2 * 64 - 9 - (MIDDLE.len() - 1);
/// What a relationship's id is until [`RelationshipIds::fill`].
pub(super) const PLACEHOLDER: &[u8; uuid::fmt::Hyphenated::LENGTH] =
    &[b'0'; uuid::fmt::Hyphenated::LENGTH];

/// One relationship whose id is still a placeholder: where, in the writer's
/// buffer, its id's 36 characters go, and where its source's and target's ids are.
#[derive(Clone, Copy)]
struct Waiting {
    id_at: usize,
    source_at: usize,
    target_at: usize,
    target_len: usize,
}

/// The relationships written since the buffer was last passed on, ids to fill.
#[derive(Default)]
pub(super) struct RelationshipIds {
    waiting: Vec<Waiting>,
    /// Per waiting relationship, the state after its source's block.
    states: Vec<[u32; 5]>,
}

impl RelationshipIds {
    /// Remembers to fill in the id at `id_at` in the writer's buffer (a
    /// [`PLACEHOLDER`] until then): that of the relationship from the source
    /// id at `source_at` to the target id of `target_len` bytes at `target_at`.
    pub(super) fn wait(
        &mut self,
        id_at: usize,
        source_at: usize,
        target_at: usize,
        target_len: usize,
    ) {
        assert!(
            target_len <= TARGET_MAX,
            "a target id of {target_len} bytes"
        );
        self.waiting.push(Waiting {
            id_at,
            source_at,
            target_at,
            target_len,
        });
    }

    /// Fills in every id waiting in `buf`, then forgets them.
    pub(super) fn fill(&mut self, buf: &mut [u8]) {
        if self.waiting.is_empty() {
            return;
        }
        self.hash_sources(buf);
        // Four two-block tails at a time; a short one alone.
        let mut tails = [[[0u8; 64]; 2]; LANES];
        let mut batch = [0usize; LANES];
        let mut n = 0;
        for i in 0..self.waiting.len() {
            let w = self.waiting[i];
            let count = tail(&buf[w.target_at..w.target_at + w.target_len], &mut tails[n]);
            if count != 2 {
                let mut state = self.states[i];
                sha1_lanes::compress_one(&mut state, &tails[n][..count]);
                write_id(buf, w.id_at, &state);
                continue;
            }
            batch[n] = i;
            n += 1;
            if n == LANES {
                let mut states = batch.map(|i| self.states[i]);
                sha1_lanes::compress(&mut states, tails.each_ref().map(|t| &t[..]));
                for (&i, state) in batch.iter().zip(&states) {
                    write_id(buf, self.waiting[i].id_at, state);
                }
                n = 0;
            }
        }
        for (k, &i) in batch[..n].iter().enumerate() {
            let mut state = self.states[i];
            sha1_lanes::compress_one(&mut state, &tails[k]);
            write_id(buf, self.waiting[i].id_at, &state);
        }
        self.waiting.clear();
    }

    /// `states`: for each waiting relationship, SHA-1's state after the
    /// namespace, its source id and `|`. A source's relationships follow each
    /// other, so each source is hashed once; four sources at a time.
    fn hash_sources(&mut self, buf: &[u8]) {
        // Each source's block, built in place (as `tail`), and its first relationship.
        let mut blocks = [[0u8; 64]; LANES];
        let mut firsts = [0usize; LANES];
        let mut n = 0;
        self.states.clear();
        self.states.resize(self.waiting.len(), INIT);
        let hash = |blocks: &[[u8; 64]], firsts: &[usize], states: &mut Vec<[u32; 5]>| {
            let mut s = [INIT; LANES];
            if blocks.len() == LANES {
                sha1_lanes::compress(
                    &mut s,
                    std::array::from_fn(|k| std::slice::from_ref(&blocks[k])),
                );
            } else {
                for (state, block) in s.iter_mut().zip(blocks) {
                    sha1_lanes::compress_one(state, std::slice::from_ref(block));
                }
            }
            for (&first, state) in firsts.iter().zip(s) {
                states[first] = state;
            }
        };
        for i in 0..self.waiting.len() {
            let at = self.waiting[i].source_at;
            if i > 0 && self.waiting[i - 1].source_at == at {
                continue;
            }
            let block = &mut blocks[n];
            block[..16].copy_from_slice(NAMESPACE.as_bytes());
            block[16..63].copy_from_slice(&buf[at..at + SOURCE_LEN]);
            block[63] = MIDDLE[0];
            firsts[n] = i;
            n += 1;
            if n == LANES {
                hash(&blocks, &firsts, &mut self.states);
                n = 0;
            }
        }
        hash(&blocks[..n], &firsts[..n], &mut self.states);
        // The other relationships of a source start where its first ends.
        for i in 1..self.waiting.len() {
            if self.waiting[i - 1].source_at == self.waiting[i].source_at {
                self.states[i] = self.states[i - 1];
            }
        }
    }
}

/// The blocks after the source's: `indicates|`, the target id, SHA-1's
/// padding and the whole message's length in bits; two (the STIX ids of
/// attack patterns and threat actors need two), or one for a short target.
/// Written in place: a block built on the stack and copied would be read
/// back before its bytes are stored, a stall on every id.
fn tail(target: &[u8], blocks: &mut [[u8; 64]; 2]) -> usize {
    let t = blocks.as_flattened_mut();
    t.fill(0);
    let rest = &MIDDLE[1..];
    t[..rest.len()].copy_from_slice(rest);
    let end = rest.len() + target.len();
    t[rest.len()..end].copy_from_slice(target);
    t[end] = 0x80;
    let count = if end + 9 <= 64 { 1 } else { 2 };
    let bits = ((64 + end) as u64) * 8;
    t[count * 64 - 8..count * 64].copy_from_slice(&bits.to_be_bytes());
    count
}

/// The UUIDv5 of a finished SHA-1 `state`, written as 36 characters at `at`.
fn write_id(buf: &mut [u8], at: usize, state: &[u32; 5]) {
    let mut bytes = [0u8; 16];
    for (chunk, word) in bytes.chunks_exact_mut(4).zip(state) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    let id = uuid::Builder::from_sha1_bytes(bytes).into_uuid();
    id.hyphenated()
        .encode_lower(&mut buf[at..at + uuid::fmt::Hyphenated::LENGTH]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    /// The id [`RelationshipIds`] fills in, by its definition.
    fn expected(source: &str, target: &str) -> Uuid {
        super::super::objects::relationship_uuid(source, "indicates", target)
    }

    fn indicator(n: u32) -> String {
        format!("indicator--{}", Uuid::new_v5(&NAMESPACE, &n.to_be_bytes()))
    }

    /// Relationships written as the writer writes them (a source, then its
    /// relationships), filled, and compared with `relationship_uuid`.
    fn check(per_source: &[usize], targets: &[String]) {
        let mut ids = RelationshipIds::default();
        let mut buf = b"head".to_vec();
        let mut want = Vec::new();
        let mut t = 0;
        for (s, &count) in per_source.iter().enumerate() {
            let source = indicator(s as u32);
            let source_at = buf.len();
            buf.extend_from_slice(source.as_bytes());
            for _ in 0..count {
                let target = &targets[t % targets.len()];
                t += 1;
                buf.push(b' ');
                let id_at = buf.len();
                buf.extend_from_slice(PLACEHOLDER);
                let target_at = buf.len();
                buf.extend_from_slice(target.as_bytes());
                ids.wait(id_at, source_at, target_at, target.len());
                want.push((id_at, expected(&source, target)));
            }
        }
        ids.fill(&mut buf);
        assert!(ids.waiting.is_empty());
        for (at, id) in want {
            assert_eq!(
                &buf[at..at + 36],
                id.to_string().as_bytes(),
                "{per_source:?}"
            );
        }
    }

    #[test]
    fn filled_ids_are_relationship_uuids() {
        let targets: Vec<String> = [
            "attack-pattern--a62a8db3-f23a-4d8f-afd6-9dbc77e7813b",
            "threat-actor--5b4ee3ea-eee3-4c8e-8323-85ae32658754",
            "attack-pattern--2e34237d-8574-43f6-aace-ae2915de8597",
            "x",
            &format!("t--{}", "y".repeat(TARGET_MAX - 3)),
            // One tail block, and the first length that needs two.
            &"b".repeat(64 - 9 - (MIDDLE.len() - 1)),
            &"c".repeat(64 - 8 - (MIDDLE.len() - 1)),
        ]
        .map(String::from)
        .to_vec();
        // Batches of every size around the lanes, sources with 0 to 5 relationships.
        for shape in [
            &[1][..],
            &[2],
            &[3],
            &[4],
            &[5],
            &[1, 1, 1, 1],
            &[1, 1, 1, 1, 1],
            &[2, 0, 3, 1, 5, 1, 1, 2],
            &[9, 1],
        ] {
            check(shape, &targets);
        }
        // Longer batches, with the odd target.
        check(&[2; 37], &targets);
        check(&(0..41).map(|i| i % 4).collect::<Vec<_>>(), &targets);
    }

    #[test]
    fn nothing_waiting_changes_nothing() {
        let mut buf = b"abc".to_vec();
        RelationshipIds::default().fill(&mut buf);
        assert_eq!(buf, b"abc");
    }
}
