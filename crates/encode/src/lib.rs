//! # btfkit-encode
//!
//! DWARF to BTF, the job `pahole -J` does for kernels built without BTF
//! and `pahole --btf_encode_detached` for userspace programs: every
//! compilation unit's types are converted (in parallel), then
//! deduplicated across units into one BTF ([`btfkit_btf::dedup`]), split
//! on a base for kernel modules. [`merge`] combines a kernel BTF with
//! userspace BTFs into one target for uprobes.
//!
//! # Example
//!
//! ```no_run
//! use btfkit_encode::{encode, read_for_encoding, EncodeOptions};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A vmlinux with debug info (e.g. from a -dbg package), as `pahole -J`
//! // would take it.
//! let elf = read_for_encoding("/usr/lib/debug/boot/vmlinux-6.1.0-56-amd64".as_ref())?;
//! let (btf, stats) = encode(&elf, None, &EncodeOptions::default())?;
//! println!(
//!     "{} units, {} types ({} before dedup), {} bytes of BTF",
//!     stats.units, stats.types_after, stats.types_before, btf.len()
//! );
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

mod dwarf;
mod elf;

use std::collections::BTreeMap;

use btfkit_btf::dedup::dedup;
use btfkit_btf::ir::{IrBtf, IrType, IrVarSecInfo};
use btfkit_btf::Btf;

pub use dwarf::{SplitSearch, UnitTypes};
pub use elf::{ranges_for_encoding, read_for_encoding, read_opened_for_encoding};

/// Why encoding failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The input does not parse as an object file, or is one of another
    /// format (Mach-O, PE…); the message says which.
    #[error("not an ELF file: {0}")]
    NotElf(String),
    /// The ELF file has no DWARF units (stripped, or built without `-g`).
    #[error(
        "no DWARF: the file has no .debug_info (build with -g, or use the -dbg package's vmlinux)"
    )]
    NoDwarf,
    /// The DWARF could not be read (gimli's error, in `reason`).
    #[error("DWARF at .debug_info offset {offset:#x}: {reason}")]
    Dwarf {
        /// Offset in `.debug_info` of the unit being read (0 when the
        /// error is not a unit's).
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// An ELF section could not be read or decompressed, or a relocation
    /// of a relocatable object's DWARF (a `.ko`, a `.o`) could not be
    /// applied.
    #[error("ELF: {0}")]
    Elf(String),
    /// The base BTF could not be taken in, or the output could not be
    /// written.
    #[error("BTF: {0}")]
    Btf(#[from] btfkit_btf::Error),
    /// [`merge`] was given split BTF, as its base or among the extras:
    /// everything merged must be standalone.
    #[error("base: {0}")]
    Base(String),
    /// The DWARF describes something the kernel's BTF rules refuse (a
    /// member outside its struct, a struct holding itself by value, ...):
    /// no compiler writes it, and the encoder writes no BTF the kernel
    /// (or btfkit's own parser) would reject.
    #[error("the DWARF describes types BTF cannot hold: {source}")]
    Unencodable {
        /// The parser's complaint about the encoded BTF.
        #[source]
        source: btfkit_btf::Error,
    },
    /// Encoding a kernel module on `base`: the module's `struct module` or
    /// `struct list_head` did not deduplicate into the base's, so the base
    /// is another kernel's BTF (the split BTF would load but describe the
    /// wrong layouts).
    #[error(
        "base mismatch: the module's struct {type_name} differs from the base's \
         (is the base the BTF of the kernel this module was built for?)"
    )]
    BaseMismatch {
        /// The struct found redefined (`module` or `list_head`).
        type_name: String,
    },
    /// A split-DWARF file (`.dwo` or `.dwp`) was found but could not be
    /// read or parsed.
    #[error("split DWARF {file}: {reason}")]
    Split {
        /// The `.dwo` or `.dwp` file.
        file: String,
        /// What went wrong reading it.
        reason: String,
    },
    /// The input was built with `-gsplit-dwarf` and some of its units'
    /// `.dwo` files are neither at their recorded place, nor in
    /// [`SplitSearch::dirs`], and no [`SplitSearch::dwp`] was given.
    #[error(
        "split DWARF: {name} (compiled in {comp_dir:?}) not found{}; \
         pass the directory that holds the .dwo files, or the .dwp",
        if *count > 1 { format!(", nor {} other .dwo file(s)", count - 1) } else { String::new() }
    )]
    MissingDwo {
        /// The first missing unit's `DW_AT_dwo_name`.
        name: String,
        /// Its `DW_AT_comp_dir` (empty when absent).
        comp_dir: String,
        /// How many `.dwo` files are missing in all.
        count: usize,
    },
}

