//! # btfkit-core
//!
//! The CO-RE layer of btfkit: a reader for relocatable BPF ELF objects
//! (programs, maps, `.BTF`, `.BTF.ext`) and a relocation engine that
//! computes every CO-RE relocation kind with libbpf's semantics —
//! candidate search by essential name, field/type compatibility,
//! TYPE_MATCHES, candidate pruning, ambiguity errors, instruction
//! validation, patching and poisoning — against a vmlinux BTF and,
//! optionally, module BTFs.
//!
//! The main flow:
//!
//! 1. [`BpfObject::parse`] reads a clang-built `.bpf.o` from its bytes
//!    (borrowing them): programs, maps, the object's own ("local") `.BTF`
//!    and the CO-RE relocation records of `.BTF.ext`.
//! 2. [`Target::new`] takes the kernel's BTF (a [`btfkit_btf::Btf`]);
//!    [`Target::add_module`] adds module BTFs split on it.
//! 3. [`relocate`] runs every relocation in libbpf's order
//!    (`bpf_object__relocate_core`: candidate search, libbpf's
//!    `bpf_core_calc_relo_insn` and `bpf_core_patch_insn`) and returns a
//!    [`Relocated`]: one [`ReloReport`] per record and the patched
//!    instructions. Failures are reported per relocation, with the errno
//!    libbpf would fail with ([`ReloErrorKind::errno`]).
//! 4. [`write_relocated`] writes the object back with the patched
//!    instructions.
//!
//! ```rust,no_run
//! use btfkit_btf::Btf;
//! use btfkit_core::{
//!     relocate, write_relocated, BpfObject, Outcome, Patch, RelocateOptions, Target,
//! };
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let obj_bytes = std::fs::read("prog.bpf.o")?;
//! let obj = BpfObject::parse(&obj_bytes)?;
//!
//! let vmlinux_bytes = std::fs::read("/sys/kernel/btf/vmlinux")?;
//! let vmlinux = Btf::parse(&vmlinux_bytes)?;
//! let target = Target::new(&vmlinux);
//!
//! let rel = relocate(&obj, &target, &RelocateOptions::default());
//! for r in &rel.reports {
//!     // `insn #N` counts from the start of the program, as libbpf's logs do.
//!     let at = format!(
//!         "{} relo #{} insn #{}",
//!         r.program.as_deref().unwrap_or(&r.section),
//!         r.index,
//!         r.prog_insn_idx.unwrap_or(r.insn_idx),
//!     );
//!     let what = r.local_spec.as_deref().unwrap_or(&r.access);
//!     match &r.outcome {
//!         Outcome::Done { patch: Patch::Value { old, new, .. }, target: resolved, .. } => {
//!             // Which target BTF decided: "vmlinux" or a module's name.
//!             let in_btf = resolved.as_ref().map_or("-", |t| target.btf(t.btf_idx).0);
//!             println!("{at}: {what}: {old} -> {new} ({in_btf})");
//!         }
//!         Outcome::Done { patch: Patch::Poisoned(why), .. } => {
//!             println!("{at}: {what}: poisoned: {why}");
//!         }
//!         Outcome::Skipped(why) => println!("{at}: skipped ({why:?})"),
//!         Outcome::Failed(e) => eprintln!("{at}: {what}: {e} (libbpf: -{})", e.errno()),
//!     }
//! }
//!
//! if rel.failures().next().is_none() {
//!     // `true`: zero the CO-RE record length in `.BTF.ext`, so that a
//!     // loader does not relocate the patched instructions again.
//!     std::fs::write("prog.relocated.bpf.o", write_relocated(&obj, &rel, true))?;
//! }
//! # Ok(())
//! # }
//! ```
//!
//! [`flow`] is the analysis behind `btfkit core check`: which instructions
//! of the relocated programs the verifier can reach, and so whether a
//! poisoned instruction fails the load.

#![warn(missing_docs)]

mod apply;
pub mod bpf_tables;
mod calc;
mod compat;
mod engine;
mod error;
pub mod ext;
mod fast;
pub mod flow;
pub mod insn;
mod kind;
mod object;
mod patch;
mod spec;

pub use apply::write_relocated;
pub use engine::{
    relocate, relocate_each, relocate_with, Detail, MatchedCand, Outcome, ReloReport,
    RelocateOptions, Relocated, ResolvedTarget, SkipReason, Target, UnprunedMatch,
};
pub use error::{MalformedBtf, ObjectError, ReloError, ReloErrorKind};
pub use ext::{BtfExt, CoreRelo};
pub use kind::RelocKind;
pub use object::{BpfObject, MapDef, Program, Section};
pub use patch::{Patch, PatchedField, PoisonReason};
