//! `--format c`: the header compiles with clang for -target bpf, and the
//! BTF clang makes from it has the source BTF's layouts — every size,
//! member offset, bitfield and enum value — on every corpus kernel and on
//! this host's kernel.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use btfkit_btf::cdump::{c_names, dump_c, CDumpOptions};
use btfkit_btf::{Btf, TypeData, TypeId};
use btfkit_testutil as tu;

#[derive(Debug, PartialEq, Eq)]
enum Shape {
    Composite {
        size: u32,
        members: Vec<(String, u64, u32, u64)>,
    },
    Enum {
        size: u32,
        values: Vec<(String, i128)>,
    },
    Typedef {
        size: Option<u64>,
    },
}

/// Members with anonymous struct/union members flattened into their
/// parents: (path, bit offset, bitfield size, byte size).
fn flatten(
    btf: &Btf<'_>,
    id: TypeId,
    base: u64,
    prefix: &str,
    out: &mut Vec<(String, u64, u32, u64)>,
) {
    let t = btf.type_by_id(id).unwrap();
    let (TypeData::Struct(ms) | TypeData::Union(ms)) = t.data() else {
        return;
    };
    for m in ms.iter() {
        let name = btf.str_at(m.name_off).unwrap();
        let off = base + m.bit_offset() as u64;
        let bits = btf.member_bitfield_size(&m).unwrap();
        let inner = btf.skip_mods_and_typedefs(m.type_id).unwrap();
        if name.is_empty() && matches!(inner.data(), TypeData::Struct(_) | TypeData::Union(_)) {
            flatten(btf, inner.id(), off, prefix, out);
            continue;
        }
        let size = btf.resolve_size(m.type_id).unwrap_or(0);
        out.push((format!("{prefix}{name}"), off, bits, size));
    }
}

/// Layouts by "kind name" key, with the C names `names` gives (or the
/// BTF's own names when `names` is None).
fn shapes(btf: &Btf<'_>, names: Option<&btfkit_btf::cdump::CNames>) -> BTreeMap<String, Shape> {
    let mut out = BTreeMap::new();
    for t in btf.all_types() {
        let id = t.id();
        let raw = btf.name_of(&t).unwrap();
        if raw.is_empty() {
            continue;
        }
        let name = match names {
            Some(n) => n.types[id.0 as usize]
                .clone()
                .unwrap_or_else(|| raw.to_string()),
            None => raw.to_string(),
        };
        match t.data() {
            TypeData::Struct(_) | TypeData::Union(_) => {
                let mut members = Vec::new();
                flatten(btf, id, 0, "", &mut members);
                let kw = if matches!(t.data(), TypeData::Struct(_)) {
                    "struct"
                } else {
                    "union"
                };
                out.insert(
                    format!("{kw} {name}"),
                    Shape::Composite {
                        size: t.size_or_type(),
                        members,
                    },
                );
            }
            // An enum without values is incomplete in C: nothing to compare.
            TypeData::Enum(vals) if vals.is_empty() => {}
            TypeData::Enum(vals) => {
                let values = vals
                    .iter()
                    .enumerate()
                    .map(|(i, v)| {
                        let en = match names {
                            Some(n) => n.enumerators[&id.0][i].clone(),
                            None => btf.str_at(v.name_off).unwrap().to_string(),
                        };
                        (en, v.value())
                    })
                    .collect();
                out.insert(
                    format!("enum {name}"),
                    Shape::Enum {
                        size: t.size_or_type(),
                        values,
                    },
                );
            }
            TypeData::Typedef(_) if raw != "__builtin_va_list" => {
                out.insert(
                    format!("typedef {name}"),
                    Shape::Typedef {
                        size: btf.resolve_size(id).ok(),
                    },
                );
            }
            _ => {}
        }
    }
    out
}

