//! [`Btf`]: a parsed, validated BTF blob (base or split), zero-copy over the
//! input bytes.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::OnceLock;

use crate::error::{Error, Result, Section};
use crate::header::{to_little_endian, Endian, Header};
use crate::index::NameIndex;
use crate::kind::{info_kind, Kind};
use crate::layout::KindLayout;
use crate::scan::{scan_table, ScanInput, ScanKind};
use crate::types::{le32, Type, TypeId, Word, VOID_RECORD};

/// Parsing knobs.
#[derive(Clone, Copy, Debug)]
pub struct ParseOptions {
    /// Threads the parse may use (large type sections only): 1 keeps it on
    /// the calling thread. Defaults to 2 when the machine has two or more
    /// cores.
    pub threads: usize,
    /// Build the by-name index on the first lookup instead of during the
    /// parse. For callers that may never look a name up (statistics, raw
    /// dumps): they skip hashing every name. Callers that do look names
    /// up lose the overlap with the walk (the parse builds the index on
    /// the second thread), so this is off by default.
    pub lazy_names: bool,
    /// Check what the types mean with the kernel's rules (members inside
    /// their structs, INT encodings, no by-value cycles, ...; see the
    /// `validate` module). On by default: turn it off only for BTF the
    /// running kernel serves (`/sys/kernel/btf/*`), which is the
    /// kernel's own description of itself, checked by its BTF verifier
    /// when it booted or loaded the module, and which btfkit must read
    /// as the kernel does whatever it holds; [`crate::load::BtfBytes::parse_options`]
    /// does so. The structural checks (header, bounds, record sizes,
    /// string offsets and type ids in range) are always made.
    pub validate: bool,
}

impl Default for ParseOptions {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        ParseOptions {
            threads: cores.min(2),
            lazy_names: false,
            validate: true,
        }
    }
}

/// A parsed BTF.
///
/// Borrows its input when it is little-endian (`Cow::Borrowed`); big-endian
/// input is swapped once into an owned copy. A split BTF (kernel module)
/// refers to its base: its ids continue after the base's last id and its
/// string offsets after the base's string section.
///
/// ```rust
/// use btfkit_btf::{Btf, BtfBuilder, Kind, TypeId, INT_SIGNED};
///
/// // A base (think vmlinux) and split BTF on it (think a module).
/// let mut b = BtfBuilder::new();
/// let int = b.add_int("int", 4, INT_SIGNED)?;
/// let base_bytes = b.finish();
/// let base = Btf::parse(&base_bytes)?;
///
/// let mut m = BtfBuilder::new_split(&base);
/// let ptr = m.add_ptr(int)?;
/// m.add_typedef("int_ptr", ptr)?;
/// let split_bytes = m.finish();
/// let split = Btf::parse_split(&split_bytes, &base)?;
///
/// assert_eq!(split.first_id(), TypeId(2)); // ids continue after the base's
/// assert_eq!(split.len(), 2); // own types only
/// let td = split.find_first("int_ptr", Kind::Typedef).unwrap();
/// assert_eq!(split.resolve_size(td)?, 8); // no `long`: 8-byte pointers
/// let t = split.skip_mods_and_typedefs(td)?;
/// assert_eq!(t.kind(), Kind::Ptr);
/// assert_eq!(split.type_by_id(t.ref_type().unwrap())?.kind(), Kind::Int); // from the base
/// # Ok::<(), btfkit_btf::Error>(())
/// ```
pub struct Btf<'a> {
    data: Cow<'a, [u8]>,
    header: Header,
    types: Range<usize>,
    strs: Range<usize>,
    /// Entries of the kind-layout section, indexed by kind number.
    layout: Option<Vec<KindLayout>>,
    /// Start of each record, relative to the type section.
    offs: Vec<u32>,
    base: Option<&'a Btf<'a>>,
    start_id: u32,
    start_str_off: u32,
    /// Record layout per kind number (built-in or from the layout section).
    table: [ScanKind; 128],
    /// Set by the parse, or on the first lookup with `lazy_names`.
    names: OnceLock<NameIndex>,
    pub(crate) ptr_size: OnceLock<u32>,
}

impl std::fmt::Debug for Btf<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Btf")
            .field("header", &self.header)
            .field("types", &self.offs.len())
            .field("start_id", &self.start_id)
            .field("split", &self.base.is_some())
            .finish()
    }
}

