//! Writing BTF: a builder that adds types and (deduplicated) strings and
//! emits raw BTF, optionally with a kind-layout section, in either byte
//! order, or wrapped in an ELF `.BTF` section.

use std::hash::BuildHasher;

use hashbrown::HashTable;

use crate::btf::Btf;
use crate::elf::wrap_in_elf;
use crate::error::{Error, Result};
use crate::header::{Endian, Header, BTF_VERSION, HEADER_LEN_CLASSIC, HEADER_LEN_LAYOUT};
use crate::kind::{make_info, Kind, MAX_VLEN};
use crate::layout::KindLayout;
use crate::types::{le32, Int, Type, TypeData, TypeId, WordKind};

/// A string section under construction, deduplicating on insert.
pub struct StringTable {
    bytes: Vec<u8>,
    /// Offset of `bytes[0]` in the id space (base string size for split BTF).
    start_off: u32,
    /// Offsets (relative to `bytes`) of the strings already present; built
    /// lazily so that copying a BTF verbatim costs nothing.
    index: Option<HashTable<u32>>,
}

fn str_hasher() -> foldhash::fast::FixedState {
    foldhash::fast::FixedState::with_seed(0x7374_7273)
}

fn cstr_at(bytes: &[u8], rel: u32) -> &[u8] {
    let tail = &bytes[rel as usize..];
    &tail[..memchr::memchr(0, tail).unwrap_or(tail.len())]
}

impl StringTable {
    /// An empty table: the empty string at offset 0 for base BTF, nothing
    /// for split BTF (whose offset 0 is the base's empty string).
    pub fn new(start_off: u32) -> StringTable {
        StringTable {
            bytes: if start_off == 0 { vec![0] } else { Vec::new() },
            start_off,
            index: None,
        }
    }

    /// A table holding exactly `bytes` (an existing string section).
    pub fn from_raw(bytes: &[u8], start_off: u32) -> StringTable {
        StringTable {
            bytes: bytes.to_vec(),
            start_off,
            index: None,
        }
    }

    fn ensure_index(&mut self) {
        if self.index.is_some() {
            return;
        }
        let h = str_hasher();
        let bytes = &self.bytes;
        let mut t = HashTable::new();
        let mut rel = 0usize;
        while rel < bytes.len() {
            let s = cstr_at(bytes, rel as u32);
            let hash = h.hash_one(s);
            // The first copy of a repeated string wins.
            if t.find(hash, |&o| cstr_at(bytes, o) == s).is_none() {
                t.insert_unique(hash, rel as u32, |&o| h.hash_one(cstr_at(bytes, o)));
            }
            rel += s.len() + 1;
        }
        self.index = Some(t);
    }

    /// Offset of `s` already in this table, if any.
    pub fn find(&mut self, s: &[u8]) -> Option<u32> {
        self.ensure_index();
        let hash = str_hasher().hash_one(s);
        let bytes = &self.bytes;
        let index = self.index.as_ref().expect("built above");
        index
            .find(hash, |&o| cstr_at(bytes, o) == s)
            .map(|&o| self.start_off + o)
    }

    /// Adds `s` (without NUL) unless present; returns its offset.
    pub fn add(&mut self, s: &[u8]) -> Result<u32> {
        if s.contains(&0) {
            return Err(Error::Build("string contains NUL".into()));
        }
        if let Some(off) = self.find(s) {
            return Ok(off);
        }
        let rel = self.bytes.len() as u32;
        let off = self
            .start_off
            .checked_add(rel)
            .filter(|o| o.checked_add(s.len() as u32 + 1).is_some())
            .ok_or_else(|| Error::Build("string section exceeds 4 GiB".into()))?;
        self.bytes.extend_from_slice(s);
        self.bytes.push(0);
        let h = str_hasher();
        let hash = h.hash_one(s);
        let bytes = &self.bytes;
        self.index
            .as_mut()
            .expect("built by find")
            .insert_unique(hash, rel, |&o| h.hash_one(cstr_at(bytes, o)));
        Ok(off)
    }

    /// The section as built: NUL-terminated strings, the first at the
    /// table's start offset.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// A struct/union member for [`BtfBuilder::add_struct`].
#[derive(Clone, Debug)]
pub struct MemberSpec<'n> {
    /// The member's name; "" for an anonymous struct/union member.
    pub name: &'n str,
    /// The member's type.
    pub type_id: TypeId,
    /// Offset from the start of the struct, in bits. When any member of
    /// the struct is a bitfield it must fit in 24 bits (the kind_flag
    /// encoding).
    pub bit_offset: u32,
    /// 0 for a regular member.
    pub bitfield_size: u8,
}

