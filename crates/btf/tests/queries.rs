//! Type queries against libbpf (sizes, alignment, pointer size for every
//! type), bpftool (member offsets as it prints them) and a naive model
//! (name lookups).

use std::collections::BTreeMap;
use std::process::Command;

use btfkit_btf::{Btf, Kind, TypeId};
use btfkit_testutil as tu;

/// One libbpf answer: id, kind number, btf__resolve_size, btf__align_of
/// (negative for errors).
type OracleRow = (u32, u8, i64, i64);

/// Runs the libbpf oracle and returns (ptr_size, rows).
fn libbpf_queries(
    file: &std::path::Path,
    base: Option<&std::path::Path>,
) -> Option<(u32, Vec<OracleRow>)> {
    let oracle = tu::libbpf_oracle("btf_queries")?;
    let mut cmd = Command::new(oracle);
    cmd.arg(file);
    if let Some(b) = base {
        cmd.arg(b);
    }
    let out = String::from_utf8(tu::run_ok(&mut cmd)).unwrap();
    let mut lines = out.lines();
    let head: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    let ptr = head[1].parse().unwrap();
    let rows = lines
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (
                f[0].parse().unwrap(),
                f[1].parse().unwrap(),
                f[2].parse().unwrap(),
                f[3].parse().unwrap(),
            )
        })
        .collect();
    Some((ptr, rows))
}

/// Compares resolve_size/align_of with libbpf for every type. libbpf
/// reports errors as negative numbers; btfkit must fail exactly there.
fn check_against_libbpf(
    what: &str,
    btf: &Btf<'_>,
    file: &std::path::Path,
    base: Option<&std::path::Path>,
) -> bool {
    let Some((ptr, rows)) = libbpf_queries(file, base) else {
        return false;
    };
    assert_eq!(btf.pointer_size(), ptr, "{what}: pointer size");
    assert_eq!(rows.len(), btf.len(), "{what}: type count");
    for (id, kind, size, align) in rows {
        let t = btf.type_by_id(TypeId(id)).unwrap();
        assert_eq!(t.kind().to_raw(), kind, "{what}: kind of {id}");
        let ours = btf.resolve_size(TypeId(id));
        match ours {
            Ok(s) => assert_eq!(s as i64, size, "{what}: size of [{id}] {:?}", t.kind()),
            Err(e) => assert!(
                size < 0,
                "{what}: size of [{id}]: btfkit says {e}, libbpf {size}"
            ),
        }
        let ours = btf.align_of(TypeId(id));
        match ours {
            Ok(a) => assert_eq!(
                a as i64,
                align,
                "{what}: alignment of [{id}] {:?}",
                t.kind()
            ),
            Err(e) => assert!(
                align <= 0,
                "{what}: alignment of [{id}]: btfkit says {e}, libbpf {align}"
            ),
        }
    }
    true
}

#[test]
fn sizes_and_alignment_match_libbpf_on_every_kernel() {
    let mut n = 0;
    for k in tu::corpus_kernels() {
        let bytes = k.raw_bytes();
        let btf = Btf::parse(&bytes).unwrap();
        if !check_against_libbpf(&k.key, &btf, &k.raw_path(), None) {
            return;
        }
        n += 1;
    }
    eprintln!("checked {n} kernels");
}

#[test]
fn sizes_and_alignment_match_libbpf_on_modules_and_objects() {
    for m in tu::corpus_modules() {
        let base_bytes = m.base.raw_bytes();
        let base = Btf::parse(&base_bytes).unwrap();
        let bytes = std::fs::read(&m.raw).unwrap();
        let btf = Btf::parse_split(&bytes, &base).unwrap();
        if !check_against_libbpf(&m.name, &btf, &m.raw, Some(&m.base.raw_path())) {
            return;
        }
    }
    for o in tu::bpf_objects() {
        let bytes = std::fs::read(&o.path).unwrap();
        let btf = Btf::parse_any(&bytes, None).unwrap();
        if !check_against_libbpf(&o.label, &btf, &o.path, None) {
            return;
        }
    }
}

