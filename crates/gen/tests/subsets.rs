//! Soundness for every subset of programs. Real tools load only the
//! programs of the events a user selects (autoload off for the rest), and
//! libbpf prunes a local type's candidates as the loaded programs'
//! relocations resolve, so the minimized BTF must give libbpf's decisions
//! for any subset of programs, not only "all" and "each alone". Checked on
//! all pairs and on random subsets of programs, for every suite object and
//! for a generated object (`bench/bigobj`): by btfkit's engine against
//! every suite target and corpus kernel, and by libbpf itself (full vs
//! minimized BTF as `btf_custom_path`) on a few of them.

use std::path::{Path, PathBuf};
use std::process::Command;

use btfkit_btf::Btf;
use btfkit_core::{relocate, BpfObject, RelocateOptions, Target};
use btfkit_gen::{minimize, MinOptions};
use btfkit_testutil as tu;
use btfkit_testutil::libbpf::run_libbpf_programs;

mod common;
use common::{key, same_as_libbpf_on_full};

/// Programs in the generated object: 28 pairs.
const GENERATED_PROGRAMS: usize = 8;
/// Random subsets per object (besides all pairs).
const RANDOM_SUBSETS: usize = 12;

fn suite(rel: &str) -> PathBuf {
    tu::workspace_root().join("testdata/core").join(rel)
}

/// The suite's objects and, when clang-16 and bpftool are there, a
/// generated one modelled on big security tools.
fn objects() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(suite("progs"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_str().unwrap().ends_with(".bpf.o"))
        .collect();
    v.sort();
    v.extend(generated_object());
    v
}

/// `bench/bigobj` at a small size, against the Debian 12 corpus kernel's
/// header (the host's may lack what the generator reads). Built once per
/// process: the tests run in parallel and share the output directory.
fn generated_object() -> Option<PathBuf> {
    static BUILT: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    BUILT.get_or_init(build_generated_object).clone()
}

fn build_generated_object() -> Option<PathBuf> {
    tu::require_tool("clang-16")?;
    tu::require_tool("bpftool")?;
    let kernel = tu::corpus_kernel("debian/12/x86_64/6.1.0-56-amd64")?;
    let out = tu::cache_dir().join("bigobj");
    let stdout = tu::run_ok(
        Command::new(tu::workspace_root().join("bench/bigobj/build.sh"))
            .arg(GENERATED_PROGRAMS.to_string())
            .env("BIGOBJ_OUT", &out)
            .env("KERNEL_BTF", kernel.raw_path()),
    );
    let path = PathBuf::from(String::from_utf8(stdout).unwrap().trim());
    Some(if path.is_absolute() {
        path
    } else {
        tu::workspace_root().join(path)
    })
}

/// Deterministic xorshift: the same subsets on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// All pairs of `names`, then random subsets of two or more.
fn subsets(names: &[String], seed: u64) -> Vec<Vec<String>> {
    let mut v = Vec::new();
    for (i, a) in names.iter().enumerate() {
        for b in &names[i + 1..] {
            v.push(vec![a.clone(), b.clone()]);
        }
    }
    if names.len() > 2 {
        let mut rng = Rng(seed | 1);
        for _ in 0..RANDOM_SUBSETS {
            let pick: Vec<String> = names
                .iter()
                .filter(|_| rng.next() % 2 == 0)
                .cloned()
                .collect();
            if pick.len() >= 2 {
                v.push(pick);
            }
        }
    }
    v
}

