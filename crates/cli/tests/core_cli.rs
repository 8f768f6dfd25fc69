//! `btfkit core explain` and `btfkit core apply`.

use std::process::Command;

use btfkit_testutil as tu;

mod common;
use common::{btfkit, ok_stdout as ok};

/// `core check` per-program verdicts.
#[path = "check/verdicts.rs"]
mod check_verdicts;

fn suite(rel: &str) -> String {
    tu::workspace_root()
        .join("testdata/core")
        .join(rel)
        .to_str()
        .unwrap()
        .to_string()
}

#[test]
fn explain_lines_and_json() {
    let Some(k) = tu::corpus_kernel("debian/12/x86_64/6.1.0-56-amd64") else {
        return;
    };
    let obj = suite("progs/kernel.bpf.o");
    let text = ok(&[
        "core",
        "explain",
        &obj,
        "--btf",
        k.archive.to_str().unwrap(),
    ]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 38, "{text}");
    let parent = lines
        .iter()
        .find(|l| l.contains("struct task_struct::real_parent"))
        .unwrap();
    assert!(
        parent.starts_with("tp/sched/sched_process_exec kernel_exec insn #"),
        "{parent}"
    );
    assert!(
        parent.contains(" relo #2 byte_off struct task_struct::real_parent (0:4) -> [")
            && parent.ends_with(": 16 -> 2432"),
        "{parent}"
    );
    let old_state = lines
        .iter()
        .find(|l| l.contains("task_struct___old::state"))
        .unwrap();
    assert!(
        old_state.ends_with("no target: poisoned: no matching target"),
        "{old_state}"
    );
    let json = ok(&[
        "core",
        "explain",
        &obj,
        "--btf",
        k.archive.to_str().unwrap(),
        "--json",
    ]);
    let objs: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(objs.len(), lines.len());
    let p = objs
        .iter()
        .find(|o| o["local_spec"] == "struct task_struct::real_parent")
        .unwrap();
    assert_eq!(
        (p["result"].as_str(), p["orig"].as_u64(), p["new"].as_u64()),
        (Some("patched"), Some(16), Some(2432))
    );
    assert_eq!(p["target"]["raw"], "0:86"); // bpftool: real_parent bits_offset=19456
                                            // A 4.19 kernel: the flavor fallback is what resolves.
    let Some(old) =
        tu::corpus_kernel("bclinux/21.10U3/x86_64/4.19.90-2107.6.0.0248.35.oe1.bclinux.x86_64")
    else {
        return;
    };
    let text = ok(&[
        "core",
        "explain",
        &obj,
        "--btf",
        old.archive.to_str().unwrap(),
    ]);
    assert!(
        text.lines()
            .any(|l| l.contains("struct task_struct___old::state (0:0) -> [")
                && l.contains("struct task_struct::state")),
        "{text}"
    );
    assert!(text
        .lines()
        .any(|l| l.contains("field_exists struct task_struct::__state")
            && l.ends_with("no target: 1 -> 0")));
}

#[test]
fn explain_with_module_btf() {
    let mods = tu::corpus_modules();
    let Some(kvm) = mods.iter().find(|m| m.name == "kvm") else {
        return;
    };
    let obj = suite("progs/modules.bpf.o");
    let base = kvm.base.raw_path();
    // --btf a module's split BTF with --base its vmlinux.
    let text = ok(&[
        "core",
        "explain",
        &obj,
        "--btf",
        kvm.raw.to_str().unwrap(),
        "--base",
        base.to_str().unwrap(),
    ]);
    let divide = text
        .lines()
        .find(|l| l.contains("kvm_lapic::divide_count"))
        .unwrap();
    assert!(
        divide.contains("-> [debian_12_x86_64_6.1.0-56-amd64_kvm:100776]")
            && divide.ends_with(": 8 -> 136"),
        "{divide}"
    );
}

