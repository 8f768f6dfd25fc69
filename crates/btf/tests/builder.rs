//! The writer: every kind through the builder API, read back by btfkit and
//! by bpftool; split output on a base; copying types between BTFs.

use std::collections::HashMap;

use btfkit_btf::{dump, Btf, BtfBuilder, Kind, MemberSpec, TypeId, INT_BOOL, INT_CHAR, INT_SIGNED};
use btfkit_testutil as tu;

fn raw_dump(btf: &Btf<'_>) -> String {
    let mut out = Vec::new();
    dump::dump_raw(btf, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

fn m<'a>(name: &'a str, type_id: TypeId, bit_offset: u32, bitfield_size: u8) -> MemberSpec<'a> {
    MemberSpec {
        name,
        type_id,
        bit_offset,
        bitfield_size,
    }
}

fn every_kind() -> Vec<u8> {
    let mut b = BtfBuilder::new();
    let int = b.add_int("int", 4, INT_SIGNED).unwrap(); // 1
    let ch = b.add_int("char", 1, INT_SIGNED | INT_CHAR).unwrap(); // 2
    let bool_ = b.add_int("_Bool", 1, INT_BOOL).unwrap(); // 3
    let ptr = b.add_ptr(ch).unwrap(); // 4
    let arr = b.add_array(ch, int, 16).unwrap(); // 5
    let fwd = b.add_fwd("later", false).unwrap(); // 6
    let fptr = b.add_ptr(fwd).unwrap(); // 7
    let s = b
        .add_struct(
            "rec",
            32,
            &[
                m("flags", int, 0, 3),
                m("on", bool_, 3, 1),
                m("name", arr, 8, 0),
                m("next", fptr, 192, 0),
            ],
        )
        .unwrap(); // 8
    b.add_union("u", 8, &[m("i", int, 0, 0), m("p", ptr, 0, 0)])
        .unwrap(); // 9
    b.add_enum("e", 4, true, &[("NEG", -1), ("POS", 7)])
        .unwrap(); // 10
    b.add_enum("e64", 8, false, &[("BIG", 1 << 40)]).unwrap(); // 11
    let td = b.add_typedef("rec_t", s).unwrap(); // 12
    let v = b.add_volatile(td).unwrap(); // 13
    let c = b.add_const(v).unwrap(); // 14
    let r = b.add_restrict(ptr).unwrap(); // 15
    let tag = b.add_type_tag("user", ch).unwrap(); // 16
    let proto = b
        .add_func_proto(int, &[("r", c), ("s", r), ("", TypeId(0))])
        .unwrap(); // 17
    let f = b.add_func("handler", proto, 1).unwrap(); // 18
    let var = b.add_var("counter", int, 1).unwrap(); // 19
    b.add_datasec(".data", 4, &[(var, 0, 4)]).unwrap(); // 20
    b.add_float("double", 8).unwrap(); // 21
    b.add_decl_tag("kfunc", f, -1).unwrap(); // 22
    b.add_decl_tag("arg", f, 0).unwrap(); // 23
    let _ = tag;
    b.finish()
}

const EVERY_KIND_DUMP: &str = "\
[1] INT 'int' size=4 bits_offset=0 nr_bits=32 encoding=SIGNED
[2] INT 'char' size=1 bits_offset=0 nr_bits=8 encoding=UNKN
[3] INT '_Bool' size=1 bits_offset=0 nr_bits=8 encoding=BOOL
[4] PTR '(anon)' type_id=2
[5] ARRAY '(anon)' type_id=2 index_type_id=1 nr_elems=16
[6] FWD 'later' fwd_kind=struct
[7] PTR '(anon)' type_id=6
[8] STRUCT 'rec' size=32 vlen=4
\t'flags' type_id=1 bits_offset=0 bitfield_size=3
\t'on' type_id=3 bits_offset=3 bitfield_size=1
\t'name' type_id=5 bits_offset=8
\t'next' type_id=7 bits_offset=192
[9] UNION 'u' size=8 vlen=2
\t'i' type_id=1 bits_offset=0
\t'p' type_id=4 bits_offset=0
[10] ENUM 'e' encoding=SIGNED size=4 vlen=2
\t'NEG' val=-1
\t'POS' val=7
[11] ENUM64 'e64' encoding=UNSIGNED size=8 vlen=1
\t'BIG' val=1099511627776ULL
[12] TYPEDEF 'rec_t' type_id=8
[13] VOLATILE '(anon)' type_id=12
[14] CONST '(anon)' type_id=13
[15] RESTRICT '(anon)' type_id=4
[16] TYPE_TAG 'user' type_id=2
[17] FUNC_PROTO '(anon)' ret_type_id=1 vlen=3
\t'r' type_id=14
\t's' type_id=15
\t'(anon)' type_id=0
[18] FUNC 'handler' type_id=17 linkage=global
[19] VAR 'counter' type_id=1, linkage=global
[20] DATASEC '.data' size=4 vlen=1
\ttype_id=19 offset=0 size=4 (VAR 'counter')
[21] FLOAT 'double' size=8
[22] DECL_TAG 'kfunc' type_id=18 component_idx=-1
[23] DECL_TAG 'arg' type_id=18 component_idx=0
";

#[test]
fn every_kind_is_written_as_intended() {
    let bytes = every_kind();
    let btf = Btf::parse(&bytes).unwrap();
    assert_eq!(raw_dump(&btf), EVERY_KIND_DUMP);
    assert_eq!(btf.resolve_size(TypeId(8)).unwrap(), 32);
    assert_eq!(
        btf.find_member(TypeId(12), "on")
            .unwrap()
            .unwrap()
            .bitfield_size,
        1
    );
}

