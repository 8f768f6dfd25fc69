//! BPF instructions: the 8-byte encoding, in either byte order.
//!
//! The opcode constants carry the names and values of the kernel's uapi
//! headers (`linux/bpf_common.h`, `linux/bpf.h`); only those this crate
//! needs are defined.

use btfkit_btf::Endian;

/// Size of one instruction slot in bytes (`sizeof(struct bpf_insn)`).
/// `ld_imm64` takes two slots. Byte offsets in `.BTF.ext` and ELF
/// relocations divide by this to give instruction indexes.
pub const INSN_SIZE: usize = 8;

// Instruction classes (low 3 bits of the opcode).
/// Class `BPF_LD`: non-standard loads; here `ld_imm64` ([`LD_IMM64`]), also
/// the legacy packet loads `LD_ABS`/`LD_IND`.
pub const BPF_LD: u8 = 0x00;
/// Class `BPF_LDX`: load from memory into a register (`dst = *(size *)(src + off)`).
pub const BPF_LDX: u8 = 0x01;
/// Class `BPF_ST`: store an immediate to memory (`*(size *)(dst + off) = imm`).
pub const BPF_ST: u8 = 0x02;
/// Class `BPF_STX`: store a register to memory (`*(size *)(dst + off) = src`), and atomics.
pub const BPF_STX: u8 = 0x03;
/// Class `BPF_ALU`: 32-bit arithmetic and logic.
pub const BPF_ALU: u8 = 0x04;
/// Class `BPF_JMP`: 64-bit compares and jumps, `call` and `exit`.
pub const BPF_JMP: u8 = 0x05;
/// Class `BPF_JMP32`: jumps comparing the lower 32 bits of the operands.
pub const BPF_JMP32: u8 = 0x06;
/// Class `BPF_ALU64`: 64-bit arithmetic and logic.
pub const BPF_ALU64: u8 = 0x07;

// Size field of load/store (bits 3-4).
/// Size field `BPF_W`: a 4-byte (word) load/store.
pub const BPF_W: u8 = 0x00;
/// Size field `BPF_H`: a 2-byte (half-word) load/store.
pub const BPF_H: u8 = 0x08;
/// Size field `BPF_B`: a 1-byte load/store.
pub const BPF_B: u8 = 0x10;
/// Size field `BPF_DW`: an 8-byte (double-word) load/store; with `BPF_LD | BPF_IMM`, `ld_imm64`.
pub const BPF_DW: u8 = 0x18;

/// Mode field `BPF_IMM` (bits 5-7) of class `BPF_LD`: load an immediate.
pub const BPF_IMM: u8 = 0x00;
/// Source bit `BPF_K` (bit 3) of ALU and jump instructions: the operand is `imm`.
pub const BPF_K: u8 = 0x00;
/// Source bit `BPF_X` (bit 3) of ALU and jump instructions: the operand is `src_reg`.
pub const BPF_X: u8 = 0x08;
/// Operation `BPF_CALL` (bits 4-7) of class `BPF_JMP`: call a helper, kfunc or subprogram.
pub const BPF_CALL: u8 = 0x80;

/// `ld_imm64`: the two-slot 64-bit immediate load.
pub const LD_IMM64: u8 = BPF_LD | BPF_IMM | BPF_DW;

/// The helper id libbpf puts in a poisoned instruction (`0xbad2310`,
/// "bad relo"): a call the verifier rejects if it is reachable.
pub const POISON_HELPER: i32 = 0x0bad_2310;

/// One decoded instruction slot (`struct bpf_insn`). For `ld_imm64`,
/// each of its two slots is an `Insn` of its own; the second has code 0
/// and holds the upper 32 bits of the immediate in `imm`.
///
/// ```rust
/// use btfkit_btf::Endian;
/// use btfkit_core::insn::{Insn, BPF_LDX};
///
/// // r1 = *(u64 *)(r2 + 16): BPF_LDX | BPF_DW | BPF_MEM (0x60).
/// let bytes = [0x79, 0x21, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00];
/// let insn = Insn::decode(&bytes, Endian::Little);
/// assert_eq!(insn.class(), BPF_LDX);
/// assert_eq!((insn.dst_reg, insn.src_reg, insn.off), (1, 2, 16));
/// assert_eq!(insn.mem_size(), 8); // bytes
/// assert_eq!(insn.encode(Endian::Little), bytes);
/// // The same instruction in a big-endian object: register nibbles swap too.
/// assert_eq!(insn.encode(Endian::Big)[..4], [0x79, 0x12, 0x00, 0x10]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Insn {
    /// Opcode byte: class (bits 0-2), then size/mode or source/operation.
    pub code: u8,
    /// Destination register, 0-10 (a 4-bit field).
    pub dst_reg: u8,
    /// Source register, 0-10 (a 4-bit field); for `call` and `ld_imm64`, a
    /// pseudo value (`BPF_PSEUDO_CALL`, `BPF_PSEUDO_MAP_FD`, ...).
    pub src_reg: u8,
    /// Signed offset: bytes for loads/stores, instructions (relative to
    /// the next one) for jumps.
    pub off: i16,
    /// Signed 32-bit immediate (for `ld_imm64`, the lower half in the
    /// first slot).
    pub imm: i32,
}

