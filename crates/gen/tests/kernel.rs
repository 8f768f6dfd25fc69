//! In the kernel: a probe minimized against this host's BTF loads,
//! attaches and reads correct values, through libbpf and through Aya, with
//! the minimized BTF in place of the kernel's.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::Command;

use btfkit_btf::{load, Btf};
use btfkit_core::{BpfObject, Target};
use btfkit_gen::{minimize, MinOptions};
use btfkit_testutil as tu;

const VMLINUX: &str = "/sys/kernel/btf/vmlinux";

fn probe_path() -> PathBuf {
    tu::workspace_root().join("testdata/core/progs/probe.bpf.o")
}

/// Minimizes this kernel's BTF for the probe; returns the file.
fn minimized(dir: &std::path::Path) -> Option<PathBuf> {
    if !std::path::Path::new(VMLINUX).exists() {
        return tu::missing("/sys/kernel/btf/vmlinux");
    }
    if !tu::ensure_tracefs() {
        return None;
    }
    let kb = load::load_btf_file(VMLINUX).unwrap();
    let kernel = Btf::parse(&kb).unwrap();
    let ob = std::fs::read(probe_path()).unwrap();
    let objs = vec![("probe".to_string(), BpfObject::parse(&ob).unwrap())];
    let out = minimize(&Target::new(&kernel), &objs, &MinOptions::default()).unwrap();
    assert!(out.errors.is_empty());
    assert!(out.btf.len() < 2048, "{} bytes", out.btf.len());
    let path = dir.join("host.min.btf");
    std::fs::write(&path, &out.btf).unwrap();
    Some(path)
}

/// What the probe must read for a process `tgid` whose calling thread is
/// `pid`, with parent `ppid`.
fn check(values: &[u64], pid: u64, tgid: u64, ppid: u64, comm: &str) {
    let uid = unsafe { libc::getuid() } as u64; // SAFETY: getuid has no preconditions.
    let mnt = std::fs::metadata("/proc/self/ns/mnt").unwrap().ino();
    assert_eq!(values[7], 0x600d, "the probe did not run: {values:?}");
    assert_eq!(values[0], pid, "pid");
    assert_eq!(values[1], tgid, "tgid");
    assert_eq!(values[2], ppid, "real_parent->tgid");
    assert_eq!(values[3], uid, "real_cred->uid");
    assert_eq!(values[4], mnt, "nsproxy->mnt_ns->ns.inum");
    assert!(values[5] > 0, "start_time");
    let got = values[6].to_le_bytes();
    let want = &comm.as_bytes()[..comm.len().min(8)];
    assert_eq!(&got[..want.len()], want, "comm");
}

#[test]
fn libbpf_loads_and_reads_with_the_minimized_btf() {
    let dir = tempfile::tempdir().unwrap();
    let Some(min) = minimized(dir.path()) else {
        return;
    };
    let Some(runner) = tu::libbpf_oracle("run_probe") else {
        return;
    };
    let out = Command::new(&runner)
        .arg(probe_path())
        .arg(&min)
        .output()
        .unwrap();
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        if err.contains("load failed") && !tu::in_ci() && unsafe { libc::geteuid() } != 0 {
            tu::missing::<()>("BPF (run as root)");
            return;
        }
        panic!("libbpf run failed: {err}");
    }
    let values: Vec<u64> = String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .map(|v| v.parse().unwrap())
        .collect();
    // The runner is a separate process: its pid/tgid are its own; check
    // what is checkable from here: its parent is this test process.
    let me = std::process::id() as u64;
    assert_eq!(values[7], 0x600d);
    assert_eq!(values[0], values[1], "single-threaded runner: pid == tgid");
    assert_eq!(values[2], me, "the runner's parent is this test");
    let mnt = std::fs::metadata("/proc/self/ns/mnt").unwrap().ino();
    assert_eq!(values[4], mnt);
    assert_eq!(
        &values[6].to_le_bytes(),
        b"oracle-r",
        "comm of the oracle-run_probe binary"
    );
}

#[test]
fn aya_loads_and_reads_with_the_minimized_btf() {
    use aya::maps::Array;
    use aya::programs::TracePoint;
    use aya::{Btf as AyaBtf, EbpfLoader, Endianness};

    let dir = tempfile::tempdir().unwrap();
    let Some(min) = minimized(dir.path()) else {
        return;
    };
    let btf = AyaBtf::parse_file(&min, Endianness::default()).unwrap();
    let obj = std::fs::read(probe_path()).unwrap();
    let mut ebpf = match EbpfLoader::new().btf(Some(&btf)).load(&obj) {
        Ok(e) => e,
        Err(e) if !tu::in_ci() && unsafe { libc::geteuid() } != 0 => {
            tu::missing::<()>(&format!("BPF ({e})"));
            return;
        }
        Err(e) => panic!("aya load: {e}"),
    };
    let tgid = std::process::id() as u64;
    {
        let mut config: Array<_, u64> = Array::try_from(ebpf.map_mut("config").unwrap()).unwrap();
        config.set(0, tgid, 0).unwrap();
    }
    let prog: &mut TracePoint = ebpf
        .program_mut("probe_getppid")
        .unwrap()
        .try_into()
        .unwrap();
    prog.load().unwrap();
    prog.attach("syscalls", "sys_enter_getppid").unwrap();
    // SAFETY: getppid and gettid have no preconditions.
    let (ppid, tid) = unsafe { (libc::getppid() as u64, libc::gettid() as u64) };
    let results: Array<_, [u64; 8]> = Array::try_from(ebpf.map("results").unwrap()).unwrap();
    let values = results.get(&0, 0).unwrap();
    let comm = std::fs::read_to_string(format!("/proc/self/task/{tid}/comm")).unwrap();
    check(&values, tid, tgid, ppid, comm.trim_end());
}
