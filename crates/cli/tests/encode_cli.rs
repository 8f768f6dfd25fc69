//! `btfkit btf encode` and `btfkit btf merge` from the command line:
//! raw and ELF output read by bpftool, split output on the running
//! kernel's BTF compared with pahole's, merges that keep the kernel's ids,
//! and bad input (one line, non-zero exit).

use std::path::{Path, PathBuf};
use std::process::Command;

use btfkit_btf::diff::diff;
use btfkit_btf::{Btf, Kind};
use btfkit_testutil as tu;

mod common;
use common::{fails, run_ok, s};

const VMLINUX: &str = "/sys/kernel/btf/vmlinux";

/// Runs btfkit and requires success; returns its summary line (stderr).
fn ok(args: &[&str]) -> String {
    String::from_utf8_lossy(&run_ok(args).stderr).into_owned()
}

/// testdata/encode built with gcc -g into `dir`.
fn program(dir: &Path) -> Option<PathBuf> {
    let cc = tu::require_tool("gcc")?;
    let src = tu::workspace_root().join("testdata/encode");
    let out = dir.join("prog");
    tu::run_ok(
        Command::new(cc)
            .args(["-g", "-O2", "-I"])
            .arg(&src)
            .arg(src.join("app.c"))
            .arg(src.join("lib.c"))
            .arg("-o")
            .arg(&out),
    );
    Some(out)
}

fn kernel() -> Option<PathBuf> {
    if Path::new(VMLINUX).exists() {
        Some(PathBuf::from(VMLINUX))
    } else {
        tu::missing(VMLINUX)
    }
}

#[test]
fn raw_and_elf_output_read_by_bpftool() {
    let dir = tempfile::tempdir().unwrap();
    let Some(prog) = program(dir.path()) else {
        return;
    };
    let raw = dir.path().join("prog.btf");
    let elf = dir.path().join("prog.btf.o");
    let summary = ok(&["btf", "encode", s(&prog), "-o", s(&raw), "--jobs", "2"]);
    assert!(summary.contains("2 units"), "{summary}");
    assert!(summary.contains("4 functions"), "{summary}");
    ok(&["btf", "encode", s(&prog), "-o", s(&elf), "--format", "elf"]);
    for f in [&raw, &elf] {
        let Some(dump) = tu::bpftool(&["btf", "dump", "file", s(f)]) else {
            return;
        };
        let dump = String::from_utf8(dump).unwrap();
        assert!(dump.contains("STRUCT 'table'"), "{dump}");
        assert!(dump.contains("FUNC 'main' type_id="), "{dump}");
    }
    // The same BTF either way.
    let a = std::fs::read(&raw).unwrap();
    let b = std::fs::read(&elf).unwrap();
    let (inner, _) = btfkit_btf::elf_section(&b, ".BTF").unwrap().unwrap();
    assert_eq!(&a[..], inner);
}

/// Split on the kernel's BTF, as for a module: the program's types that
/// the kernel has (int, long, ...) are the kernel's, its own follow; the
/// same types as pahole --btf_base gives.
#[test]
fn split_on_kernel_btf_matches_pahole() {
    let dir = tempfile::tempdir().unwrap();
    let (Some(prog), Some(vmlinux)) = (program(dir.path()), kernel()) else {
        return;
    };
    let ours = dir.path().join("split.btf");
    ok(&[
        "btf",
        "encode",
        s(&prog),
        "--base",
        s(&vmlinux),
        "-o",
        s(&ours),
    ]);
    let base_bytes = std::fs::read(&vmlinux).unwrap();
    let base = Btf::parse(&base_bytes).unwrap();
    let ours_bytes = std::fs::read(&ours).unwrap();
    let split = Btf::parse_split(&ours_bytes, &base).unwrap();
    assert_eq!(split.first_id().0, base.next_id().0);
    assert!(split.len() < 60, "{} types", split.len());
    // No second `int`: the kernel's is used.
    let ints = split
        .types()
        .filter(|t| t.kind() == Kind::Int && split.name_of(t).unwrap() == "int")
        .count();
    assert_eq!(ints, 0);
    assert!(split.find_first("table", Kind::Struct).is_some());

    let Some(pahole) = tu::require_tool("pahole") else {
        return;
    };
    let theirs = dir.path().join("pahole.btf");
    tu::run_ok(
        Command::new(pahole)
            .arg(format!("--btf_encode_detached={}", theirs.display()))
            .arg(format!("--btf_base={}", vmlinux.display()))
            .arg(&prog),
    );
    let theirs_bytes = std::fs::read(&theirs).unwrap();
    let theirs = Btf::parse_split(&theirs_bytes, &base).unwrap();
    let d = diff(&theirs, &split, &[]).unwrap();
    assert!(d.is_empty(), "{}", d.to_json());
    assert!(
        split.len() <= theirs.len(),
        "{} vs {}",
        split.len(),
        theirs.len()
    );
}

