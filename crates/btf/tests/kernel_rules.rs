//! Parse-time validation with the kernel's own BTF rules (issue 17, rows
//! 1b, 1c and 8): BTF whose types break them is refused by `Btf::parse`
//! with an error naming the type (id, byte offset, kind, name) and, for
//! members, the member; BTF that keeps them — every corpus kernel and
//! module, and the legitimate corner cases below — parses.

use btfkit_btf::{Btf, BtfBuilder, Error, Kind, MemberSpec, TypeId, INT_SIGNED};
use btfkit_testutil as tu;

/// Where the first record of a classic-header BTF starts.
const TYPES: usize = 24;

/// The parse error of `data`: an `InvalidType` of type `id` whose message
/// contains each of `says`.
fn refused(data: &[u8], id: u32, says: &[&str]) -> String {
    let e = Btf::parse(data).unwrap_err();
    let Error::InvalidType { id: got, .. } = &e else {
        panic!("expected type {id} refused, got: {e}");
    };
    let text = e.to_string();
    assert_eq!(got.0, id, "{text}");
    for s in says {
        assert!(text.contains(s), "{text:?} does not say {s:?}");
    }
    text
}

/// An int and a struct `s` of `size` bytes with `members` (ids: int 1,
/// struct 2).
fn with_struct(size: u32, members: &[MemberSpec<'_>]) -> Vec<u8> {
    let mut b = BtfBuilder::new();
    b.add_int("int", 4, INT_SIGNED).unwrap();
    b.add_struct("s", size, members).unwrap();
    b.finish()
}

#[test]
fn members_must_lie_inside_their_struct() {
    let int = TypeId(1);
    // An int at byte 4 of a 4-byte struct.
    let text = refused(
        &with_struct(
            4,
            &[
                tu::member_spec("a", int, 0, 0),
                tu::member_spec("b", int, 32, 0),
            ],
        ),
        2,
        &[
            "STRUCT \"s\"",
            "member #1 \"b\" at bit 32",
            "needs 4 bytes at byte 4, beyond the 4-byte struct",
        ],
    );
    assert!(text.starts_with("type id 2 at offset 0x28"), "{text}");
    // Row 1c: a bitfield at bit 16777215 of a 4-byte struct.
    refused(
        &with_struct(4, &[tu::member_spec("f", int, 0x00ff_ffff, 1)]),
        2,
        &[
            "member #0 \"f\" at bit 16777215",
            "beyond the 4-byte struct",
        ],
    );
    // A bitfield crossing the end by one bit.
    refused(
        &with_struct(4, &[tu::member_spec("f", int, 30, 3)]),
        2,
        &["needs 2 bytes at byte 3"],
    );
    // ... and one ending exactly at it is fine.
    Btf::parse(&with_struct(4, &[tu::member_spec("f", int, 29, 3)])).unwrap();
}

/// Row 1b: a real kernel's BTF with one member's offset changed (what
/// two flipped bytes do) is refused, naming the struct and the member.
#[test]
fn a_real_kernel_with_one_member_moved_is_refused() {
    let Some(k) = tu::corpus_kernel("debian/12/x86_64/6.1.0-56-amd64") else {
        return tu::missing("the corpus").unwrap_or(());
    };
    let mut data = k.raw_bytes();
    let btf = Btf::parse(&data).unwrap();
    let task = btf.find_first("task_struct", Kind::Struct).unwrap();
    let t = btf.type_by_id(task).unwrap();
    let kflag = t.kflag();
    let (idx, m) = t
        .members()
        .unwrap()
        .iter()
        .enumerate()
        .find(|(_, m)| btf.str_at(m.name_off).unwrap() == "pid")
        .unwrap();
    let at = btf.record_offset(task) + 12 + idx * 12 + 8;
    drop(btf);
    assert_eq!(
        u32::from_le_bytes(data[at..at + 4].try_into().unwrap()),
        m.raw_offset
    );
    let moved = if kflag {
        0x007f_0000 | m.raw_offset
    } else {
        2_130_706_464
    };
    tu::put_u32(&mut data, at, moved);
    refused(
        &data,
        task.0,
        &["STRUCT \"task_struct\"", "\"pid\"", "beyond the"],
    );
}

#[test]
fn int_encodings_follow_the_kernel() {
    let int_with = |data: u32, size: u32| {
        let mut b = BtfBuilder::new();
        b.add_int("int", 4, INT_SIGNED).unwrap();
        let mut d = b.finish();
        tu::put_u32(&mut d, TYPES + 8, size);
        tu::put_u32(&mut d, TYPES + 12, data);
        d
    };
    // Row 8: 255 bits in 4 bytes.
    refused(&int_with(255, 4), 1, &["INT \"int\"", "exceeds 128 bits"]);
    refused(
        &int_with(64, 4),
        1,
        &["64 bits at offset 0 do not fit in 4 bytes"],
    );
    refused(&int_with(8 << 24 | 32, 4), 1, &["unknown encoding 0x8"]);
    refused(&int_with(1 << 28 | 32, 4), 1, &["bits beyond its fields"]);
    // __int128 and a 1-bit bool are fine.
    Btf::parse(&int_with(128, 16)).unwrap();
    Btf::parse(&int_with(4 << 24 | 1, 1)).unwrap();
}

#[test]
fn bitfields_follow_the_kernel() {
    let mut b = BtfBuilder::new();
    let int = b.add_int("int", 4, INT_SIGNED).unwrap();
    let ptr = b.add_ptr(int).unwrap();
    b.add_struct("s", 8, &[tu::member_spec("p", ptr, 0, 3)])
        .unwrap();
    refused(&b.finish(), 3, &["bitfield of PTR type"]);
    // Wider than its int.
    refused(
        &with_struct(8, &[tu::member_spec("w", TypeId(1), 0, 33)]),
        2,
        &["bitfield of 33 bits in a 32-bit int"],
    );
    // A whole struct member must start on a byte.
    let mut b = BtfBuilder::new();
    let int = b.add_int("int", 4, INT_SIGNED).unwrap();
    let inner = b
        .add_struct("in", 4, &[tu::member_spec("x", int, 0, 0)])
        .unwrap();
    b.add_struct("out", 8, &[tu::member_spec("i", inner, 3, 0)])
        .unwrap();
    refused(&b.finish(), 3, &["not byte aligned"]);
    // Legacy bitfields (no kind_flag: an int narrower than its size).
    let mut b = BtfBuilder::new();
    let narrow = b.add_int_bits("unsigned int", 4, 0, 0, 3).unwrap();
    b.add_struct(
        "legacy",
        4,
        &[
            tu::member_spec("a", narrow, 0, 0),
            tu::member_spec("b", narrow, 29, 0),
        ],
    )
    .unwrap();
    Btf::parse(&b.finish()).unwrap();
}

#[test]
fn member_order_union_offsets_and_sizeless_types() {
    let int = TypeId(1);
    refused(
        &with_struct(
            8,
            &[
                tu::member_spec("a", int, 32, 0),
                tu::member_spec("b", int, 0, 0),
            ],
        ),
        2,
        &["comes before the previous member"],
    );
    let mut b = BtfBuilder::new();
    b.add_int("int", 4, INT_SIGNED).unwrap();
    b.add_union("u", 8, &[tu::member_spec("a", int, 32, 0)])
        .unwrap();
    refused(
        &b.finish(),
        2,
        &["UNION \"u\"", "a union member must be at offset 0"],
    );
    refused(
        &with_struct(8, &[tu::member_spec("v", TypeId(0), 0, 0)]),
        2,
        &["has type void"],
    );
    let mut b = BtfBuilder::new();
    let fwd = b.add_fwd("opaque", false).unwrap();
    b.add_struct("s", 8, &[tu::member_spec("o", fwd, 0, 0)])
        .unwrap();
    refused(&b.finish(), 2, &["kind FWD has no size"]);
}

#[test]
fn other_kinds() {
    let mut b = BtfBuilder::new();
    b.add_enum("e", 4, false, &[("A", 0)]).unwrap();
    let mut d = b.finish();
    tu::put_u32(&mut d, TYPES + 8, 3);
    refused(&d, 1, &["ENUM \"e\"", "size 3 is not 1, 2, 4 or 8"]);
    // An array of 2^20 arrays of 2^20 ints is over 4 GiB.
    let mut b = BtfBuilder::new();
    let int = b.add_int("int", 4, INT_SIGNED).unwrap();
    let a = b.add_array(int, int, 1 << 20).unwrap();
    b.add_array(a, int, 1 << 20).unwrap();
    refused(&b.finish(), 3, &["larger than 4 GiB"]);
    // A function whose type is not a prototype; a variable's linkage.
    let mut b = BtfBuilder::new();
    let int = b.add_int("int", 4, INT_SIGNED).unwrap();
    b.add_func("f", int, 1).unwrap();
    refused(&b.finish(), 2, &["FUNC \"f\"", "not a FUNC_PROTO"]);
    let mut b = BtfBuilder::new();
    let int = b.add_int("int", 4, INT_SIGNED).unwrap();
    b.add_var("v", int, 3).unwrap();
    refused(&b.finish(), 2, &["unknown linkage 3"]);
}

/// An `int` (id 1, 16 bytes) then one type of each kind at id 2 (and a
/// FUNC at 3 on its prototype), with `info` bits or'ed into that type's
/// record: the kernel's `check_meta` of each kind decides.
fn kinds_with_info_bits(bits: u32) -> Vec<(&'static str, Vec<u8>)> {
    let build = |add: &dyn Fn(&mut BtfBuilder, TypeId)| {
        let mut b = BtfBuilder::new();
        let int = b.add_int("int", 4, INT_SIGNED).unwrap();
        add(&mut b, int);
        let mut d = b.finish();
        let info = tu::get_u32(&d, TYPES + 16 + 4);
        tu::put_u32(&mut d, TYPES + 16 + 4, info | bits);
        d
    };
    vec![
        ("PTR", build(&|b, t| drop(b.add_ptr(t)))),
        ("ARRAY", build(&|b, t| drop(b.add_array(t, t, 2)))),
        ("TYPEDEF", build(&|b, t| drop(b.add_typedef("t", t)))),
        ("VOLATILE", build(&|b, t| drop(b.add_volatile(t)))),
        ("CONST", build(&|b, t| drop(b.add_const(t)))),
        ("RESTRICT", build(&|b, t| drop(b.add_restrict(t)))),
        ("VAR", build(&|b, t| drop(b.add_var("v", t, 1)))),
        ("FLOAT", build(&|b, _| drop(b.add_float("float", 4)))),
        ("FWD", build(&|b, _| drop(b.add_fwd("f", false)))),
        ("TYPE_TAG", build(&|b, t| drop(b.add_type_tag("tag", t)))),
    ]
}

#[test]
fn kind_flag_and_vlen_only_where_the_kernel_takes_them() {
    // kind_flag: refused on kinds that give it no meaning.
    for (kind, d) in kinds_with_info_bits(1 << 31) {
        if matches!(kind, "FWD" | "TYPE_TAG") {
            // A union forward declaration; an attribute type tag (6.13+).
            Btf::parse(&d).unwrap_or_else(|e| panic!("{kind} with kind_flag: {e}"));
        } else {
            refused(&d, 2, &[kind, "kind_flag is set"]);
        }
    }
    // A FUNC (id 3) and its FUNC_PROTO (id 2) with kind_flag.
    let mut b = BtfBuilder::new();
    let int = b.add_int("int", 4, INT_SIGNED).unwrap();
    let proto = b.add_func_proto(int, &[]).unwrap();
    b.add_func("f", proto, 1).unwrap();
    let clean = b.finish();
    let mut d = clean.clone();
    let info = tu::get_u32(&d, TYPES + 16 + 4);
    tu::put_u32(&mut d, TYPES + 16 + 4, info | 1 << 31);
    refused(&d, 2, &["FUNC_PROTO", "kind_flag is set"]);
    let mut d = clean;
    let info = tu::get_u32(&d, TYPES + 16 + 12 + 4);
    tu::put_u32(&mut d, TYPES + 16 + 12 + 4, info | 1 << 31);
    refused(&d, 3, &["FUNC \"f\"", "kind_flag is set"]);
    // A vlen: refused on every kind without members, values or
    // parameters (a FUNC's vlen is its linkage).
    for (kind, d) in kinds_with_info_bits(1) {
        refused(&d, 2, &[kind, "vlen is not 0"]);
    }
}

#[test]
fn names_must_be_utf8() {
    // Row 8: a struct whose name is not UTF-8.
    let mut b = BtfBuilder::new();
    let int = b.add_int("int", 4, INT_SIGNED).unwrap();
    b.add_composite_raw(Kind::Struct, b"caf\xe9", 4, false, &[(b"x", int, 0)])
        .unwrap();
    refused(&b.finish(), 2, &["is not valid UTF-8"]);
}

#[test]
fn header_flags_and_mixed_byte_order() {
    let mut b = BtfBuilder::new();
    b.add_int("int", 4, INT_SIGNED).unwrap();
    let good = b.finish();
    let mut d = good.clone();
    d[3] = 1;
    let e = Btf::parse(&d).unwrap_err();
    assert!(matches!(e, Error::UnsupportedFlags { flags: 1 }), "{e}");
    // A little-endian file whose magic says big-endian.
    let mut d = good.clone();
    d.swap(0, 1);
    let e = Btf::parse(&d).unwrap_err();
    assert!(
        matches!(e, Error::MixedByteOrder { swapped: 24, .. }),
        "{e}"
    );
    assert!(
        e.to_string().contains("does not match the byte order"),
        "{e}"
    );
}

#[test]
fn legitimate_corner_cases_parse() {
    let mut b = BtfBuilder::new();
    let int = b.add_int("int", 4, INT_SIGNED).unwrap();
    let char_ = b.add_int("char", 1, 2).unwrap();
    let flex = b.add_array(int, int, 0).unwrap();
    // A flexible array member at the very end.
    b.add_struct(
        "flex",
        4,
        &[
            tu::member_spec("n", int, 0, 0),
            tu::member_spec("data", flex, 32, 0),
        ],
    )
    .unwrap();
    // A declared enum without values (clang writes size 0 for it).
    b.add_enum_without_values(Kind::Enum, b"declared", 0, false)
        .unwrap();
    // An empty struct; a packed struct with an int at byte 1.
    b.add_struct("empty", 0, &[]).unwrap();
    b.add_struct(
        "packed",
        5,
        &[
            tu::member_spec("c", char_, 0, 0),
            tu::member_spec("i", int, 8, 0),
        ],
    )
    .unwrap();
    // A struct holding another of its own size (atomic_t style), and a
    // struct pointing to itself.
    let wrap = b
        .add_struct("wrap", 4, &[tu::member_spec("counter", int, 0, 0)])
        .unwrap();
    b.add_struct("holder", 4, &[tu::member_spec("w", wrap, 0, 0)])
        .unwrap();
    let node = b.next_id();
    let ptr = b.add_ptr(TypeId(node.0 + 1)).unwrap();
    b.add_struct("node", 8, &[tu::member_spec("next", ptr, 0, 0)])
        .unwrap();
    let d = b.finish();
    let btf = Btf::parse(&d).unwrap();
    tu::exercise(&btf);
}

/// Every kernel and module of the corpus passes (pahole and the kernel
/// made them; the kernel loaded them).
#[test]
fn the_whole_corpus_is_valid() {
    for k in tu::corpus_kernels() {
        let data = k.raw_bytes();
        let base = Btf::parse(&data).unwrap_or_else(|e| panic!("{}: {e}", k.key));
        let _ = base;
    }
    for m in tu::corpus_modules() {
        let base_bytes = m.base.raw_bytes();
        let base = Btf::parse(&base_bytes).unwrap();
        let bytes = std::fs::read(&m.raw).unwrap();
        Btf::parse_split(&bytes, &base).unwrap_or_else(|e| panic!("{}: {e}", m.name));
    }
}

/// The running kernel's BTF, read from sysfs, is parsed without the
/// kernel-rule checks (the kernel checked it, and btfkit reads it as the
/// kernel does; it is on every tool's start-up path), and passes them
/// anyway; a copy of the same bytes anywhere else is an ordinary file,
/// checked in full.
#[test]
fn only_the_running_kernels_btf_skips_the_rules() {
    let sysfs = std::path::Path::new("/sys/kernel/btf/vmlinux");
    if !sysfs.exists() {
        tu::missing::<()>("/sys/kernel/btf/vmlinux");
        return;
    }
    let served = btfkit_btf::load::load_btf_file(sysfs).unwrap();
    assert!(served.from_running_kernel());
    assert!(!served.parse_options().validate);
    let trusted = Btf::parse_any_with(&served, None, served.parse_options()).unwrap();
    let checked = Btf::parse(&served).unwrap();
    assert_eq!(trusted.len(), checked.len());

    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("vmlinux");
    std::fs::write(&copy, &*served).unwrap();
    let copied = btfkit_btf::load::load_btf_file(&copy).unwrap();
    assert!(!copied.from_running_kernel());
    assert!(copied.parse_options().validate);

    // The options decide: a copy broken past the rules is refused with
    // them and read without them.
    let mut broken = copied.to_vec();
    let (id, member_word) = first_struct_member_offset(&checked);
    let bits = u32::from_le_bytes(broken[member_word..member_word + 4].try_into().unwrap());
    tu::put_u32(&mut broken, member_word, bits | 0x7f00_0000);
    let opts = btfkit_btf::ParseOptions {
        validate: false,
        ..Default::default()
    };
    assert!(Btf::parse_any_with(&broken, None, opts).is_ok());
    refused(&broken, id, &["member"]);
}

/// The first struct with a member at a non-zero offset and no kind_flag:
/// its id and the byte position of that member's offset word.
fn first_struct_member_offset(btf: &Btf<'_>) -> (u32, usize) {
    for t in btf.types() {
        if t.kind() != Kind::Struct || t.kflag() {
            continue;
        }
        let members = t.members().unwrap();
        if let Some(i) = (0..members.len()).find(|&i| members.get(i).unwrap().bit_offset() > 0) {
            let record = btf.record_offset(t.id());
            return (t.id().0, record + 12 + i * 12 + 8);
        }
    }
    panic!("no struct with a member past offset 0");
}
