//! The second loader of the verifier comparison: btfkit + Aya, as a Rust
//! tool would combine them. Each program is relocated alone against the
//! kernel's own BTF by btfkit's library (what `btfkit core apply
//! --program` does: libbpf's decisions, CO-RE records unhooked), the
//! applied object is loaded by Aya with no CO-RE left to do, and only that
//! program is loaded into the kernel. The kernel's BTF is parsed once for
//! all of them.

use std::collections::BTreeMap;

use aya::programs::Program;
use aya::{Btf, EbpfLoader};
use btfkit_core::{relocate_with, BpfObject, Detail, RelocateOptions, Target};

use crate::SYSFS_BTF;

/// The kernel's BTF, read and parsed once: btfkit's view and Aya's.
pub(crate) struct KernelBtf {
    raw: Vec<u8>,
    aya: Btf,
}

impl KernelBtf {
    pub(crate) fn read() -> Result<KernelBtf, String> {
        let raw = btfkit_btf::load::load_btf_file(SYSFS_BTF).map_err(|e| e.to_string())?;
        let aya = Btf::from_sys_fs().map_err(|e| format!("{SYSFS_BTF}: {e}"))?;
        Ok(KernelBtf {
            raw: raw.to_vec(),
            aya,
        })
    }
}

/// One program through btfkit + Aya.
pub(crate) enum AyaLoad {
    /// Loaded and verified.
    Loaded,
    /// btfkit refused to apply: a relocation of the program fails (libbpf
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
pub(crate) fn loads(object: &str, kernel: &KernelBtf) -> Result<BTreeMap<String, AyaLoad>, String> {
    let bytes = std::fs::read(object).map_err(|e| format!("{object}: {e}"))?;
    let obj = BpfObject::parse(&bytes).map_err(|e| format!("{object}: {e}"))?;
    let kbtf = btfkit_btf::Btf::parse(&kernel.raw).map_err(|e| format!("{SYSFS_BTF}: {e}"))?;
    let target = Target::new(&kbtf);
    let mut out = BTreeMap::new();
    for p in obj.programs().iter().filter(|p| !p.is_subprog) {
        let load = match apply_one(&obj, &target, &p.name) {
            Ok(applied) => load_one(&applied, &p.name, &p.section_name, &kernel.aya),
            Err(e) => AyaLoad::ApplyRefused(e),
        };
        out.insert(p.name.clone(), load);
    }
    Ok(out)
}

/// The object with `program`'s relocations applied, as `core apply
/// --program` writes it.
fn apply_one(obj: &BpfObject<'_>, target: &Target<'_>, program: &str) -> Result<Vec<u8>, String> {
    let opts = RelocateOptions {
        include_non_autoload: true,
        only_programs: Some(vec![program.to_string()]),
    };
    let rel = relocate_with(obj, target, &opts, Detail::default());
    if let Some(e) = rel.failures().next() {
        return Err(e.to_string());
    }
    Ok(btfkit_core::write_relocated(obj, &rel, true))
}

fn load_one(bytes: &[u8], program: &str, section: &str, kernel_btf: &Btf) -> AyaLoad {
    // No target BTF for Aya: the object has no CO-RE relocation left.
    let mut ebpf = match EbpfLoader::new().btf(None).load(bytes) {
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
    crate::error_chain(e)
        .lines()
        .next()
        .unwrap_or("")
        .chars()
        .take(300)
        .collect()
}
