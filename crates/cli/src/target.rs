//! Loading the BTF that objects are relocated against: a vmlinux BTF, or
//! a module's split BTF on its base, plus more module BTFs.

use std::path::{Path, PathBuf};

use anyhow::Result;
use btfkit_btf::{load, Btf};
use btfkit_core::Target;
use clap::Args;

#[derive(Args)]
pub struct TargetBtfArgs {
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
}

impl TargetBtfArgs {
    /// The files these arguments read.
    pub fn inputs(&self) -> Vec<&Path> {
        let mut v = vec![self.btf.as_path()];
        v.extend(self.base.as_deref());
        v.extend(self.modules.iter().map(PathBuf::as_path));
        v
    }
}

/// Parses a loaded file with the options its origin calls for
/// ([`load::BtfBytes::parse_options`]).
fn parse_btf<'a>(
    bytes: &'a load::BtfBytes,
    base: Option<&'a Btf<'a>>,
    path: &Path,
) -> Result<Btf<'a>> {
    Ok(Btf::parse_any_with(bytes, base, bytes.parse_options()).map_err(|e| e.in_file(path))?)
}

/// A short name for a BTF file: its file name without BTF/compression
/// extensions (`kvm.btf.xz` -> `kvm`).
pub fn file_label(p: &Path) -> String {
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

/// A BPF object's bytes: mapped, so that what is never looked at (DWARF,
/// code without relocations, relocation sections) costs no memory.
pub fn read_object(path: &Path) -> Result<load::BtfBytes> {
    Ok(load::map_file(path)?)
}

/// Loads the target and runs `f` on it.
pub fn with_target<T>(a: &TargetBtfArgs, f: impl FnOnce(&Target<'_>) -> Result<T>) -> Result<T> {
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
    f(&target)
}