/// Member lines of `STRUCT 'name'` in bpftool's raw dump: (name, bit offset, bitfield size).
fn bpftool_members(dump: &str, name: &str) -> Vec<(String, u32, u32)> {
    let header = format!(" STRUCT '{name}' ");
    let mut lines = dump.lines().skip_while(|l| !l.contains(&header));
    lines.next().unwrap_or_else(|| panic!("no struct {name}"));
    lines
        .take_while(|l| l.starts_with('\t'))
        .map(|l| {
            let name = l.split('\'').nth(1).unwrap().to_string();
            let field = |key: &str| {
                l.split_whitespace()
                    .find_map(|w| w.strip_prefix(key))
                    .map_or(0, |v| v.parse().unwrap())
            };
            (name, field("bits_offset="), field("bitfield_size="))
        })
        .collect()
}

#[test]
fn task_struct_members_match_bpftool() {
    for key in [
        "debian/12/x86_64/6.1.0-56-amd64",
        "debian/11/x86_64/5.10.0-32-amd64",
        "bclinux/21.10U3/x86_64/4.19.90-2107.6.0.0248.35.oe1.bclinux.x86_64",
        "centos/8/aarch64/4.18.0-147.5.1.el8_1.aarch64",
    ] {
        let Some(k) = tu::corpus_kernel(key) else {
            return;
        };
        let Some(dump) = tu::bpftool(&[
            "btf",
            "dump",
            "file",
            k.raw_path().to_str().unwrap(),
            "format",
            "raw",
        ]) else {
            return;
        };
        let dump = String::from_utf8(dump).unwrap();
        let bytes = k.raw_bytes();
        let btf = Btf::parse(&bytes).unwrap();
        for sname in ["task_struct", "mm_struct", "sk_buff", "file"] {
            let id = btf
                .find_first(sname, Kind::Struct)
                .unwrap_or_else(|| panic!("{key}: {sname}"));
            let expected = bpftool_members(&dump, sname);
            let t = btf.type_by_id(id).unwrap();
            let members: Vec<_> = t.members().unwrap().iter().collect();
            assert_eq!(members.len(), expected.len(), "{key}: {sname} member count");
            for (m, (name, off, bits)) in members.iter().zip(&expected) {
                let mname = if m.name_off == 0 {
                    "(anon)"
                } else {
                    btf.str_at(m.name_off).unwrap()
                };
                assert_eq!(
                    (mname, m.bit_offset(), m.bitfield_size()),
                    (name.as_str(), *off, *bits),
                    "{key}: {sname}"
                );
                if m.name_off != 0 {
                    // find_member agrees for named direct members.
                    let found = btf.find_member(id, mname).unwrap().unwrap();
                    assert_eq!(found.bit_offset, m.bit_offset(), "{key}: {sname}.{mname}");
                }
            }
        }
        // A few well-known facts.
        let task = btf.find_first("task_struct", Kind::Struct).unwrap();
        let state = if key.contains("6.1") {
            "__state"
        } else {
            "state"
        };
        assert!(
            btf.find_member(task, state).unwrap().is_some(),
            "{key}: task_struct.{state}"
        );
        let pid = btf.find_member(task, "pid").unwrap().unwrap();
        assert_eq!(btf.resolve_size(pid.member.type_id).unwrap(), 4);
    }
}

#[test]
fn anonymous_members_are_searched() {
    let Some(k) = tu::corpus_kernel("debian/12/x86_64/6.1.0-56-amd64") else {
        return;
    };
    let bytes = k.raw_bytes();
    let btf = Btf::parse(&bytes).unwrap();
    // sk_buff.len sits in the struct itself; sk_buff.dev and .tstamp are in
    // anonymous unions/structs at the top of the struct.
    let skb = btf.find_first("sk_buff", Kind::Struct).unwrap();
    let dev = btf
        .find_member(skb, "dev")
        .unwrap()
        .expect("sk_buff.dev through anonymous members");
    assert_eq!(dev.bit_offset % 8, 0);
    assert!(btf.find_member(skb, "tstamp").unwrap().is_some());
    assert!(btf.find_member(skb, "no_such_member").unwrap().is_none());
    // Bitfield through the kind_flag encoding.
    let found = btf.find_member(skb, "pkt_type").unwrap().unwrap();
    assert_eq!(found.bitfield_size, 3);
}

