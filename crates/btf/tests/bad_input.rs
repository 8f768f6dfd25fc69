//! Malformed input: every kind of damage gets a typed error that says
//! where, never a panic, and never an allocation out of proportion to the
//! input. Plus a bounded mutation test over real BTF.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use btfkit_btf::{Btf, BtfBuilder, Error, Kind, MemberSpec, Section, TypeId};
use btfkit_testutil as tu;

// Tracks the largest single allocation made by the current thread, so a
// test can check that parsing N bytes never asks for more than O(N).
struct MaxAlloc;
thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}
// SAFETY: forwards every call to the system allocator unchanged; the only
// addition is a thread-local counter that does not allocate.
unsafe impl GlobalAlloc for MaxAlloc {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LARGEST.with(|m| m.set(m.get().max(l.size())));
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LARGEST.with(|m| m.set(m.get().max(new)));
        unsafe { System.realloc(p, l, new) }
    }
}
#[global_allocator]
static ALLOC: MaxAlloc = MaxAlloc;

/// Parses `data` (as raw BTF, or ELF) and checks the allocation bound.
fn parse_bounded(data: &[u8]) -> Result<(), Error> {
    LARGEST.with(|m| m.set(0));
    let r = Btf::parse_any(data, None).map(|b| tu::exercise(&b));
    let largest = LARGEST.with(|m| m.get());
    // Exercising includes rewriting the BTF (a copy) and name indexes
    // sized from the type count; 8x the input plus 256 KiB bounds all of it.
    assert!(
        largest <= 8 * data.len() + (256 << 10),
        "allocation of {largest} bytes for {} input bytes",
        data.len()
    );
    r
}

/// A small BTF with every common kind: the base for the damage below.
fn sample() -> Vec<u8> {
    let mut b = BtfBuilder::new();
    let int = b.add_int("int", 4, btfkit_btf::INT_SIGNED).unwrap();
    let ptr = b.add_ptr(int).unwrap();
    let s = b
        .add_struct(
            "pair",
            16,
            &[
                MemberSpec {
                    name: "a",
                    type_id: int,
                    bit_offset: 0,
                    bitfield_size: 0,
                },
                MemberSpec {
                    name: "p",
                    type_id: ptr,
                    bit_offset: 64,
                    bitfield_size: 0,
                },
            ],
        )
        .unwrap();
    let td = b.add_typedef("pair_t", s).unwrap();
    b.add_enum("color", 4, false, &[("RED", 0), ("GREEN", 1)])
        .unwrap();
    let proto = b.add_func_proto(int, &[("x", td)]).unwrap();
    b.add_func("use_pair", proto, 1).unwrap();
    b.finish()
}

fn word(d: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(d[off..off + 4].try_into().unwrap())
}

fn bump(d: &mut [u8], off: usize, delta: i64) {
    let v = word(d, off) as i64 + delta;
    tu::put_u32(d, off, v as u32);
}

fn err(data: &[u8]) -> Error {
    parse_bounded(data).expect_err("damaged BTF must not parse")
}

#[test]
fn the_sample_parses() {
    parse_bounded(&sample()).unwrap();
}

#[test]
fn empty_and_tiny() {
    assert!(matches!(err(&[]), Error::Empty));
    assert!(matches!(err(&[0x9f]), Error::TruncatedHeader { .. }));
    assert!(matches!(
        err(&sample()[..10]),
        Error::TruncatedHeader { need: 24, have: 10 }
    ));
}

#[test]
fn wrong_magic_and_version() {
    let mut d = sample();
    d[0] = 0x00;
    assert!(matches!(err(&d), Error::BadMagic { found: 0xeb00 }));
    let mut d = sample();
    d[2] = 2;
    assert!(matches!(err(&d), Error::BadVersion { version: 2 }));
}

