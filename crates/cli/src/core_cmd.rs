//! `btfkit core ...`: CO-RE relocation of BPF objects.

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use btfkit_core::{
    relocate_with, BpfObject, Detail, Outcome, ReloReport, RelocateOptions, Relocated, SkipReason,
    Target,
};
use clap::{Args, Subcommand};

use crate::target::{read_object, with_target, TargetBtfArgs};

#[derive(Subcommand)]
pub enum CoreCommand {
    /// Show every CO-RE relocation of an object and how it resolves
    /// against a target BTF: one line per relocation.
    ///
    /// Example: btfkit core explain prog.bpf.o --btf /sys/kernel/btf/vmlinux
    Explain(ExplainArgs),
    /// Write the object with every CO-RE relocation applied for the target.
    ///
    /// Example: btfkit core apply prog.bpf.o --btf 6.1.0-56-amd64.btf.tar.xz -o prog.6.1.o
    Apply(ApplyArgs),
    /// The portability matrix: whether every program of the objects loads
    /// on every kernel of an archive, a bundle or one BTF (CO-RE
    /// relocations followed through the relocated code, helpers, kfuncs,
    /// map and program types, attach targets); fails when a loaded program
    /// fails on some kernel.
    ///
    /// Example: btfkit core check prog.bpf.o --archive btfhub-archive --programs
    Check(CheckArgs),
}

pub use crate::check_cmd::CheckArgs;

/// The object and the BTF it is relocated against.
#[derive(Args)]
pub struct TargetArgs {
    /// BPF object file (ELF, as built by clang -target bpf -g).
    pub object: PathBuf,
    #[command(flatten)]
    pub target: TargetBtfArgs,
    /// Also relocate programs libbpf does not load by default (SEC("?...")).
    #[arg(long, conflicts_with = "program")]
    pub all_programs: bool,
    /// Relocate only this program (repeatable), as libbpf loads an object
    /// with autoload on for these programs only (`SEC("?...")` ones too)
    /// and off for the rest: the others' relocations are neither decided
    /// nor applied, so one of them failing does not stop these.
    #[arg(long, value_name = "NAME")]
    pub program: Vec<String>,
}

#[derive(Args)]
pub struct ExplainArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// One JSON object per relocation instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// Where to write the relocated object.
    #[arg(short, long, value_name = "OUT")]
    output: PathBuf,
    /// Keep the CO-RE records in .BTF.ext (a loader would then relocate the
    /// already patched instructions again and reject them).
    #[arg(long)]
    keep_core_relos: bool,
}

pub fn run(cmd: CoreCommand) -> Result<()> {
    match cmd {
        CoreCommand::Check(a) => crate::check_cmd::run(a),
        CoreCommand::Explain(a) => with_relocated(&a.target, true, |obj, target, rel| {
            let mut out = BufWriter::new(crate::output::stdout());
            for r in &rel.reports {
                if a.json {
                    writeln!(out, "{}", report_json(r, target))?;
                } else {
                    writeln!(out, "{}", report_line(r, target))?;
                }
            }
            out.flush()?;
            let _ = obj;
            Ok(())
        }),
        // Errors name relocations by section and number: no descriptions.
        CoreCommand::Apply(a) => with_relocated(&a.target, false, |obj, target, rel| {
            if let Some(e) = rel.failures().next() {
                bail!("{}: {e}", a.target.object.display());
            }
            let bytes = btfkit_core::write_relocated(obj, rel, !a.keep_core_relos);
            let mut inputs = vec![a.target.object.as_path()];
            inputs.extend(a.target.target.inputs());
            crate::output::write(&a.output, &bytes, &inputs)?;
            let patched = rel
                .reports
                .iter()
                .filter(|r| matches!(r.outcome, Outcome::Done { .. }))
                .count();
            eprintln!("{}: {patched} relocations applied", a.output.display());
            let _ = target;
            Ok(())
        }),
    }
}

/// Loads the object and the target, relocates (describing every
/// relocation in words with `describe`), and runs `f`.
fn with_relocated(
    a: &TargetArgs,
    describe: bool,
    f: impl FnOnce(&BpfObject<'_>, &Target<'_>, &Relocated) -> Result<()>,
) -> Result<()> {
    let obj_bytes = read_object(&a.object)?;
    let obj = BpfObject::parse(&obj_bytes).with_context(|| format!("{}", a.object.display()))?;
    if obj.btf_ext().is_none() {
        return Err(btfkit_core::ObjectError::NoBtfExt)
            .with_context(|| format!("{}", a.object.display()));
    }
    let known: Vec<&str> = obj
        .programs()
        .iter()
        .filter(|p| !p.is_subprog)
        .map(|p| p.name.as_str())
        .collect();
    if let Some(bad) = a.program.iter().find(|n| !known.contains(&n.as_str())) {
        bail!(
            "{}: no program named {bad:?} (programs: {})",
            a.object.display(),
            known.join(", ")
        );
    }
    with_target(&a.target, |target| {
        let opts = RelocateOptions {
            include_non_autoload: a.all_programs || !a.program.is_empty(),
            only_programs: (!a.program.is_empty()).then(|| a.program.clone()),
        };
        let detail = Detail {
            describe,
            ..Detail::default()
        };
        let rel = relocate_with(&obj, target, &opts, detail);
        f(&obj, target, &rel)
    })
}

