//! `btfkit btf ...`: statistics and dumps of BTF files.

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Result;
use btfkit_btf::load::BtfBytes;
use btfkit_btf::{cdump, dump, load, Btf, Endian, ParseOptions, Stats};
use clap::{Args, Subcommand, ValueEnum};

#[derive(Subcommand)]
pub enum BtfCommand {
    /// Print every type, as `bpftool btf dump file FILE format raw` does
    /// (byte for byte), as JSON lines, or as a C header (vmlinux.h).
    ///
    /// Example: btfkit btf dump /sys/kernel/btf/vmlinux --format c > vmlinux.h
    Dump(DumpArgs),
    /// Print header fields, section sizes, counts per kind and string
    /// statistics.
    ///
    /// Example: btfkit btf stat /sys/kernel/btf/vmlinux
    Stat(StatArgs),
    /// What changed between two BTFs: types added and removed, struct and
    /// union layouts, enum values, typedef targets.
    ///
    /// Example: btfkit btf diff 5.10.btf 6.1.btf --type task_struct
    Diff(DiffArgs),
    /// Encode the DWARF of an ELF file (vmlinux with debug info, a program
    /// or library built with -g, a module with --base) as deduplicated BTF.
    ///
    /// Example: btfkit btf encode ./prog -o prog.btf
    Encode(EncodeArgs),
    /// Combine a kernel BTF with userspace BTFs into one target BTF (the
    /// kernel's ids unchanged).
    ///
    /// Example: btfkit btf merge /sys/kernel/btf/vmlinux prog.btf -o merged.btf
    Merge(MergeArgs),
    /// Extract the BTF of a kernel image, module or package.
    ///
    /// Example: btfkit btf extract linux-image-6.1.0-56-amd64_6.1.158-1_amd64.deb -o 6.1.0-56-amd64.btf
    Extract(crate::extract_cmd::ExtractArgs),
}

/// The input BTF and, for split (module) BTF, its base.
#[derive(Args)]
pub struct Input {
    /// Raw BTF, an ELF with a .BTF section, or either compressed as
    /// .xz / .tar.xz (btfhub-archive layout).
    pub file: PathBuf,
    /// Base BTF for split BTF (e.g. vmlinux for a module's BTF).
    #[arg(short = 'B', long = "base", value_name = "BASE")]
    pub base: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum DumpFormat {
    /// bpftool's raw text format.
    Raw,
    /// One JSON object per type, with the fields of bpftool's -j output.
    Json,
    /// A C header (vmlinux.h) that clang compiles for -target bpf.
    C,
}

#[derive(Args)]
pub struct DumpArgs {
    #[command(flatten)]
    input: Input,
    #[arg(short, long, value_enum, default_value = "raw")]
    format: DumpFormat,
    /// With --format c: only these types (by name) and what they need
    /// (repeatable).
    #[arg(long = "type", value_name = "NAME")]
    types: Vec<String>,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum OutFormat {
    /// Raw BTF.
    Raw,
    /// An ELF object with a .BTF section.
    Elf,
}

#[derive(Args)]
pub struct EncodeArgs {
    /// ELF with DWARF.
    input: PathBuf,
    /// Where to write the BTF.
    #[arg(short, long, value_name = "OUT")]
    output: PathBuf,
    /// Base BTF (vmlinux) for a module: the output is split BTF on it.
    #[arg(short = 'B', long = "base", value_name = "BASE")]
    base: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "raw")]
    format: OutFormat,
    /// Threads (default: one per core).
    #[arg(short, long, default_value = "0")]
    jobs: usize,
    /// Multi-dimensional arrays as arrays of arrays (as clang writes them
    /// for BPF programs) rather than flattened (as pahole does).
    #[arg(long)]
    nested_arrays: bool,
    /// A directory with the input's split DWARF (.dwo) files (repeatable).
    #[arg(long, value_name = "DIR")]
    dwo_dir: Vec<PathBuf>,
}

