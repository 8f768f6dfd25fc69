//! Program types and BTF attach targets from section names, as libbpf's
//! `section_defs` table maps them (the subset that names a program type;
//! unknown sections give nothing).

/// What a section name says about a program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecDef {
    /// `enum bpf_prog_type` enumerator.
    pub prog_type: &'static str,
    /// A BTF object the kernel must have to load it.
    pub attach: Option<AttachTarget>,
}

/// A load-time BTF attach target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttachTarget {
    /// `FUNC` or `TYPEDEF`.
    pub kind: AttachKind,
    /// The name to find in the target BTF.
    pub name: String,
}

/// The BTF kind of an attach target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttachKind {
    /// A `BTF_KIND_FUNC` (fentry/fexit/fmod_ret, lsm, iter targets).
    Func,
    /// A `BTF_KIND_TYPEDEF` (the `btf_trace_<tp>` typedef of a `tp_btf`
    /// program).
    Typedef,
}

/// Prefix (up to `/` when it ends with one), program type, how the rest
/// names an attach target.
const DEFS: &[(&str, &str, Attach)] = &[
    ("socket", "BPF_PROG_TYPE_SOCKET_FILTER", Attach::No),
    ("sk_reuseport", "BPF_PROG_TYPE_SK_REUSEPORT", Attach::No),
    ("kprobe", "BPF_PROG_TYPE_KPROBE", Attach::No),
    ("uprobe", "BPF_PROG_TYPE_KPROBE", Attach::No),
    ("kretprobe", "BPF_PROG_TYPE_KPROBE", Attach::No),
    ("uretprobe", "BPF_PROG_TYPE_KPROBE", Attach::No),
    ("kprobe.multi", "BPF_PROG_TYPE_KPROBE", Attach::No),
    ("kretprobe.multi", "BPF_PROG_TYPE_KPROBE", Attach::No),
    ("uprobe.multi", "BPF_PROG_TYPE_KPROBE", Attach::No),
    ("uretprobe.multi", "BPF_PROG_TYPE_KPROBE", Attach::No),
    ("ksyscall", "BPF_PROG_TYPE_KPROBE", Attach::No),
    ("kretsyscall", "BPF_PROG_TYPE_KPROBE", Attach::No),
    ("usdt", "BPF_PROG_TYPE_KPROBE", Attach::No),
    ("tc", "BPF_PROG_TYPE_SCHED_CLS", Attach::No),
    ("tcx", "BPF_PROG_TYPE_SCHED_CLS", Attach::No),
    ("classifier", "BPF_PROG_TYPE_SCHED_CLS", Attach::No),
    ("action", "BPF_PROG_TYPE_SCHED_ACT", Attach::No),
    ("tracepoint", "BPF_PROG_TYPE_TRACEPOINT", Attach::No),
    ("tp", "BPF_PROG_TYPE_TRACEPOINT", Attach::No),
    ("raw_tracepoint", "BPF_PROG_TYPE_RAW_TRACEPOINT", Attach::No),
    ("raw_tp", "BPF_PROG_TYPE_RAW_TRACEPOINT", Attach::No),
    (
        "raw_tracepoint.w",
        "BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE",
        Attach::No,
    ),
    (
        "raw_tp.w",
        "BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE",
        Attach::No,
    ),
    (
        "tp_btf",
        "BPF_PROG_TYPE_TRACING",
        Attach::Prefixed("btf_trace_", AttachKind::Typedef),
    ),
    (
        "fentry",
        "BPF_PROG_TYPE_TRACING",
        Attach::Prefixed("", AttachKind::Func),
    ),
    (
        "fmod_ret",
        "BPF_PROG_TYPE_TRACING",
        Attach::Prefixed("", AttachKind::Func),
    ),
    (
        "fexit",
        "BPF_PROG_TYPE_TRACING",
        Attach::Prefixed("", AttachKind::Func),
    ),
    (
        "fentry.s",
        "BPF_PROG_TYPE_TRACING",
        Attach::Prefixed("", AttachKind::Func),
    ),
    (
        "fmod_ret.s",
        "BPF_PROG_TYPE_TRACING",
        Attach::Prefixed("", AttachKind::Func),
    ),
    (
        "fexit.s",
        "BPF_PROG_TYPE_TRACING",
        Attach::Prefixed("", AttachKind::Func),
    ),
    ("freplace", "BPF_PROG_TYPE_EXT", Attach::No),
    (
        "lsm",
        "BPF_PROG_TYPE_LSM",
        Attach::Prefixed("bpf_lsm_", AttachKind::Func),
    ),
    (
        "lsm.s",
        "BPF_PROG_TYPE_LSM",
        Attach::Prefixed("bpf_lsm_", AttachKind::Func),
    ),
    (
        "lsm_cgroup",
        "BPF_PROG_TYPE_LSM",
        Attach::Prefixed("bpf_lsm_", AttachKind::Func),
    ),
    (
        "iter",
        "BPF_PROG_TYPE_TRACING",
        Attach::Prefixed("bpf_iter_", AttachKind::Func),
    ),
    (
        "iter.s",
        "BPF_PROG_TYPE_TRACING",
        Attach::Prefixed("bpf_iter_", AttachKind::Func),
    ),
    ("syscall", "BPF_PROG_TYPE_SYSCALL", Attach::No),
    ("xdp", "BPF_PROG_TYPE_XDP", Attach::No),
    ("xdp.frags", "BPF_PROG_TYPE_XDP", Attach::No),
    ("perf_event", "BPF_PROG_TYPE_PERF_EVENT", Attach::No),
    ("cgroup_skb", "BPF_PROG_TYPE_CGROUP_SKB", Attach::No),
    ("cgroup/skb", "BPF_PROG_TYPE_CGROUP_SKB", Attach::No),
    (
        "cgroup/sock_create",
        "BPF_PROG_TYPE_CGROUP_SOCK",
        Attach::No,
    ),
    (
        "cgroup/sock_release",
        "BPF_PROG_TYPE_CGROUP_SOCK",
        Attach::No,
    ),
    ("cgroup/sock", "BPF_PROG_TYPE_CGROUP_SOCK", Attach::No),
    ("cgroup/post_bind4", "BPF_PROG_TYPE_CGROUP_SOCK", Attach::No),
    ("cgroup/post_bind6", "BPF_PROG_TYPE_CGROUP_SOCK", Attach::No),
    ("cgroup/dev", "BPF_PROG_TYPE_CGROUP_DEVICE", Attach::No),
    ("sockops", "BPF_PROG_TYPE_SOCK_OPS", Attach::No),
    ("sk_skb", "BPF_PROG_TYPE_SK_SKB", Attach::No),
    ("sk_msg", "BPF_PROG_TYPE_SK_MSG", Attach::No),
    ("lirc_mode2", "BPF_PROG_TYPE_LIRC_MODE2", Attach::No),
    ("flow_dissector", "BPF_PROG_TYPE_FLOW_DISSECTOR", Attach::No),
    ("cgroup/bind4", "BPF_PROG_TYPE_CGROUP_SOCK_ADDR", Attach::No),
    ("cgroup/bind6", "BPF_PROG_TYPE_CGROUP_SOCK_ADDR", Attach::No),
    (
        "cgroup/connect4",
        "BPF_PROG_TYPE_CGROUP_SOCK_ADDR",
        Attach::No,
    ),
    (
        "cgroup/connect6",
        "BPF_PROG_TYPE_CGROUP_SOCK_ADDR",
        Attach::No,
    ),
    (
        "cgroup/sendmsg4",
        "BPF_PROG_TYPE_CGROUP_SOCK_ADDR",
        Attach::No,
    ),
    (
        "cgroup/sendmsg6",
        "BPF_PROG_TYPE_CGROUP_SOCK_ADDR",
        Attach::No,
    ),
    (
        "cgroup/recvmsg4",
        "BPF_PROG_TYPE_CGROUP_SOCK_ADDR",
        Attach::No,
    ),
    (
        "cgroup/recvmsg6",
        "BPF_PROG_TYPE_CGROUP_SOCK_ADDR",
        Attach::No,
    ),
    (
        "cgroup/getpeername4",
        "BPF_PROG_TYPE_CGROUP_SOCK_ADDR",
        Attach::No,
    ),
    (
        "cgroup/getpeername6",
        "BPF_PROG_TYPE_CGROUP_SOCK_ADDR",
        Attach::No,
    ),
    (
        "cgroup/getsockname4",
        "BPF_PROG_TYPE_CGROUP_SOCK_ADDR",
        Attach::No,
    ),
    (
        "cgroup/getsockname6",
        "BPF_PROG_TYPE_CGROUP_SOCK_ADDR",
        Attach::No,
    ),
    ("cgroup/sysctl", "BPF_PROG_TYPE_CGROUP_SYSCTL", Attach::No),
    (
        "cgroup/getsockopt",
        "BPF_PROG_TYPE_CGROUP_SOCKOPT",
        Attach::No,
    ),
    (
        "cgroup/setsockopt",
        "BPF_PROG_TYPE_CGROUP_SOCKOPT",
        Attach::No,
    ),
    ("struct_ops", "BPF_PROG_TYPE_STRUCT_OPS", Attach::No),
    ("sk_lookup", "BPF_PROG_TYPE_SK_LOOKUP", Attach::No),
    ("lwt_in", "BPF_PROG_TYPE_LWT_IN", Attach::No),
    ("lwt_out", "BPF_PROG_TYPE_LWT_OUT", Attach::No),
    ("lwt_xmit", "BPF_PROG_TYPE_LWT_XMIT", Attach::No),
    ("lwt_seg6local", "BPF_PROG_TYPE_LWT_SEG6LOCAL", Attach::No),
    ("netfilter", "BPF_PROG_TYPE_NETFILTER", Attach::No),
];

