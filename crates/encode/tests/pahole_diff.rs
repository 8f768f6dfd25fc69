//! Differential tests of the DWARF encoder against pahole: the test
//! program (`testdata/encode`) built with gcc and clang, DWARF 4 and 5,
//! -O0 and -O2, encoded by btfkit and by `pahole --btf_encode_detached`;
//! both must describe the same named types with the same layouts, and
//! btfkit's deduplicated type count must not exceed pahole's. bpftool
//! must read btfkit's output, and its C dump must compile.
//!
//! Builds with type units (`-fdebug-types-section`) and split DWARF
//! (`-gsplit-dwarf`, `.dwo` and `.dwp`) are compared with the plain
//! build of the same compiler: pahole 1.24 cannot read them (it crashes
//! on `.debug_types` and skips skeleton units).

use std::path::{Path, PathBuf};
use std::process::Command;

use btfkit_btf::diff::{diff, flat_members};
use btfkit_btf::{Btf, Kind, TypeData};
use btfkit_encode::{encode, EncodeError, EncodeOptions, SplitSearch};
use btfkit_testutil::{require_tool, run_ok, workspace_root};

fn src_dir() -> PathBuf {
    workspace_root().join("testdata/encode")
}

/// Builds the test program in a fresh directory with `cc` and `flags`;
/// returns (directory, binary path).
fn build(cc: &str, flags: &[&str]) -> Option<(tempfile::TempDir, PathBuf)> {
    let cc_path = require_tool(cc)?;
    let dir = tempfile::tempdir().unwrap();
    let src = src_dir();
    // Sources copied so split DWARF lands beside them and comp_dir is
    // the temporary directory.
    for f in ["app.c", "lib.c", "common.h"] {
        std::fs::copy(src.join(f), dir.path().join(f)).unwrap();
    }
    let bin = dir.path().join("app");
    run_ok(
        Command::new(cc_path)
            .current_dir(dir.path())
            .args(flags)
            .args(["app.c", "lib.c", "-o"])
            .arg(&bin),
    );
    Some((dir, bin))
}

fn encode_file(path: &Path, opts: &EncodeOptions) -> Result<Vec<u8>, EncodeError> {
    let data = std::fs::read(path).unwrap();
    encode(&data, None, opts).map(|(bytes, _)| bytes)
}

fn pahole_encode(bin: &Path) -> Option<Vec<u8>> {
    let pahole = require_tool("pahole")?;
    let out = bin.with_extension("pahole.btf");
    run_ok(
        Command::new(pahole)
            .arg(format!("--btf_encode_detached={}", out.display()))
            .arg(bin),
    );
    Some(std::fs::read(out).unwrap())
}

/// `a` and `b` describe the same named types with the same layouts.
fn assert_same_types(a: &[u8], b: &[u8], what: &str) {
    let a = Btf::parse(a).unwrap();
    let b = Btf::parse(b).unwrap();
    let d = diff(&a, &b, &[]).unwrap();
    assert!(d.is_empty(), "{what}: {}", d.to_json());
    assert!(
        d.compared >= 20,
        "{what}: only {} named types compared",
        d.compared
    );
}

fn id_of(btf: &Btf<'_>, name: &str, kind: Kind) -> btfkit_btf::TypeId {
    btf.find_first(name, kind)
        .unwrap_or_else(|| panic!("no {kind:?} {name}"))
}

