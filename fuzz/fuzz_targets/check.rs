//! Any bytes as a BPF object, checked by `core check`'s analysis (layout,
//! relocation, the flow interpreter over every program) against the check
//! suite's own types: verdicts and reasons, never a panic or a hang
//! (the interpreter's budget is cut so that each input stays fast).
#![no_main]

use btfkit_core::flow::Limits;
use btfkit_core::{BpfObject, Target};
use btfkit_hub::check::{check_target, CheckObject, CheckOptions};
use libfuzzer_sys::fuzz_target;

static TARGET: &[u8] = include_bytes!("../../testdata/core/check/tools.bpf.o");

fuzz_target!(|data: &[u8]| {
    let own = BpfObject::parse(TARGET).expect("the check suite parses");
    let target = Target::new(own.btf());
    let Ok(obj) = BpfObject::parse(data) else {
        return;
    };
    let objects = [CheckObject::new("fuzzed", obj)];
    let opts = CheckOptions {
        limits: Limits {
            max_steps: 20_000,
            ..Limits::default()
        },
        ..CheckOptions::default()
    };
    for release in [Some("5.10.0-32-amd64"), Some("6.1.0"), None] {
        let _ = check_target(&objects, &target, release, &opts);
    }
});
