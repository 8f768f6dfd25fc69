//! Reading relocatable BPF ELF objects as clang emits them: program
//! sections and their programs (one per function symbol, `.text`
//! subprograms included), maps, license, `.BTF` and `.BTF.ext`.

use std::borrow::Cow;

use btfkit_btf::{Btf, Endian};
use object::{Object, ObjectSection, ObjectSymbol, SectionKind, SymbolKind};

use crate::error::ObjectError;
use crate::ext::BtfExt;
use crate::insn::{Insn, INSN_SIZE};

/// An ELF section of the object.
#[derive(Clone, Debug)]
pub struct Section<'a> {
    /// ELF section index.
    pub index: usize,
    /// Section name as in the ELF file (for programs with libbpf's `?`
    /// no-autoload prefix, still with it).
    pub name: String,
    /// The section's contents, borrowed from the file; empty for
    /// `SHT_NOBITS` sections such as `.bss`.
    pub data: &'a [u8],
    /// Byte offset of the section's contents in the file (0 when it has
    /// none in the file).
    pub file_offset: u64,
    /// `SHF_EXECINSTR`: holds BPF instructions.
    pub executable: bool,
}

/// A BPF program or subprogram: a function symbol in an executable section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Program {
    /// The function symbol's name.
    pub name: String,
    /// ELF index of its section.
    pub section: usize,
    /// Section name, without libbpf's `?` no-autoload prefix.
    pub section_name: String,
    /// First instruction, counted from the start of the section.
    pub insn_off: usize,
    /// Length in instructions (8-byte slots, so `ld_imm64` counts twice):
    /// the symbol's size divided by 8.
    pub insn_cnt: usize,
    /// Global (or weak) symbol; static functions are subprograms only.
    pub global: bool,
    /// libbpf loads it by default (`?` section prefix turns that off).
    pub autoload: bool,
    /// In `.text`: a subprogram called by other programs.
    pub is_subprog: bool,
}

/// A map defined in the object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapDef {
    /// The map's symbol name (the variable name in the BPF C source).
    pub name: String,
    /// `.maps` (BTF-defined) or `maps` (legacy).
    pub section: String,
}

/// A parsed BPF object. Borrows the file's bytes.
pub struct BpfObject<'a> {
    data: &'a [u8],
    endian: Endian,
    sections: Vec<Section<'a>>,
    programs: Vec<Program>,
    maps: Vec<MapDef>,
    license: Option<String>,
    kern_version: Option<u32>,
    btf: Btf<'a>,
    btf_ext: Option<BtfExt<'a>>,
    btf_ext_offset: Option<u64>,
}

impl<'a> BpfObject<'a> {
    /// Parses a relocatable BPF ELF object (64-bit, `EM_BPF`, either byte
    /// order) from its bytes, which it borrows: sections, programs and
    /// subprograms (function symbols in executable sections), maps (data
    /// symbols in `.maps` or `maps`), `license`, `version`, `.BTF`
    /// (required) and `.BTF.ext` (optional).
    ///
    /// Fails with [`ObjectError`] when the file is not such an object or
    /// one of those parts is malformed.
    pub fn parse(data: &'a [u8]) -> Result<BpfObject<'a>, ObjectError> {
        let file = object::File::parse(data).map_err(|e| ObjectError::Elf(e.to_string()))?;
        if let object::File::Elf64(ref elf) = file {
            let machine = elf.elf_header().e_machine.get(elf.endian());
            if machine != 247 {
                return Err(ObjectError::NotBpf { machine });
            }
        } else if let object::File::Elf32(ref elf) = file {
            let machine = elf.elf_header().e_machine.get(elf.endian());
            return Err(ObjectError::NotBpf { machine });
        } else {
            return Err(ObjectError::Elf("not an ELF file".into()));
        }
        let endian = if file.is_little_endian() {
            Endian::Little
        } else {
            Endian::Big
        };
        let mut sections = Vec::new();
        for s in file.sections() {
            let name = s
                .name()
                .map_err(|e| ObjectError::Elf(e.to_string()))?
                .to_string();
            let data = if s.kind() == SectionKind::UninitializedData {
                &[][..]
            } else {
                s.data()
                    .map_err(|e| ObjectError::Elf(format!("section {name}: {e}")))?
            };
            let executable =
                matches!(s.flags(), object::SectionFlags::Elf { sh_flags } if sh_flags & 0x4 != 0);
            sections.push(Section {
                index: s.index().0,
                name,
                data,
                file_offset: s.file_range().map_or(0, |(o, _)| o),
                executable,
            });
        }
        let by_index = |i: usize| sections.iter().find(|s| s.index == i);
        let mut programs = Vec::new();
        let mut maps = Vec::new();
        for sym in file.symbols() {
            let Some(si) = sym.section_index() else {
                continue;
            };
            let Some(sec) = by_index(si.0) else { continue };
            let name = sym.name().unwrap_or("").to_string();
            let (global, _visibility) = match sym.flags() {
                object::SymbolFlags::Elf { st_info, st_other } => (st_info >> 4 != 0, st_other & 3),
                _ => (sym.is_global(), 0),
            };
            if sec.name == ".maps" || sec.name == "maps" {
                if !name.is_empty() && sym.kind() == SymbolKind::Data {
                    maps.push(MapDef {
                        name,
                        section: sec.name.clone(),
                    });
                }
                continue;
            }
            if !sec.executable || sym.kind() != SymbolKind::Text {
                continue;
            }
            let (off, size) = (sym.address(), sym.size());
            if off
                .checked_add(size)
                .is_none_or(|end| end > sec.data.len() as u64)
            {
                return Err(ObjectError::ProgramOutOfSection {
                    section: sec.name.clone(),
                    name,
                    offset: off,
                    size,
                    len: sec.data.len(),
                });
            }
            let (section_name, autoload) = match sec.name.strip_prefix('?') {
                Some(rest) => (rest.to_string(), false),
                None => (sec.name.clone(), true),
            };
            programs.push(Program {
                name,
                section: sec.index,
                is_subprog: sec.name == ".text",
                section_name,
                insn_off: off as usize / INSN_SIZE,
                insn_cnt: size as usize / INSN_SIZE,
                global,
                autoload,
            });
        }
        // libbpf keeps programs sorted by section and offset, and finds the
        // program of an instruction by binary search over that order.
        programs.sort_by_key(|p| (p.section, p.insn_off));
        for s in sections.iter().filter(|s| s.executable) {
            if s.data.len() % INSN_SIZE != 0 {
                return Err(ObjectError::PartialInsn {
                    section: s.name.clone(),
                    size: s.data.len(),
                });
            }
        }
        let section_data = |name: &str| sections.iter().find(|s| s.name == name);
        let license = section_data("license").map(|s| {
            let end = memchr::memchr(0, s.data).unwrap_or(s.data.len());
            String::from_utf8_lossy(&s.data[..end]).into_owned()
        });
        let kern_version = section_data("version").and_then(|s| {
            let b: [u8; 4] = s.data.get(..4)?.try_into().ok()?;
            Some(match endian {
                Endian::Little => u32::from_le_bytes(b),
                Endian::Big => u32::from_be_bytes(b),
            })
        });
        let btf_sec = section_data(".BTF").ok_or(ObjectError::NoBtf)?;
        let btf = Btf::parse_cow(Cow::Borrowed(btf_sec.data), None)?;
        let (btf_ext, btf_ext_offset) = match section_data(".BTF.ext") {
            Some(s) => (
                Some(BtfExt::parse(s.data, btf.endian())?),
                Some(s.file_offset),
            ),
            None => (None, None),
        };
        Ok(BpfObject {
            data,
            endian,
            sections,
            programs,
            maps,
            license,
            kern_version,
            btf,
            btf_ext,
            btf_ext_offset,
        })
    }

    /// The file's bytes.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// The object's byte order, from the ELF header (instructions are
    /// decoded in it).
    pub fn endian(&self) -> Endian {
        self.endian
    }

    /// The ELF sections, in section index order.
    pub fn sections(&self) -> &[Section<'a>] {
        &self.sections
    }

    /// The first section named exactly `name` (the full ELF name, `?`
    /// prefix included).
    pub fn section_by_name(&self, name: &str) -> Option<&Section<'a>> {
        self.sections.iter().find(|s| s.name == name)
    }

