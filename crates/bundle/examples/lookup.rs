//! Times one lookup + decode the way a tool does it at start-up: open the
//! bundle (catalog decode), find the key, decode the entry (dictionary
//! decode on first use, delta, checksum). Every round starts from the raw
//! bytes, so nothing is reused between rounds.
//!
//!     cargo run --release -p btfkit-bundle --example lookup -- BUNDLE KEY [ROUNDS]
//!
//! Prints: median and best microseconds per lookup+decode, and the entry's size.

use std::time::Instant;

use btfkit_bundle::Bundle;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, path, key, rest @ ..] = args.as_slice() else {
        eprintln!("usage: lookup BUNDLE KEY [ROUNDS]");
        std::process::exit(2);
    };
    let rounds: usize = rest.first().and_then(|r| r.parse().ok()).unwrap_or(1000);
    let data = std::fs::read(path).unwrap_or_else(|e| {
        eprintln!("{path}: {e}");
        std::process::exit(1)
    });
    let mut times = Vec::with_capacity(rounds);
    let mut size = 0;
    for _ in 0..rounds {
        let t = Instant::now();
        let b = Bundle::parse(std::hint::black_box(&data)).expect("bundle");
        let e = b.find_key(key).expect("key").expect("present");
        let btf = b.get(&e).expect("decode");
        times.push(t.elapsed().as_secs_f64() * 1e6);
        size = btf.len();
    }
    times.sort_by(|a, b| a.total_cmp(b));
    println!("{:.1} {:.1} {size}", times[times.len() / 2], times[0]);
}
