//! Type queries with libbpf's semantics: skipping modifiers and typedefs,
//! size and alignment of any type, member lookup through anonymous members.
//!
//! Every chain walk is bounded, so a reference cycle in malformed BTF is an
//! error, never a hang or a stack overflow.

use crate::btf::Btf;
use crate::error::{Error, Result};
use crate::kind::Kind;
use crate::types::{Member, Type, TypeData, TypeId};

/// Longest modifier/typedef/array chain followed before declaring a cycle
/// (libbpf uses 32; real kernels stay far below).
pub const MAX_CHAIN: u32 = 64;

/// A member found by name, with its offset from the start of the
/// outermost struct (anonymous members flattened).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FoundMember {
    /// The member's record, as found in the (possibly anonymous, nested)
    /// struct or union that declares it; its own offset is relative to
    /// that one.
    pub member: Member,
    /// Bit offset from the start of the struct that was searched.
    pub bit_offset: u32,
    /// Bitfield width in bits, 0 when not a bitfield, in either encoding
    /// (see [`Btf::member_bitfield_size`]).
    pub bitfield_size: u32,
}

/// The names libbpf takes for `long` when inferring the pointer size.
pub(crate) const LONG_ALIASES: [&str; 11] = [
    "long",
    "long int",
    "int long",
    "unsigned long",
    "long unsigned",
    "unsigned long int",
    "unsigned int long",
    "long unsigned int",
    "long int unsigned",
    "int unsigned long",
    "int long unsigned",
];

impl<'a> Btf<'a> {
    fn cycle(&self, id: TypeId) -> Error {
        Error::ReferenceCycle {
            id,
            limit: MAX_CHAIN,
        }
    }

