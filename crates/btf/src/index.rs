//! By-name index of a BTF's own types.
//!
//! Names are compared by content, not by string offset: deduplicated BTF
//! has one offset per distinct string, but pahole-era and hand-built BTF
//! may repeat a string at several offsets.

use crate::btf::Btf;
use crate::types::le32;

const K1: u64 = 0x9e37_79b9_7f4a_7c15;
const K2: u64 = 0xf135_7aea_2e62_a9c5;
const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

#[inline(always)]
fn mix(h: u64, w: u64) -> u64 {
    (h ^ w).wrapping_mul(K1).rotate_left(23)
}

#[inline(always)]
fn finish(h: u64, len: usize) -> u64 {
    let h = (h ^ len as u64).wrapping_mul(K2);
    h ^ (h >> 29)
}

/// Hashes the NUL-terminated string at the start of `s` (or all of `s`
/// when it has no NUL); returns the hash and the string's length. Reads
/// eight bytes at a time and finds the NUL with a zero-byte test, so the
/// length comes with the hash. (A branch-free 32-byte block variant was
/// measured slower on kernel names.)
#[inline]
pub(crate) fn hash_cstr(s: &[u8]) -> (u64, usize) {
    let mut h = 0u64;
    let mut i = 0;
    while let Some(chunk) = s.get(i..i + 8) {
        let w = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        // The lowest set bit marks the first zero byte exactly.
        let z = w.wrapping_sub(ONES) & !w & HIGHS;
        if z != 0 {
            let n = (z.trailing_zeros() / 8) as usize;
            let last = if n == 0 {
                0
            } else {
                w & (u64::MAX >> (64 - 8 * n))
            };
            return (finish(mix(h, last), i + n), i + n);
        }
        h = mix(h, w);
        i += 8;
    }
    let rest = &s[i..];
    let n = memchr::memchr(0, rest).unwrap_or(rest.len());
    (finish(mix(h, tail_word(&rest[..n])), i + n), i + n)
}

/// The hash [`hash_cstr`] gives for a string with these bytes.
pub(crate) fn hash_bytes(s: &[u8]) -> u64 {
    let mut h = 0u64;
    let mut chunks = s.chunks_exact(8);
    for c in &mut chunks {
        h = mix(h, u64::from_le_bytes(c.try_into().expect("8 bytes")));
    }
    finish(mix(h, tail_word(chunks.remainder())), s.len())
}

fn tail_word(b: &[u8]) -> u64 {
    b.iter()
        .enumerate()
        .fold(0u64, |acc, (j, &x)| acc | (x as u64) << (8 * j))
}

/// Chained hash table over type indices: `heads[bucket]` is the most
/// recently inserted type of the bucket, `next[index]` the one inserted
/// before it. Two small arrays, filled in one pass with no temporary
/// storage (fresh memory costs a page fault per 4 KiB, which dominates a
/// cold start); a bucket mixes names, so lookups compare names.
pub(crate) struct NameIndex {
    heads: Vec<u32>,
    next: Vec<u32>,
    shift: u32,
}

const END: u32 = u32::MAX;

impl NameIndex {
    /// An empty index sized for about `named` names over `types` types.
    pub(crate) fn with_capacity(named: usize, types: usize) -> NameIndex {
        // About two names per bucket.
        let bits = (named / 2)
            .max(16)
            .next_power_of_two()
            .trailing_zeros()
            .min(24);
        NameIndex {
            heads: vec![END; 1 << bits],
            next: Vec::with_capacity(types),
            shift: 64 - bits,
        }
    }

    /// Adds type `index` with name hash `hash`. Any insertion order works:
    /// lookups sort what they find.
    #[inline]
    pub(crate) fn insert(&mut self, hash: u64, index: u32) {
        let i = index as usize;
        if self.next.len() <= i {
            self.next.resize(i + 1, END);
        }
        let b = (hash >> self.shift) as usize;
        self.next[i] = self.heads[b];
        self.heads[b] = index;
    }

    /// Calls `f` with the index of each type named `name`, ascending.
    pub(crate) fn lookup(&self, btf: &Btf<'_>, name: &[u8], mut f: impl FnMut(u32)) {
        let b = (hash_bytes(name) >> self.shift) as usize;
        let types = btf.types_section();
        let offs = btf.record_offsets();
        let mut found: Vec<u32> = Vec::new();
        let mut cur = self.heads[b];
        while cur != END {
            let name_off = le32(types, offs[cur as usize] as usize);
            if btf.str_bytes(name_off).ok() == Some(name) {
                found.push(cur);
            }
            cur = self.next[cur as usize];
        }
        found.sort_unstable();
        found.into_iter().for_each(&mut f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cstr_and_bytes_hash_agree() {
        let names: [&[u8]; 8] = [
            b"a",
            b"task_struct",
            b"12345678",
            b"123456789",
            b"exactly_sixteen!",
            b"x\xff\x80high-bit bytes",
            b"",
            b"a_rather_long_function_name_with_many_words",
        ];
        for n in names {
            let mut c = n.to_vec();
            c.push(0);
            c.extend_from_slice(b"trailing junk after the NUL");
            assert_eq!(hash_cstr(&c), (hash_bytes(n), n.len()), "{n:?}");
            // Without a NUL and with fewer than 8 bytes left.
            assert_eq!(hash_cstr(n), (hash_bytes(n), n.len()), "{n:?}");
        }
    }
}