#[test]
fn header_length() {
    let mut d = sample();
    tu::put_u32(&mut d, 4, 16);
    assert!(matches!(err(&d), Error::BadHeaderLen { hdr_len: 16 }));
    let mut d = sample();
    tu::put_u32(&mut d, 4, 28);
    assert!(matches!(err(&d), Error::BadHeaderLen { hdr_len: 28 }));
    let mut d = sample();
    tu::put_u32(&mut d, 4, 0xffff_fff0);
    assert!(matches!(err(&d), Error::TruncatedHeader { .. }));
    // A longer header whose extra bytes are not zero.
    let mut d = sample();
    let mut longer = d[..24].to_vec();
    tu::put_u32(&mut longer, 4, 40);
    longer.extend_from_slice(&[0; 8]); // layout_off/len = 0
    longer.extend_from_slice(&[0, 0, 7, 0, 0, 0, 0, 0]);
    longer.extend_from_slice(&d[24..]);
    d = longer;
    assert!(matches!(err(&d), Error::UnknownHeaderField { offset: 34 }));
}

#[test]
fn sections_outside_or_overlapping() {
    let mut d = sample();
    tu::put_u32(&mut d, 12, 0x1000_0000); // type_len
    let e = err(&d);
    assert!(
        matches!(
            e,
            Error::SectionOutOfBounds {
                section: Section::Types,
                ..
            }
        ),
        "{e}"
    );
    let mut d = sample();
    let type_len = word(&d, 12);
    tu::put_u32(&mut d, 16, type_len - 8); // str_off inside the type section
    let e = err(&d);
    assert!(matches!(e, Error::SectionsOverlap { .. }), "{e}");
    let mut d = sample();
    bump(&mut d, 20, 1); // str_len one past the end
    assert!(matches!(
        err(&d),
        Error::SectionOutOfBounds {
            section: Section::Strings,
            ..
        }
    ));
    let mut d = sample();
    tu::put_u32(&mut d, 8, 2); // type_off
    assert!(matches!(
        err(&d),
        Error::Misaligned {
            section: Section::Types,
            offset: 26
        }
    ));
}

#[test]
fn string_section_damage() {
    let mut d = sample();
    let n = d.len();
    d[n - 1] = b'x';
    assert!(matches!(err(&d), Error::StringsUnterminated { offset } if offset == n - 1));
    let mut d = sample();
    let str_start = 24 + word(&d, 16) as usize;
    d[str_start] = b'x';
    assert!(matches!(err(&d), Error::StringsNoLeadingNul { offset } if offset == str_start));
    let mut d = sample();
    tu::put_u32(&mut d, 20, 0);
    assert!(matches!(err(&d), Error::StringsEmpty { .. }));
}

