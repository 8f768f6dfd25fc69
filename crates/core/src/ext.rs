//! `.BTF.ext`: per-section func_info, line_info and CO-RE relocation
//! records. Record sizes come from the section itself (each info block
//! starts with its record size), so records newer compilers extend are
//! read by their known prefix.

use btfkit_btf::{Endian, TypeId};

use crate::error::ObjectError;

const BTF_EXT_MAGIC: u16 = 0xeb9f;
/// Header up to `line_info_len`.
const HDR_MIN: usize = 24;
/// Header with `core_relo_off/len`.
const HDR_CORE: usize = 32;

/// Which info block of `.BTF.ext`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InfoKind {
    /// `func_info`: `struct bpf_func_info` records, one per function.
    FuncInfo,
    /// `line_info`: `struct bpf_line_info` records, source line of
    /// instructions.
    LineInfo,
    /// `core_relo`: `struct bpf_core_relo` records, one per CO-RE
    /// relocation.
    CoreRelo,
}

impl InfoKind {
    /// The block's name as used in messages (`func_info`, `line_info`,
    /// `core_relo`).
    pub fn name(self) -> &'static str {
        match self {
            InfoKind::FuncInfo => "func_info",
            InfoKind::LineInfo => "line_info",
            InfoKind::CoreRelo => "core_relo",
        }
    }

    /// Smallest record size a valid block may declare.
    fn min_record(self) -> u32 {
        match self {
            InfoKind::FuncInfo => 8,
            InfoKind::LineInfo | InfoKind::CoreRelo => 16,
        }
    }
}

/// Records of one ELF section within one info block (libbpf's
/// `struct btf_ext_info_sec`).
#[derive(Clone, Copy, Debug)]
pub struct InfoGroup<'a> {
    /// Offset of the section's name in the object's `.BTF` strings.
    pub sec_name_off: u32,
    /// Offset of the first record within `.BTF.ext`.
    pub offset: usize,
    /// Size of each record in bytes, as the block declares it (at least
    /// the size of the fields read here; newer compilers may add fields).
    pub record_size: usize,
    records: &'a [u8],
    endian: Endian,
}

impl<'a> InfoGroup<'a> {
    /// Number of records in the group.
    pub fn len(&self) -> usize {
        self.records.len() / self.record_size
    }

    /// Whether the group has no records (never true for a parsed group:
    /// libbpf's checks reject empty groups).
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The `i`th record's first `n` 32-bit words.
    fn words<const N: usize>(&self, i: usize) -> [u32; N] {
        let rec = &self.records[i * self.record_size..];
        std::array::from_fn(|w| {
            let b: [u8; 4] = rec[4 * w..4 * w + 4].try_into().expect("4 bytes");
            match self.endian {
                Endian::Little => u32::from_le_bytes(b),
                Endian::Big => u32::from_be_bytes(b),
            }
        })
    }

    /// The records as CO-RE relocations. Meaningful only for groups of
    /// [`BtfExt::core_relo`].
    pub fn core_relos(&self) -> impl ExactSizeIterator<Item = CoreRelo> + '_ {
        (0..self.len()).map(|i| {
            let [insn_off, type_id, access_str_off, kind] = self.words::<4>(i);
            CoreRelo {
                insn_off,
                type_id: TypeId(type_id),
                access_str_off,
                kind,
            }
        })
    }

    /// The records as function infos. Meaningful only for groups of
    /// [`BtfExt::func_info`].
    pub fn func_infos(&self) -> impl ExactSizeIterator<Item = FuncInfo> + '_ {
        (0..self.len()).map(|i| {
            let [insn_off, type_id] = self.words::<2>(i);
            FuncInfo {
                insn_off,
                type_id: TypeId(type_id),
            }
        })
    }

    /// The records as line infos. Meaningful only for groups of
    /// [`BtfExt::line_info`].
    pub fn line_infos(&self) -> impl ExactSizeIterator<Item = LineInfo> + '_ {
        (0..self.len()).map(|i| {
            let [insn_off, file_name_off, line_off, line_col] = self.words::<4>(i);
            LineInfo {
                insn_off,
                file_name_off,
                line_off,
                line: line_col >> 10,
                col: line_col & 0x3ff,
            }
        })
    }
}