/// Merge: the kernel's ids and bytes unchanged, the program's types
/// after them, deduplicated against the kernel's and across programs.
#[test]
fn merge_keeps_kernel_ids() {
    let dir = tempfile::tempdir().unwrap();
    let (Some(prog), Some(vmlinux)) = (program(dir.path()), kernel()) else {
        return;
    };
    let app = dir.path().join("app.btf");
    ok(&["btf", "encode", s(&prog), "-o", s(&app)]);
    let merged = dir.path().join("merged.btf");
    let summary = ok(&[
        "btf",
        "merge",
        s(&vmlinux),
        s(&app),
        s(&app),
        "-o",
        s(&merged),
    ]);
    let base_bytes = std::fs::read(&vmlinux).unwrap();
    let base = Btf::parse(&base_bytes).unwrap();
    let merged_bytes = std::fs::read(&merged).unwrap();
    let m = Btf::parse(&merged_bytes).unwrap();
    for id in (1..base.next_id().0).step_by(97) {
        let id = btfkit_btf::TypeId(id);
        let (a, b) = (base.type_by_id(id).unwrap(), m.type_by_id(id).unwrap());
        assert_eq!(a.kind(), b.kind(), "{id:?}");
        assert_eq!(base.name_of(&a).unwrap(), m.name_of(&b).unwrap(), "{id:?}");
    }
    let app_bytes = std::fs::read(&app).unwrap();
    let app_btf = Btf::parse(&app_bytes).unwrap();
    let added = m.len() - base.len();
    assert!(added < app_btf.len(), "{added} added for {}", app_btf.len());
    // One `struct table`, after the kernel's types; `int` is the kernel's.
    let tables = m.find_by_name_kind("table", Kind::Struct);
    assert_eq!(tables.len(), 1);
    assert!(tables[0].0 >= base.next_id().0);
    assert_eq!(
        m.find_first("int", Kind::Int),
        base.find_first("int", Kind::Int)
    );
    assert!(summary.contains("merged.btf"), "{summary}");
    // bpftool reads it.
    if let Some(dump) = tu::bpftool(&["btf", "dump", "file", s(&merged)]) {
        assert!(String::from_utf8_lossy(&dump).contains("STRUCT 'table'"));
    }
}

#[test]
fn bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.btf");
    let junk = dir.path().join("junk");
    std::fs::write(&junk, b"not an ELF file").unwrap();
    let e = fails(&["btf", "encode", s(&junk), "-o", s(&out)]);
    assert!(e.contains("not an ELF"), "{e}");
    fails(&["btf", "encode", "/nonexistent/prog", "-o", s(&out)]);

    let Some(prog) = program(dir.path()) else {
        return;
    };
    let stripped = dir.path().join("stripped");
    tu::run_ok(
        Command::new("objcopy")
            .arg("--strip-debug")
            .arg(&prog)
            .arg(&stripped),
    );
    let e = fails(&["btf", "encode", s(&stripped), "-o", s(&out)]);
    assert!(e.contains("no DWARF"), "{e}");

    // Truncated inside its DWARF.
    let data = std::fs::read(&prog).unwrap();
    let cut = dir.path().join("cut");
    std::fs::write(&cut, &data[..data.len() * 2 / 3]).unwrap();
    fails(&["btf", "encode", s(&cut), "-o", s(&out)]);

    // A base that is not BTF; split BTF as a base or merge input.
    let e = fails(&["btf", "encode", s(&prog), "--base", s(&junk), "-o", s(&out)]);
    assert!(e.contains("junk"), "{e}");
    let Some(vmlinux) = kernel() else {
        return;
    };
    let split = dir.path().join("split.btf");
    ok(&[
        "btf",
        "encode",
        s(&prog),
        "--base",
        s(&vmlinux),
        "-o",
        s(&split),
    ]);
    let e = fails(&["btf", "merge", s(&vmlinux), s(&split), "-o", s(&out)]);
    assert!(e.contains("split") || e.contains("base"), "{e}");
    fails(&[
        "btf",
        "encode",
        s(&prog),
        "--base",
        s(&split),
        "-o",
        s(&out),
    ]);
    fails(&["btf", "merge", s(&split), s(&vmlinux), "-o", s(&out)]);

    // Split DWARF whose .dwo files are gone.
    let Some(gcc) = tu::require_tool("gcc") else {
        return;
    };
    let sd = dir.path().join("sd");
    std::fs::create_dir(&sd).unwrap();
    let src = tu::workspace_root().join("testdata/encode");
    for f in ["app.c", "lib.c", "common.h"] {
        std::fs::copy(src.join(f), sd.join(f)).unwrap();
    }
    tu::run_ok(Command::new(gcc).current_dir(&sd).args([
        "-g",
        "-gsplit-dwarf",
        "app.c",
        "lib.c",
        "-o",
        "app",
    ]));
    let moved = dir.path().join("dwo");
    std::fs::create_dir(&moved).unwrap();
    for e in std::fs::read_dir(&sd).unwrap().flatten() {
        if e.path().extension().is_some_and(|x| x == "dwo") {
            std::fs::rename(e.path(), moved.join(e.file_name())).unwrap();
        }
    }
    let app = sd.join("app");
    let e = fails(&["btf", "encode", s(&app), "-o", s(&out)]);
    assert!(e.contains("split DWARF") && e.contains(".dwo"), "{e}");
    ok(&[
        "btf",
        "encode",
        s(&app),
        "--dwo-dir",
        s(&moved),
        "-o",
        s(&out),
    ]);
}
