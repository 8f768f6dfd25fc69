//! Damaged objects and relocation records: typed errors that name the
//! relocation (section and record number), never a panic.

use btfkit_btf::{Btf, TypeId};
use btfkit_core::insn::{Insn, INSN_SIZE};
use btfkit_core::{
    relocate, BpfObject, ObjectError, Outcome, ReloErrorKind, RelocateOptions, Target,
};
use btfkit_testutil as tu;

fn suite(path: &str) -> Vec<u8> {
    std::fs::read(tu::workspace_root().join("testdata/core").join(path)).unwrap()
}

/// File offset of CO-RE record `i` of group `g` in an object.
fn record_offset(data: &[u8], g: usize, i: usize) -> usize {
    let obj = BpfObject::parse(data).unwrap();
    let ext = obj.btf_ext().unwrap();
    let grp = &ext.core_relo[g];
    obj.btf_ext_file_offset().unwrap() as usize + grp.offset + i * grp.record_size
}

fn word(d: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(d[off..off + 4].try_into().unwrap())
}

/// Relocates `data` against the suite's base target and returns the
/// error of record `i` of the first group.
fn relo_error(data: &[u8], i: usize) -> btfkit_core::ReloError {
    let tbytes = suite("targets/base.o");
    let tbtf = Btf::parse_any(&tbytes, None).unwrap();
    let obj = BpfObject::parse(data).unwrap();
    let rel = relocate(&obj, &Target::new(&tbtf), &RelocateOptions::default());
    let r = rel.reports.iter().find(|r| r.index == i).unwrap();
    r.error()
        .unwrap_or_else(|| panic!("record {i} should fail, got {:?}", r.outcome))
}

#[test]
fn the_suite_object_relocates_cleanly() {
    let data = suite("progs/fields.bpf.o");
    let tbytes = suite("targets/base.o");
    let tbtf = Btf::parse_any(&tbytes, None).unwrap();
    let obj = BpfObject::parse(&data).unwrap();
    let rel = relocate(&obj, &Target::new(&tbtf), &RelocateOptions::default());
    assert!(rel.reports.len() > 30);
    assert_eq!(rel.failures().count(), 0);
}

#[test]
fn corrupt_record_sizes() {
    let data = suite("progs/fields.bpf.o");
    let obj = BpfObject::parse(&data).unwrap();
    let ext_off = obj.btf_ext_file_offset().unwrap() as usize;
    let hdr_len = obj.btf_ext().unwrap().hdr_len;
    let core_off = word(&data, ext_off + 24) as usize;
    let size_at = ext_off + hdr_len + core_off;
    for bad in [0u32, 7, 12, 0x1000_0000] {
        let mut d = data.clone();
        tu::put_u32(&mut d, size_at, bad);
        let e = BpfObject::parse(&d).err().expect("must fail");
        assert!(
            matches!(e, ObjectError::Ext { .. }),
            "record size {bad}: {e}"
        );
    }
    // A group claiming more records than the block holds.
    let mut d = data.clone();
    tu::put_u32(&mut d, size_at + 8, 100_000);
    assert!(matches!(BpfObject::parse(&d), Err(ObjectError::Ext { .. })));
    // A group with no records.
    let mut d = data.clone();
    tu::put_u32(&mut d, size_at + 8, 0);
    assert!(matches!(BpfObject::parse(&d), Err(ObjectError::Ext { .. })));
    // A block running past the section.
    let mut d = data.clone();
    tu::put_u32(&mut d, ext_off + 28, 0x00ff_ffff);
    assert!(matches!(BpfObject::parse(&d), Err(ObjectError::Ext { .. })));
}

#[test]
fn instruction_offsets_outside_or_misaligned() {
    let data = suite("progs/fields.bpf.o");
    let at = record_offset(&data, 0, 3);
    let mut d = data.clone();
    tu::put_u32(&mut d, at, 1_000_000 * 8);
    let e = relo_error(&d, 3);
    assert_eq!((e.section.as_str(), e.index), ("raw_tp/sys_enter", 3));
    assert!(
        matches!(
            e.kind,
            ReloErrorKind::InsnOutOfSection {
                insn_idx: 1_000_000,
                ..
            }
        ),
        "{e}"
    );
    let mut d = data.clone();
    tu::put_u32(&mut d, at, word(&data, at) + 3);
    assert!(matches!(
        relo_error(&d, 3).kind,
        ReloErrorKind::InsnOffsetMisaligned { .. }
    ));
}