#[derive(Args)]
pub struct MergeArgs {
    /// The kernel BTF (its types keep their ids).
    base: PathBuf,
    /// Userspace BTFs (raw or ELF).
    #[arg(required = true)]
    extras: Vec<PathBuf>,
    /// Where to write the merged BTF.
    #[arg(short, long, value_name = "OUT")]
    output: PathBuf,
}

#[derive(Args)]
pub struct DiffArgs {
    /// The BTF before (raw, ELF, .xz or .tar.xz).
    a: PathBuf,
    /// The BTF after.
    b: PathBuf,
    /// Base BTF of A, when A is split (module) BTF.
    #[arg(long, value_name = "BASE")]
    base_a: Option<PathBuf>,
    /// Base BTF of B, when B is split (module) BTF.
    #[arg(long, value_name = "BASE")]
    base_b: Option<PathBuf>,
    /// Only these types, member by member (repeatable); without it, a
    /// summary over all named types.
    #[arg(long = "type", value_name = "NAME")]
    types: Vec<String>,
    /// One JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct StatArgs {
    #[command(flatten)]
    input: Input,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(cmd: BtfCommand) -> Result<()> {
    match cmd {
        BtfCommand::Extract(a) => crate::extract_cmd::extract_cmd(a),
        BtfCommand::Diff(a) => diff_cmd(a),
        BtfCommand::Encode(a) => encode_cmd(a),
        BtfCommand::Merge(a) => merge_cmd(a),
        // Raw and JSON dumps look no name up: skip building the name index.
        BtfCommand::Dump(a) => with_btf_opts(&a.input, !matches!(a.format, DumpFormat::C), |btf| {
            let mut out = BufWriter::with_capacity(1 << 16, crate::output::stdout());
            if !a.types.is_empty() && !matches!(a.format, DumpFormat::C) {
                anyhow::bail!("--type selects types of a C header: use it with --format c");
            }
            match a.format {
                DumpFormat::Raw => dump::dump_raw(btf, &mut out)?,
                DumpFormat::Json => dump::dump_json(btf, &mut out)?,
                DumpFormat::C => {
                    let opts = cdump::CDumpOptions {
                        types: a.types.clone(),
                    };
                    match cdump::dump_c_to(btf, &opts, &mut out) {
                        Ok(()) => {}
                        Err(cdump::CDumpError::Io(e)) => return Err(e.into()),
                        Err(e) => anyhow::bail!("{}: {e}", a.input.file.display()),
                    }
                }
            }
            out.flush()?;
            Ok(())
        }),
        BtfCommand::Stat(a) => with_btf_opts(&a.input, true, |btf| {
            let stats = btf.stats();
            let mut out = crate::output::stdout();
            if a.json {
                writeln!(out, "{}", stats_json(&a.input.file, &stats))?;
            } else {
                write_stats_text(&mut out, &a.input.file, &stats)?;
            }
            Ok(())
        }),
    }
}

fn encode_cmd(a: EncodeArgs) -> Result<()> {
    use anyhow::Context;
    // Its errors name the file.
    let elf = btfkit_encode::read_for_encoding(&a.input)?;
    let base_bytes = a.base.as_deref().map(load::load_btf_file).transpose()?;
    let base = match (&base_bytes, &a.base) {
        (Some(b), Some(p)) => Some(parse_file(b, None, p)?),
        _ => None,
    };
    // Split DWARF: .dwo files are looked for where they were compiled,
    // then next to the input (and in --dwo-dir); `<input>.dwp` is a
    // package of them.
    let mut dirs = a.dwo_dir.clone();
    if let Some(parent) = a.input.parent() {
        dirs.push(if parent.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            parent.to_path_buf()
        });
    }
    let mut dwp = a.input.clone().into_os_string();
    dwp.push(".dwp");
    let opts = btfkit_encode::EncodeOptions {
        jobs: a.jobs,
        nested_arrays: a.nested_arrays,
        split: btfkit_encode::SplitSearch {
            dirs,
            dwp: Some(PathBuf::from(dwp)),
        },
        ..Default::default()
    };
    let (bytes, stats) = btfkit_encode::encode(&elf, base.as_ref(), &opts)
        .with_context(|| format!("{}", a.input.display()))?;
    let out = match a.format {
        OutFormat::Raw => bytes,
        OutFormat::Elf => btfkit_btf::wrap_in_elf(&bytes, Endian::Little),
    };
    let mut inputs = vec![a.input.as_path()];
    inputs.extend(a.base.as_deref());
    crate::output::write(&a.output, &out, &inputs)?;
    let skipped: usize = stats.skipped.values().sum();
    let mut line = format!(
        "{}: {} units, {} types ({} before dedup), {} functions",
        a.output.display(),
        stats.units,
        stats.types_after,
        stats.types_before,
        stats.funcs
    );
    if stats.percpu_vars > 0 {
        line.push_str(&format!(", {} per-CPU variables", stats.percpu_vars));
    }
    if skipped > 0 {
        let what: Vec<String> = stats
            .skipped
            .iter()
            .map(|(k, v)| format!("{v} {k}"))
            .collect();
        line.push_str(&format!(
            "; skipped (not expressible in BTF): {}",
            what.join(", ")
        ));
    }
    eprintln!("{line}");
    Ok(())
}

