//! The parse-time walk over the type section.
//!
//! Three jobs, split by what limits their speed:
//! 1. finding where each record starts: a serial chain (each record's
//!    size comes from its own header), bound by load latency;
//! 2. checking every string offset and type id a record holds;
//! 3. hashing every type name for the by-name index.
//!
//! Jobs 1 and 2 run fused on the calling thread (the checks overlap with
//! the walk's latency chain). Job 3 is independent per record: for large
//! type sections it runs on a second thread over chunks of records as the
//! walk produces them, so on two cores the parse costs little more than
//! the walk.

use std::sync::mpsc;

use crate::btf::Btf;
use crate::error::{Error, Result};
use crate::index::{hash_cstr, NameIndex};
use crate::kind::{info_kind, info_vlen, INFO_KFLAG};
use crate::layout::KindLayout;
use crate::types::{le32, TypeId, TYPE_HEADER_SIZE};
use crate::validate::Shape;

/// How the scan decodes one kind: record size, and where string offsets
/// and type ids are (as masks, so the loops have no per-kind branches).
/// Must agree with `Type::visit_words`; a test checks it on every kind.
#[derive(Clone, Copy)]
pub(crate) struct ScanKind {
    pub(crate) valid: bool,
    pub(crate) info_sz: u8,
    pub(crate) elem_sz: u8,
    /// All ones when the third header word is a type id, else 0.
    third_id_mask: u32,
    array: bool,
    /// Whether vlen elements hold references at all.
    elem_refs: bool,
    elem_str_pos: u8,
    elem_str_mask: u32,
    elem_id_pos: u8,
    elem_id_mask: u32,
    /// Where the [`Shape`] takes its `word` from (8: the third header
    /// word; an array's element type at 12).
    shape_word_pos: u8,
    /// Where the [`Shape`] takes its `extra` from, or 0 for the vlen.
    shape_extra_pos: u8,
}

impl ScanKind {
    const INVALID: ScanKind = ScanKind {
        valid: false,
        info_sz: 0,
        elem_sz: 0,
        third_id_mask: 0,
        array: false,
        elem_refs: false,
        elem_str_pos: 0,
        elem_str_mask: 0,
        elem_id_pos: 0,
        elem_id_mask: 0,
        shape_word_pos: 8,
        shape_extra_pos: 0,
    };

    const fn plain(info_sz: u8, third_is_id: bool) -> ScanKind {
        ScanKind {
            valid: true,
            info_sz,
            third_id_mask: if third_is_id { u32::MAX } else { 0 },
            ..ScanKind::INVALID
        }
    }

    /// Kinds with vlen elements: element size, positions of the string
    /// offset and of the type id within an element.
    const fn with_elems(
        elem_sz: u8,
        str_pos: Option<u8>,
        id_pos: Option<u8>,
        third_is_id: bool,
    ) -> ScanKind {
        ScanKind {
            valid: true,
            elem_sz,
            third_id_mask: if third_is_id { u32::MAX } else { 0 },
            elem_refs: true,
            elem_str_pos: match str_pos {
                Some(p) => p,
                None => 0,
            },
            elem_str_mask: if str_pos.is_some() { u32::MAX } else { 0 },
            elem_id_pos: match id_pos {
                Some(p) => p,
                None => 0,
            },
            elem_id_mask: if id_pos.is_some() { u32::MAX } else { 0 },
            ..ScanKind::INVALID
        }
    }
}