/// Encoding knobs.
#[derive(Clone, Debug, Default)]
pub struct EncodeOptions {
    /// Worker threads (0: one per core).
    pub jobs: usize,
    /// Write `int a[2][3]` as an array of arrays, as clang's BTF for BPF
    /// programs does (CO-RE can then follow both indexes), instead of one
    /// array of 6, as pahole and the kernels' own BTF do.
    pub nested_arrays: bool,
    /// Where split DWARF (`-gsplit-dwarf`) is found.
    pub split: SplitSearch,
    /// Each worker deduplicates its output after converting this many
    /// types (0: the default, a few hundred thousand).
    pub compact_every: usize,
}

impl EncodeOptions {
    /// The conversion's knobs: these, 0 standing for the default.
    fn convert_options(&self) -> dwarf::ConvertOptions {
        let defaults = dwarf::ConvertOptions::default();
        dwarf::ConvertOptions {
            jobs: match self.jobs {
                0 => defaults.jobs,
                n => n,
            },
            nested_arrays: self.nested_arrays,
            compact_every: match self.compact_every {
                0 => defaults.compact_every,
                n => n,
            },
        }
    }
}

/// What an encoding did.
#[derive(Clone, Debug, Default)]
pub struct EncodeStats {
    /// DWARF units converted (compilation, partial, type and split units).
    pub units: usize,
    /// Types converted, before deduplication.
    pub types_before: usize,
    /// Types written.
    pub types_after: usize,
    /// `FUNC` types written (the base's not counted).
    pub funcs: usize,
    /// Per-CPU variables written to the `.data..percpu` `DATASEC`, as
    /// pahole records them for a kernel (0 for other inputs).
    pub percpu_vars: usize,
    /// DWARF constructs BTF cannot express, skipped, by what they were.
    pub skipped: BTreeMap<String, usize>,
    /// Refinement rounds the final deduplication ran (for diagnostics).
    pub rounds: usize,
}

/// Encodes the DWARF of an ELF file (`elf`) as BTF: standalone, or split
/// on `base` (a kernel module on its vmlinux).
///
/// Returns the raw BTF (parsed once more before it is returned, so it is
/// known to be valid) and what was done. For a kernel, per-CPU variables
/// get a `.data..percpu` section as with pahole. For a module with a base,
/// the base's types keep their ids and the module's types that equal them
/// are not repeated.
///
/// # Errors
///
/// See [`EncodeError`]: not ELF, no DWARF, unreadable DWARF or split
/// DWARF, a base that is another kernel's ([`EncodeError::BaseMismatch`]),
/// types BTF cannot hold.
pub fn encode(
    elf: &[u8],
    base: Option<&Btf<'_>>,
    opts: &EncodeOptions,
) -> Result<(Vec<u8>, EncodeStats), EncodeError> {
    let file = elf::ElfDwarf::load(elf)?;
    let parts = dwarf::convert_units(&file, &opts.split, &opts.convert_options())?;
    let mut stats = EncodeStats::default();
    // The base's types first (kept as they are), then every unit's.
    let mut ir = match base {
        Some(b) => IrBtf::from_btf(b)?,
        None => IrBtf::new(),
    };
    let base_len = ir.len() as u32;
    let mut vars: Vec<dwarf::GlobalVar> = Vec::new();
    let mut converted = 0;
    for part in parts {
        stats.units += part.units;
        converted += part.converted;
        for (k, v) in &part.skipped {
            *stats.skipped.entry(k.clone()).or_default() += v;
        }
        let shift = ir.append(&part.ir);
        for mut v in part.vars {
            v.ty += shift;
            vars.push(v);
        }
    }
    // Per-CPU variables, as pahole records them for a kernel.
    if let Some(sec) = &file.percpu {
        // By address, as pahole matches them (static per-CPU variables of
        // one name in several files), else by name.
        let mut by_name: std::collections::HashMap<&str, u32> = std::collections::HashMap::new();
        let mut by_addr: std::collections::HashMap<(u64, &str), u32> =
            std::collections::HashMap::new();
        for v in &vars {
            by_name.entry(v.name.as_str()).or_insert(v.ty);
            if let Some(a) = v.address {
                by_addr.entry((a, v.name.as_str())).or_insert(v.ty);
            }
        }
        let mut entries = Vec::new();
        for s in &sec.symbols {
            // pahole leaves out what vmlinux places at offset 0
            // (DEFINE_PER_CPU_FIRST: x86's fixed_percpu_data), its DWARF
            // address being indistinguishable from none.
            if s.offset == 0 && !sec.relocatable {
                continue;
            }
            let addr = sec.address.wrapping_add(u64::from(s.offset));
            let found = by_addr
                .get(&(addr, s.name.as_str()))
                .or_else(|| by_name.get(s.name.as_str()));
            if let Some(&ty) = found {
                let name = ir.strings.intern(&s.name);
                let var = ir.push(IrType::Var {
                    name,
                    ty,
                    linkage: 1,
                });
                entries.push(IrVarSecInfo {
                    ty: var,
                    offset: s.offset,
                    size: s.size,
                });
            }
        }
        entries.sort_by_key(|e| e.offset);
        stats.percpu_vars = entries.len();
        if !entries.is_empty() {
            let name = ir.strings.intern(".data..percpu");
            ir.push(IrType::Datasec {
                name,
                size: sec.size,
                vars: entries,
            });
        }
    }
    stats.types_before = converted + stats.percpu_vars + usize::from(stats.percpu_vars > 0);
    let d = dedup(&ir, base_len);
    stats.rounds = d.rounds;
    stats.types_after = d.btf.len() - base_len as usize;
    stats.funcs = d.btf.types[base_len as usize + 1..]
        .iter()
        .filter(|t| matches!(t, IrType::Func { .. }))
        .count();
    if let (Some(b), true) = (base, file.kernel_module) {
        check_module_base(b, &d.btf, base_len)?;
    }
    let bytes = d.btf.write(base, base_len)?;
    Btf::parse_any(&bytes, base).map_err(|source| EncodeError::Unencodable { source })?;
    Ok((bytes, stats))
}

