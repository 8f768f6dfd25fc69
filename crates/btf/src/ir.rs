//! BTF types as owned values, for building and rewriting whole type
//! graphs (the DWARF encoder, deduplication, merging) before they are
//! written out with [`BtfBuilder`].
//!
//! Ids are indexes into [`IrBtf::types`]; index 0 is void. Names are
//! interned.

use crate::fast::FastMap;

use crate::builder::BtfBuilder;
use crate::types::{TypeData, TypeId};
use crate::{Btf, Error, Kind, Result};

/// Interned strings; 0 is the empty string.
#[derive(Clone, Debug)]
pub struct Interner {
    map: FastMap<Box<str>, u32>,
    strs: Vec<Box<str>>,
}

impl Default for Interner {
    fn default() -> Self {
        let mut i = Interner {
            map: FastMap::default(),
            strs: Vec::new(),
        };
        i.strs.push("".into());
        i.map.insert("".into(), 0);
        i
    }
}

impl Interner {
    /// The id of `s`, adding it if new. Ids are dense, in order of first
    /// interning (not BTF string offsets).
    pub fn intern(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.map.get(s) {
            return i;
        }
        let i = self.strs.len() as u32;
        self.strs.push(s.into());
        self.map.insert(s.into(), i);
        i
    }

    /// The string with id `i` ("" for an id never handed out).
    pub fn get(&self, i: u32) -> &str {
        self.strs.get(i as usize).map_or("", |s| s)
    }

    /// Number of strings, the empty string (id 0) included.
    pub fn len(&self) -> usize {
        self.strs.len()
    }

    /// Whether only the empty string is interned.
    pub fn is_empty(&self) -> bool {
        self.strs.len() <= 1
    }
}

/// A struct/union member.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IrMember {
    /// Name ([`Interner`] id; 0 for an anonymous member).
    pub name: u32,
    /// Type id.
    pub ty: u32,
    /// Offset from the start of the struct, in bits.
    pub bit_offset: u32,
    /// 0: not a bitfield.
    pub bitfield_size: u8,
}

/// A func_proto parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IrParam {
    /// Name ([`Interner`] id; 0 when unnamed).
    pub name: u32,
    /// 0 in the last parameter: variadic.
    pub ty: u32,
}

/// An enumerator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IrEnumValue {
    /// Name ([`Interner`] id).
    pub name: u32,
    /// The value's bits (sign-extended to 64 for signed enums).
    pub value: u64,
}

/// A datasec entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IrVarSecInfo {
    /// The var (or func) placed in the section.
    pub ty: u32,
    /// Its offset in the section, in bytes.
    pub offset: u32,
    /// Its size in bytes.
    pub size: u32,
}