/// Dumps, compiles a probe using every named type, and compares.
fn check(label: &str, btf: &Btf<'_>, dir: &Path, clang: &Path) {
    let header = dump_c(btf, &CDumpOptions::default()).unwrap_or_else(|e| panic!("{label}: {e}"));
    std::fs::write(dir.join("vmlinux.h"), &header).unwrap();
    let names = c_names(btf).unwrap();
    let want = shapes(btf, Some(&names));
    // clang's BTF output grows worse than linearly with the types one
    // unit uses: probe in chunks, one object each.
    // A BTF that was never deduplicated (CentOS 8's: 562k types, the
    // header 1.8M lines) has tens of thousands of per-compilation-unit
    // copies of each struct, named `___N` in the header: clang would need
    // about 16 s per 1500 of them. The header still compiles whole; the
    // layouts checked are those of the first type of every name.
    let sample = btf.len() > 200_000;
    let keys: Vec<&String> = want
        .keys()
        .filter(|k| !sample || !k.contains("___"))
        .collect();
    if sample {
        eprintln!(
            "{label}: checking {} of {} named types (first of each name)",
            keys.len(),
            want.len()
        );
    }
    let mut got = BTreeMap::new();
    for (c, chunk) in keys.chunks(1500).enumerate() {
        let mut probe = String::from("#include \"vmlinux.h\"\n");
        for (i, key) in chunk.iter().enumerate() {
            let ty = key.strip_prefix("typedef ").unwrap_or(key);
            // A variable of the type itself makes clang describe it in
            // full; a pointer where the type has no size (function types).
            let ptr = if matches!(want[*key], Shape::Typedef { size: None }) {
                "*"
            } else {
                ""
            };
            probe.push_str(&format!("{ty} {ptr}__btfkit_probe_{i};\n"));
        }
        let src = format!("probe{c}.c");
        let obj = format!("probe{c}.o");
        std::fs::write(dir.join(&src), probe).unwrap();
        let out = Command::new(clang)
            .args([
                "-target", "bpf", "-g", "-O0", "-Werror", "-c", &src, "-o", &obj,
            ])
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{label}: clang: {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .take(20)
                .collect::<Vec<_>>()
                .join("\n")
        );
        let bytes = std::fs::read(dir.join(&obj)).unwrap();
        let got_btf = Btf::parse_any(&bytes, None).unwrap();
        // Only the chunk's own types: others may appear there as mere
        // declarations.
        let mut these = shapes(&got_btf, None);
        for key in chunk {
            if let Some(v) = these.remove(*key) {
                got.insert((*key).clone(), v);
            }
        }
    }
    let mut bad = Vec::new();
    let checked: std::collections::HashSet<&String> = keys.iter().copied().collect();
    for (k, v) in want.iter().filter(|(k, _)| checked.contains(k)) {
        match got.get(k) {
            Some(g) if g == v => {}
            Some(g) => bad.push(format!("{k}: want {v:?}\n got {g:?}")),
            None => bad.push(format!("{k}: missing from clang's BTF")),
        }
    }
    assert!(
        bad.is_empty(),
        "{label}: {} of {} types differ:\n{}",
        bad.len(),
        want.len(),
        bad.iter().take(8).cloned().collect::<Vec<_>>().join("\n")
    );
}

fn clang() -> Option<std::path::PathBuf> {
    tu::require_tool("clang-16")
}

#[test]
fn host_kernel_header_reproduces_every_layout() {
    let Some(clang) = clang() else { return };
    let Ok(bytes) = std::fs::read("/sys/kernel/btf/vmlinux") else {
        tu::missing::<()>("/sys/kernel/btf/vmlinux");
        return;
    };
    let btf = Btf::parse(&bytes).unwrap();
    let dir = tempfile::tempdir().unwrap();
    check("host vmlinux", &btf, dir.path(), &clang);
}

#[test]
fn corpus_headers_reproduce_every_layout() {
    let Some(clang) = clang() else { return };
    let only = std::env::var("BTFKIT_CDUMP_ONLY").ok();
    let kernels: Vec<_> = tu::corpus_kernels()
        .into_iter()
        .filter(|k| only.as_deref().is_none_or(|o| k.key.contains(o)))
        .collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(k) = kernels.get(i) else { break };
                let bytes = k.raw_bytes();
                let btf = Btf::parse(&bytes).unwrap();
                let dir = tempfile::tempdir().unwrap();
                check(&k.key, &btf, dir.path(), &clang);
            });
        }
    });
}

/// Issue 17 row 1: a struct of 4 GiB with a member at bit 2^32-1 is
/// sound BTF by the kernel's rules, but its padding would be 67 million
/// lines of `long: 64;`. The dump refuses it, naming the type and the
/// member, instead of allocating gigabytes.
#[test]
fn gigabytes_of_padding_are_an_error() {
    use btfkit_btf::cdump::CDumpError;
    use btfkit_btf::{BtfBuilder, MemberSpec};
    let build = |size: u32, at: u32| {
        let mut b = BtfBuilder::new();
        let int = b.add_int("int", 4, btfkit_btf::INT_SIGNED).unwrap();
        let m = [MemberSpec {
            name: "far",
            type_id: int,
            bit_offset: at,
            bitfield_size: 0,
        }];
        b.add_struct("huge", size, &m).unwrap();
        b.finish()
    };
    let data = build(u32::MAX, u32::MAX - 31);
    let btf = Btf::parse(&data).unwrap();
    let e = dump_c(&btf, &CDumpOptions::default()).unwrap_err();
    assert!(
        matches!(e, CDumpError::PaddingTooLarge { id: 2, .. }),
        "{e}"
    );
    assert!(e.to_string().contains("before member \"far\""), "{e}");
    // Trailing padding too.
    let data = build(u32::MAX, 0);
    let btf = Btf::parse(&data).unwrap();
    let e = dump_c(&btf, &CDumpOptions::default()).unwrap_err();
    assert!(e.to_string().contains("after the last member"), "{e}");
    // A page of padding (members aligned to 4 KiB) is written.
    let data = build(8192, 4096 * 8);
    let btf = Btf::parse(&data).unwrap();
    let header = dump_c(&btf, &CDumpOptions::default()).unwrap();
    assert!(header.contains("long: 64;"), "{header}");
}

