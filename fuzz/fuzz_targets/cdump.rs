//! Any bytes as raw BTF or ELF: if they parse, writing them as a C header
//! either succeeds or fails with an error; never a panic, a hang or a
//! runaway allocation (issue 17: padding of gigabytes, deep nesting,
//! cycles C cannot express).
#![no_main]

use btfkit_btf::cdump::{dump_c, CDumpOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(btf) = btfkit_btf::Btf::parse_any(data, None) {
        let _ = dump_c(&btf, &CDumpOptions::default());
    }
});