/// Builds raw BTF.
///
/// Types get consecutive ids in the order they are added (from 1, or after
/// the base's last id for split BTF); each `add_*` method returns the new
/// id. Names go into a deduplicated string table. Referenced type ids are
/// written as given and not checked here: a dangling id is reported when
/// the output is parsed ([`Btf::parse`] and friends check every id).
/// Errors ([`Error::Build`]) are for what cannot be encoded: a string with
/// a NUL, a vlen over [`MAX_VLEN`](crate::MAX_VLEN), more types than ids,
/// an int over 128 bits, a bit offset over 24 bits in a struct with
/// bitfields, a kind a method does not take.
///
/// ```rust
/// use btfkit_btf::{Btf, BtfBuilder, Kind, MemberSpec, TypeId, INT_SIGNED};
///
/// let mut b = BtfBuilder::new();
/// let int = b.add_int("int", 4, INT_SIGNED)?;
/// let uint = b.add_int("unsigned int", 4, 0)?;
/// let task = b.add_struct(
///     "task",
///     16,
///     &[
///         MemberSpec { name: "pid", type_id: int, bit_offset: 0, bitfield_size: 0 },
///         MemberSpec { name: "flags", type_id: uint, bit_offset: 32, bitfield_size: 3 },
///         MemberSpec { name: "next", type_id: TypeId(4), bit_offset: 64, bitfield_size: 0 },
///     ],
/// )?;
/// let ptr = b.add_ptr(task)?; // id 4: `struct task *`
/// assert_eq!(ptr, TypeId(4));
/// let bytes = b.finish();
///
/// let btf = Btf::parse(&bytes)?;
/// let task = btf.find_first("task", Kind::Struct).unwrap();
/// assert_eq!(btf.resolve_size(task)?, 16);
/// let flags = btf.find_member(task, "flags")?.unwrap();
/// assert_eq!((flags.bit_offset, flags.bitfield_size), (32, 3));
/// # Ok::<(), btfkit_btf::Error>(())
/// ```
pub struct BtfBuilder<'b> {
    base: Option<&'b Btf<'b>>,
    /// Deduplicated view of the base's strings, for split builders.
    base_strings: Option<StringTable>,
    strings: StringTable,
    /// Encoded records, little-endian.
    types: Vec<u8>,
    count: u32,
    start_id: u32,
    endian: Endian,
    layout: Option<Vec<KindLayout>>,
    flags: u8,
}

impl Default for BtfBuilder<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'b> BtfBuilder<'b> {
    /// A builder for base BTF, little-endian, classic header.
    pub fn new() -> Self {
        BtfBuilder {
            base: None,
            base_strings: None,
            strings: StringTable::new(0),
            types: Vec::new(),
            count: 0,
            start_id: 1,
            endian: Endian::Little,
            layout: None,
            flags: 0,
        }
    }

    /// A builder for split BTF on top of `base`: ids continue after the
    /// base's, strings already in the base are referenced, not repeated.
    pub fn new_split(base: &'b Btf<'b>) -> Self {
        BtfBuilder {
            base: Some(base),
            strings: StringTable::new(base.str_end()),
            start_id: base.next_id().0,
            ..Self::new()
        }
    }

    /// A builder holding `btf`'s types and string section exactly, in its
    /// byte order and with its layout section, ready for more types. Each
    /// record is decoded and re-encoded, so `from_btf(b).finish()` equal
    /// to the input proves the codec exact.
    pub fn from_btf(btf: &'b Btf<'b>) -> Result<Self> {
        let mut b = match btf.base() {
            Some(base) => Self::new_split(base),
            None => Self::new(),
        };
        b.strings = StringTable::from_raw(btf.strings_section(), btf.start_str_off());
        b.endian = btf.endian();
        b.flags = btf.header().flags;
        b.layout = btf.kind_layouts().map(<[_]>::to_vec);
        b.types.reserve(btf.types_section().len());
        for t in btf.types() {
            b.push_decoded(&t)?;
        }
        Ok(b)
    }

