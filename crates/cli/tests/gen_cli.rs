//! `btfkit gen min`: the command, its output and its bad inputs.

use btfkit_testutil as tu;

mod common;
use common::btfkit;

fn suite(rel: &str) -> String {
    tu::workspace_root()
        .join("testdata/core")
        .join(rel)
        .to_str()
        .unwrap()
        .to_string()
}

#[test]
fn minimizes_from_a_btfhub_tarball_deterministically() {
    let Some(k) = tu::corpus_kernel("debian/12/x86_64/6.1.0-56-amd64") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.btf"), dir.path().join("b.btf"));
    for out in [&a, &b] {
        let r = btfkit(&[
            "gen",
            "min",
            &suite("progs/kernel.bpf.o"),
            &suite("progs/fields.bpf.o"),
            "--btf",
            k.archive.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ]);
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
        let err = String::from_utf8_lossy(&r.stderr);
        assert!(
            err.contains("types,") && err.contains("relocations of 2 object(s)"),
            "{err}"
        );
    }
    let bytes = std::fs::read(&a).unwrap();
    assert_eq!(bytes, std::fs::read(&b).unwrap(), "same input, same bytes");
    assert!(bytes.len() < 4096, "{} bytes", bytes.len());
    let btf = btfkit_btf::Btf::parse(&bytes).unwrap();
    assert!(btf
        .find_first("task_struct", btfkit_btf::Kind::Struct)
        .is_some());
    // ELF output, read by bpftool.
    let elf = dir.path().join("min.o");
    assert!(btfkit(&[
        "gen",
        "min",
        &suite("progs/kernel.bpf.o"),
        "--btf",
        k.archive.to_str().unwrap(),
        "-o",
        elf.to_str().unwrap(),
        "--format",
        "elf"
    ])
    .status
    .success());
    let Some(dump) = tu::bpftool(&["btf", "dump", "file", elf.to_str().unwrap()]) else {
        return;
    };
    assert!(String::from_utf8(dump)
        .unwrap()
        .contains("STRUCT 'task_struct'"));
}

#[test]
fn module_types_go_into_one_standalone_btf() {
    let mods = tu::corpus_modules();
    let Some(kvm) = mods.iter().find(|m| m.name == "kvm") else {
        return;
    };
    let Some(btrfs) = mods.iter().find(|m| m.name == "btrfs") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("mods.btf");
    let base = kvm.base.raw_path();
    let r = btfkit(&[
        "gen",
        "min",
        &suite("progs/modules.bpf.o"),
        "--btf",
        kvm.raw.to_str().unwrap(),
        "--base",
        base.to_str().unwrap(),
        "--module",
        btrfs.raw.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    // Standalone: parses without a base, and relocating against it alone
    // gives what vmlinux + modules give.
    let text = String::from_utf8(
        btfkit(&[
            "core",
            "explain",
            &suite("progs/modules.bpf.o"),
            "--btf",
            out.to_str().unwrap(),
        ])
        .stdout,
    )
    .unwrap();
    assert!(
        text.lines()
            .any(|l| l.contains("kvm_lapic::divide_count") && l.ends_with(": 8 -> 136")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.contains("btrfs_fs_info::sectorsize") && l.ends_with(": 8 -> 3268")),
        "{text}"
    );
    assert!(!text.contains("poisoned"), "{text}");
}

#[test]
fn bad_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o.btf");
    let o = out.to_str().unwrap();
    // An object without CO-RE relocations: valid, empty output, a notice.
    let plain = dir.path().join("plain.o");
    let mut b = btfkit_btf::BtfBuilder::new();
    b.add_int("int", 4, 1).unwrap();
    std::fs::write(&plain, b.finish_elf()).unwrap();
    let r = btfkit(&[
        "gen",
        "min",
        plain.to_str().unwrap(),
        "--btf",
        &suite("targets/base.o"),
        "-o",
        o,
    ]);
    assert!(r.status.success());
    assert!(
        String::from_utf8_lossy(&r.stderr).contains("notice")
            && String::from_utf8_lossy(&r.stderr).contains("no CO-RE relocations")
    );
    let empty_bytes = std::fs::read(&out).unwrap();
    assert_eq!(btfkit_btf::Btf::parse(&empty_bytes).unwrap().len(), 0);
    // FULL that is not BTF.
    let junk = dir.path().join("junk.btf");
    std::fs::write(&junk, b"definitely not BTF").unwrap();
    let r = btfkit(&[
        "gen",
        "min",
        &suite("progs/fields.bpf.o"),
        "--btf",
        junk.to_str().unwrap(),
        "-o",
        o,
    ]);
    assert_eq!(r.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&r.stderr).contains("junk.btf")
            && String::from_utf8_lossy(&r.stderr).contains("bad magic")
    );
    // An unreadable tarball.
    let tar = dir.path().join("broken.btf.tar.xz");
    std::fs::write(&tar, [0xfd, b'7', b'z', b'X', b'Z', 0, 1, 2, 3]).unwrap();
    let r = btfkit(&[
        "gen",
        "min",
        &suite("progs/fields.bpf.o"),
        "--btf",
        tar.to_str().unwrap(),
        "-o",
        o,
    ]);
    assert_eq!(r.status.code(), Some(1));
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(
        err.contains("broken.btf.tar.xz") && err.contains("xz"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1);
    // Relocations that cannot be resolved: reported, output still written.
    let _ = std::fs::remove_file(&out);
    let r = btfkit(&[
        "gen",
        "min",
        &suite("progs/errors.bpf.o"),
        "--btf",
        &suite("targets/flavors.o"),
        "-o",
        o,
    ]);
    assert!(r.status.success());
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(
        err.contains("relo #0") && err.contains("ambiguity"),
        "{err}"
    );
    assert!(out.exists());
    // ... unless --strict.
    let _ = std::fs::remove_file(&out);
    let r = btfkit(&[
        "gen",
        "min",
        &suite("progs/errors.bpf.o"),
        "--btf",
        &suite("targets/flavors.o"),
        "-o",
        o,
        "--strict",
    ]);
    assert_eq!(r.status.code(), Some(1));
    assert!(!out.exists());
    // One line: the target and flag, how many fail, the first with its
    // object (GenError::Unresolved and its source, the ReloError).
    let stderr = String::from_utf8_lossy(&r.stderr);
    let last = stderr.lines().last().unwrap();
    assert!(
        last.contains("(--strict): ")
            && last
                .contains("relocation(s) cannot be resolved against the full BTF, the first in ")
            && last.contains("errors.bpf.o: section "),
        "{last}"
    );
}
