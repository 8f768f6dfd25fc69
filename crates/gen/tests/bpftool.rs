//! btfkit's minimized BTF against `bpftool gen min_core_btf` on every
//! (object set, corpus kernel) pair: never larger, smaller in aggregate;
//! the pairs where bpftool fails are listed, and bpftool's outputs are
//! checked for soundness with btfkit's engine (the pairs where relocating
//! against them gives other results than the full BTF are listed too).

use std::path::PathBuf;
use std::process::Command;

use btfkit_btf::Btf;
use btfkit_core::{relocate, BpfObject, RelocateOptions, Target};
use btfkit_gen::{minimize, MinOptions};
use btfkit_testutil as tu;

mod common;
use common::key;

fn suite_objects() -> Vec<PathBuf> {
    let dir = tu::workspace_root().join("testdata/core/progs");
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_str().unwrap().ends_with(".bpf.o"))
        .collect();
    v.sort();
    v
}

/// Whether relocating `objs` against `min` gives the full BTF's results.
fn sound(objs: &[(String, BpfObject<'_>)], full: &Target<'_>, min: &[u8]) -> bool {
    let Ok(min_btf) = Btf::parse(min) else {
        return false;
    };
    let min_t = Target::new(&min_btf);
    objs.iter().all(|(_, o)| {
        let opts = RelocateOptions::default();
        let (a, b) = (relocate(o, full, &opts), relocate(o, &min_t, &opts));
        a.reports
            .iter()
            .zip(&b.reports)
            .all(|(x, y)| key(x).is_none() || key(x) == key(y))
    })
}

#[test]
fn never_larger_than_bpftool_and_smaller_in_aggregate() {
    let Some(bpftool) = tu::require_tool("bpftool") else {
        return;
    };
    let objects = suite_objects();
    let mut sets: Vec<Vec<PathBuf>> = objects.iter().map(|o| vec![o.clone()]).collect();
    sets.push(objects.clone());
    let dir = tempfile::tempdir().unwrap();
    let (mut ours_total, mut theirs_total, mut pairs) = (0usize, 0usize, 0usize);
    let mut bpftool_failed = Vec::new();
    let mut bpftool_unsound = Vec::new();
    for k in tu::corpus_kernels() {
        let full_path = k.raw_path();
        let bytes = std::fs::read(&full_path).unwrap();
        let full_btf = Btf::parse(&bytes).unwrap();
        let full = Target::new(&full_btf);
        for set in &sets {
            let label = if set.len() == 1 {
                set[0].file_name().unwrap().to_string_lossy().into_owned()
            } else {
                "all objects".into()
            };
            let obj_bytes: Vec<Vec<u8>> = set.iter().map(|p| std::fs::read(p).unwrap()).collect();
            let objs: Vec<(String, BpfObject<'_>)> = obj_bytes
                .iter()
                .zip(set)
                .map(|(b, p)| (p.display().to_string(), BpfObject::parse(b).unwrap()))
                .collect();
            let ours = minimize(&full, &objs, &MinOptions::default()).unwrap().btf;
            let out = dir.path().join("bpftool.btf");
            let status = Command::new(&bpftool)
                .args(["gen", "min_core_btf"])
                .arg(&full_path)
                .arg(&out)
                .args(set)
                .output()
                .unwrap();
            pairs += 1;
            if !status.status.success() {
                bpftool_failed.push(format!("{label} on {}", k.key));
                continue;
            }
            let theirs = std::fs::read(&out).unwrap();
            assert!(
                ours.len() <= theirs.len(),
                "{label} on {}: btfkit {} bytes, bpftool {} bytes",
                k.key,
                ours.len(),
                theirs.len()
            );
            if !sound(&objs, &full, &theirs) {
                bpftool_unsound.push(format!("{label} on {}", k.key));
            }
            ours_total += ours.len();
            theirs_total += theirs.len();
        }
    }
    eprintln!(
        "{pairs} pairs: btfkit {ours_total} bytes vs bpftool {theirs_total} bytes where both succeed ({:.3}x)",
        ours_total as f64 / theirs_total.max(1) as f64
    );
    eprintln!(
        "bpftool fails on {} pairs where btfkit succeeds: {bpftool_failed:?}",
        bpftool_failed.len()
    );
    eprintln!(
        "bpftool's output relocates differently from the full BTF on {} pairs: {bpftool_unsound:?}",
        bpftool_unsound.len()
    );
    assert!(ours_total < theirs_total);
}

/// On the suite's own targets (built to exercise candidate handling),
/// list where bpftool fails or is unsound; btfkit's output is checked for
/// soundness on them by the soundness tests.
#[test]
fn bpftool_on_the_suite_targets() {
    let Some(bpftool) = tu::require_tool("bpftool") else {
        return;
    };
    let objects = suite_objects();
    let dir = tempfile::tempdir().unwrap();
    let targets = tu::workspace_root().join("testdata/core/targets");
    let (mut failed, mut unsound, mut ok) = (Vec::new(), Vec::new(), 0);
    for t in std::fs::read_dir(&targets)
        .unwrap()
        .flatten()
        .map(|e| e.path())
    {
        if t.extension().is_none_or(|e| e != "o") {
            continue;
        }
        let tbytes = std::fs::read(&t).unwrap();
        let tbtf = Btf::parse_any(&tbytes, None).unwrap();
        let full = Target::new(&tbtf);
        for o in &objects {
            let label = format!(
                "{} on {}",
                o.file_name().unwrap().to_string_lossy(),
                t.file_name().unwrap().to_string_lossy()
            );
            let out = dir.path().join("b.btf");
            let st = Command::new(&bpftool)
                .args(["gen", "min_core_btf"])
                .arg(&t)
                .arg(&out)
                .arg(o)
                .output()
                .unwrap();
            if !st.status.success() {
                failed.push(label);
                continue;
            }
            let ob = std::fs::read(o).unwrap();
            let objs = vec![(label.clone(), BpfObject::parse(&ob).unwrap())];
            if sound(&objs, &full, &std::fs::read(&out).unwrap()) {
                ok += 1;
            } else {
                unsound.push(label);
            }
        }
    }
    eprintln!(
        "suite targets: bpftool sound on {ok} pairs, fails on {failed:?}, unsound on {unsound:?}"
    );
    // The suite's duplicate-candidate cases defeat bpftool's
    // first-candidate-only recording.
    assert!(!unsound.is_empty() || !failed.is_empty());
}