fn main_programs(obj: &BpfObject<'_>) -> Vec<String> {
    obj.programs()
        .iter()
        .filter(|p| !p.is_subprog)
        .map(|p| p.name.clone())
        .collect()
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

fn load(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn every_subset_of_programs_relocates_alike_with_the_minimized_btf() {
    let objects: Vec<(PathBuf, Vec<u8>)> = objects()
        .into_iter()
        .map(|p| (p.clone(), load(&p)))
        .collect();
    let (mut compared, mut subsets_checked) = (0usize, 0usize);
    for (tname, tpath) in targets() {
        let bytes = btfkit_btf::load::read_btf_file(&tpath).unwrap();
        let full_btf = Btf::parse_any(&bytes, None).unwrap();
        let full = Target::new(&full_btf);
        for (seed, (path, data)) in objects.iter().enumerate() {
            let obj = BpfObject::parse(data).unwrap();
            let name = path.file_name().unwrap().to_string_lossy();
            let objs = vec![(name.to_string(), BpfObject::parse(data).unwrap())];
            let min = minimize(&full, &objs, &MinOptions::default()).unwrap();
            let min_btf = Btf::parse(&min.btf).unwrap();
            let min_target = Target::new(&min_btf);
            for set in subsets(&main_programs(&obj), seed as u64 + 1) {
                let opts = RelocateOptions {
                    include_non_autoload: true,
                    only_programs: Some(set.clone()),
                };
                let a = relocate(&obj, &full, &opts);
                let b = relocate(&obj, &min_target, &opts);
                for (ra, rb) in a.reports.iter().zip(&b.reports) {
                    let Some(ka) = key(ra) else { continue };
                    let kb = key(rb).unwrap_or_else(|| format!("error: {:?}", rb.outcome));
                    assert_eq!(
                        ka, kb,
                        "{name} on {tname}, programs {set:?}: {} relo #{} {:?}",
                        ra.section, ra.index, ra.local_spec
                    );
                    compared += 1;
                }
                subsets_checked += 1;
            }
        }
    }
    eprintln!(
        "{compared} relocation results equal over {subsets_checked} (object, target, subset) cases"
    );
    assert!(subsets_checked > 100);
}

/// libbpf, loading each subset with the full and with the minimized BTF,
/// decides every relocation it reaches alike. On the suite's targets and
/// two corpus kernels (each run is a process and a target parse).
#[test]
fn libbpf_decides_every_subset_alike_with_the_minimized_btf() {
    let Some(oracle) = tu::libbpf_oracle("core_relocs") else {
        return;
    };
    let probe = run_libbpf_programs(
        &oracle,
        &suite("progs/fields.bpf.o"),
        &suite("targets/base.o"),
        &[],
    );
    if probe.relos.is_empty() {
        tu::missing::<()>("BPF program loading (libbpf relocates only when it can load)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut targets = targets();
    let suite_targets = targets.iter().filter(|(n, _)| n.ends_with(".o")).count();
    targets.truncate(suite_targets + 2);
    let objects: Vec<(PathBuf, Vec<u8>)> = objects()
        .into_iter()
        .map(|p| (p.clone(), load(&p)))
        .collect();
    let mut compared = 0;
    for (tname, tpath) in &targets {
        let bytes = btfkit_btf::load::read_btf_file(tpath).unwrap();
        let full_btf = Btf::parse_any(&bytes, None).unwrap();
        let full = Target::new(&full_btf);
        for (seed, (path, data)) in objects.iter().enumerate() {
            let obj = BpfObject::parse(data).unwrap();
            let name = path.file_name().unwrap().to_string_lossy();
            let objs = vec![(name.to_string(), BpfObject::parse(data).unwrap())];
            let min = minimize(&full, &objs, &MinOptions::default()).unwrap();
            let min_path = dir
                .path()
                .join(format!("{}-{name}.min.btf", tname.replace('/', "_")));
            std::fs::write(&min_path, &min.btf).unwrap();
            for set in subsets(&main_programs(&obj), seed as u64 + 1) {
                let progs: Vec<&str> = set.iter().map(String::as_str).collect();
                let a = run_libbpf_programs(&oracle, path, tpath, &progs);
                let b = run_libbpf_programs(&oracle, path, &min_path, &progs);
                // Which relocations libbpf reaches, in its order: ours.
                let ours = relocate(
                    &obj,
                    &full,
                    &RelocateOptions {
                        include_non_autoload: true,
                        only_programs: Some(set.clone()),
                    },
                );
                compared += same_as_libbpf_on_full(&ours.reports, &a, &b, &|| {
                    format!("{name} {set:?} {tname}")
                });
            }
        }
    }
    eprintln!(
        "{compared} libbpf decisions equal between full and minimized BTF over program subsets"
    );
    assert!(compared > 1000);
}
