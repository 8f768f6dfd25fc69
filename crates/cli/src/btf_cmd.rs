//! `btfkit btf ...`: statistics and dumps of BTF files.

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Result;
use btfkit_btf::{dump, load, Btf, Endian, Stats};
use clap::{Args, Subcommand, ValueEnum};

#[derive(Subcommand)]
pub enum BtfCommand {
    /// Print every type, as `bpftool btf dump file FILE format raw` does
    /// (byte for byte) or as JSON lines.
    ///
    /// Example: btfkit btf dump /sys/kernel/btf/vmlinux | head
    Dump(DumpArgs),
    /// Print header fields, section sizes, counts per kind and string
    /// statistics.
    ///
    /// Example: btfkit btf stat /sys/kernel/btf/vmlinux
    Stat(StatArgs),
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
}

#[derive(Args)]
pub struct DumpArgs {
    #[command(flatten)]
    input: Input,
    #[arg(short, long, value_enum, default_value = "raw")]
    format: DumpFormat,
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
        BtfCommand::Dump(a) => with_btf(&a.input, |btf| {
            let mut out = BufWriter::with_capacity(1 << 16, io::stdout().lock());
            match a.format {
                DumpFormat::Raw => dump::dump_raw(btf, &mut out)?,
                DumpFormat::Json => dump::dump_json(btf, &mut out)?,
            }
            out.flush()?;
            Ok(())
        }),
        BtfCommand::Stat(a) => with_btf(&a.input, |btf| {
            let stats = btf.stats();
            let mut out = io::stdout().lock();
            if a.json {
                writeln!(out, "{}", stats_json(&a.input.file, &stats))?;
            } else {
                write_stats_text(&mut out, &a.input.file, &stats)?;
            }
            Ok(())
        }),
    }
}

/// Loads `input` (and its base) and runs `f` on the parsed BTF.
pub fn with_btf<T>(input: &Input, f: impl FnOnce(&Btf<'_>) -> Result<T>) -> Result<T> {
    let base_bytes = input.base.as_deref().map(load::load_btf_file).transpose()?;
    let base = match (&base_bytes, &input.base) {
        (Some(b), Some(p)) => Some(parse_file(b, None, p)?),
        _ => None,
    };
    let bytes = load::load_btf_file(&input.file)?;
    let btf = parse_file(&bytes, base.as_ref(), &input.file)?;
    f(&btf)
}

fn parse_file<'a>(bytes: &'a [u8], base: Option<&'a Btf<'a>>, path: &Path) -> Result<Btf<'a>> {
    Ok(Btf::parse_any(bytes, base).map_err(|e| e.in_file(path))?)
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
