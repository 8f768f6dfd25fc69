//! `btf dump --format c`, `btf diff` and `core check` from the command
//! line: known kernel changes, agreement with libbpf, bad input.

use std::path::{Path, PathBuf};
use std::process::Command;

use btfkit_btf::{BtfBuilder, MemberSpec, TypeId};
use btfkit_testutil as tu;
use btfkit_testutil::libbpf::run_libbpf;
use serde_json::Value;

mod common;
use common::{btfkit, fails, ok_stdout as ok, s};

fn raw(key: &str) -> Option<PathBuf> {
    tu::corpus_kernel(key).map(|k| k.raw_path())
}

#[test]
fn c_header_of_chosen_types_compiles() {
    let Some(k) = raw("debian/12/x86_64/6.1.0-56-amd64") else {
        return;
    };
    let Some(clang) = tu::require_tool("clang-16") else {
        return;
    };
    let h = ok(&[
        "btf",
        "dump",
        s(&k),
        "--format",
        "c",
        "--type",
        "task_struct",
        "--type",
        "trace_event_raw_sys_enter",
    ]);
    assert!(h.starts_with("#ifndef __VMLINUX_H__\n#define __VMLINUX_H__\n"));
    assert!(h.contains(
        "#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)"
    ));
    assert!(h.contains("struct task_struct {") && h.contains("struct trace_event_raw_sys_enter {"));
    // Only what they need: no unrelated types.
    assert!(
        !h.contains("struct sk_buff {"),
        "sk_buff is only reached through pointers"
    );
    let full = ok(&["btf", "dump", s(&k), "--format", "c"]);
    assert!(h.len() < full.len() / 3, "{} vs {}", h.len(), full.len());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("vmlinux.h"), &h).unwrap();
    std::fs::write(
        dir.path().join("t.c"),
        "#include \"vmlinux.h\"\nint f(struct task_struct *t) { return t->pid + sizeof(struct task_struct); }\n",
    )
    .unwrap();
    tu::run_ok(
        Command::new(clang)
            .args(["-target", "bpf", "-O2", "-Werror", "-c", "t.c", "-o", "t.o"])
            .current_dir(dir.path()),
    );
    // Deterministic.
    assert_eq!(full, ok(&["btf", "dump", s(&k), "--format", "c"]));
}

