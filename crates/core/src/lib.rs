//! # btfkit-core
//!
//! The CO-RE layer of btfkit: a reader for relocatable BPF ELF objects
//! (programs, maps, `.BTF`, `.BTF.ext`) and a relocation engine that
//! computes every CO-RE relocation kind with libbpf's semantics —
//! candidate search by essential name, field/type compatibility,
//! TYPE_MATCHES, candidate pruning, ambiguity errors, instruction
//! validation, patching and poisoning — against a vmlinux BTF and,
//! optionally, module BTFs.

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
pub use error::{ObjectError, ReloError, ReloErrorKind};
pub use ext::{BtfExt, CoreRelo};
pub use kind::RelocKind;
pub use object::{BpfObject, MapDef, Program, Section};
pub use patch::{Patch, PatchedField, PoisonReason};
