//! Zero-copy views of BTF type records.
//!
//! A [`Type`] borrows one record (`struct btf_type` plus its trailing data)
//! from a parsed [`Btf`](crate::Btf). Records are validated when the BTF is
//! parsed (sizes, string offsets, referenced ids), so the accessors here are
//! infallible; data they return (ids, string offsets) is always in range.
//! All words are little-endian: big-endian input is byte-swapped once at parse.

use std::fmt;

use crate::kind::{info_kflag, info_kind, info_vlen, Kind};

/// A type id: index into the id space of a BTF (and its base, for split BTF).
/// Id 0 is `void`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(transparent)]
pub struct TypeId(pub u32);

impl TypeId {
    /// Type id 0, `void`: what `void *`, a function returning nothing and
    /// the variadic marker parameter refer to.
    pub const VOID: TypeId = TypeId(0);

    /// Whether this is id 0, `void`.
    pub fn is_void(self) -> bool {
        self.0 == 0
    }
}

impl fmt::Display for TypeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl From<u32> for TypeId {
    fn from(v: u32) -> Self {
        TypeId(v)
    }
}

/// Reads a little-endian u32 at `off`. Callers index within validated records.
#[inline(always)]
pub(crate) fn le32(b: &[u8], off: usize) -> u32 {
    let w: [u8; 4] = b[off..off + 4].try_into().expect("4-byte slice");
    u32::from_le_bytes(w)
}

/// The record `type_by_id(0)` returns: all zero, kind 0.
pub(crate) static VOID_RECORD: [u8; 12] = [0; 12];

/// Size of `struct btf_type`, the part every record starts with.
pub const TYPE_HEADER_SIZE: usize = 12;

/// One BTF type record.
#[derive(Clone, Copy)]
pub struct Type<'b> {
    id: TypeId,
    rec: &'b [u8],
    /// Fixed-size part after the common header (from the built-in table or
    /// the kind-layout section), needed to find vlen elements of unknown kinds.
    info_size: u8,
}

impl<'b> Type<'b> {
    pub(crate) fn new(id: TypeId, rec: &'b [u8], info_size: u8) -> Self {
        debug_assert!(rec.len() >= TYPE_HEADER_SIZE);
        Type { id, rec, info_size }
    }

    /// The record's type id.
    pub fn id(&self) -> TypeId {
        self.id
    }

