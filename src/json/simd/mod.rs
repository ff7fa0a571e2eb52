//! The crate's only `unsafe` code: SSE2 byte scans on x86-64 (SSE2 is part of
//! every x86-64 processor), each behind a safe function whose loads stay
//! inside the slice or array it is given, and SHA-1 in lanes
//! (`sha1_lanes`). Everywhere else `unsafe` does not compile: lib.rs denies
//! `unsafe_code` and allows it on this module alone. Other targets get the
//! portable code (here for the masks, in `json::write::next_escape` for
//! escapes, the `sha1` crate for hashing).

pub mod sha1_lanes;

/// The first byte that JSON must escape (`"`, `\`, a control character) in
/// `b` at or after `i`, sixteen bytes at a time: `Ok(index)` when found,
/// `Err(at)` when fewer than 16 bytes are left from `at` (none of `b[i..at]`
/// needs an escape). The rest of [`crate::json::write::next_escape`].
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub fn escape_by_16(b: &[u8], mut i: usize) -> Result<usize, usize> {
    use std::arch::x86_64::*;
    while i + 16 <= b.len() {
        // SAFETY: SSE2 is part of x86-64, and the 16 bytes read
        // (unaligned) are in `b`: i + 16 <= b.len().
        let hits = unsafe {
            let x = _mm_loadu_si128(b.as_ptr().add(i).cast::<__m128i>());
            let quote = _mm_cmpeq_epi8(x, _mm_set1_epi8(b'"' as i8));
            let slash = _mm_cmpeq_epi8(x, _mm_set1_epi8(b'\\' as i8));
            // x <= 0x1f (unsigned) where max(x, 0x1f) == 0x1f.
            let ctl = _mm_set1_epi8(0x1f);
            let ctrl = _mm_cmpeq_epi8(_mm_max_epu8(x, ctl), ctl);
            _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(quote, slash), ctrl))
        };
        if hits != 0 {
            return Ok(i + hits.trailing_zeros() as usize);
        }
        i += 16;
    }
    Err(i)
}

/// Bit masks of one 64-byte block: bit i is byte i.
#[derive(Default)]
pub struct Masks {
    pub quote: u64,
    pub backslash: u64,
    pub open: u64,
    pub close: u64,
    /// Bytes <= 0x20: whitespace (or control characters, invalid outside strings).
    pub space: u64,
}

/// The masks of `block`, 16 bytes at a time.
#[cfg(target_arch = "x86_64")]
#[inline]
pub fn masks(block: &[u8; 64]) -> Masks {
    use std::arch::x86_64::*;
    // SAFETY: SSE2 is part of the x86_64 baseline; the loads are unaligned
    // reads of 16 bytes inside `block`.
    unsafe {
        let (q, bs, open, close, sp) = (
            _mm_set1_epi8(b'"' as i8),
            _mm_set1_epi8(b'\\' as i8),
            _mm_set1_epi8(b'{' as i8),
            _mm_set1_epi8(b'}' as i8),
            _mm_set1_epi8(0x20),
        );
        let mut m = Masks::default();
        for k in 0..4 {
            let v = _mm_loadu_si128(block.as_ptr().add(16 * k) as *const __m128i);
            // `[` and `]` are `{` and `}` without the 0x20 bit.
            let folded = _mm_or_si128(v, sp);
            let bits = |x: __m128i| (_mm_movemask_epi8(x) as u32 as u64) << (16 * k);
            m.quote |= bits(_mm_cmpeq_epi8(v, q));
            m.backslash |= bits(_mm_cmpeq_epi8(v, bs));
            m.open |= bits(_mm_cmpeq_epi8(folded, open));
            m.close |= bits(_mm_cmpeq_epi8(folded, close));
            m.space |= bits(_mm_cmpeq_epi8(_mm_max_epu8(v, sp), sp));
        }
        m
    }
}

/// The masks of `block`, byte by byte.
#[cfg(not(target_arch = "x86_64"))]
#[inline]
pub fn masks(block: &[u8; 64]) -> Masks {
    let mut m = Masks::default();
    for (i, &b) in block.iter().enumerate() {
        let bit = 1u64 << i;
        match b {
            b'"' => m.quote |= bit,
            b'\\' => m.backslash |= bit,
            b'{' | b'[' => m.open |= bit,
            b'}' | b']' => m.close |= bit,
            0..=0x20 => m.space |= bit,
            _ => {}
        }
    }
    m
}
