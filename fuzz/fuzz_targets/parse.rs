//! Any bytes as raw BTF or ELF: parsing either fails with an error or
//! yields a BTF on which every read-side API works without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(btf) = btfkit_btf::Btf::parse_any(data, None) {
        btfkit_testutil::exercise(&btf);
    }
});