    /// The whole record, little-endian.
    pub fn raw(&self) -> &'b [u8] {
        self.rec
    }

    /// `name_off`: string offset of the type's name (0 when anonymous);
    /// resolve it with [`Btf::name_of`](crate::Btf::name_of) or
    /// [`Btf::str_at`](crate::Btf::str_at).
    pub fn name_off(&self) -> u32 {
        le32(self.rec, 0)
    }

    /// The raw `info` word: kind, vlen and kind_flag (see [`info_kind`],
    /// [`info_vlen`], [`info_kflag`]).
    pub fn info(&self) -> u32 {
        le32(self.rec, 4)
    }

    /// The record's kind, from `info` bits 24-30.
    pub fn kind(&self) -> Kind {
        Kind::from_raw(info_kind(self.info()))
    }

    /// `vlen`, from `info` bits 0-23: the number of members, enumerators,
    /// parameters or datasec entries; for a func, its linkage.
    pub fn vlen(&self) -> u32 {
        info_vlen(self.info())
    }

    /// kind_flag, `info` bit 31: bitfield sizes in member offsets
    /// (struct/union), `union` (fwd), signed (enum/enum64), attribute
    /// rather than tag (type_tag, decl_tag).
    pub fn kflag(&self) -> bool {
        info_kflag(self.info())
    }

    /// The third word: `size` or `type`, depending on the kind.
    pub fn size_or_type(&self) -> u32 {
        le32(self.rec, 8)
    }

    /// `size` for kinds that have one (int, struct, union, enum, enum64,
    /// datasec, float).
    pub fn size(&self) -> Option<u32> {
        self.kind().has_size().then(|| self.size_or_type())
    }

    /// The referenced type for kinds whose third word is a type id (pointer,
    /// typedef, modifiers, func, func_proto return type, var, decl/type tag).
    pub fn ref_type(&self) -> Option<TypeId> {
        self.kind()
            .has_type_ref()
            .then(|| TypeId(self.size_or_type()))
    }

    /// Trailing data after the fixed part: the vlen elements.
    fn elems(&self) -> &'b [u8] {
        &self.rec[TYPE_HEADER_SIZE + self.info_size as usize..]
    }

    /// The fixed part after the common header.
    pub fn info_data(&self) -> &'b [u8] {
        &self.rec[TYPE_HEADER_SIZE..TYPE_HEADER_SIZE + self.info_size as usize]
    }

    /// Whether this is type id 0, `void`.
    pub fn is_void(&self) -> bool {
        self.id.is_void()
    }

    /// Decodes the kind-specific data.
    pub fn data(&self) -> TypeData<'b> {
        let t = *self;
        match self.kind() {
            Kind::Void => TypeData::Void,
            Kind::Int => TypeData::Int(Int {
                size: t.size_or_type(),
                data: le32(t.rec, 12),
            }),
            Kind::Ptr => TypeData::Ptr(TypeId(t.size_or_type())),
            Kind::Array => TypeData::Array(Array {
                elem_type: TypeId(le32(t.rec, 12)),
                index_type: TypeId(le32(t.rec, 16)),
                nelems: le32(t.rec, 20),
            }),
            Kind::Struct => TypeData::Struct(t.members_unchecked()),
            Kind::Union => TypeData::Union(t.members_unchecked()),
            Kind::Enum | Kind::Enum64 => TypeData::Enum(t.enum_values_unchecked()),
            Kind::Fwd => TypeData::Fwd {
                is_union: t.kflag(),
            },
            Kind::Typedef => TypeData::Typedef(TypeId(t.size_or_type())),
            Kind::Volatile => TypeData::Volatile(TypeId(t.size_or_type())),
            Kind::Const => TypeData::Const(TypeId(t.size_or_type())),
            Kind::Restrict => TypeData::Restrict(TypeId(t.size_or_type())),
            Kind::Func => TypeData::Func {
                proto: TypeId(t.size_or_type()),
                linkage: t.vlen(),
            },
            Kind::FuncProto => TypeData::FuncProto {
                ret: TypeId(t.size_or_type()),
                params: Params { raw: t.elems() },
            },
            Kind::Var => TypeData::Var {
                type_id: TypeId(t.size_or_type()),
                linkage: le32(t.rec, 12),
            },
            Kind::Datasec => TypeData::Datasec(Datasec { raw: t.elems() }),
            Kind::Float => TypeData::Float {
                size: t.size_or_type(),
            },
            Kind::DeclTag => TypeData::DeclTag {
                target: TypeId(t.size_or_type()),
                component_idx: le32(t.rec, 12) as i32,
            },
            Kind::TypeTag => TypeData::TypeTag(TypeId(t.size_or_type())),
            Kind::Unknown(k) => TypeData::Unknown { kind: k },
        }
    }

    fn members_unchecked(&self) -> Members<'b> {
        Members {
            raw: self.elems(),
            kflag: self.kflag(),
        }
    }

    fn enum_values_unchecked(&self) -> EnumValues<'b> {
        EnumValues {
            raw: self.elems(),
            wide: self.kind() == Kind::Enum64,
            signed: self.kflag(),
        }
    }

    /// Members of a struct or union.
    pub fn members(&self) -> Option<Members<'b>> {
        self.kind().is_composite().then(|| self.members_unchecked())
    }

    /// Values of an enum or enum64.
    pub fn enum_values(&self) -> Option<EnumValues<'b>> {
        self.kind().is_enum().then(|| self.enum_values_unchecked())
    }

    /// Parameters of a func_proto.
    pub fn params(&self) -> Option<Params<'b>> {
        (self.kind() == Kind::FuncProto).then(|| Params { raw: self.elems() })
    }

    /// Entries of a datasec.
    pub fn datasec(&self) -> Option<Datasec<'b>> {
        (self.kind() == Kind::Datasec).then(|| Datasec { raw: self.elems() })
    }

    /// The element type, index type and count of an array.
    pub fn array(&self) -> Option<Array> {
        match self.data() {
            TypeData::Array(a) => Some(a),
            _ => None,
        }
    }

    /// Size and encoding of an int.
    pub fn int(&self) -> Option<Int> {
        match self.data() {
            TypeData::Int(i) => Some(i),
            _ => None,
        }
    }

    /// Calls `f` with every type id the record refers to, in record order.
    pub fn for_each_type_ref(&self, mut f: impl FnMut(TypeId)) {
        self.visit_words(|w| {
            if let Word::TypeId(id) = w {
                f(TypeId(id))
            }
        })
    }

    /// Calls `f` with every string offset the record holds (its name first).
    pub fn for_each_str_off(&self, mut f: impl FnMut(u32)) {
        self.visit_words(|w| {
            if let Word::Str(off) = w {
                f(off)
            }
        })
    }

    /// Enumerates the words of the record that are string offsets or type
    /// ids, with their values.
    pub(crate) fn visit_words(&self, mut f: impl FnMut(Word)) {
        let rec = self.rec;
        self.word_positions(|pos, wk| {
            let v = le32(rec, pos);
            f(match wk {
                WordKind::Str => Word::Str(v),
                WordKind::TypeId => Word::TypeId(v),
            })
        })
    }

    /// Byte offsets within the record of its string offsets and type ids,
    /// the name first. The single place that knows which fields are
    /// references: validation, copying between BTFs and id remapping all
    /// go through it (the parse-time scan has a table that a unit test
    /// checks against it).
    pub fn word_positions(&self, mut f: impl FnMut(usize, WordKind)) {
        f(0, WordKind::Str);
        let kind = self.kind();
        if kind.has_type_ref() {
            f(8, WordKind::TypeId);
        }
        let base = TYPE_HEADER_SIZE + self.info_size as usize;
        let n = self.vlen() as usize;
        match kind {
            Kind::Array => {
                f(12, WordKind::TypeId);
                f(16, WordKind::TypeId);
            }
            Kind::Struct | Kind::Union => {
                for i in 0..n {
                    f(base + i * 12, WordKind::Str);
                    f(base + i * 12 + 4, WordKind::TypeId);
                }
            }
            Kind::Enum => (0..n).for_each(|i| f(base + i * 8, WordKind::Str)),
            Kind::Enum64 => (0..n).for_each(|i| f(base + i * 12, WordKind::Str)),
            Kind::FuncProto => {
                for i in 0..n {
                    f(base + i * 8, WordKind::Str);
                    f(base + i * 8 + 4, WordKind::TypeId);
                }
            }
            Kind::Datasec => (0..n).for_each(|i| f(base + i * 12, WordKind::TypeId)),
            _ => {}
        }
    }
}

