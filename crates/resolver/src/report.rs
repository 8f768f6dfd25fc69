//! The ladder and host facts as text, for `btfkit resolve`, the
//! tracer's `--debug` and error reports.

use std::fmt::Write as _;

use crate::{Kconfig, KernelInfo, Outcome, Rung, Source, Step};

/// Kernel options an eBPF tool cares about (the ones Tracee reports).
pub const KEY_OPTIONS: &[&str] = &[
    "CONFIG_BPF",
    "CONFIG_BPF_SYSCALL",
    "CONFIG_HAVE_EBPF_JIT",
    "CONFIG_BPF_JIT",
    "CONFIG_BPF_JIT_ALWAYS_ON",
    "CONFIG_BPF_LSM",
    "CONFIG_BPF_EVENTS",
    "CONFIG_DEBUG_INFO_BTF",
    "CONFIG_DEBUG_INFO_BTF_MODULES",
    "CONFIG_KPROBES",
    "CONFIG_KPROBE_EVENTS",
    "CONFIG_UPROBES",
    "CONFIG_UPROBE_EVENTS",
    "CONFIG_TRACEPOINTS",
    "CONFIG_FTRACE_SYSCALLS",
];

/// `major.minor.patch` of a `LINUX_KERNEL_VERSION` code.
pub fn version_text(code: u32) -> String {
    format!("{}.{}.{}", code >> 16, (code >> 8) & 0xff, code & 0xff)
}

/// Tracee's one-line view: which kinds of source exist on this host.
pub fn availability(steps: &[Step]) -> String {
    let has = |r: Rung| {
        steps
            .iter()
            .any(|s| s.rung == r && matches!(s.outcome, Outcome::Found { .. }))
    };
    let set = steps
        .iter()
        .any(|s| s.rung == Rung::EnvFile && !matches!(s.outcome, Outcome::Absent(_)));
    format!(
        "BTF: btfenv = {set} sysfs = {} vmlinux_file = {} bundle = {}",
        has(Rung::Sysfs),
        has(Rung::Fallback),
        has(Rung::Bundle)
    )
}

/// Host facts, every rung with its outcome, the choice, warnings and key
/// kernel options, one fact per line.
pub fn text(
    host: &KernelInfo,
    steps: &[Step],
    chosen: Option<(&Source, usize)>,
    warnings: &[String],
    kconfig: &Result<Kconfig, String>,
) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "host     release {:?}, machine {} (arch {})",
        host.release, host.machine, host.arch
    );
    match (&host.os, &host.os_error) {
        (Some(os), _) => {
            let _ = writeln!(
                s,
                "         os-release {} {} ({}){}",
                os.id,
                os.version_id,
                os.path.display(),
                os.pretty_name
                    .as_ref()
                    .map(|p| format!(", {p:?}"))
                    .unwrap_or_default()
            );
        }
        (None, Some(e)) => {
            let _ = writeln!(s, "         os-release unavailable: {e}");
        }
        (None, None) => {}
    }
    match host.version_code {
        Some(v) => {
            let _ = writeln!(
                s,
                "         LINUX_KERNEL_VERSION {} ({v}){}",
                version_text(v),
                host.version_signature
                    .as_ref()
                    .map(|v| format!(", from {v:?}"))
                    .unwrap_or_default()
            );
        }
        None => {
            let _ = writeln!(
                s,
                "         LINUX_KERNEL_VERSION unknown (release is not major.minor.patch)"
            );
        }
    }
    let _ = writeln!(s, "ladder   {}", availability(steps));
    for (i, st) in steps.iter().enumerate() {
        let what = if st.what.is_empty() {
            String::new()
        } else {
            format!(" {}", st.what)
        };
        let _ = writeln!(s, "  {:>2}. {}{what}: {}", i + 1, st.rung, st.outcome);
    }
    match chosen {
        Some((src, size)) => {
            let _ = writeln!(s, "chosen   {src} ({size} bytes)");
        }
        None => {
            let _ = writeln!(s, "chosen   nothing");
        }
    }
    for w in warnings {
        let _ = writeln!(s, "warning  {w}");
    }
    match kconfig {
        Ok(k) => {
            let _ = writeln!(
                s,
                "kconfig  {}: {} options{}",
                k.source.display(),
                k.len(),
                if k.diagnostics.is_empty() {
                    String::new()
                } else {
                    format!(
                        ", {} unreadable lines (first: line {}: {})",
                        k.unreadable_lines, k.diagnostics[0].line, k.diagnostics[0].message
                    )
                }
            );
            let vals: Vec<String> = KEY_OPTIONS
                .iter()
                .map(|o| {
                    format!(
                        "{o}={}",
                        k.get(o).map_or("(unset)".to_string(), |v| v.to_string())
                    )
                })
                .collect();
            for chunk in vals.chunks(3) {
                let _ = writeln!(s, "         {}", chunk.join(" "));
            }
        }
        Err(e) => {
            let _ = writeln!(s, "kconfig  unavailable: {e}");
        }
    }
    s
}
