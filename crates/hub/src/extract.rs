//! Getting kernel BTF out of what distributions ship: vmlinux ELF files,
//! compressed x86 bzImages (gzip, xz, lzma, lz4 legacy, zstd, bzip2
//! payloads), arm64 `Image` files without a section table (the BTF blob
//! is found by its header), kernel modules (`.ko`, also xz/zstd/gzip
//! compressed; split BTF) and Debian packages (`linux-image-*.deb`, and
//! debug packages whose vmlinux has DWARF only, encoded to BTF on the fly).

pub(crate) mod codec;
mod deb;
mod modules;
mod rpm_pkg;
mod staged;

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use btfkit_btf::input::{self, Limit};
use btfkit_btf::{Btf, Endian};
use btfkit_encode::{EncodeError, EncodeOptions};

use crate::{ExtractError, HubError};
use codec::Codec;
pub use modules::ModuleBtf;

/// When to encode a kernel's DWARF into BTF.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Encode {
    /// Take a vmlinux's `.BTF`; encode its DWARF only when it has none
    /// (what RHEL, Ubuntu and Amazon Linux debug packages ship).
    #[default]
    WhenMissing,
    /// Encode the DWARF even when a `.BTF` is there (`--encode`).
    Always,
}

/// How [`extract_path`] and [`extract_with`] work.
#[derive(Clone, Debug, Default)]
pub struct ExtractOptions {
    /// When to encode DWARF.
    pub encode: Encode,
    /// Encoder threads (0: one per core).
    pub jobs: usize,
    /// Also make the split BTF of the package's kernel modules (its
    /// `.ko`, or a debug package's `.ko`/`.ko.debug` files), on the
    /// kernel's: [`Extracted::modules`].
    pub modules: bool,
}

/// What was found and how.
#[derive(Clone, Debug)]
pub struct Extracted {
    /// The raw `.BTF` bytes.
    pub btf: Vec<u8>,
    /// How it was reached, outermost first (`deb > data.tar.xz > ./boot/vmlinuz-... > bzImage xz payload > ELF .BTF`).
    pub path: Vec<String>,
    /// Package metadata, for packages.
    pub package: Option<PackageInfo>,
    /// Architecture of the kernel, when the input says (ELF machine, image header).
    pub arch: Option<String>,
    /// With [`ExtractOptions::modules`], the package's modules, by name.
    pub modules: Vec<ModuleBtf>,
    /// With [`ExtractOptions::modules`], module files with neither `.BTF`
    /// nor DWARF (built without debug info): left out.
    pub modules_without_btf: Vec<String>,
}

/// What a package says about its kernel.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PackageInfo {
    /// The package's name, from its control file's `Package:`
    /// (`linux-image-6.1.0-56-amd64`).
    pub package: String,
    /// The package's version, from `Version:` (`6.1.158-1`); not the
    /// kernel release.
    pub version: String,
    /// Debian architecture (amd64, arm64, ...).
    pub architecture: String,
    /// `Maintainer:` (used by [`guess_distro`] to recognize Debian).
    pub maintainer: String,
    /// Kernel release, from the package name (`linux-image-<release>`,
    /// `linux-binary-<release>`).
    pub release: String,
}

/// ELF machine → architecture name.
fn elf_arch(data: &[u8]) -> Option<String> {
    arch_of(&object::File::parse(data).ok()?)
}

/// An ELF file's machine as an architecture name.
fn arch_of<'d, R: object::ReadRef<'d>>(f: &object::File<'d, R>) -> Option<String> {
    use object::Object;
    Some(
        match f.architecture() {
            object::Architecture::X86_64 => "x86_64",
            object::Architecture::Aarch64 => "arm64",
            object::Architecture::I386 => "i386",
            object::Architecture::S390x => "s390x",
            object::Architecture::PowerPc64 => "ppc64le",
            object::Architecture::Riscv64 => "riscv64",
            object::Architecture::Arm => "arm",
            object::Architecture::Bpf => "bpf",
            _ => return None,
        }
        .to_string(),
    )
}