impl fmt::Debug for Type<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Type")
            .field("id", &self.id)
            .field("kind", &self.kind())
            .field("name_off", &self.name_off())
            .field("vlen", &self.vlen())
            .field("kflag", &self.kflag())
            .field("size_or_type", &self.size_or_type())
            .finish()
    }
}

/// A reference-bearing word of a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Word {
    Str(u32),
    TypeId(u32),
}

/// What a reference-bearing word of a record holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WordKind {
    /// A string offset.
    Str,
    /// A type id.
    TypeId,
}

/// Kind-specific data of a record, as [`Type::data`] decodes it: one
/// variant per [`Kind`], holding the type ids, sizes and element lists of
/// that kind. Names are not included; the record's
/// [`name_off`](Type::name_off) gives them.
#[derive(Clone, Copy, Debug)]
pub enum TypeData<'b> {
    /// Type id 0, `void`.
    Void,
    /// An integer type: size and encoding.
    Int(Int),
    /// A pointer to the given type.
    Ptr(TypeId),
    /// An array: element type, index type, element count.
    Array(Array),
    /// A struct's members (the size is [`Type::size`]).
    Struct(Members<'b>),
    /// A union's members (the size is [`Type::size`]).
    Union(Members<'b>),
    /// `enum` or `enum64`; [`EnumValues::is_64`] tells which.
    Enum(EnumValues<'b>),
    /// A forward declaration.
    Fwd {
        /// `union` (kind_flag set) rather than `struct`.
        is_union: bool,
    },
    /// A typedef of the given type.
    Typedef(TypeId),
    /// `volatile` applied to the given type.
    Volatile(TypeId),
    /// `const` applied to the given type.
    Const(TypeId),
    /// `restrict` applied to the given type.
    Restrict(TypeId),
    /// A function.
    Func {
        /// Its `FUNC_PROTO`.
        proto: TypeId,
        /// `BTF_FUNC_STATIC` (0), `BTF_FUNC_GLOBAL` (1) or
        /// `BTF_FUNC_EXTERN` (2), stored in `vlen`; see
        /// [`func_linkage_name`].
        linkage: u32,
    },
    /// A function signature.
    FuncProto {
        /// Return type (void for none).
        ret: TypeId,
        /// Parameters, in order; a last one of type void marks `...`.
        params: Params<'b>,
    },
    /// A variable.
    Var {
        /// The variable's type.
        type_id: TypeId,
        /// `BTF_VAR_STATIC` (0), `BTF_VAR_GLOBAL_ALLOCATED` (1) or
        /// `BTF_VAR_GLOBAL_EXTERN` (2); see [`var_linkage_name`].
        linkage: u32,
    },
    /// An ELF data section's variables (the size is [`Type::size`]).
    Datasec(Datasec<'b>),
    /// A floating-point type.
    Float {
        /// Size in bytes (the kernel accepts 2, 4, 8, 12 and 16).
        size: u32,
    },
    /// A declaration tag (its text is the record's name).
    DeclTag {
        /// The tagged type, func or var.
        target: TypeId,
        /// -1 for the target itself, else the index of the tagged member
        /// (struct/union) or parameter (func).
        component_idx: i32,
    },
    /// A type tag (its text is the record's name) applied to the given
    /// type.
    TypeTag(TypeId),
    /// A kind this reader does not know, described only by the
    /// kind-layout section; its contents are opaque ([`Type::raw`]).
    Unknown {
        /// The kind number.
        kind: u8,
    },
}

/// `BTF_KIND_INT` data word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Int {
    /// Size of the storage in bytes (the kernel accepts 1, 2, 4, 8 and
    /// 16).
    pub size: u32,
    /// The raw word after the header: encoding (bits 24-27), offset (16-23),
    /// bits (0-7).
    pub data: u32,
}

/// `BTF_INT_SIGNED`: the int encoding bit for a signed integer.
pub const INT_SIGNED: u8 = 1 << 0;
/// `BTF_INT_CHAR`: the int encoding bit for a character type (printing
/// hint; signedness is [`INT_SIGNED`]).
pub const INT_CHAR: u8 = 1 << 1;
/// `BTF_INT_BOOL`: the int encoding bit for `_Bool`.
pub const INT_BOOL: u8 = 1 << 2;

impl Int {
    /// `BTF_INT_ENCODING`: [`INT_SIGNED`], [`INT_CHAR`] or [`INT_BOOL`]
    /// bits (0 for an unsigned integer).
    pub fn encoding(&self) -> u8 {
        ((self.data >> 24) & 0x0f) as u8
    }
    /// `BTF_INT_OFFSET`: bit offset of the value within its storage (0 in
    /// what compilers and pahole emit).
    pub fn bit_offset(&self) -> u32 {
        (self.data >> 16) & 0xff
    }
    /// `BTF_INT_BITS`: width of the value in bits (at most 128). Narrower
    /// than `size * 8` for a legacy-encoded bitfield's type.
    pub fn bits(&self) -> u32 {
        self.data & 0xff
    }
    /// Whether the encoding has [`INT_SIGNED`].
    pub fn is_signed(&self) -> bool {
        self.encoding() & INT_SIGNED != 0
    }
    /// Whether the encoding has [`INT_CHAR`].
    pub fn is_char(&self) -> bool {
        self.encoding() & INT_CHAR != 0
    }
    /// Whether the encoding has [`INT_BOOL`].
    pub fn is_bool(&self) -> bool {
        self.encoding() & INT_BOOL != 0
    }
    /// Packs encoding, bit offset and bit count into the data word.
    pub fn make_data(encoding: u8, bit_offset: u8, bits: u8) -> u32 {
        ((encoding as u32 & 0x0f) << 24) | ((bit_offset as u32) << 16) | bits as u32
    }
}

/// `struct btf_array`, the data of a `BTF_KIND_ARRAY` record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Array {
    /// Element type (multi-dimensional arrays nest: `int a[2][3]` is an
    /// array of 2 arrays of 3 ints).
    pub elem_type: TypeId,
    /// Index type: an int (clang emits `__ARRAY_SIZE_TYPE__`); it plays
    /// no part in the layout.
    pub index_type: TypeId,
    /// Number of elements (0 for a flexible array member `x[]`).
    pub nelems: u32,
}

/// One struct/union member.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Member {
    /// String offset of the member's name; 0 for an anonymous struct or
    /// union member.
    pub name_off: u32,
    /// The member's type.
    pub type_id: TypeId,
    /// The raw `offset` word: a bit offset, or with kind_flag set,
    /// `bitfield_size << 24 | bit_offset`.
    pub raw_offset: u32,
    kflag: bool,
}