#[test]
fn bpftool_reads_builder_output_raw_and_elf() {
    let bytes = every_kind();
    let dir = tu::cache_dir();
    let raw = dir.join("builder-every-kind.btf");
    tu::write_atomic(&raw, &bytes);
    let Some(theirs) = tu::bpftool(&[
        "btf",
        "dump",
        "file",
        raw.to_str().unwrap(),
        "format",
        "raw",
    ]) else {
        return;
    };
    assert_eq!(String::from_utf8(theirs).unwrap(), EVERY_KIND_DUMP);
    let btf = Btf::parse(&bytes).unwrap();
    let mut b = BtfBuilder::from_btf(&btf).unwrap();
    b.set_endian(btfkit_btf::Endian::Big);
    let elf = dir.join("builder-every-kind.be.o");
    tu::write_atomic(&elf, &b.finish_elf());
    let theirs = tu::bpftool(&[
        "btf",
        "dump",
        "file",
        elf.to_str().unwrap(),
        "format",
        "raw",
    ])
    .unwrap();
    assert_eq!(String::from_utf8(theirs).unwrap(), EVERY_KIND_DUMP);
}

#[test]
fn strings_are_deduplicated() {
    let mut b = BtfBuilder::new();
    let a = b.add_str("task_struct").unwrap();
    assert_eq!(b.add_str("task_struct").unwrap(), a);
    assert_eq!(b.add_str("").unwrap(), 0);
    let int = b.add_int("int", 4, INT_SIGNED).unwrap();
    b.add_typedef("int", int).unwrap();
    let bytes = b.finish();
    let btf = Btf::parse(&bytes).unwrap();
    // "\0task_struct\0int\0": no second copy of either.
    assert_eq!(btf.strings_section(), b"\0task_struct\0int\0");
    // Adding to a builder made from existing BTF reuses its strings.
    let mut b2 = BtfBuilder::from_btf(&btf).unwrap();
    assert_eq!(b2.add_str("int").unwrap(), 13);
    assert!(b2.add_str("with\0nul").is_err());
}

#[test]
fn split_builder_extends_a_base() {
    let base_bytes = every_kind();
    let base = Btf::parse(&base_bytes).unwrap();
    let mut b = BtfBuilder::new_split(&base);
    assert_eq!(b.next_id(), TypeId(24));
    let int = base.find_first("int", Kind::Int).unwrap();
    let p = b.add_ptr(TypeId(8)).unwrap();
    let s = b
        .add_struct(
            "mod_state",
            16,
            &[m("count", int, 0, 0), m("rec", p, 64, 0)],
        )
        .unwrap();
    assert_eq!((p, s), (TypeId(24), TypeId(25)));
    let split_bytes = b.finish();
    let split = Btf::parse_split(&split_bytes, &base).unwrap();
    // "count" and "rec" exist in the base ("rec" as a struct name): only
    // the new strings are in the split section.
    assert_eq!(split.strings_section(), b"mod_state\0count\0");
    assert_eq!(
        split.find_first("mod_state", Kind::Struct),
        Some(TypeId(25))
    );
    assert_eq!(split.resolve_size(TypeId(25)).unwrap(), 16);
    let dir = tu::cache_dir();
    let (bp, sp) = (dir.join("builder-base.btf"), dir.join("builder-split.btf"));
    tu::write_atomic(&bp, &base_bytes);
    tu::write_atomic(&sp, &split_bytes);
    let Some(theirs) = tu::bpftool(&[
        "btf",
        "dump",
        "file",
        sp.to_str().unwrap(),
        "-B",
        bp.to_str().unwrap(),
        "format",
        "raw",
    ]) else {
        return;
    };
    assert_eq!(String::from_utf8(theirs).unwrap(), raw_dump(&split));
}

#[test]
fn copying_types_between_btfs_with_id_remapping() {
    let Some(k) = tu::corpus_kernel("debian/12/x86_64/6.1.0-56-amd64") else {
        return;
    };
    let kbytes = k.raw_bytes();
    let kernel = Btf::parse(&kbytes).unwrap();
    // Copy struct list_head and everything it reaches, in dependency order.
    let root = kernel.find_first("list_head", Kind::Struct).unwrap();
    let mut order = Vec::new();
    let mut seen = HashMap::new();
    fn visit(btf: &Btf<'_>, id: TypeId, order: &mut Vec<TypeId>, seen: &mut HashMap<TypeId, ()>) {
        if id.is_void() || seen.insert(id, ()).is_some() {
            return;
        }
        order.push(id);
        btf.type_by_id(id)
            .unwrap()
            .for_each_type_ref(|r| visit(btf, r, order, seen));
    }
    visit(&kernel, root, &mut order, &mut seen);
    let new_ids: HashMap<TypeId, TypeId> = order
        .iter()
        .enumerate()
        .map(|(i, &id)| (id, TypeId(i as u32 + 1)))
        .collect();
    let mut b = BtfBuilder::new();
    for &id in &order {
        let t = kernel.type_by_id(id).unwrap();
        b.add_type_from(&kernel, &t, |r| {
            Ok(if r.is_void() { r } else { new_ids[&r] })
        })
        .unwrap();
    }
    let out = b.finish();
    let small = Btf::parse(&out).unwrap();
    assert_eq!(
        raw_dump(&small),
        "[1] STRUCT 'list_head' size=16 vlen=2\n\t'next' type_id=2 bits_offset=0\n\t'prev' type_id=2 bits_offset=64\n[2] PTR '(anon)' type_id=1\n"
    );
}
