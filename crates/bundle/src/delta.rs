//! Byte-level delta of one BTF against a reference BTF.
//!
//! Minimized BTFs of related kernels differ in a handful of member offsets
//! and sizes, so the usual delta is "the reference with a few bytes
//! replaced". The op stream is built for that: a cursor walks the
//! reference, literals *replace* bytes (the cursor advances over them), so
//! a one-byte change costs three bytes — a copy, a one-byte literal, and
//! the byte — and a final copy to the end is implied.
//!
//! Each op is a LEB128 varint `n << 2 | kind`:
//!
//! | kind | op     | effect                                              |
//! |------|--------|-----------------------------------------------------|
//! | 0    | copy   | `n` bytes from the reference at the cursor; cursor += n |
//! | 1    | insert | the next `n` bytes of the stream; cursor += n       |
//! | 2    | ahead  | cursor += n                                          |
//! | 3    | back   | cursor -= n                                          |
//!
//! When the ops run out before the output has its declared length, the rest
//! is copied from the reference at the cursor.

use std::fmt;

const COPY: u64 = 0;
const INSERT: u64 = 1;
const AHEAD: u64 = 2;
const BACK: u64 = 3;

/// Shortest run at the cursor worth a copy op rather than literals.
const MIN_CURSOR_RUN: usize = 4;
/// Shortest match elsewhere in the reference worth a seek and a copy.
const MIN_SEEK_RUN: usize = 8;
const HASH_BITS: u32 = 16;

/// Why a delta does not apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeltaError(pub String);

impl fmt::Display for DeltaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(data: &[u8], pos: &mut usize) -> Result<u64, DeltaError> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *data
            .get(*pos)
            .ok_or_else(|| DeltaError("truncated op".into()))?;
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(DeltaError("op varint longer than 64 bits".into()))
}

fn common_len(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

fn window_hash(w: &[u8]) -> usize {
    let v = u64::from_le_bytes(w[..8].try_into().expect("8-byte window"));
    (v.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - HASH_BITS)) as usize
}

struct Encoder<'a> {
    out: Vec<u8>,
    target: &'a [u8],
    lit_start: usize,
    lit_len: usize,
}

impl Encoder<'_> {
    fn flush_literals(&mut self) {
        if self.lit_len > 0 {
            put_varint(&mut self.out, (self.lit_len as u64) << 2 | INSERT);
            self.out
                .extend_from_slice(&self.target[self.lit_start..self.lit_start + self.lit_len]);
            self.lit_len = 0;
        }
    }
}

/// Encodes `target` as ops against `reference`.
pub fn encode(reference: &[u8], target: &[u8]) -> Vec<u8> {
    // Last position of every 8-byte window of the reference, by hash.
    let mut table = vec![u32::MAX; 1 << HASH_BITS];
    if reference.len() >= MIN_SEEK_RUN {
        for p in 0..=reference.len() - MIN_SEEK_RUN {
            table[window_hash(&reference[p..])] = p as u32;
        }
    }
    let mut enc = Encoder {
        out: Vec::new(),
        target,
        lit_start: 0,
        lit_len: 0,
    };
    let (mut i, mut cur) = (0usize, 0usize);
    while i < target.len() {
        let run = reference
            .get(cur..)
            .map_or(0, |r| common_len(r, &target[i..]));
        if run >= MIN_CURSOR_RUN || (run > 0 && i + run == target.len()) {
            enc.flush_literals();
            if i + run < target.len() {
                put_varint(&mut enc.out, (run as u64) << 2 | COPY);
            }
            i += run;
            cur += run;
            continue;
        }
        if i + MIN_SEEK_RUN <= target.len() {
            let p = table[window_hash(&target[i..])];
            if p != u32::MAX {
                let p = p as usize;
                let len = common_len(&reference[p..], &target[i..]);
                if len >= MIN_SEEK_RUN && len > run {
                    enc.flush_literals();
                    if p > cur {
                        put_varint(&mut enc.out, ((p - cur) as u64) << 2 | AHEAD);
                    } else {
                        put_varint(&mut enc.out, ((cur - p) as u64) << 2 | BACK);
                    }
                    if i + len < target.len() {
                        put_varint(&mut enc.out, (len as u64) << 2 | COPY);
                    }
                    i += len;
                    cur = p + len;
                    continue;
                }
            }
        }
        if enc.lit_len == 0 {
            enc.lit_start = i;
        }
        enc.lit_len += 1;
        i += 1;
        cur += 1;
    }
    enc.flush_literals();
    enc.out
}