/// What the test program's types must look like, whoever compiled it.
fn check_semantics(bytes: &[u8], what: &str) {
    let btf = Btf::parse(bytes).unwrap();
    let t = |id| btf.type_by_id(id).unwrap();

    // enum64 for a value beyond 32 bits; signed enum for a negative one.
    let big = t(id_of(&btf, "big", Kind::Enum64));
    let vals = btf.enum_values_named(big.id()).unwrap();
    assert!(vals.contains(&("HUGE", 0x12_3456_789a)), "{what}: {vals:?}");
    let color = t(id_of(&btf, "color", Kind::Enum));
    assert!(color.kflag(), "{what}: enum color must be signed");
    let vals = btf.enum_values_named(color.id()).unwrap();
    assert!(vals.contains(&("BLUE", -1)), "{what}: {vals:?}");

    // Bitfields.
    let flags = flat_members(&btf, id_of(&btf, "flags", Kind::Struct)).unwrap();
    let m = |n: &str| flags.iter().find(|m| m.name == n).unwrap().clone();
    assert_eq!((m("a").bit_offset, m("a").bitfield_size), (0, 3), "{what}");
    assert_eq!((m("b").bit_offset, m("b").bitfield_size), (3, 13), "{what}");
    assert_eq!(m("wide").bitfield_size, 40, "{what}");
    assert_eq!(m("c").bitfield_size, 2, "{what}");
    assert_eq!(m("on").bitfield_size, 1, "{what}");

    // Packed struct.
    let wire = t(id_of(&btf, "wire", Kind::Struct));
    assert_eq!(wire.size(), Some(7), "{what}: packed struct wire");
    let wm = flat_members(&btf, wire.id()).unwrap();
    assert_eq!(wm[1].bit_offset, 8, "{what}: wire.len");

    // Flexible array tail, anonymous members flattened, float.
    let table = flat_members(&btf, id_of(&btf, "table", Kind::Struct)).unwrap();
    let tail = table.iter().find(|m| m.name == "tail").unwrap();
    assert_eq!(tail.size, 0, "{what}: flexible array");
    // The anonymous union's members are the table's; `range` is one.
    for name in ["range", "f", "u"] {
        assert!(table.iter().any(|m| m.name == name), "{what}: table.{name}");
    }
    assert!(btf.find_first("float", Kind::Float).is_some(), "{what}");
    assert!(btf.find_first("double", Kind::Float).is_some(), "{what}");

    // Functions: linkage and a variadic prototype.
    let main = t(id_of(&btf, "main", Kind::Func));
    let count = t(id_of(&btf, "count_nodes", Kind::Func));
    let TypeData::Func { linkage: 1, .. } = main.data() else {
        panic!("{what}: main must be global");
    };
    let TypeData::Func { linkage: 0, proto } = count.data() else {
        panic!("{what}: count_nodes must be static");
    };
    let params = t(proto).params().unwrap();
    let last = params.iter().last().unwrap();
    assert!(
        last.name_off == 0 && last.type_id.is_void(),
        "{what}: count_nodes must be variadic"
    );

    // The struct only lib.c defines is complete, not a forward.
    let opaque = t(id_of(&btf, "opaque", Kind::Struct));
    assert_eq!(opaque.size(), Some(16), "{what}");
}

/// bpftool reads the BTF, and its C dump compiles with `struct table`
/// of the right size.
fn check_bpftool(bytes: &[u8], dir: &Path) {
    let Some(bpftool) = require_tool("bpftool") else {
        return;
    };
    let path = dir.join("ours.btf");
    std::fs::write(&path, bytes).unwrap();
    let raw = run_ok(
        Command::new(&bpftool)
            .args(["btf", "dump", "file"])
            .arg(&path),
    );
    assert!(String::from_utf8_lossy(&raw).contains("STRUCT 'table'"));
    let c = run_ok(
        Command::new(&bpftool)
            .args(["btf", "dump", "file"])
            .arg(&path)
            .args(["format", "c"]),
    );
    let header = dir.join("ours.h");
    let mut text = c;
    text.extend_from_slice(
        b"\n_Static_assert(sizeof(struct wire) == 7, \"wire\");\n\
          _Static_assert(__builtin_offsetof(struct table, tail) == sizeof(struct table), \"tail\");\n\
          int main(void) { struct table t; return (int)sizeof(t.grid); }\n",
    );
    std::fs::write(&header, text).unwrap();
    let Some(cc) = require_tool("cc") else {
        return;
    };
    run_ok(
        Command::new(cc)
            .args(["-x", "c", "-fsyntax-only"])
            .arg(&header),
    );
}

#[test]
fn userspace_matches_pahole() {
    let mut done = 0;
    for cc in ["gcc", "clang"] {
        for dwarf in ["-gdwarf-4", "-gdwarf-5"] {
            for opt in ["-O0", "-O2"] {
                let what = format!("{cc} {dwarf} {opt}");
                let Some((dir, bin)) = build(cc, &["-g", dwarf, opt]) else {
                    continue;
                };
                let ours = encode_file(&bin, &EncodeOptions::default())
                    .unwrap_or_else(|e| panic!("{what}: {e}"));
                let Some(theirs) = pahole_encode(&bin) else {
                    continue;
                };
                assert_same_types(&ours, &theirs, &what);
                let (n_ours, n_theirs) = (
                    Btf::parse(&ours).unwrap().len(),
                    Btf::parse(&theirs).unwrap().len(),
                );
                assert!(
                    n_ours <= n_theirs,
                    "{what}: {n_ours} types, pahole {n_theirs}"
                );
                check_semantics(&ours, &what);
                check_bpftool(&ours, dir.path());
                done += 1;
            }
        }
    }
    eprintln!("{done} builds compared with pahole");
}

