//! BTF inside ELF files: reading the `.BTF` section of any ELF (vmlinux,
//! kernel modules, BPF objects) and wrapping raw BTF as a minimal ELF.

use object::{Object, ObjectSection};

use crate::btf::Btf;
use crate::error::{Error, Result};
use crate::header::Endian;

pub const ELF_MAGIC: &[u8; 4] = b"\x7fELF";
/// `EM_BPF`.
const EM_BPF: u16 = 247;

/// Whether `data` starts with the ELF magic (`\x7fELF`): what
/// [`Btf::parse_any`](crate::Btf::parse_any) uses to choose between an ELF
/// file and raw BTF.
pub fn is_elf(data: &[u8]) -> bool {
    data.starts_with(ELF_MAGIC)
}

/// Finds section `name` in an ELF file and returns its bytes (a sub-slice
/// of `data`) and file offset.
pub fn elf_section<'d>(data: &'d [u8], name: &str) -> Result<Option<(&'d [u8], u64)>> {
    let file = object::File::parse(data).map_err(|e| Error::Elf(e.to_string()))?;
    let Some(sec) = file.section_by_name(name) else {
        return Ok(None);
    };
    if !matches!(
        sec.compressed_file_range().map(|r| r.format),
        Ok(object::CompressionFormat::None)
    ) {
        return Err(Error::Elf(format!(
            "section {name} is compressed, which is not supported"
        )));
    }
    let bytes = sec
        .data()
        .map_err(|e| Error::Elf(format!("section {name}: {e}")))?;
    let offset = sec.file_range().map_or(0, |(o, _)| o);
    Ok(Some((bytes, offset)))
}

/// Parses the `.BTF` section of an ELF file.
pub fn parse_elf<'a>(data: &'a [u8], base: Option<&'a Btf<'a>>) -> Result<Btf<'a>> {
    parse_elf_with(data, base, crate::ParseOptions::default())
}

/// `parse_elf` with explicit options.
pub fn parse_elf_with<'a>(
    data: &'a [u8],
    base: Option<&'a Btf<'a>>,
    opts: crate::ParseOptions,
) -> Result<Btf<'a>> {
    let (btf, file_offset) = elf_section(data, ".BTF")?.ok_or(Error::NoBtfSection)?;
    Btf::parse_with(std::borrow::Cow::Borrowed(btf), base, opts).map_err(|e| Error::InSection {
        name: ".BTF".into(),
        file_offset,
        inner: Box::new(e),
    })
}

/// Wraps raw BTF bytes in a minimal relocatable ELF64 (`EM_BPF`) with one
/// `.BTF` section, in the byte order of the BTF itself.
pub fn wrap_in_elf(btf: &[u8], endian: Endian) -> Vec<u8> {
    const EHDR: usize = 64;
    const SHDR: usize = 64;
    let shstrtab: &[u8] = b"\0.BTF\0.shstrtab\0";
    let btf_off = EHDR;
    let shstr_off = btf_off + btf.len();
    let shoff = (shstr_off + shstrtab.len()).next_multiple_of(8);
    let mut out = Vec::with_capacity(shoff + 3 * SHDR);
    let u16b = |v: u16| endian.put_u16(v);
    let u32b = |v: u32| endian.put_u32(v);
    let u64b = |v: u64| match endian {
        Endian::Little => v.to_le_bytes(),
        Endian::Big => v.to_be_bytes(),
    };
    // e_ident: class 64, data LSB/MSB, version 1, SysV ABI.
    out.extend_from_slice(ELF_MAGIC);
    out.push(2);
    out.push(if endian == Endian::Little { 1 } else { 2 });
    out.push(1);
    out.resize(16, 0);
    out.extend_from_slice(&u16b(1)); // e_type: ET_REL
    out.extend_from_slice(&u16b(EM_BPF));
    out.extend_from_slice(&u32b(1)); // e_version
    out.extend_from_slice(&u64b(0)); // e_entry
    out.extend_from_slice(&u64b(0)); // e_phoff
    out.extend_from_slice(&u64b(shoff as u64));
    out.extend_from_slice(&u32b(0)); // e_flags
    out.extend_from_slice(&u16b(EHDR as u16));
    out.extend_from_slice(&u16b(0)); // e_phentsize
    out.extend_from_slice(&u16b(0)); // e_phnum
    out.extend_from_slice(&u16b(SHDR as u16));
    out.extend_from_slice(&u16b(3)); // e_shnum
    out.extend_from_slice(&u16b(2)); // e_shstrndx
    debug_assert_eq!(out.len(), EHDR);
    out.extend_from_slice(btf);
    out.extend_from_slice(shstrtab);
    out.resize(shoff, 0);
    let mut shdr = |name: u32, ty: u32, off: usize, size: usize, align: u64| {
        out.extend_from_slice(&u32b(name));
        out.extend_from_slice(&u32b(ty));
        out.extend_from_slice(&u64b(0)); // sh_flags
        out.extend_from_slice(&u64b(0)); // sh_addr
        out.extend_from_slice(&u64b(off as u64));
        out.extend_from_slice(&u64b(size as u64));
        out.extend_from_slice(&u32b(0)); // sh_link
        out.extend_from_slice(&u32b(0)); // sh_info
        out.extend_from_slice(&u64b(align));
        out.extend_from_slice(&u64b(0)); // sh_entsize
    };
    shdr(0, 0, 0, 0, 0);
    shdr(1, 1, btf_off, btf.len(), 4); // .BTF: SHT_PROGBITS
    shdr(6, 3, shstr_off, shstrtab.len(), 1); // .shstrtab: SHT_STRTAB
    out
}