/// Rebuilds a target of exactly `len` bytes from `reference` and `ops`.
/// Never writes past `len`, whatever the ops say.
pub fn apply(reference: &[u8], ops: &[u8], len: usize) -> Result<Vec<u8>, DeltaError> {
    let mut out = Vec::with_capacity(len);
    let (mut pos, mut cur) = (0usize, 0usize);
    let copy = |out: &mut Vec<u8>, cur: usize, n: usize| -> Result<(), DeltaError> {
        let src = cur
            .checked_add(n)
            .and_then(|end| reference.get(cur..end))
            .ok_or_else(|| {
                DeltaError(format!(
                    "copy of {n} bytes at {cur} runs past the reference ({} bytes)",
                    reference.len()
                ))
            })?;
        out.extend_from_slice(src);
        Ok(())
    };
    while pos < ops.len() {
        let op = get_varint(ops, &mut pos)?;
        let n = op >> 2;
        let room = (len - out.len()) as u64;
        match op & 3 {
            COPY | INSERT if n > room => {
                return Err(DeltaError(format!(
                    "op of {n} bytes overflows the output ({room} left)"
                )))
            }
            COPY => {
                copy(&mut out, cur, n as usize)?;
                cur += n as usize;
            }
            INSERT => {
                let lit = pos
                    .checked_add(n as usize)
                    .and_then(|end| ops.get(pos..end))
                    .ok_or_else(|| DeltaError("truncated literal".into()))?;
                out.extend_from_slice(lit);
                pos += n as usize;
                cur = cur.saturating_add(n as usize);
            }
            AHEAD => {
                cur = usize::try_from(n)
                    .ok()
                    .and_then(|n| cur.checked_add(n))
                    .filter(|&c| c <= reference.len())
                    .ok_or_else(|| DeltaError("cursor moved past the reference".into()))?;
            }
            _ => {
                cur = usize::try_from(n)
                    .ok()
                    .and_then(|n| cur.checked_sub(n))
                    .ok_or_else(|| DeltaError("cursor moved before the reference".into()))?;
            }
        }
    }
    let rest = len - out.len();
    if rest > 0 {
        copy(&mut out, cur, rest)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(reference: &[u8], target: &[u8]) -> usize {
        let ops = encode(reference, target);
        assert_eq!(apply(reference, &ops, target.len()).unwrap(), target);
        ops.len()
    }

    fn pseudo_random(n: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    #[test]
    fn identical_is_empty() {
        let r = pseudo_random(1000, 1);
        assert_eq!(roundtrip(&r, &r), 0);
    }

    #[test]
    fn substitutions_cost_a_few_bytes_each() {
        let r = pseudo_random(4000, 2);
        let mut t = r.clone();
        for at in [5, 900, 901, 2500, 3999] {
            t[at] ^= 0x55;
        }
        assert!(roundtrip(&r, &t) <= 5 * 4, "{}", roundtrip(&r, &t));
    }

    #[test]
    fn insertions_deletions_and_moves() {
        let r = pseudo_random(3000, 3);
        let mut t = r[..1000].to_vec();
        t.extend_from_slice(b"inserted");
        t.extend_from_slice(&r[1200..2000]);
        t.extend_from_slice(&r[100..400]);
        t.extend_from_slice(&r[2000..]);
        assert!(roundtrip(&r, &t) < 40);
    }

    #[test]
    fn unrelated_and_edge_sizes() {
        roundtrip(&[], &[]);
        roundtrip(&[], b"abc");
        roundtrip(b"abc", &[]);
        roundtrip(b"abcdefgh", b"abcdefghij");
        roundtrip(b"abcdefghij", b"abcdefgh");
        let a = pseudo_random(500, 4);
        let b = pseudo_random(700, 5);
        assert!(roundtrip(&a, &b) <= 700 + 4);
    }

    #[test]
    fn bad_ops_are_errors() {
        let r = b"0123456789";
        for ops in [
            &[0x80u8][..],          // truncated varint
            &[(20 << 2) as u8][..], // copy past the output
            &[(3 << 2) | 1, b'x'][..],
            &[(11 << 2) | 2][..], // seek past the reference
            &[(1 << 2) | 3][..],  // seek before it
            &[0xff; 11][..],
        ] {
            assert!(apply(r, ops, 5).is_err(), "{ops:?}");
        }
        // Implied tail copy past the reference.
        assert!(apply(r, &[(8 << 2) | 2], 5).is_err());
    }
}
