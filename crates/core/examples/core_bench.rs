//! btfkit side of the CO-RE benchmark (bench/run.sh, bench/scale.sh): load
//! and parse the target BTF, then for every object parse it and relocate
//! everything, as `btfkit core apply` does (decisions and patches, no
//! descriptions in words).
//!   core_bench TARGET_BTF ROUNDS OBJ...   prints "<us for the best round> <relocations>"
use std::time::Instant;

use btfkit_btf::{load, Btf};
use btfkit_core::{relocate_with, BpfObject, Detail, RelocateOptions, Target};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rounds: usize = args[2].parse().unwrap();
    let mut best = f64::MAX;
    let mut relos = 0;
    for _ in 0..rounds {
        let t0 = Instant::now();
        let bytes = load::load_btf_file(&args[1]).unwrap();
        let btf = Btf::parse_any(&bytes, None).unwrap();
        let target = Target::new(&btf);
        relos = 0;
        for path in &args[3..] {
            let data = std::fs::read(path).unwrap();
            let obj = BpfObject::parse(&data).unwrap();
            let detail = Detail {
                describe: false,
                ..Detail::default()
            };
            relos += relocate_with(&obj, &target, &RelocateOptions::default(), detail)
                .reports
                .len();
        }
        best = best.min(t0.elapsed().as_secs_f64() * 1e6);
    }
    println!("{best:.0} {relos}");
}
