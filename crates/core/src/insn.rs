//! BPF instructions: the 8-byte encoding, in either byte order.

use btfkit_btf::Endian;

pub const INSN_SIZE: usize = 8;

// Instruction classes (low 3 bits of the opcode).
pub const BPF_LD: u8 = 0x00;
pub const BPF_LDX: u8 = 0x01;
pub const BPF_ST: u8 = 0x02;
pub const BPF_STX: u8 = 0x03;
pub const BPF_ALU: u8 = 0x04;
pub const BPF_JMP: u8 = 0x05;
pub const BPF_JMP32: u8 = 0x06;
pub const BPF_ALU64: u8 = 0x07;

// Size field of load/store (bits 3-4).
pub const BPF_W: u8 = 0x00;
pub const BPF_H: u8 = 0x08;
pub const BPF_B: u8 = 0x10;
pub const BPF_DW: u8 = 0x18;

pub const BPF_IMM: u8 = 0x00;
pub const BPF_K: u8 = 0x00;
pub const BPF_X: u8 = 0x08;
pub const BPF_CALL: u8 = 0x80;

/// `ld_imm64`: the two-slot 64-bit immediate load.
pub const LD_IMM64: u8 = BPF_LD | BPF_IMM | BPF_DW;

/// The helper id libbpf puts in a poisoned instruction (`0xbad2310`,
/// "bad relo"): a call the verifier rejects if it is reachable.
pub const POISON_HELPER: i32 = 0x0bad_2310;

/// One decoded instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Insn {
    pub code: u8,
    pub dst_reg: u8,
    pub src_reg: u8,
    pub off: i16,
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

    pub fn class(&self) -> u8 {
        self.code & 0x07
    }

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
