//! Differential test against libbpf 1.1: for every object of the CO-RE
//! suite (testdata/core/progs) and every target (the suite's own target
//! BTFs and every corpus kernel), btfkit's decision for each relocation —
//! patched value, load size change, poisoning, or the error code — equals
//! what libbpf does with the same target as `btf_custom_path`.
//!
//! libbpf stops at its first failing relocation, so each pair is run with
//! all programs and, when that run fails somewhere, once per program.

use std::path::{Path, PathBuf};

use btfkit_btf::Btf;
use btfkit_core::Patch;
use btfkit_core::{relocate, BpfObject, Outcome, RelocateOptions, Target};
use btfkit_testutil as tu;
use btfkit_testutil::libbpf::{run_libbpf, LibbpfRun};

/// Compares btfkit with one libbpf run; returns the number of
/// relocations compared.
fn compare(
    what: &str,
    obj: &BpfObject<'_>,
    target: &Target<'_>,
    only: Option<&str>,
    lb: &LibbpfRun,
) -> usize {
    let opts = RelocateOptions {
        only_programs: only.map(|p| vec![p.to_string()]),
        ..RelocateOptions::default()
    };
    let ours = relocate(obj, target, &opts);
    let mut compared = 0;
    for r in &ours.reports {
        let Some(prog) = &r.program else { continue };
        let key = (prog.to_string(), r.index);
        let theirs = lb.relos.get(&key);
        let ctx = || {
            format!(
                "{what}: prog {prog} relo #{} ({} {})",
                r.index,
                r.local_spec.as_deref().unwrap_or("?"),
                r.access
            )
        };
        match (&r.outcome, theirs) {
            (Outcome::Skipped(_), None) => {}
            (Outcome::Skipped(why), Some(t)) => {
                panic!("{}: btfkit skipped it ({why:?}), libbpf: {t:?}", ctx())
            }
            (_, None) => panic!(
                "{}: libbpf did not process it, btfkit: {:?}",
                ctx(),
                r.outcome
            ),
            (Outcome::Failed(e), Some(t)) => {
                assert_eq!(
                    t.errno,
                    Some(e.errno()),
                    "{}: btfkit fails with {e} (errno {}), libbpf: {t:?}",
                    ctx(),
                    e.errno()
                );
            }
            (Outcome::Done { patch, .. }, Some(t)) => {
                assert_eq!(t.errno, None, "{}: libbpf fails, btfkit: {patch:?}", ctx());
                match patch {
                    Patch::Poisoned(_) => {
                        let insn = r.prog_insn_idx.unwrap();
                        assert!(
                            t.patched.is_none() && t.poisoned.contains(&insn),
                            "{}: btfkit poisons, libbpf: {t:?}",
                            ctx()
                        );
                    }
                    Patch::Value {
                        field,
                        old,
                        new,
                        mem_size,
                    } => {
                        assert_eq!(
                            t.patched,
                            Some((field.class_name().to_string(), *old, *new)),
                            "{}: values differ (libbpf: {t:?})",
                            ctx()
                        );
                        assert_eq!(&t.mem_size, mem_size, "{}: load size change differs", ctx());
                        assert!(t.poisoned.is_empty(), "{}: libbpf poisoned", ctx());
                    }
                }
            }
        }
        compared += 1;
        if lb.failed_at.as_ref() == Some(&key) {
            // libbpf stops here.
            break;
        }
    }
    compared
}

fn suite_dir() -> PathBuf {
    tu::workspace_root().join("testdata/core")
}

fn files(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_str().is_some_and(|s| s.ends_with(suffix)))
        .collect();
    v.sort();
    v
}

/// Whether the kernel lets this process load BPF (libbpf probes it
/// before relocating anything).
fn bpf_available(oracle: &Path) -> bool {
    let obj = suite_dir().join("progs/fields.bpf.o");
    let target = suite_dir().join("targets/base.o");
    let run = run_libbpf(oracle, &obj, &target, None);
    !run.relos.is_empty()
}

fn check_pairs(objects: &[PathBuf], targets: &[(String, PathBuf)]) {
    let Some(oracle) = tu::libbpf_oracle("core_relocs") else {
        return;
    };
    if !bpf_available(&oracle) {
        tu::missing::<()>("BPF program loading (libbpf relocates only when it can load)");
        return;
    }
    let mut total = 0;
    let mut runs = 0;
    for (tname, tpath) in targets {
        let tbytes = btfkit_btf::load::read_btf_file(tpath).unwrap();
        let tbtf = Btf::parse_any(&tbytes, None).unwrap();
        let target = Target::new(&tbtf);
        for opath in objects {
            let obytes = std::fs::read(opath).unwrap();
            let obj = BpfObject::parse(&obytes).unwrap();
            let what = format!(
                "{} on {tname}",
                opath.file_name().unwrap().to_string_lossy()
            );
            let all = run_libbpf(&oracle, opath, tpath, None);
            runs += 1;
            total += compare(&what, &obj, &target, None, &all);
            if all.failed_at.is_some() {
                for p in obj.programs().iter().filter(|p| !p.is_subprog) {
                    let one = run_libbpf(&oracle, opath, tpath, Some(&p.name));
                    runs += 1;
                    total += compare(
                        &format!("{what} [{}]", p.name),
                        &obj,
                        &target,
                        Some(&p.name),
                        &one,
                    );
                }
            }
        }
    }
    eprintln!("{total} relocation decisions equal to libbpf's over {runs} libbpf runs");
    assert!(total > 0);
}

#[test]
fn suite_objects_on_suite_targets() {
    let objects = files(&suite_dir().join("progs"), ".bpf.o");
    let targets: Vec<(String, PathBuf)> = files(&suite_dir().join("targets"), ".o")
        .into_iter()
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), p))
        .collect();
    assert!(objects.len() >= 9 && targets.len() >= 5);
    check_pairs(&objects, &targets);
}

#[test]
fn suite_objects_on_corpus_kernels() {
    let objects = files(&suite_dir().join("progs"), ".bpf.o");
    let targets: Vec<(String, PathBuf)> = tu::corpus_kernels()
        .into_iter()
        .map(|k| (k.key.clone(), k.raw_path()))
        .collect();
    check_pairs(&objects, &targets);
}