/// A BTF blob embedded in arbitrary bytes (kernel images without a
/// section table): every little- or big-endian BTF header is tried, and
/// the largest blob that parses as complete BTF wins.
pub fn find_embedded_btf(data: &[u8]) -> Option<&[u8]> {
    let mut best: Option<&[u8]> = None;
    for magic in [[0x9f_u8, 0xeb, 1], [0xeb, 0x9f, 1]] {
        for pos in memchr::memmem::find_iter(data, &magic) {
            let Ok(h) = btfkit_btf::Header::parse(&data[pos..]) else {
                continue;
            };
            let end = [
                h.type_off as u64 + h.type_len as u64,
                h.str_off as u64 + h.str_len as u64,
                h.layout_off as u64 + h.layout_len as u64,
            ]
            .into_iter()
            .max()
            .unwrap_or(0)
                + h.hdr_len as u64;
            if h.type_len == 0 || end > (data.len() - pos) as u64 {
                continue;
            }
            let blob = &data[pos..pos + end as usize];
            if best.is_some_and(|b| b.len() >= blob.len()) {
                continue;
            }
            if Btf::parse(blob).is_ok() {
                best = Some(blob);
            }
        }
    }
    best
}

/// x86 bzImage: the compressed kernel sits at the setup header's
/// payload_offset (boot protocol 2.08+), after the real-mode setup sectors.
fn bzimage_payload(data: &[u8]) -> Option<&[u8]> {
    if data.len() < 0x250 || &data[0x202..0x206] != b"HdrS" {
        return None;
    }
    let version = u16::from_le_bytes([data[0x206], data[0x207]]);
    if version < 0x0208 {
        return None;
    }
    let setup_sects = match data[0x1f1] {
        0 => 4,
        n => n as usize,
    };
    let off = u32::from_le_bytes(data[0x248..0x24c].try_into().ok()?) as usize;
    let len = u32::from_le_bytes(data[0x24c..0x250].try_into().ok()?) as usize;
    let start = (setup_sects + 1) * 512 + off;
    data.get(start..start.checked_add(len)?)
}

/// Extracts the BTF of whatever kernel artifact `data` is: tried in order,
/// a Debian package (`!<arch>`), an ELF file (its `.BTF` section), raw BTF
/// (returned as is), an x86 bzImage (its payload decompressed, then
/// extracted), a compressed file (gzip, xz, lzma, zstd, bzip2, lz4), and
/// last any bytes holding a BTF header (an arm64 `Image`). Compression may
/// nest a few levels deep. Nothing is parsed beyond what finding the BTF
/// needs: check the result with [`validate`].
///
/// # Errors
///
/// [`ExtractError`]: no BTF found, an ELF without `.BTF` (a kernel
/// built without `CONFIG_DEBUG_INFO_BTF`), a decompression error or output
/// over 1 GiB, a package without a kernel image, compression nested too
/// deep.
///
/// ```rust
/// use btfkit_hub::extract::{extract, validate};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut b = btfkit_btf::BtfBuilder::new();
/// b.add_int("int", 4, 1)?;
/// let raw = b.finish();
///
/// // A vmlinux-like ELF file with a .BTF section.
/// let found = extract(&b.finish_elf())?;
/// assert_eq!(found.btf, raw);
/// assert_eq!(found.path, ["ELF .BTF"]);
/// validate(&found.btf, None)?;
///
/// assert!(extract(b"no kernel here").is_err());
/// # Ok(())
/// # }
/// ```
pub fn extract(data: &[u8]) -> Result<Extracted, ExtractError> {
    extract_with(data, &ExtractOptions::default())
}

