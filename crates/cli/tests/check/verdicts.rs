//! `core check` per-program verdicts: the check suite
//! (testdata/core/check) over the corpus kernels, and against the host
//! kernel's verifier.

use std::collections::BTreeMap;
use std::process::Command;

use btfkit_testutil as tu;
use serde_json::Value;

use super::common::btfkit;

fn check_obj(name: &str) -> String {
    tu::workspace_root()
        .join("testdata/core/check")
        .join(name)
        .to_str()
        .unwrap()
        .to_string()
}

/// `core check ... --json`: (program, kernel) -> line.
fn verdicts(args: &[&str]) -> BTreeMap<(String, String), Value> {
    let mut all = vec!["core", "check", "--json"];
    all.extend_from_slice(args);
    let r = btfkit(&all);
    let text = String::from_utf8(r.stdout).unwrap();
    text.lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (
                (
                    v["program"].as_str().unwrap().to_string(),
                    v["kernel"].as_str().unwrap().to_string(),
                ),
                v,
            )
        })
        .collect()
}

/// (major, minor) of a corpus key's release.
fn version(key: &str) -> (u32, u32) {
    let rel = key.rsplit('/').next().unwrap();
    let mut it = rel.split(|c: char| !c.is_ascii_digit());
    (
        it.next().unwrap().parse().unwrap(),
        it.next().unwrap().parse().unwrap(),
    )
}

/// What each program of tools.bpf.o should get on a kernel of a version.
fn expected(program: &str, v: (u32, u32)) -> &'static str {
    let old = v < (5, 5); // the corpus' 4.18 and 4.19
    match program {
        "boottime_unguarded" | "optional_unguarded" if !old => "fails",
        "helper_unguarded" | "fentry_kernel_clone" | "kfunc_guarded" if old => "fails",
        "fentry_do_fork" | "cookie_raw" | "ctx_beyond_args" => "fails",
        "cookie_btf" if v < (5, 12) => "fails",
        "ctx_moved_by_version" if v < (5, 11) => "fails",
        "rodata_knob" if old => "unknown",
        _ => "ok",
    }
}

#[test]
fn check_suite_verdicts_on_the_corpus() {
    let Some(corpus) = tu::corpus_dir() else {
        return;
    };
    let archive = corpus.join("archive");
    let tools = check_obj("tools.bpf.o");
    let kconfig = check_obj("kconfig.bpf.o");
    let v = verdicts(&[&tools, &kconfig, "--archive", archive.to_str().unwrap()]);
    let kernels = tu::corpus_kernels();
    assert_eq!(v.len(), kernels.len() * 19, "{v:#?}");
    for ((prog, key), line) in &v {
        let want = match prog.as_str() {
            "kconfig_guard" => "unknown", // no config: CONFIG_SCHED_CORE unknown
            p => expected(p, version(key)),
        };
        assert_eq!(line["verdict"], want, "{prog} on {key}: {line}");
        assert_eq!(line["autoload"], prog != "optional_unguarded", "{line}");
        let reasons = line["reasons"].as_array().unwrap();
        assert_eq!(reasons.is_empty(), want == "ok", "{line}");
    }
    // The example: the nested guard is ok on 4.19 and 6.1; the
    // unguarded read names the poisoned instruction.
    let k419 = "bclinux/21.10U3/x86_64/4.19.90-2107.6.0.0248.35.oe1.bclinux.x86_64";
    let k61 = "debian/12/x86_64/6.1.0-56-amd64";
    for k in [k419, k61] {
        assert_eq!(v[&("boottime_guarded".into(), k.into())]["verdict"], "ok");
    }
    let bad = &v[&("boottime_unguarded".into(), k61.into())]["reasons"][0];
    assert_eq!(bad["kind"], "poisoned", "{bad}");
    assert_eq!(bad["func"], "boottime_unguarded");
    assert!(bad["insn"].is_u64());
    assert!(
        bad["message"].as_str().unwrap().contains("real_start_time"),
        "{bad}"
    );
    // Reasons beyond CO-RE, named.
    let helper = &v[&("helper_unguarded".into(), k419.into())]["reasons"][0];
    assert_eq!(helper["kind"], "helper");
    assert!(helper["message"]
        .as_str()
        .unwrap()
        .contains("BPF_FUNC_ktime_get_boot_ns"));
    // A helper the program's type cannot call: raw_tp never, tp_btf
    // before 5.12 (the enum guard is true on both).
    let k510 = "debian/11/x86_64/5.10.0-32-amd64";
    for (prog, key) in [
        ("cookie_raw", k61),
        ("cookie_raw", k510),
        ("cookie_btf", k510),
    ] {
        let r = &v[&(prog.into(), key.into())]["reasons"][0];
        assert_eq!(r["kind"], "helper_prog_type", "{prog} on {key}: {r}");
        assert_eq!(r["func"], "sock_cookie", "{r}");
        assert!(
            r["message"].as_str().unwrap().contains("get_socket_cookie"),
            "{r}"
        );
    }
    // Context reads past the attach target's arguments, and through a
    // context pointer moved by a version-dependent offset (5.10 only).
    for (prog, key, what) in [
        (
            "ctx_beyond_args",
            k61,
            "reads ctx[2] but the kernel's sched_process_fork has 2 arguments",
        ),
        ("ctx_moved_by_version", k510, "moved by 8"),
    ] {
        let r = &v[&(prog.into(), key.into())]["reasons"][0];
        assert_eq!(r["kind"], "ctx_access", "{prog} on {key}: {r}");
        assert!(r["message"].as_str().unwrap().contains(what), "{r}");
    }
    let attach = &v[&("fentry_do_fork".into(), k61.into())]["reasons"][0];
    assert_eq!(attach["kind"], "attach_target");
    assert!(attach["message"].as_str().unwrap().contains("_do_fork"));
    let ptype = &v[&("fentry_kernel_clone".into(), k419.into())]["reasons"];
    assert!(
        ptype
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["kind"] == "prog_type"),
        "{ptype}"
    );
}