/// Type units and split DWARF encode to the same types as a plain build.
#[test]
fn type_units_and_split_dwarf() {
    for cc in ["gcc", "clang"] {
        let Some((_d, plain)) = build(cc, &["-g", "-O2"]) else {
            continue;
        };
        let reference = encode_file(&plain, &EncodeOptions::default()).unwrap();
        let n_ref = Btf::parse(&reference).unwrap().len();
        let variants: &[&[&str]] = &[
            &["-g", "-O2", "-gdwarf-4", "-fdebug-types-section"],
            &["-g", "-O2", "-gdwarf-5", "-fdebug-types-section"],
            &["-g", "-O2", "-gdwarf-4", "-gsplit-dwarf"],
            &["-g", "-O2", "-gdwarf-5", "-gsplit-dwarf"],
        ];
        for flags in variants {
            let what = format!("{cc} {}", flags.join(" "));
            let (_dir, bin) = build(cc, flags).unwrap();
            let ours = encode_file(&bin, &EncodeOptions::default())
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_same_types(&ours, &reference, &what);
            let n = Btf::parse(&ours).unwrap().len();
            assert_eq!(n, n_ref, "{what}: type count");
            check_semantics(&ours, &what);
        }
    }
}

fn dwo_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "dwo"))
        .collect();
    v.sort();
    v
}

/// `.dwo` files moved away: a clear error naming them; found again in a
/// search directory or in a `.dwp` package.
#[test]
fn split_dwarf_search_and_package() {
    let Some((dir, bin)) = build("gcc", &["-g", "-O2", "-gsplit-dwarf"]) else {
        return;
    };
    let reference = encode_file(&bin, &EncodeOptions::default()).unwrap();
    let dwos = dwo_files(dir.path());
    assert_eq!(dwos.len(), 2, "{dwos:?}");

    // A package made by llvm-dwp (binutils' dwp cannot read DWARF 5),
    // then the .dwo files gone.
    let Some(dwp_tool) = require_tool("llvm-dwp") else {
        return;
    };
    let dwp = dir.path().join("app.dwp");
    run_ok(
        Command::new(dwp_tool)
            .arg("-e")
            .arg(&bin)
            .arg("-o")
            .arg(&dwp),
    );
    let elsewhere = tempfile::tempdir().unwrap();
    for f in &dwos {
        std::fs::rename(f, elsewhere.path().join(f.file_name().unwrap())).unwrap();
    }

    match encode_file(&bin, &EncodeOptions::default()) {
        Err(EncodeError::MissingDwo { name, count, .. }) => {
            assert!(name.ends_with(".dwo"), "{name}");
            assert_eq!(count, 2);
        }
        other => panic!("expected MissingDwo, got {:?}", other.map(|b| b.len())),
    }

    let in_dir = EncodeOptions {
        split: SplitSearch {
            dirs: vec![elsewhere.path().to_path_buf()],
            dwp: None,
        },
        ..Default::default()
    };
    assert_eq!(encode_file(&bin, &in_dir).unwrap(), reference);

    let in_dwp = EncodeOptions {
        split: SplitSearch {
            dirs: vec![],
            dwp: Some(dwp.clone()),
        },
        ..Default::default()
    };
    assert_eq!(encode_file(&bin, &in_dwp).unwrap(), reference);

    // A corrupt package is an error, not a panic.
    std::fs::write(&dwp, b"\x7fELF garbage").unwrap();
    assert!(encode_file(&bin, &in_dwp).is_err());
}

/// `int grid[3][4]` flattened as pahole does, or nested on request.
#[test]
fn nested_arrays_option() {
    let Some((_dir, bin)) = build("gcc", &["-g", "-O0"]) else {
        return;
    };
    let grid_type = |nested: bool| {
        let opts = EncodeOptions {
            nested_arrays: nested,
            ..Default::default()
        };
        let bytes = encode_file(&bin, &opts).unwrap();
        let btf = Btf::parse(&bytes).unwrap();
        let table = btf.type_by_id(id_of(&btf, "table", Kind::Struct)).unwrap();
        let grid = table
            .members()
            .unwrap()
            .iter()
            .find(|m| btf.str_at(m.name_off).unwrap() == "grid")
            .unwrap();
        let outer = btf.type_by_id(grid.type_id).unwrap().array().unwrap();
        let inner = btf.type_by_id(outer.elem_type).unwrap();
        (
            outer.nelems,
            inner.kind(),
            btf.resolve_size(grid.type_id).unwrap(),
        )
    };
    assert_eq!(grid_type(false), (12, Kind::Int, 48));
    let (n, k, size) = grid_type(true);
    assert_eq!((n, k, size), (3, Kind::Array, 48));
}