#[test]
fn instructions_that_cannot_be_patched() {
    let data = suite("progs/fields.bpf.o");
    let obj = BpfObject::parse(&data).unwrap();
    let sec = obj.section_by_name("raw_tp/sys_enter").unwrap();
    // The first program's last instruction is `exit` (class JMP).
    let prog = &obj.programs()[0];
    let exit_idx = prog.insn_off + prog.insn_cnt - 1;
    assert_eq!(obj.insn(sec, exit_idx).unwrap().code, 0x95);
    let at = record_offset(&data, 0, 0);
    let mut d = data.clone();
    tu::put_u32(&mut d, at, (exit_idx * INSN_SIZE) as u32);
    let e = relo_error(&d, 0);
    assert!(
        matches!(e.kind, ReloErrorKind::InsnNotPatchable { code: 0x95, .. }),
        "{e}"
    );
    assert!(
        e.to_string()
            .starts_with("section raw_tp/sys_enter: relo #0: "),
        "{e}"
    );
}

#[test]
fn instruction_value_not_what_the_local_types_say() {
    let data = suite("progs/fields.bpf.o");
    let obj = BpfObject::parse(&data).unwrap();
    let sec = obj.section_by_name("raw_tp/sys_enter").unwrap();
    let insn_off = word(&data, record_offset(&data, 0, 1)) as usize;
    let insn = obj.insn(sec, insn_off / INSN_SIZE).unwrap();
    let mut d = data.clone();
    let at = sec.file_offset as usize + insn_off;
    let patched = Insn {
        imm: insn.imm + 1,
        ..insn
    };
    d[at..at + 8].copy_from_slice(&patched.encode(obj.endian()));
    let e = relo_error(&d, 1);
    assert!(
        matches!(e.kind, ReloErrorKind::UnexpectedInsnValue { .. }),
        "{e}"
    );
}

#[test]
fn malformed_ld_imm64() {
    let data = suite("progs/enums.bpf.o");
    let obj = BpfObject::parse(&data).unwrap();
    let sec = obj.section_by_name("raw_tp/sys_enter").unwrap();
    // Find a relocation on an ld_imm64 and break its second half.
    let grp = &obj.btf_ext().unwrap().core_relo[0];
    let (i, relo) = grp
        .core_relos()
        .enumerate()
        .find(|(_, r)| {
            obj.insn(sec, r.insn_off as usize / INSN_SIZE)
                .unwrap()
                .is_ld_imm64()
        })
        .expect("enum64 value is loaded with ld_imm64");
    let second = sec.file_offset as usize + relo.insn_off as usize + INSN_SIZE;
    let mut d = data.clone();
    d[second + 1] = 0x01; // dst_reg of the second half
    let e = relo_error(&d, i);
    assert!(matches!(e.kind, ReloErrorKind::BadLdImm64 { .. }), "{e}");
}

/// A string of the object's BTF that parses as an access string but
/// indexes past the end of `core_flavor` (2 members).
fn out_of_range_access(btf: &Btf<'_>) -> u32 {
    let strs = btf.strings_section();
    let mut off = 0usize;
    while off < strs.len() {
        let end = off + strs[off..].iter().position(|&b| b == 0).unwrap();
        let s = std::str::from_utf8(&strs[off..end]).unwrap_or("");
        let parts: Vec<&str> = s.split(':').collect();
        if parts.len() == 2
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            && parts[1].parse::<u32>().unwrap() >= 2
        {
            return off as u32;
        }
        off = end + 1;
    }
    panic!("no suitable access string");
}

#[test]
fn access_strings_that_do_not_parse_or_index_out_of_range() {
    let data = suite("progs/flavors.bpf.o");
    let obj = BpfObject::parse(&data).unwrap();
    let btf = obj.btf();
    // Record 0 relocates core_flavor (2 members).
    let at = record_offset(&data, 0, 0);
    let name_off = btf
        .find_by_name("core_flavor")
        .iter()
        .map(|&id| btf.type_by_id(id).unwrap().name_off())
        .next()
        .unwrap();
    let mut d = data.clone();
    tu::put_u32(&mut d, at + 8, name_off);
    let e = relo_error(&d, 0);
    assert!(
        matches!(e.kind, ReloErrorKind::BadAccessString { .. }),
        "{e}"
    );
    let fields = suite("progs/fields.bpf.o");
    let fobj = BpfObject::parse(&fields).unwrap();
    let _ = fobj;
    let mut d = data.clone();
    tu::put_u32(&mut d, at + 8, out_of_range_access(btf));
    let e = relo_error(&d, 0);
    assert!(
        matches!(e.kind, ReloErrorKind::AccessOutOfRange { pos: 1, .. }),
        "{e}"
    );
    let mut d = data.clone();
    tu::put_u32(&mut d, at + 8, 0);
    assert!(matches!(
        relo_error(&d, 0).kind,
        ReloErrorKind::BadAccessString { .. }
    ));
}

