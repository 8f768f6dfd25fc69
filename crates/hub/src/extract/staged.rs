//! A large ELF file (a debug vmlinux: ~600 MB, two-thirds of it DWARF
//! relocations, location lists and code the encoder never reads) taken
//! out of a package stream without holding all of it. Its section table,
//! which says what is needed, comes last; so the bytes are kept
//! zstd-compressed (level 1) in 1 MiB chunks as they stream by (packed
//! into 64 MiB slabs, given back whole), then only the
//! headers, the ranges the encoder reads and `.BTF` are decompressed into
//! a buffer of the file's size whose other pages are never touched (a
//! zeroed allocation is mapped lazily).

use std::io::Read;
use std::ops::Range;

use super::codec::decode;
use crate::ExtractError;

const CHUNK: usize = 1 << 20;

/// Compressed chunks are packed into slabs of this size. An allocation
/// this large is mapped by the allocator on its own (glibc's mmap
/// threshold grows to 32 MiB at most), so a slab dropped is memory given
/// back to the system; hundreds of chunk-sized allocations freed would
/// stay in the heap, adding to the encoder's peak.
const SLAB: usize = 64 << 20;

/// The member's bytes, compressed chunk by chunk into slabs.
struct Chunks {
    slabs: Vec<Vec<u8>>,
    /// Per chunk: its slab, and where it is there.
    chunks: Vec<(usize, Range<usize>)>,
    len: usize,
}

impl Chunks {
    fn read(mut r: impl Read, size: u64, what: &str) -> Result<Chunks, ExtractError> {
        let mut slabs: Vec<Vec<u8>> = Vec::new();
        let mut chunks = Vec::with_capacity((size as usize).div_ceil(CHUNK));
        let mut buf = vec![0u8; CHUNK];
        let mut packed = vec![0u8; zstd::zstd_safe::compress_bound(CHUNK)];
        let mut len = 0usize;
        loop {
            let n = fill(&mut r, &mut buf).map_err(decode(what))?;
            if n == 0 {
                break;
            }
            let k =
                zstd::bulk::compress_to_buffer(&buf[..n], &mut packed, 1).map_err(decode(what))?;
            if slabs.last().is_none_or(|s| s.capacity() - s.len() < k) {
                slabs.push(Vec::with_capacity(SLAB));
            }
            let slab = slabs.last_mut().expect("pushed above");
            let at = slab.len();
            slab.extend_from_slice(&packed[..k]);
            chunks.push((slabs.len() - 1, at..at + k));
            len += n;
            if n < CHUNK {
                break;
            }
        }
        if len as u64 != size {
            return Err(ExtractError::Truncated {
                format: "package member",
            });
        }
        Ok(Chunks { slabs, chunks, len })
    }

    /// Chunk `i`, decompressed into `scratch` (of `CHUNK` bytes). It was
    /// compressed here, from at most `CHUNK` bytes: decompressing cannot
    /// fail.
    fn chunk<'s>(&self, i: usize, scratch: &'s mut [u8]) -> &'s [u8] {
        let (slab, ref range) = self.chunks[i];
        let n = zstd::bulk::decompress_to_buffer(&self.slabs[slab][range.clone()], scratch)
            .expect("chunks compressed here decompress");
        &scratch[..n]
    }

    /// Decompresses the bytes of every range into `out` (the file's
    /// buffer), chunk by chunk in file order, and lets go of every slab
    /// once past its chunks (needed or not): the memory of the compressed
    /// copy shrinks as the buffer fills.
    fn fill_all_and_drop(mut self, out: &mut [u8], ranges: &[Range<usize>]) {
        let mut scratch = vec![0u8; CHUNK];
        for i in 0..self.chunks.len() {
            let at = i * CHUNK;
            let chunk = at..(at + CHUNK).min(self.len);
            let wanted: Vec<Range<usize>> = ranges
                .iter()
                .map(|r| r.start.max(chunk.start)..r.end.min(chunk.end))
                .filter(|r| !r.is_empty())
                .collect();
            if !wanted.is_empty() {
                let data = self.chunk(i, &mut scratch);
                for r in wanted {
                    out[r.clone()].copy_from_slice(&data[r.start - at..r.end - at]);
                }
            }
            let slab = self.chunks[i].0;
            if self.chunks.get(i + 1).is_none_or(|next| next.0 != slab) {
                self.slabs[slab] = Vec::new();
            }
        }
    }

    /// Decompresses the bytes of `range` into `out` (the file's buffer).
    fn fill(&self, out: &mut [u8], range: Range<usize>) {
        let range = range.start.min(self.len)..range.end.min(self.len);
        if range.is_empty() {
            return;
        }
        let mut scratch = vec![0u8; CHUNK];
        for i in range.start / CHUNK..range.end.div_ceil(CHUNK) {
            let data = self.chunk(i, &mut scratch);
            let at = i * CHUNK;
            let lo = range.start.max(at);
            let hi = range.end.min(at + data.len());
            out[lo..hi].copy_from_slice(&data[lo - at..hi - at]);
        }
    }
}

