//! SHA-1 block chains in lanes: the compression of four independent messages
//! at once with the processor's SHA instructions, interleaved. A SHA-1 round
//! waits for the one before it, so one chain leaves the SHA unit mostly idle;
//! four chains side by side hash about 2.4 times as many blocks a second
//! (BENCHMARKS.md, "Relationship ids in lanes"). `--context objects` hashes
//! two blocks for every relationship id, millions a run.
//!
//! Where the processor has no SHA instructions (or under valgrind, which
//! hides them), each lane goes through the `sha1` crate's compression.

use ::sha1::digest::generic_array::GenericArray;

/// How many messages [`compress`] takes at once.
pub const LANES: usize = 4;

/// SHA-1's initial state, where every message's chain starts.
pub const INIT: [u32; 5] = [
    0x6745_2301,
    0xefcd_ab89,
    0x98ba_dcfe,
    0x1032_5476,
    0xc3d2_e1f0,
];

/// SHA-1's compression function over `blocks[k]` into `states[k]`, for every
/// lane `k`. The lanes must have the same number of blocks.
pub fn compress(states: &mut [[u32; 5]; LANES], blocks: [&[[u8; 64]]; LANES]) {
    let n = blocks[0].len();
    assert!(
        blocks.iter().all(|b| b.len() == n),
        "lanes of unequal length"
    );
    #[cfg(target_arch = "x86_64")]
    if has_sha() {
        // SAFETY: the processor has the instructions `lanes` is compiled
        // for (checked just now), and it reads only the blocks it is given.
        unsafe { x86::lanes(states, blocks) };
        return;
    }
    for (state, lane) in states.iter_mut().zip(blocks) {
        compress_one(state, lane);
    }
}

/// SHA-1's compression function over `blocks` into `state`, one chain (the
/// `sha1` crate's, with the SHA instructions where there are some).
pub fn compress_one(state: &mut [u32; 5], blocks: &[[u8; 64]]) {
    for block in blocks {
        ::sha1::compress(state, std::slice::from_ref(GenericArray::from_slice(block)));
    }
}