/// A module built for the base's kernel shares its core structs: every
/// module's DWARF has `struct module` (THIS_MODULE) and `struct
/// list_head`, and when they do not deduplicate into the base's, the
/// base is another kernel's (the split BTF would load but describe the
/// wrong layouts).
fn check_module_base(base: &Btf<'_>, out: &IrBtf, base_len: u32) -> Result<(), EncodeError> {
    for probe in ["module", "list_head"] {
        if base.find_first(probe, btfkit_btf::Kind::Struct).is_none() {
            continue;
        }
        let redefined = out.types[base_len as usize + 1..]
            .iter()
            .any(|t| matches!(t, IrType::Struct { name, .. } if out.strings.get(*name) == probe));
        if redefined {
            return Err(EncodeError::BaseMismatch {
                type_name: probe.to_string(),
            });
        }
    }
    Ok(())
}

/// Combines `base` (a kernel BTF) with `extras` (userspace BTFs) into
/// one BTF: the base's types keep their ids, the extras' are
/// deduplicated against it and each other and follow. Returns the raw
/// merged BTF and how many types follow the base's.
///
/// # Errors
///
/// [`EncodeError::Base`] when the base or an extra is split BTF;
/// [`EncodeError::Btf`] when the result cannot be written.
///
/// ```rust
/// use btfkit_btf::{Btf, BtfBuilder, Kind};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut kernel = BtfBuilder::new();
/// let int = kernel.add_int("int", 4, 1)?;
/// kernel.add_typedef("pid_t", int)?;
/// let kernel = kernel.finish();
///
/// let mut app = BtfBuilder::new();
/// let int = app.add_int("int", 4, 1)?; // same as the kernel's: shared
/// app.add_typedef("conn_id", int)?;
/// let app = app.finish();
///
/// let (merged, added) =
///     btfkit_encode::merge(&Btf::parse(&kernel)?, &[Btf::parse(&app)?])?;
/// assert_eq!(added, 1); // only the typedef conn_id is new
/// let merged = Btf::parse(&merged)?;
/// assert!(merged.find_first("conn_id", Kind::Typedef).is_some());
/// assert!(merged.find_first("pid_t", Kind::Typedef).is_some());
/// # Ok(())
/// # }
/// ```
pub fn merge(base: &Btf<'_>, extras: &[Btf<'_>]) -> Result<(Vec<u8>, usize), EncodeError> {
    if base.base().is_some() {
        return Err(EncodeError::Base(
            "the base of a merge must be standalone BTF".into(),
        ));
    }
    let mut ir = IrBtf::from_btf(base)?;
    let base_len = ir.len() as u32;
    for e in extras {
        if e.base().is_some() {
            return Err(EncodeError::Base(
                "merged BTFs must be standalone (not split)".into(),
            ));
        }
        ir.append(&IrBtf::from_btf(e)?);
    }
    let d = dedup(&ir, base_len);
    let added = d.btf.len() - base_len as usize;
    Ok((d.btf.write(None, 0)?, added))
}
