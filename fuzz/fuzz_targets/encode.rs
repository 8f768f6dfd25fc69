//! Any bytes as an ELF with DWARF: encoding fails with an error or gives
//! BTF that parses and on which every read-side API works.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let opts = btfkit_encode::EncodeOptions {
        jobs: 1,
        ..Default::default()
    };
    if let Ok((bytes, _)) = btfkit_encode::encode(data, None, &opts) {
        let btf = btfkit_btf::Btf::parse(&bytes).expect("encoder output parses");
        btfkit_testutil::exercise(&btf);
    }
});
