//! # btfkit-gen
//!
//! BTFGen: reduces a kernel BTF to what a set of BPF objects' CO-RE
//! relocations need, so that libbpf (or btfkit) makes the same relocation
//! decisions against the small BTF as against the full one.
//!
//! For every relocation, every candidate that matched (not only the first:
//! candidates that match stay in libbpf's pruned candidate list and decide
//! later relocations) contributes what libbpf looks at:
//! - field relocations: the root, the members on the access path with
//!   their original offsets, and the types of those members (structs
//!   reached this way keep their size but not their other members;
//!   pointers whose pointee nothing else keeps become `void *`);
//! - type relocations (exists, size, id): the type and, through pointers,
//!   arrays and prototypes, what compatibility checking walks;
//! - enumerator relocations: the whole enum;
//! - TYPE_MATCHES: the whole graph the matching walks.
//!
//! Relocations are evaluated with all programs loaded and with each
//! program loaded alone, and the union is kept: libbpf prunes candidates
//! per object load, so what matters depends on which programs load.
//! Structurally identical types are then merged, and the result is a
//! standalone BTF (module types included when module BTFs are targets),
//! which libbpf takes as `btf_custom_path`.

mod emit;
mod mark;

use btfkit_core::{
    relocate, BpfObject, Outcome, ReloError, RelocKind, RelocateOptions, Relocated, Target,
};

use crate::mark::{Marker, Marks};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GenError {
    #[error("{0}")]
    Btf(btfkit_btf::Error),
    #[error("{count} relocation(s) cannot be resolved against the full BTF, first: {first}")]
    Unresolved { count: usize, first: ReloError },
}

/// Knobs of minimization.
#[derive(Clone, Debug)]
pub struct MinOptions {
    /// Merge structurally identical types in the output (on by default).
    pub merge_identical: bool,
}

impl Default for MinOptions {
    fn default() -> Self {
        MinOptions {
            merge_identical: true,
        }
    }
}

/// Collects what objects need from one target; `finish` writes the BTF.
pub struct Minimizer<'a, 't> {
    target: &'a Target<'t>,
    marks: Marks,
    relocations: usize,
    errors: Vec<(String, ReloError)>,
}

/// The minimized BTF and what went into it.
pub struct Minimized {
    /// Raw BTF, little-endian.
    pub btf: Vec<u8>,
    pub types: usize,
    /// Relocations evaluated (all programs loaded).
    pub relocations: usize,
    /// Relocations that fail against the full BTF (object label, error).
    pub errors: Vec<(String, ReloError)>,
}

impl<'a, 't> Minimizer<'a, 't> {
    pub fn new(target: &'a Target<'t>) -> Self {
        Minimizer {
            target,
            marks: Marks::default(),
            relocations: 0,
            errors: Vec::new(),
        }
    }

    /// Relocates `obj` against the target (with all programs, then each
    /// program alone) and records what the results need. `label` names the
    /// object in error reports.
    pub fn add_object(&mut self, label: &str, obj: &BpfObject<'_>) {
        let all = RelocateOptions {
            include_non_autoload: true,
            only_programs: None,
        };
        let rel = relocate(obj, self.target, &all);
        self.relocations += rel.reports.len();
        for e in rel.failures() {
            self.errors.push((label.to_string(), e));
        }
        self.record(&rel);
        let mains: Vec<String> = obj
            .programs()
            .iter()
            .filter(|p| !p.is_subprog)
            .map(|p| p.name.clone())
            .collect();
        if mains.len() > 1 {
            for name in mains {
                let one = RelocateOptions {
                    include_non_autoload: true,
                    only_programs: Some(vec![name]),
                };
                self.record(&relocate(obj, self.target, &one));
            }
        }
    }

    /// Records what existing relocation results need.
    pub fn record(&mut self, rel: &Relocated) {
        let mut m = Marker {
            target: self.target,
            marks: &mut self.marks,
        };
        for r in &rel.reports {
            let (Outcome::Done { matched, .. }, Some(kind)) = (&r.outcome, r.kind) else {
                continue;
            };
            for c in matched {
                let root = c.type_id;
                match kind {
                    k if k.is_field_based() => m.field(c.btf_idx, root, &c.raw),
                    RelocKind::TypeMatches => m.matches(c.btf_idx, root),
                    k if k.is_enumval_based() => m.enumval(c.btf_idx, root),
                    RelocKind::TypeIdLocal => {}
                    _ => m.type_only(c.btf_idx, root),
                }
            }
        }
    }

    /// Relocations that failed against the full BTF so far.
    pub fn errors(&self) -> &[(String, ReloError)] {
        &self.errors
    }

    /// Writes the minimized BTF.
    pub fn finish(&self, opts: &MinOptions) -> Result<Minimized, GenError> {
        let mut marks = self.marks.clone();
        // libbpf infers the target's pointer size from an int named like
        // `long`, and assumes the host's when there is none: keep it when
        // that assumption would be wrong (32-bit targets).
        let vmlinux = self.target.vmlinux();
        if let Some((id, 4)) = vmlinux.long_type() {
            marks.roots.insert((0, id));
            marks.kept.entry((0, id)).or_default();
        }
        let (btf, types) = emit::emit(self.target, &marks, opts.merge_identical)?;
        Ok(Minimized {
            btf,
            types,
            relocations: self.relocations,
            errors: self.errors.clone(),
        })
    }
}

/// Minimizes the target for `objects` (label, object) in one call.
pub fn minimize(
    target: &Target<'_>,
    objects: &[(String, BpfObject<'_>)],
    opts: &MinOptions,
) -> Result<Minimized, GenError> {
    let mut m = Minimizer::new(target);
    for (label, obj) in objects {
        m.add_object(label, obj);
    }
    m.finish(opts)
}