impl<'a> Btf<'a> {
    /// Parses base BTF from raw bytes, borrowing them.
    pub fn parse(data: &'a [u8]) -> Result<Btf<'a>> {
        Self::parse_cow(Cow::Borrowed(data), None)
    }

    /// Parses split BTF on top of `base`.
    pub fn parse_split(data: &'a [u8], base: &'a Btf<'a>) -> Result<Btf<'a>> {
        Self::parse_cow(Cow::Borrowed(data), Some(base))
    }

    /// Parses raw BTF or the `.BTF` section of an ELF file.
    pub fn parse_any(data: &'a [u8], base: Option<&'a Btf<'a>>) -> Result<Btf<'a>> {
        Self::parse_any_with(data, base, ParseOptions::default())
    }

    /// `parse_any` with explicit options.
    pub fn parse_any_with(
        data: &'a [u8],
        base: Option<&'a Btf<'a>>,
        opts: ParseOptions,
    ) -> Result<Btf<'a>> {
        if crate::elf::is_elf(data) {
            crate::elf::parse_elf_with(data, base, opts)
        } else {
            Self::parse_with(Cow::Borrowed(data), base, opts)
        }
    }

    /// Parses raw BTF from borrowed or owned bytes.
    pub fn parse_cow(data: Cow<'a, [u8]>, base: Option<&'a Btf<'a>>) -> Result<Btf<'a>> {
        Self::parse_with(data, base, ParseOptions::default())
    }

    /// Parses raw BTF with explicit options.
    pub fn parse_with(
        data: Cow<'a, [u8]>,
        base: Option<&'a Btf<'a>>,
        opts: ParseOptions,
    ) -> Result<Btf<'a>> {
        let header = Header::parse(&data)?;
        let data = to_little_endian(data, &header)?;
        let (start_id, start_str_off) = match base {
            Some(b) => (b.next_id().0, b.str_end()),
            None => (1, 0),
        };
        let strs = header.range(Section::Strings);
        check_strings(&data[strs.clone()], strs.start, base.is_some())?;
        let layout = if header.layout_len > 0 {
            Some(
                data[header.range(Section::Layout)]
                    .chunks_exact(4)
                    .map(KindLayout::decode)
                    .collect::<Vec<_>>(),
            )
        } else {
            None
        };
        let types = header.range(Section::Types);
        let table = scan_table(layout.as_deref());
        let scanned = ScanInput {
            types: &data[types.clone()],
            types_start: types.start,
            start_id,
            table,
            strs: &data[strs.clone()],
            start_str_off,
            base,
        }
        .run(opts.threads, !opts.lazy_names)?;
        if start_id as u64 + scanned.offs.len() as u64 > i32::MAX as u64 {
            return Err(Error::TooManyTypes {
                count: scanned.offs.len() as u64,
            });
        }
        let names = OnceLock::new();
        if let Some(index) = scanned.index {
            let _ = names.set(index);
        }
        let shapes = scanned.shapes;
        let btf = Btf {
            data,
            header,
            types,
            strs,
            layout,
            table,
            offs: scanned.offs,
            base,
            start_id,
            start_str_off,
            names,
            ptr_size: OnceLock::new(),
        };
        if scanned.max_str >= btf.str_end() || scanned.max_id >= btf.next_id().0 {
            // Something is out of range: find the first offender exactly.
            // In split BTF the likely cause is the wrong base.
            btf.validate_refs().map_err(|e| match btf.base {
                Some(_) => Error::BaseMismatch {
                    reason: format!(
                        "{e}; the base is probably not the BTF this split BTF was built against"
                    ),
                },
                None => e,
            })?;
        }
        if btf.base.is_some() {
            btf.check_base_match()?;
        }
        if opts.validate {
            crate::validate::validate(&btf, &shapes, opts.threads)?;
        }
        Ok(btf)
    }

    /// Checks that every string offset and type id in every record is in
    /// range, so that later accessors can rely on them.
    fn validate_refs(&self) -> Result<()> {
        let str_limit = self.str_end();
        let max_id = self.next_id().0 - 1;
        for t in self.types() {
            let mut bad: Option<Word> = None;
            t.visit_words(|w| {
                if bad.is_none() {
                    match w {
                        Word::Str(off) if off >= str_limit => bad = Some(w),
                        Word::TypeId(id) if id > max_id => bad = Some(w),
                        _ => {}
                    }
                }
            });
            if let Some(w) = bad {
                let offset = self.record_offset(t.id());
                return Err(match w {
                    Word::Str(str_off) => Error::StringOffsetOutOfRange {
                        id: t.id(),
                        offset,
                        what: if str_off == t.name_off() {
                            "name"
                        } else {
                            "member/value/param name"
                        },
                        str_off,
                        limit: str_limit,
                    },
                    Word::TypeId(target) => Error::TypeIdOutOfRange {
                        id: t.id(),
                        offset,
                        target,
                        max: max_id,
                    },
                });
            }
        }
        Ok(())
    }

    /// Detects split BTF parsed on the wrong base. Every known producer
    /// (pahole, libbpf, LLVM) points names at the start of a string, so a
    /// name offset that lands inside a string means the base's string
    /// section is not the one this BTF was built against.
    fn check_base_match(&self) -> Result<()> {
        for t in self.types() {
            let mut bad = None;
            t.for_each_str_off(|off| {
                if bad.is_none() && off != 0 && !self.is_string_start(off) {
                    bad = Some(off);
                }
            });
            if let Some(off) = bad {
                return Err(Error::BaseMismatch {
                    reason: format!(
                        "type id {} at offset {:#x} names string offset {off}, which is not the start of a string \
                         in {}: the base is not the BTF this split BTF was built against",
                        t.id(),
                        self.record_offset(t.id()),
                        if off < self.start_str_off { "the base" } else { "this BTF" },
                    ),
                });
            }
        }
        Ok(())
    }

    /// Whether `off` is the first byte of a string (offset 0 of a section,
    /// or preceded by a NUL).
    fn is_string_start(&self, off: u32) -> bool {
        if off < self.start_str_off {
            return self.base.is_some_and(|b| b.is_string_start(off));
        }
        let rel = (off - self.start_str_off) as usize;
        let strs = &self.data[self.strs.clone()];
        rel < strs.len() && (rel == 0 || strs[rel - 1] == 0)
    }

    /// Absolute offset of a record of this BTF within the blob.
    pub fn record_offset(&self, id: TypeId) -> usize {
        let idx = (id.0 - self.start_id) as usize;
        self.types.start + self.offs[idx] as usize
    }

    /// The header as parsed (section offsets and lengths of the input,
    /// and its original byte order).
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Byte order of the input this was parsed from.
    pub fn endian(&self) -> Endian {
        self.header.endian
    }

    /// The blob in little-endian order.
    pub fn raw_data(&self) -> &[u8] {
        &self.data
    }

    /// The base BTF of split BTF (e.g. vmlinux for a module), `None` for
    /// base BTF.
    pub fn base(&self) -> Option<&'a Btf<'a>> {
        self.base
    }

    /// Whether this is split BTF, parsed on a base.
    pub fn is_split(&self) -> bool {
        self.base.is_some()
    }

    /// Kind-layout entries, when the blob has a layout section.
    pub fn kind_layouts(&self) -> Option<&[KindLayout]> {
        self.layout.as_deref()
    }

    /// First id of this BTF's own types (1 for base BTF).
    pub fn first_id(&self) -> TypeId {
        TypeId(self.start_id)
    }

    /// One past the last id: libbpf's `btf__type_cnt`.
    pub fn next_id(&self) -> TypeId {
        TypeId(self.start_id + self.offs.len() as u32)
    }

    /// Number of this BTF's own types (not counting void or the base).
    pub fn len(&self) -> usize {
        self.offs.len()
    }

    /// Whether this BTF has no types of its own.
    pub fn is_empty(&self) -> bool {
        self.offs.is_empty()
    }

    /// String offset where this BTF's own strings start (0 for base BTF).
    pub fn start_str_off(&self) -> u32 {
        self.start_str_off
    }

    /// One past the last valid string offset, base included.
    pub fn str_end(&self) -> u32 {
        self.start_str_off + self.strs.len() as u32
    }

    /// This BTF's own string section.
    pub fn strings_section(&self) -> &[u8] {
        &self.data[self.strs.clone()]
    }

    /// This BTF's own type section.
    pub fn types_section(&self) -> &[u8] {
        &self.data[self.types.clone()]
    }

    /// The type with id `id`, looking in the base for base ids. Id 0 is void.
    pub fn type_by_id(&self, id: TypeId) -> Result<Type<'_>> {
        if id.0 == 0 {
            return Ok(Type::new(id, &VOID_RECORD, 0));
        }
        if id.0 < self.start_id {
            // Base ids are below start_id, so base is Some here.
            return match self.base {
                Some(b) => b.type_by_id(id),
                None => Err(self.no_such_type(id)),
            };
        }
        let idx = (id.0 - self.start_id) as usize;
        let Some(&start) = self.offs.get(idx) else {
            return Err(self.no_such_type(id));
        };
        Ok(self.record(idx, start))
    }

    fn no_such_type(&self, id: TypeId) -> Error {
        Error::NoSuchType {
            id,
            max: self.next_id().0 - 1,
        }
    }

    #[inline]
    fn record(&self, idx: usize, start: u32) -> Type<'_> {
        let types = &self.data[self.types.clone()];
        let end = self.offs.get(idx + 1).map_or(types.len(), |&e| e as usize);
        let rec = &types[start as usize..end];
        let info_size = self.table[info_kind(le32(rec, 4)) as usize].info_sz;
        Type::new(TypeId(self.start_id + idx as u32), rec, info_size)
    }

