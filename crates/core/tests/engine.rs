//! Engine properties the libbpf oracle cannot show: module BTF targets,
//! big-endian objects, and agreement with the compiler on local values.

use std::path::PathBuf;

use btfkit_btf::{Btf, Kind};
use btfkit_core::insn::INSN_SIZE;
use btfkit_core::Patch;
use btfkit_core::{relocate, BpfObject, Outcome, RelocKind, RelocateOptions, Target};
use btfkit_testutil as tu;

fn suite(rel: &str) -> PathBuf {
    tu::workspace_root().join("testdata/core").join(rel)
}

#[test]
fn module_types_resolve_in_module_btf() {
    let mods = tu::corpus_modules();
    let (Some(kvm), Some(btrfs)) = (
        mods.iter().find(|m| m.name == "kvm"),
        mods.iter().find(|m| m.name == "btrfs"),
    ) else {
        return;
    };
    let vbytes = kvm.base.raw_bytes();
    let vmlinux = Btf::parse(&vbytes).unwrap();
    let kbytes = std::fs::read(&kvm.raw).unwrap();
    let kvm_btf = Btf::parse_split(&kbytes, &vmlinux).unwrap();
    let bbytes = std::fs::read(&btrfs.raw).unwrap();
    let btrfs_btf = Btf::parse_split(&bbytes, &vmlinux).unwrap();
    let mut target = Target::new(&vmlinux);
    target
        .add_module("kvm", &kvm_btf)
        .add_module("btrfs", &btrfs_btf);
    let obytes = std::fs::read(suite("progs/modules.bpf.o")).unwrap();
    let obj = BpfObject::parse(&obytes).unwrap();
    let rel = relocate(&obj, &target, &RelocateOptions::default());
    assert_eq!(rel.failures().count(), 0);
    let expect = |btf: &Btf<'_>, s: &str, m: &str| {
        btf.find_member(btf.find_first(s, Kind::Struct).unwrap(), m)
            .unwrap()
            .unwrap()
            .bit_offset as u64
            / 8
    };
    for r in &rel.reports {
        let Outcome::Done {
            target: Some(t),
            patch: Patch::Value { new, .. },
            ..
        } = &r.outcome
        else {
            panic!("{r:?}")
        };
        let (want_btf, value) = match (r.local_spec.as_deref().unwrap(), r.kind.unwrap()) {
            ("struct kvm_lapic::divide_count", _) => {
                (1, expect(&kvm_btf, "kvm_lapic", "divide_count"))
            }
            ("struct kvm_lapic::vcpu", _) => (1, expect(&kvm_btf, "kvm_lapic", "vcpu")),
            ("struct kvm_vcpu::vcpu_id", _) => (0, expect(&vmlinux, "kvm_vcpu", "vcpu_id")),
            ("struct btrfs_fs_info", RelocKind::TypeExists) => (2, 1),
            ("struct kvm_lapic", RelocKind::TypeSize) => (1, 240),
            ("struct btrfs_fs_info::generation", _) => {
                (2, expect(&btrfs_btf, "btrfs_fs_info", "generation"))
            }
            ("struct btrfs_fs_info::sectorsize", _) => {
                (2, expect(&btrfs_btf, "btrfs_fs_info", "sectorsize"))
            }
            (other, k) => panic!("unexpected relocation {other} {k}"),
        };
        assert_eq!((t.btf_idx, *new), (want_btf, value), "{:?}", r.local_spec);
        assert!(
            t.btf_idx == 0 || t.type_id >= vmlinux.next_id(),
            "module candidates are module types"
        );
    }
    // Without the modules, module types have no candidate: poisoned.
    let rel = relocate(&obj, &Target::new(&vmlinux), &RelocateOptions::default());
    let poisoned = rel
        .reports
        .iter()
        .filter(|r| {
            matches!(
                r.outcome,
                Outcome::Done {
                    patch: Patch::Poisoned(_),
                    ..
                }
            )
        })
        .count();
    // divide_count, vcpu, generation, sectorsize; existence and size give 0.
    assert_eq!(poisoned, 4);
}

