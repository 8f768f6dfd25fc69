//! The second loader of the verifier comparison: btfkit + Aya. Each
//! program is relocated alone by `btfkit core apply --program` against the
//! kernel's own BTF (btfkit's engine, libbpf's decisions) and the applied
//! object is loaded by Aya with no CO-RE left to do; then only that
//! program is loaded into the kernel.

use std::collections::BTreeMap;
use std::process::Command;

use aya::programs::Program;
use aya::{Btf, EbpfLoader};
use btfkit_core::BpfObject;

use crate::{BTFKIT, SYSFS_BTF};

/// One program through btfkit + Aya.
pub(crate) enum AyaLoad {
    /// Loaded and verified.
    Loaded,
    /// `core apply` refused: a relocation of the program fails (libbpf
    /// fails such a load before the kernel sees it).
    ApplyRefused(String),
    /// The kernel refused the program (errno and the log's last line).
    Refused { errno: i32, why: String },
    /// Aya found no attach target of that name in the kernel's BTF
    /// (`fentry`, `tp_btf`, `lsm`, ...): the program cannot load here.
    NoAttachTarget(String),
    /// Something other than the program failed: Aya cannot parse the
    /// object or create its maps, or does not load this program type.
    NotLoadable(String),
}

/// Each main program of `object` through btfkit + Aya.
pub(crate) fn loads(object: &str) -> Result<BTreeMap<String, AyaLoad>, String> {
    let bytes = std::fs::read(object).map_err(|e| format!("{object}: {e}"))?;
    let obj = BpfObject::parse(&bytes).map_err(|e| format!("{object}: {e}"))?;
    let kernel_btf = Btf::from_sys_fs().map_err(|e| format!("{SYSFS_BTF}: {e}"))?;
    let mut out = BTreeMap::new();
    for p in obj.programs().iter().filter(|p| !p.is_subprog) {
        let load = load_one(object, &p.name, &p.section_name, &kernel_btf);
        out.insert(p.name.clone(), load);
    }
    Ok(out)
}

fn load_one(object: &str, program: &str, section: &str, kernel_btf: &Btf) -> AyaLoad {
    let applied = "/tmp/aya-applied.o";
    let res = Command::new(BTFKIT)
        .args(["core", "apply", object, "--btf", SYSFS_BTF])
        .args(["--program", program, "-o", applied])
        .output();
    match res {
        Ok(o) if o.status.success() => {}
        Ok(o) => {
            return AyaLoad::ApplyRefused(String::from_utf8_lossy(&o.stderr).trim().to_string())
        }
        Err(e) => return AyaLoad::NotLoadable(format!("{BTFKIT}: {e}")),
    }
    let bytes = match std::fs::read(applied) {
        Ok(b) => b,
        Err(e) => return AyaLoad::NotLoadable(format!("{applied}: {e}")),
    };
    // No target BTF for Aya: the object has no CO-RE relocation left.
    let mut ebpf = match EbpfLoader::new().btf(None).load(&bytes) {
        Ok(e) => e,
        Err(e) => return AyaLoad::NotLoadable(format!("Aya: {}", chain(&e))),
    };
    let Some(prog) = ebpf.program_mut(program) else {
        return AyaLoad::NotLoadable(format!("Aya found no program {program}"));
    };
    // BTF-attached types name their target after the section's prefix.
    let attach = section.split_once('/').map_or("", |(_, t)| t);
    let result = match prog {
        Program::TracePoint(p) => p.load(),
        Program::RawTracePoint(p) => p.load(),
        Program::KProbe(p) => p.load(),
        Program::UProbe(p) => p.load(),
        Program::PerfEvent(p) => p.load(),
        Program::SocketFilter(p) => p.load(),
        Program::Xdp(p) => p.load(),
        Program::SchedClassifier(p) => p.load(),
        Program::FEntry(p) => p.load(attach, kernel_btf),
        Program::FExit(p) => p.load(attach, kernel_btf),
        Program::BtfTracePoint(p) => p.load(attach, kernel_btf),
        Program::Lsm(p) => p.load(attach, kernel_btf),
        Program::Iter(p) => p.load(attach, kernel_btf),
        other => {
            return AyaLoad::NotLoadable(format!(
                "this harness does not load {:?} programs with Aya",
                other.prog_type()
            ))
        }
    };
    match result {
        Ok(()) => AyaLoad::Loaded,
        Err(aya::programs::ProgramError::LoadError {
            io_error,
            verifier_log,
        }) => AyaLoad::Refused {
            errno: io_error.raw_os_error().unwrap_or(0),
            why: verifier_log
                .to_string()
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("")
                .chars()
                .take(300)
                .collect(),
        },
        Err(e @ aya::programs::ProgramError::Btf(_)) => AyaLoad::NoAttachTarget(chain(&e)),
        Err(e) => AyaLoad::NotLoadable(format!("Aya: {}", chain(&e))),
    }
}

/// An error with its sources, on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cur = c.source();
    }
    text.lines()
        .next()
        .unwrap_or("")
        .chars()
        .take(300)
        .collect()
}
