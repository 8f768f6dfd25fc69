//! `btfkit core ...`: CO-RE relocation of BPF objects.

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use btfkit_btf::{load, Btf};
use btfkit_core::{
    relocate, BpfObject, Outcome, ReloReport, RelocateOptions, Relocated, SkipReason, Target,
};
use clap::{Args, Subcommand};

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
}

/// The object and the BTF it is relocated against.
#[derive(Args)]
pub struct TargetArgs {
    /// BPF object file (ELF, as built by clang -target bpf -g).
    pub object: PathBuf,
    /// Target BTF: vmlinux (raw, ELF, or .btf.tar.xz), or a module's split
    /// BTF together with --base.
    #[arg(long = "btf", value_name = "TARGET")]
    pub btf: PathBuf,
    /// vmlinux BTF when --btf is a module's split BTF (searched first).
    #[arg(short = 'B', long = "base", value_name = "BASE")]
    pub base: Option<PathBuf>,
    /// More module BTFs split on the vmlinux BTF, searched after it.
    #[arg(long = "module", value_name = "MODULE")]
    pub modules: Vec<PathBuf>,
    /// Also relocate programs libbpf does not load by default (SEC("?...")).
    #[arg(long)]
    pub all_programs: bool,
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
        CoreCommand::Explain(a) => with_relocated(&a.target, |obj, target, rel| {
            let mut out = BufWriter::new(io::stdout().lock());
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
        CoreCommand::Apply(a) => with_relocated(&a.target, |obj, target, rel| {
            if let Some(e) = rel.failures().next() {
                bail!("{}: {e}", a.target.object.display());
            }
            let bytes = btfkit_core::apply::write_relocated(obj, rel, !a.keep_core_relos);
            std::fs::write(&a.output, bytes).with_context(|| format!("{}", a.output.display()))?;
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

fn parse_btf<'a>(bytes: &'a [u8], base: Option<&'a Btf<'a>>, path: &Path) -> Result<Btf<'a>> {
    Ok(Btf::parse_any(bytes, base).map_err(|e| e.in_file(path))?)
}

/// Loads the object and the target, relocates, and runs `f`.
fn with_relocated(
    a: &TargetArgs,
    f: impl FnOnce(&BpfObject<'_>, &Target<'_>, &Relocated) -> Result<()>,
) -> Result<()> {
    let obj_bytes = std::fs::read(&a.object).with_context(|| format!("{}", a.object.display()))?;
    let obj = BpfObject::parse(&obj_bytes).with_context(|| format!("{}", a.object.display()))?;
    if obj.btf_ext().is_none() {
        return Err(btfkit_core::ObjectError::NoBtfExt)
            .with_context(|| format!("{}", a.object.display()));
    }
    let base_bytes = a.base.as_deref().map(load::load_btf_file).transpose()?;
    let base = match (&base_bytes, &a.base) {
        (Some(b), Some(p)) => Some(parse_btf(b, None, p)?),
        _ => None,
    };
    let btf_bytes = load::load_btf_file(&a.btf)?;
    let btf = parse_btf(&btf_bytes, base.as_ref(), &a.btf)?;
    let vmlinux = base.as_ref().unwrap_or(&btf);
    let mod_bytes = a
        .modules
        .iter()
        .map(|p| load::load_btf_file(p).map_err(anyhow::Error::from))
        .collect::<Result<Vec<_>>>()?;
    let mods = mod_bytes
        .iter()
        .zip(&a.modules)
        .map(|(b, p)| parse_btf(b, Some(vmlinux), p))
        .collect::<Result<Vec<_>>>()?;
    let mut target = Target::new(vmlinux);
    if base.is_some() {
        target.add_module(file_label(&a.btf), &btf);
    }
    for (m, p) in mods.iter().zip(&a.modules) {
        target.add_module(file_label(p), m);
    }
    let opts = RelocateOptions {
        include_non_autoload: a.all_programs,
        ..RelocateOptions::default()
    };
    let rel = relocate(&obj, &target, &opts);
    f(&obj, &target, &rel)
}

/// A short name for a BTF file: its file name without BTF/compression
/// extensions (`kvm.btf.xz` -> `kvm`).
fn file_label(p: &Path) -> String {
    let mut name = p.file_name().map_or_else(
        || p.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    while let Some(stem) = [".xz", ".tar", ".btf", ".o", ".ko"]
        .iter()
        .find_map(|ext| name.strip_suffix(ext))
    {
        name = stem.to_string();
    }
    name
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
                btfkit_core::patch::Patch::Poisoned(why) => format!("{head}{tgt}: poisoned: {why}"),
                btfkit_core::patch::Patch::Value {
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
        "section": r.section,
        "program": r.program,
        "insn": r.prog_insn_idx,
        "section_insn": r.insn_idx,
        "relo": r.index,
        "kind": kind_name(r),
        "local_type_id": r.local_type.0,
        "access": r.access,
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
                btfkit_core::patch::Patch::Poisoned(why) => {
                    m.insert("result".into(), "poisoned".into());
                    m.insert("reason".into(), why.to_string().into());
                }
                btfkit_core::patch::Patch::Value {
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