#[test]
fn apply_writes_a_loadable_object() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("kernel.host.o");
    let obj = suite("progs/kernel.bpf.o");
    let res = btfkit(&[
        "core",
        "apply",
        &obj,
        "--btf",
        "/sys/kernel/btf/vmlinux",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    // The applied object has no CO-RE records left and its instructions
    // are what explain says.
    let bytes = std::fs::read(&out).unwrap();
    let o = btfkit_core::BpfObject::parse(&bytes).unwrap();
    assert_eq!(o.btf_ext().unwrap().core_relo_count(), 0);
    let orig = std::fs::read(&obj).unwrap();
    assert_eq!(
        orig.len(),
        bytes.len(),
        "only instructions and one header word change"
    );
    let changed = orig.iter().zip(&bytes).filter(|(a, b)| a != b).count();
    assert!(changed > 20, "{changed} bytes changed");
    // libbpf and the verifier accept it on this kernel as it is.
    let Some(loader) = tu::libbpf_oracle("load_object") else {
        return;
    };
    let out_load = Command::new(&loader).arg(&out).output().unwrap();
    let text = String::from_utf8_lossy(&out_load.stdout);
    // EPERM: no privilege to load BPF here.
    if !out_load.status.success() && text.lines().any(|l| l == "LOAD -1") {
        tu::missing::<()>("BPF program loading");
        return;
    }
    assert!(
        out_load.status.success(),
        "libbpf rejects the applied object: {text} {}",
        String::from_utf8_lossy(&out_load.stderr)
    );
}

#[test]
fn apply_refuses_failing_relocations_and_objects_without_core() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.o");
    let res = btfkit(&[
        "core",
        "apply",
        &suite("progs/errors.bpf.o"),
        "--btf",
        &suite("targets/flavors.o"),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(res.status.code(), Some(1));
    let err = String::from_utf8(res.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("relo #0") && err.contains("field offset ambiguity"),
        "{err}"
    );
    assert!(!out.exists());
    // A BPF object compiled without CO-RE (no .BTF.ext) is refused clearly.
    let plain = dir.path().join("plain.o");
    let mut b = btfkit_btf::BtfBuilder::new();
    b.add_int("int", 4, 1).unwrap();
    std::fs::write(&plain, b.finish_elf()).unwrap();
    let res = btfkit(&[
        "core",
        "explain",
        plain.to_str().unwrap(),
        "--btf",
        &suite("targets/base.o"),
    ]);
    assert_eq!(res.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&res.stderr).contains("no .BTF.ext"));
}

/// `--program`: only the named programs' relocations are decided and
/// applied (libbpf with autoload off for the rest), so the one program of
/// errors.bpf.o whose relocations all resolve can be applied alone.
#[test]
fn apply_one_program_leaves_the_others_failing_relocations_alone() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ok.o");
    let obj = suite("progs/errors.bpf.o");
    let target = suite("targets/flavors.o");
    let apply = |program: &str| {
        btfkit(&[
            "core",
            "apply",
            &obj,
            "--btf",
            &target,
            "--program",
            program,
            "-o",
            out.to_str().unwrap(),
        ])
    };
    let res = apply("ok_after_errors");
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    let applied = std::fs::read(&out).unwrap();
    let orig = std::fs::read(&obj).unwrap();
    assert_ne!(applied, orig, "ok_after_errors' relocation was applied");
    // What changed is ok_after_errors' code only: the explain line of its
    // relocation gives the instruction, and every other program's bytes
    // are as compiled.
    let o = btfkit_core::BpfObject::parse(&orig).unwrap();
    let p = o
        .programs()
        .iter()
        .find(|p| p.name == "ok_after_errors")
        .unwrap();
    let sec = o.section(p.section).unwrap().file_offset as usize;
    let range = sec + p.insn_off * 8..sec + (p.insn_off + p.insn_cnt) * 8;
    let outside = orig
        .iter()
        .zip(&applied)
        .enumerate()
        .filter(|(i, (a, b))| a != b && !range.contains(i))
        .count();
    assert!(
        outside <= 4,
        "{outside} bytes changed outside the program (the .BTF.ext header word)"
    );
    // A failing program named alone still fails, and an unknown name is
    // refused with the names there are.
    let res = apply("err_offset_ambiguity");
    assert_eq!(res.status.code(), Some(1));
    let res = apply("nope");
    let err = String::from_utf8_lossy(&res.stderr);
    assert!(
        err.contains("no program named \"nope\"") && err.contains("ok_after_errors"),
        "{err}"
    );
}

#[test]
fn help_for_core_commands() {
    for args in [
        vec!["core", "--help"],
        vec!["core", "explain", "--help"],
        vec!["core", "apply", "--help"],
    ] {
        assert!(ok(&args).contains("Usage: btfkit core"));
    }
}