/// Instructions newer than the kernel's verifier: BPF atomics beyond
/// `lock add` fail on 5.10 anywhere in the program, even behind a version
/// check that keeps them unreached (the verifier's first pass refuses
/// them: a 5.10 guest of the kernel matrix showed it); vendor kernels that
/// backport BPF (4.18 el8, 4.19 oe1) are not judged by their version.
#[test]
fn check_names_instructions_newer_than_the_kernel() {
    let Some(corpus) = tu::corpus_dir() else {
        return;
    };
    let archive = corpus.join("archive");
    let isa = check_obj("isa.bpf.o");
    let v = verdicts(&[&isa, "--archive", archive.to_str().unwrap()]);
    assert_eq!(v.len(), tu::corpus_kernels().len() * 3, "{v:#?}");
    let mut failed = 0;
    for ((prog, key), line) in &v {
        let want = if prog != "atomic_add" && version(key) < (5, 12) {
            if key.contains(".el8") || key.contains(".oe1") {
                "ok"
            } else {
                "fails"
            }
        } else {
            "ok"
        };
        assert_eq!(line["verdict"], want, "{prog} on {key}: {line}");
        if want == "fails" {
            let r = &line["reasons"][0];
            assert_eq!(r["kind"], "instruction_set", "{line}");
            assert_eq!(r["func"], prog.as_str(), "{line}");
            let what = if prog.contains("fetch_or") {
                "fetch_or"
            } else {
                "cmpxchg"
            };
            assert!(r["message"].as_str().unwrap().contains(what), "{line}");
            failed += 1;
        }
    }
    assert!(
        failed >= 10,
        "two programs on the corpus' 5.10 kernels: {failed}"
    );
}

#[test]
fn check_pins_rodata_and_reads_kconfig() {
    let Some(k) =
        tu::corpus_kernel("bclinux/21.10U3/x86_64/4.19.90-2107.6.0.0248.35.oe1.bclinux.x86_64")
    else {
        return;
    };
    let btf = k.raw_path();
    let btf = btf.to_str().unwrap();
    let tools = check_obj("tools.bpf.o");
    let kconfig = check_obj("kconfig.bpf.o");
    let key = |p: &str, v: &BTreeMap<(String, String), Value>| {
        v.iter()
            .find(|((prog, _), _)| prog == p)
            .map(|(_, l)| l["verdict"].as_str().unwrap().to_string())
            .unwrap()
    };
    let v = verdicts(&[&tools, "--btf", btf]);
    assert_eq!(key("rodata_knob", &v), "unknown");
    // Without a release, LINUX_KERNEL_VERSION is unknown too; with it, decided.
    assert_eq!(key("kversion_guard", &v), "unknown");
    let v = verdicts(&[
        &tools,
        "--btf",
        btf,
        "--kernel-release",
        "4.19.90",
        "--rodata",
        "targ_boottime=0",
    ]);
    assert_eq!(key("rodata_knob", &v), "ok");
    assert_eq!(key("kversion_guard", &v), "ok");
    let v = verdicts(&[&tools, "--btf", btf, "--rodata", "targ_boottime=1"]);
    assert_eq!(key("rodata_knob", &v), "fails");
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config");
    std::fs::write(&cfg, "# CONFIG_SCHED_CORE is not set\n").unwrap();
    let v = verdicts(&[&kconfig, "--btf", btf, "--kconfig", cfg.to_str().unwrap()]);
    assert_eq!(key("kconfig_guard", &v), "ok");
    std::fs::write(&cfg, "CONFIG_SCHED_CORE=y\n").unwrap();
    let v = verdicts(&[&kconfig, "--btf", btf, "--kconfig", cfg.to_str().unwrap()]);
    assert_eq!(key("kconfig_guard", &v), "fails");
    // A pin that names nothing is an error.
    let r = btfkit(&["core", "check", &tools, "--btf", btf, "--rodata", "nope=1"]);
    assert!(!r.status.success());
    // The per-program table.
    let r = btfkit(&["core", "check", &tools, "--btf", btf, "--programs"]);
    let out = String::from_utf8_lossy(&r.stdout);
    assert!(out.contains("tools.bpf.o helper_unguarded"), "{out}");
    assert!(out.contains("not loaded by default"), "{out}");
    assert!(out.contains("why programs fail"), "{out}");
}

