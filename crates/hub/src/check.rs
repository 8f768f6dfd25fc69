//! `core check`: how every CO-RE relocation of a set of objects fares on
//! every kernel of an archive or bundle — resolved, resolved to "missing"
//! (an existence check answering 0), poisoned, or an error — and which
//! failures matter.
//!
//! A relocation whose failure is expected is *optional*: the same object
//! asks whether its field, type or enumerator exists
//! (`bpf_core_field_exists` and friends, or `bpf_core_type_matches`) with
//! the same local type and access path, or asks whether its root type
//! exists; the program then takes another branch on kernels where the
//! answer is no, and the verifier drops the poisoned code.

use std::collections::HashSet;
use std::path::Path;

use btfkit_btf::{Btf, ParseOptions, TypeId};
use btfkit_bundle::Bundle;
use btfkit_core::patch::Patch;
use btfkit_core::{relocate, BpfObject, Outcome, RelocKind, RelocateOptions, Target};

use crate::archive::scan;
use crate::HubError;

/// What became of a relocation on one kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Patched with a value taken from a matching target.
    Resolved,
    /// No target, answered as such: an existence check is 0.
    Missing,
    /// No usable target: the instruction is poisoned (it must be dead code).
    Poisoned(String),
    /// The relocation cannot be applied: loading fails.
    Error(String),
    /// In a program that is not loaded.
    Skipped,
}

impl Verdict {
    pub fn name(&self) -> &'static str {
        match self {
            Verdict::Resolved => "resolved",
            Verdict::Missing => "missing",
            Verdict::Poisoned(_) => "poisoned",
            Verdict::Error(_) => "error",
            Verdict::Skipped => "skipped",
        }
    }

    pub fn detail(&self) -> &str {
        match self {
            Verdict::Poisoned(s) | Verdict::Error(s) => s,
            _ => "",
        }
    }

    pub fn is_failure(&self) -> bool {
        matches!(self, Verdict::Poisoned(_) | Verdict::Error(_))
    }
}

/// One relocation of one object on one kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelocCheck {
    pub object: String,
    pub section: String,
    pub program: Option<String>,
    /// Instruction index in the program (libbpf's `insn #N`).
    pub insn: Option<u32>,
    /// libbpf's `relo #N`.
    pub index: usize,
    pub kind: String,
    /// The local spec in words and its access string.
    pub spec: String,
    pub verdict: Verdict,
    /// Guarded by an existence check of the same object.
    pub optional: bool,
}

impl RelocCheck {
    /// Identifies the relocation across kernels.
    pub fn id(&self) -> String {
        format!(
            "{} {} relo #{} {} {}",
            self.object,
            self.program.as_deref().unwrap_or(&self.section),
            self.index,
            self.kind,
            self.spec
        )
    }

    /// A failure that is not guarded.
    pub fn fails(&self) -> bool {
        self.verdict.is_failure() && !self.optional
    }
}

/// One kernel's results, or why it could not be checked.
#[derive(Clone, Debug)]
pub struct KernelCheck {
    pub key: String,
    pub result: Result<Vec<RelocCheck>, String>,
}

impl KernelCheck {
    /// Whether an unguarded relocation fails here (or the kernel could not
    /// be read).
    pub fn fails(&self) -> bool {
        match &self.result {
            Ok(v) => v.iter().any(RelocCheck::fails),
            Err(_) => true,
        }
    }
}

fn is_exists_kind(k: RelocKind) -> bool {
    matches!(
        k,
        RelocKind::FieldExists
            | RelocKind::TypeExists
            | RelocKind::EnumvalExists
            | RelocKind::TypeMatches
    )
}

