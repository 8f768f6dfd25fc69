//! BTF kinds and the bit layout of `btf_type.info`.
//!
//! `info` packs three fields. The classic encoding uses bits 0-15 for vlen and
//! bits 24-28 for the kind; the 2026 encoding widens vlen to bits 0-23 and the
//! kind to bits 24-30. Both are read the same way: in classic BTF the extra
//! bits are always zero, so decoding with the wide masks is exact for either.

use std::fmt;

/// Bit 31 of `info`: struct/union bitfield encoding, union forward,
/// signed enum, attribute type tag.
pub const INFO_KFLAG: u32 = 1 << 31;
const INFO_KIND_SHIFT: u32 = 24;
const INFO_KIND_MASK: u32 = 0x7f;
const INFO_VLEN_MASK: u32 = 0x00ff_ffff;

/// Largest vlen encodable in `info` (24 bits).
pub const MAX_VLEN: u32 = INFO_VLEN_MASK;
/// Largest kind number encodable in `info` (7 bits).
pub const MAX_KIND: u8 = INFO_KIND_MASK as u8;

/// Kind number as stored in `info` bits 24-30.
pub fn info_kind(info: u32) -> u8 {
    ((info >> INFO_KIND_SHIFT) & INFO_KIND_MASK) as u8
}

/// vlen as stored in `info` bits 0-23.
pub fn info_vlen(info: u32) -> u32 {
    info & INFO_VLEN_MASK
}

/// kind_flag, `info` bit 31.
pub fn info_kflag(info: u32) -> bool {
    info & INFO_KFLAG != 0
}

/// Packs kind, vlen and kind_flag into `info`.
pub fn make_info(kind: u8, vlen: u32, kflag: bool) -> u32 {
    debug_assert!(kind <= MAX_KIND && vlen <= MAX_VLEN);
    ((kind as u32 & INFO_KIND_MASK) << INFO_KIND_SHIFT)
        | (vlen & INFO_VLEN_MASK)
        | if kflag { INFO_KFLAG } else { 0 }
}

/// What a BTF type record describes.
///
/// `Void` is the implicit type id 0; it has no record. `Unknown` is a kind this
/// reader has no built-in knowledge of, sized through the kind-layout section.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// Kind 0 (`BTF_KIND_UNKN`): `void`, type id 0. No record has it.
    Void,
    /// `BTF_KIND_INT` (1): an integer, `char` or `_Bool`; `size` in bytes,
    /// followed by a word with encoding, bit offset and bit count.
    Int,
    /// `BTF_KIND_PTR` (2): a pointer to `type`.
    Ptr,
    /// `BTF_KIND_ARRAY` (3): element type, index type and element count in
    /// a trailing `struct btf_array`.
    Array,
    /// `BTF_KIND_STRUCT` (4): `size` in bytes, `vlen` members.
    Struct,
    /// `BTF_KIND_UNION` (5): `size` in bytes, `vlen` members.
    Union,
    /// `BTF_KIND_ENUM` (6): `size` in bytes, `vlen` 32-bit values;
    /// kind_flag set for a signed enum.
    Enum,
    /// `BTF_KIND_FWD` (7): a forward declaration; kind_flag set for
    /// `union`, clear for `struct`.
    Fwd,
    /// `BTF_KIND_TYPEDEF` (8): a name for `type`.
    Typedef,
    /// `BTF_KIND_VOLATILE` (9): `volatile` applied to `type`.
    Volatile,
    /// `BTF_KIND_CONST` (10): `const` applied to `type`.
    Const,
    /// `BTF_KIND_RESTRICT` (11): `restrict` applied to `type`.
    Restrict,
    /// `BTF_KIND_FUNC` (12): a function: its name, its signature (a
    /// `FUNC_PROTO`) in `type`, its linkage in `vlen`.
    Func,
    /// `BTF_KIND_FUNC_PROTO` (13): return type in `type`, `vlen`
    /// parameters.
    FuncProto,
    /// `BTF_KIND_VAR` (14): a global or static variable of `type`, with its
    /// linkage in a trailing word.
    Var,
    /// `BTF_KIND_DATASEC` (15): an ELF data section (`.data`, `.bss`,
    /// `.kconfig`, ...); `size` in bytes, `vlen` variables placed in it.
    Datasec,
    /// `BTF_KIND_FLOAT` (16): a floating-point type, `size` in bytes.
    Float,
    /// `BTF_KIND_DECL_TAG` (17): `__attribute__((btf_decl_tag("...")))` on
    /// a type, or on one of its members or parameters (`component_idx`).
    DeclTag,
    /// `BTF_KIND_TYPE_TAG` (18): `__attribute__((btf_type_tag("...")))`
    /// applied to `type` (`__user`, `__rcu`, ...).
    TypeTag,
    /// `BTF_KIND_ENUM64` (19): like [`Kind::Enum`] with 64-bit values.
    Enum64,
    /// Any other kind number (20 and up). Records of such kinds are parsed only
    /// when a kind-layout section gives their size; their contents are
    /// opaque.
    Unknown(u8),
}

/// Number of kinds this reader knows, counting kind 0 (`UNKN`/void):
/// the number of entries a layout section written by btfkit has.
pub const NR_KNOWN_KINDS: u8 = 20;

