//! The ELF side: DWARF sections (decompressed, with relocations applied
//! for relocatable objects such as kernel modules), function symbols, and
//! the per-CPU section of a kernel.

use std::borrow::Cow;
use std::collections::HashSet;

use object::{Object, ObjectSection, ObjectSymbol, RelocationTarget, SectionKind, SymbolKind};

use crate::EncodeError;

/// A per-CPU variable's symbol.
pub struct PercpuSymbol {
    pub name: String,
    pub offset: u32,
    pub size: u32,
}

/// A kernel's `.data..percpu`.
pub struct Percpu {
    /// The section's address (0 in a vmlinux: per-CPU offsets).
    pub address: u64,
    /// A module (relocatable object), where offset 0 is a variable like
    /// any other.
    pub relocatable: bool,
    pub size: u32,
    pub symbols: Vec<PercpuSymbol>,
}

/// What the encoder needs from an ELF file.
pub struct ElfDwarf<'d> {
    pub little_endian: bool,
    /// DWARF sections by name (`.debug_info`, ...).
    pub sections: Vec<(String, Cow<'d, [u8]>)>,
    /// Defined function symbols: the functions that exist in the binary.
    pub functions: HashSet<String>,
    pub percpu: Option<Percpu>,
    /// A kernel module (relocatable, with `.modinfo`).
    pub kernel_module: bool,
}

impl<'d> ElfDwarf<'d> {
    pub fn section(&self, name: &str) -> &[u8] {
        self.sections
            .iter()
            .find(|(n, _)| n == name)
            .map_or(&[], |(_, d)| d)
    }

    /// The input: an executable, library, kernel or module with DWARF.
    pub fn load(data: &'d [u8]) -> Result<Self, EncodeError> {
        Self::load_with(data, false)
    }

    /// A split-DWARF file (`.dwo` or `.dwp`): its `.debug_*.dwo` sections
    /// only.
    pub fn load_split(data: &'d [u8]) -> Result<Self, EncodeError> {
        Self::load_with(data, true)
    }

    fn load_with(data: &'d [u8], split: bool) -> Result<Self, EncodeError> {
        let file = object::File::parse(data).map_err(|e| EncodeError::NotElf(e.to_string()))?;
        if file.format() != object::BinaryFormat::Elf {
            return Err(EncodeError::NotElf(format!("{:?} file", file.format())));
        }
        let relocatable = file.kind() == object::ObjectKind::Relocatable;
        let mut sections = Vec::new();
        for s in file.sections() {
            let Ok(name) = s.name() else { continue };
            if !name.starts_with(".debug_") && !name.starts_with(".zdebug_") {
                continue;
            }
            let name = name.replacen(".zdebug_", ".debug_", 1);
            let mut bytes = s
                .uncompressed_data()
                .map_err(|e| EncodeError::Elf(format!("{name}: {e}")))?;
            if relocatable {
                apply_relocations(&file, &s, bytes.to_mut(), &name)?;
            }
            sections.push((name, bytes));
        }
        if split {
            return Ok(ElfDwarf {
                little_endian: file.is_little_endian(),
                sections,
                functions: HashSet::new(),
                percpu: None,
                kernel_module: false,
            });
        }
        if !sections
            .iter()
            .any(|(n, d)| n == ".debug_info" && !d.is_empty())
        {
            return Err(EncodeError::NoDwarf);
        }
        let mut functions = HashSet::new();
        let mut percpu = None;
        let percpu_sec = file
            .sections()
            .find(|s| s.name() == Ok(".data..percpu"))
            .map(|s| (s.index(), s.address(), s.size()));
        let mut percpu_syms = Vec::new();
        for sym in file.symbols() {
            if !sym.is_definition() {
                continue;
            }
            let Ok(name) = sym.name() else { continue };
            if name.is_empty() {
                continue;
            }
            match sym.kind() {
                SymbolKind::Text => {
                    functions.insert(name.to_string());
                }
                SymbolKind::Data => {
                    if let Some((idx, addr, _)) = percpu_sec {
                        if sym.section_index() == Some(idx) && sym.size() > 0 {
                            percpu_syms.push(PercpuSymbol {
                                name: name.to_string(),
                                offset: sym.address().saturating_sub(addr) as u32,
                                size: sym.size() as u32,
                            });
                        }
                    }
                }
                _ => {}
            }
        }
        if let Some((_, address, size)) = percpu_sec {
            percpu_syms.sort_by_key(|s| s.offset);
            percpu = Some(Percpu {
                address,
                relocatable,
                size: size as u32,
                symbols: percpu_syms,
            });
        }
        Ok(ElfDwarf {
            little_endian: file.is_little_endian(),
            sections,
            functions,
            percpu,
            kernel_module: relocatable && file.section_by_name(".modinfo").is_some(),
        })
    }
}

