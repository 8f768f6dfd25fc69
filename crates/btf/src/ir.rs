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
    pub fn intern(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.map.get(s) {
            return i;
        }
        let i = self.strs.len() as u32;
        self.strs.push(s.into());
        self.map.insert(s.into(), i);
        i
    }

    pub fn get(&self, i: u32) -> &str {
        self.strs.get(i as usize).map_or("", |s| s)
    }

    pub fn len(&self) -> usize {
        self.strs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.strs.len() <= 1
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IrMember {
    pub name: u32,
    pub ty: u32,
    pub bit_offset: u32,
    /// 0: not a bitfield.
    pub bitfield_size: u8,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IrParam {
    pub name: u32,
    /// 0 in the last parameter: variadic.
    pub ty: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IrEnumValue {
    pub name: u32,
    /// The value's bits (sign-extended to 64 for signed enums).
    pub value: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IrVarSecInfo {
    pub ty: u32,
    pub offset: u32,
    pub size: u32,
}

/// One type.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum IrType {
    Void,
    Int {
        name: u32,
        size: u32,
        encoding: u8,
        offset: u8,
        bits: u8,
    },
    Float {
        name: u32,
        size: u32,
    },
    Ptr(u32),
    Const(u32),
    Volatile(u32),
    Restrict(u32),
    TypeTag {
        name: u32,
        ty: u32,
    },
    Typedef {
        name: u32,
        ty: u32,
    },
    Array {
        elem: u32,
        index: u32,
        nelems: u32,
    },
    Struct {
        name: u32,
        size: u32,
        members: Vec<IrMember>,
    },
    Union {
        name: u32,
        size: u32,
        members: Vec<IrMember>,
    },
    Enum {
        name: u32,
        size: u32,
        signed: bool,
        is64: bool,
        values: Vec<IrEnumValue>,
    },
    Fwd {
        name: u32,
        is_union: bool,
    },
    Func {
        name: u32,
        proto: u32,
        linkage: u32,
    },
    FuncProto {
        ret: u32,
        params: Vec<IrParam>,
    },
    Var {
        name: u32,
        ty: u32,
        linkage: u32,
    },
    Datasec {
        name: u32,
        size: u32,
        vars: Vec<IrVarSecInfo>,
    },
    DeclTag {
        name: u32,
        target: u32,
        component: i32,
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

    pub fn is_empty(&self) -> bool {
        self.types.len() <= 1
    }

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
                TypeData::TypeTag(r) => IrType::TypeTag { name, ty: r.0 },
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
                IrType::TypeTag { name, ty } => b.add_type_tag(st(*name), TypeId(*ty))?,
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
                } => b.add_decl_tag(st(*name), TypeId(*target), *component)?,
            };
            debug_assert_eq!(got, want);
        }
        Ok(b.finish())
    }
}