/// C++: what BTF cannot say (pointers to members, nullptr_t) is skipped
/// and counted, and the rest encodes.
#[test]
fn cplusplus_skips_with_counts() {
    let Some(cxx) = require_tool("g++") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("a.cc");
    std::fs::write(
        &src,
        "#include <cstddef>\n\
         struct S { int a; long b; int f(int x) { return a + x; } };\n\
         int S::*pm = &S::a;\n\
         std::nullptr_t np = nullptr;\n\
         struct T { int S::*pm; int after; };\n\
         S s;\n\
         T t = { &S::a, 1 };\n\
         int main() { return s.f(1) + (int)(long)np + s.*pm + s.*t.pm + t.after; }\n",
    )
    .unwrap();
    let bin = dir.path().join("a");
    run_ok(
        Command::new(cxx)
            .args(["-g", "-O0"])
            .arg(&src)
            .arg("-o")
            .arg(&bin),
    );
    let data = std::fs::read(&bin).unwrap();
    let (bytes, stats) = encode(&data, None, &EncodeOptions::default()).unwrap();
    assert!(
        stats.skipped.get("ptr_to_member").copied().unwrap_or(0) >= 1,
        "{stats:?}"
    );
    assert!(
        stats.skipped.get("unspecified").copied().unwrap_or(0) >= 1,
        "{stats:?}"
    );
    let btf = Btf::parse(&bytes).unwrap();
    let s = btf.type_by_id(id_of(&btf, "S", Kind::Struct)).unwrap();
    assert_eq!(s.size(), Some(16));
    // A member of a type BTF cannot express is left out (a member of
    // type void is invalid BTF); the next keeps its offset.
    let t = btf.type_by_id(id_of(&btf, "T", Kind::Struct)).unwrap();
    let members: Vec<_> = t
        .members()
        .unwrap()
        .iter()
        .map(|m| (btf.str_at(m.name_off).unwrap().to_string(), m.bit_offset()))
        .collect();
    assert_eq!(members, [("after".to_string(), 64)], "{stats:?}");
    assert!(
        stats
            .skipped
            .get("member of a type BTF cannot express")
            .is_some_and(|&n| n >= 1),
        "{stats:?}"
    );
}

#[test]
fn bad_inputs_are_errors() {
    let opts = EncodeOptions::default();
    assert!(matches!(
        encode(b"not an elf at all", None, &opts),
        Err(EncodeError::NotElf(_))
    ));
    assert!(encode(b"", None, &opts).is_err());

    let Some((dir, bin)) = build("gcc", &["-g", "-O2"]) else {
        return;
    };
    let data = std::fs::read(&bin).unwrap();

    // Stripped of debug info.
    let stripped = dir.path().join("stripped");
    run_ok(
        Command::new("objcopy")
            .arg("--strip-debug")
            .arg(&bin)
            .arg(&stripped),
    );
    assert!(matches!(
        encode(&std::fs::read(&stripped).unwrap(), None, &opts),
        Err(EncodeError::NoDwarf)
    ));

    // Truncated anywhere: an error or (when the cut falls after the
    // DWARF) a result, never a panic.
    for cut in (0..data.len()).step_by(data.len() / 97 + 1) {
        let _ = encode(&data[..cut], None, &opts);
    }

    // .debug_info bytes corrupted: no panic.
    let info = section_range(&bin, ".debug_info");
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..200 {
        let mut bad = data.clone();
        for _ in 0..4 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let at = info.0 + (rng % info.1 as u64) as usize;
            bad[at] = (rng >> 32) as u8;
        }
        let _ = encode(&bad, None, &opts);
    }
}

/// (offset, size) of a section, from `objdump -h`.
fn section_range(bin: &Path, name: &str) -> (usize, usize) {
    let out = run_ok(Command::new("objdump").arg("-h").arg(bin));
    let text = String::from_utf8(out).unwrap();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() >= 6 && f[1] == name {
            let size = usize::from_str_radix(f[2], 16).unwrap();
            let off = usize::from_str_radix(f[5], 16).unwrap();
            return (off, size);
        }
    }
    panic!("no {name} in {}", bin.display());
}

