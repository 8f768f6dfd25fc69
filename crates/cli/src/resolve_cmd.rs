//! `btfkit resolve`: which BTF this host would get, rung by rung, with the
//! host facts and key kernel config values.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use btfkit_resolver::{
    Kconfig, KernelInfo, Outcome, ResolveError, ResolvedBtf, Resolver, Rung, Source, Step,
};
use clap::Args;
use serde_json::{json, Value};

#[derive(Args)]
pub struct ResolveArgs {
    /// Bundle for the last rung.
    #[arg(long, value_name = "BUNDLE")]
    bundle: Option<PathBuf>,
    /// One JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Try every rung, not only up to the first that works (the first
    /// still wins).
    #[arg(long)]
    all: bool,
    /// Also write the chosen BTF here.
    #[arg(short, long, value_name = "OUT")]
    output: Option<PathBuf>,
}

/// Kernel options an eBPF tool cares about (the ones Tracee reports).
const KEY_OPTIONS: &[&str] = &[
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

fn version_text(code: u32) -> String {
    format!("{}.{}.{}", code >> 16, (code >> 8) & 0xff, code & 0xff)
}

fn outcome_json(o: &Outcome) -> (&'static str, Value) {
    match o {
        Outcome::Found { size } => ("found", json!({ "size": size })),
        Outcome::Absent(why) => ("absent", json!({ "reason": why })),
        Outcome::Failed(why) => ("failed", json!({ "reason": why })),
        Outcome::NotTried => ("not tried", json!({})),
    }
}

fn host_json(h: &KernelInfo) -> Value {
    json!({
        "release": h.release,
        "machine": h.machine,
        "arch": h.arch,
        "os_release": h.os.as_ref().map(|o| json!({
            "id": o.id, "version_id": o.version_id, "pretty_name": o.pretty_name,
            "path": o.path.display().to_string(),
        })),
        "os_release_error": h.os_error,
        "linux_kernel_version": h.version_code,
        "version_signature": h.version_signature,
    })
}

fn source_json(s: &Source, size: usize) -> Value {
    let (kind, what) = match s {
        Source::EnvFile(p) => ("env_file", p.display().to_string()),
        Source::Sysfs(p) => ("sysfs", p.display().to_string()),
        Source::Fallback(p) => ("vmlinux_file", p.display().to_string()),
        Source::Bundle { key } => ("bundle", key.clone()),
    };
    json!({ "kind": kind, "what": what, "size": size })
}

fn steps_json(steps: &[Step]) -> Value {
    steps
        .iter()
        .map(|s| {
            let (o, mut detail) = outcome_json(&s.outcome);
            detail["rung"] = json!(s.rung.to_string());
            detail["what"] = json!(s.what);
            detail["outcome"] = json!(o);
            detail
        })
        .collect()
}

/// Tracee's one-line view: which kinds of source exist on this host.
fn availability(steps: &[Step]) -> String {
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

fn text_report(
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
                        k.diagnostics.len(),
                        k.diagnostics[0].line,
                        k.diagnostics[0].message
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

pub fn run(a: ResolveArgs) -> Result<()> {
    let bundle = match &a.bundle {
        Some(p) => Some(std::fs::read(p).with_context(|| format!("{}", p.display()))?),
        None => None,
    };
    let mut resolver = Resolver::new().try_all(a.all);
    if let Some(b) = &bundle {
        resolver = resolver.bundle(b);
    }
    let result = resolver.resolve();
    let (host, steps, warnings, chosen): (&KernelInfo, &[Step], &[String], Option<&ResolvedBtf>) =
        match &result {
            Ok(r) => (&r.host, &r.steps, &r.warnings, Some(r)),
            Err(e @ ResolveError::NotFound { warnings, .. }) => {
                (e.host(), e.steps(), warnings, None)
            }
            Err(e) => (e.host(), e.steps(), &[], None),
        };
    let kconfig = Kconfig::load(resolver.host(), &host.release).map_err(|e| e.to_string());
    if a.json {
        let kc = match &kconfig {
            Ok(k) => json!({
                "source": k.source.display().to_string(),
                "options": k.len(),
                "values": KEY_OPTIONS.iter().map(|o| (o.to_string(), json!(k.get(o).map(|v| v.to_string())))).collect::<serde_json::Map<_, _>>(),
                "diagnostics": k.diagnostics.iter().map(|d| json!({"line": d.line, "message": d.message})).collect::<Vec<_>>(),
            }),
            Err(e) => json!({ "error": e }),
        };
        let v = json!({
            "host": host_json(host),
            "steps": steps_json(steps),
            "chosen": chosen.map(|r| source_json(&r.source, r.bytes.len())),
            "warnings": warnings,
            "kconfig": kc,
            "error": result.as_ref().err().map(|e| e.to_string()),
        });
        println!("{v}");
    } else {
        print!(
            "{}",
            text_report(
                host,
                steps,
                chosen.map(|r| (&r.source, r.bytes.len())),
                warnings,
                &kconfig
            )
        );
    }
    let r = match result {
        Ok(r) => r,
        Err(e) => bail!("{e}"),
    };
    if let Some(out) = &a.output {
        std::fs::write(out, &*r.bytes).with_context(|| format!("{}", out.display()))?;
    }
    Ok(())
}