/// Runs `f` on a thread with a small stack (128 KiB), as a library
/// caller's worker thread might have: the dump must not depend on the
/// caller's stack for its deep walks.
fn on_small_stack<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|sc| {
        std::thread::Builder::new()
            .stack_size(128 << 10)
            .spawn_scoped(sc, f)
            .unwrap()
            .join()
            .unwrap()
    })
}

/// `levels` anonymous structs, each holding a pointer to the next, under a
/// named struct `top`: every level is written inline, one inside another.
fn nested_anonymous_structs(levels: usize) -> Vec<u8> {
    use btfkit_btf::{BtfBuilder, MemberSpec};
    let member = |name, type_id| MemberSpec {
        name,
        type_id,
        bit_offset: 0,
        bitfield_size: 0,
    };
    let mut b = BtfBuilder::new();
    let int = b.add_int("int", 4, btfkit_btf::INT_SIGNED).unwrap();
    let mut inner = b.add_struct("", 4, &[member("x", int)]).unwrap();
    for _ in 0..levels {
        let p = b.add_ptr(inner).unwrap();
        inner = b.add_struct("", 8, &[member("next", p)]).unwrap();
    }
    let p = b.add_ptr(inner).unwrap();
    b.add_struct("top", 8, &[member("first", p)]).unwrap();
    b.finish()
}

/// Issue 17, found by the `cdump` fuzz target in CI: a pointer to an
/// array of that pointer (sound BTF, no C spelling) was walked 2,048
/// levels deep on a worker thread of 2 MiB and overflowed its stack in a
/// sanitized build. Nesting past the limit is an error, nesting under it
/// is written, and neither depends on the caller's stack.
#[test]
fn deep_nesting_never_overflows_the_stack() {
    use btfkit_btf::cdump::CDumpError;
    use btfkit_btf::BtfBuilder;
    // 500 levels: written, each level one `struct {` deeper.
    let data = nested_anonymous_structs(500);
    let header = on_small_stack(|| {
        let btf = Btf::parse(&data).unwrap();
        dump_c(&btf, &CDumpOptions::default()).unwrap()
    });
    assert_eq!(header.matches("struct {").count(), 501, "{header}");
    // 5,000 levels: past the limit, an error naming where; the whole
    // header and only `top` (written on another path) alike.
    let data = nested_anonymous_structs(5000);
    let only_top = CDumpOptions {
        types: vec!["top".into()],
    };
    for opts in [CDumpOptions::default(), only_top] {
        let e = on_small_stack(|| {
            let btf = Btf::parse(&data).unwrap();
            dump_c(&btf, &opts).unwrap_err()
        });
        assert!(matches!(e, CDumpError::TooDeep { .. }), "{e}");
    }
    // The fuzz target's shape, built by hand: [1] PTR -> [3] ARRAY of [1].
    let mut b = BtfBuilder::new();
    let int = b.add_int("int", 4, btfkit_btf::INT_SIGNED).unwrap();
    let p = b.add_ptr(TypeId(3)).unwrap();
    b.add_array(p, int, 4).unwrap();
    b.add_typedef("loop_t", p).unwrap();
    let data = b.finish();
    let e = on_small_stack(|| {
        let btf = Btf::parse(&data).unwrap();
        dump_c(&btf, &CDumpOptions::default()).unwrap_err()
    });
    assert!(matches!(e, CDumpError::TooDeep { .. }), "{e}");
}

/// Inputs the fuzz targets found (testdata/cdump/regress): each is
/// written or refused with an error, on a small caller stack.
#[test]
fn cdump_fuzz_regressions() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/cdump/regress");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        on_small_stack(|| {
            if let Ok(btf) = Btf::parse_any(&data, None) {
                let _ = dump_c(&btf, &CDumpOptions::default());
            }
        });
        seen += 1;
    }
    assert!(seen >= 1, "no inputs in {}", dir.display());
}