    /// Follows typedefs and modifiers (const, volatile, restrict, type
    /// tags) to the first other type.
    pub fn skip_mods_and_typedefs(&self, id: TypeId) -> Result<Type<'_>> {
        self.skip_while(id, Kind::is_modifier_or_typedef)
    }

    /// Follows modifiers (not typedefs).
    pub fn skip_mods(&self, id: TypeId) -> Result<Type<'_>> {
        self.skip_while(id, Kind::is_modifier)
    }

    fn skip_while(&self, id: TypeId, skip: impl Fn(Kind) -> bool) -> Result<Type<'_>> {
        let mut t = self.type_by_id(id)?;
        for _ in 0..MAX_CHAIN {
            if !skip(t.kind()) {
                return Ok(t);
            }
            t = self.type_by_id(TypeId(t.size_or_type()))?;
        }
        Err(self.cycle(id))
    }

    /// Pointer size of the target this BTF describes: the size of the
    /// first int named like `long` (libbpf's aliases), else 8.
    pub fn pointer_size(&self) -> u32 {
        if let Some(b) = self.base() {
            return b.pointer_size();
        }
        *self
            .ptr_size
            .get_or_init(|| self.long_type().map_or(8, |(_, size)| size))
    }

    /// The first int (in id order) named like `long` with size 4 or 8:
    /// what libbpf infers the pointer size from.
    pub fn long_type(&self) -> Option<(TypeId, u32)> {
        LONG_ALIASES
            .iter()
            .flat_map(|name| self.find_by_name(name))
            .filter_map(|id| match self.type_by_id(id).ok()?.data() {
                TypeData::Int(i) if i.size == 4 || i.size == 8 => Some((id, i.size)),
                _ => None,
            })
            .min_by_key(|&(id, _)| id)
    }

    /// Size in bytes of any sized type (libbpf's `btf__resolve_size`):
    /// arrays multiply, pointers have the target's pointer size, typedefs,
    /// modifiers, vars and tags are followed.
    pub fn resolve_size(&self, id: TypeId) -> Result<u64> {
        let mut nelems: u64 = 1;
        let mut cur = id;
        for _ in 0..MAX_CHAIN {
            let t = self.type_by_id(cur)?;
            let size = match t.data() {
                TypeData::Int(_)
                | TypeData::Struct(_)
                | TypeData::Union(_)
                | TypeData::Enum(_)
                | TypeData::Datasec(_)
                | TypeData::Float { .. } => t.size_or_type() as u64,
                TypeData::Ptr(_) => self.pointer_size() as u64,
                TypeData::Typedef(r)
                | TypeData::Volatile(r)
                | TypeData::Const(r)
                | TypeData::Restrict(r)
                | TypeData::TypeTag(r)
                | TypeData::Var { type_id: r, .. }
                | TypeData::DeclTag { target: r, .. } => {
                    cur = r;
                    continue;
                }
                TypeData::Array(a) => {
                    nelems = nelems
                        .checked_mul(a.nelems as u64)
                        .filter(|&n| n <= u32::MAX as u64)
                        .ok_or(Error::SizeOverflow { id })?;
                    cur = a.elem_type;
                    continue;
                }
                _ => {
                    return Err(Error::UnexpectedKind {
                        id: cur,
                        expected: "a sized type",
                        found: t.kind(),
                    })
                }
            };
            let total = nelems.checked_mul(size).filter(|&s| s <= u32::MAX as u64);
            return total.ok_or(Error::SizeOverflow { id });
        }
        Err(self.cycle(id))
    }

    /// Alignment in bytes (libbpf's `btf__align_of`): scalars align to
    /// min(size, pointer size); a struct/union whose members are not
    /// naturally aligned, or whose size is not a multiple of its
    /// alignment, is packed (alignment 1).
    pub fn align_of(&self, id: TypeId) -> Result<u32> {
        self.align_of_depth(id, 0)
    }

    fn align_of_depth(&self, id: TypeId, depth: u32) -> Result<u32> {
        if depth >= MAX_CHAIN {
            return Err(self.cycle(id));
        }
        let t = self.type_by_id(id)?;
        let ptr = self.pointer_size();
        match t.data() {
            TypeData::Int(_) | TypeData::Enum(_) | TypeData::Float { .. } => {
                Ok(t.size_or_type().min(ptr).max(1))
            }
            TypeData::Ptr(_) => Ok(ptr),
            TypeData::Typedef(r)
            | TypeData::Volatile(r)
            | TypeData::Const(r)
            | TypeData::Restrict(r)
            | TypeData::TypeTag(r) => self.align_of_depth(r, depth + 1),
            TypeData::Array(a) => self.align_of_depth(a.elem_type, depth + 1),
            TypeData::Struct(ms) | TypeData::Union(ms) => {
                let mut max_align = 1;
                for m in ms.iter() {
                    let align = self.align_of_depth(m.type_id, depth + 1)?;
                    max_align = max_align.max(align);
                    if m.bitfield_size() == 0 && m.raw_offset % (8 * align) != 0 {
                        return Ok(1);
                    }
                }
                if t.size_or_type() % max_align != 0 {
                    return Ok(1);
                }
                Ok(max_align)
            }
            _ => Err(Error::UnexpectedKind {
                id,
                expected: "a type with alignment",
                found: t.kind(),
            }),
        }
    }

    /// Finds a member by name in a struct or union, descending into
    /// anonymous struct/union members as C does. Offsets are from the
    /// start of `id`.
    pub fn find_member(&self, id: TypeId, name: &str) -> Result<Option<FoundMember>> {
        self.find_member_depth(id, name.as_bytes(), 0, 0)
    }

    fn find_member_depth(
        &self,
        id: TypeId,
        name: &[u8],
        base_bits: u32,
        depth: u32,
    ) -> Result<Option<FoundMember>> {
        if depth >= MAX_CHAIN {
            return Err(self.cycle(id));
        }
        let t = self.skip_mods_and_typedefs(id)?;
        let Some(ms) = t.members() else {
            return Err(Error::UnexpectedKind {
                id,
                expected: "struct or union",
                found: t.kind(),
            });
        };
        for m in ms.iter() {
            let off = base_bits.wrapping_add(m.bit_offset());
            if m.name_off == 0 {
                let inner = self.skip_mods_and_typedefs(m.type_id)?;
                if inner.kind().is_composite() {
                    if let Some(found) = self.find_member_depth(inner.id(), name, off, depth + 1)? {
                        return Ok(Some(found));
                    }
                }
                continue;
            }
            if self.str_bytes(m.name_off)? == name {
                return Ok(Some(FoundMember {
                    member: m,
                    bit_offset: off,
                    bitfield_size: self.member_bitfield_size(&m)?,
                }));
            }
        }
        Ok(None)
    }

    /// Bitfield width of a member in either encoding: the kind_flag
    /// field, or for legacy (pahole-era) BTF, an int type narrower than
    /// its size.
    pub fn member_bitfield_size(&self, m: &Member) -> Result<u32> {
        if m.bitfield_size() != 0 {
            return Ok(m.bitfield_size());
        }
        let t = self.skip_mods_and_typedefs(m.type_id)?;
        if let TypeData::Int(i) = t.data() {
            if i.bits() != 0 && i.bits() as u64 != i.size as u64 * 8 {
                return Ok(i.bits());
            }
        }
        Ok(0)
    }

    /// The values of an enum or enum64 with their names.
    pub fn enum_values_named(&self, id: TypeId) -> Result<Vec<(&str, i128)>> {
        let t = self.type_by_id(id)?;
        let vs = t.enum_values().ok_or(Error::UnexpectedKind {
            id,
            expected: "enum or enum64",
            found: t.kind(),
        })?;
        vs.iter()
            .map(|v| Ok((self.str_at(v.name_off)?, v.value())))
            .collect()
    }
}