const BUILTIN: [ScanKind; 128] = {
    let mut t = [ScanKind::INVALID; 128];
    t[1] = ScanKind {
        shape_extra_pos: 12, // the int data
        ..ScanKind::plain(4, false)
    }; // int
    t[2] = ScanKind::plain(0, true); // ptr
    t[3] = ScanKind {
        array: true,
        shape_word_pos: 12,  // element type
        shape_extra_pos: 20, // element count
        ..ScanKind::plain(12, false)
    };
    t[4] = ScanKind::with_elems(12, Some(0), Some(4), false); // struct
    t[5] = ScanKind::with_elems(12, Some(0), Some(4), false); // union
    t[6] = ScanKind::with_elems(8, Some(0), None, false); // enum
    t[7] = ScanKind::plain(0, false); // fwd
    t[8] = ScanKind::plain(0, true); // typedef
    t[9] = ScanKind::plain(0, true); // volatile
    t[10] = ScanKind::plain(0, true); // const
    t[11] = ScanKind::plain(0, true); // restrict
    t[12] = ScanKind::plain(0, true); // func (its vlen is the linkage)
    t[13] = ScanKind::with_elems(8, Some(0), Some(4), true); // func_proto
    t[14] = ScanKind {
        shape_extra_pos: 12, // the linkage
        ..ScanKind::plain(4, true)
    }; // var
    t[15] = ScanKind::with_elems(12, None, Some(0), false); // datasec
    t[16] = ScanKind::plain(0, false); // float
    t[17] = ScanKind::plain(4, true); // decl_tag
    t[18] = ScanKind::plain(0, true); // type_tag
    t[19] = ScanKind::with_elems(12, Some(0), None, false); // enum64
    t
};

/// The decoding table for one BTF: built-in kinds, plus the unknown kinds
/// its layout section describes (sized, but opaque: no references known).
/// Kind 0 is reserved and never valid in a record.
pub(crate) fn scan_table(layout: Option<&[KindLayout]>) -> [ScanKind; 128] {
    let mut t = BUILTIN;
    for (k, l) in layout.unwrap_or(&[]).iter().enumerate().take(128).skip(1) {
        if !t[k].valid {
            t[k] = ScanKind {
                valid: true,
                info_sz: l.info_sz,
                elem_sz: l.elem_sz,
                ..ScanKind::INVALID
            };
        }
    }
    t
}

/// What the scan needs to know about the BTF being parsed.
pub(crate) struct ScanInput<'x> {
    pub(crate) types: &'x [u8],
    /// Absolute offset of the type section in the blob, for errors.
    pub(crate) types_start: usize,
    pub(crate) start_id: u32,
    pub(crate) table: [ScanKind; 128],
    /// This BTF's own strings and where they start in the offset space.
    pub(crate) strs: &'x [u8],
    pub(crate) start_str_off: u32,
    pub(crate) base: Option<&'x Btf<'x>>,
}

/// Result of the walk.
pub(crate) struct Scanned {
    pub(crate) offs: Vec<u32>,
    /// Per record, what validation needs of it (`validate`).
    pub(crate) shapes: Vec<Shape>,
    pub(crate) max_str: u32,
    pub(crate) max_id: u32,
    /// None when the caller asked for no index.
    pub(crate) index: Option<NameIndex>,
}

/// Elements checked without a loop in each record (see `refs_and_names`).
const HEAD_ELEMS: usize = 4;

/// Records per unit of work handed to the helper thread.
const CHUNK: usize = 8192;
/// Type sections smaller than this are walked on one thread: the second
/// thread would cost more than it saves.
const PARALLEL_MIN_BYTES: usize = 512 * 1024;

