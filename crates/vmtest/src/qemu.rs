//! Booting one guest: QEMU with `-kernel`/`-initrd`, the serial console
//! read line by line into a log, and a hard timeout after which the guest
//! is killed. Nested KVM hangs on these machines, so TCG is the default;
//! KVM is used only where a short probe boot shows it works.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::kernel::Arch;
use crate::HarnessError;

/// Software emulation or hardware virtualization.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accel {
    /// QEMU's TCG.
    Tcg,
    /// /dev/kvm.
    Kvm,
}

/// How one boot ended.
pub struct Boot {
    /// Every console line.
    pub console: Vec<String>,
    /// Killed at the timeout.
    pub timed_out: bool,
    /// Wall time.
    pub secs: f64,
}

impl Boot {
    /// The last `n` console lines (what a failed row shows).
    pub fn tail(&self, n: usize) -> Vec<&str> {
        let lines: Vec<&str> = self
            .console
            .iter()
            .map(|l| l.trim_end())
            .filter(|l| !l.is_empty())
            .collect();
        lines[lines.len().saturating_sub(n)..].to_vec()
    }
}

/// What to boot.
pub struct GuestSpec<'a> {
    /// The guest's architecture.
    pub arch: Arch,
    /// The compressed kernel image.
    pub kernel: &'a Path,
    /// The initramfs.
    pub initrd: &'a Path,
    /// Hard limit for the whole boot.
    pub timeout: Duration,
    /// TCG or KVM.
    pub accel: Accel,
    /// The console log to write.
    pub log: &'a Path,
    /// A line that ends the boot early once seen (after it the guest only
    /// powers off).
    pub done_marker: &'a str,
}

fn command(spec: &GuestSpec<'_>) -> Command {
    let (qemu, machine, cpu, console) = match spec.arch {
        Arch::Amd64 => ("qemu-system-x86_64", "q35", "max", "ttyS0"),
        // cortex-a72 keeps TCG fast (no pointer authentication to emulate).
        Arch::Arm64 => ("qemu-system-aarch64", "virt", "cortex-a72", "ttyAMA0"),
    };
    let cpu = if spec.accel == Accel::Kvm {
        "host"
    } else {
        cpu
    };
    let accel = match spec.accel {
        Accel::Tcg => "tcg",
        Accel::Kvm => "kvm",
    };
    let mut cmd = Command::new(qemu);
    cmd.args(["-machine", machine, "-accel", accel, "-cpu", cpu])
        .args(["-m", "2048", "-smp", "1"])
        .args(["-display", "none", "-monitor", "none", "-serial", "stdio"])
        .args(["-no-reboot", "-nodefaults"])
        .arg("-kernel")
        .arg(spec.kernel)
        .arg("-initrd")
        .arg(spec.initrd)
        .arg("-append")
        // panic=-1: a panic reboots at once, and -no-reboot ends QEMU.
        .arg(format!(
            "console={console} panic=-1 oops=panic rdinit=/init loglevel=4 mitigations=off"
        ))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Boots the guest and collects its console until QEMU exits or the
/// timeout kills it.
pub fn boot(spec: &GuestSpec<'_>) -> Result<Boot, HarnessError> {
    let start = Instant::now();
    let mut cmd = command(spec);
    let mut child = cmd.spawn().map_err(|e| HarnessError::Tool {
        tool: format!("{:?}", cmd.get_program()),
        detail: e.to_string(),
    })?;
    let (tx, rx) = mpsc::channel::<String>();
    let mut readers = Vec::new();
    for r in [
        Box::new(child.stdout.take().expect("piped")) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().expect("piped")),
    ] {
        let tx = tx.clone();
        readers.push(std::thread::spawn(move || {
            let mut r = BufReader::new(r);
            let mut buf = Vec::new();
            // Lines may hold bytes that are not UTF-8 (console noise).
            while r
                .read_until(b'\n', &mut buf)
                .map(|n| n > 0)
                .unwrap_or(false)
            {
                let _ = tx.send(String::from_utf8_lossy(&buf).into_owned());
                buf.clear();
            }
        }));
    }
    drop(tx);
    let mut log = std::fs::File::create(spec.log).map_err(|e| HarnessError::io(spec.log, e))?;
    let mut console = Vec::new();
    let deadline = start + spec.timeout;
    let mut timed_out = false;
    let mut done_at: Option<Instant> = None;
    loop {
        let now = Instant::now();
        if now >= deadline {
            timed_out = true;
            break;
        }
        // After the done marker, the guest only has to power off.
        if done_at.is_some_and(|t| now > t + Duration::from_secs(30)) {
            break;
        }
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(line) => {
                let _ = log.write_all(line.as_bytes());
                if line.contains(spec.done_marker) {
                    done_at = Some(Instant::now());
                }
                console.push(line);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if let Ok(Some(_)) = child.try_wait() {
                    // Drain what the readers still hold.
                    while let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
                        let _ = log.write_all(line.as_bytes());
                        console.push(line);
                    }
                    break;
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    for r in readers {
        let _ = r.join();
    }
    if timed_out {
        let _ = writeln!(log, "vmtest: killed after {} s", spec.timeout.as_secs());
    }
    Ok(Boot {
        console,
        timed_out,
        secs: start.elapsed().as_secs_f64(),
    })
}

/// Whether KVM boots this kernel: a probe boot that must print `marker`
/// within a short time (nested KVM on these machines hangs instead).
pub fn kvm_works(
    arch: Arch,
    kernel: &Path,
    probe_initrd: &Path,
    log: PathBuf,
    marker: &str,
) -> bool {
    let host_is = |a: &str| std::env::consts::ARCH == a;
    let native = match arch {
        Arch::Amd64 => host_is("x86_64"),
        Arch::Arm64 => host_is("aarch64"),
    };
    if !native || !Path::new("/dev/kvm").exists() {
        return false;
    }
    let spec = GuestSpec {
        arch,
        kernel,
        initrd: probe_initrd,
        timeout: Duration::from_secs(20),
        accel: Accel::Kvm,
        log: &log,
        done_marker: marker,
    };
    boot(&spec).is_ok_and(|b| b.console.iter().any(|l| l.contains(marker)))
}