    /// Byte order of the output of [`finish`](Self::finish) and
    /// [`finish_elf`](Self::finish_elf) (little-endian by default).
    pub fn set_endian(&mut self, endian: Endian) -> &mut Self {
        self.endian = endian;
        self
    }

    /// Emits a kind-layout section describing every kind this crate knows
    /// (the 2026 header), or none (classic header).
    pub fn set_kind_layout(&mut self, on: bool) -> &mut Self {
        self.layout = on.then(KindLayout::known_table);
        self
    }

    /// Id the next added type will get.
    pub fn next_id(&self) -> TypeId {
        TypeId(self.start_id + self.count)
    }

    /// Adds a string (deduplicated, base strings included) and returns its
    /// offset. The empty string is always offset 0.
    pub fn add_str(&mut self, s: &str) -> Result<u32> {
        self.add_str_bytes(s.as_bytes())
    }

    /// [`add_str`](Self::add_str) for names that are not UTF-8. Fails
    /// with [`Error::Build`] when `s` contains a NUL or the string section
    /// would pass 4 GiB.
    pub fn add_str_bytes(&mut self, s: &[u8]) -> Result<u32> {
        if s.is_empty() {
            return Ok(0);
        }
        if let Some(base) = self.base {
            let bs = self
                .base_strings
                .get_or_insert_with(|| StringTable::from_raw(&base_strings_flat(base), 0));
            if let Some(off) = bs.find(s) {
                return Ok(off);
            }
        }
        self.strings.add(s)
    }

    fn push_header(
        &mut self,
        name_off: u32,
        kind: Kind,
        vlen: usize,
        kflag: bool,
        size_or_type: u32,
    ) -> Result<TypeId> {
        if vlen as u64 > MAX_VLEN as u64 {
            return Err(Error::Build(format!(
                "{kind} with {vlen} elements exceeds the vlen limit"
            )));
        }
        if self.start_id as u64 + self.count as u64 >= i32::MAX as u64 {
            return Err(Error::Build("too many types".into()));
        }
        let id = self.next_id();
        self.count += 1;
        self.put(name_off);
        self.put(make_info(kind.to_raw(), vlen as u32, kflag));
        self.put(size_or_type);
        Ok(id)
    }

    fn put(&mut self, w: u32) {
        self.types.extend_from_slice(&w.to_le_bytes());
    }

    /// Re-encodes a parsed record from its decoded fields, keeping its
    /// string offsets and type ids as they are.
    fn push_decoded(&mut self, t: &Type<'_>) -> Result<TypeId> {
        let kind = t.kind();
        let id = self.push_header(
            t.name_off(),
            kind,
            t.vlen() as usize,
            t.kflag(),
            t.size_or_type(),
        )?;
        match t.data() {
            TypeData::Int(i) => self.put(i.data),
            TypeData::Array(a) => {
                self.put(a.elem_type.0);
                self.put(a.index_type.0);
                self.put(a.nelems);
            }
            TypeData::Struct(ms) | TypeData::Union(ms) => {
                for m in ms.iter() {
                    self.put(m.name_off);
                    self.put(m.type_id.0);
                    self.put(m.raw_offset);
                }
            }
            TypeData::Enum(vs) => {
                for v in vs.iter() {
                    self.put(v.name_off);
                    self.put(v.bits as u32);
                    if vs.is_64() {
                        self.put((v.bits >> 32) as u32);
                    }
                }
            }
            TypeData::FuncProto { params, .. } => {
                for p in params.iter() {
                    self.put(p.name_off);
                    self.put(p.type_id.0);
                }
            }
            TypeData::Var { linkage, .. } => self.put(linkage),
            TypeData::Datasec(ds) => {
                for v in ds.iter() {
                    self.put(v.type_id.0);
                    self.put(v.offset);
                    self.put(v.size);
                }
            }
            TypeData::DeclTag { component_idx, .. } => self.put(component_idx as u32),
            TypeData::Unknown { .. } => {
                // Opaque to this reader: carry the bytes after the header over.
                self.types.extend_from_slice(&t.raw()[12..]);
            }
            TypeData::Void
            | TypeData::Ptr(_)
            | TypeData::Fwd { .. }
            | TypeData::Typedef(_)
            | TypeData::Volatile(_)
            | TypeData::Const(_)
            | TypeData::Restrict(_)
            | TypeData::Func { .. }
            | TypeData::Float { .. }
            | TypeData::TypeTag(_) => {}
        }
        Ok(id)
    }

