//! Times `dump_c` on a BTF file in one process: prints the median and best
//! microseconds of ROUNDS runs (the parse is not timed).
//!
//!     cargo run --release -p btfkit-btf --example bench_cdump -- FILE [ROUNDS]

use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = args
        .get(1)
        .map(String::as_str)
        .unwrap_or("/sys/kernel/btf/vmlinux");
    let rounds: usize = args.get(2).and_then(|r| r.parse().ok()).unwrap_or(10);
    let bytes = btfkit_btf::load::load_btf_file(path).expect("read");
    let btf = btfkit_btf::Btf::parse_any(&bytes, None).expect("parse");
    let mut times = Vec::new();
    let mut len = 0;
    for _ in 0..rounds {
        let t = Instant::now();
        let h = btfkit_btf::cdump::dump_c(&btf, &Default::default()).expect("dump");
        times.push(t.elapsed().as_micros());
        len = h.len();
    }
    times.sort();
    println!("{} {} {len}", times[times.len() / 2], times[0]);
}