fn merge_cmd(a: MergeArgs) -> Result<()> {
    let base_bytes = load::load_btf_file(&a.base)?;
    let base = parse_file(&base_bytes, None, &a.base)?;
    let extra_bytes: Vec<_> = a
        .extras
        .iter()
        .map(load::load_btf_file)
        .collect::<Result<_, _>>()?;
    let extras: Vec<Btf<'_>> = extra_bytes
        .iter()
        .zip(&a.extras)
        .map(|(b, p)| parse_file(b, None, p))
        .collect::<Result<_>>()?;
    let (bytes, added) = btfkit_encode::merge(&base, &extras)?;
    let mut inputs = vec![a.base.as_path()];
    inputs.extend(a.extras.iter().map(PathBuf::as_path));
    crate::output::write(&a.output, &bytes, &inputs)?;
    eprintln!(
        "{}: {} types of the base, {added} more from {} BTF(s)",
        a.output.display(),
        base.next_id().0 - 1,
        extras.len()
    );
    Ok(())
}

fn diff_cmd(a: DiffArgs) -> Result<()> {
    let ia = Input {
        file: a.a.clone(),
        base: a.base_a.clone(),
    };
    let ib = Input {
        file: a.b.clone(),
        base: a.base_b.clone(),
    };
    with_btf(&ia, |ba| {
        with_btf(&ib, |bb| {
            for t in &a.types {
                if ba.find_by_name(t).is_empty() && bb.find_by_name(t).is_empty() {
                    let near = btfkit_btf::cdump::similar_names(ba, t);
                    if near.is_empty() {
                        anyhow::bail!("no type named {t:?} in either BTF");
                    }
                    anyhow::bail!(
                        "no type named {t:?} in either BTF; similar names: {}",
                        near.join(", ")
                    );
                }
            }
            let d = btfkit_btf::diff::diff(ba, bb, &a.types)?;
            let mut out = crate::output::stdout();
            if a.json {
                writeln!(out, "{}", d.to_json())?;
            } else if a.types.is_empty() {
                write!(out, "{}", d.summary_text())?;
            } else if d.is_empty() {
                writeln!(out, "no differences in {}", a.types.join(", "))?;
            } else {
                write!(out, "{}", d.detail_text())?;
            }
            Ok(())
        })
    })
}