    /// The section with ELF index `index`.
    pub fn section(&self, index: usize) -> Option<&Section<'a>> {
        // Sections are read in ELF index order: relocation passes ask for
        // one per relocation, so search rather than scan.
        let i = self
            .sections
            .binary_search_by_key(&index, |s| s.index)
            .ok()?;
        self.sections.get(i)
    }

    /// Programs and subprograms, sorted by section and offset.
    pub fn programs(&self) -> &[Program] {
        &self.programs
    }

    /// The program holding instruction `insn_idx` of section `section`.
    pub fn program_at(&self, section: usize, insn_idx: usize) -> Option<&Program> {
        self.program_index_at(section, insn_idx)
            .map(|i| &self.programs[i])
    }

    /// `program_at`, as a position in [`BpfObject::programs`].
    pub fn program_index_at(&self, section: usize, insn_idx: usize) -> Option<usize> {
        let i = self
            .programs
            .partition_point(|p| (p.section, p.insn_off) <= (section, insn_idx))
            .checked_sub(1)?;
        let p = &self.programs[i];
        (p.section == section && insn_idx < p.insn_off + p.insn_cnt).then_some(i)
    }

    /// Maps defined in `.maps` (BTF-defined) or `maps` (legacy), in
    /// symbol table order.
    pub fn maps(&self) -> &[MapDef] {
        &self.maps
    }

    /// The `license` section's string, up to its first NUL (invalid UTF-8
    /// replaced); `None` without the section.
    pub fn license(&self) -> Option<&str> {
        self.license.as_deref()
    }

    /// The `version` section's `u32` (`KERNEL_VERSION(a, b, c)` as old
    /// kprobe programs declare it), in the object's byte order; `None`
    /// without the section or when it is shorter than 4 bytes.
    pub fn kern_version(&self) -> Option<u32> {
        self.kern_version
    }

    /// The object's own BTF (the "local" BTF of CO-RE).
    pub fn btf(&self) -> &Btf<'a> {
        &self.btf
    }

    /// The parsed `.BTF.ext` section (func_info, line_info and CO-RE
    /// relocation records), when the object has one.
    pub fn btf_ext(&self) -> Option<&BtfExt<'a>> {
        self.btf_ext.as_ref()
    }

    /// File offset of `.BTF.ext`, when present.
    pub fn btf_ext_file_offset(&self) -> Option<u64> {
        self.btf_ext_offset
    }

    /// Instruction `idx` of an executable section.
    pub fn insn(&self, section: &Section<'_>, idx: usize) -> Option<Insn> {
        let b = section
            .data
            .get(idx * INSN_SIZE..idx * INSN_SIZE + INSN_SIZE)?;
        Some(Insn::decode(b.try_into().expect("8 bytes"), self.endian))
    }
}