/// `struct bpf_core_relo`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CoreRelo {
    /// Byte offset of the instruction within its section.
    pub insn_off: u32,
    /// The local (object BTF) root type.
    pub type_id: TypeId,
    /// Offset of the access string ("0:1:2") in the object's `.BTF` strings.
    pub access_str_off: u32,
    /// `enum bpf_core_relo_kind`, kept raw: an unknown value is an error
    /// of that relocation, not of the whole object.
    pub kind: u32,
}

/// `struct bpf_func_info`: the BTF function type of the function starting
/// at an instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FuncInfo {
    /// Byte offset of the function's first instruction within its section
    /// (in the ELF file this is bytes; the kernel wants instruction
    /// indexes, which libbpf computes by dividing by 8).
    pub insn_off: u32,
    /// The function's `BTF_KIND_FUNC` type in the object's `.BTF`.
    pub type_id: TypeId,
}

/// `struct bpf_line_info`: the source position of the instructions from
/// `insn_off` on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LineInfo {
    /// Byte offset of the instruction within its section.
    pub insn_off: u32,
    /// Offset of the source file name in the object's `.BTF` strings.
    pub file_name_off: u32,
    /// Offset of the source line's text in the object's `.BTF` strings.
    pub line_off: u32,
    /// Line number (upper 22 bits of `line_col`, `BPF_LINE_INFO_LINE_NUM`).
    pub line: u32,
    /// Column (lower 10 bits of `line_col`, `BPF_LINE_INFO_LINE_COL`).
    pub col: u32,
}

/// A parsed `.BTF.ext` section.
#[derive(Clone, Debug)]
pub struct BtfExt<'a> {
    /// Byte order of the section (that of the object's `.BTF`).
    pub endian: Endian,
    /// Header length in bytes (`hdr_len`); the info blocks' offsets count
    /// from its end. At least 24; 32 or more when the header has the
    /// `core_relo_off`/`core_relo_len` fields.
    pub hdr_len: usize,
    /// The `func_info` block: one group per ELF section.
    pub func_info: Vec<InfoGroup<'a>>,
    /// The `line_info` block: one group per ELF section.
    pub line_info: Vec<InfoGroup<'a>>,
    /// The `core_relo` block: one group per ELF section with CO-RE
    /// relocations, in file order (the order libbpf processes them in).
    /// Empty when the header has no `core_relo_off`/`core_relo_len`.
    pub core_relo: Vec<InfoGroup<'a>>,
    /// Byte offset of the `core_relo_len` header field (for rewriting).
    pub core_relo_len_field: Option<usize>,
}

fn err(offset: usize, reason: impl Into<String>) -> ObjectError {
    ObjectError::Ext {
        offset,
        reason: reason.into(),
    }
}

