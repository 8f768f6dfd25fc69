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

use btfkit_btf::Kind;
use btfkit_core::bpf_tables::{HELPERS, MAP_TYPES};
use btfkit_core::Target;

use super::isa::InsnSet;

pub(super) struct TargetFacts {
    helpers: Option<Enumerators>,
    map_types: Option<Enumerators>,
    pub prog_types: Option<HashSet<String>>,
    /// Names of FUNCs, when the BTF has any.
    funcs: Option<HashSet<String>>,
    /// Names of `btf_trace_*` typedefs, when the BTF has any.
    trace_typedefs: Option<HashSet<String>>,
    /// What the kernel's version says of its instruction set (set by the
    /// caller, who knows the release).
    pub insn_set: Option<InsnSet>,
}

struct Enumerators {
    names: HashSet<String>,
    values: HashSet<i128>,
}

impl TargetFacts {
    pub fn new(target: &Target<'_>) -> TargetFacts {
        let mut funcs = HashSet::new();
        let mut trace = HashSet::new();
        let mut enums = [None, None, None];
        for i in 0..target.btf_count() {
            let (_, btf) = target.btf(i);
            for t in btf.types() {
                let Ok(name) = btf.name_of(&t) else { continue };
                match t.kind() {
                    Kind::Func => {
                        funcs.insert(name.to_string());
                    }
                    Kind::Typedef if name.starts_with("btf_trace_") => {
                        trace.insert(name.to_string());
                    }
                    Kind::Enum | Kind::Enum64 if i == 0 => {
                        let slot = match name {
                            "bpf_func_id" => 0,
                            "bpf_map_type" => 1,
                            "bpf_prog_type" => 2,
                            _ => continue,
                        };
                        if let Ok(vs) = btf.enum_values_named(t.id()) {
                            enums[slot] = Some(Enumerators {
                                names: vs.iter().map(|(n, _)| n.to_string()).collect(),
                                values: vs.iter().map(|(_, v)| *v).collect(),
                            });
                        }
                    }
                    _ => {}
                }
            }
        }
        // An enum a minimizer cut down to some enumerators says nothing
        // about the others: trust only enums with their oldest members.
        let oldest = [
            "BPF_FUNC_map_lookup_elem",
            "BPF_MAP_TYPE_HASH",
            "BPF_PROG_TYPE_SOCKET_FILTER",
        ];
        for (e, first) in enums.iter_mut().zip(oldest) {
            if e.as_ref().is_some_and(|e| !e.names.contains(first)) {
                *e = None;
            }
        }
        let [helpers, map_types, prog_types] = enums;
        TargetFacts {
            helpers,
            map_types,
            prog_types: prog_types.map(|e| e.names),
            funcs: (!funcs.is_empty()).then_some(funcs),
            trace_typedefs: (!trace.is_empty()).then_some(trace),
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
        self.funcs.as_ref().is_none_or(|f| f.contains(name))
    }

    /// Whether a `btf_trace_*` typedef exists (true when there are none
    /// at all).
    pub fn has_typedef(&self, name: &str) -> bool {
        self.trace_typedefs
            .as_ref()
            .is_none_or(|f| f.contains(name))
    }
}
