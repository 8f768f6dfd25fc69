//! Soundness of minimization: relocating against the minimized BTF gives
//! the same results as against the full BTF, for every relocation whose
//! full result is not an error, under every load configuration the
//! minimizer accounts for (all programs, libbpf's default, each program
//! alone). Checked by btfkit's engine on every suite object (alone and
//! all together) against every corpus kernel and suite target, and by
//! libbpf itself (btf_custom_path) on the same pairs.

use std::path::PathBuf;

use btfkit_btf::Btf;
use btfkit_core::{relocate, BpfObject, RelocateOptions, Target};
use btfkit_gen::{minimize, MinOptions};
use btfkit_testutil as tu;
use btfkit_testutil::libbpf::run_libbpf;

mod common;
use common::{key, same_as_libbpf_on_full};

fn suite(rel: &str) -> PathBuf {
    tu::workspace_root().join("testdata/core").join(rel)
}

fn suite_objects() -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(suite("progs"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_str().unwrap().ends_with(".bpf.o"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

fn configs(obj: &BpfObject<'_>) -> Vec<RelocateOptions> {
    let mut v = vec![
        RelocateOptions::default(),
        RelocateOptions {
            include_non_autoload: true,
            only_programs: None,
        },
    ];
    for p in obj.programs().iter().filter(|p| !p.is_subprog) {
        v.push(RelocateOptions {
            include_non_autoload: true,
            only_programs: Some(vec![p.name.clone()]),
        });
    }
    v
}

/// Minimizes `full` for `objects` and checks every configuration;
/// returns (relocations compared, output size).
fn check(what: &str, objects: &[(String, Vec<u8>)], full: &Target<'_>) -> (usize, usize) {
    let objs: Vec<(String, BpfObject<'_>)> = objects
        .iter()
        .map(|(n, b)| (n.clone(), BpfObject::parse(b).unwrap()))
        .collect();
    let out = minimize(full, &objs, &MinOptions::default()).unwrap();
    let min = Btf::parse(&out.btf)
        .unwrap_or_else(|e| panic!("{what}: minimized BTF does not parse: {e}"));
    let min_target = Target::new(&min);
    let mut compared = 0;
    for (name, obj) in &objs {
        for opts in configs(obj) {
            let a = relocate(obj, full, &opts);
            let b = relocate(obj, &min_target, &opts);
            for (ra, rb) in a.reports.iter().zip(&b.reports) {
                let Some(ka) = key(ra) else { continue };
                let kb = key(rb).unwrap_or_else(|| format!("error: {:?}", rb.outcome));
                assert_eq!(
                    ka, kb,
                    "{what}: {name} {:?}: {} relo #{} {:?}",
                    opts.only_programs, ra.section, ra.index, ra.local_spec
                );
                compared += 1;
            }
        }
    }
    (compared, out.btf.len())
}

fn targets() -> Vec<(String, PathBuf)> {
    let mut t: Vec<(String, PathBuf)> = std::fs::read_dir(suite("targets"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "o"))
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), p))
        .collect();
    t.sort();
    t.extend(
        tu::corpus_kernels()
            .into_iter()
            .map(|k| (k.key.clone(), k.raw_path())),
    );
    t
}

#[test]
fn minimized_btf_relocates_like_the_full_btf() {
    let objects = suite_objects();
    let mut compared = 0;
    let mut pairs = 0;
    for (tname, tpath) in targets() {
        let bytes = btfkit_btf::load::read_btf_file(&tpath).unwrap();
        let full_btf = Btf::parse_any(&bytes, None).unwrap();
        let full = Target::new(&full_btf);
        // The whole suite as one set, as the hub minimizes.
        compared += check(&format!("all objects on {tname}"), &objects, &full).0;
        // Each object alone.
        for o in &objects {
            compared += check(
                &format!("{} on {tname}", o.0),
                std::slice::from_ref(o),
                &full,
            )
            .0;
            pairs += 1;
        }
    }
    eprintln!("{compared} relocation results equal between full and minimized BTF over {pairs} (object, target) pairs");
    assert!(compared > 10_000);
}

#[test]
fn libbpf_decides_the_same_with_the_minimized_btf() {
    let Some(oracle) = tu::libbpf_oracle("core_relocs") else {
        return;
    };
    let probe = run_libbpf(
        &oracle,
        &suite("progs/fields.bpf.o"),
        &suite("targets/base.o"),
        None,
    );
    if probe.relos.is_empty() {
        tu::missing::<()>("BPF program loading (libbpf relocates only when it can load)");
        return;
    }
    let objects = suite_objects();
    let dir = tempfile::tempdir().unwrap();
    let mut compared = 0;
    for (tname, tpath) in targets() {
        let bytes = btfkit_btf::load::read_btf_file(&tpath).unwrap();
        let full_btf = Btf::parse_any(&bytes, None).unwrap();
        let full = Target::new(&full_btf);
        let objs: Vec<(String, BpfObject<'_>)> = objects
            .iter()
            .map(|(n, b)| (n.clone(), BpfObject::parse(b).unwrap()))
            .collect();
        let out = minimize(&full, &objs, &MinOptions::default()).unwrap();
        let min_path = dir
            .path()
            .join(format!("{}.min.btf", tname.replace('/', "_")));
        std::fs::write(&min_path, &out.btf).unwrap();
        for (name, obj) in &objs {
            let opath = suite("progs").join(name);
            let mut runs = vec![None];
            runs.extend(
                obj.programs()
                    .iter()
                    .filter(|p| !p.is_subprog)
                    .map(|p| Some(p.name.clone())),
            );
            for prog in runs {
                let a = run_libbpf(&oracle, &opath, &tpath, prog.as_deref());
                let b = run_libbpf(&oracle, &opath, &min_path, prog.as_deref());
                // The relocations libbpf reached with the full BTF, up to
                // and excluding its first failure, decide the same way.
                let ours = relocate(
                    obj,
                    &full,
                    &RelocateOptions {
                        only_programs: prog.clone().map(|p| vec![p]),
                        ..Default::default()
                    },
                );
                compared += same_as_libbpf_on_full(&ours.reports, &a, &b, &|| {
                    format!("{name} {prog:?} {tname}")
                });
            }
        }
    }
    eprintln!("{compared} libbpf decisions equal between full and minimized BTF");
    assert!(compared > 1000);
}