impl<'a> BtfExt<'a> {
    /// Parses `.BTF.ext` with the checks libbpf applies (alignment, bounds,
    /// minimum record sizes, non-empty groups), in the byte order of the
    /// object's `.BTF`.
    pub fn parse(data: &'a [u8], endian: Endian) -> Result<BtfExt<'a>, ObjectError> {
        if data.len() < 8 {
            return Err(err(0, format!("truncated header ({} bytes)", data.len())));
        }
        let u32_at = |off: usize| -> u32 {
            let b: [u8; 4] = data[off..off + 4].try_into().expect("4 bytes");
            match endian {
                Endian::Little => u32::from_le_bytes(b),
                Endian::Big => u32::from_be_bytes(b),
            }
        };
        let magic = match endian {
            Endian::Little => u16::from_le_bytes([data[0], data[1]]),
            Endian::Big => u16::from_be_bytes([data[0], data[1]]),
        };
        if magic != BTF_EXT_MAGIC {
            return Err(err(0, format!("bad magic {magic:#06x}")));
        }
        if data[2] != 1 {
            return Err(err(2, format!("unsupported version {}", data[2])));
        }
        let hdr_len = u32_at(4) as usize;
        if hdr_len < HDR_MIN || hdr_len > data.len() {
            return Err(err(
                4,
                format!(
                    "header length {hdr_len} invalid for a {}-byte section",
                    data.len()
                ),
            ));
        }
        let mut ext = BtfExt {
            endian,
            hdr_len,
            func_info: Vec::new(),
            line_info: Vec::new(),
            core_relo: Vec::new(),
            core_relo_len_field: None,
        };
        ext.func_info = parse_block(
            data,
            hdr_len,
            InfoKind::FuncInfo,
            u32_at(8),
            u32_at(12),
            endian,
        )?;
        ext.line_info = parse_block(
            data,
            hdr_len,
            InfoKind::LineInfo,
            u32_at(16),
            u32_at(20),
            endian,
        )?;
        if hdr_len >= HDR_CORE {
            ext.core_relo = parse_block(
                data,
                hdr_len,
                InfoKind::CoreRelo,
                u32_at(24),
                u32_at(28),
                endian,
            )?;
            ext.core_relo_len_field = Some(28);
        }
        Ok(ext)
    }

    /// Total number of CO-RE relocation records.
    pub fn core_relo_count(&self) -> usize {
        self.core_relo.iter().map(InfoGroup::len).sum()
    }
}

fn parse_block<'a>(
    data: &'a [u8],
    hdr_len: usize,
    kind: InfoKind,
    off: u32,
    len: u32,
    endian: Endian,
) -> Result<Vec<InfoGroup<'a>>, ObjectError> {
    let what = kind.name();
    if len == 0 {
        return Ok(Vec::new());
    }
    let start = hdr_len + off as usize;
    if off % 4 != 0 {
        return Err(err(start, format!("{what} block is not 4-byte aligned")));
    }
    let end = start as u64 + len as u64;
    if end > data.len() as u64 {
        return Err(err(
            start,
            format!("{what} block (off {off}, len {len}) runs past the section end"),
        ));
    }
    let block = &data[start..end as usize];
    if block.len() < 4 {
        return Err(err(start, format!("{what} block has no record size")));
    }
    let word = |b: &[u8], o: usize| -> u32 {
        let w: [u8; 4] = b[o..o + 4].try_into().expect("4 bytes");
        match endian {
            Endian::Little => u32::from_le_bytes(w),
            Endian::Big => u32::from_be_bytes(w),
        }
    };
    let rec_size = word(block, 0);
    if rec_size < kind.min_record() || rec_size % 4 != 0 {
        return Err(err(start, format!("{what} record size {rec_size} invalid")));
    }
    let mut pos = 4usize;
    if pos == block.len() {
        return Err(err(start, format!("{what} block has no records")));
    }
    let mut groups = Vec::new();
    while pos < block.len() {
        if block.len() - pos < 8 {
            return Err(err(start + pos, format!("{what} group header truncated")));
        }
        let sec_name_off = word(block, pos);
        let num = word(block, pos + 4);
        if num == 0 {
            return Err(err(start + pos, format!("{what} group with zero records")));
        }
        let bytes = num as u64 * rec_size as u64;
        if bytes > (block.len() - pos - 8) as u64 {
            return Err(err(
                start + pos,
                format!("{what} group of {num} records of {rec_size} bytes runs past the block"),
            ));
        }
        let rstart = pos + 8;
        groups.push(InfoGroup {
            sec_name_off,
            offset: start + rstart,
            record_size: rec_size as usize,
            records: &block[rstart..rstart + bytes as usize],
            endian,
        });
        pos = rstart + bytes as usize;
    }
    Ok(groups)
}
