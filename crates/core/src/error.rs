//! Typed errors of the object reader and of each relocation.

use std::sync::Arc;

use btfkit_btf::TypeId;

/// An object file that cannot be read, as returned by
/// [`BpfObject::parse`](crate::BpfObject::parse) (and
/// [`BtfExt::parse`](crate::BtfExt::parse) for [`ObjectError::Ext`]).
///
/// These are whole-object failures: nothing of the object is usable.
/// Problems with single CO-RE relocation records are not reported here but
/// per relocation, as [`ReloErrorKind`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ObjectError {
    /// The `object` crate could not read the file as ELF (bad header,
    /// section table or section name, unreadable section data), or the
    /// file is in another object format (PE, Mach-O, ...). Holds the
    /// reader's message.
    #[error("ELF: {0}")]
    Elf(String),
    /// A well-formed ELF file that is not a 64-bit BPF object: `e_machine`
    /// is not `EM_BPF` (247), or the file is 32-bit ELF (reported with its
    /// `e_machine` whatever it is). Typically a host binary or an object
    /// built for the wrong `-target`.
    #[error("not a BPF object: ELF machine {machine} (expected EM_BPF, 247)")]
    NotBpf {
        /// The `e_machine` value found in the ELF header.
        machine: u16,
    },
    /// The object has no `.BTF` section, so there is no local BTF to
    /// resolve CO-RE relocations from (compile with `clang -g`).
    #[error("no .BTF section")]
    NoBtf,
    /// The object has no `.BTF.ext` section. [`BpfObject::parse`](crate::BpfObject::parse)
    /// accepts such objects ([`BpfObject::btf_ext`](crate::BpfObject::btf_ext)
    /// is then `None`); callers that need CO-RE relocation records return
    /// this variant themselves.
    #[error("no .BTF.ext section: the object has no CO-RE relocations (built without -g?)")]
    NoBtfExt,
    /// The `.BTF` section does not parse or validate as BTF; the wrapped
    /// error names the offset and type id.
    #[error(".BTF: {0}")]
    Btf(#[from] btfkit_btf::Error),
    /// The `.BTF.ext` section fails one of the checks libbpf applies
    /// (`btf_ext__new`): magic, version, header length, 4-byte alignment of
    /// an info block, block bounds, minimum record size, empty blocks or
    /// groups.
    #[error(".BTF.ext at offset {offset:#x}: {reason}")]
    Ext {
        /// Byte offset within the `.BTF.ext` section of what is wrong: the
        /// header field (0 magic, 2 version, 4 header length), or the start
        /// of the bad info block or record group.
        offset: usize,
        /// What is wrong, in words.
        reason: String,
    },
    /// A function symbol in an executable section extends past the end of
    /// that section's data.
    #[error("section {section}: program {name} at byte {offset} (+{size}) crosses the section end ({len} bytes)")]
    ProgramOutOfSection {
        /// Name of the executable section holding the symbol.
        section: String,
        /// The function symbol's name.
        name: String,
        /// The symbol's value: its start, in bytes from the start of the
        /// section.
        offset: u64,
        /// The symbol's size in bytes.
        size: u64,
        /// The section's size in bytes.
        len: usize,
    },
    /// An executable section's size is not a multiple of 8 bytes (the
    /// size of one BPF instruction slot).
    #[error("section {section}: size {size} is not a multiple of the instruction size")]
    PartialInsn {
        /// Name of the executable section.
        section: String,
        /// Its size in bytes.
        size: usize,
    },
}