/// Applies a relocatable object's relocations to one of its debug
/// sections (references into `.debug_str`, `.debug_abbrev`, ... are
/// relocations there).
fn apply_relocations(
    file: &object::File<'_>,
    s: &object::Section<'_, '_>,
    bytes: &mut [u8],
    name: &str,
) -> Result<(), EncodeError> {
    let le = file.is_little_endian();
    for (offset, r) in s.relocations() {
        let value = match r.target() {
            RelocationTarget::Symbol(idx) => {
                let sym = file.symbol_by_index(idx).map_err(|e| {
                    EncodeError::Elf(format!("{name}: relocation at {offset:#x}: {e}"))
                })?;
                let base = match sym
                    .section_index()
                    .and_then(|si| file.section_by_index(si).ok())
                {
                    // A section symbol in a relocatable object stands for the
                    // section's start, which is 0 in the section's own terms.
                    Some(sec)
                        if sym.kind() == SymbolKind::Section
                            || sec.kind() == SectionKind::Debug =>
                    {
                        0
                    }
                    _ => sym.address(),
                };
                (base as i64).wrapping_add(r.addend()) as u64
            }
            RelocationTarget::Absolute => r.addend() as u64,
            _ => continue,
        };
        let size = (r.size() / 8) as usize;
        let dst = usize::try_from(offset)
            .ok()
            .and_then(|at| Some(at..at.checked_add(size)?))
            .and_then(|range| bytes.get_mut(range));
        let Some(dst) = dst else {
            return Err(EncodeError::Elf(format!(
                "{name}: relocation at {offset:#x} outside the section"
            )));
        };
        match (size, le) {
            (4, true) => dst.copy_from_slice(&(value as u32).to_le_bytes()),
            (4, false) => dst.copy_from_slice(&(value as u32).to_be_bytes()),
            (8, true) => dst.copy_from_slice(&value.to_le_bytes()),
            (8, false) => dst.copy_from_slice(&value.to_be_bytes()),
            _ => {}
        }
    }
    Ok(())
}

/// Reads an ELF file for [`crate::encode`]: a buffer of the file's size
/// holding only what the encoder reads (headers, the DWARF sections it
/// uses, the symbol table; for a relocatable object, the relocations of
/// its DWARF). The rest stays zero and, never touched, costs no memory: a
/// kernel's vmlinux is two-thirds code, relocations of its debug info and
/// location lists. A file that is not ELF is read whole (for
/// `encode` to report).
///
/// Only a regular file is read (a FIFO or `/dev/zero` is refused), of at
/// most 4 GiB ([`Limit::Large`](btfkit_btf::input::Limit)); errors name
/// the file.
pub fn read_for_encoding(path: &std::path::Path) -> Result<Vec<u8>, btfkit_btf::Error> {
    let mut file = btfkit_btf::input::open(path)?;
    read_opened_for_encoding(&mut file, path)
}