/// One type. Names are [`Interner`] ids, type references are indexes into
/// [`IrBtf::types`] (0 is void); sizes are in bytes, offsets as noted.
/// Kind_flag is not a field of its own: it follows from the members'
/// `bitfield_size` (struct/union), `is_union` (fwd) and `signed` (enum),
/// and is the `attribute` field of type and decl tags.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum IrType {
    /// `void`: only at index 0.
    Void,
    /// An integer type.
    Int {
        /// Name, e.g. `unsigned int`.
        name: u32,
        /// Size of the storage in bytes.
        size: u32,
        /// `BTF_INT_ENCODING` bits ([`INT_SIGNED`](crate::INT_SIGNED), ...).
        encoding: u8,
        /// `BTF_INT_OFFSET`, in bits.
        offset: u8,
        /// `BTF_INT_BITS`: width of the value in bits.
        bits: u8,
    },
    /// A floating-point type.
    Float {
        /// Name, e.g. `double`.
        name: u32,
        /// Size in bytes.
        size: u32,
    },
    /// A pointer to the given type.
    Ptr(u32),
    /// `const` applied to the given type.
    Const(u32),
    /// `volatile` applied to the given type.
    Volatile(u32),
    /// `restrict` applied to the given type.
    Restrict(u32),
    /// A type tag applied to a type.
    TypeTag {
        /// The tag's text (e.g. `user`).
        name: u32,
        /// The tagged type.
        ty: u32,
        /// kind_flag: the text is an arbitrary attribute, not a
        /// `btf_type_tag`.
        attribute: bool,
    },
    /// A typedef.
    Typedef {
        /// The typedef's name.
        name: u32,
        /// The type it names.
        ty: u32,
    },
    /// An array.
    Array {
        /// Element type.
        elem: u32,
        /// Index type (an int).
        index: u32,
        /// Number of elements.
        nelems: u32,
    },
    /// A struct.
    Struct {
        /// Name (0 when anonymous).
        name: u32,
        /// Size in bytes.
        size: u32,
        /// Members in declaration order.
        members: Vec<IrMember>,
    },
    /// A union.
    Union {
        /// Name (0 when anonymous).
        name: u32,
        /// Size in bytes.
        size: u32,
        /// Members in declaration order.
        members: Vec<IrMember>,
    },
    /// An enum or enum64.
    Enum {
        /// Name (0 when anonymous).
        name: u32,
        /// Size in bytes.
        size: u32,
        /// Signed (kind_flag).
        signed: bool,
        /// Written as `BTF_KIND_ENUM64` (else `BTF_KIND_ENUM`, which keeps
        /// the low 32 bits of each value).
        is64: bool,
        /// Enumerators in declaration order.
        values: Vec<IrEnumValue>,
    },
    /// A forward declaration.
    Fwd {
        /// The declared name.
        name: u32,
        /// `union` rather than `struct`.
        is_union: bool,
    },
    /// A function.
    Func {
        /// The function's name.
        name: u32,
        /// Its func_proto.
        proto: u32,
        /// `BTF_FUNC_STATIC` (0), `BTF_FUNC_GLOBAL` (1) or
        /// `BTF_FUNC_EXTERN` (2).
        linkage: u32,
    },
    /// A function prototype.
    FuncProto {
        /// Return type (0 for void).
        ret: u32,
        /// Parameters in order.
        params: Vec<IrParam>,
    },
    /// A variable.
    Var {
        /// The variable's name.
        name: u32,
        /// Its type.
        ty: u32,
        /// `BTF_VAR_STATIC` (0), `BTF_VAR_GLOBAL_ALLOCATED` (1) or
        /// `BTF_VAR_GLOBAL_EXTERN` (2).
        linkage: u32,
    },
    /// An ELF data section.
    Datasec {
        /// Section name (`.data`, `.bss`, ...).
        name: u32,
        /// Size in bytes.
        size: u32,
        /// Variables placed in it.
        vars: Vec<IrVarSecInfo>,
    },
    /// A declaration tag.
    DeclTag {
        /// The tag's text.
        name: u32,
        /// The tagged type, func or var.
        target: u32,
        /// -1 for the target itself, else the member or parameter index.
        component: i32,
        /// kind_flag: the text is an arbitrary attribute, not a
        /// `btf_decl_tag`.
        attribute: bool,
    },
}

impl IrType {
    /// Calls `f` on every type id this type refers to, in a fixed order.
    pub fn refs_mut(&mut self, mut f: impl FnMut(&mut u32)) {
        match self {
            IrType::Void
            | IrType::Int { .. }
            | IrType::Float { .. }
            | IrType::Fwd { .. }
            | IrType::Enum { .. } => {}
            IrType::Ptr(t) | IrType::Const(t) | IrType::Volatile(t) | IrType::Restrict(t) => f(t),
            IrType::TypeTag { ty, .. } | IrType::Typedef { ty, .. } | IrType::Var { ty, .. } => {
                f(ty)
            }
            IrType::Array { elem, index, .. } => {
                f(elem);
                f(index);
            }
            IrType::Struct { members, .. } | IrType::Union { members, .. } => {
                members.iter_mut().for_each(|m| f(&mut m.ty))
            }
            IrType::Func { proto, .. } => f(proto),
            IrType::FuncProto { ret, params } => {
                f(ret);
                params.iter_mut().for_each(|p| f(&mut p.ty));
            }
            IrType::Datasec { vars, .. } => vars.iter_mut().for_each(|v| f(&mut v.ty)),
            IrType::DeclTag { target, .. } => f(target),
        }
    }