/// What went wrong with one relocation, in libbpf's terms. `errno()`
/// gives the error code libbpf returns in the same situation.
///
/// A relocation that finds no matching target is *not* an error: like
/// libbpf 1.x (`bpf_core_calc_relo_insn`), the engine then answers 0 for
/// existence and type-based kinds and poisons the instruction for field
/// and `ENUMVAL_VALUE` kinds (see
/// [`PoisonReason::NoTarget`](crate::PoisonReason::NoTarget)). Early
/// libbpf releases (before relocations were poisoned) failed such
/// relocations with `-ESRCH` ("no matching targets found"); nothing here
/// does.
///
/// Variants carrying an `insn_idx` come from patching (libbpf's
/// `bpf_core_patch_insn`); there `insn_idx` is the instruction's index
/// within its program (libbpf's `insn #N`, as in
/// [`ReloReport::prog_insn_idx`](crate::ReloReport::prog_insn_idx)), not
/// within the section, unless the variant says otherwise.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReloErrorKind {
    /// The record's `insn_off` is not a multiple of 8, so it does not
    /// point at an instruction (libbpf: `-EINVAL` before looking for the
    /// program).
    #[error("instruction offset {insn_off} is not a multiple of 8")]
    InsnOffsetMisaligned {
        /// The record's `insn_off`, in bytes from the start of the section.
        insn_off: u32,
    },
    /// The record's instruction lies past the end of its section. libbpf
    /// finds no program there and skips the record silently; an offset past
    /// the section is corrupt input, so this crate reports it.
    #[error("instruction #{insn_idx} is outside section of {insns} instructions")]
    InsnOutOfSection {
        /// Instruction index within the section (`insn_off / 8`).
        insn_idx: u32,
        /// How many instructions the section holds.
        insns: usize,
    },
    /// The `.BTF.ext` record group names a section that is not an
    /// executable section of the object (or its name offset is not a
    /// valid `.BTF` string).
    #[error("the relocation's section is not in the object")]
    NoSuchSection,
    /// The record's kind is not one of `enum bpf_core_relo_kind` 0–12
    /// (libbpf rejects it while parsing the spec, `-EINVAL`). Holds the raw
    /// kind.
    #[error("unknown relocation kind {0}")]
    UnknownKind(u32),
    /// The record's root type id is not a type of the object's `.BTF`.
    #[error("local type [{0}] does not exist")]
    NoLocalType(TypeId),
    /// The access string is malformed: empty, starting with `:`, not
    /// decimal indices separated by `:`, an index over 31 bits, more than
    /// 64 indices (`BPF_CORE_SPEC_MAX_LEN`), something other than `"0"` for
    /// a type-based kind, or more than one index for an enumerator kind.
    /// libbpf's `bpf_core_parse_spec` fails on the same strings ("parsing
    /// ... failed", folded into `-EINVAL`).
    #[error("access string {access:?}: {reason}")]
    BadAccessString {
        /// The access string, as read from `.BTF` (e.g. `"0:1:2"`).
        access: String,
        /// Which rule it breaks.
        reason: String,
    },
    /// An index of the access string is past the end of what it indexes in
    /// the local BTF: a struct/union member index not below its member
    /// count, an array index not below its length (flexible arrays
    /// excepted), or an enumerator index not below the enum's count.
    #[error(
        "access string {access:?}: index {index} at position {pos} out of range (limit {limit})"
    )]
    AccessOutOfRange {
        /// The access string.
        access: String,
        /// Position of the offending index in the access string (0 is the
        /// first index).
        pos: usize,
        /// The offending index.
        index: u32,
        /// The member, element or enumerator count it must be below.
        limit: u32,
    },
    /// The access string goes on past a type that has no members or
    /// elements (an int, pointer, enum, ...). libbpf: "captures type ... of
    /// unexpected kind", `-EINVAL`.
    #[error("access string {access:?}: position {pos} reaches type [{type_id}] of kind {kind}, which has no members or elements")]
    AccessIntoScalar {
        /// The access string.
        access: String,
        /// Position of the index that cannot be applied.
        pos: usize,
        /// The local type it would index into (modifiers and typedefs
        /// skipped).
        type_id: TypeId,
        /// That type's BTF kind, in words.
        kind: String,
    },
    /// An enumerator relocation (`ENUMVAL_EXISTS`, `ENUMVAL_VALUE`) whose
    /// local root type is not an enum or enum64 after skipping modifiers
    /// and typedefs.
    #[error("local type [{type_id}] is not an enum, as enumerator relocations need")]
    NotAnEnum {
        /// The record's root type id.
        type_id: TypeId,
    },
    /// The local root type has no name, so there is no essential name to
    /// search target candidates by. libbpf's candidate search
    /// (`bpf_core_find_cands`) rejects it with `-EINVAL`. Only
    /// `TYPE_ID_LOCAL` works on anonymous types.
    #[error("anonymous local type [{type_id}] has no name to search targets by")]
    AnonymousRoot {
        /// The record's root type id.
        type_id: TypeId,
    },
    /// A field kind other than `FIELD_BYTE_OFFSET`/`FIELD_BYTE_SIZE`
    /// (existence is handled before) on an access that ends in an array
    /// element or the root itself rather than a named member. libbpf:
    /// "can't be applied to array access", `-EINVAL`.
    #[error("{kind} cannot be applied to an array element access")]
    ArrayAccess {
        /// libbpf's short name of the relocation kind (`signed`,
        /// `lshift_u64`, ...).
        kind: &'static str,
    },
    /// A bitfield straddles an 8-byte boundary, so no naturally aligned
    /// load of at most 8 bytes covers it. libbpf: "can't be satisfied for
    /// bitfield", `-E2BIG`.
    #[error("bitfield cannot be read with a single 64-bit load")]
    BitfieldTooWide,
    /// Two matching candidates place the field at different bit offsets.
    /// libbpf: "field offset ambiguity", `-EINVAL`. Happens when a target
    /// BTF has several same-named, differently laid out types (or flavors)
    /// that all match the access.
    #[error("field offset ambiguity between candidates: bit {a} != bit {b}")]
    FieldOffsetAmbiguity {
        /// Bit offset from the root type in the later candidate.
        a: u32,
        /// Bit offset in the first (deciding) candidate.
        b: u32,
    },
    /// Two matching candidates compute a different new value, or one
    /// poisons and the other does not. libbpf: "relocation decision
    /// ambiguity", `-EINVAL`.
    #[error("relocation decision ambiguity between candidates: {a} != {b}")]
    DecisionAmbiguity {
        /// The later candidate's decision, as libbpf prints it:
        /// `success <new value>` or `failure <value>`.
        a: String,
        /// The first (deciding) candidate's decision, in the same form.
        b: String,
    },
    /// Matching a candidate needs a target access path longer than libbpf's
    /// `BPF_CORE_SPEC_MAX_LEN` (anonymous members add steps). libbpf:
    /// `-E2BIG` from `bpf_core_spec_match`. Holds the limit (64).
    #[error("access path nests deeper than {0} levels")]
    SpecTooDeep(usize),
    /// Malformed or inconsistent BTF met while parsing the spec, matching
    /// candidates or computing values. libbpf fails these with `-EINVAL`.
    /// (Shown inline, as every kind is: [`ReloError`] prints its kind.)
    #[error("malformed BTF: {0}")]
    Btf(MalformedBtf),
    /// The instruction does not hold the value the compiler computed for
    /// the local types, so it may not be the instruction the record
    /// describes. libbpf: "unexpected insn #N (CLASS) value: got X, exp Y ->
    /// Z", `-EINVAL`. Checked only when the relocation is validated
    /// (not for bitfield offsets/sizes/left shifts, nor type ids).
    #[error("unexpected instruction #{insn_idx} ({class}) value: got {got}, expected {expected} -> {new}")]
    UnexpectedInsnValue {
        /// Instruction index within its program.
        insn_idx: u32,
        /// libbpf's class label: `ALU/ALU64`, `LDX/ST/STX` or `LDIMM64`.
        class: &'static str,
        /// What the instruction holds: `imm` (as `u32`), `off` (as `u16`)
        /// or the 64-bit immediate.
        got: u64,
        /// The value computed from the local BTF.
        expected: u64,
        /// The value it would have been patched to.
        new: u64,
    },
    /// The instruction is of a kind CO-RE cannot patch: an ALU/ALU64
    /// instruction with a register source (`BPF_X`), or a jump. libbpf:
    /// `-EINVAL` ("trying to relocate unrecognized insn" for jumps).
    #[error("instruction #{insn_idx} (code {code:#04x}) cannot be relocated")]
    InsnNotPatchable {
        /// Instruction index within its program.
        insn_idx: u32,
        /// The instruction's opcode byte.
        code: u8,
    },
    /// The new offset of a load/store does not fit the signed 16-bit `off`
    /// field (it exceeds 32767). libbpf: "value too big", `-ERANGE`.
    #[error("instruction #{insn_idx} (LDX/ST/STX): offset {new} does not fit 16 bits")]
    OffsetTooBig {
        /// Instruction index within its program.
        insn_idx: u32,
        /// The new byte offset.
        new: u64,
    },
    /// The field's size changes between local and target, and the load/store
    /// does not access the local field's size, so resizing it would be
    /// wrong. libbpf: "unexpected mem size", `-EINVAL`.
    #[error("instruction #{insn_idx} (LDX/ST/STX): memory size {got}, expected {expected}")]
    UnexpectedMemSize {
        /// Instruction index within its program.
        insn_idx: u32,
        /// The instruction's access size, in bytes.
        got: u32,
        /// The local field's size, in bytes.
        expected: u32,
    },
    /// The target field's size is not 1, 2, 4 or 8 bytes, so no load/store
    /// can access it. libbpf: "invalid new mem size", `-EINVAL`.
    #[error("instruction #{insn_idx} (LDX/ST/STX): no load/store of size {size}")]
    InvalidNewMemSize {
        /// Instruction index within its program.
        insn_idx: u32,
        /// The target field's size, in bytes.
        size: u32,
    },
    /// A `BPF_LD` instruction that is not a well-formed `ld_imm64`: another
    /// `BPF_LD` mode, a non-zero `src_reg` or `off`, a second slot that is
    /// not all zero but for `imm`, or no second slot. libbpf: "(LDIMM64)
    /// has unexpected form", `-EINVAL`.
    #[error("instruction #{insn_idx} (LDIMM64) has an unexpected form")]
    BadLdImm64 {
        /// Instruction index within its program.
        insn_idx: u32,
    },
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
    /// Name of the section the relocation's instruction is in, as named by
    /// its `.BTF.ext` record group.
    pub section: String,
    /// Index of the record within its `.BTF.ext` section (libbpf's `relo #N`).
    pub index: usize,
    /// What went wrong.
    pub kind: ReloErrorKind,
}