#[test]
fn anonymous_and_missing_local_types_and_unknown_kinds() {
    let data = suite("progs/fields.bpf.o");
    let obj = BpfObject::parse(&data).unwrap();
    let btf = obj.btf();
    let anon = btf
        .types()
        .find(|t| t.kind() == btfkit_btf::Kind::Struct && t.name_off() == 0)
        .expect("an anonymous struct")
        .id();
    let at = record_offset(&data, 0, 0);
    let mut d = data.clone();
    tu::put_u32(&mut d, at + 4, anon.0);
    let e = relo_error(&d, 0);
    assert!(matches!(e.kind, ReloErrorKind::AnonymousRoot { .. }), "{e}");
    let mut d = data.clone();
    tu::put_u32(&mut d, at + 4, 999_999);
    assert!(matches!(
        relo_error(&d, 0).kind,
        ReloErrorKind::NoLocalType(TypeId(999_999))
    ));
    let mut d = data.clone();
    tu::put_u32(&mut d, at + 12, 99);
    assert!(matches!(
        relo_error(&d, 0).kind,
        ReloErrorKind::UnknownKind(99)
    ));
}

#[test]
fn objects_that_are_not_bpf_objects() {
    assert!(matches!(
        BpfObject::parse(b"not an elf"),
        Err(ObjectError::Elf(_))
    ));
    let host = std::fs::read(std::env::current_exe().unwrap()).unwrap();
    assert!(matches!(
        BpfObject::parse(&host),
        Err(ObjectError::NotBpf { .. })
    ));
    // BTF but no .BTF.ext: readable, nothing to relocate.
    let mut b = btfkit_btf::BtfBuilder::new();
    b.add_int("int", 4, 1).unwrap();
    let elf = b.finish_elf();
    let obj = BpfObject::parse(&elf).unwrap();
    assert!(obj.btf_ext().is_none());
    let tbytes = suite("targets/base.o");
    let tbtf = Btf::parse_any(&tbytes, None).unwrap();
    assert!(
        relocate(&obj, &Target::new(&tbtf), &RelocateOptions::default())
            .reports
            .is_empty()
    );
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn mutated_objects_never_panic() {
    let tbytes = suite("targets/shuffled.o");
    let tbtf = Btf::parse_any(&tbytes, None).unwrap();
    let target = Target::new(&tbtf);
    let mut rng = Rng(0x0b1ec7);
    let (mut parsed, mut failed_relos) = (0, 0);
    for name in [
        "progs/fields.bpf.o",
        "progs/bitfields.bpf.o",
        "progs/enums.bpf.o",
        "progs/kernel.bpf.o",
    ] {
        let seed = suite(name);
        let obj = BpfObject::parse(&seed).unwrap();
        // Concentrate mutations on .BTF, .BTF.ext and the code.
        let hot: Vec<(usize, usize)> = obj
            .sections()
            .iter()
            .filter(|s| (s.executable || s.name.starts_with(".BTF")) && !s.data.is_empty())
            .map(|s| (s.file_offset as usize, s.data.len()))
            .collect();
        for _ in 0..400 {
            let mut d = seed.clone();
            for _ in 0..1 + rng.below(4) {
                let (start, len) = hot[rng.below(hot.len())];
                let i = start + rng.below(len);
                if rng.below(2) == 0 {
                    d[i] ^= 1 << rng.below(8);
                } else {
                    let v = [0u8, 0xff, 0x7f, 0x80][rng.below(4)];
                    d[i] = v;
                }
            }
            let Ok(obj) = BpfObject::parse(&d) else {
                continue;
            };
            parsed += 1;
            let rel = relocate(&obj, &target, &RelocateOptions::default());
            failed_relos += rel
                .reports
                .iter()
                .filter(|r| matches!(r.outcome, Outcome::Failed(_)))
                .count();
            for r in &rel.reports {
                let _ = format!("{r:?}");
            }
            let _ = btfkit_core::write_relocated(&obj, &rel, true);
        }
    }
    eprintln!("{parsed} mutants parsed, {failed_relos} relocation failures reported");
    assert!(parsed > 0 && failed_relos > 0);
}

/// Found by the fuzzer: a function symbol whose offset + size overflows.
#[test]
fn program_symbols_past_the_section() {
    use object::{Object, ObjectSection, ObjectSymbol};
    let data = suite("progs/fields.bpf.o");
    let file = object::File::parse(&*data).unwrap();
    let symtab = file.section_by_name(".symtab").unwrap();
    let (symtab_off, _) = symtab.file_range().unwrap();
    let func = file
        .symbols()
        .find(|s| s.kind() == object::SymbolKind::Text && s.size() > 0)
        .unwrap();
    // Elf64_Sym: name(4) info(1) other(1) shndx(2) value(8) size(8).
    let at = symtab_off as usize + func.index().0 * 24 + 16;
    for size in [u64::MAX, 1 << 20] {
        let mut d = data.clone();
        d[at..at + 8].copy_from_slice(&size.to_le_bytes());
        let e = BpfObject::parse(&d).err().expect("must fail");
        assert!(matches!(e, ObjectError::ProgramOutOfSection { .. }), "{e}");
    }
}
