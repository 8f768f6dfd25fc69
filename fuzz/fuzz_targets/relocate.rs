//! Any bytes as a BPF object, relocated against the CO-RE suite's
//! shuffled target: errors per relocation, never a panic.
#![no_main]

use btfkit_btf::Btf;
use btfkit_core::{relocate, write_relocated, BpfObject, RelocateOptions, Target};
use libfuzzer_sys::fuzz_target;

static TARGET: &[u8] = include_bytes!("../../testdata/core/targets/shuffled.o");

fuzz_target!(|data: &[u8]| {
    let btf = Btf::parse_any(TARGET, None).expect("target parses");
    let target = Target::new(&btf);
    if let Ok(obj) = BpfObject::parse(data) {
        let rel = relocate(&obj, &target, &RelocateOptions::default());
        let _ = write_relocated(&obj, &rel, true);
    }
});