/// Every relocated value the engine computes for the local side equals
/// what clang put in the instruction: the compiler is an oracle for the
/// local half of each relocation, in both byte orders (LSHIFT_U64 differs
/// between them).
#[test]
fn local_values_equal_the_compilers_in_both_byte_orders() {
    let Some(_) = tu::require_tool("clang-16") else {
        return;
    };
    let mut checked = 0;
    for src in std::fs::read_dir(suite("progs"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
    {
        if !src.to_str().unwrap().ends_with(".bpf.c") {
            continue;
        }
        for (order, target_src) in [("bpfel", "base.c"), ("bpfeb", "base.c")] {
            let obj_path = tu::compile_bpf(&src, "clang-16", order);
            let tgt_path = tu::compile_bpf(&suite("targets").join(target_src), "clang-16", order);
            let obytes = std::fs::read(&obj_path).unwrap();
            let obj = BpfObject::parse(&obytes).unwrap();
            let tbytes = std::fs::read(&tgt_path).unwrap();
            let tbtf = Btf::parse_any(&tbytes, None).unwrap();
            let rel = relocate(&obj, &Target::new(&tbtf), &RelocateOptions::default());
            for r in &rel.reports {
                let Outcome::Done { res, patch, .. } = &r.outcome else {
                    continue;
                };
                let Patch::Value { old, .. } = patch else {
                    continue;
                };
                // Type ids, and the load a bitfield is read with, are the
                // compiler's choice (libbpf does not validate them either);
                // every other local value is determined, shifts of
                // non-bitfields included.
                let kind = r.kind.unwrap();
                if !res.validate {
                    continue;
                }
                assert_eq!(
                    res.orig_val,
                    *old,
                    "{order} {}: {} {:?}",
                    src.display(),
                    kind,
                    r.local_spec
                );
                checked += 1;
            }
        }
    }
    eprintln!("{checked} local values equal clang's");
    assert!(checked > 100);
}

/// Big-endian objects relocate to the same decisions as their
/// little-endian builds (shift amounts aside). Clang emits different code
/// (and so a different list of relocations) per byte order, so the
/// comparison is over distinct (relocation, outcome) pairs.
#[test]
fn big_endian_objects_decide_like_little_endian_ones() {
    let Some(_) = tu::require_tool("clang-16") else {
        return;
    };
    for src in [
        "fields.bpf.c",
        "bitfields.bpf.c",
        "arrays.bpf.c",
        "flavors.bpf.c",
        "enums.bpf.c",
        "sizes.bpf.c",
    ] {
        for tgt in ["shuffled.c", "missing.c", "flavors.c"] {
            let mut outcomes = Vec::new();
            for order in ["bpfel", "bpfeb"] {
                let o = tu::compile_bpf(&suite("progs").join(src), "clang-16", order);
                let t = tu::compile_bpf(&suite("targets").join(tgt), "clang-16", order);
                let obytes = std::fs::read(&o).unwrap();
                let obj = BpfObject::parse(&obytes).unwrap();
                assert_eq!(obj.endian() == btfkit_btf::Endian::Big, order == "bpfeb");
                let tbytes = std::fs::read(&t).unwrap();
                let tbtf = Btf::parse_any(&tbytes, None).unwrap();
                let rel = relocate(&obj, &Target::new(&tbtf), &RelocateOptions::default());
                // The patched instructions read back in the object's order.
                for r in &rel.reports {
                    if let (
                        Outcome::Done {
                            patch: Patch::Value { new, field, .. },
                            ..
                        },
                        Some(si),
                    ) = (&r.outcome, r.section_index)
                    {
                        let insn = rel.insns[&si][r.insn_idx as usize];
                        let got = match field {
                            btfkit_core::PatchedField::AluImm => insn.imm as u32 as u64,
                            btfkit_core::PatchedField::MemOff => insn.off as u16 as u64,
                            btfkit_core::PatchedField::Imm64 => {
                                let hi = rel.insns[&si][r.insn_idx as usize + 1].imm as u32 as u64;
                                (insn.imm as u32 as u64) | hi << 32
                            }
                        };
                        assert_eq!(
                            got & 0xffff_ffff,
                            new & 0xffff_ffff,
                            "{order} {src} on {tgt}"
                        );
                    }
                }
                let written = btfkit_core::write_relocated(&obj, &rel, false);
                let again = BpfObject::parse(&written).unwrap();
                for s in again.sections().iter().filter(|s| s.executable) {
                    for (i, insn) in rel.insns[&s.index].iter().enumerate() {
                        assert_eq!(
                            again.insn(s, i).unwrap(),
                            *insn,
                            "{order} {src}: written instruction {i}"
                        );
                    }
                    assert_eq!(s.data.len() % INSN_SIZE, 0);
                }
                outcomes.push(
                    rel.reports
                        .iter()
                        .map(|r| {
                            let what = format!("{} {:?} {}", r.raw_kind, r.local_spec, r.access);
                            match &r.outcome {
                                Outcome::Done {
                                    patch: Patch::Value { new, .. },
                                    ..
                                } if r.kind != Some(RelocKind::FieldLshiftU64) => {
                                    format!("{what}: {new}")
                                }
                                Outcome::Done {
                                    patch: Patch::Value { .. },
                                    ..
                                } => format!("{what}: shift"),
                                Outcome::Done {
                                    patch: Patch::Poisoned(w),
                                    ..
                                } => format!("{what}: poison {w}"),
                                Outcome::Failed(e) => format!("{what}: error {}", e.errno()),
                                Outcome::Skipped(w) => format!("{what}: skipped {w:?}"),
                            }
                        })
                        .collect::<std::collections::BTreeSet<_>>(),
                );
            }
            assert_eq!(
                outcomes[0], outcomes[1],
                "{src} on {tgt}: big-endian decisions differ"
            );
        }
    }
}

/// `relocate_each` (what BTFGen runs: instructions read in place, only
/// the ones patches change kept) reports exactly what `relocate_with`
/// (every section decoded and patched) does, patches included, on kernels
/// whose layouts differ from the objects' (so patches change code). And
/// relocations decided the same way share one list of matched candidates
/// rather than a copy each (a kernel with many copies of a type made a
/// large object's check take gigabytes).
#[test]
fn relocate_each_reports_what_relocate_with_does() {
    use btfkit_core::{relocate_each, relocate_with, Detail};
    let kernels: Vec<_> = [
        "debian/11/x86_64/5.10.0-32-amd64",
        "centos/8/aarch64/4.18.0-147.5.1.el8_1.aarch64",
    ]
    .iter()
    .filter_map(|k| tu::corpus_kernel(k))
    .collect();
    if kernels.is_empty() {
        return tu::missing("the corpus").unwrap_or(());
    }
    let all = RelocateOptions {
        include_non_autoload: true,
        only_programs: None,
    };
    let detail = Detail {
        describe: true,
        unpruned: true,
    };
    let (mut compared, mut changed, mut shared) = (0, 0, 0);
    for k in &kernels {
        let kbytes = k.raw_bytes();
        let kbtf = Btf::parse(&kbytes).unwrap();
        let target = Target::new(&kbtf);
        let objects = ["progs", "check"]
            .iter()
            .flat_map(|d| std::fs::read_dir(suite(d)).unwrap().flatten())
            .map(|e| e.path())
            .filter(|p| p.to_str().unwrap().ends_with(".bpf.o"));
        for path in objects {
            let bytes = std::fs::read(&path).unwrap();
            let obj = BpfObject::parse(&bytes).unwrap();
            let whole = relocate_with(&obj, &target, &all, detail);
            let mut each = Vec::new();
            relocate_each(&obj, &target, &all, detail, |r| each.push(r));
            assert_eq!(each.len(), whole.reports.len(), "{}", path.display());
            for (a, b) in each.iter().zip(&whole.reports) {
                assert_eq!(format!("{a:?}"), format!("{b:?}"), "{}", path.display());
                compared += 1;
                if let Outcome::Done {
                    patch: Patch::Value { old, new, .. },
                    ..
                } = &a.outcome
                {
                    changed += usize::from(old != new);
                }
            }
            let done: Vec<_> = whole
                .reports
                .iter()
                .filter_map(|r| match &r.outcome {
                    Outcome::Done { matched, .. } if !matched.is_empty() => {
                        Some(((r.local_type, r.access.clone(), r.raw_kind), matched))
                    }
                    _ => None,
                })
                .collect();
            for (i, (key, m)) in done.iter().enumerate() {
                // (Pruning between two uses may make a new list.)
                if let Some((_, first)) = done[..i].iter().find(|(k, _)| k == key) {
                    shared += usize::from(std::sync::Arc::ptr_eq(first, m));
                }
            }
        }
    }
    eprintln!("{compared} reports equal, {changed} patches change code, {shared} shared lists");
    assert!(compared > 500 && changed > 50 && shared > 0);
}