/// [`extract`], with a choice of when to encode DWARF: a vmlinux without
/// `.BTF` (or any vmlinux, with [`Encode::Always`]) has its DWARF
/// encoded by `btfkit_encode`, as `pahole -J` would.
///
/// # Errors
///
/// As [`extract`]; [`ExtractError::Encode`] when the DWARF cannot be
/// encoded.
pub fn extract_with(data: &[u8], opts: &ExtractOptions) -> Result<Extracted, ExtractError> {
    extract_depth(data, 0, opts)
}

/// Extracts the BTF of a kernel artifact on disk (a regular file). A
/// package is read once as a stream: only the kernel image is held in
/// memory, nothing is unpacked to disk. An ELF file is read only as far
/// as needed: its `.BTF` section, or what the encoder reads of its DWARF.
/// Anything else is read whole (at most 4 GiB) and goes to
/// [`extract_with`].
///
/// # Errors
///
/// As [`extract_with`], and [`ExtractError::Open`] when the file cannot
/// be opened or read (the error names it).
pub fn extract_path(path: &Path, opts: &ExtractOptions) -> Result<Extracted, ExtractError> {
    let open = |e: btfkit_btf::Error| ExtractError::Open(e);
    let mut r = BufReader::with_capacity(1 << 20, input::open(path).map_err(open)?);
    let head = r
        .fill_buf()
        .map_err(|e| open(btfkit_btf::Error::Io(e).in_file(path)))?;
    // A second walk (modules met before the kernel) reads the file again.
    let reopen = || -> Result<Box<dyn Read>, ExtractError> {
        let file = input::open(path).map_err(open)?;
        Ok(Box::new(BufReader::with_capacity(1 << 20, file)))
    };
    if head.starts_with(b"!<arch>\n") {
        return deb::deb(r, opts, &reopen);
    }
    if head.starts_with(&[0xed, 0xab, 0xee, 0xdb]) {
        return rpm_pkg::rpm(r, opts, &reopen);
    }
    if btfkit_btf::is_elf(head) {
        return elf_file(path, r.into_inner(), opts);
    }
    drop(r);
    extract_with(&input::read(path, Limit::Large).map_err(open)?, opts)
}

/// The BTF of an ELF file on disk: its `.BTF` section alone, or (none, or
/// [`Encode::Always`]) its DWARF encoded from what the encoder reads of
/// it (`btfkit_encode::read_for_encoding`: the code and data of a
/// vmlinux are never read).
fn elf_file(path: &Path, mut file: File, opts: &ExtractOptions) -> Result<Extracted, ExtractError> {
    use object::{Object, ObjectSection};
    let cache = object::ReadCache::new(&mut file);
    let elf = object::File::parse(&cache)
        .map_err(|e| ExtractError::Elf(btfkit_btf::Error::Elf(e.to_string()).in_file(path)))?;
    let arch = arch_of(&elf);
    // A debug file made with `objcopy --only-keep-debug` keeps a `.BTF`
    // header without its bytes (NOBITS): that is no BTF.
    let btf = elf
        .section_by_name(".BTF")
        .filter(|s| s.kind() != object::SectionKind::UninitializedData && s.size() > 0);
    if let (Some(s), Encode::WhenMissing) = (&btf, opts.encode) {
        let data = s
            .data()
            .map_err(|e| ExtractError::Elf(btfkit_btf::Error::Elf(e.to_string()).in_file(path)))?;
        return Ok(found(data, "ELF .BTF", arch));
    }
    if elf.kind() == object::ObjectKind::Relocatable {
        return Err(ExtractError::ModuleWithoutBtf);
    }
    let had_btf = btf.is_some();
    drop(elf);
    drop(cache);
    let data =
        btfkit_encode::read_opened_for_encoding(&mut file, path).map_err(ExtractError::Open)?;
    encode(&data, had_btf, arch, opts)
}

/// What was found at the bottom of the path.
fn found(btf: &[u8], how: &str, arch: Option<String>) -> Extracted {
    Extracted {
        btf: btf.to_vec(),
        path: vec![how.to_string()],
        package: None,
        arch,
        modules: Vec::new(),
        modules_without_btf: Vec::new(),
    }
}

