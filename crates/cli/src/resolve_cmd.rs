//! `btfkit resolve`: which BTF this host would get, rung by rung, with the
//! host facts and key kernel config values.

use std::path::PathBuf;

use anyhow::{bail, Result};
use btfkit_btf::input::{self, Limit};
use btfkit_resolver::{
    Kconfig, KernelInfo, Outcome, ResolveError, ResolvedBtf, Resolver, Source, Step,
};
use clap::Args;
use serde_json::{json, Value};

#[derive(Args)]
pub struct ResolveArgs {
    /// Bundle for the last rung (default: the one built into btfkit for
    /// `btfkit trace`).
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
    /// Run this command (and the arguments after it) with the chosen BTF
    /// in a sealed memory file, nothing written to disk: its path
    /// (/proc/self/fd/N) is in BTFKIT_BTF_PATH and replaces `{btf}` in
    /// the arguments, for libbpf's btf_custom_path. Prints no report
    /// unless no BTF is found (then on stderr).
    #[arg(long, value_name = "CMD", num_args = 1.., allow_hyphen_values = true,
          conflicts_with_all = ["json", "output"])]
    exec: Option<Vec<std::ffi::OsString>>,
}

/// The environment variable that tells a command run by `--exec` where
/// the BTF is.
pub const BTF_PATH_ENV: &str = "BTFKIT_BTF_PATH";

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

pub fn run(a: ResolveArgs) -> Result<()> {
    let bundle = match &a.bundle {
        // The error names the file.
        Some(p) => Some(input::read(p, Limit::Large)?),
        None => None,
    };
    let resolver = Resolver::new()
        .try_all(a.all)
        .bundle(bundle.as_deref().unwrap_or(btfkit_tracer::BUNDLE));
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
    if let Some(command) = &a.exec {
        return match &result {
            Ok(r) => exec_with_btf(r, command),
            Err(e) => {
                let report = btfkit_resolver::report::text(host, steps, None, warnings, &kconfig);
                eprint!("{report}");
                bail!("{e}")
            }
        };
    }
    if a.json {
        let kc = match &kconfig {
            Ok(k) => json!({
                "source": k.source.display().to_string(),
                "options": k.len(),
                "values": btfkit_resolver::report::KEY_OPTIONS.iter().map(|o| (o.to_string(), json!(k.get(o).map(|v| v.to_string())))).collect::<serde_json::Map<_, _>>(),
                "diagnostics": k.diagnostics.iter().map(|d| json!({"line": d.line, "message": d.message})).collect::<Vec<_>>(),
                "unreadable_lines": k.unreadable_lines,
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
            btfkit_resolver::report::text(
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
        crate::output::write(out, &r.bytes, &[])?;
    }
    Ok(())
}

/// Replaces this process with `command`, the BTF in a sealed memory file
/// it inherits. Returns only on failure.
fn exec_with_btf(r: &ResolvedBtf, command: &[std::ffi::OsString]) -> Result<()> {
    use std::os::unix::process::CommandExt;
    for w in &r.warnings {
        eprintln!("btfkit resolve: warning: {w}");
    }
    let fd = btfkit_resolver::SealedBtf::new(&r.bytes)?.into_inherited()?;
    let path = btfkit_resolver::fd_path(std::os::fd::AsFd::as_fd(&fd));
    let (program, args) = command.split_first().expect("clap requires a command");
    let args = args.iter().map(|a| {
        if a == "{btf}" {
            path.clone().into_os_string()
        } else {
            a.clone()
        }
    });
    let e = std::process::Command::new(program)
        .args(args)
        .env(BTF_PATH_ENV, &path)
        .exec();
    bail!("running {}: {e}", program.to_string_lossy())
}
