//! Userspace CO-RE on the real kernel, as root: the one uprobe object
//! (bpf/uprobe.bpf.o, on arm64 bpf/uprobe.arm64.bpf.o) reads `struct
//! app_data` right in both versions of testdata/uprobe/app.c, built with
//! gcc and clang, DWARF 4 and 5, when its target BTF is the kernel's
//! merged with the application's; with the other version's BTF it reads
//! the wrong bytes (the relocations are what make it right). Outside CI a
//! host without BPF skips these tests; under CI it fails them.

use std::path::{Path, PathBuf};
use std::process::Command;

use btfkit_testutil as tu;
use btfkit_tracer::uprobe::{probe, target_btf, Seen, UprobeError};

fn bpf_ok() -> bool {
    if !tu::is_root() || !Path::new("/sys/kernel/btf/vmlinux").exists() {
        tu::missing::<()>("root with BPF and /sys/kernel/btf/vmlinux");
        return false;
    }
    true
}

fn kernel_btf() -> Vec<u8> {
    btfkit_btf::load::load_btf_file("/sys/kernel/btf/vmlinux")
        .expect("kernel BTF")
        .into_vec()
}

/// Builds the application (version 2 with `v2`) into `dir`.
fn build(dir: &Path, cc: &str, v2: bool, dwarf: &str) -> Option<PathBuf> {
    let cc_path = tu::require_tool(cc)?;
    let out = dir.join(format!("app-{cc}-{}-{dwarf}", if v2 { "v2" } else { "v1" }));
    let mut cmd = Command::new(cc_path);
    cmd.args(["-g", dwarf, "-O2"]);
    if v2 {
        cmd.arg("-DV2");
    }
    cmd.arg(tu::workspace_root().join("testdata/uprobe/app.c"))
        .arg("-o")
        .arg(&out);
    tu::run_ok(&mut cmd);
    Some(out)
}

fn run(app: &Path) -> impl FnOnce() -> std::io::Result<()> + '_ {
    move || {
        let out = Command::new(app).output()?;
        assert!(out.status.success(), "{}: {:?}", app.display(), out);
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "process_data: id=42 value=1234567 name=btfkit\n"
        );
        Ok(())
    }
}

fn expected() -> Seen {
    Seen {
        hits: 1,
        id: 42,
        value: 1_234_567,
        name: "btfkit".into(),
    }
}

#[test]
fn one_object_reads_both_versions() {
    if !bpf_ok() {
        return;
    }
    let kernel = kernel_btf();
    let dir = tempfile::tempdir().unwrap();
    let mut done = 0;
    for cc in ["gcc", "clang"] {
        for dwarf in ["-gdwarf-4", "-gdwarf-5"] {
            for v2 in [false, true] {
                let Some(app) = build(dir.path(), cc, v2, dwarf) else {
                    continue;
                };
                let target = target_btf(&app, &kernel).unwrap();
                let seen = probe(&app, &target, run(&app))
                    .unwrap_or_else(|e| panic!("{}: {e}", app.display()));
                assert_eq!(seen, expected(), "{}", app.display());
                done += 1;
            }
        }
    }
    assert!(done > 0 || !tu::in_ci());
}

/// Version 2 probed with version 1's BTF: the probe reads `value` where
/// version 1 has it, inside version 2's new member.
#[test]
fn the_other_versions_btf_reads_wrong_bytes() {
    if !bpf_ok() {
        return;
    }
    let kernel = kernel_btf();
    let dir = tempfile::tempdir().unwrap();
    let (Some(v1), Some(v2)) = (
        build(dir.path(), "gcc", false, "-gdwarf-5"),
        build(dir.path(), "gcc", true, "-gdwarf-5"),
    ) else {
        return;
    };
    let v1_target = target_btf(&v1, &kernel).unwrap();
    let seen = probe(&v2, &v1_target, run(&v2)).unwrap();
    assert_eq!(seen.id, 42);
    assert_ne!(seen.value, 1_234_567, "{seen:?}");
    assert_ne!(seen.name, "btfkit", "{seen:?}");
    // Offset 8, version 1's `value`: bytes 4..12 of version 2's `tag`.
    assert_eq!(seen.value.to_le_bytes(), *b"ion 2\0\0\0");
}

/// Without the application's types the relocations have no target: the
/// loader refuses the object (poisoned instructions), it does not read
/// garbage.
#[test]
fn kernel_btf_alone_is_refused() {
    if !bpf_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let Some(v1) = build(dir.path(), "gcc", false, "-gdwarf-5") else {
        return;
    };
    let err = probe(&v1, &kernel_btf(), run(&v1)).unwrap_err();
    assert!(matches!(err, UprobeError::Bpf { .. }), "{err}");
}

#[test]
fn application_without_dwarf_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let Some(cc) = tu::require_tool("gcc") else {
        return;
    };
    let app = dir.path().join("stripped");
    tu::run_ok(
        Command::new(cc)
            .args(["-O2", "-s"])
            .arg(tu::workspace_root().join("testdata/uprobe/app.c"))
            .arg("-o")
            .arg(&app),
    );
    let err = target_btf(&app, &[]).unwrap_err();
    assert!(err.to_string().contains("no DWARF"), "{err}");
}
