//! Deduplicates COPIES concatenated copies of a BTF (ids shifted), the
//! shape a DWARF encoder's per-unit output has: prints the input and
//! output type counts, refinement rounds, steps, time and a hash of the
//! id mapping (to compare two builds' results).
//!
//!     cargo run --release -p btfkit-btf --example dedup_bench -- FILE [COPIES]

use std::time::Instant;

use btfkit_btf::ir::IrBtf;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = args
        .get(1)
        .map(String::as_str)
        .unwrap_or("/sys/kernel/btf/vmlinux");
    let copies: usize = args.get(2).and_then(|c| c.parse().ok()).unwrap_or(3);
    let bytes = btfkit_btf::load::load_btf_file(path).expect("read");
    let btf = btfkit_btf::Btf::parse_any(&bytes, None).expect("parse");
    let one = IrBtf::from_btf(&btf).expect("ir");
    let mut ir = one.clone();
    for _ in 1..copies {
        let shift = (ir.types.len() - 1) as u32;
        for t in &one.types[1..] {
            let mut t = t.clone();
            t.refs_mut(|r| {
                if *r != 0 {
                    *r += shift
                }
            });
            ir.types.push(t);
        }
    }
    let t = Instant::now();
    let d = btfkit_btf::dedup::dedup(&ir, 0);
    println!(
        "{} types in, {} out (one copy: {}), {} rounds, {} steps, in {:.0} ms, mapping hash {:016x}",
        ir.len(),
        d.btf.len(),
        one.len(),
        d.rounds,
        d.work,
        t.elapsed().as_secs_f64() * 1e3,
        {
            use std::hash::BuildHasher;
            foldhash::fast::FixedState::with_seed(1).hash_one(&d.map)
        }
    );
}