/// What is wrong with BTF met while relocating ([`ReloErrorKind::Btf`]).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum MalformedBtf {
    /// The BTF library refused a lookup: a bad type id or string offset, a
    /// size that does not resolve (its error names which).
    #[error(transparent)]
    Lookup(Arc<btfkit_btf::Error>),
    /// A named member whose name is the empty string.
    #[error("member {idx} of [{type_id}] has an empty name")]
    EmptyMemberName {
        /// The struct or union.
        type_id: TypeId,
        /// The member's index.
        idx: u32,
    },
    /// An access string's step names a member the type does not have.
    #[error("[{type_id}] has no member {idx}")]
    NoMember {
        /// The struct or union.
        type_id: TypeId,
        /// The member index asked for.
        idx: u32,
    },
    /// An access string names an enumerator the enum does not have.
    #[error("enum [{type_id}] has no enumerator {idx}")]
    NoEnumerator {
        /// The enum.
        type_id: TypeId,
        /// The enumerator index asked for.
        idx: u32,
    },
    /// A bitfield member whose type has size 0.
    #[error("bitfield of zero-sized type [{type_id}]")]
    ZeroSizedBitfield {
        /// The member's (resolved) type.
        type_id: TypeId,
    },
    /// A type graph nested past the compatibility checks' recursion limit
    /// (libbpf's, 32 levels).
    #[error("type graph nests deeper than the recursion limit")]
    TooDeep,
}

/// Lookups compare by their text: two reads of the same bad id fail alike.
impl PartialEq for MalformedBtf {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (MalformedBtf::Lookup(a), MalformedBtf::Lookup(b)) => {
                Arc::ptr_eq(a, b) || a.to_string() == b.to_string()
            }
            _ => {
                self.to_string() == other.to_string()
                    && std::mem::discriminant(self) == std::mem::discriminant(other)
            }
        }
    }
}

impl Eq for MalformedBtf {}

impl From<btfkit_btf::Error> for MalformedBtf {
    fn from(e: btfkit_btf::Error) -> Self {
        MalformedBtf::Lookup(Arc::new(e))
    }
}
