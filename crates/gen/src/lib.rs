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
//! Which programs load matters: libbpf prunes a local type's candidates
//! to those that matched as the object's relocations resolve, and real
//! tools load only some programs (autoload off for the rest), so the
//! minimized BTF must give libbpf's decisions for every subset of
//! programs. One pass relocates everything (all programs loaded) and,
//! for local types with several candidates, lists every candidate each
//! relocation matches on its own; `reach` then works out which of those
//! each relocation can see under some subset of programs (its own
//! program's and the subprograms' relocations always run before it, any
//! other program's may or may not) and keeps what they need. Sound for
//! any subset because a kept candidate matches a relocation against the
//! minimized BTF exactly when it does against the full one (fewer members
//! cannot make a spec match), so every load prunes to the same sets on
//! both sides. With a single candidate pruning changes nothing, so only
//! roots with several candidates (rare in kernels: duplicate names,
//! `___flavor` kernel types, modules) cost the extra matching; each
//! distinct (type, access, kind) is matched once, so the pass is
//! proportional to the relocations, not to programs x relocations.
//! Structurally identical types are then merged, and the result is a
//! standalone BTF (module types included when module BTFs are targets),
//! which libbpf takes as `btf_custom_path`.
//!
//! # Example
//!
//! What `bpftool gen min_core_btf vmlinux out.btf probe.bpf.o` does:
//!
//! ```rust
//! use btfkit_btf::Btf;
//! use btfkit_core::{BpfObject, Target};
//! use btfkit_gen::{MinOptions, Minimizer};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let suite = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/core");
//! # let vmlinux_path = format!("{suite}/targets/base.o");
//! # let object_path = format!("{suite}/progs/arrays.bpf.o");
//! // The kernel's BTF: raw (/sys/kernel/btf/vmlinux, a btfhub file) or an
//! // ELF with a .BTF section.
//! let vmlinux = std::fs::read(vmlinux_path)?;
//! let full = Btf::parse_any(&vmlinux, None)?;
//! let target = Target::new(&full);
//!
//! let object = std::fs::read(object_path)?;
//! let obj = BpfObject::parse(&object)?;
//!
//! let mut m = Minimizer::new(&target);
//! m.add_object("arrays.bpf.o", &obj); // more objects: more add_object calls
//! assert!(m.errors().is_empty(), "{:?}", m.errors());
//! let min = m.finish(&MinOptions::default())?;
//! assert!(min.types < full.len());
//!
//! // Every relocation resolves against the minimized BTF as against the
//! // full one.
//! let small = Btf::parse(&min.btf)?;
//! let opts = btfkit_core::RelocateOptions::default();
//! let a = btfkit_core::relocate(&obj, &target, &opts);
//! let b = btfkit_core::relocate(&obj, &Target::new(&small), &opts);
//! assert_eq!(a.insns, b.insns);
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

mod emit;
mod mark;
mod reach;

use btfkit_core::{
    relocate_each, BpfObject, Detail, MatchedCand, Outcome, ReloError, RelocKind, RelocateOptions,
    Relocated, Target,
};

use std::sync::Arc;

use crate::mark::{Marker, Marks, Need, Seen};
use crate::reach::Reach;

/// Why minimization failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GenError {
    /// Reading the target's types or strings, or writing the minimized
    /// BTF, failed (the BTF library's error, which names the type).
    #[error("minimizing BTF")]
    Btf(#[source] btfkit_btf::Error),
    /// Relocations fail against the full BTF, so no minimized BTF can
    /// reproduce libbpf's decisions. Returned only by
    /// [`Minimizer::require_resolved`], for callers that make such failures
    /// fatal; [`Minimizer::finish`] and [`minimize`] write the BTF anyway
    /// and list the failures in [`Minimized::errors`].
    #[error(
        "{count} relocation(s) cannot be resolved against the full BTF, the first in {object}"
    )]
    Unresolved {
        /// How many relocations fail.
        count: usize,
        /// The label of the object with the first failure.
        object: String,
        /// The first failure.
        #[source]
        first: Box<ReloError>,
    },
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
    /// Candidates already marked for a kind of need: marking is a function
    /// of these, and a large object asks for the same ones thousands of
    /// times.
    seen: Seen,
    relocations: usize,
    errors: Vec<(String, ReloError)>,
}

