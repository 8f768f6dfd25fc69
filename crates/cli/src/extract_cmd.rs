//! `btfkit btf extract` and `btfkit hub add`: BTF out of kernel images and
//! packages.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use btfkit_btf::{load, Btf};
use btfkit_bundle::Key;
use btfkit_hub::archive::{check_key_component, KNOWN_ARCHES};
use btfkit_hub::extract::{
    btfhub_tarball, extract_path, guess_distro, validate, Encode, ExtractOptions, Extracted,
};
use btfkit_hub::ExtractError;
use clap::Args;

/// How the BTF is taken: shared by `btf extract` and `hub add`.
#[derive(Args)]
pub struct EncodeArgs {
    /// Encode the vmlinux's DWARF into BTF even when it has a .BTF section
    /// (a vmlinux without one is always encoded).
    #[arg(long)]
    encode: bool,
    /// Encoder threads (0: one per core).
    #[arg(short, long, default_value_t = 0, value_name = "N")]
    jobs: usize,
}

impl EncodeArgs {
    fn options(&self, modules: bool) -> ExtractOptions {
        ExtractOptions {
            encode: if self.encode {
                Encode::Always
            } else {
                Encode::WhenMissing
            },
            jobs: self.jobs,
            modules,
        }
    }
}

#[derive(Args)]
pub struct ExtractArgs {
    /// vmlinux (with .BTF, or DWARF to encode), bzImage
    /// (gzip/xz/lzma/lz4/zstd/bzip2), arm64 Image[.gz], kernel module
    /// (.ko[.xz|.zst|.gz]), or a Debian package: linux-image .deb, or a
    /// debug package (-dbg .deb, -dbgsym .ddeb).
    input: PathBuf,
    /// Where to write the raw BTF.
    #[arg(short, long, value_name = "OUT")]
    output: PathBuf,
    /// vmlinux BTF, to check a module's split BTF against.
    #[arg(short = 'B', long = "base", value_name = "BASE")]
    base: Option<PathBuf>,
    #[command(flatten)]
    how: EncodeArgs,
}

#[derive(Args)]
pub struct AddArgs {
    /// Kernel images or packages to file into the archive.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// The btfhub-layout archive to add to.
    #[arg(long, value_name = "DIR")]
    archive: PathBuf,
    /// Distro folder (default: from the package).
    #[arg(long)]
    distro: Option<String>,
    /// Version folder (default: from the package).
    #[arg(long)]
    version: Option<String>,
    /// Architecture folder (default: from the package or image).
    #[arg(long)]
    arch: Option<String>,
    /// Kernel release (default: from the package name, or vmlinuz-<release>).
    #[arg(long)]
    release: Option<String>,
    /// Also file the split BTF of the package's kernel modules (their
    /// .BTF, or their DWARF encoded on the kernel's BTF), in
    /// <release>.modules/<module>.btf.xz next to the kernel's entry.
    #[arg(long)]
    modules: bool,
    #[command(flatten)]
    how: EncodeArgs,
}

/// Extracts the BTF of a kernel image or package (a regular file only,
/// as every input; the error names the file).
fn read_extract(path: &Path, opts: &ExtractOptions) -> Result<Extracted> {
    match extract_path(path, opts) {
        Ok(e) => Ok(e),
        // Opening errors name the file already.
        Err(e @ ExtractError::Open(_)) => Err(e.into()),
        Err(e) => Err(anyhow::Error::new(e).context(path.display().to_string())),
    }
}

/// The key components taken from the input rather than from flags, with
/// their values, for the line `hub add` prints.
fn inferred(a: &AddArgs, key: &Key) -> Vec<String> {
    let parts = [
        ("distro", &a.distro, &key.distro),
        ("version", &a.version, &key.version),
        ("arch", &a.arch, &key.arch),
        ("release", &a.release, &key.release),
    ];
    parts
        .iter()
        .filter(|(_, flag, _)| flag.is_none())
        .map(|(what, _, value)| format!("{what} {value}"))
        .collect()
}

pub fn extract_cmd(a: ExtractArgs) -> Result<()> {
    let e = read_extract(&a.input, &a.how.options(false))?;
    let base_bytes = a.base.as_deref().map(load::load_btf_file).transpose()?;
    let base = match (&base_bytes, &a.base) {
        (Some(b), Some(p)) => Some(Btf::parse_any(b, None).map_err(|e| e.in_file(p))?),
        _ => None,
    };
    validate(&e.btf, base.as_ref()).with_context(|| format!("{}", a.input.display()))?;
    let mut inputs = vec![a.input.as_path()];
    inputs.extend(a.base.as_deref());
    crate::output::write(&a.output, &e.btf, &inputs)?;
    eprintln!(
        "{}: {} bytes of BTF via {}",
        a.output.display(),
        e.btf.len(),
        e.path.join(" > ")
    );
    Ok(())
}

/// `vmlinuz-6.1.0-56-amd64` -> `6.1.0-56-amd64`.
fn release_from_name(p: &Path) -> Option<String> {
    let name = p.file_name()?.to_str()?;
    ["vmlinuz-", "vmlinux-", "Image-"]
        .iter()
        .find_map(|pre| name.strip_prefix(pre))
        .map(|r| r.trim_end_matches(".gz").to_string())
}