impl Insn {
    /// Decodes 8 bytes in the object's byte order: in big-endian objects
    /// the register nibbles are swapped as well as the multi-byte fields.
    pub fn decode(b: &[u8; INSN_SIZE], endian: Endian) -> Insn {
        let (dst_reg, src_reg) = match endian {
            Endian::Little => (b[1] & 0x0f, b[1] >> 4),
            Endian::Big => (b[1] >> 4, b[1] & 0x0f),
        };
        let (off, imm) = match endian {
            Endian::Little => (
                i16::from_le_bytes([b[2], b[3]]),
                i32::from_le_bytes([b[4], b[5], b[6], b[7]]),
            ),
            Endian::Big => (
                i16::from_be_bytes([b[2], b[3]]),
                i32::from_be_bytes([b[4], b[5], b[6], b[7]]),
            ),
        };
        Insn {
            code: b[0],
            dst_reg,
            src_reg,
            off,
            imm,
        }
    }

    /// Encodes the instruction as 8 bytes in `endian` byte order (the
    /// inverse of [`Insn::decode`]); register numbers are masked to 4 bits.
    pub fn encode(&self, endian: Endian) -> [u8; INSN_SIZE] {
        let regs = match endian {
            Endian::Little => (self.src_reg << 4) | (self.dst_reg & 0x0f),
            Endian::Big => (self.dst_reg << 4) | (self.src_reg & 0x0f),
        };
        let (off, imm) = match endian {
            Endian::Little => (self.off.to_le_bytes(), self.imm.to_le_bytes()),
            Endian::Big => (self.off.to_be_bytes(), self.imm.to_be_bytes()),
        };
        [
            self.code, regs, off[0], off[1], imm[0], imm[1], imm[2], imm[3],
        ]
    }

    /// The instruction class (`BPF_CLASS(code)`): one of [`BPF_LD`] ..
    /// [`BPF_ALU64`].
    pub fn class(&self) -> u8 {
        self.code & 0x07
    }

    /// Whether this is the first slot of an `ld_imm64` (code
    /// [`LD_IMM64`], `0x18`).
    pub fn is_ld_imm64(&self) -> bool {
        self.code == LD_IMM64
    }

    /// Memory access size in bytes of a load/store, from the size field.
    pub fn mem_size(&self) -> u32 {
        match self.code & 0x18 {
            BPF_DW => 8,
            BPF_W => 4,
            BPF_H => 2,
            _ => 1,
        }
    }

    /// The size field for a memory access of `bytes`, if there is one.
    pub fn size_field(bytes: u32) -> Option<u8> {
        Some(match bytes {
            8 => BPF_DW,
            4 => BPF_W,
            2 => BPF_H,
            1 => BPF_B,
            _ => return None,
        })
    }

    /// The instruction libbpf substitutes for one whose relocation cannot
    /// be satisfied.
    pub fn poison() -> Insn {
        Insn {
            code: BPF_JMP | BPF_CALL,
            dst_reg: 0,
            src_reg: 0,
            off: 0,
            imm: POISON_HELPER,
        }
    }

    /// The class as a name (`LD`, `LDX`, `ST`, `STX`, `ALU`, `JMP`,
    /// `JMP32`, `ALU64`), for messages.
    pub fn class_name(&self) -> &'static str {
        match self.class() {
            BPF_LD => "LD",
            BPF_LDX => "LDX",
            BPF_ST => "ST",
            BPF_STX => "STX",
            BPF_ALU => "ALU",
            BPF_JMP => "JMP",
            BPF_JMP32 => "JMP32",
            _ => "ALU64",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_decode_both_orders() {
        let i = Insn {
            code: BPF_LDX | BPF_DW | 0x60,
            dst_reg: 3,
            src_reg: 7,
            off: -12,
            imm: 0x1234_5678,
        };
        for e in [Endian::Little, Endian::Big] {
            assert_eq!(Insn::decode(&i.encode(e), e), i);
        }
        assert_eq!(i.encode(Endian::Little)[1], 0x73);
        assert_eq!(i.encode(Endian::Big)[1], 0x37);
        assert_eq!(Insn::poison().imm, 195896080);
    }
}