/// The minimized BTF and what went into it.
pub struct Minimized {
    /// Raw BTF, little-endian.
    pub btf: Vec<u8>,
    /// Types written (not counting `void`).
    pub types: usize,
    /// Relocations evaluated (all programs loaded).
    pub relocations: usize,
    /// Relocations that fail against the full BTF (object label, error).
    pub errors: Vec<(String, ReloError)>,
}

impl<'a, 't> Minimizer<'a, 't> {
    /// A minimizer for one target (a kernel's BTF, with its modules' when
    /// the target has them), keeping nothing yet.
    pub fn new(target: &'a Target<'t>) -> Self {
        Minimizer {
            target,
            marks: Marks::default(),
            seen: Seen::default(),
            relocations: 0,
            errors: Vec::new(),
        }
    }

    /// Relocates `obj` against the target (every program loaded) and
    /// records what the results need, and what the candidates a
    /// relocation can see under any other subset of loaded programs need
    /// (see the crate documentation). `label` names the object in error
    /// reports.
    pub fn add_object(&mut self, label: &str, obj: &BpfObject<'_>) {
        let all = RelocateOptions {
            include_non_autoload: true,
            only_programs: None,
        };
        let detail = Detail {
            describe: false,
            unpruned: true,
        };
        let subprogs: hashbrown::HashSet<&str> = obj
            .programs()
            .iter()
            .filter(|p| p.is_subprog)
            .map(|p| p.name.as_str())
            .collect();
        let mut relocations = 0;
        let mut errors = Vec::new();
        let mut reach = Reach::default();
        // The engine hands every relocation decided alike the same
        // `matched` list, so a list marked once for a kind of need is
        // skipped by identity: tens of thousands of relocations are a few
        // thousand decisions. The clones keep each list alive, so no
        // address is reused by another list during the pass.
        let mut marked: hashbrown::HashMap<(Need, *const MatchedCand), Arc<[MatchedCand]>> =
            hashbrown::HashMap::new();
        // Reports are consumed as they come: a large object's would take
        // more memory than everything else.
        relocate_each(obj, self.target, &all, detail, |r| {
            relocations += 1;
            if let Some(e) = r.error() {
                errors.push((label.to_string(), e));
            }
            let (Some(kind), Some(prog)) = (r.kind, &r.program) else {
                return;
            };
            if let Outcome::Done { matched, .. } = &r.outcome {
                let key = (Need::of(kind), matched.as_ptr());
                if !matched.is_empty() && !marked.contains_key(&key) {
                    marked.insert(key, matched.clone());
                    self.mark(kind, matched);
                }
            }
            let subprog = subprogs.contains(&**prog);
            reach.push(r.local_type, prog, subprog, kind, &r.unpruned);
        });
        reach.visible(|kind, c| self.mark(kind, std::slice::from_ref(c)));
        self.relocations += relocations;
        self.errors.extend(errors);
    }

    /// Records what existing relocation results need.
    pub fn record(&mut self, rel: &Relocated) {
        for r in &rel.reports {
            if let (Outcome::Done { matched, .. }, Some(kind)) = (&r.outcome, r.kind) {
                self.mark(kind, matched);
            }
        }
    }

    /// Marks what `matched` candidates of a relocation of `kind` need,
    /// unless the same was marked before.
    fn mark(&mut self, kind: RelocKind, matched: &[MatchedCand]) {
        let mut m = Marker {
            target: self.target,
            marks: &mut self.marks,
        };
        for c in matched {
            if self.seen.insert(kind, c) {
                m.matched(kind, c);
            }
        }
    }

    /// Relocations that failed against the full BTF so far.
    pub fn errors(&self) -> &[(String, ReloError)] {
        &self.errors
    }

    /// Whether every relocation added so far resolves against the full
    /// BTF.
    ///
    /// # Errors
    ///
    /// [`GenError::Unresolved`], counting the failures and holding the
    /// first.
    pub fn require_resolved(&self) -> Result<(), GenError> {
        match self.errors.first() {
            None => Ok(()),
            Some((object, first)) => Err(GenError::Unresolved {
                count: self.errors.len(),
                object: object.clone(),
                first: Box::new(first.clone()),
            }),
        }
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