/// The BTF of an ELF file in memory, as [`elf_file`] for one on disk.
fn elf_btf(data: &[u8], opts: &ExtractOptions) -> Result<Extracted, ExtractError> {
    let arch = elf_arch(data);
    let section = btfkit_btf::elf_section(data, ".BTF")
        .map_err(ExtractError::Elf)?
        .filter(|(btf, _)| !btf.is_empty());
    if let (Some((btf, _)), Encode::WhenMissing) = (section, opts.encode) {
        return Ok(found(btf, "ELF .BTF", arch));
    }
    if is_relocatable(data) {
        return Err(ExtractError::ModuleWithoutBtf);
    }
    encode(data, section.is_some(), arch, opts)
}

/// Encodes the DWARF of a vmlinux (or another executable ELF file).
fn encode(
    elf: &[u8],
    had_btf: bool,
    arch: Option<String>,
    opts: &ExtractOptions,
) -> Result<Extracted, ExtractError> {
    let eopts = EncodeOptions {
        jobs: opts.jobs,
        ..EncodeOptions::default()
    };
    let (btf, stats) = btfkit_encode::encode(elf, None, &eopts).map_err(|e| match e {
        EncodeError::NoDwarf if !had_btf => ExtractError::NoBtfSection,
        source => ExtractError::Encode { source },
    })?;
    let how = format!(
        "ELF DWARF encoded by btfkit ({} units, {} types)",
        stats.units, stats.types_after
    );
    Ok(Extracted {
        btf,
        path: vec![how],
        package: None,
        arch,
        modules: Vec::new(),
        modules_without_btf: Vec::new(),
    })
}

/// Whether an ELF file is relocatable (a kernel module, an object).
fn is_relocatable(data: &[u8]) -> bool {
    use object::Object;
    object::File::parse(data).is_ok_and(|f| f.kind() == object::ObjectKind::Relocatable)
}

/// The BTF of a package's kernel image: an ELF vmlinux (its `.BTF`, or
/// its DWARF encoded) or a compressed image.
pub(crate) fn image_btf(image: &[u8], opts: &ExtractOptions) -> Result<Extracted, ExtractError> {
    extract_depth(image, 1, opts)
}

/// A kernel image from a package stream: a large ELF file (a debug
/// vmlinux) staged so that only what is read of it is held
/// ([`staged::elf_member`]), anything else read whole.
pub(crate) fn read_image(
    r: impl Read,
    size: u64,
    what: &str,
    opts: &ExtractOptions,
) -> Result<Vec<u8>, ExtractError> {
    let mut r = BufReader::new(r);
    let head = r.fill_buf().map_err(codec::decode(what))?;
    if size >= 64 << 20 && btfkit_btf::is_elf(head) {
        staged::elf_member(r, size, what, opts.encode == Encode::Always)
    } else {
        read_member(r, size, what)
    }
}

/// Reads a package member of `size` bytes (as its header says) into
/// memory: at most 4 GiB (a vmlinux with
/// DWARF is about 1 GiB).
pub(crate) fn read_member(r: impl Read, size: u64, what: &str) -> Result<Vec<u8>, ExtractError> {
    let max = Limit::Large.max_bytes();
    // The exact size up front: growing by doubling would copy hundreds of
    // megabytes and briefly hold both copies.
    let mut out = Vec::with_capacity(size.min(max) as usize);
    r.take(max + 1)
        .read_to_end(&mut out)
        .map_err(codec::decode(what))?;
    if out.len() as u64 > max {
        return Err(ExtractError::TooLarge {
            what: what.to_string(),
            limit: max,
        });
    }
    Ok(out)
}