/// True when the processor has what [`x86::lanes`] needs (std caches the answer).
#[cfg(target_arch = "x86_64")]
fn has_sha() -> bool {
    std::arch::is_x86_feature_detected!("sha")
        && std::arch::is_x86_feature_detected!("ssse3")
        && std::arch::is_x86_feature_detected!("sse4.1")
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// Four rounds: the SHA instructions' round step, with the next `e`
    /// folded into the message words.
    macro_rules! rounds4 {
        ($h0:expr, $h1:expr, $w:expr, $i:literal) => {
            _mm_sha1rnds4_epu32($h0, _mm_sha1nexte_epu32($h1, $w), $i)
        };
    }

    /// The next four message words from the last sixteen.
    macro_rules! schedule {
        ($v0:expr, $v1:expr, $v2:expr, $v3:expr) => {
            _mm_sha1msg2_epu32(_mm_xor_si128(_mm_sha1msg1_epu32($v0, $v1), $v2), $v3)
        };
    }

    /// The `sha1` crate's compression with the SHA instructions (the
    /// register use of Intel's reference code), each step done for every
    /// lane before the next step: the lanes' chains overlap in the pipeline.
    ///
    /// # Safety
    /// The processor must have the SHA, SSSE3 and SSE4.1 instructions, and
    /// the lanes the same number of blocks.
    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    #[allow(clippy::needless_range_loop)] // `b` indexes every lane's blocks
    pub(super) unsafe fn lanes<const N: usize>(
        states: &mut [[u32; 5]; N],
        blocks: [&[[u8; 64]]; N],
    ) {
        let mask = _mm_set_epi64x(0x0001_0203_0405_0607, 0x0809_0a0b_0c0d_0e0f);
        let mut abcd: [__m128i; N] = std::array::from_fn(|k| {
            let s = states[k].map(|x| x as i32);
            _mm_set_epi32(s[0], s[1], s[2], s[3])
        });
        let mut e: [__m128i; N] =
            std::array::from_fn(|k| _mm_set_epi32(states[k][4] as i32, 0, 0, 0));
        for b in 0..blocks[0].len() {
            // SAFETY: each read is 16 bytes inside a 64-byte block.
            let load = |k: usize, j: usize| {
                let p = blocks[k][b].as_ptr().cast::<__m128i>();
                _mm_shuffle_epi8(_mm_loadu_si128(p.add(j)), mask)
            };
            let mut w0: [__m128i; N] = std::array::from_fn(|k| load(k, 0));
            let mut w1: [__m128i; N] = std::array::from_fn(|k| load(k, 1));
            let mut w2: [__m128i; N] = std::array::from_fn(|k| load(k, 2));
            let mut w3: [__m128i; N] = std::array::from_fn(|k| load(k, 3));
            let mut w4 = [_mm_setzero_si128(); N];
            let mut h0 = abcd;
            let mut h1: [__m128i; N] = std::array::from_fn(|k| _mm_add_epi32(e[k], w0[k]));

            macro_rules! each {
                ($body:expr) => {
                    for k in 0..N {
                        $body(k);
                    }
                };
            }
            macro_rules! step {
                ($a:ident, $b:ident, $v0:ident, $v1:ident, $v2:ident, $v3:ident, $v4:ident, $i:literal) => {
                    each!(|k: usize| {
                        $v4[k] = schedule!($v0[k], $v1[k], $v2[k], $v3[k]);
                        $b[k] = rounds4!($a[k], $b[k], $v4[k], $i);
                    })
                };
            }

            // Rounds 0..20
            each!(|k: usize| h1[k] = _mm_sha1rnds4_epu32(h0[k], h1[k], 0));
            each!(|k: usize| h0[k] = rounds4!(h1[k], h0[k], w1[k], 0));
            each!(|k: usize| h1[k] = rounds4!(h0[k], h1[k], w2[k], 0));
            each!(|k: usize| h0[k] = rounds4!(h1[k], h0[k], w3[k], 0));
            step!(h0, h1, w0, w1, w2, w3, w4, 0);
            // Rounds 20..40
            step!(h1, h0, w1, w2, w3, w4, w0, 1);
            step!(h0, h1, w2, w3, w4, w0, w1, 1);
            step!(h1, h0, w3, w4, w0, w1, w2, 1);
            step!(h0, h1, w4, w0, w1, w2, w3, 1);
            step!(h1, h0, w0, w1, w2, w3, w4, 1);
            // Rounds 40..60
            step!(h0, h1, w1, w2, w3, w4, w0, 2);
            step!(h1, h0, w2, w3, w4, w0, w1, 2);
            step!(h0, h1, w3, w4, w0, w1, w2, 2);
            step!(h1, h0, w4, w0, w1, w2, w3, 2);
            step!(h0, h1, w0, w1, w2, w3, w4, 2);
            // Rounds 60..80
            step!(h1, h0, w1, w2, w3, w4, w0, 3);
            step!(h0, h1, w2, w3, w4, w0, w1, 3);
            step!(h1, h0, w3, w4, w0, w1, w2, 3);
            step!(h0, h1, w4, w0, w1, w2, w3, 3);
            step!(h1, h0, w0, w1, w2, w3, w4, 3);

            each!(|k: usize| {
                abcd[k] = _mm_add_epi32(abcd[k], h0[k]);
                e[k] = _mm_sha1nexte_epu32(h1[k], e[k]);
            });
        }
        for k in 0..N {
            states[k] = [
                _mm_extract_epi32(abcd[k], 3) as u32,
                _mm_extract_epi32(abcd[k], 2) as u32,
                _mm_extract_epi32(abcd[k], 1) as u32,
                _mm_extract_epi32(abcd[k], 0) as u32,
                _mm_extract_epi32(e[k], 3) as u32,
            ];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha1::{Digest, Sha1};

    /// `msg` padded to whole blocks, as SHA-1 pads.
    fn padded(msg: &[u8]) -> Vec<[u8; 64]> {
        let mut m = msg.to_vec();
        m.push(0x80);
        while m.len() % 64 != 56 {
            m.push(0);
        }
        m.extend_from_slice(&(msg.len() as u64 * 8).to_be_bytes());
        m.chunks(64).map(|c| c.try_into().unwrap()).collect()
    }

    fn digest(state: &[u32; 5]) -> Vec<u8> {
        state.iter().flat_map(|x| x.to_be_bytes()).collect()
    }

    #[test]
    fn lanes_hash_as_the_sha1_crate_does() {
        // Lengths around the block edges, four different messages a call.
        for len in [0, 1, 55, 56, 63, 64, 65, 119, 120, 127, 128, 200] {
            let msgs: Vec<Vec<u8>> = (0..LANES)
                .map(|k| (0..len).map(|i| (i * 7 + k * 31 + len) as u8).collect())
                .collect();
            let blocks: Vec<Vec<[u8; 64]>> = msgs.iter().map(|m| padded(m)).collect();
            let mut states = [INIT; LANES];
            compress(&mut states, std::array::from_fn(|k| &blocks[k][..]));
            for k in 0..LANES {
                assert_eq!(
                    digest(&states[k]),
                    Sha1::digest(&msgs[k]).to_vec(),
                    "len {len} lane {k}"
                );
                let mut one = INIT;
                compress_one(&mut one, &blocks[k]);
                assert_eq!(one, states[k]);
            }
        }
    }

    #[test]
    #[should_panic(expected = "unequal")]
    fn lanes_of_unequal_length_are_refused() {
        let (a, b) = ([[0u8; 64]; 1], [[0u8; 64]; 2]);
        compress(&mut [INIT; LANES], [&a, &b, &a, &a]);
    }
}