impl Member {
    /// Offset of the member from the start of the struct, in bits.
    pub fn bit_offset(&self) -> u32 {
        if self.kflag {
            self.raw_offset & 0x00ff_ffff
        } else {
            self.raw_offset
        }
    }

    /// Bitfield width, or 0 when the member is not a bitfield (or the
    /// struct does not use the kind_flag encoding, where bitfields are
    /// described by the int type instead).
    pub fn bitfield_size(&self) -> u32 {
        if self.kflag {
            self.raw_offset >> 24
        } else {
            0
        }
    }
}

/// Members of a struct or union.
#[derive(Clone, Copy)]
pub struct Members<'b> {
    raw: &'b [u8],
    kflag: bool,
}

impl<'b> Members<'b> {
    /// Number of members (the record's vlen).
    pub fn len(&self) -> usize {
        self.raw.len() / 12
    }
    /// Whether there are no members.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }
    /// Whether members use the kind_flag (bitfield size in offset) encoding.
    pub fn kflag(&self) -> bool {
        self.kflag
    }
    /// Member `i` (0-based, declaration order), or `None` past the end.
    pub fn get(&self, i: usize) -> Option<Member> {
        let m = self.raw.get(i * 12..i * 12 + 12)?;
        Some(Member {
            name_off: le32(m, 0),
            type_id: TypeId(le32(m, 4)),
            raw_offset: le32(m, 8),
            kflag: self.kflag,
        })
    }
    /// The members in declaration order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Member> + 'b {
        let kflag = self.kflag;
        self.raw.chunks_exact(12).map(move |m| Member {
            name_off: le32(m, 0),
            type_id: TypeId(le32(m, 4)),
            raw_offset: le32(m, 8),
            kflag,
        })
    }
}