    /// This BTF's own types, in id order.
    pub fn types(&self) -> impl ExactSizeIterator<Item = Type<'_>> + DoubleEndedIterator + '_ {
        self.offs
            .iter()
            .enumerate()
            .map(move |(idx, &start)| self.record(idx, start))
    }

    /// All types visible from this BTF: the base's, then its own.
    pub fn all_types(&self) -> impl Iterator<Item = Type<'_>> + '_ {
        let base: Box<dyn Iterator<Item = Type<'_>> + '_> = match self.base {
            Some(b) => Box::new(b.all_types()),
            None => Box::new(std::iter::empty()),
        };
        base.chain(self.types())
    }

    /// Start offsets of this BTF's own records within the type section.
    pub(crate) fn record_offsets(&self) -> &[u32] {
        &self.offs
    }

    /// The string section's bytes from `off` to the end of the section
    /// holding it (this BTF's or a base's).
    pub(crate) fn str_tail(&self, off: u32) -> Option<&[u8]> {
        if off < self.start_str_off {
            return self.base?.str_tail(off);
        }
        self.data[self.strs.clone()].get((off - self.start_str_off) as usize..)
    }

    /// The bytes of the NUL-terminated string at `off` (without the NUL),
    /// in the base for offsets below [`start_str_off`](Self::start_str_off).
    pub fn str_bytes(&self, off: u32) -> Result<&[u8]> {
        if off < self.start_str_off {
            return match self.base {
                Some(b) => b.str_bytes(off),
                None => Err(Error::BadStringOffset {
                    str_off: off,
                    limit: self.str_end(),
                }),
            };
        }
        let strs = &self.data[self.strs.clone()];
        let rel = (off - self.start_str_off) as usize;
        let Some(tail) = strs.get(rel..) else {
            return Err(Error::BadStringOffset {
                str_off: off,
                limit: self.str_end(),
            });
        };
        // The section ends with NUL (checked at parse), so this always finds one.
        let end = memchr::memchr(0, tail).unwrap_or(tail.len());
        Ok(&tail[..end])
    }

