//! What a kernel's BTF says beyond CO-RE: the helpers, map types and
//! program types its uapi enums list, and whether functions and typedefs
//! (attach targets, kfuncs) exist.
//!
//! Objects carry helper ids and map type numbers, not names: names come
//! from the tables generated from linux/bpf.h
//! ([`btfkit_core::bpf_tables`]) and are looked up as enumerators of the
//! kernel's enums. Where the kernel's BTF lacks an enum or has no
//! functions at all (a minimized BTF, or one pahole wrote without them),
//! nothing is concluded.

use std::collections::HashSet;

use btfkit_btf::{Btf, Kind};
use btfkit_core::bpf_tables::{HELPERS, MAP_TYPES};
use btfkit_core::Target;

use super::isa::InsnSet;

pub(super) struct TargetFacts<'t> {
    helpers: Option<Enumerators>,
    map_types: Option<Enumerators>,
    pub prog_types: Option<HashSet<String>>,
    /// The target's BTFs that have FUNCs (none: nothing is concluded).
    /// Looked up through their name indexes, which candidate search
    /// builds anyway: copying a kernel's ~60,000 function names into a
    /// set cost more than judging a large object's programs.
    func_btfs: Vec<&'t Btf<'t>>,
    /// The target's BTFs that have `btf_trace_*` typedefs.
    trace_btfs: Vec<&'t Btf<'t>>,
    /// What the kernel's version says of its instruction set (set by the
    /// caller, who knows the release).
    pub insn_set: Option<InsnSet>,
}

struct Enumerators {
    names: HashSet<String>,
    values: HashSet<i128>,
}

impl<'t> TargetFacts<'t> {
    pub fn new(target: &Target<'t>) -> TargetFacts<'t> {
        let mut func_btfs = Vec::new();
        let mut trace_btfs = Vec::new();
        for i in 0..target.btf_count() {
            let (_, btf) = target.btf(i);
            if btf.types().any(|t| t.kind() == Kind::Func) {
                func_btfs.push(btf);
            }
            let is_trace = |t: &btfkit_btf::Type<'_>| {
                t.kind() == Kind::Typedef
                    && btf
                        .str_bytes(t.name_off())
                        .is_ok_and(|n| n.starts_with(b"btf_trace_"))
            };
            if btf.types().any(|t| is_trace(&t)) {
                trace_btfs.push(btf);
            }
        }
        let vmlinux = target.vmlinux();
        let enumerators = |name: &str, oldest: &str| {
            let id = vmlinux
                .find_first(name, Kind::Enum)
                .or_else(|| vmlinux.find_first(name, Kind::Enum64))?;
            let vs = vmlinux.enum_values_named(id).ok()?;
            let e = Enumerators {
                names: vs.iter().map(|(n, _)| n.to_string()).collect(),
                values: vs.iter().map(|(_, v)| *v).collect(),
            };
            // An enum a minimizer cut down to some enumerators says
            // nothing about the others: trust only enums with their
            // oldest members.
            e.names.contains(oldest).then_some(e)
        };
        TargetFacts {
            helpers: enumerators("bpf_func_id", "BPF_FUNC_map_lookup_elem"),
            map_types: enumerators("bpf_map_type", "BPF_MAP_TYPE_HASH"),
            prog_types: enumerators("bpf_prog_type", "BPF_PROG_TYPE_SOCKET_FILTER")
                .map(|e| e.names),
            func_btfs,
            trace_btfs,
            insn_set: None,
        }
    }

    /// The name of helper `id` when the kernel lacks it (by name; by value
    /// for helpers newer than the table).
    pub fn missing_helper(&self, id: i32) -> Option<String> {
        let e = self.helpers.as_ref()?;
        match HELPERS.iter().find(|(v, _)| *v as i64 == id as i64) {
            Some((_, name)) => {
                let missing = |n: &str| !e.names.contains(n);
                // libbpf calls bpf_probe_read(_str) instead of the
                // _kernel/_user variants on kernels without them (5.5).
                let fallback = match *name {
                    "BPF_FUNC_probe_read_kernel" | "BPF_FUNC_probe_read_user" => {
                        Some("BPF_FUNC_probe_read")
                    }
                    "BPF_FUNC_probe_read_kernel_str" | "BPF_FUNC_probe_read_user_str" => {
                        Some("BPF_FUNC_probe_read_str")
                    }
                    _ => None,
                };
                (missing(name) && fallback.is_none_or(missing)).then(|| name.to_string())
            }
            None => (!e.values.contains(&(id as i128))).then(|| format!("#{id}")),
        }
    }

