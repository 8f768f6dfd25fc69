//! A program with an embedded bundle resolving its BTF at start-up, as a
//! shipped eBPF tool would: `Resolver::new()` (the `BTFKIT_*` environment)
//! with the bundle built into the binary. Prints the size and source of
//! the chosen BTF and the microseconds from `main` to the bytes.
//! `bench/resolve.sh` also times whole processes.
//!
//!     cargo run --release -p btfkit-resolver --example resolve_embedded

static BUNDLE: &[u8] = include_bytes!("../../../testdata/bundle/suite.bundle");

fn main() {
    let start = std::time::Instant::now();
    match btfkit_resolver::Resolver::new().bundle(BUNDLE).resolve() {
        Ok(r) => {
            let us = start.elapsed().as_secs_f64() * 1e6;
            println!("{} bytes from {} in {us:.0}us", r.bytes.len(), r.source);
        }
        Err(e) => {
            eprintln!("resolve_embedded: {e}");
            std::process::exit(1);
        }
    }
}
