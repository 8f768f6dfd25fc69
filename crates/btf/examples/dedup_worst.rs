//! Dedup worst cases (issue 17): generates each case of
//! `tests/worst/mod.rs` at several sizes, merges it into a base BTF the
//! way `btfkit btf merge BASE X` does (base types fixed, the case's
//! types appended and deduplicated against it) and prints the time per
//! case and size and the growth ratio between sizes (near-linear: the
//! ratio of times close to the ratio of sizes).
//!
//!     cargo run --release -p btfkit-btf --example dedup_worst -- [--base FILE|none] [--cases a,b] [N...]
//!     cargo run --release -p btfkit-btf --example dedup_worst -- write CASE N FILE
//!     cargo run --release -p btfkit-btf --example dedup_worst -- fuzz-seed CASE N FILE
//!
//! The base defaults to /sys/kernel/btf/vmlinux (none when unreadable);
//! sizes default to 1000 2000 5000 20000. `write` writes the case as raw
//! BTF (the input of `btfkit btf merge` and of the libbpf reference);
//! `fuzz-seed` a seed for the `merge` fuzz target (the case as the base
//! and again as the other BTF).

#[path = "../tests/worst/mod.rs"]
mod worst;

use std::time::{Duration, Instant};

use btfkit_btf::ir::IrBtf;

fn case(name: &str) -> worst::Generator {
    worst::CASES
        .iter()
        .find(|c| c.0 == name)
        .unwrap_or_else(|| panic!("no case {name:?}"))
        .1
}

fn load_base(path: &str) -> IrBtf {
    if path == "none" {
        return IrBtf::new();
    }
    match btfkit_btf::load::load_btf_file(path) {
        Ok(bytes) => {
            let btf = btfkit_btf::Btf::parse_any(&bytes, None).expect("parse base");
            IrBtf::from_btf(&btf).expect("base ir")
        }
        Err(e) => {
            eprintln!("no base ({path}: {e}); merging into an empty BTF");
            IrBtf::new()
        }
    }
}

/// One merge of `x` into `base`: (time, types added, rounds).
fn merge(base: &IrBtf, x: &IrBtf) -> (Duration, usize, usize) {
    let mut ir = base.clone();
    let base_len = ir.len() as u32;
    ir.append(x);
    let t = Instant::now();
    let d = btfkit_btf::dedup::dedup(&ir, base_len);
    (t.elapsed(), d.btf.len() - base_len as usize, d.rounds)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("write") {
        let [_, name, n, file] = &args[..] else {
            panic!("usage: dedup_worst write CASE N FILE");
        };
        let ir = case(name)(n.parse().expect("N"));
        std::fs::write(file, ir.write(None, 0).expect("write")).expect("write file");
        return;
    }
    if args.first().map(String::as_str) == Some("fuzz-seed") {
        let [_, name, n, file] = &args[..] else {
            panic!("usage: dedup_worst fuzz-seed CASE N FILE");
        };
        let raw = case(name)(n.parse().expect("N"))
            .write(None, 0)
            .expect("write");
        // The merge target's input: the base's length, the base, the other.
        let mut seed = (raw.len() as u32).to_le_bytes().to_vec();
        seed.extend_from_slice(&raw);
        seed.extend_from_slice(&raw);
        std::fs::write(file, seed).expect("write file");
        return;
    }
    let mut base = "/sys/kernel/btf/vmlinux".to_string();
    let mut cases: Vec<String> = worst::CASES.iter().map(|c| c.0.to_string()).collect();
    let mut sizes = Vec::new();
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--base" => base = it.next().expect("--base FILE"),
            "--cases" => {
                cases = it
                    .next()
                    .expect("--cases LIST")
                    .split(',')
                    .map(String::from)
                    .collect()
            }
            n => sizes.push(n.parse::<usize>().expect("size")),
        }
    }
    if sizes.is_empty() {
        sizes = vec![1000, 2000, 5000, 20000];
    }
    let base = load_base(&base);
    println!("base: {} types", base.len());
    println!(
        "{:<12} {:>7} {:>9} {:>7} {:>7} {:>11} {:>9}",
        "case", "N", "types", "added", "rounds", "time", "growth"
    );
    for name in &cases {
        let mut prev: Option<(usize, Duration)> = None;
        for &n in &sizes {
            let x = case(name)(n);
            let (t, added, rounds) = merge(&base, &x);
            // Time ratio over size ratio: ~1 is linear, ~2 quadratic
            // when sizes double.
            let growth = prev.map_or(String::from("-"), |(pn, pt)| {
                format!(
                    "{:.2}x/{:.1}x",
                    t.as_secs_f64() / pt.as_secs_f64(),
                    n as f64 / pn as f64
                )
            });
            println!(
                "{:<12} {:>7} {:>9} {:>7} {:>7} {:>9.1}ms {:>9}",
                name,
                n,
                x.len(),
                added,
                rounds,
                t.as_secs_f64() * 1e3,
                growth
            );
            prev = Some((n, t));
        }
    }
}