    /// Copies type `t` of `src` into this builder: strings are re-added
    /// (deduplicated), every type id it refers to goes through `map`.
    /// Unknown kinds are copied only when this builder has a layout entry
    /// for them.
    pub fn add_type_from(
        &mut self,
        src: &Btf<'_>,
        t: &Type<'_>,
        mut map: impl FnMut(TypeId) -> Result<TypeId>,
    ) -> Result<TypeId> {
        if let Kind::Unknown(k) = t.kind() {
            let described = self.layout.as_ref().is_some_and(|l| (k as usize) < l.len());
            if !described {
                return Err(Error::Build(format!(
                    "type {} has unknown kind {k} and the output has no layout entry for it",
                    t.id()
                )));
            }
        }
        let mut rec = t.raw().to_vec();
        let mut err = None;
        t.word_positions(|pos, wk| {
            if err.is_some() {
                return;
            }
            let old = le32(&rec, pos);
            let new = match wk {
                WordKind::Str => src.str_bytes(old).and_then(|s| self.add_str_bytes(s)),
                WordKind::TypeId => map(TypeId(old)).map(|id| id.0),
            };
            match new {
                Ok(v) => rec[pos..pos + 4].copy_from_slice(&v.to_le_bytes()),
                Err(e) => err = Some(e),
            }
        });
        if let Some(e) = err {
            return Err(e);
        }
        let id = self.next_id();
        self.count += 1;
        self.types.extend_from_slice(&rec);
        Ok(id)
    }

    /// Adds an int of `size` bytes using all its bits (`BTF_INT_BITS` =
    /// `size * 8`, offset 0). `encoding` is 0 (unsigned) or
    /// [`INT_SIGNED`](crate::INT_SIGNED), [`INT_CHAR`](crate::INT_CHAR),
    /// [`INT_BOOL`](crate::INT_BOOL). Fails when `size * 8` exceeds 128.
    pub fn add_int(&mut self, name: &str, size: u32, encoding: u8) -> Result<TypeId> {
        let bits = size
            .checked_mul(8)
            .filter(|&b| b <= 128)
            .ok_or_else(|| Error::Build(format!("int {name}: size {size} too large")))?;
        let n = self.add_str(name)?;
        let id = self.push_header(n, Kind::Int, 0, false, size)?;
        self.put(Int::make_data(encoding, 0, bits as u8));
        Ok(id)
    }

    /// An int with explicit bit offset and width (DWARF base types
    /// narrower than their storage).
    pub fn add_int_bits(
        &mut self,
        name: &str,
        size: u32,
        encoding: u8,
        offset: u8,
        bits: u8,
    ) -> Result<TypeId> {
        if size > 16 || bits as u32 > size * 8 || offset as u32 + bits as u32 > size * 8 {
            return Err(Error::Build(format!(
                "int {name}: {bits} bits at {offset} in {size} bytes"
            )));
        }
        let n = self.add_str(name)?;
        let id = self.push_header(n, Kind::Int, 0, false, size)?;
        self.put(Int::make_data(encoding, offset, bits));
        Ok(id)
    }

    fn add_ref(&mut self, kind: Kind, name: &str, to: TypeId) -> Result<TypeId> {
        let n = self.add_str(name)?;
        self.push_header(n, kind, 0, false, to.0)
    }

    /// Adds an (anonymous) pointer to `to`; [`TypeId::VOID`] for `void *`.
    pub fn add_ptr(&mut self, to: TypeId) -> Result<TypeId> {
        self.add_ref(Kind::Ptr, "", to)
    }
    /// Adds `typedef <to> name`.
    pub fn add_typedef(&mut self, name: &str, to: TypeId) -> Result<TypeId> {
        self.add_ref(Kind::Typedef, name, to)
    }
    /// Adds `volatile <to>`.
    pub fn add_volatile(&mut self, to: TypeId) -> Result<TypeId> {
        self.add_ref(Kind::Volatile, "", to)
    }
    /// Adds `const <to>`.
    pub fn add_const(&mut self, to: TypeId) -> Result<TypeId> {
        self.add_ref(Kind::Const, "", to)
    }
    /// Adds `restrict <to>`.
    pub fn add_restrict(&mut self, to: TypeId) -> Result<TypeId> {
        self.add_ref(Kind::Restrict, "", to)
    }
    /// Adds a type tag `tag` (e.g. `user` for `__user`) applied to `to`,
    /// with kind_flag clear: a `btf_type_tag`, not an arbitrary attribute.
    pub fn add_type_tag(&mut self, tag: &str, to: TypeId) -> Result<TypeId> {
        self.add_ref(Kind::TypeTag, tag, to)
    }
    /// Adds a type tag with kind_flag set: `tag` is the text of an
    /// arbitrary attribute (`__attribute__((tag))`), not a `btf_type_tag`
    /// (kernel 6.13+, pahole's `attributes` feature).
    pub fn add_type_tag_attribute(&mut self, tag: &str, to: TypeId) -> Result<TypeId> {
        let n = self.add_str(tag)?;
        self.push_header(n, Kind::TypeTag, 0, true, to.0)
    }

