//! Helpers a program type can never call, whatever the kernel.
//!
//! The verifier asks the program type's `get_func_proto` for every helper
//! call it walks, and refuses ("program of this type cannot use helper")
//! what that type does not offer. The classic tracing types (kprobe,
//! tracepoint, raw tracepoint, perf event) offer the kernel's generic
//! tracing set (`bpf_tracing_func_proto`) plus their own output and stack
//! helpers; the helpers below were only ever added for
//! `BPF_PROG_TYPE_TRACING` (fentry, fexit, tp_btf, iter), LSM and the
//! networking types, in every kernel that has them. A tool that calls one
//! of them from code shared by a `tp_btf` and a `raw_tp` variant (as
//! libbpf-tools' tcppktlat does) loads the first and not the second.
//!
//! Two of them are older than their tracing use: `get_socket_cookie`
//! (networking since 4.12) reached `BPF_PROG_TYPE_TRACING` and LSM
//! programs in 5.12, `sk_storage_get`/`_delete` in 5.11. There the
//! kernel's version decides, where it can be trusted (see `isa`); the
//! enum says nothing.

/// Program types whose helpers are the generic tracing set plus their own.
const CLASSIC_TRACING: &[&str] = &[
    "BPF_PROG_TYPE_KPROBE",
    "BPF_PROG_TYPE_TRACEPOINT",
    "BPF_PROG_TYPE_RAW_TRACEPOINT",
    "BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE",
    "BPF_PROG_TYPE_PERF_EVENT",
];

/// Helper ids never offered to the classic tracing types.
const NOT_FOR_CLASSIC_TRACING: &[i32] = &[
    46,  // get_socket_cookie (networking types; TRACING since 5.12)
    107, // sk_storage_get
    108, // sk_storage_delete
    111, // skb_output
    121, // xdp_output
    126, // seq_printf (iterators)
    127, // seq_write
    136, // skc_to_tcp6_sock
    137, // skc_to_tcp_sock
    138, // skc_to_tcp_timewait_sock
    139, // skc_to_tcp_request_sock
    140, // skc_to_udp6_sock
    147, // d_path
    150, // seq_printf_btf
    162, // sock_from_file
    178, // skc_to_unix_sock
    183, // get_func_arg (trampolines)
    184, // get_func_ret
    185, // get_func_arg_cnt
    188, // xdp_get_buff_len
    196, // skc_to_mptcp_sock
];

/// Whether some program type can never call helper `id`: its call is a
/// site to judge per program.
pub(super) fn restricted(id: i32) -> bool {
    NOT_FOR_CLASSIC_TRACING.contains(&id)
}

/// Types whose helpers are `tracing_prog_func_proto`'s.
const TRAMPOLINE_TYPES: &[&str] = &["BPF_PROG_TYPE_TRACING", "BPF_PROG_TYPE_LSM"];

/// Helpers older than their use by [`TRAMPOLINE_TYPES`]: (id, since).
const TRAMPOLINE_SINCE: &[(i32, (u32, u32))] = &[(46, (5, 12)), (107, (5, 11)), (108, (5, 11))];

const fn kernel(major: u32, minor: u32) -> u32 {
    (major << 16) | (minor << 8)
}

/// Whether a program of `prog_type` (an `enum bpf_prog_type` name) is
/// refused for calling helper `id` by a kernel of `version` (`None`:
/// unknown or not to be trusted).
pub(super) fn refuses(prog_type: &str, id: i32, version: Option<u32>) -> bool {
    if CLASSIC_TRACING.contains(&prog_type) {
        return NOT_FOR_CLASSIC_TRACING.contains(&id);
    }
    if TRAMPOLINE_TYPES.contains(&prog_type) {
        let since = TRAMPOLINE_SINCE.iter().find(|(h, _)| *h == id);
        return matches!((since, version), (Some((_, (a, b))), Some(v)) if v < kernel(*a, *b));
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use btfkit_core::bpf_tables::HELPERS;

    #[test]
    fn ids_are_the_helpers_named() {
        let name = |id: i32| {
            HELPERS
                .iter()
                .find(|(v, _)| *v as i64 == id as i64)
                .map(|(_, n)| *n)
        };
        assert_eq!(name(46), Some("BPF_FUNC_get_socket_cookie"));
        assert_eq!(name(147), Some("BPF_FUNC_d_path"));
        assert_eq!(name(196), Some("BPF_FUNC_skc_to_mptcp_sock"));
        for &id in NOT_FOR_CLASSIC_TRACING {
            assert!(name(id).is_some(), "{id}");
        }
        let v510 = Some(kernel(5, 10) | 200);
        let v61 = Some(kernel(6, 1));
        for v in [None, v510, v61] {
            assert!(refuses("BPF_PROG_TYPE_RAW_TRACEPOINT", 46, v));
            assert!(!refuses("BPF_PROG_TYPE_KPROBE", 14, v)); // get_current_pid_tgid
            assert!(!refuses("BPF_PROG_TYPE_TRACING", 147, v)); // d_path
        }
        // get_socket_cookie reached fentry/tp_btf programs in 5.12.
        assert!(refuses("BPF_PROG_TYPE_TRACING", 46, v510));
        assert!(!refuses("BPF_PROG_TYPE_TRACING", 46, v61));
        assert!(!refuses("BPF_PROG_TYPE_TRACING", 46, None));
        assert!(!refuses("BPF_PROG_TYPE_SCHED_CLS", 46, v510));
    }
}
