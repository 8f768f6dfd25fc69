//! Any bytes as split BTF on a fixed small base.
#![no_main]

use std::sync::OnceLock;

use btfkit_btf::{Btf, BtfBuilder, MemberSpec};
use libfuzzer_sys::fuzz_target;

fn base_bytes() -> &'static [u8] {
    static BASE: OnceLock<Vec<u8>> = OnceLock::new();
    BASE.get_or_init(|| {
        let mut b = BtfBuilder::new();
        let int = b.add_int("int", 4, 1).unwrap();
        let p = b.add_ptr(int).unwrap();
        let m = |name, type_id, bit_offset| MemberSpec { name, type_id, bit_offset, bitfield_size: 0 };
        b.add_struct("base_struct", 16, &[m("a", int, 0), m("p", p, 64)]).unwrap();
        b.finish()
    })
}

fuzz_target!(|data: &[u8]| {
    let base = Btf::parse(base_bytes()).expect("base parses");
    if let Ok(btf) = Btf::parse_split(data, &base) {
        btfkit_testutil::exercise(&btf);
    }
});