/// Loads `input` (and its base) and runs `f` on the parsed BTF.
pub fn with_btf<T>(input: &Input, f: impl FnOnce(&Btf<'_>) -> Result<T>) -> Result<T> {
    with_btf_opts(input, false, f)
}

/// `with_btf`; with `lazy_names`, the name index is built only if `f`
/// looks a name up (see `ParseOptions::lazy_names`).
fn with_btf_opts<T>(
    input: &Input,
    lazy_names: bool,
    f: impl FnOnce(&Btf<'_>) -> Result<T>,
) -> Result<T> {
    let base_bytes = input.base.as_deref().map(load::load_btf_file).transpose()?;
    let base = match (&base_bytes, &input.base) {
        (Some(b), Some(p)) => Some(parse_file_with(b, None, p, lazy_names)?),
        _ => None,
    };
    let bytes = load::load_btf_file(&input.file)?;
    let btf = parse_file_with(&bytes, base.as_ref(), &input.file, lazy_names)?;
    f(&btf)
}

fn parse_file<'a>(bytes: &'a BtfBytes, base: Option<&'a Btf<'a>>, path: &Path) -> Result<Btf<'a>> {
    parse_file_with(bytes, base, path, false)
}

/// Parses a loaded file with the options its origin calls for
/// ([`BtfBytes::parse_options`]: the running kernel's BTF is not
/// re-checked with the kernel's rules).
fn parse_file_with<'a>(
    bytes: &'a BtfBytes,
    base: Option<&'a Btf<'a>>,
    path: &Path,
    lazy_names: bool,
) -> Result<Btf<'a>> {
    let opts = ParseOptions {
        lazy_names,
        ..bytes.parse_options()
    };
    Ok(Btf::parse_any_with(bytes, base, opts).map_err(|e| e.in_file(path))?)
}

fn endian_name(e: Endian) -> &'static str {
    match e {
        Endian::Little => "little",
        Endian::Big => "big",
    }
}

fn write_stats_text(out: &mut impl Write, file: &Path, s: &Stats) -> io::Result<()> {
    let h = &s.header;
    writeln!(out, "file:            {}", file.display())?;
    writeln!(
        out,
        "header:          version {} flags {:#x} hdr_len {} ({}), {}-endian",
        h.version,
        h.flags,
        h.hdr_len,
        if h.has_layout_fields() {
            "with kind layout"
        } else {
            "classic"
        },
        endian_name(h.endian)
    )?;
    writeln!(
        out,
        "type section:    off {} len {}",
        h.type_off, h.type_len
    )?;
    writeln!(out, "string section:  off {} len {}", h.str_off, h.str_len)?;
    if h.has_layout_fields() {
        writeln!(
            out,
            "layout section:  off {} len {} ({} kinds described)",
            h.layout_off, h.layout_len, s.layout_entries
        )?;
    }
    let last = s.first_id as u64 + s.type_count as u64;
    if s.type_count > 0 {
        writeln!(
            out,
            "types:           {} (ids {}..={}{})",
            s.type_count,
            s.first_id,
            last - 1,
            if s.split { ", split BTF" } else { "" }
        )?;
    } else {
        writeln!(out, "types:           0")?;
    }
    writeln!(out, "named types:     {}", s.named_types)?;
    writeln!(
        out,
        "strings:         {} in {} bytes",
        s.string_count, s.string_bytes
    )?;
    writeln!(out, "kinds:")?;
    for (k, n) in &s.kinds {
        writeln!(out, "  {:<12} {n}", k.to_string())?;
    }
    Ok(())
}

fn stats_json(file: &Path, s: &Stats) -> serde_json::Value {
    let h = &s.header;
    let kinds: serde_json::Map<String, serde_json::Value> = s
        .kinds
        .iter()
        .map(|(k, n)| (k.to_string(), (*n).into()))
        .collect();
    serde_json::json!({
        "file": file.display().to_string(),
        "endian": endian_name(h.endian),
        "header": {
            "version": h.version,
            "flags": h.flags,
            "hdr_len": h.hdr_len,
            "type_off": h.type_off,
            "type_len": h.type_len,
            "str_off": h.str_off,
            "str_len": h.str_len,
            "layout_off": h.layout_off,
            "layout_len": h.layout_len,
        },
        "split": s.split,
        "first_id": s.first_id,
        "type_count": s.type_count,
        "named_types": s.named_types,
        "kinds": kinds,
        "strings": { "count": s.string_count, "bytes": s.string_bytes },
        "layout_entries": s.layout_entries,
    })
}