#[derive(Clone, Copy, Debug)]
enum Attach {
    No,
    /// The part after `prefix/` names the target, with this prefix added.
    Prefixed(&'static str, AttachKind),
}

/// The program type and attach target of a section name (without `?`):
/// the longest table entry that is the whole name or is followed by `/`
/// (and `cgroup/...` entries, which are whole names or prefixes).
pub fn sec_def(section: &str) -> Option<SecDef> {
    let (prefix, ptype, attach) = DEFS
        .iter()
        .filter(|(p, _, _)| {
            section == *p
                || section
                    .strip_prefix(p)
                    .is_some_and(|rest| rest.starts_with('/'))
        })
        .max_by_key(|(p, _, _)| p.len())?;
    let rest = section[prefix.len()..].strip_prefix('/').unwrap_or("");
    let attach = match attach {
        Attach::Prefixed(pre, kind) if !rest.is_empty() && !rest.contains(':') => {
            Some(AttachTarget {
                kind: *kind,
                name: format!("{pre}{rest}"),
            })
        }
        _ => None,
    };
    Some(SecDef {
        prog_type: ptype,
        attach,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn section_names() {
        let d = sec_def("fentry/do_unlinkat").unwrap();
        assert_eq!(d.prog_type, "BPF_PROG_TYPE_TRACING");
        assert_eq!(d.attach.unwrap().name, "do_unlinkat");
        let d = sec_def("tp_btf/sched_switch").unwrap();
        assert_eq!(
            d.attach,
            Some(AttachTarget {
                kind: AttachKind::Typedef,
                name: "btf_trace_sched_switch".into()
            })
        );
        assert_eq!(
            sec_def("lsm/file_open").unwrap().attach.unwrap().name,
            "bpf_lsm_file_open"
        );
        assert_eq!(
            sec_def("iter/task").unwrap().attach.unwrap().name,
            "bpf_iter_task"
        );
        assert_eq!(
            sec_def("kprobe/do_sys_open").unwrap().prog_type,
            "BPF_PROG_TYPE_KPROBE"
        );
        assert_eq!(
            sec_def("raw_tp.w/x").unwrap().prog_type,
            "BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE"
        );
        assert_eq!(sec_def("xdp").unwrap().prog_type, "BPF_PROG_TYPE_XDP");
        assert_eq!(sec_def("fentry/mod:func").unwrap().attach, None);
        assert!(sec_def("my_section").is_none());
        assert!(sec_def("kprobex").is_none());
    }
}
