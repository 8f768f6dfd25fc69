//! btfkit side of bench/run.sh: load (mapped for sysfs BTF) + parse +
//! name index, the work a tool does at start.
//!   bench_parse FILE cold     one parse in this process; prints "<us> <maxrss_kb>"
//!   bench_parse FILE warm N   best of N in one process; prints "<us>"
use std::time::Instant;

use btfkit_btf::{load, Btf};

fn maxrss_kb() -> u64 {
    // VmHWM: the peak resident set, as getrusage's ru_maxrss reports it.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (file, mode) = (&args[1], args[2].as_str());
    let n: usize = if mode == "warm" {
        args.get(3).map_or(30, |s| s.parse().unwrap())
    } else {
        1
    };
    let mut best = f64::MAX;
    for _ in 0..n {
        let t0 = Instant::now();
        let bytes = load::load_btf_file(file).expect("load");
        let btf = Btf::parse_any(&bytes, None).expect("parse");
        let us = t0.elapsed().as_secs_f64() * 1e6;
        // The index is built during parsing; a lookup proves it is there.
        assert!(!btf.find_by_name("task_struct").is_empty() || btf.len() < 1000);
        best = best.min(us);
        if mode == "cold" {
            println!("{us:.0} {}", maxrss_kb());
            return;
        }
    }
    println!("{best:.0}");
}