impl fmt::Debug for Members<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// One enumerator. The value's bits are kept as stored; signedness comes
/// from the enum's kind_flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EnumValue {
    /// String offset of the enumerator's name.
    pub name_off: u32,
    /// Value bits: `val` zero-extended for enum, `hi32 << 32 | lo32` for enum64.
    pub bits: u64,
    /// The enum is signed (its kind_flag is set).
    pub signed: bool,
    /// The value comes from an enum64 (64 bits stored) rather than an enum
    /// (32 bits).
    pub is_64: bool,
}

impl EnumValue {
    /// The value as a signed 64-bit integer with the enum's signedness
    /// applied (`val` of a signed 32-bit enum is sign-extended).
    pub fn as_i64(&self) -> i64 {
        match (self.is_64, self.signed) {
            (false, true) => self.bits as u32 as i32 as i64,
            _ => self.bits as i64,
        }
    }
    /// The value as a u64 (sign-extended first when the enum is signed).
    pub fn as_u64(&self) -> u64 {
        self.as_i64() as u64
    }
    /// The value as an i128, exact for every signedness and width.
    pub fn value(&self) -> i128 {
        if self.signed {
            self.as_i64() as i128
        } else {
            self.bits as i128
        }
    }
}

/// Values of an enum or enum64.
#[derive(Clone, Copy)]
pub struct EnumValues<'b> {
    raw: &'b [u8],
    wide: bool,
    signed: bool,
}