    /// The string at `off` as UTF-8.
    pub fn str_at(&self, off: u32) -> Result<&str> {
        std::str::from_utf8(self.str_bytes(off)?).map_err(|_| Error::InvalidUtf8 { str_off: off })
    }

    /// The name of a type, "" when anonymous.
    pub fn name_of(&self, t: &Type<'_>) -> Result<&str> {
        self.str_at(t.name_off())
    }

    /// The name index of this BTF's own types (built during parsing, or
    /// now with `ParseOptions::lazy_names`).
    pub(crate) fn name_index(&self) -> &NameIndex {
        self.names.get_or_init(|| {
            ScanInput {
                types: self.types_section(),
                types_start: self.types.start,
                start_id: self.start_id,
                table: self.table,
                strs: &self.data[self.strs.clone()],
                start_str_off: self.start_str_off,
                base: self.base,
            }
            .index_names(&self.offs)
        })
    }

    /// Ids of all types named `name`, base types first, in ascending order.
    pub fn find_by_name(&self, name: &str) -> Vec<TypeId> {
        let mut out = Vec::new();
        self.collect_by_name(name.as_bytes(), &mut out);
        out
    }

    fn collect_by_name(&self, name: &[u8], out: &mut Vec<TypeId>) {
        if let Some(b) = self.base {
            b.collect_by_name(name, out);
        }
        if name.is_empty() {
            return;
        }
        self.name_index().lookup(self, name, |idx| {
            out.push(TypeId(self.start_id + idx));
        });
    }

    /// Ids of the types named `name` with kind `kind`.
    pub fn find_by_name_kind(&self, name: &str, kind: Kind) -> Vec<TypeId> {
        let mut ids = self.find_by_name(name);
        ids.retain(|&id| matches!(self.type_by_id(id), Ok(t) if t.kind() == kind));
        ids
    }

    /// The first type named `name` with kind `kind` (libbpf's
    /// `btf__find_by_name_kind`).
    pub fn find_first(&self, name: &str, kind: Kind) -> Option<TypeId> {
        self.find_by_name_kind(name, kind).into_iter().next()
    }
}

fn check_strings(strs: &[u8], offset: usize, split: bool) -> Result<()> {
    match strs {
        // Split BTF may add no strings of its own.
        [] if split => Ok(()),
        [] => Err(Error::StringsEmpty { offset }),
        [first, ..] if *first != 0 && !split => Err(Error::StringsNoLeadingNul { offset }),
        [.., last] if *last != 0 => Err(Error::StringsUnterminated {
            offset: offset + strs.len() - 1,
        }),
        _ => Ok(()),
    }
}