impl ScanInput<'_> {
    /// Jobs 1 and 2: record start offsets, and the largest string offset
    /// and type id any record holds. `emit` receives each completed chunk
    /// of offsets. The reference checks ride along with the serial walk:
    /// they are independent of the chain from one record to the next, so
    /// the CPU overlaps them with it almost for free; so does gathering
    /// each record's [`Shape`] for validation.
    fn scan(
        &self,
        mut emit: impl FnMut(usize, &[u32]),
    ) -> Result<(Vec<u32>, Vec<Shape>, u32, u32)> {
        let types = self.types;
        // Every record is at least 12 bytes, so a non-empty section has a
        // last word.
        let last_word = types.len().saturating_sub(4);
        // Records are at least 12 bytes: a guess that rarely reallocates
        // and never exceeds what the input justifies.
        let mut offs: Vec<u32> = Vec::with_capacity(types.len() / 24 + 1);
        let mut shapes: Vec<Shape> = Vec::with_capacity(types.len() / 24 + 1);
        let (mut max_str, mut max_id) = (0u32, 0u32);
        let mut off = 0usize;
        while off < types.len() {
            let avail = types.len() - off;
            let Some(head) = types.get(off..off + TYPE_HEADER_SIZE) else {
                return Err(self.truncated(offs.len(), off, TYPE_HEADER_SIZE as u64, 0, avail));
            };
            let name_off = le32(head, 0);
            let info = le32(head, 4);
            let third = le32(head, 8);
            let (kind, vlen) = (info_kind(info), info_vlen(info));
            let k = &self.table[kind as usize];
            if !k.valid {
                return Err(Error::UnknownKind {
                    id: TypeId(self.start_id + offs.len() as u32),
                    offset: self.types_start + off,
                    kind,
                });
            }
            let size = TYPE_HEADER_SIZE as u64 + k.info_sz as u64 + k.elem_sz as u64 * vlen as u64;
            if size > avail as u64 {
                return Err(self.truncated(offs.len(), off, size, vlen, avail));
            }
            max_str = max_str.max(name_off);
            max_id = max_id.max(third & k.third_id_mask);
            if k.array {
                max_id = max_id.max(le32(types, off + 12)).max(le32(types, off + 16));
            }
            if k.elem_refs {
                let vlen = vlen as usize;
                let es = k.elem_sz as usize;
                let start = off + TYPE_HEADER_SIZE + k.info_sz as usize;
                let (sp, tp) = (
                    start + k.elem_str_pos as usize,
                    start + k.elem_id_pos as usize,
                );
                // The first elements without a loop: most func_protos and
                // many enums have this few, and a loop exit at a varying
                // count mispredicts. Reads past the record are clamped into
                // the section and masked off.
                for j in 0..HEAD_ELEMS {
                    let keep = ((j < vlen) as u32).wrapping_neg();
                    max_str = max_str
                        .max(le32(types, (sp + j * es).min(last_word)) & k.elem_str_mask & keep);
                    max_id = max_id
                        .max(le32(types, (tp + j * es).min(last_word)) & k.elem_id_mask & keep);
                }
                for j in HEAD_ELEMS..vlen {
                    max_str = max_str.max(le32(types, sp + j * es) & k.elem_str_mask);
                    max_id = max_id.max(le32(types, tp + j * es) & k.elem_id_mask);
                }
            }
            let extra = le32(types, off + k.shape_extra_pos as usize);
            shapes.push(Shape {
                kind,
                has_vlen: vlen != 0,
                kflag: info & INFO_KFLAG != 0,
                word: le32(types, off + k.shape_word_pos as usize),
                extra: if k.shape_extra_pos != 0 { extra } else { vlen },
            });
            offs.push(off as u32);
            off += size as usize;
            if offs.len() % CHUNK == 0 {
                let first = offs.len() - CHUNK;
                emit(first, &offs[first..]);
            }
        }
        let rest = offs.len() - offs.len() % CHUNK;
        if rest < offs.len() {
            emit(rest, &offs[rest..]);
        }
        Ok((offs, shapes, max_str, max_id))
    }

    fn truncated(&self, idx: usize, off: usize, need: u64, vlen: u32, avail: usize) -> Error {
        Error::TypeTruncated {
            id: TypeId(self.start_id + idx as u32),
            offset: self.types_start + off,
            vlen,
            need,
            avail,
        }
    }

    #[inline]
    fn str_tail(&self, off: u32) -> Option<&[u8]> {
        if off >= self.start_str_off {
            self.strs.get((off - self.start_str_off) as usize..)
        } else {
            self.base?.str_tail(off)
        }
    }

    /// Job 3 over the records `first..first + offs.len()`: adds each named
    /// record to `index`. Names out of range are skipped here and reported
    /// after the walk.
    fn hash_names(
        &self,
        first: usize,
        offs: &[u32],
        names: &mut Vec<(u32, u32)>,
        index: &mut NameIndex,
    ) {
        let types = self.types;
        // Gather the named records first, without a branch on anonymity
        // (named and anonymous records alternate unpredictably).
        names.clear();
        names.resize(offs.len() + 1, (0, 0));
        let mut n = 0usize;
        for (i, &off) in offs.iter().enumerate() {
            let name_off = le32(types, off as usize);
            names[n] = (name_off, (first + i) as u32);
            n += (name_off != 0) as usize;
        }
        for &(name_off, idx) in &names[..n] {
            if let Some(tail) = self.str_tail(name_off) {
                let (h, len) = hash_cstr(tail);
                if len > 0 {
                    index.insert(h, idx);
                }
            }
        }
    }

    /// Job 3 alone, over every record, on the calling thread.
    pub(crate) fn index_names(&self, offs: &[u32]) -> NameIndex {
        let mut names = Vec::new();
        let mut index = NameIndex::with_capacity(offs.len() / 2, offs.len());
        for (c, chunk) in offs.chunks(CHUNK).enumerate() {
            self.hash_names(c * CHUNK, chunk, &mut names, &mut index);
        }
        index
    }

    /// Runs the jobs (the third only with `index`): the walk on the
    /// calling thread and, when `threads > 1` and the type section is
    /// large, the name hashing on a second thread, chunk by chunk as the
    /// walk produces them.
    pub(crate) fn run(&self, threads: usize, index: bool) -> Result<Scanned> {
        let mut names = Vec::new();
        if !index || threads < 2 || self.types.len() < PARALLEL_MIN_BYTES {
            let (offs, shapes, max_str, max_id) = self.scan(|_, _| {})?;
            let index = index.then(|| self.index_names(&offs));
            return Ok(Scanned {
                offs,
                shapes,
                max_str,
                max_id,
                index,
            });
        }
        let (tx, rx) = mpsc::channel::<(usize, Vec<u32>)>();
        std::thread::scope(|s| {
            let helper = s.spawn(move || {
                // Sized from the section: about one record per 24 bytes,
                // half of them named (a guess; `insert` grows as needed).
                let guess = self.types.len() / 24;
                let mut index = NameIndex::with_capacity(guess / 2, guess);
                for (first, chunk) in rx {
                    self.hash_names(first, &chunk, &mut names, &mut index);
                }
                index
            });
            let scanned = self.scan(|first, chunk| {
                // The helper holds the receiver until the sender is gone,
                // so a send cannot fail.
                let _ = tx.send((first, chunk.to_vec()));
            });
            drop(tx);
            let index = helper.join().expect("name hashing thread panicked");
            let (offs, shapes, max_str, max_id) = scanned?;
            Ok(Scanned {
                offs,
                shapes,
                max_str,
                max_id,
                index: Some(index),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kind::{make_info, Kind};
    use crate::types::{Type, WordKind};

    /// The scan table and `Type::word_positions` agree, for every kind, on
    /// which words are string offsets and which are type ids.
    #[test]
    fn scan_table_matches_word_positions() {
        for raw in 1..=19u8 {
            let kind = Kind::from_raw(raw);
            let k = BUILTIN[raw as usize];
            let vlen = if k.elem_sz > 0 { 3 } else { 0 };
            let size = TYPE_HEADER_SIZE + k.info_sz as usize + k.elem_sz as usize * vlen;
            let mut rec = vec![0u8; size];
            rec[4..8].copy_from_slice(&make_info(raw, vlen as u32, false).to_le_bytes());
            let t = Type::new(TypeId(1), &rec, k.info_sz);
            let (mut strs, mut ids) = (vec![0usize], vec![]);
            if k.third_id_mask != 0 {
                ids.push(8);
            }
            if k.array {
                ids.extend([12, 16]);
            }
            let base = TYPE_HEADER_SIZE + k.info_sz as usize;
            for j in 0..vlen {
                let e = base + j * k.elem_sz as usize;
                if k.elem_str_mask != 0 {
                    strs.push(e + k.elem_str_pos as usize);
                }
                if k.elem_id_mask != 0 {
                    ids.push(e + k.elem_id_pos as usize);
                }
            }
            let (mut wstrs, mut wids) = (vec![], vec![]);
            t.word_positions(|pos, wk| match wk {
                WordKind::Str => wstrs.push(pos),
                WordKind::TypeId => wids.push(pos),
            });
            strs.sort();
            ids.sort();
            wstrs.sort();
            wids.sort();
            assert_eq!((strs, ids), (wstrs, wids), "{kind}");
        }
    }
}