    /// Adds an array of `nelems` elements of type `elem`; `index` is the
    /// index type (an int; see [`Array::index_type`](crate::Array::index_type)).
    pub fn add_array(&mut self, elem: TypeId, index: TypeId, nelems: u32) -> Result<TypeId> {
        let id = self.push_header(0, Kind::Array, 0, false, 0)?;
        self.put(elem.0);
        self.put(index.0);
        self.put(nelems);
        Ok(id)
    }

    fn add_composite(
        &mut self,
        kind: Kind,
        name: &str,
        size: u32,
        members: &[MemberSpec<'_>],
    ) -> Result<TypeId> {
        // kind_flag encoding is needed as soon as one member is a bitfield.
        let kflag = members.iter().any(|m| m.bitfield_size > 0);
        // Name first, then members: the string order libbpf produces.
        let n = self.add_str(name)?;
        let mut encoded = Vec::with_capacity(members.len());
        for m in members {
            if kflag && m.bit_offset > 0x00ff_ffff {
                return Err(Error::Build(format!(
                    "{name}.{}: bit offset {} does not fit the bitfield encoding",
                    m.name, m.bit_offset
                )));
            }
            let off = if kflag {
                (m.bitfield_size as u32) << 24 | m.bit_offset
            } else {
                m.bit_offset
            };
            encoded.push((self.add_str(m.name)?, m.type_id.0, off));
        }
        let id = self.push_header(n, kind, members.len(), kflag, size)?;
        for (n, t, o) in encoded {
            self.put(n);
            self.put(t);
            self.put(o);
        }
        Ok(id)
    }

    /// Adds an enum or enum64 header without its values (name, size and
    /// signedness only).
    pub fn add_enum_without_values(
        &mut self,
        kind: Kind,
        name: &[u8],
        size: u32,
        signed: bool,
    ) -> Result<TypeId> {
        if !kind.is_enum() {
            return Err(Error::Build(format!("{kind} is not an enum")));
        }
        let n = self.add_str_bytes(name)?;
        self.push_header(n, kind, 0, signed, size)
    }

    /// Adds a struct or union from raw parts, keeping the member encoding
    /// (kind_flag and raw `offset` words) exactly: for copying a composite
    /// with some of its members left out.
    pub fn add_composite_raw(
        &mut self,
        kind: Kind,
        name: &[u8],
        size: u32,
        kflag: bool,
        members: &[(&[u8], TypeId, u32)],
    ) -> Result<TypeId> {
        if !kind.is_composite() {
            return Err(Error::Build(format!("{kind} is not a struct or union")));
        }
        let n = self.add_str_bytes(name)?;
        let mut encoded = Vec::with_capacity(members.len());
        for &(mname, t, off) in members {
            encoded.push((self.add_str_bytes(mname)?, t.0, off));
        }
        let id = self.push_header(n, kind, members.len(), kflag, size)?;
        for (n, t, o) in encoded {
            self.put(n);
            self.put(t);
            self.put(o);
        }
        Ok(id)
    }

    /// Adds a struct of `size` bytes. The kind_flag (bitfield) encoding is
    /// used as soon as one member has a non-zero `bitfield_size`; then
    /// every bit offset must fit in 24 bits. Members go in offset order and
    /// inside `size`: parsing the output checks that, as the kernel does.
    pub fn add_struct(
        &mut self,
        name: &str,
        size: u32,
        members: &[MemberSpec<'_>],
    ) -> Result<TypeId> {
        self.add_composite(Kind::Struct, name, size, members)
    }

    /// Adds a union of `size` bytes; members as for
    /// [`add_struct`](Self::add_struct), all at bit offset 0 (the kernel,
    /// and parsing the output, reject others).
    pub fn add_union(
        &mut self,
        name: &str,
        size: u32,
        members: &[MemberSpec<'_>],
    ) -> Result<TypeId> {
        self.add_composite(Kind::Union, name, size, members)
    }

    /// Adds an enum; values that do not fit 32 bits (with the given
    /// signedness) make it an enum64.
    pub fn add_enum(
        &mut self,
        name: &str,
        size: u32,
        signed: bool,
        values: &[(&str, i64)],
    ) -> Result<TypeId> {
        let fits32 = values.iter().all(|&(_, v)| {
            if signed {
                i32::try_from(v).is_ok()
            } else {
                u32::try_from(v).is_ok()
            }
        });
        let n = self.add_str(name)?;
        let mut encoded = Vec::with_capacity(values.len());
        for &(n, v) in values {
            encoded.push((self.add_str(n)?, v as u64));
        }
        let kind = if fits32 { Kind::Enum } else { Kind::Enum64 };
        let id = self.push_header(n, kind, values.len(), signed, size)?;
        for (n, v) in encoded {
            self.put(n);
            self.put(v as u32);
            if !fits32 {
                self.put((v >> 32) as u32);
            }
        }
        Ok(id)
    }

    /// An enum (`is64` false) or enum64 exactly as given: values are the
    /// bits to store (a 32-bit enum keeps the low 32).
    pub fn add_enum_exact(
        &mut self,
        name: &str,
        size: u32,
        signed: bool,
        is64: bool,
        values: &[(&str, u64)],
    ) -> Result<TypeId> {
        let n = self.add_str(name)?;
        let mut encoded = Vec::with_capacity(values.len());
        for &(n, v) in values {
            encoded.push((self.add_str(n)?, v));
        }
        let kind = if is64 { Kind::Enum64 } else { Kind::Enum };
        let id = self.push_header(n, kind, values.len(), signed, size)?;
        for (n, v) in encoded {
            self.put(n);
            self.put(v as u32);
            if is64 {
                self.put((v >> 32) as u32);
            }
        }
        Ok(id)
    }

    /// Adds a forward declaration `struct name;` (or `union name;` with
    /// `is_union`, stored as kind_flag).
    pub fn add_fwd(&mut self, name: &str, is_union: bool) -> Result<TypeId> {
        let n = self.add_str(name)?;
        self.push_header(n, Kind::Fwd, 0, is_union, 0)
    }

    /// Adds a function `name` of prototype `proto` (a func_proto), with
    /// `linkage` `BTF_FUNC_STATIC` (0), `BTF_FUNC_GLOBAL` (1) or
    /// `BTF_FUNC_EXTERN` (2), stored in vlen.
    pub fn add_func(&mut self, name: &str, proto: TypeId, linkage: u32) -> Result<TypeId> {
        let n = self.add_str(name)?;
        self.push_header(n, Kind::Func, linkage as usize, false, proto.0)
    }

    /// Adds a function prototype returning `ret` ([`TypeId::VOID`] for
    /// none) with `params` as (name, type); end with `("", TypeId::VOID)`
    /// for a variadic function.
    pub fn add_func_proto(&mut self, ret: TypeId, params: &[(&str, TypeId)]) -> Result<TypeId> {
        let mut encoded = Vec::with_capacity(params.len());
        for &(n, t) in params {
            encoded.push((self.add_str(n)?, t.0));
        }
        let id = self.push_header(0, Kind::FuncProto, params.len(), false, ret.0)?;
        for (n, t) in encoded {
            self.put(n);
            self.put(t);
        }
        Ok(id)
    }

    /// Adds a variable `name` of `type_id`, with `linkage`
    /// `BTF_VAR_STATIC` (0), `BTF_VAR_GLOBAL_ALLOCATED` (1) or
    /// `BTF_VAR_GLOBAL_EXTERN` (2). Place it in a section with
    /// [`add_datasec`](Self::add_datasec).
    pub fn add_var(&mut self, name: &str, type_id: TypeId, linkage: u32) -> Result<TypeId> {
        let n = self.add_str(name)?;
        let id = self.push_header(n, Kind::Var, 0, false, type_id.0)?;
        self.put(linkage);
        Ok(id)
    }

    /// Adds a datasec; `entries` are (var or func id, offset, size).
    pub fn add_datasec(
        &mut self,
        name: &str,
        size: u32,
        entries: &[(TypeId, u32, u32)],
    ) -> Result<TypeId> {
        let n = self.add_str(name)?;
        let id = self.push_header(n, Kind::Datasec, entries.len(), false, size)?;
        for &(t, off, sz) in entries {
            self.put(t.0);
            self.put(off);
            self.put(sz);
        }
        Ok(id)
    }

    /// Adds a floating-point type of `size` bytes (`float` 4, `double` 8).
    pub fn add_float(&mut self, name: &str, size: u32) -> Result<TypeId> {
        let n = self.add_str(name)?;
        self.push_header(n, Kind::Float, 0, false, size)
    }

    /// Adds a decl tag on `target` (a member or parameter with
    /// `component_idx >= 0`, the type itself with -1).
    pub fn add_decl_tag(
        &mut self,
        tag: &str,
        target: TypeId,
        component_idx: i32,
    ) -> Result<TypeId> {
        self.decl_tag(tag, target, component_idx, false)
    }

    /// Adds a decl tag with kind_flag set: `tag` is the text of an
    /// arbitrary attribute of the target (e.g. `bpf_fastcall`), not a
    /// `btf_decl_tag`.
    pub fn add_decl_tag_attribute(
        &mut self,
        tag: &str,
        target: TypeId,
        component_idx: i32,
    ) -> Result<TypeId> {
        self.decl_tag(tag, target, component_idx, true)
    }

    fn decl_tag(
        &mut self,
        tag: &str,
        target: TypeId,
        component_idx: i32,
        attribute: bool,
    ) -> Result<TypeId> {
        let n = self.add_str(tag)?;
        let id = self.push_header(n, Kind::DeclTag, 0, attribute, target.0)?;
        self.put(component_idx as u32);
        Ok(id)
    }

    /// Raw BTF: header, types, kind layout (when enabled), strings.
    pub fn finish(&self) -> Vec<u8> {
        let layout_bytes: Vec<u8> = self
            .layout
            .iter()
            .flatten()
            .flat_map(|l| {
                let mut e = l.encode();
                if self.endian == Endian::Big {
                    e[2..4].reverse();
                }
                e
            })
            .collect();
        let hdr_len = if self.layout.is_some() {
            HEADER_LEN_LAYOUT
        } else {
            HEADER_LEN_CLASSIC
        };
        let type_len = self.types.len() as u32;
        let layout_len = layout_bytes.len() as u32;
        let header = Header {
            endian: self.endian,
            version: BTF_VERSION,
            flags: self.flags,
            hdr_len,
            type_off: 0,
            type_len,
            str_off: type_len + layout_len,
            str_len: self.strings.as_bytes().len() as u32,
            layout_off: if self.layout.is_some() { type_len } else { 0 },
            layout_len,
        };
        let mut out = header.to_bytes(self.endian);
        out.reserve(self.types.len() + layout_bytes.len() + self.strings.as_bytes().len());
        match self.endian {
            Endian::Little => out.extend_from_slice(&self.types),
            Endian::Big => out.extend(
                self.types
                    .chunks_exact(4)
                    .flat_map(|w| [w[3], w[2], w[1], w[0]]),
            ),
        }
        out.extend_from_slice(&layout_bytes);
        out.extend_from_slice(self.strings.as_bytes());
        out
    }

    /// The BTF wrapped in an ELF file with a `.BTF` section.
    pub fn finish_elf(&self) -> Vec<u8> {
        wrap_in_elf(&self.finish(), self.endian)
    }
}

/// A base BTF's strings as one section, from its own base up.
fn base_strings_flat(base: &Btf<'_>) -> Vec<u8> {
    let mut v = match base.base() {
        Some(bb) => base_strings_flat(bb),
        None => Vec::new(),
    };
    v.extend_from_slice(base.strings_section());
    v
}

impl Btf<'_> {
    /// Serializes this BTF again (same byte order, layout section and
    /// string section; types re-encoded from their decoded form).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        // Re-borrow with the shorter lifetime the builder needs.
        let this: &Btf<'_> = self;
        Ok(BtfBuilder::from_btf(shorten(this))?.finish())
    }
}

/// `Btf` is covariant in its lifetime; this makes the coercion explicit.
fn shorten<'s>(b: &'s Btf<'_>) -> &'s Btf<'s> {
    b
}