/// Checks every relocation of `objects` against one kernel's BTF.
pub fn check_btf(objects: &[(String, BpfObject<'_>)], btf: &Btf<'_>) -> Vec<RelocCheck> {
    let target = Target::new(btf);
    let mut out = Vec::new();
    for (label, obj) in objects {
        let rel = relocate(obj, &target, &RelocateOptions::default());
        // What the object checks for existence.
        let mut guarded: HashSet<(TypeId, String)> = HashSet::new();
        let mut guarded_types: HashSet<TypeId> = HashSet::new();
        for r in &rel.reports {
            if let Some(k) = r.kind.filter(|k| is_exists_kind(*k)) {
                guarded.insert((r.local_type, r.access.clone()));
                if matches!(k, RelocKind::TypeExists | RelocKind::TypeMatches) {
                    guarded_types.insert(r.local_type);
                }
            }
        }
        for r in &rel.reports {
            let kind = r
                .kind
                .map_or_else(|| format!("kind#{}", r.raw_kind), |k| k.name().to_string());
            let verdict = match &r.outcome {
                Outcome::Skipped(_) => Verdict::Skipped,
                Outcome::Failed(e) => Verdict::Error(e.to_string()),
                Outcome::Done {
                    patch: Patch::Poisoned(why),
                    ..
                } => Verdict::Poisoned(why.to_string()),
                Outcome::Done { target: None, .. } if r.kind != Some(RelocKind::TypeIdLocal) => {
                    Verdict::Missing
                }
                Outcome::Done { .. } => Verdict::Resolved,
            };
            let exists_itself = r.kind.is_some_and(is_exists_kind);
            let optional = !exists_itself
                && (guarded.contains(&(r.local_type, r.access.clone()))
                    || guarded_types.contains(&r.local_type));
            out.push(RelocCheck {
                object: label.clone(),
                section: r.section.clone(),
                program: r.program.clone(),
                insn: r.prog_insn_idx,
                index: r.index,
                kind,
                spec: format!(
                    "{} ({})",
                    r.local_spec
                        .clone()
                        .unwrap_or_else(|| format!("[{}]", r.local_type)),
                    r.access
                ),
                verdict,
                optional,
            });
        }
    }
    out
}

fn check_bytes(
    objects: &[(String, BpfObject<'_>)],
    bytes: &[u8],
    threads: usize,
) -> Result<Vec<RelocCheck>, String> {
    let btf = Btf::parse_with(
        std::borrow::Cow::Borrowed(bytes),
        None,
        ParseOptions { threads },
    )
    .map_err(|e| e.to_string())?;
    Ok(check_btf(objects, &btf))
}

/// Every kernel of a btfhub-layout archive, in parallel.
pub fn check_archive(
    archive: &Path,
    objects: &[(String, BpfObject<'_>)],
    jobs: usize,
) -> Result<Vec<KernelCheck>, HubError> {
    if !archive.is_dir() {
        return Err(HubError::Archive(format!(
            "{} is not a directory",
            archive.display()
        )));
    }
    let (kernels, rejected) = scan(archive);
    let mut out: Vec<KernelCheck> = rejected
        .into_iter()
        .map(|r| KernelCheck {
            key: r.key.unwrap_or_else(|| r.path.display().to_string()),
            result: Err(r.reason),
        })
        .collect();
    let jobs = match jobs {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
    .min(kernels.len().max(1));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let slots: Vec<std::sync::Mutex<Option<KernelCheck>>> = kernels
        .iter()
        .map(|_| std::sync::Mutex::new(None))
        .collect();
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(k) = kernels.get(i) else { break };
                let result =
                    crate::build::load_kernel_btf(k).and_then(|raw| check_bytes(objects, &raw, 1));
                *slots[i].lock().expect("slot") = Some(KernelCheck {
                    key: k.key.to_string(),
                    result,
                });
            });
        }
    });
    out.extend(
        slots
            .into_iter()
            .map(|m| m.into_inner().expect("slot").expect("every kernel ran")),
    );
    out.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(out)
}

/// Every kernel of a bundle (its minimized BTFs relocate as the full ones
/// do).
pub fn check_bundle(bundle: &Bundle<'_>, objects: &[(String, BpfObject<'_>)]) -> Vec<KernelCheck> {
    bundle
        .entries()
        .map(|e| KernelCheck {
            key: e.key().to_string(),
            result: bundle
                .get(&e)
                .map_err(|err| err.to_string())
                .and_then(|raw| check_bytes(objects, &raw, 1)),
        })
        .collect()
}