fn where_(r: &ReloReport) -> String {
    match (&r.program, r.prog_insn_idx) {
        (Some(p), Some(i)) => format!("{} {p} insn #{i}", r.section),
        _ => format!("{} insn #{} (section)", r.section, r.insn_idx),
    }
}

fn kind_name(r: &ReloReport) -> String {
    r.kind
        .map_or_else(|| format!("kind#{}", r.raw_kind), |k| k.name().to_string())
}

/// One line: where, which relocation, the local spec, the target and the result.
pub fn report_line(r: &ReloReport, target: &Target<'_>) -> String {
    let local = r
        .local_spec
        .clone()
        .unwrap_or_else(|| format!("[{}]", r.local_type));
    let head = format!(
        "{} relo #{} {} {} ({})",
        where_(r),
        r.index,
        kind_name(r),
        local,
        r.access
    );
    match &r.outcome {
        Outcome::Skipped(SkipReason::NoProgram) => {
            format!("{head}: skipped: instruction is in no program")
        }
        Outcome::Skipped(SkipReason::NotAutoloaded) => {
            format!("{head}: skipped: program is not loaded by default")
        }
        Outcome::Failed(e) => format!("{head}: error: {e}"),
        Outcome::Done {
            res,
            target: t,
            matched,
            patch,
        } => {
            let tgt = match t {
                Some(t) => {
                    let (name, _) = target.btf(t.btf_idx);
                    let extra = if matched.len() > 1 {
                        format!(", {} candidates agree", matched.len())
                    } else {
                        String::new()
                    };
                    let btf = if t.btf_idx > 0 {
                        format!("{name}:")
                    } else {
                        String::new()
                    };
                    let paren = match (t.raw.is_empty(), extra.is_empty()) {
                        (true, true) => String::new(),
                        (true, false) => format!(" ({})", &extra[2..]),
                        (false, _) => format!(" ({}{extra})", t.raw),
                    };
                    format!(" -> [{btf}{}] {}{paren}", t.type_id, t.spec)
                }
                None if r
                    .kind
                    .is_some_and(|k| k == btfkit_core::RelocKind::TypeIdLocal) =>
                {
                    String::new()
                }
                None => " -> no target".to_string(),
            };
            match patch {
                btfkit_core::Patch::Poisoned(why) => format!("{head}{tgt}: poisoned: {why}"),
                btfkit_core::Patch::Value {
                    old, new, mem_size, ..
                } => {
                    let sz =
                        mem_size.map_or(String::new(), |(a, b)| format!(" (load size {a} -> {b})"));
                    let _ = res;
                    format!("{head}{tgt}: {old} -> {new}{sz}")
                }
            }
        }
    }
}

pub fn report_json(r: &ReloReport, target: &Target<'_>) -> serde_json::Value {
    let mut v = serde_json::json!({
        "section": &*r.section,
        "program": r.program.as_deref(),
        "insn": r.prog_insn_idx,
        "section_insn": r.insn_idx,
        "relo": r.index,
        "kind": kind_name(r),
        "local_type_id": r.local_type.0,
        "access": &*r.access,
        "local_spec": r.local_spec,
    });
    let m = v.as_object_mut().expect("object");
    match &r.outcome {
        Outcome::Skipped(why) => {
            m.insert("result".into(), "skipped".into());
            m.insert(
                "reason".into(),
                match why {
                    SkipReason::NoProgram => "no program",
                    SkipReason::NotAutoloaded => "not autoloaded",
                }
                .into(),
            );
        }
        Outcome::Failed(e) => {
            m.insert("result".into(), "error".into());
            m.insert("error".into(), e.to_string().into());
            m.insert("errno".into(), (-e.errno()).into());
        }
        Outcome::Done {
            res,
            target: t,
            matched,
            patch,
        } => {
            if let Some(t) = t {
                m.insert(
                    "target".into(),
                    serde_json::json!({
                        "btf": target.btf(t.btf_idx).0,
                        "type_id": t.type_id.0,
                        "spec": t.spec,
                        "raw": t.raw,
                    }),
                );
            }
            m.insert("candidates".into(), matched.len().into());
            m.insert("orig".into(), res.orig_val.into());
            m.insert("new".into(), res.new_val.into());
            match patch {
                btfkit_core::Patch::Poisoned(why) => {
                    m.insert("result".into(), "poisoned".into());
                    m.insert("reason".into(), why.to_string().into());
                }
                btfkit_core::Patch::Value {
                    field,
                    old,
                    new,
                    mem_size,
                } => {
                    m.insert("result".into(), "patched".into());
                    m.insert("insn_class".into(), field.class_name().into());
                    m.insert("insn_old".into(), (*old).into());
                    m.insert("insn_new".into(), (*new).into());
                    if let Some((a, b)) = mem_size {
                        m.insert("mem_size".into(), serde_json::json!([a, b]));
                    }
                }
            }
        }
    }
    v
}