fn extract_depth(
    data: &[u8],
    depth: u32,
    opts: &ExtractOptions,
) -> Result<Extracted, ExtractError> {
    if depth > 4 {
        return Err(ExtractError::TooDeep);
    }
    let reopen = || -> Result<Box<dyn Read + '_>, ExtractError> { Ok(Box::new(data)) };
    if data.starts_with(b"!<arch>\n") {
        return deb::deb(data, opts, &reopen);
    }
    if data.starts_with(&[0xed, 0xab, 0xee, 0xdb]) {
        return rpm_pkg::rpm(data, opts, &reopen);
    }
    if btfkit_btf::is_elf(data) {
        return elf_btf(data, opts);
    }
    if btfkit_btf::Header::detect_endian(data).is_ok() {
        return Ok(found(data, "raw BTF", None));
    }
    if let Some(payload) = bzimage_payload(data) {
        let codec = Codec::detect(payload).ok_or(ExtractError::UnknownPayload)?;
        let inner = codec.decompress(payload, true)?;
        let mut e = extract_depth(&inner, depth + 1, opts)?;
        e.path
            .insert(0, format!("bzImage {} payload", codec.name()));
        e.arch.get_or_insert_with(|| "x86_64".into());
        return Ok(e);
    }
    if let Some(codec) = Codec::detect(data) {
        let inner = codec.decompress(data, false)?;
        let mut e = extract_depth(&inner, depth + 1, opts)?;
        e.path.insert(0, codec.name().to_string());
        return Ok(e);
    }
    // arm64 Image: "ARM\x64" at 0x38, no sections; find the blob itself.
    let arm64 = data.len() > 0x40 && &data[0x38..0x3c] == b"ARMd";
    match find_embedded_btf(data) {
        Some(btf) => Ok(found(
            btf,
            if arm64 {
                "arm64 Image, BTF found by its header"
            } else {
                "BTF found by its header"
            },
            arm64.then(|| "arm64".to_string()),
        )),
        None => Err(ExtractError::NotFound),
    }
}

/// Checks extracted BTF parses (on `base` for split BTF: a module's BTF
/// needs its kernel's vmlinux BTF).
///
/// # Errors
///
/// [`ExtractError::Invalid`] with the parse error; without a base, the
/// message adds that a module's split BTF needs one.
pub fn validate(btf: &[u8], base: Option<&Btf<'_>>) -> Result<(), ExtractError> {
    Btf::parse_cow(std::borrow::Cow::Borrowed(btf), base)
        .map(|_| ())
        .map_err(|source| ExtractError::Invalid {
            without_base: base.is_none(),
            source,
        })
}

/// Guesses the btfhub distro and version of a package: Debian from its
/// maintainer or version, the release number from a `+debNN`/`~debNN` tag
/// or the kernel series Debian ships.
pub fn guess_distro(info: &PackageInfo) -> Option<(String, String)> {
    if let Some(rpm) = guess_rpm_distro(&info.release) {
        return Some(rpm);
    }
    let debian = info.maintainer.contains("Debian")
        || info.version.contains("deb")
        || info.release.contains("+deb");
    if !debian {
        return None;
    }
    let tagged = [&info.release, &info.version].into_iter().find_map(|s| {
        let i = s.find("deb")?;
        let digits: String = s[i + 3..]
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .collect();
        (!digits.is_empty()).then_some(digits)
    });
    if let Some(v) = tagged {
        return Some(("debian".into(), v));
    }
    let series: Vec<&str> = info.release.splitn(3, '.').take(2).collect();
    let v = match series.as_slice() {
        ["4", "19"] => "10",
        ["5", "10"] => "11",
        ["6", "1"] => "12",
        ["6", "12"] => "13",
        _ => return None,
    };
    Some(("debian".into(), v.into()))
}

