//! Typed errors of the object reader and of each relocation.

use btfkit_btf::TypeId;

/// An object file that cannot be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ObjectError {
    #[error("ELF: {0}")]
    Elf(String),
    #[error("not a BPF object: ELF machine {machine} (expected EM_BPF, 247)")]
    NotBpf { machine: u16 },
    #[error("no .BTF section")]
    NoBtf,
    #[error("no .BTF.ext section: the object has no CO-RE relocations (built without -g?)")]
    NoBtfExt,
    #[error(".BTF: {0}")]
    Btf(#[from] btfkit_btf::Error),
    #[error(".BTF.ext at offset {offset:#x}: {reason}")]
    Ext { offset: usize, reason: String },
    #[error("section {section}: program {name} at byte {offset} (+{size}) crosses the section end ({len} bytes)")]
    ProgramOutOfSection {
        section: String,
        name: String,
        offset: u64,
        size: u64,
        len: usize,
    },
    #[error("section {section}: size {size} is not a multiple of the instruction size")]
    PartialInsn { section: String, size: usize },
}

/// What went wrong with one relocation, in libbpf's terms. `errno()`
/// gives the error code libbpf returns in the same situation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReloErrorKind {
    #[error("instruction offset {insn_off} is not a multiple of 8")]
    InsnOffsetMisaligned { insn_off: u32 },
    #[error("instruction #{insn_idx} is outside section of {insns} instructions")]
    InsnOutOfSection { insn_idx: u32, insns: usize },
    #[error("the relocation's section is not in the object")]
    NoSuchSection,
    #[error("unknown relocation kind {0}")]
    UnknownKind(u32),
    #[error("local type [{0}] does not exist")]
    NoLocalType(TypeId),
    #[error("access string {access:?}: {reason}")]
    BadAccessString { access: String, reason: String },
    #[error(
        "access string {access:?}: index {index} at position {pos} out of range (limit {limit})"
    )]
    AccessOutOfRange {
        access: String,
        pos: usize,
        index: u32,
        limit: u32,
    },
    #[error("access string {access:?}: position {pos} reaches type [{type_id}] of kind {kind}, which has no members or elements")]
    AccessIntoScalar {
        access: String,
        pos: usize,
        type_id: TypeId,
        kind: String,
    },
    #[error("local type [{type_id}] is not an enum, as enumerator relocations need")]
    NotAnEnum { type_id: TypeId },
    #[error("anonymous local type [{type_id}] has no name to search targets by")]
    AnonymousRoot { type_id: TypeId },
    #[error("{kind} cannot be applied to an array element access")]
    ArrayAccess { kind: &'static str },
    #[error("bitfield cannot be read with a single 64-bit load")]
    BitfieldTooWide,
    #[error("field offset ambiguity between candidates: bit {a} != bit {b}")]
    FieldOffsetAmbiguity { a: u32, b: u32 },
    #[error("relocation decision ambiguity between candidates: {a} != {b}")]
    DecisionAmbiguity { a: String, b: String },
    #[error("access path nests deeper than {0} levels")]
    SpecTooDeep(usize),
    #[error("{0}")]
    Btf(String),
    #[error("unexpected instruction #{insn_idx} ({class}) value: got {got}, expected {expected} -> {new}")]
    UnexpectedInsnValue {
        insn_idx: u32,
        class: &'static str,
        got: u64,
        expected: u64,
        new: u64,
    },
    #[error("instruction #{insn_idx} (code {code:#04x}) cannot be relocated")]
    InsnNotPatchable { insn_idx: u32, code: u8 },
    #[error("instruction #{insn_idx} (LDX/ST/STX): offset {new} does not fit 16 bits")]
    OffsetTooBig { insn_idx: u32, new: u64 },
    #[error("instruction #{insn_idx} (LDX/ST/STX): memory size {got}, expected {expected}")]
    UnexpectedMemSize {
        insn_idx: u32,
        got: u32,
        expected: u32,
    },
    #[error("instruction #{insn_idx} (LDX/ST/STX): no load/store of size {size}")]
    InvalidNewMemSize { insn_idx: u32, size: u32 },
    #[error("instruction #{insn_idx} (LDIMM64) has an unexpected form")]
    BadLdImm64 { insn_idx: u32 },
}

const EINVAL: i32 = 22;
const E2BIG: i32 = 7;
const ERANGE: i32 = 34;

impl ReloErrorKind {
    /// The (positive) errno libbpf 1.x fails the same relocation with.
    pub fn errno(&self) -> i32 {
        match self {
            ReloErrorKind::BitfieldTooWide | ReloErrorKind::SpecTooDeep(_) => E2BIG,
            ReloErrorKind::OffsetTooBig { .. } => ERANGE,
            // Everything else, including every failure to parse the local
            // spec (libbpf folds those into EINVAL) and anonymous roots
            // (rejected by its candidate search with EINVAL).
            _ => EINVAL,
        }
    }
}

/// One relocation's failure, with where it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("section {section}: relo #{index}: {kind}")]
pub struct ReloError {
    pub section: String,
    /// Index of the record within its `.BTF.ext` section (libbpf's `relo #N`).
    pub index: usize,
    pub kind: ReloErrorKind,
}