    /// The name of map type `ty` when the kernel lacks it.
    pub fn missing_map_type(&self, ty: u32) -> Option<String> {
        let e = self.map_types.as_ref()?;
        match MAP_TYPES.iter().find(|(v, _)| *v == ty) {
            Some((_, name)) => (!e.names.contains(*name)).then(|| name.to_string()),
            None => (!e.values.contains(&(ty as i128))).then(|| format!("#{ty}")),
        }
    }

    /// Whether a FUNC of that name exists (true when the BTF lists no
    /// functions at all: then we cannot tell).
    pub fn has_func(&self, name: &str) -> bool {
        self.func_btfs.is_empty() || has_named(&self.func_btfs, name, Kind::Func)
    }

    /// Whether a `btf_trace_*` typedef exists (true when there are none
    /// at all).
    pub fn has_typedef(&self, name: &str) -> bool {
        self.trace_btfs.is_empty() || has_named(&self.trace_btfs, name, Kind::Typedef)
    }
}

/// What a BTF-typed program's context holds on this kernel: its attach
/// target's arguments (8 bytes each) and, for fexit, fmod_ret and lsm,
/// the return value after them.
#[derive(Clone, Debug)]
pub(super) struct CtxArgs {
    /// The function or tracepoint, for messages.
    pub target: String,
    pub args: u32,
    pub retval: bool,
}

impl CtxArgs {
    /// Bytes of context the program may read.
    pub fn size(&self) -> i64 {
        8 * (i64::from(self.args) + i64::from(self.retval))
    }
}

impl TargetFacts<'_> {
    /// The context of a program in `section` when it is BTF-typed and its
    /// attach target's prototype is in the kernel's BTF (`tp_btf`:
    /// `btf_trace_X`, a pointer to a prototype whose first parameter is
    /// the tracepoint's own data; `fentry`/`fexit`/`fmod_ret`/`lsm`: the
    /// function).
    pub fn ctx_args(&self, section: &str) -> Option<CtxArgs> {
        let def = btfkit_core::flow::secdef::sec_def(section)?;
        let t = def.attach?;
        let prefix = section.split('/').next().unwrap_or("");
        let (btfs, kind, skip, retval, target) = match t.kind {
            btfkit_core::flow::secdef::AttachKind::Typedef => {
                let name = t.name.strip_prefix("btf_trace_")?.to_string();
                (&self.trace_btfs, Kind::Typedef, 1, false, name)
            }
            btfkit_core::flow::secdef::AttachKind::Func => {
                let retval = ["fexit", "fmod_ret", "lsm"].contains(&prefix);
                if !["fentry", "fexit", "fmod_ret", "lsm"].contains(&prefix) {
                    return None;
                }
                (&self.func_btfs, Kind::Func, 0, retval, t.name.clone())
            }
        };
        let args = btfs.iter().find_map(|b| {
            let id = b.find_by_name_kind(&t.name, kind).into_iter().next()?;
            let mut ty = b.type_by_id(b.type_by_id(id).ok()?.ref_type()?).ok()?;
            if kind == Kind::Typedef {
                if ty.kind() != Kind::Ptr {
                    return None;
                }
                ty = b.type_by_id(ty.ref_type()?).ok()?;
            }
            (ty.kind() == Kind::FuncProto).then(|| ty.vlen().checked_sub(skip))?
        })?;
        Some(CtxArgs {
            target,
            args,
            retval,
        })
    }
}

/// Whether one of `btfs` has a type of `kind` named `name` among its own
/// types (a split BTF's base is searched as a BTF of its own).
fn has_named(btfs: &[&Btf<'_>], name: &str, kind: Kind) -> bool {
    btfs.iter().any(|b| {
        b.find_by_name_kind(name, kind)
            .iter()
            .any(|&id| id >= b.first_id())
    })
}
