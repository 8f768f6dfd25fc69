//! Loads the exec probe with the BTF of the running kernel, found by
//! btfkit's resolver (sysfs, vmlinux files, else the bundle built into
//! this binary), runs `sh -c true` and prints the exec event it sees.

use std::time::{Duration, Instant};

use aya::maps::RingBuf;
use aya::programs::TracePoint;

static BUNDLE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/btf.bundle"));
static PROBE: &[u8] = aya::include_bytes_aligned!("../bpf/exec.bpf.o");

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let resolved = btfkit_resolver::Resolver::new().bundle(BUNDLE).resolve()?;
    println!(
        "BTF: {} bytes from {}",
        resolved.bytes.len(),
        resolved.source
    );
    let mut ebpf = btfkit_resolver::aya::load(PROBE, &resolved)?;
    let exec: &mut TracePoint = ebpf
        .program_mut("on_exec")
        .ok_or("no on_exec")?
        .try_into()?;
    exec.load()?;
    exec.attach("sched", "sched_process_exec")?;
    let mut events = RingBuf::try_from(ebpf.map_mut("events").ok_or("no events map")?)?;

    let child = std::process::Command::new("sh")
        .args(["-c", "true"])
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        while let Some(e) = events.next() {
            // struct event { __u32 pid; __u32 ppid; char comm[16]; }
            let word = |i: usize| u32::from_ne_bytes(e[i..i + 4].try_into().unwrap());
            let comm = String::from_utf8_lossy(&e[8..24])
                .trim_end_matches('\0')
                .to_string();
            if word(0) == child.id() && word(4) == std::process::id() {
                println!("exec: pid {} ppid {} comm {comm}", word(0), word(4));
                return Ok(());
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err("no exec event for the child within 10 s".into())
}