#[test]
fn c_header_bad_input() {
    let Some(k) = raw("debian/12/x86_64/6.1.0-56-amd64") else {
        return;
    };
    let err = fails(&[
        "btf",
        "dump",
        s(&k),
        "--format",
        "c",
        "--type",
        "task_strct",
    ]);
    assert!(
        err.contains("no type named \"task_strct\"") && err.contains("task_struct"),
        "{err}"
    );
    let err = fails(&["btf", "dump", s(&k), "--type", "task_struct"]);
    assert!(err.contains("--format c"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    // A typedef cycle, and a struct containing itself.
    let mut b = BtfBuilder::new();
    let int = b.add_int("int", 4, 1).unwrap();
    let a = b.add_typedef("a_t", TypeId(4)).unwrap();
    let _ = b.add_typedef("b_t", a).unwrap();
    let _ = b.add_typedef("c_t", TypeId(3)).unwrap();
    let _ = int;
    let cyc = dir.path().join("cycle.btf");
    std::fs::write(&cyc, b.finish()).unwrap();
    let err = fails(&["btf", "dump", s(&cyc), "--format", "c"]);
    assert!(err.contains("cycle"), "{err}");
    let mut b = BtfBuilder::new();
    let int = b.add_int("int", 4, 1).unwrap();
    let m = |name, type_id, bit_offset| MemberSpec {
        name,
        type_id,
        bit_offset,
        bitfield_size: 0,
    };
    b.add_struct("self_t", 8, &[m("x", int, 0), m("me", TypeId(2), 0)])
        .unwrap();
    let selfref = dir.path().join("self.btf");
    std::fs::write(&selfref, b.finish()).unwrap();
    // Refused when parsed (the kernel's rule), by every command.
    let err = fails(&["btf", "dump", s(&selfref), "--format", "c"]);
    assert!(err.contains("contains itself by value"), "{err}");
    // Empty BTF: an empty header; an empty file: an error.
    let empty = dir.path().join("empty.btf");
    std::fs::write(&empty, BtfBuilder::new().finish()).unwrap();
    let h = ok(&["btf", "dump", s(&empty), "--format", "c"]);
    assert!(h.contains("#endif /* __VMLINUX_H__ */") && !h.contains("struct"));
    let zero = dir.path().join("zero.btf");
    std::fs::write(&zero, b"").unwrap();
    fails(&["btf", "dump", s(&zero), "--format", "c"]);
}

/// Members of a struct according to bpftool's raw dump (an independent
/// oracle for what the diff says).
fn bpftool_members(file: &Path, strukt: &str) -> Option<Vec<String>> {
    let out = tu::bpftool(&["btf", "dump", "file", s(file), "format", "raw"])?;
    let text = String::from_utf8(out).unwrap();
    let head = format!("STRUCT '{strukt}' size=");
    let mut lines = text.lines().skip_while(|l| !l.contains(&head));
    lines.next()?;
    Some(
        lines
            .take_while(|l| l.starts_with('\t'))
            .filter_map(|l| {
                l.trim()
                    .strip_prefix('\'')
                    .and_then(|r| r.split_once('\''))
                    .map(|(n, _)| n.to_string())
            })
            .collect(),
    )
}

#[test]
fn diff_reports_known_kernel_changes() {
    let (Some(k419), Some(k510), Some(k61), Some(k612)) = (
        raw("bclinux/21.10U3/x86_64/4.19.90-2107.6.0.0248.35.oe1.bclinux.x86_64"),
        raw("debian/11/x86_64/5.10.0-32-amd64"),
        raw("debian/12/x86_64/6.1.0-56-amd64"),
        raw("debian/12/x86_64/6.12.117+deb12-amd64"),
    ) else {
        return;
    };
    let diff = |a: &Path, b: &Path| -> Value {
        serde_json::from_str(&ok(&[
            "btf",
            "diff",
            s(a),
            s(b),
            "--type",
            "task_struct",
            "--json",
        ]))
        .unwrap()
    };
    let members = |d: &Value, change: &str| -> Vec<String> {
        d["changed"][0]["members"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["change"] == change)
            .map(|m| {
                let side = if change == "added" { "after" } else { "before" };
                m[side]["name"].as_str().unwrap().to_string()
            })
            .collect()
    };
    // 4.19 and 5.10 -> 6.1: `state` became `__state` (5.14).
    for old in [&k419, &k510] {
        let d = diff(old, &k61);
        assert!(members(&d, "removed").contains(&"state".to_string()), "{d}");
        assert!(members(&d, "added").contains(&"__state".to_string()), "{d}");
        let st = d["changed"][0]["members"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["after"]["name"] == "__state")
            .unwrap();
        assert_eq!(st["after"]["type"], "unsigned int");
    }
    // 6.1 -> 6.12: rss_stat and thread_group went (6.2, 6.7), mm_cid came (6.4).
    let d = diff(&k61, &k612);
    for gone in ["rss_stat", "thread_group"] {
        assert!(
            members(&d, "removed").contains(&gone.to_string()),
            "{gone}: {d}"
        );
    }
    assert!(members(&d, "added").contains(&"mm_cid".to_string()));
    // bpftool's raw dumps agree on presence.
    if let (Some(a), Some(b)) = (
        bpftool_members(&k61, "task_struct"),
        bpftool_members(&k612, "task_struct"),
    ) {
        for m in members(&d, "removed") {
            assert!(
                !b.contains(&m) || a.iter().filter(|x| **x == m).count() > 1,
                "{m} still in 6.12 per bpftool"
            );
        }
        for m in members(&d, "added") {
            assert!(b.contains(&m) && !a.contains(&m), "{m}: bpftool disagrees");
        }
    }
    // Moves are reported with both offsets.
    let moved = d["changed"][0]["members"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["moved"] == true)
        .count();
    assert!(moved > 10);
    // Text and summary forms.
    let text = ok(&["btf", "diff", s(&k510), s(&k61), "--type", "task_struct"]);
    assert!(
        text.contains("~ struct task_struct (size ")
            && text.contains("    - state: volatile long int at offset 16"),
        "{text}"
    );
    let summary = ok(&["btf", "diff", s(&k510), s(&k61)]);
    assert!(
        summary
            .lines()
            .next()
            .unwrap()
            .contains("named types in both"),
        "{summary}"
    );
    assert!(summary.contains("~ struct task_struct: "));
    // Same file: no differences.
    let same = ok(&["btf", "diff", s(&k61), s(&k61), "--type", "task_struct"]);
    assert_eq!(same.trim(), "no differences in task_struct");
    let err = fails(&["btf", "diff", s(&k61), s(&k612), "--type", "task_strct"]);
    assert!(
        err.contains("similar names") && err.contains("task_struct"),
        "{err}"
    );
}

fn suite_objects() -> Vec<PathBuf> {
    let dir = tu::workspace_root().join("testdata/core/progs");
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| s(p).ends_with(".bpf.o"))
        .collect();
    v.sort();
    v
}

/// `core check` over the corpus says for every relocation what libbpf
/// decides for the same object and kernel.
#[test]
fn check_agrees_with_libbpf_on_the_corpus() {
    let Some(corpus) = tu::corpus_dir() else {
        return;
    };
    let Some(oracle) = tu::libbpf_oracle("core_relocs") else {
        return;
    };
    let objects = suite_objects();
    let mut args = vec![
        "core".to_string(),
        "check".into(),
        "--archive".into(),
        s(&corpus.join("archive")).into(),
        "--json".into(),
        // The relocation-level document (plain --json is one line per
        // program and kernel).
        "--relocations".into(),
    ];
    args.extend(objects.iter().map(|p| s(p).to_string()));
    let r = btfkit(&args);
    // Some suite objects fail on purpose (errors.bpf.o), so the command fails.
    assert!(!r.status.success());
    let v: Value = serde_json::from_slice(&r.stdout).unwrap();
    let kernels = v["kernels"].as_array().unwrap();
    assert_eq!(kernels.len(), tu::corpus_kernels().len());
    let mut compared = 0;
    for k in tu::corpus_kernels() {
        let key = k.key.replace("/aarch64/", "/arm64/");
        let kv = kernels
            .iter()
            .find(|x| x["key"] == key.as_str())
            .unwrap_or_else(|| panic!("{key} missing"));
        let relocs = kv["relocations"].as_array().unwrap();
        for obj in &objects {
            let name = obj.file_name().unwrap().to_str().unwrap();
            let mine: Vec<&Value> = relocs
                .iter()
                .filter(|r| r["object"] == name && r["verdict"] != "skipped")
                .collect();
            let all = run_libbpf(&oracle, obj, &k.raw_path(), None);
            if all.relos.is_empty()
                && all.load_ret != 0
                && mine.iter().all(|r| r["verdict"] != "error")
            {
                tu::missing::<()>("BPF program loading (libbpf relocates only when it can load)");
                return;
            }
            let runs = if all.failed_at.is_some() {
                // libbpf stops at the first error: ask per program.
                let progs: std::collections::BTreeSet<&str> =
                    mine.iter().filter_map(|r| r["program"].as_str()).collect();
                progs
                    .into_iter()
                    .map(|p| (Some(p), run_libbpf(&oracle, obj, &k.raw_path(), Some(p))))
                    .collect()
            } else {
                vec![(None, all)]
            };
            for (only, run) in &runs {
                for r in &mine {
                    let Some(prog) = r["program"].as_str() else {
                        continue;
                    };
                    if only.is_some_and(|p| p != prog) {
                        continue;
                    }
                    let idx = r["relo"].as_u64().unwrap() as usize;
                    let Some(theirs) = run.relos.get(&(prog.to_string(), idx)) else {
                        continue;
                    };
                    let want = if theirs.errno.is_some() {
                        "error"
                    } else if theirs.patched.is_none() && !theirs.poisoned.is_empty() {
                        "poisoned"
                    } else {
                        "patched"
                    };
                    let got = match r["verdict"].as_str().unwrap() {
                        "resolved" | "missing" => "patched",
                        other => other,
                    };
                    assert_eq!(
                        got, want,
                        "{key} {name} {prog} relo #{idx}: btfkit {r}, libbpf {theirs:?}"
                    );
                    compared += 1;
                }
            }
        }
    }
    assert!(compared > 5000, "{compared}");
    eprintln!("{compared} core check verdicts equal to libbpf's");
}

#[test]
fn check_table_bundle_and_exit_status() {
    let bundle = tu::workspace_root().join("testdata/bundle/suite.bundle");
    let kernel = tu::workspace_root().join("testdata/core/progs/kernel.bpf.o");
    let probe = tu::workspace_root().join("testdata/core/progs/probe.bpf.o");
    // Guarded failures only: success, and the matrix marks them.
    let out = ok(&[
        "core",
        "check",
        s(&kernel),
        s(&probe),
        "--bundle",
        s(&bundle),
    ]);
    assert!(out.contains("ok (1 guarded)"), "{out}");
    assert!(
        out.contains("o  kernel.bpf.o kernel_exec")
            || out.contains("kernel.bpf.o kernel_exec relo #"),
        "{out}"
    );
    // An object that fails everywhere: non-zero, one line naming kernels.
    let errors = tu::workspace_root().join("testdata/core/progs/errors.bpf.o");
    let r = btfkit(&["core", "check", s(&errors), "--bundle", s(&bundle)]);
    assert!(!r.status.success());
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(
        err.contains("kernels fail: programs fail to load on"),
        "{err}"
    );
    assert!(String::from_utf8_lossy(&r.stdout).contains("FAILS ("));
    // Bad input.
    fails(&["core", "check", s(&kernel)]);
    fails(&["core", "check", s(&kernel), "--bundle", s(&kernel)]);
    fails(&["core", "check", s(&bundle), "--bundle", s(&bundle)]);
}