    /// Calls `f` on every type id this type refers to, in the order of
    /// [`IrType::refs_mut`]. (Its twin over `&self`: deduplication calls
    /// it for every type in every round, where a copy would cost.)
    pub fn refs(&self, mut f: impl FnMut(u32)) {
        match self {
            IrType::Void
            | IrType::Int { .. }
            | IrType::Float { .. }
            | IrType::Fwd { .. }
            | IrType::Enum { .. } => {}
            IrType::Ptr(t) | IrType::Const(t) | IrType::Volatile(t) | IrType::Restrict(t) => f(*t),
            IrType::TypeTag { ty, .. } | IrType::Typedef { ty, .. } | IrType::Var { ty, .. } => {
                f(*ty)
            }
            IrType::Array { elem, index, .. } => {
                f(*elem);
                f(*index);
            }
            IrType::Struct { members, .. } | IrType::Union { members, .. } => {
                members.iter().for_each(|m| f(m.ty))
            }
            IrType::Func { proto, .. } => f(*proto),
            IrType::FuncProto { ret, params } => {
                f(*ret);
                params.iter().for_each(|p| f(p.ty));
            }
            IrType::Datasec { vars, .. } => vars.iter().for_each(|v| f(v.ty)),
            IrType::DeclTag { target, .. } => f(*target),
        }
    }

    /// Calls `f` on every string id this type holds: its name, and its
    /// members', enumerators' or parameters' names.
    pub fn names_mut(&mut self, mut f: impl FnMut(&mut u32)) {
        match self {
            IrType::Void
            | IrType::Ptr(_)
            | IrType::Const(_)
            | IrType::Volatile(_)
            | IrType::Restrict(_)
            | IrType::Array { .. } => {}
            IrType::Int { name, .. }
            | IrType::Float { name, .. }
            | IrType::TypeTag { name, .. }
            | IrType::Typedef { name, .. }
            | IrType::Fwd { name, .. }
            | IrType::Func { name, .. }
            | IrType::Var { name, .. }
            | IrType::Datasec { name, .. }
            | IrType::DeclTag { name, .. } => f(name),
            IrType::Struct { name, members, .. } | IrType::Union { name, members, .. } => {
                f(name);
                members.iter_mut().for_each(|m| f(&mut m.name));
            }
            IrType::Enum { name, values, .. } => {
                f(name);
                values.iter_mut().for_each(|v| f(&mut v.name));
            }
            IrType::FuncProto { params, .. } => params.iter_mut().for_each(|p| f(&mut p.name)),
        }
    }

    /// The type's name (0 for anonymous kinds).
    pub fn name(&self) -> u32 {
        match self {
            IrType::Int { name, .. }
            | IrType::Float { name, .. }
            | IrType::TypeTag { name, .. }
            | IrType::Typedef { name, .. }
            | IrType::Struct { name, .. }
            | IrType::Union { name, .. }
            | IrType::Enum { name, .. }
            | IrType::Fwd { name, .. }
            | IrType::Func { name, .. }
            | IrType::Var { name, .. }
            | IrType::Datasec { name, .. }
            | IrType::DeclTag { name, .. } => *name,
            _ => 0,
        }
    }