/// An RPM distribution's tag in a kernel release: `.fc39` (Fedora 39),
/// `.amzn2` (Amazon Linux 2). RHEL's `.el8` is shared by RHEL, CentOS,
/// Rocky, Alma and Oracle Linux, so it tells no distro.
fn guess_rpm_distro(release: &str) -> Option<(String, String)> {
    let tagged = |tag: &str| {
        let i = release.find(tag)?;
        let digits: String = release[i + tag.len()..]
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .collect();
        (!digits.is_empty()).then_some(digits)
    };
    if let Some(v) = tagged(".fc") {
        return Some(("fedora".into(), v));
    }
    tagged(".amzn").map(|v| ("amzn".into(), v))
}

/// Writes `btf` as `<release>.btf` inside an xz-compressed tar, the btfhub
/// archive format.
pub fn btfhub_tarball(release: &str, btf: &[u8]) -> Result<Vec<u8>, HubError> {
    // The member is named after the release: it must be one file name.
    crate::archive::check_key_component("release", release)?;
    let member = format!("{release}.btf");
    let mut tar = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(btf.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_cksum();
    let pack = |source| HubError::Pack {
        member: member.clone(),
        source,
    };
    tar.append_data(&mut h, &member, btf).map_err(pack)?;
    let tar = tar.into_inner().map_err(pack)?;
    let mut out = Vec::new();
    let mut enc = liblzma::read::XzEncoder::new(&tar[..], 9);
    enc.read_to_end(&mut out).map_err(pack)?;
    Ok(out)
}

/// Files a kernel's modules next to its archive entry: `dir` is the
/// entry's folder (`<distro>/<version>/<arch>`), and each module's split
/// BTF goes to `<release>.modules/<name>.btf.xz` (archive scans skip
/// these folders). The folder is written whole under a temporary name
/// and then renamed, replacing an older one: never half a set. Modules
/// are compressed on `jobs` threads (0: one per core).
///
/// # Errors
///
/// [`HubError::KeyComponent`] for a release or module name that is not
/// one file name, [`HubError::Write`] when writing fails.
pub fn write_modules(
    dir: &Path,
    release: &str,
    modules: &[ModuleBtf],
    jobs: usize,
) -> Result<std::path::PathBuf, HubError> {
    crate::archive::check_key_component("release", release)?;
    for m in modules {
        crate::archive::check_key_component("module name", &m.name)?;
    }
    let target = dir.join(format!("{release}.modules"));
    let tmp = dir.join(format!(".{release}.modules.tmp{}", std::process::id()));
    let write = |path: &Path| {
        let path = path.to_path_buf();
        move |source| HubError::Write { path, source }
    };
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(write(&tmp))?;
    let written = compress_modules(&tmp, modules, jobs).and_then(|()| {
        let old = dir.join(format!(".{release}.modules.old{}", std::process::id()));
        let had = std::fs::rename(&target, &old).is_ok();
        std::fs::rename(&tmp, &target).map_err(write(&target))?;
        if had {
            let _ = std::fs::remove_dir_all(&old);
        }
        Ok(())
    });
    if written.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    written.map(|()| target)
}

/// Writes `<name>.btf.xz` for each module into `dir`, on `jobs` threads.
fn compress_modules(dir: &Path, modules: &[ModuleBtf], jobs: usize) -> Result<(), HubError> {
    let jobs = match jobs {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..jobs.min(modules.len()).max(1))
            .map(|_| {
                s.spawn(|| loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(m) = modules.get(i) else {
                        return Ok(());
                    };
                    let path = dir.join(format!("{}.btf.xz", m.name));
                    let mut xz = Vec::new();
                    liblzma::read::XzEncoder::new(&m.btf[..], 6)
                        .read_to_end(&mut xz)
                        .and_then(|_| std::fs::write(&path, &xz))
                        .map_err(|source| HubError::Write { path, source })?;
                })
            })
            .collect();
        workers
            .into_iter()
            .try_for_each(|w| w.join().expect("module writers do not panic"))
    })
}

/// The endianness of raw BTF bytes.
pub fn btf_endian(btf: &[u8]) -> Option<Endian> {
    btfkit_btf::Header::detect_endian(btf).ok()
}