/// `core check --btf /sys/kernel/btf/vmlinux` agrees with the host's
/// verifier, program by program, for every program whose load depends only
/// on BTF: each is loaded alone with libbpf. Loads refused for other causes
/// (EPERM: the host does not allow the program type, e.g. fentry in a VM
/// without ftrace direct calls) are not CO-RE verdicts and are not counted.
#[test]
fn check_agrees_with_the_host_verifier() {
    let vmlinux = std::path::Path::new("/sys/kernel/btf/vmlinux");
    if !vmlinux.exists() || !tu::is_root() {
        tu::missing::<()>("root and /sys/kernel/btf/vmlinux (loading BPF programs)");
        return;
    }
    let Some(oracle) = tu::libbpf_oracle("load_programs") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut args: Vec<String> = vec!["--btf".into(), "/sys/kernel/btf/vmlinux".into()];
    if let Ok(out) = Command::new("zcat").arg("/proc/config.gz").output() {
        if out.status.success() {
            let cfg = dir.path().join("config");
            std::fs::write(&cfg, &out.stdout).unwrap();
            args.extend(["--kconfig".into(), cfg.to_str().unwrap().to_string()]);
        }
    }
    // The check suite, and the CO-RE suite (synthetic types, mostly
    // failing everywhere; kernel.bpf.o and probe.bpf.o use real ones).
    let mut objects = vec![
        check_obj("tools.bpf.o"),
        check_obj("kconfig.bpf.o"),
        check_obj("isa.bpf.o"),
    ];
    let progs = tu::workspace_root().join("testdata/core/progs");
    let mut suite: Vec<String> = std::fs::read_dir(progs)
        .unwrap()
        .flatten()
        .map(|e| e.path().to_str().unwrap().to_string())
        .filter(|p| p.ends_with(".bpf.o"))
        .collect();
    suite.sort();
    objects.extend(suite);
    let (mut agree, mut other_cause, mut unknown) = (0, 0, 0);
    let mut disagree = Vec::new();
    for obj in &objects {
        let mut a: Vec<&str> = vec![obj.as_str()];
        a.extend(args.iter().map(String::as_str));
        let mine = verdicts(&a);
        let out = tu::run_ok(Command::new(&oracle).arg(obj));
        for line in String::from_utf8_lossy(&out).lines() {
            let mut it = line.split_whitespace();
            let (Some("PROG"), Some(prog), Some(ret)) = (it.next(), it.next(), it.next()) else {
                continue;
            };
            let ret: i32 = ret.parse().unwrap();
            let Some((_, v)) = mine.iter().find(|((p, _), _)| p == prog) else {
                panic!("{prog} of {obj} missing from core check");
            };
            let verdict = v["verdict"].as_str().unwrap();
            if ret == -1 {
                other_cause += 1;
                continue;
            }
            if verdict == "unknown" {
                unknown += 1;
                continue;
            }
            if (verdict == "ok") == (ret == 0) {
                agree += 1;
            } else {
                disagree.push(format!("{obj} {prog}: btfkit {verdict}, kernel {ret}: {v}"));
            }
        }
    }
    eprintln!(
        "host verifier: {agree} programs agree, {} disagree, {other_cause} refused for other causes, {unknown} unknown",
        disagree.len()
    );
    assert!(disagree.is_empty(), "{disagree:#?}");
    assert!(agree >= 40, "{agree}");
}
