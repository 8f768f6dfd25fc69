//! Parse → decode every record → re-encode → identical bytes, for every
//! corpus kernel, module and BPF object (both byte orders); plus the ELF
//! wrapper and the kind-layout header.

use btfkit_btf::{elf_section, Btf, BtfBuilder, Endian};
use btfkit_testutil as tu;

fn assert_roundtrip(what: &str, bytes: &[u8], btf: &Btf<'_>) {
    let out = btf.to_bytes().unwrap_or_else(|e| panic!("{what}: {e}"));
    if out != bytes {
        let first = out.iter().zip(bytes).position(|(a, b)| a != b);
        panic!(
            "{what}: rewritten BTF differs (first differing byte {first:?}, {} vs {} bytes)",
            out.len(),
            bytes.len()
        );
    }
}

#[test]
fn corpus_kernels_rewrite_identically() {
    let kernels = tu::corpus_kernels();
    for k in &kernels {
        let bytes = k.raw_bytes();
        let btf = Btf::parse(&bytes).unwrap();
        assert_roundtrip(&k.key, &bytes, &btf);
    }
}

#[test]
fn corpus_modules_rewrite_identically() {
    for m in tu::corpus_modules() {
        let base_bytes = m.base.raw_bytes();
        let base = Btf::parse(&base_bytes).unwrap();
        let bytes = std::fs::read(&m.raw).unwrap();
        let btf = Btf::parse_split(&bytes, &base).unwrap();
        assert_roundtrip(&m.name, &bytes, &btf);
    }
}

#[test]
fn bpf_objects_rewrite_identically_in_their_byte_order() {
    for o in tu::bpf_objects() {
        let elf = std::fs::read(&o.path).unwrap();
        let (section, _) = elf_section(&elf, ".BTF").unwrap().expect(".BTF");
        let btf = Btf::parse(section).unwrap();
        assert_eq!(
            btf.endian() == Endian::Big,
            o.label.ends_with("bpfeb"),
            "{}",
            o.label
        );
        assert_roundtrip(&o.label, section, &btf);
    }
}

#[test]
fn elf_wrapper_is_read_by_btfkit_and_bpftool() {
    let Some(k) = tu::corpus_kernels()
        .into_iter()
        .find(|k| k.key.contains("6.1.0-56-amd64"))
    else {
        return;
    };
    let raw = k.raw_bytes();
    let btf = Btf::parse(&raw).unwrap();
    let elf = BtfBuilder::from_btf(&btf).unwrap().finish_elf();
    let again = Btf::parse_any(&elf, None).unwrap();
    assert_eq!(again.to_bytes().unwrap(), raw);
    let path = tu::cache_dir().join("elf-wrapped-6.1.0-56.o");
    tu::write_atomic(&path, &elf);
    let Some(theirs) = tu::bpftool(&[
        "btf",
        "dump",
        "file",
        path.to_str().unwrap(),
        "format",
        "raw",
    ]) else {
        return;
    };
    let mut ours = Vec::new();
    btfkit_btf::dump::dump_raw(&again, &mut ours).unwrap();
    assert!(ours == theirs, "bpftool reads the wrapped ELF differently");
}

#[test]
fn byte_order_conversion_both_ways() {
    for o in tu::bpf_objects()
        .iter()
        .filter(|o| o.label.starts_with("layouts"))
    {
        let elf = std::fs::read(&o.path).unwrap();
        let (section, _) = elf_section(&elf, ".BTF").unwrap().unwrap();
        let btf = Btf::parse(section).unwrap();
        let flipped_order = match btf.endian() {
            Endian::Little => Endian::Big,
            Endian::Big => Endian::Little,
        };
        let mut b = BtfBuilder::from_btf(&btf).unwrap();
        b.set_endian(flipped_order);
        let flipped = b.finish();
        assert_ne!(flipped, section);
        let back = Btf::parse(&flipped).unwrap();
        assert_eq!(back.endian(), flipped_order);
        // Same types: identical little-endian type sections and strings.
        assert_eq!(back.types_section(), btf.types_section(), "{}", o.label);
        assert_eq!(back.strings_section(), btf.strings_section());
        let mut b = BtfBuilder::from_btf(&back).unwrap();
        b.set_endian(btf.endian());
        assert_eq!(b.finish(), section, "{}: flipping twice", o.label);
    }
}

#[test]
fn kind_layout_header_roundtrips_and_bpftool_ignores_nothing() {
    let objs = tu::bpf_objects();
    let Some(o) = objs
        .iter()
        .find(|o| o.label.starts_with("allkinds") && o.label.ends_with("bpfel"))
    else {
        return;
    };
    let elf = std::fs::read(&o.path).unwrap();
    let (section, _) = elf_section(&elf, ".BTF").unwrap().unwrap();
    let btf = Btf::parse(section).unwrap();
    let mut b = BtfBuilder::from_btf(&btf).unwrap();
    b.set_kind_layout(true);
    let with_layout = b.finish();
    let parsed = Btf::parse(&with_layout).unwrap();
    assert_eq!(parsed.header().hdr_len, 32);
    assert_eq!(parsed.header().layout_off, parsed.header().type_len);
    assert_eq!(
        parsed.header().str_off,
        parsed.header().layout_off + parsed.header().layout_len
    );
    assert_eq!(parsed.kind_layouts().unwrap().len(), 20);
    assert_eq!(parsed.types_section(), btf.types_section());
    assert_eq!(parsed.to_bytes().unwrap(), with_layout);
}

/// Attribute tags (kind_flag set on TYPE_TAG and DECL_TAG: arbitrary
/// attributes, kernel 6.13+) survive the IR and deduplication, and stay
/// apart from the plain tags of the same text.
#[test]
fn attribute_tags_keep_their_kind_flag() {
    use btfkit_btf::ir::IrBtf;
    let mut b = BtfBuilder::new();
    let int = b.add_int("int", 4, btfkit_btf::INT_SIGNED).unwrap();
    let plain = b.add_type_tag("user", int).unwrap();
    let attr = b.add_type_tag_attribute("user", int).unwrap();
    b.add_decl_tag("fastcall", int, -1).unwrap();
    b.add_decl_tag_attribute("fastcall", int, -1).unwrap();
    let bytes = b.finish();
    let btf = Btf::parse(&bytes).unwrap();
    let flags = |btf: &Btf<'_>| -> Vec<bool> {
        (1..btf.next_id().0)
            .map(|i| btf.type_by_id(btfkit_btf::TypeId(i)).unwrap().kflag())
            .collect()
    };
    assert_eq!(flags(&btf), [false, false, true, false, true]);
    assert_ne!(plain, attr);
    // Rewritten through the IR: the same bytes.
    let ir = IrBtf::from_btf(&btf).unwrap();
    assert_eq!(ir.write(None, 0).unwrap(), bytes);
    // Deduplicated (twice over): plain and attribute tags stay apart.
    let mut twice = IrBtf::from_btf(&btf).unwrap();
    twice.append(&ir);
    let d = btfkit_btf::dedup::dedup(&twice, 0);
    let out = d.btf.write(None, 0).unwrap();
    let out = Btf::parse(&out).unwrap();
    assert_eq!(flags(&out), [false, false, true, false, true]);
}