/// [`read_for_encoding`] of a file already opened with
/// [`btfkit_btf::input::open`] (so known to be regular); `path` names it in
/// errors.
pub fn read_opened_for_encoding(
    file: &mut std::fs::File,
    path: &std::path::Path,
) -> Result<Vec<u8>, btfkit_btf::Error> {
    use btfkit_btf::input::Limit;
    use std::io::{Read, Seek, SeekFrom};
    let io = |e: std::io::Error| btfkit_btf::Error::Io(e).in_file(path);
    let max = Limit::Large.max_bytes();
    let len = file.metadata().map_err(io)?.len();
    if len > max {
        return Err(btfkit_btf::Error::InputTooLarge {
            what: Limit::Large.what(),
            max,
        }
        .in_file(path));
    }
    let ranges = {
        let cache = object::ReadCache::new(&mut *file);
        object::File::parse(&cache)
            .ok()
            .map(|elf| needed_ranges(&elf, len))
    };
    let Some(ranges) = ranges else {
        // Not ELF (or not readable as ELF): read whole, for `encode` to
        // say what is wrong.
        let mut all = Vec::with_capacity(len as usize);
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        file.take(len).read_to_end(&mut all).map_err(io)?;
        return Ok(all);
    };
    let mut buf = vec![0u8; len as usize];
    for (off, size) in ranges {
        let end = off.saturating_add(size).min(len);
        if off >= end {
            continue;
        }
        file.seek(SeekFrom::Start(off)).map_err(io)?;
        file.read_exact(&mut buf[off as usize..end as usize])
            .map_err(io)?;
    }
    Ok(buf)
}

/// The (offset, size) ranges of an ELF file that [`crate::encode`] reads,
/// found from `headers`: a buffer of the file's size in which at least
/// the ELF header, the section header table and the section names are
/// filled in (a file streamed from a package, whose section table comes
/// last). `None` when those do not parse.
pub fn ranges_for_encoding(headers: &[u8]) -> Option<Vec<(u64, u64)>> {
    let elf = object::File::parse(headers).ok()?;
    Some(needed_ranges(&elf, headers.len() as u64))
}

/// The (offset, size) ranges of an ELF file that the encoder reads: the
/// start of the file (the ELF header), the section headers and their
/// names (what `object` reads to find everything else), and the sections
/// of [`wanted_debug`], the symbol table and, in a relocatable object,
/// the relocations of those DWARF sections.
fn needed_ranges<'d, R: object::ReadRef<'d>>(
    elf: &object::File<'d, R>,
    len: u64,
) -> Vec<(u64, u64)> {
    use object::read::elf::FileHeader;
    fn section_table<'d, H: FileHeader, R: object::ReadRef<'d>>(
        h: &H,
        endian: H::Endian,
        data: R,
    ) -> Option<(u64, u64)> {
        let count = h.shnum(endian, data).ok()? as u64;
        Some((
            h.e_shoff(endian).into(),
            u64::from(h.e_shentsize(endian)) * count,
        ))
    }
    let mut ranges = vec![(0, len.min(4096))];
    ranges.extend(match elf {
        object::File::Elf32(e) => section_table(e.elf_header(), e.endian(), e.data()),
        object::File::Elf64(e) => section_table(e.elf_header(), e.endian(), e.data()),
        _ => None,
    });
    ranges.extend(
        elf.section_by_name(".shstrtab")
            .and_then(|s| s.file_range()),
    );
    let relocatable = elf.kind() == object::ObjectKind::Relocatable;
    for s in elf.sections() {
        let Ok(name) = s.name() else { continue };
        let keep = match name.strip_prefix(".rela").or(name.strip_prefix(".rel")) {
            Some(target) => relocatable && wanted_debug(target),
            None => wanted_debug(name) || matches!(name, ".symtab" | ".strtab"),
        };
        if let (true, Some(r)) = (keep, s.file_range()) {
            ranges.push(r);
        }
    }
    ranges
}

/// DWARF sections the encoder reads: not location and range lists or
/// call frames (line tables are, for their headers: gimli reads them
/// with each unit).
fn wanted_debug(name: &str) -> bool {
    let Some(rest) = name
        .strip_prefix(".debug_")
        .or(name.strip_prefix(".zdebug_"))
    else {
        return false;
    };
    let rest = rest.trim_end_matches(".dwo");
    !matches!(
        rest,
        "loc"
            | "loclists"
            | "ranges"
            | "rnglists"
            | "frame"
            | "aranges"
            | "macro"
            | "macinfo"
            | "pubnames"
            | "pubtypes"
    )
}
