//! `enum bpf_core_relo_kind`.

use std::fmt;

/// What a CO-RE relocation computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RelocKind {
    /// Byte offset of a field.
    FieldByteOffset,
    /// Byte size of a field.
    FieldByteSize,
    /// Whether a field exists (0/1).
    FieldExists,
    /// Whether a field is signed (0/1).
    FieldSigned,
    /// Left shift to extract a bitfield from a u64 load.
    FieldLshiftU64,
    /// Right shift to extract a bitfield from a u64 load.
    FieldRshiftU64,
    /// Type id in the local (object) BTF.
    TypeIdLocal,
    /// Type id in the target BTF.
    TypeIdTarget,
    /// Whether a compatible type exists in the target (0/1).
    TypeExists,
    /// Size of the type in the target.
    TypeSize,
    /// Whether an enumerator exists in the target (0/1).
    EnumvalExists,
    /// Value of an enumerator in the target.
    EnumvalValue,
    /// Whether a type matching the local one exists (0/1).
    TypeMatches,
}

impl RelocKind {
    /// The kind of a raw `enum bpf_core_relo_kind` value (the `kind` word
    /// of a `.BTF.ext` record), `None` past `BPF_CORE_TYPE_MATCHES` (12).
    pub fn from_raw(v: u32) -> Option<RelocKind> {
        use RelocKind::*;
        Some(match v {
            0 => FieldByteOffset,
            1 => FieldByteSize,
            2 => FieldExists,
            3 => FieldSigned,
            4 => FieldLshiftU64,
            5 => FieldRshiftU64,
            6 => TypeIdLocal,
            7 => TypeIdTarget,
            8 => TypeExists,
            9 => TypeSize,
            10 => EnumvalExists,
            11 => EnumvalValue,
            12 => TypeMatches,
            _ => return None,
        })
    }

    /// The `enum bpf_core_relo_kind` value (0 for `BPF_CORE_FIELD_BYTE_OFFSET`
    /// to 12 for `BPF_CORE_TYPE_MATCHES`).
    pub fn to_raw(self) -> u32 {
        self as u32
    }

    /// libbpf's short name (`core_relo_kind_str`).
    pub fn name(self) -> &'static str {
        use RelocKind::*;
        match self {
            FieldByteOffset => "byte_off",
            FieldByteSize => "byte_sz",
            FieldExists => "field_exists",
            FieldSigned => "signed",
            FieldLshiftU64 => "lshift_u64",
            FieldRshiftU64 => "rshift_u64",
            TypeIdLocal => "local_type_id",
            TypeIdTarget => "target_type_id",
            TypeExists => "type_exists",
            TypeSize => "type_size",
            EnumvalExists => "enumval_exists",
            EnumvalValue => "enumval_value",
            TypeMatches => "type_matches",
        }
    }

    /// The six field kinds (0–5), whose access string is a path from the
    /// root type to a member or array element (libbpf's
    /// `core_relo_is_field_based`).
    pub fn is_field_based(self) -> bool {
        self.to_raw() <= 5
    }

    /// The type kinds (`TYPE_ID_LOCAL`, `TYPE_ID_TARGET`, `TYPE_EXISTS`,
    /// `TYPE_SIZE`, `TYPE_MATCHES`), whose access string is always `"0"`
    /// (libbpf's `core_relo_is_type_based`).
    pub fn is_type_based(self) -> bool {
        matches!(
            self,
            RelocKind::TypeIdLocal
                | RelocKind::TypeIdTarget
                | RelocKind::TypeExists
                | RelocKind::TypeSize
                | RelocKind::TypeMatches
        )
    }

    /// The enumerator kinds (`ENUMVAL_EXISTS`, `ENUMVAL_VALUE`), whose
    /// access string is one enumerator index (libbpf's
    /// `core_relo_is_enumval_based`).
    pub fn is_enumval_based(self) -> bool {
        matches!(self, RelocKind::EnumvalExists | RelocKind::EnumvalValue)
    }

    /// Existence checks: a missing target is an answer (0), not a failure.
    pub fn is_existence(self) -> bool {
        matches!(
            self,
            RelocKind::FieldExists
                | RelocKind::TypeExists
                | RelocKind::EnumvalExists
                | RelocKind::TypeMatches
        )
    }
}

impl fmt::Display for RelocKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
