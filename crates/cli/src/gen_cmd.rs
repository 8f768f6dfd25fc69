//! `btfkit gen ...`: minimized BTF for BPF objects (BTFGen).

use std::path::PathBuf;

use anyhow::{Context, Result};
use btfkit_core::BpfObject;
use btfkit_gen::{MinOptions, Minimizer};
use clap::{Args, Subcommand, ValueEnum};

use crate::target::{read_object, with_target, TargetBtfArgs};

#[derive(Subcommand)]
pub enum GenCommand {
    /// Reduce a kernel BTF to what the objects' CO-RE relocations need
    /// (like `bpftool gen min_core_btf`, keeping every matching candidate).
    ///
    /// Example: btfkit gen min prog.bpf.o --btf 6.1.0-56-amd64.btf.tar.xz -o 6.1.0-56-amd64.min.btf
    Min(MinArgs),
}

#[derive(Clone, Copy, ValueEnum)]
pub enum OutFormat {
    /// Raw BTF (what btf_custom_path and bpftool take).
    Raw,
    /// An ELF file with a .BTF section.
    Elf,
}

#[derive(Args)]
pub struct MinArgs {
    /// BPF objects whose relocations the output must satisfy.
    #[arg(required = true)]
    objects: Vec<PathBuf>,
    #[command(flatten)]
    target: TargetBtfArgs,
    /// Output file.
    #[arg(short, long, value_name = "OUT")]
    output: PathBuf,
    #[arg(long, value_enum, default_value = "raw")]
    format: OutFormat,
    /// Fail when a relocation cannot be resolved against the full BTF
    /// (otherwise it is reported and the output still written).
    #[arg(long)]
    strict: bool,
    /// Do not merge structurally identical types.
    #[arg(long)]
    no_merge: bool,
}

pub fn run(cmd: GenCommand) -> Result<()> {
    match cmd {
        GenCommand::Min(a) => min(a),
    }
}

fn min(a: MinArgs) -> Result<()> {
    let bytes = a
        .objects
        .iter()
        .map(|p| read_object(p))
        .collect::<Result<Vec<_>>>()?;
    let objs = bytes
        .iter()
        .zip(&a.objects)
        .map(|(b, p)| BpfObject::parse(b).with_context(|| format!("{}", p.display())))
        .collect::<Result<Vec<_>>>()?;
    with_target(&a.target, |target| {
        let mut m = Minimizer::new(target);
        for (obj, path) in objs.iter().zip(&a.objects) {
            if obj.btf_ext().is_none_or(|e| e.core_relo_count() == 0) {
                eprintln!("btfkit: notice: {}: no CO-RE relocations", path.display());
            }
            m.add_object(&path.display().to_string(), obj);
        }
        for (label, e) in m.errors() {
            eprintln!("btfkit: {label}: {e}");
        }
        if a.strict {
            m.require_resolved()
                .with_context(|| format!("{} (--strict)", a.target.btf.display()))?;
        }
        let out = m.finish(&MinOptions {
            merge_identical: !a.no_merge,
        })?;
        let bytes = match a.format {
            OutFormat::Raw => out.btf,
            OutFormat::Elf => btfkit_btf::wrap_in_elf(&out.btf, btfkit_btf::Endian::Little),
        };
        let mut inputs: Vec<&std::path::Path> = a.objects.iter().map(PathBuf::as_path).collect();
        inputs.extend(a.target.inputs());
        crate::output::write(&a.output, &bytes, &inputs)?;
        eprintln!(
            "{}: {} types, {} bytes, for {} relocations of {} object(s)",
            a.output.display(),
            out.types,
            bytes.len(),
            out.relocations,
            objs.len()
        );
        Ok(())
    })
}