    /// The BTF kind this type is written as ([`Kind::Enum64`] for an
    /// enum with `is64`).
    pub fn kind(&self) -> Kind {
        match self {
            IrType::Void => Kind::Void,
            IrType::Int { .. } => Kind::Int,
            IrType::Float { .. } => Kind::Float,
            IrType::Ptr(_) => Kind::Ptr,
            IrType::Const(_) => Kind::Const,
            IrType::Volatile(_) => Kind::Volatile,
            IrType::Restrict(_) => Kind::Restrict,
            IrType::TypeTag { .. } => Kind::TypeTag,
            IrType::Typedef { .. } => Kind::Typedef,
            IrType::Array { .. } => Kind::Array,
            IrType::Struct { .. } => Kind::Struct,
            IrType::Union { .. } => Kind::Union,
            IrType::Enum { is64: true, .. } => Kind::Enum64,
            IrType::Enum { .. } => Kind::Enum,
            IrType::Fwd { .. } => Kind::Fwd,
            IrType::Func { .. } => Kind::Func,
            IrType::FuncProto { .. } => Kind::FuncProto,
            IrType::Var { .. } => Kind::Var,
            IrType::Datasec { .. } => Kind::Datasec,
            IrType::DeclTag { .. } => Kind::DeclTag,
        }
    }
}

/// A whole BTF as values.
#[derive(Clone, Debug)]
pub struct IrBtf {
    /// The names every type's name ids refer to.
    pub strings: Interner,
    /// `types[0]` is void.
    pub types: Vec<IrType>,
}

impl Default for IrBtf {
    fn default() -> Self {
        IrBtf {
            strings: Interner::default(),
            types: vec![IrType::Void],
        }
    }
}

impl IrBtf {
    /// An IR holding only void (type 0) and the empty string.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a type, returning its id.
    pub fn push(&mut self, t: IrType) -> u32 {
        self.types.push(t);
        (self.types.len() - 1) as u32
    }

    /// Appends every type of `other` (its strings interned here, its ids
    /// shifted past this BTF's types). Returns the shift: `other`'s type
    /// `i` is `i + shift` here.
    pub fn append(&mut self, other: &IrBtf) -> u32 {
        let shift = self.types.len() as u32 - 1;
        let names: Vec<u32> = (0..other.strings.len() as u32)
            .map(|i| self.strings.intern(other.strings.get(i)))
            .collect();
        self.types.reserve(other.types.len() - 1);
        for t in &other.types[1..] {
            let mut t = t.clone();
            t.refs_mut(|r| {
                if *r != 0 {
                    *r += shift;
                }
            });
            t.names_mut(|n| *n = names[*n as usize]);
            self.types.push(t);
        }
        shift
    }

    /// Number of types, void excluded.
    pub fn len(&self) -> usize {
        self.types.len() - 1
    }

    /// Whether there are no types besides void.
    pub fn is_empty(&self) -> bool {
        self.types.len() <= 1
    }

    /// The name of type `id` ("" when anonymous, unnamed by kind, or past
    /// the end).
    pub fn name(&self, id: u32) -> &str {
        self.types
            .get(id as usize)
            .map_or("", |t| self.strings.get(t.name()))
    }