impl Kind {
    /// Maps a kind number to a `Kind`. 0 maps to `Void`.
    pub fn from_raw(raw: u8) -> Kind {
        match raw {
            0 => Kind::Void,
            1 => Kind::Int,
            2 => Kind::Ptr,
            3 => Kind::Array,
            4 => Kind::Struct,
            5 => Kind::Union,
            6 => Kind::Enum,
            7 => Kind::Fwd,
            8 => Kind::Typedef,
            9 => Kind::Volatile,
            10 => Kind::Const,
            11 => Kind::Restrict,
            12 => Kind::Func,
            13 => Kind::FuncProto,
            14 => Kind::Var,
            15 => Kind::Datasec,
            16 => Kind::Float,
            17 => Kind::DeclTag,
            18 => Kind::TypeTag,
            19 => Kind::Enum64,
            other => Kind::Unknown(other),
        }
    }

    /// The kind number stored in `info`.
    pub fn to_raw(self) -> u8 {
        match self {
            Kind::Void => 0,
            Kind::Int => 1,
            Kind::Ptr => 2,
            Kind::Array => 3,
            Kind::Struct => 4,
            Kind::Union => 5,
            Kind::Enum => 6,
            Kind::Fwd => 7,
            Kind::Typedef => 8,
            Kind::Volatile => 9,
            Kind::Const => 10,
            Kind::Restrict => 11,
            Kind::Func => 12,
            Kind::FuncProto => 13,
            Kind::Var => 14,
            Kind::Datasec => 15,
            Kind::Float => 16,
            Kind::DeclTag => 17,
            Kind::TypeTag => 18,
            Kind::Enum64 => 19,
            Kind::Unknown(k) => k,
        }
    }

    /// The name bpftool and the kernel use (`BTF_KIND_<name>`).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Void => "UNKNOWN",
            Kind::Int => "INT",
            Kind::Ptr => "PTR",
            Kind::Array => "ARRAY",
            Kind::Struct => "STRUCT",
            Kind::Union => "UNION",
            Kind::Enum => "ENUM",
            Kind::Fwd => "FWD",
            Kind::Typedef => "TYPEDEF",
            Kind::Volatile => "VOLATILE",
            Kind::Const => "CONST",
            Kind::Restrict => "RESTRICT",
            Kind::Func => "FUNC",
            Kind::FuncProto => "FUNC_PROTO",
            Kind::Var => "VAR",
            Kind::Datasec => "DATASEC",
            Kind::Float => "FLOAT",
            Kind::DeclTag => "DECL_TAG",
            Kind::TypeTag => "TYPE_TAG",
            Kind::Enum64 => "ENUM64",
            Kind::Unknown(_) => "UNKNOWN",
        }
    }

    /// Fixed bytes after the 12-byte common header, for known kinds.
    pub(crate) fn info_size(self) -> Option<usize> {
        Some(match self {
            Kind::Int | Kind::Var | Kind::DeclTag => 4,
            Kind::Array => 12,
            Kind::Void | Kind::Unknown(_) => return None,
            _ => 0,
        })
    }

    /// Bytes per vlen element after the fixed part, for known kinds.
    pub(crate) fn elem_size(self) -> Option<usize> {
        Some(match self {
            Kind::Struct | Kind::Union | Kind::Datasec | Kind::Enum64 => 12,
            Kind::Enum | Kind::FuncProto => 8,
            Kind::Void | Kind::Unknown(_) => return None,
            _ => 0,
        })
    }

    /// Kinds whose third word is a size (the others hold a type id).
    pub fn has_size(self) -> bool {
        matches!(
            self,
            Kind::Int
                | Kind::Struct
                | Kind::Union
                | Kind::Enum
                | Kind::Datasec
                | Kind::Float
                | Kind::Enum64
        )
    }

    /// Kinds whose third word is a type id.
    pub fn has_type_ref(self) -> bool {
        matches!(
            self,
            Kind::Ptr
                | Kind::Typedef
                | Kind::Volatile
                | Kind::Const
                | Kind::Restrict
                | Kind::Func
                | Kind::FuncProto
                | Kind::Var
                | Kind::DeclTag
                | Kind::TypeTag
        )
    }

    /// CV-qualifiers and type tags: transparent for layout purposes.
    pub fn is_modifier(self) -> bool {
        matches!(
            self,
            Kind::Volatile | Kind::Const | Kind::Restrict | Kind::TypeTag
        )
    }

    /// A modifier or a typedef: a kind that stands for the type it
    /// refers to (what `skip_mods_and_typedefs` follows).
    pub fn is_modifier_or_typedef(self) -> bool {
        self.is_modifier() || self == Kind::Typedef
    }

    /// Struct or union: the kinds with members.
    pub fn is_composite(self) -> bool {
        matches!(self, Kind::Struct | Kind::Union)
    }

    /// Enum or enum64: the kinds with enumerators.
    pub fn is_enum(self) -> bool {
        matches!(self, Kind::Enum | Kind::Enum64)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Kind::Unknown(k) => write!(f, "KIND_{k}"),
            k => f.write_str(k.name()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_roundtrip() {
        for raw in 0..=MAX_KIND {
            assert_eq!(Kind::from_raw(raw).to_raw(), raw);
        }
    }

    #[test]
    fn info_fields_use_wide_masks() {
        let info = make_info(0x55, 0x12_3456, true);
        assert_eq!(info_kind(info), 0x55);
        assert_eq!(info_vlen(info), 0x12_3456);
        assert!(info_kflag(info));
        // Classic encoding: kind 4 (struct), vlen 3, kflag set.
        let classic = 0x8400_0003;
        assert_eq!(Kind::from_raw(info_kind(classic)), Kind::Struct);
        assert_eq!(info_vlen(classic), 3);
    }
}