/// Reads until `buf` is full or the stream ends.
fn fill(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Where an ELF file's section table and section names are, from its
/// header and section table (64- or 32-bit, either byte order).
fn table_ranges(d: &[u8]) -> Option<(Range<usize>, Option<Range<usize>>)> {
    let wide = *d.get(4)? == 2;
    let big = *d.get(5)? == 2;
    let num = |at: usize, size: usize| -> Option<u64> {
        let b = d.get(at..at + size)?;
        Some(b.iter().enumerate().fold(0u64, |v, (i, &x)| {
            let shift = if big { 8 * (size - 1 - i) } else { 8 * i };
            v | (x as u64) << shift
        }))
    };
    let (shoff, entsize, count, strndx) = if wide {
        (num(0x28, 8)?, num(0x3a, 2)?, num(0x3c, 2)?, num(0x3e, 2)?)
    } else {
        (num(0x20, 4)?, num(0x2e, 2)?, num(0x30, 2)?, num(0x32, 2)?)
    };
    let start = usize::try_from(shoff).ok()?;
    let table = start..start.checked_add((entsize * count) as usize)?;
    let names = (|| {
        let at = start.checked_add((strndx * entsize) as usize)?;
        let (off, size) = if wide {
            (num(at + 0x18, 8)?, num(at + 0x20, 8)?)
        } else {
            (num(at + 0x10, 4)?, num(at + 0x14, 4)?)
        };
        let off = usize::try_from(off).ok()?;
        Some(off..off.checked_add(usize::try_from(size).ok()?)?)
    })();
    Some((table, names))
}

/// An ELF member of `size` bytes from a stream, with only what finding
/// its BTF reads filled in: its `.BTF` section when it has one and
/// `dwarf` is false, else that and what the encoder reads; everything
/// when its headers cannot be made sense of (the readers then say what is
/// wrong).
pub(crate) fn elf_member(
    r: impl Read,
    size: u64,
    what: &str,
    dwarf: bool,
) -> Result<Vec<u8>, ExtractError> {
    let max = btfkit_btf::input::Limit::Large.max_bytes();
    if size > max {
        return Err(ExtractError::TooLarge {
            what: what.to_string(),
            limit: max,
        });
    }
    let chunks = Chunks::read(r, size, what)?;
    let mut out = vec![0u8; chunks.len];
    let everything = std::slice::from_ref(&(0..chunks.len)).to_vec();
    chunks.fill(&mut out, 0..4096);
    let Some((table, _)) = table_ranges(&out) else {
        chunks.fill_all_and_drop(&mut out, &everything);
        return Ok(out);
    };
    chunks.fill(&mut out, table);
    // The names' place is in the table, now filled in.
    if let Some((_, Some(names))) = table_ranges(&out) {
        chunks.fill(&mut out, names);
    }
    let btf = btf_range(&out).filter(|&(_, len)| len > 0);
    let mut ranges: Vec<(u64, u64)> = btf.into_iter().collect();
    if dwarf || btf.is_none() {
        match btfkit_encode::ranges_for_encoding(&out) {
            Some(r) => ranges.extend(r),
            None => {
                chunks.fill_all_and_drop(&mut out, &everything);
                return Ok(out);
            }
        }
    }
    let ranges: Vec<Range<usize>> = ranges
        .into_iter()
        .filter_map(|(off, len)| {
            let off = usize::try_from(off).ok()?;
            Some(
                off..off
                    .saturating_add(usize::try_from(len).ok()?)
                    .min(chunks.len),
            )
        })
        .collect();
    chunks.fill_all_and_drop(&mut out, &ranges);
    Ok(out)
}

/// The file range of `.BTF`, from the section table filled in.
fn btf_range(headers: &[u8]) -> Option<(u64, u64)> {
    use object::{Object, ObjectSection};
    let elf = object::File::parse(headers).ok()?;
    elf.section_by_name(".BTF")?.file_range()
}
