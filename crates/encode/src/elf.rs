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
}

impl<'d> ElfDwarf<'d> {
    pub fn section(&self, name: &str) -> &[u8] {
        self.sections
            .iter()
            .find(|(n, _)| n == name)
            .map_or(&[], |(_, d)| d)
    }

    pub fn load(data: &'d [u8]) -> Result<Self, EncodeError> {
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
        if let Some((_, _, size)) = percpu_sec {
            percpu_syms.sort_by_key(|s| s.offset);
            percpu = Some(Percpu {
                size: size as u32,
                symbols: percpu_syms,
            });
        }
        Ok(ElfDwarf {
            little_endian: file.is_little_endian(),
            sections,
            functions,
            percpu,
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
        let at = offset as usize;
        let size = (r.size() / 8) as usize;
        let Some(dst) = bytes.get_mut(at..at + size) else {
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