impl<'b> EnumValues<'b> {
    fn stride(&self) -> usize {
        if self.wide {
            12
        } else {
            8
        }
    }
    /// Whether these are the values of an enum64 (else an enum).
    pub fn is_64(&self) -> bool {
        self.wide
    }
    /// Whether the enum is signed (kind_flag set).
    pub fn is_signed(&self) -> bool {
        self.signed
    }
    /// Number of enumerators (the record's vlen).
    pub fn len(&self) -> usize {
        self.raw.len() / self.stride()
    }
    /// Whether there are no enumerators (a forward-declared enum).
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }
    /// Enumerator `i` (0-based), or `None` past the end.
    pub fn get(&self, i: usize) -> Option<EnumValue> {
        let s = self.stride();
        self.raw.get(i * s..i * s + s).map(|v| self.decode(v))
    }
    fn decode(&self, v: &[u8]) -> EnumValue {
        let bits = if self.wide {
            ((le32(v, 8) as u64) << 32) | le32(v, 4) as u64
        } else {
            le32(v, 4) as u64
        };
        EnumValue {
            name_off: le32(v, 0),
            bits,
            signed: self.signed,
            is_64: self.wide,
        }
    }
    /// The enumerators in declaration order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = EnumValue> + 'b {
        let this = *self;
        self.raw
            .chunks_exact(self.stride())
            .map(move |v| this.decode(v))
    }
}

impl fmt::Debug for EnumValues<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// One func_proto parameter. A final parameter with name 0 and type 0
/// marks a variadic function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Param {
    /// String offset of the parameter's name (0 when unnamed, as in the
    /// prototype of a function pointer).
    pub name_off: u32,
    /// The parameter's type.
    pub type_id: TypeId,
}

/// Parameters of a func_proto (`struct btf_param` elements).
#[derive(Clone, Copy)]
pub struct Params<'b> {
    raw: &'b [u8],
}

impl<'b> Params<'b> {
    /// Number of parameters (the record's vlen), the variadic marker
    /// included.
    pub fn len(&self) -> usize {
        self.raw.len() / 8
    }
    /// Whether there are none: `f(void)`.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }
    /// Parameter `i` (0-based), or `None` past the end.
    pub fn get(&self, i: usize) -> Option<Param> {
        let p = self.raw.get(i * 8..i * 8 + 8)?;
        Some(Param {
            name_off: le32(p, 0),
            type_id: TypeId(le32(p, 4)),
        })
    }
    /// The parameters in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Param> + 'b {
        self.raw.chunks_exact(8).map(|p| Param {
            name_off: le32(p, 0),
            type_id: TypeId(le32(p, 4)),
        })
    }
}

impl fmt::Debug for Params<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// One datasec entry: a variable (or function) placed in the section.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VarSecInfo {
    /// The `VAR` (or `FUNC`, for `.ksyms`) placed in the section.
    pub type_id: TypeId,
    /// Its offset from the start of the section, in bytes.
    pub offset: u32,
    /// Its size in bytes.
    pub size: u32,
}

/// Entries of a datasec (`struct btf_var_secinfo` elements).
#[derive(Clone, Copy)]
pub struct Datasec<'b> {
    raw: &'b [u8],
}

impl<'b> Datasec<'b> {
    /// Number of entries (the record's vlen).
    pub fn len(&self) -> usize {
        self.raw.len() / 12
    }
    /// Whether the section has no entries.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }
    /// The entries in record order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = VarSecInfo> + 'b {
        self.raw.chunks_exact(12).map(|v| VarSecInfo {
            type_id: TypeId(le32(v, 0)),
            offset: le32(v, 4),
            size: le32(v, 8),
        })
    }
}

impl fmt::Debug for Datasec<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// `BTF_FUNC_*` / `BTF_VAR_*` linkage names as bpftool prints them.
pub fn func_linkage_name(linkage: u32) -> &'static str {
    match linkage {
        0 => "static",
        1 => "global",
        2 => "extern",
        _ => "(unknown)",
    }
}

/// `BTF_VAR_*` linkage names as bpftool prints them: `static`, `global`
/// (`BTF_VAR_GLOBAL_ALLOCATED`), `extern` (`BTF_VAR_GLOBAL_EXTERN`), or
/// `(unknown)`.
pub fn var_linkage_name(linkage: u32) -> &'static str {
    func_linkage_name(linkage)
}
