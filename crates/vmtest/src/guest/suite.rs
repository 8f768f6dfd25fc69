//! The CO-RE suite's in-kernel programs (the ones the host tests load):
//! relocated by `btfkit core apply` against the guest's BTF, or against
//! `btfkit gen min`'s output for it, loaded with Aya as they are (no
//! relocation left for Aya to do), attached, triggered, and what they
//! read compared with what this process knows about itself.

use std::os::unix::fs::MetadataExt;
use std::process::Command;

use aya::maps::Array;
use aya::programs::TracePoint;
use aya::{Ebpf, EbpfLoader};
use btfkit_btf::{Btf, Kind};
use btfkit_vmtest::Plan;

use crate::{Outcome, BTFKIT, SYSFS_BTF};

/// What the objects are relocated against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    /// The kernel's own BTF.
    Sysfs,
    /// `gen min` of both suite objects against the kernel's BTF.
    Minimized,
}

/// State shared by the suite checks: the minimized BTF, made once.
#[derive(Default)]
pub(crate) struct Suite {
    minimized: Option<Result<String, String>>,
}

const MINIMIZED: &str = "/tmp/suite.min.btf";

fn btfkit(args: &[&str]) -> Result<(), String> {
    let out = Command::new(BTFKIT)
        .args(args)
        .output()
        .map_err(|e| format!("{BTFKIT}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "btfkit {}: {}",
            args[..2].join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

fn ns_inode(path: &str) -> Result<u64, String> {
    std::fs::metadata(path)
        .map(|m| m.ino())
        .map_err(|e| format!("{path}: {e}"))
}

impl Suite {
    /// The target BTF's path, made on first use for [`Target::Minimized`].
    fn target(&mut self, plan: &Plan, target: Target) -> Result<String, String> {
        if target == Target::Sysfs {
            return Ok(SYSFS_BTF.to_string());
        }
        self.minimized
            .get_or_insert_with(|| {
                btfkit(&[
                    "gen",
                    "min",
                    &plan.probe_object,
                    &plan.kernel_object,
                    "--btf",
                    SYSFS_BTF,
                    "-o",
                    MINIMIZED,
                    "--strict",
                ])
                .map(|()| MINIMIZED.to_string())
            })
            .clone()
    }

    /// `core apply` of `object` against the target, loaded with Aya.
    fn load(
        &mut self,
        plan: &Plan,
        object: &str,
        target: Target,
    ) -> Result<(Ebpf, String), String> {
        let btf = self.target(plan, target)?;
        let name = std::path::Path::new(object)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("object");
        let applied = format!("/tmp/{name}.{target:?}.o");
        btfkit(&["core", "apply", object, "--btf", &btf, "-o", &applied])?;
        let bytes = std::fs::read(&applied).map_err(|e| format!("{applied}: {e}"))?;
        let size = std::fs::metadata(&btf).map(|m| m.len()).unwrap_or(0);
        // No BTF for Aya: the object has no CO-RE relocation left.
        let ebpf = EbpfLoader::new()
            .btf(None)
            .load(&bytes)
            .map_err(|e| format!("loading {applied}: {e}"))?;
        Ok((ebpf, format!("{btf} ({size} bytes)")))
    }

    /// probe.bpf.o: reads the calling task on getppid().
    pub(crate) fn probe(&mut self, plan: &Plan, target: Target) -> Outcome {
        let (mut ebpf, btf) = self.load(plan, &plan.probe_object, target)?;
        let me = std::process::id() as u64;
        {
            let map = ebpf.map_mut("config").ok_or("no map config")?;
            let mut config: Array<_, u64> = Array::try_from(map).map_err(|e| e.to_string())?;
            config.set(0, me, 0).map_err(|e| format!("config: {e}"))?;
        }
        attach(&mut ebpf, "probe_getppid", "syscalls", "sys_enter_getppid")?;
        let ppid = rustix::process::getppid().map_or(0, |p| p.as_raw_nonzero().get() as u64);
        let tid = rustix::thread::gettid().as_raw_nonzero().get() as u64;
        let map = ebpf.map("results").ok_or("no map results")?;
        let results: Array<_, [u64; 8]> = Array::try_from(map).map_err(|e| e.to_string())?;
        let v = results.get(&0, 0).map_err(|e| format!("results: {e}"))?;
        if v[7] != 0x600d {
            return Err(format!("the probe did not run: {v:?}"));
        }
        let comm = std::fs::read_to_string(format!("/proc/self/task/{tid}/comm"))
            .map_err(|e| e.to_string())?;
        let mut comm8 = [0u8; 8];
        let n = comm.trim_end().len().min(8);
        comm8[..n].copy_from_slice(&comm.trim_end().as_bytes()[..n]);
        let checks = [
            ("pid", v[0], tid),
            ("tgid", v[1], me),
            ("real_parent->tgid", v[2], ppid),
            (
                "real_cred->uid",
                v[3],
                rustix::process::getuid().as_raw() as u64,
            ),
            (
                "nsproxy->mnt_ns->ns.inum",
                v[4],
                ns_inode("/proc/self/ns/mnt")?,
            ),
            ("comm", v[6], u64::from_le_bytes(comm8)),
        ];
        compare(&checks)?;
        if v[5] == 0 {
            return Err("start_time 0".into());
        }
        Ok(format!(
            "pid, tgid, ppid, uid, mnt ns, start_time, comm right; BTF {btf}"
        ))
    }

    /// kernel.bpf.o: reads the exec'ing and the exiting task.
    pub(crate) fn kernel(&mut self, plan: &Plan, target: Target) -> Outcome {
        let (mut ebpf, btf) = self.load(plan, &plan.kernel_object, target)?;
        attach(&mut ebpf, "kernel_exec", "sched", "sched_process_exec")?;
        attach(&mut ebpf, "kernel_meta", "sched", "sched_process_exit")?;
        let mut child = Command::new("/bin/true")
            .arg("vmtest-suite")
            .spawn()
            .map_err(|e| format!("/bin/true: {e}"))?;
        let cpid = child.id() as u64;
        child.wait().map_err(|e| e.to_string())?;
        // Drop the programs before reading: nothing else may overwrite.
        let map = ebpf.map(".bss").ok_or("no .bss map")?;
        let bss: Array<_, [u64; 64]> = Array::try_from(map).map_err(|e| e.to_string())?;
        let out = bss.get(&0, 0).map_err(|e| format!(".bss: {e}"))?;
        let kernel = btfkit_btf::load::load_btf_file(SYSFS_BTF).map_err(|e| e.to_string())?;
        let kernel = Btf::parse(&kernel).map_err(|e| e.to_string())?;
        let task_size = kernel
            .find_first("task_struct", Kind::Struct)
            .and_then(|id| kernel.resolve_size(id).ok())
            .ok_or("no struct task_struct in the kernel's BTF")?;
        let me = std::process::id() as u64;
        let checks = [
            ("exec pid", out[0], cpid),
            ("exec tgid", out[1], cpid),
            ("exec real_parent->tgid", out[2], me),
            ("exec group_leader->pid", out[3], cpid),
            ("exec real_cred->uid", out[4], 0),
            ("exec mnt ns", out[5], ns_inode("/proc/self/ns/mnt")?),
            (
                "exec pid_ns_for_children",
                out[6],
                ns_inode("/proc/self/ns/pid_for_children")?,
            ),
            ("exec signal->nr_threads", out[8], 1),
            ("exec ctx->old_pid", out[11], cpid),
            ("sizeof comm", out[12], 16),
            ("exec __state/state", out[13], 0),
            ("exit thread_pid->numbers[0].nr", out[20], cpid),
            ("exit pid level", out[21], 0),
            ("PIDTYPE_TGID", out[22], 1),
            ("PIDTYPE_MAX exists", out[23], 1),
            ("sizeof task_struct", out[25], task_size),
            ("flags exists", out[28], 1),
        ];
        compare(&checks)?;
        for (what, v) in [
            ("mm->arg_start", out[7]),
            ("start_time", out[9]),
            ("flags", out[29]),
        ] {
            if v == 0 {
                return Err(format!("{what} is 0"));
            }
        }
        Ok(format!(
            "17 values right (task_struct {task_size} bytes); BTF {btf}"
        ))
    }
}

fn attach(ebpf: &mut Ebpf, prog: &str, category: &str, name: &str) -> Result<(), String> {
    let p: &mut TracePoint = ebpf
        .program_mut(prog)
        .ok_or_else(|| format!("no program {prog}"))?
        .try_into()
        .map_err(|e| format!("{prog}: {e}"))?;
    p.load()
        .map_err(|e| format!("verifier refused {prog}: {}", verifier_tail(&e)))?;
    p.attach(category, name)
        .map_err(|e| format!("attaching {prog} to {category}/{name}: {e}"))?;
    Ok(())
}

/// The end of a load error (a verifier log's last lines say why).
fn verifier_tail(e: &dyn std::error::Error) -> String {
    let text = crate::error_chain(e);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(4)..].join(" | ")
}

fn compare(checks: &[(&str, u64, u64)]) -> Result<(), String> {
    let wrong: Vec<String> = checks
        .iter()
        .filter(|(_, got, want)| got != want)
        .map(|(what, got, want)| format!("{what} {got} (expected {want})"))
        .collect();
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(wrong.join("; "))
    }
}
