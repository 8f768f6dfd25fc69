//! Patching the relocated instruction with libbpf's checks
//! (`bpf_core_patch_insn`): the instruction must hold the value the
//! compiler computed for the local types (unless that value is not
//! checkable), load/store sizes may only change where the value survives,
//! and unresolvable relocations poison the instruction.

use crate::calc::RelocRes;
use crate::error::ReloErrorKind;
use crate::insn::{Insn, BPF_ALU, BPF_ALU64, BPF_K, BPF_LD, BPF_LDX, BPF_ST, BPF_STX};

/// What patching did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Patch {
    /// The value in the instruction changed (or stayed) from `old` to `new`.
    Value {
        /// Which part of the instruction holds the value.
        field: PatchedField,
        /// The value the instruction held, sign-extended to 64 bits for
        /// `imm` and `off` (the 64-bit immediate as is). Equal to the
        /// compiler's value for the local types when the relocation is
        /// validated.
        old: u64,
        /// The value computed for the target: an offset or size in bytes, a
        /// shift in bits, a type id, 0/1, an enumerator value..., depending
        /// on the relocation kind. An ALU immediate receives its low 32
        /// bits.
        new: u64,
        /// Load/store size change, in bytes: `(old, new)`, when the field's
        /// size differs between local and target and the access was
        /// resized; `None` otherwise.
        mem_size: Option<(u32, u32)>,
    },
    /// The instruction (both halves of an ld_imm64) became a call to the
    /// invalid helper 0xbad2310.
    Poisoned(PoisonReason),
}

/// The instruction field a relocation patches, by instruction class (as in
/// libbpf's `bpf_core_patch_insn`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchedField {
    /// `imm` of an ALU/ALU64 instruction.
    AluImm,
    /// `off` of a load or store.
    MemOff,
    /// The 64-bit immediate of ld_imm64.
    Imm64,
}

impl PatchedField {
    /// libbpf's name for the instruction class in its messages.
    pub fn class_name(self) -> &'static str {
        match self {
            PatchedField::AluImm => "ALU/ALU64",
            PatchedField::MemOff => "LDX/ST/STX",
            PatchedField::Imm64 => "LDIMM64",
        }
    }
}

/// Why an instruction was poisoned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoisonReason {
    /// No candidate matched and the kind needs a target: the field kinds
    /// other than `FIELD_EXISTS`, and `ENUMVAL_VALUE` (type-based kinds
    /// give 0 instead, as in libbpf). The load fails only if the verifier
    /// reaches the instruction.
    NoTarget,
    /// The field's size changed in a way a load/store cannot follow
    /// (signed integers, mismatched kinds): only pointers and unsigned
    /// integers may be resized. libbpf poisons the same load/store, warning
    /// that it "accesses field incorrectly".
    MemSizeMismatch,
}

impl std::fmt::Display for PoisonReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PoisonReason::NoTarget => "no matching target",
            PoisonReason::MemSizeMismatch => "field size changed and the access cannot be resized",
        })
    }
}

/// Patches `insns[0]` (and `insns[1]` for ld_imm64). `insns` starts at the
/// relocated instruction; `insn_idx` is only used in errors.
pub fn patch_insn(
    insns: &mut [Insn],
    insn_idx: u32,
    res: &RelocRes,
) -> Result<Patch, ReloErrorKind> {
    let insn = insns[0];
    let poison = |insns: &mut [Insn], reason| {
        if insns[0].is_ld_imm64() && insns.len() > 1 {
            insns[1] = Insn::poison();
        }
        insns[0] = Insn::poison();
        Patch::Poisoned(reason)
    };
    if res.poison {
        return Ok(poison(insns, PoisonReason::NoTarget));
    }
    let (orig, new) = (res.orig_val, res.new_val);
    let unexpected = |class, got| ReloErrorKind::UnexpectedInsnValue {
        insn_idx,
        class,
        got,
        expected: orig,
        new,
    };
    match insn.class() {
        BPF_ALU | BPF_ALU64 => {
            if insn.code & 0x08 != BPF_K {
                return Err(ReloErrorKind::InsnNotPatchable {
                    insn_idx,
                    code: insn.code,
                });
            }
            // libbpf compares the s32 immediate with the u64 value after
            // the usual conversion (sign extension).
            let imm = insn.imm as i64 as u64;
            if res.validate && imm != orig {
                return Err(unexpected("ALU/ALU64", insn.imm as u32 as u64));
            }
            insns[0].imm = new as i32;
            Ok(Patch::Value {
                field: PatchedField::AluImm,
                old: imm,
                new,
                mem_size: None,
            })
        }
        BPF_LDX | BPF_ST | BPF_STX => {
            let off = insn.off as i64 as u64;
            if res.validate && off != orig {
                return Err(unexpected("LDX/ST/STX", insn.off as u16 as u64));
            }
            if new > i16::MAX as u64 {
                return Err(ReloErrorKind::OffsetTooBig { insn_idx, new });
            }
            if res.fail_memsz_adjust {
                return Ok(poison(insns, PoisonReason::MemSizeMismatch));
            }
            insns[0].off = new as i16;
            let mut mem_size = None;
            if res.new_sz != res.orig_sz {
                let got = insn.mem_size();
                if got != res.orig_sz {
                    return Err(ReloErrorKind::UnexpectedMemSize {
                        insn_idx,
                        got,
                        expected: res.orig_sz,
                    });
                }
                let size =
                    Insn::size_field(res.new_sz).ok_or(ReloErrorKind::InvalidNewMemSize {
                        insn_idx,
                        size: res.new_sz,
                    })?;
                insns[0].code = (insn.code & 0xe0) | size | insn.class();
                mem_size = Some((res.orig_sz, res.new_sz));
            }
            Ok(Patch::Value {
                field: PatchedField::MemOff,
                old: off,
                new,
                mem_size,
            })
        }
        BPF_LD => {
            let second = insns.get(1).copied();
            let well_formed = insn.is_ld_imm64()
                && insn.src_reg == 0
                && insn.off == 0
                && second
                    .is_some_and(|s| s.code == 0 && s.dst_reg == 0 && s.src_reg == 0 && s.off == 0);
            let Some(second) = second.filter(|_| well_formed) else {
                return Err(ReloErrorKind::BadLdImm64 { insn_idx });
            };
            let imm = (insn.imm as u32 as u64) | ((second.imm as u32 as u64) << 32);
            if res.validate && imm != orig {
                return Err(unexpected("LDIMM64", imm));
            }
            insns[0].imm = new as i32;
            insns[1].imm = (new >> 32) as i32;
            Ok(Patch::Value {
                field: PatchedField::Imm64,
                old: imm,
                new,
                mem_size: None,
            })
        }
        _ => Err(ReloErrorKind::InsnNotPatchable {
            insn_idx,
            code: insn.code,
        }),
    }
}