/// Inputs the fuzzer found (testdata/encode/regress): errors, no panic.
#[test]
fn fuzz_regressions() {
    let dir = workspace_root().join("testdata/encode/regress");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap().flatten() {
        let data = std::fs::read(e.path()).unwrap();
        let opts = EncodeOptions {
            jobs: 1,
            ..Default::default()
        };
        if let Ok((bytes, _)) = encode(&data, None, &opts) {
            Btf::parse(&bytes).unwrap();
        }
        n += 1;
    }
    assert!(n > 0);
}

/// Workers deduplicating their output after every unit, on one thread
/// and on three: the same BTF as one deduplication at the end.
#[test]
fn compaction_between_units_changes_nothing() {
    let Some((_dir, bin)) = build("gcc", &["-g", "-O2"]) else {
        return;
    };
    let data = std::fs::read(&bin).unwrap();
    let once = EncodeOptions {
        jobs: 1,
        compact_every: usize::MAX,
        ..Default::default()
    };
    let (reference, _) = encode(&data, None, &once).unwrap();
    for jobs in [1, 3] {
        let often = EncodeOptions {
            jobs,
            compact_every: 1,
            ..Default::default()
        };
        let (bytes, stats) = encode(&data, None, &often).unwrap();
        assert_same_types(
            &bytes,
            &reference,
            &format!("compact every unit, {jobs} jobs"),
        );
        assert_eq!(
            Btf::parse(&bytes).unwrap().len(),
            Btf::parse(&reference).unwrap().len()
        );
        assert_eq!(stats.units, 2);
    }
}

/// A kernel module (relocatable, `.modinfo`) split on the running
/// kernel's BTF: its `struct list_head` is the kernel's when the layouts
/// agree; when they differ, the base is another kernel's: an error.
#[test]
fn module_base_mismatch() {
    let vmlinux = std::path::Path::new("/sys/kernel/btf/vmlinux");
    if !vmlinux.exists() {
        btfkit_testutil::missing::<()>("/sys/kernel/btf/vmlinux");
        return;
    }
    let Some(cc) = require_tool("gcc") else {
        return;
    };
    let base_bytes = std::fs::read(vmlinux).unwrap();
    let base = Btf::parse(&base_bytes).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let module = |extra: &str| {
        let src = dir.path().join("mod.c");
        std::fs::write(
            &src,
            format!(
                "struct list_head {{ struct list_head *next, *prev; {extra} }};\n\
                 struct list_head my_list;\n\
                 static const char info[] __attribute__((section(\".modinfo\"), used)) = \"license=GPL\";\n\
                 int my_init(struct list_head *l) {{ return l->next == l; }}\n"
            ),
        )
        .unwrap();
        let obj = dir.path().join("mod.ko");
        run_ok(
            Command::new(&cc)
                .args(["-g", "-O2", "-c"])
                .arg(&src)
                .arg("-o")
                .arg(&obj),
        );
        std::fs::read(obj).unwrap()
    };
    let opts = EncodeOptions::default();
    let (bytes, _) = encode(&module(""), Some(&base), &opts).unwrap();
    let split = Btf::parse_split(&bytes, &base).unwrap();
    assert!(
        split
            .types()
            .all(|t| split.name_of(&t).unwrap() != "list_head"),
        "list_head must be the base's"
    );
    match encode(&module("int extra;"), Some(&base), &opts) {
        Err(EncodeError::BaseMismatch { type_name }) => assert_eq!(type_name, "list_head"),
        other => panic!(
            "expected BaseMismatch, got {:?}",
            other.map(|(b, _)| b.len())
        ),
    }
    // The same object without .modinfo is a userspace object: its own
    // list_head is fine.
    let src = dir.path().join("user.c");
    std::fs::write(
        &src,
        "struct list_head { struct list_head *next, *prev; int extra; };\nstruct list_head l;\n",
    )
    .unwrap();
    let obj = dir.path().join("user.o");
    run_ok(
        Command::new(&cc)
            .args(["-g", "-c"])
            .arg(&src)
            .arg("-o")
            .arg(&obj),
    );
    encode(&std::fs::read(obj).unwrap(), Some(&base), &opts).unwrap();
}