#[test]
fn name_lookups_match_a_linear_scan() {
    for k in tu::corpus_kernels()
        .iter()
        .filter(|k| k.key.contains("6.12.117+deb12-amd64") || k.key.contains("centos"))
    {
        let bytes = k.raw_bytes();
        let btf = Btf::parse(&bytes).unwrap();
        let mut model: BTreeMap<&str, Vec<TypeId>> = BTreeMap::new();
        for t in btf.types() {
            let name = btf.name_of(&t).unwrap();
            if !name.is_empty() {
                model.entry(name).or_default().push(t.id());
            }
        }
        for (name, ids) in &model {
            assert_eq!(&btf.find_by_name(name), ids, "{}: {name}", k.key);
        }
        assert!(btf.find_by_name("").is_empty());
        assert!(btf.find_by_name("surely_not_a_kernel_type_name").is_empty());
        eprintln!("{}: {} names checked", k.key, model.len());
    }
}

#[test]
fn split_lookups_see_base_and_module() {
    let mods = tu::corpus_modules();
    let Some(m) = mods.iter().find(|m| m.name == "btrfs") else {
        return;
    };
    let base_bytes = m.base.raw_bytes();
    let base = Btf::parse(&base_bytes).unwrap();
    let bytes = std::fs::read(&m.raw).unwrap();
    let btf = Btf::parse_split(&bytes, &base).unwrap();
    let fs_info = btf
        .find_first("btrfs_fs_info", Kind::Struct)
        .expect("module type");
    assert!(fs_info >= btf.first_id());
    let task = btf
        .find_first("task_struct", Kind::Struct)
        .expect("base type through the module");
    assert!(task < btf.first_id());
    assert_eq!(
        btf.type_by_id(task).unwrap().raw(),
        base.type_by_id(task).unwrap().raw()
    );
    // A module member whose type lives in the base.
    let sb = btf.find_member(fs_info, "sb").unwrap().unwrap();
    let sb_t = btf.skip_mods_and_typedefs(sb.member.type_id).unwrap();
    assert_eq!(sb_t.kind(), Kind::Ptr);
    assert!(btf.resolve_size(fs_info).unwrap() > 1000);
}

#[test]
fn enum_values_are_64_bit_aware() {
    for o in tu::bpf_objects()
        .iter()
        .filter(|o| o.label.starts_with("allkinds") && o.label.contains("clang-16"))
    {
        let bytes = std::fs::read(&o.path).unwrap();
        let btf = Btf::parse_any(&bytes, None).unwrap();
        let small = btf.find_first("small", Kind::Enum).unwrap();
        assert_eq!(
            btf.enum_values_named(small).unwrap(),
            vec![("A", 1), ("B", -2)]
        );
        let big = btf.find_first("big", Kind::Enum64).unwrap();
        assert_eq!(
            btf.enum_values_named(big).unwrap(),
            vec![("X", 0xff_ffff_ffff), ("Y", 1)]
        );
        let bigs = btf.find_first("bigs", Kind::Enum64).unwrap();
        assert_eq!(
            btf.enum_values_named(bigs).unwrap(),
            vec![("S1", -5_000_000_000), ("S2", 3)]
        );
        let t = btf.type_by_id(bigs).unwrap();
        assert!(t.kflag(), "signed enum64 has kind_flag set");
        assert_eq!(
            t.enum_values().unwrap().get(0).unwrap().as_i64(),
            -5_000_000_000
        );
    }
}
