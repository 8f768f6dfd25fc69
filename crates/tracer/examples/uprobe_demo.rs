//! The userspace CO-RE demo: probes `process_data` in an application
//! built from testdata/uprobe/app.c (either version) with the one
//! compiled bpf/uprobe.bpf.o (bpf/uprobe.arm64.bpf.o on arm64), its target
//! BTF the running kernel's merged with the application's, and prints what
//! the probe read.
//!
//!     gcc -g -O2 testdata/uprobe/app.c -o /tmp/app-v1
//!     gcc -g -O2 -DV2 testdata/uprobe/app.c -o /tmp/app-v2
//!     sudo cargo run --release -p btfkit-tracer --example uprobe_demo -- /tmp/app-v1 /tmp/app-v2
//!
//! The kernel's BTF comes from the resolver (BTFKIT_BTF_FILE,
//! /sys/kernel/btf/vmlinux, libbpf's vmlinux paths).

use std::path::PathBuf;
use std::process::{Command, ExitCode};

use btfkit_resolver::{Resolver, Settings};
use btfkit_tracer::uprobe::{probe, target_btf};

fn main() -> ExitCode {
    let apps: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    if apps.is_empty() {
        eprintln!("usage: uprobe_demo APP...");
        return ExitCode::from(2);
    }
    let kernel = match Resolver::with_settings(Settings::from_env()).resolve() {
        Ok(r) => {
            println!("kernel BTF: {} ({} bytes)", r.source, r.bytes.len());
            r.bytes.into_vec()
        }
        Err(e) => {
            eprintln!("uprobe_demo: {e}");
            return ExitCode::FAILURE;
        }
    };
    for app in &apps {
        let result = target_btf(app, &kernel).and_then(|target| {
            probe(app, &target, || {
                let status = Command::new(app).status()?;
                if !status.success() {
                    return Err(std::io::Error::other(format!(
                        "{}: {status}",
                        app.display()
                    )));
                }
                Ok(())
            })
        });
        match result {
            Ok(seen) => println!(
                "{}: probe read id={} value={} name={:?}",
                app.display(),
                seen.id,
                seen.value,
                seen.name
            ),
            Err(e) => {
                eprintln!("uprobe_demo: {}: {e}", app.display());
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}