    /// Every type of `btf` (its base's too, for split BTF), ids kept.
    pub fn from_btf(btf: &Btf<'_>) -> Result<IrBtf> {
        let mut ir = IrBtf::new();
        ir.types.reserve(btf.next_id().0 as usize);
        for t in btf.all_types() {
            let mut s = |off: u32| -> Result<u32> { Ok(ir.strings.intern(btf.str_at(off)?)) };
            let name = s(t.name_off())?;
            let ty = match t.data() {
                TypeData::Void => IrType::Void,
                TypeData::Int(i) => IrType::Int {
                    name,
                    size: i.size,
                    encoding: i.encoding(),
                    offset: i.bit_offset() as u8,
                    bits: i.bits() as u8,
                },
                TypeData::Float { size } => IrType::Float { name, size },
                TypeData::Ptr(r) => IrType::Ptr(r.0),
                TypeData::Const(r) => IrType::Const(r.0),
                TypeData::Volatile(r) => IrType::Volatile(r.0),
                TypeData::Restrict(r) => IrType::Restrict(r.0),
                TypeData::TypeTag(r) => IrType::TypeTag {
                    name,
                    ty: r.0,
                    attribute: t.kflag(),
                },
                TypeData::Typedef(r) => IrType::Typedef { name, ty: r.0 },
                TypeData::Array(a) => IrType::Array {
                    elem: a.elem_type.0,
                    index: a.index_type.0,
                    nelems: a.nelems,
                },
                TypeData::Struct(ms) | TypeData::Union(ms) => {
                    let mut members = Vec::with_capacity(ms.len());
                    for m in ms.iter() {
                        members.push(IrMember {
                            name: s(m.name_off)?,
                            ty: m.type_id.0,
                            bit_offset: m.bit_offset(),
                            bitfield_size: m.bitfield_size() as u8,
                        });
                    }
                    let size = t.size_or_type();
                    if t.kind() == Kind::Struct {
                        IrType::Struct {
                            name,
                            size,
                            members,
                        }
                    } else {
                        IrType::Union {
                            name,
                            size,
                            members,
                        }
                    }
                }
                TypeData::Enum(vs) => {
                    let mut values = Vec::with_capacity(vs.len());
                    for v in vs.iter() {
                        values.push(IrEnumValue {
                            name: s(v.name_off)?,
                            value: v.as_u64(),
                        });
                    }
                    IrType::Enum {
                        name,
                        size: t.size_or_type(),
                        signed: vs.is_signed(),
                        is64: vs.is_64(),
                        values,
                    }
                }
                TypeData::Fwd { is_union } => IrType::Fwd { name, is_union },
                TypeData::Func { proto, linkage } => IrType::Func {
                    name,
                    proto: proto.0,
                    linkage,
                },
                TypeData::FuncProto { ret, params } => {
                    let mut ps = Vec::with_capacity(params.len());
                    for p in params.iter() {
                        ps.push(IrParam {
                            name: s(p.name_off)?,
                            ty: p.type_id.0,
                        });
                    }
                    IrType::FuncProto {
                        ret: ret.0,
                        params: ps,
                    }
                }
                TypeData::Var { type_id, linkage } => IrType::Var {
                    name,
                    ty: type_id.0,
                    linkage,
                },
                TypeData::Datasec(ds) => IrType::Datasec {
                    name,
                    size: t.size_or_type(),
                    vars: ds
                        .iter()
                        .map(|v| IrVarSecInfo {
                            ty: v.type_id.0,
                            offset: v.offset,
                            size: v.size,
                        })
                        .collect(),
                },
                TypeData::DeclTag {
                    target,
                    component_idx,
                } => IrType::DeclTag {
                    name,
                    target: target.0,
                    component: component_idx,
                    attribute: t.kflag(),
                },
                TypeData::Unknown { kind } => {
                    return Err(Error::Build(format!(
                        "type [{}] of unknown kind {kind} cannot be rewritten",
                        t.id()
                    )))
                }
            };
            ir.types.push(ty);
        }
        Ok(ir)
    }