/// The key flags, each checked to be one folder or file name before
/// anything is read or created.
fn key_flags(a: &AddArgs) -> Result<()> {
    let flags = [
        ("--distro", &a.distro),
        ("--version", &a.version),
        ("--arch", &a.arch),
        ("--release", &a.release),
    ];
    for (flag, value) in flags {
        if let Some(v) = value {
            check_key_component(flag, v)?;
        }
    }
    if let Some(arch) = &a.arch {
        check_arch("--arch", arch)?;
    }
    Ok(())
}

/// An architecture an archive folder may be named after: what `hub
/// build` reads back (an entry under any other folder would be written,
/// then refused as an "unknown architecture folder").
fn check_arch(what: &str, arch: &str) -> Result<()> {
    if !KNOWN_ARCHES.contains(&arch) {
        bail!(
            "{what} {arch:?}: not an architecture archives know ({})",
            KNOWN_ARCHES.join(", ")
        );
    }
    Ok(())
}

/// A key component: the flag when given, else what the input says. One
/// the input gives is checked too (a package can name itself anything).
fn pick(
    input: &Path,
    flag: &Option<String>,
    from_input: Option<String>,
    what: &str,
) -> Result<String> {
    if let Some(v) = flag {
        return Ok(v.clone());
    }
    match from_input.filter(|s| !s.is_empty()) {
        Some(v) => {
            check_key_component(&format!("{}: its {what}", input.display()), &v)
                .map_err(|e| anyhow::anyhow!("{e}; pass --{what}"))?;
            Ok(v)
        }
        None => bail!("{}: cannot tell the {what}; pass --{what}", input.display()),
    }
}

/// The archive key of an extracted input.
fn key_of(a: &AddArgs, input: &Path, e: &Extracted) -> Result<Key> {
    let pkg = e.package.clone().unwrap_or_default();
    let guessed = e.package.as_ref().and_then(guess_distro);
    let distro = pick(
        input,
        &a.distro,
        guessed.as_ref().map(|g| g.0.clone()),
        "distro",
    )?;
    let version = pick(
        input,
        &a.version,
        guessed.as_ref().map(|g| g.1.clone()),
        "version",
    )?;
    let pkg_arch = Some(pkg.architecture).filter(|s| !s.is_empty());
    let arch = pick(input, &a.arch, pkg_arch.or(e.arch.clone()), "arch")?;
    check_arch(&format!("{}: its arch", input.display()), &arch)?;
    let pkg_release = Some(pkg.release).filter(|s| !s.is_empty());
    let release = pick(
        input,
        &a.release,
        pkg_release.or_else(|| release_from_name(input)),
        "release",
    )?;
    Ok(Key::new(&distro, &version, &arch, &release))
}

pub fn add(a: AddArgs) -> Result<()> {
    key_flags(&a)?;
    for input in &a.inputs {
        let e = read_extract(input, &a.how.options(a.modules))?;
        validate(&e.btf, None).with_context(|| format!("{}", input.display()))?;
        let key = key_of(&a, input, &e)?;
        let guessed = inferred(&a, &key);
        if !guessed.is_empty() {
            let from = match &e.package {
                Some(p) => format!("package {} {}", p.package, p.version),
                None => "the image".to_string(),
            };
            eprintln!("{key}: {} inferred from {from}", guessed.join(", "));
        }
        let dir = a
            .archive
            .join(&key.distro)
            .join(&key.version)
            .join(&key.arch);
        std::fs::create_dir_all(&dir).with_context(|| format!("{}", dir.display()))?;
        let path = dir.join(format!("{}.btf.tar.xz", key.release));
        btfkit_hub::build::write_atomic(&path, &btfhub_tarball(&key.release, &e.btf)?)
            .with_context(|| format!("{}", path.display()))?;
        eprintln!(
            "{key}: {} bytes of BTF via {} -> {}",
            e.btf.len(),
            e.path.join(" > "),
            path.display()
        );
        if a.modules {
            file_modules(&dir, &key, &e, a.how.jobs)?;
        }
    }
    Ok(())
}

/// Files the modules `hub add --modules` found, saying how many and how.
fn file_modules(dir: &Path, key: &Key, e: &Extracted, jobs: usize) -> Result<()> {
    let written = btfkit_hub::extract::write_modules(dir, &key.release, &e.modules, jobs)?;
    let taken = e.modules.iter().filter(|m| m.how == "ELF .BTF").count();
    let encoded = e.modules.len() - taken;
    let bytes: usize = e.modules.iter().map(|m| m.btf.len()).sum();
    eprintln!(
        "{key}: {} modules ({taken} .BTF taken, {encoded} DWARF encoded; {bytes} bytes of split BTF) -> {}",
        e.modules.len(),
        written.display()
    );
    if let Some(first) = e.modules_without_btf.first() {
        eprintln!(
            "{key}: {} module files without .BTF or DWARF left out (first: {first})",
            e.modules_without_btf.len()
        );
    }
    Ok(())
}