#[test]
fn string_offset_out_of_range() {
    let mut d = sample();
    let str_len = word(&d, 20);
    tu::put_u32(&mut d, 24, str_len + 100); // name of type 1
    let e = err(&d);
    assert!(
        matches!(
            e,
            Error::StringOffsetOutOfRange {
                id: TypeId(1),
                offset: 24,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("offset 0x18"), "{e}");
}

#[test]
fn type_id_out_of_range() {
    let mut d = sample();
    // Type 2 is the pointer (12 + 16 bytes in): its target.
    tu::put_u32(&mut d, 24 + 16 + 8, 999);
    let e = err(&d);
    assert!(
        matches!(
            e,
            Error::TypeIdOutOfRange {
                id: TypeId(2),
                target: 999,
                max: 7,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn unknown_kind_needs_a_layout_entry() {
    let mut d = sample();
    let info = word(&d, 24 + 16 + 4);
    tu::put_u32(&mut d, 24 + 16 + 4, (info & !(0x7f << 24)) | (42 << 24));
    let e = err(&d);
    assert!(
        matches!(
            e,
            Error::UnknownKind {
                id: TypeId(2),
                kind: 42,
                offset: 40
            }
        ),
        "{e}"
    );
}

#[test]
fn unknown_kind_with_a_layout_entry_is_skipped_over() {
    // Build with a layout section covering kinds up to 42, then turn the
    // typedef into kind 42 (4-byte info, 8-byte elements, vlen 0).
    let mut b = BtfBuilder::new();
    let int = b.add_int("int", 4, 1).unwrap();
    b.add_typedef("becomes_unknown", int).unwrap();
    b.add_typedef("after", int).unwrap();
    b.set_kind_layout(true);
    let d = b.finish();
    let layout_off = 32 + word(&d, 24) as usize;
    let layout_len = word(&d, 28) as usize;
    let mut entries = d[layout_off..layout_off + layout_len].to_vec();
    entries.resize(43 * 4, 0);
    entries[42 * 4] = 4; // info_sz
    entries[42 * 4 + 1] = 8; // elem_sz
    let mut v = d[..layout_off].to_vec();
    v.extend_from_slice(&entries);
    v.extend_from_slice(&d[layout_off + layout_len..]);
    tu::put_u32(&mut v, 28, entries.len() as u32);
    bump(&mut v, 16, (entries.len() - layout_len) as i64);
    // The typedef record (12 bytes) has no 4-byte info: insert one.
    let rec = 32 + 16;
    let info = word(&v, rec + 4);
    tu::put_u32(&mut v, rec + 4, (info & 0x80ff_ffff) | (42 << 24) | 1); // vlen 1
    let mut w = v[..rec + 12].to_vec();
    w.extend_from_slice(&[0xaa; 4]); // info
    w.extend_from_slice(&[0xbb; 8]); // one element
    w.extend_from_slice(&v[rec + 12..]);
    bump(&mut w, 12, 12); // type_len
    bump(&mut w, 24, 12); // layout_off
    bump(&mut w, 16, 12); // str_off
    let btf = Btf::parse(&w).unwrap();
    assert_eq!(btf.len(), 3);
    let t = btf.type_by_id(TypeId(2)).unwrap();
    assert_eq!(t.kind(), Kind::Unknown(42));
    assert_eq!(t.raw().len(), 24);
    assert_eq!(t.info_data(), &[0xaa; 4]);
    assert_eq!(btf.find_first("after", Kind::Typedef), Some(TypeId(3)));
    assert_eq!(btf.find_by_name("becomes_unknown"), vec![TypeId(2)]);
    assert_eq!(
        btf.to_bytes().unwrap(),
        w,
        "unknown records are carried through a rewrite"
    );
    tu::exercise(&btf);
}

#[test]
fn vlen_running_past_the_end() {
    let mut d = sample();
    // Type 3 is the struct: 12 + 16 + 12 bytes in.
    let rec = 24 + 16 + 12;
    let info = word(&d, rec + 4);
    tu::put_u32(&mut d, rec + 4, (info & 0xff00_0000) | 0x00ff_ffff);
    let e = err(&d);
    assert!(
        matches!(e, Error::TypeTruncated { id: TypeId(3), vlen: 0xff_ffff, offset, .. } if offset == rec),
        "{e}"
    );
    // A record cut by the end of the section.
    let mut d = sample();
    bump(&mut d, 12, -4);
    let e = err(&d);
    assert!(matches!(e, Error::TypeTruncated { .. }), "{e}");
}

/// The parse error of `data`, which must be an `InvalidType` of type
/// `id` whose reason contains `says`.
fn invalid_type(data: &[u8], id: u32, says: &str) {
    let e = Btf::parse(data).unwrap_err();
    match &e {
        Error::InvalidType {
            id: got, reason, ..
        } => {
            assert_eq!(got.0, id, "{e}");
            assert!(reason.contains(says), "{e}");
        }
        _ => panic!("expected an invalid type {id}: {e}"),
    }
}

#[test]
fn reference_cycles_are_errors_not_hangs() {
    // [1] typedef a -> [2] const -> [3] typedef b -> [1]
    let mut b = BtfBuilder::new();
    b.add_typedef("a", TypeId(2)).unwrap();
    b.add_const(TypeId(3)).unwrap();
    b.add_typedef("b", TypeId(1)).unwrap();
    invalid_type(&b.finish(), 1, "reference cycle");
    // [2] struct loop { struct loop self; } (invalid C, valid bytes), and
    // through a typedef and an array of one element.
    for wrap in [false, true] {
        let mut b = BtfBuilder::new();
        b.add_int("int", 4, 1).unwrap();
        let inner = if wrap { TypeId(4) } else { TypeId(2) };
        b.add_struct(
            "loop",
            4,
            &[MemberSpec {
                name: "self",
                type_id: inner,
                bit_offset: 0,
                bitfield_size: 0,
            }],
        )
        .unwrap();
        if wrap {
            b.add_typedef("loop_t", TypeId(2)).unwrap();
            b.add_array(TypeId(3), TypeId(1), 1).unwrap();
        }
        invalid_type(&b.finish(), 2, "contains itself by value");
    }
    // Two structs holding each other through a flexible array.
    let mut b = BtfBuilder::new();
    b.add_int("int", 4, 1).unwrap();
    let m = |t| {
        [
            MemberSpec {
                name: "x",
                type_id: TypeId(1),
                bit_offset: 0,
                bitfield_size: 0,
            },
            MemberSpec {
                name: "tail",
                type_id: TypeId(t),
                bit_offset: 32,
                bitfield_size: 0,
            },
        ]
    };
    b.add_struct("a", 4, &m(4)).unwrap(); // [2]
    b.add_struct("b", 4, &m(5)).unwrap(); // [3]
    b.add_array(TypeId(3), TypeId(1), 0).unwrap(); // [4] struct b[0]
    b.add_array(TypeId(2), TypeId(1), 0).unwrap(); // [5] struct a[0]
                                                   // Reported where the walk closes the loop: b's tail leads back to a.
    invalid_type(&b.finish(), 3, "contains itself by value");
    // [1] an array of itself.
    let mut b = BtfBuilder::new();
    b.add_array(TypeId(1), TypeId(1), 2).unwrap();
    invalid_type(&b.finish(), 1, "reference cycle");
    // A chain of 100,000 typedefs is fine (and costs once).
    let mut b = BtfBuilder::new();
    let mut t = b.add_int("int", 4, 1).unwrap();
    for i in 0..100_000 {
        t = b.add_typedef(&format!("t{i}"), t).unwrap();
    }
    Btf::parse(&b.finish()).unwrap();
}

/// Found by the fuzzer: an int of size 2^32-1 as a legacy bitfield member
/// overflowed `size * 8`.
#[test]
fn huge_int_sizes_do_not_overflow() {
    let mut b = BtfBuilder::new();
    let int = b.add_int("int", 4, 1).unwrap();
    b.add_struct(
        "s",
        8,
        &[MemberSpec {
            name: "m",
            type_id: int,
            bit_offset: 0,
            bitfield_size: 0,
        }],
    )
    .unwrap();
    let mut d = b.finish();
    tu::put_u32(&mut d, 24 + 8, u32::MAX); // int size
    let btf = Btf::parse(&d).unwrap();
    let m = btf
        .type_by_id(TypeId(2))
        .unwrap()
        .members()
        .unwrap()
        .get(0)
        .unwrap();
    assert_eq!(btf.member_bitfield_size(&m).unwrap(), 32);
    assert_eq!(btf.resolve_size(TypeId(1)).unwrap(), u32::MAX as u64);
    assert_eq!(btf.align_of(TypeId(1)).unwrap(), 8);
    tu::exercise(&btf);
}

#[test]
fn split_btf_on_the_wrong_base() {
    let mods = tu::corpus_modules();
    let Some(m) = mods.iter().find(|m| m.name == "nf_conntrack") else {
        return;
    };
    let bytes = std::fs::read(&m.raw).unwrap();
    for other in [
        "debian/11/x86_64/5.10.0-32-amd64",
        "debian/12/x86_64/6.1.0-47-amd64",
        "centos/8/aarch64/4.18.0-147.5.1.el8_1.aarch64",
    ] {
        let k = tu::corpus_kernel(other).unwrap();
        let base_bytes = k.raw_bytes();
        let base = Btf::parse(&base_bytes).unwrap();
        let e = Btf::parse_split(&bytes, &base).unwrap_err();
        assert!(matches!(e, Error::BaseMismatch { .. }), "{other}: {e}");
    }
    // A base-shaped blob with a string section shifted by one byte.
    let base_bytes = m.base.raw_bytes();
    let mut shifted = base_bytes.clone();
    let str_len = word(&shifted, 20);
    tu::put_u32(&mut shifted, 20, str_len - 1);
    shifted.truncate(shifted.len() - 1);
    let n = shifted.len();
    shifted[n - 1] = 0;
    let base = Btf::parse(&shifted).unwrap();
    let e = Btf::parse_split(&bytes, &base).unwrap_err();
    assert!(matches!(e, Error::BaseMismatch { .. }), "{e}");
}

#[test]
fn elf_without_btf_and_broken_elf() {
    let elf = btfkit_btf::wrap_in_elf(&sample(), btfkit_btf::Endian::Little);
    parse_bounded(&elf).unwrap();
    let mut no_btf = elf.clone();
    let pos = no_btf.windows(5).rposition(|w| w == b".BTF\0").unwrap();
    no_btf[pos + 1] = b'X';
    assert!(matches!(err(&no_btf), Error::NoBtfSection));
    let e = err(&elf[..80]);
    assert!(matches!(e, Error::Elf(_)), "{e}");
}

#[test]
fn errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.btf");
    let mut d = sample();
    d[0] = 0;
    std::fs::write(&path, &d).unwrap();
    let bytes = btfkit_btf::load::read_btf_file(&path).unwrap();
    let e = Btf::parse(&bytes).unwrap_err().in_file(&path);
    let msg = e.to_string();
    assert!(
        msg.starts_with(path.to_str().unwrap()) && msg.contains("bad magic"),
        "{msg}"
    );
    let missing = btfkit_btf::load::read_btf_file(dir.path().join("nope")).unwrap_err();
    assert!(missing.to_string().contains("nope"), "{missing}");
}

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn mutate_and_parse(what: &str, seed: &[u8], rounds: usize, rng: &mut Rng) -> (usize, usize) {
    let (mut ok, mut bad) = (0, 0);
    for _ in 0..rounds {
        let mut d = seed.to_vec();
        match rng.below(4) {
            0 => d.truncate(rng.below(seed.len())),
            1 => {
                for _ in 0..1 + rng.below(8) {
                    let i = rng.below(d.len());
                    d[i] ^= 1 << rng.below(8);
                }
            }
            2 => {
                // A random 32-bit word, word-aligned: hits counts and ids.
                let i = rng.below(d.len() / 4) * 4;
                let v = match rng.below(3) {
                    0 => rng.next() as u32,
                    1 => u32::MAX - rng.below(4) as u32,
                    _ => rng.below(64) as u32,
                };
                d[i..i + 4].copy_from_slice(&v.to_le_bytes());
            }
            _ => {
                let i = rng.below(d.len());
                let n = rng.below(64).min(d.len() - i);
                d.drain(i..i + n);
            }
        }
        match parse_bounded(&d) {
            Ok(()) => ok += 1,
            Err(_) => bad += 1,
        }
    }
    eprintln!("{what}: {ok} mutants parsed, {bad} rejected");
    (ok, bad)
}

#[test]
fn mutations_of_real_btf_never_panic() {
    let mut rng = Rng(0x5eed_b7f0_0000_0001);
    let mut seeds: Vec<(String, Vec<u8>)> = vec![("sample".into(), sample())];
    for o in tu::bpf_objects()
        .into_iter()
        .filter(|o| o.label.contains("clang-16"))
    {
        let elf = std::fs::read(&o.path).unwrap();
        let (btf, _) = btfkit_btf::elf_section(&elf, ".BTF").unwrap().unwrap();
        seeds.push((o.label.clone(), btf.to_vec()));
        seeds.push((format!("{} (ELF)", o.label), elf));
    }
    for (what, seed) in &seeds {
        let (_, bad) = mutate_and_parse(what, seed, 1500, &mut rng);
        assert!(bad > 0);
        // Every truncation of the raw BTF.
        if seed.len() < 4096 {
            for n in 0..seed.len() {
                let _ = parse_bounded(&seed[..n]);
            }
        }
    }
}

#[test]
fn mutations_of_split_module_btf_never_panic() {
    let mods = tu::corpus_modules();
    let Some(m) = mods.iter().find(|m| m.name == "nf_conntrack") else {
        return;
    };
    let base_bytes = m.base.raw_bytes();
    let base = Btf::parse(&base_bytes).unwrap();
    let seed = std::fs::read(&m.raw).unwrap();
    let mut rng = Rng(0xc0ffee);
    for _ in 0..300 {
        let mut d = seed.clone();
        for _ in 0..1 + rng.below(4) {
            let i = rng.below(d.len());
            d[i] ^= 1 << rng.below(8);
        }
        if let Ok(btf) = Btf::parse_split(&d, &base) {
            tu::exercise(&btf);
        }
    }
}