    /// Writes the types after the first `base_len` (which are `base`'s,
    /// ids kept) as BTF: standalone when `base` is None and `base_len` 0,
    /// split on `base` otherwise.
    pub fn write(&self, base: Option<&Btf<'_>>, base_len: u32) -> Result<Vec<u8>> {
        let mut b = match base {
            Some(base) => {
                if base.next_id().0 != base_len + 1 {
                    return Err(Error::Build(format!(
                        "base has {} types, the split types start after {base_len}",
                        base.next_id().0 - 1
                    )));
                }
                BtfBuilder::new_split(base)
            }
            None if base_len == 0 => BtfBuilder::new(),
            None => return Err(Error::Build("split types without their base".into())),
        };
        let st = |i: u32| self.strings.get(i);
        for (i, t) in self.types.iter().enumerate().skip(base_len as usize + 1) {
            let want = TypeId(i as u32);
            let got = match t {
                IrType::Void => return Err(Error::Build(format!("void at id {i}"))),
                IrType::Int {
                    name,
                    size,
                    encoding,
                    offset,
                    bits,
                } => b.add_int_bits(st(*name), *size, *encoding, *offset, *bits)?,
                IrType::Float { name, size } => b.add_float(st(*name), *size)?,
                IrType::Ptr(r) => b.add_ptr(TypeId(*r))?,
                IrType::Const(r) => b.add_const(TypeId(*r))?,
                IrType::Volatile(r) => b.add_volatile(TypeId(*r))?,
                IrType::Restrict(r) => b.add_restrict(TypeId(*r))?,
                IrType::TypeTag {
                    name,
                    ty,
                    attribute: false,
                } => b.add_type_tag(st(*name), TypeId(*ty))?,
                IrType::TypeTag {
                    name,
                    ty,
                    attribute: true,
                } => b.add_type_tag_attribute(st(*name), TypeId(*ty))?,
                IrType::Typedef { name, ty } => b.add_typedef(st(*name), TypeId(*ty))?,
                IrType::Array {
                    elem,
                    index,
                    nelems,
                } => b.add_array(TypeId(*elem), TypeId(*index), *nelems)?,
                IrType::Struct {
                    name,
                    size,
                    members,
                }
                | IrType::Union {
                    name,
                    size,
                    members,
                } => {
                    let kind = t.kind();
                    let kflag = members.iter().any(|m| m.bitfield_size > 0);
                    let ms: Vec<(&[u8], TypeId, u32)> = members
                        .iter()
                        .map(|m| {
                            let off = if kflag {
                                (m.bitfield_size as u32) << 24 | m.bit_offset
                            } else {
                                m.bit_offset
                            };
                            (st(m.name).as_bytes(), TypeId(m.ty), off)
                        })
                        .collect();
                    if kflag && members.iter().any(|m| m.bit_offset > 0x00ff_ffff) {
                        return Err(Error::Build(format!(
                            "type [{i}]: a bit offset too large for bitfield encoding"
                        )));
                    }
                    b.add_composite_raw(kind, st(*name).as_bytes(), *size, kflag, &ms)?
                }
                IrType::Enum {
                    name,
                    size,
                    signed,
                    is64,
                    values,
                } => {
                    let vs: Vec<(&str, u64)> =
                        values.iter().map(|v| (st(v.name), v.value)).collect();
                    b.add_enum_exact(st(*name), *size, *signed, *is64, &vs)?
                }
                IrType::Fwd { name, is_union } => b.add_fwd(st(*name), *is_union)?,
                IrType::Func {
                    name,
                    proto,
                    linkage,
                } => b.add_func(st(*name), TypeId(*proto), *linkage)?,
                IrType::FuncProto { ret, params } => {
                    let ps: Vec<(&str, TypeId)> =
                        params.iter().map(|p| (st(p.name), TypeId(p.ty))).collect();
                    b.add_func_proto(TypeId(*ret), &ps)?
                }
                IrType::Var { name, ty, linkage } => b.add_var(st(*name), TypeId(*ty), *linkage)?,
                IrType::Datasec { name, size, vars } => {
                    let es: Vec<(TypeId, u32, u32)> = vars
                        .iter()
                        .map(|v| (TypeId(v.ty), v.offset, v.size))
                        .collect();
                    b.add_datasec(st(*name), *size, &es)?
                }
                IrType::DeclTag {
                    name,
                    target,
                    component,
                    attribute: false,
                } => b.add_decl_tag(st(*name), TypeId(*target), *component)?,
                IrType::DeclTag {
                    name,
                    target,
                    component,
                    attribute: true,
                } => b.add_decl_tag_attribute(st(*name), TypeId(*target), *component)?,
            };
            debug_assert_eq!(got, want);
        }
        Ok(b.finish())
    }
}
