//! Which instructions of a relocated program the verifier can reach.
//!
//! After CO-RE relocation, `bpf_core_field_exists()` and friends are
//! constants in the instructions, and the kernel's verifier only walks the
//! branches those constants leave feasible: a poisoned instruction (libbpf's
//! `call 0xbad2310`) fails the load only if some feasible path reaches it.
//! This module decides that by abstract interpretation of the relocated
//! instructions:
//!
//! - [`layout`]: what an object's ELF relocations say about its code,
//!   independent of the kernel: where BPF-to-BPF calls go, which
//!   `ld_imm64` loads a map, a global variable or an extern, which `call`
//!   is a kfunc, and which functions each program pulls in.
//! - [`interp`]: the interpreter. Registers (and simple stack slots) hold
//!   constants, load-time constants we do not know ("config"), pointers to
//!   the stack or to a global section, or anything; conditional jumps on
//!   constants take one edge only. A worklist over block entries joins the
//!   states of incoming edges, per call string of static subprograms.
//! - [`inputs`]: what loads from `.rodata`, `.kconfig` and other sections
//!   read, from a kernel config and `NAME=VALUE` pins.
//! - [`secdef`]: program types and attach targets from section names, as
//!   libbpf maps them.
//!
//! Verdicts are conservative: whatever we cannot decide keeps both edges.

pub mod inputs;
pub mod interp;
pub mod layout;
pub mod secdef;

pub use inputs::{kernel_version_of, rodata_names, Bindings, Kconfig, KconfigValue, LoadConfig};
pub use interp::{analyze, CtxFault, Env, FlowResult, Limits, Malformed, Reach, Val};
pub use layout::{
    btf_map_types, Extern, ExternKind, FuncInfo, LayoutError, LdRef, ProgramLayout, Region,
};
