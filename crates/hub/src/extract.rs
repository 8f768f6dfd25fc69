//! Getting kernel BTF out of what distributions ship: vmlinux ELF files,
//! compressed x86 bzImages (gzip, xz, lzma, lz4 legacy, zstd, bzip2
//! payloads), arm64 `Image` files without a section table (the BTF blob
//! is found by its header), kernel modules (`.ko`, also xz/zstd/gzip
//! compressed; split BTF) and Debian `linux-image-*.deb` packages.

use std::io::Read;

use btfkit_btf::{Btf, Endian};

use crate::{ExtractError, HubError};

/// Largest decompressed size accepted (a vmlinux with BTF is well under).
const MAX_OUTPUT: u64 = 1 << 30;

fn too_large(what: &str) -> ExtractError {
    ExtractError::TooLarge {
        what: what.to_string(),
        limit: MAX_OUTPUT,
    }
}

fn decode(what: &str) -> impl FnOnce(std::io::Error) -> ExtractError + '_ {
    move |source| ExtractError::Decode {
        what: what.to_string(),
        source,
    }
}

/// liblzma's errors as I/O errors, as its readers report them.
fn lzma_io(e: liblzma::stream::Error) -> std::io::Error {
    std::io::Error::other(e)
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

fn read_limited(mut r: impl Read, what: &str) -> Result<Vec<u8>, ExtractError> {
    let mut out = Vec::new();
    r.by_ref()
        .take(MAX_OUTPUT + 1)
        .read_to_end(&mut out)
        .map_err(decode(what))?;
    if out.len() as u64 > MAX_OUTPUT {
        return Err(too_large(what));
    }
    Ok(out)
}

/// Compression formats recognized by their leading bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Codec {
    Gzip,
    Xz,
    Lzma,
    Zstd,
    Bzip2,
    Lz4Frame,
    Lz4Legacy,
}

impl Codec {
    fn detect(d: &[u8]) -> Option<Codec> {
        Some(match d {
            [0x1f, 0x8b, ..] => Codec::Gzip,
            [0xfd, b'7', b'z', b'X', b'Z', 0, ..] => Codec::Xz,
            [0x28, 0xb5, 0x2f, 0xfd, ..] => Codec::Zstd,
            [b'B', b'Z', b'h', ..] => Codec::Bzip2,
            [0x04, 0x22, 0x4d, 0x18, ..] => Codec::Lz4Frame,
            [0x02, 0x21, 0x4c, 0x18, ..] => Codec::Lz4Legacy,
            // lzma "alone": properties byte 0x5d and a power-of-two dictionary.
            [0x5d, 0, 0, ..] => Codec::Lzma,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Codec::Gzip => "gzip",
            Codec::Xz => "xz",
            Codec::Lzma => "lzma",
            Codec::Zstd => "zstd",
            Codec::Bzip2 => "bzip2",
            Codec::Lz4Frame => "lz4",
            Codec::Lz4Legacy => "lz4 legacy",
        }
    }

    /// A streaming decoder over `d` (lz4 legacy, only ever a kernel
    /// payload, is decoded whole by [`lz4_legacy`]). `single` decodes one
    /// stream and ignores what follows — a bzImage payload ends with the
    /// kernel build's 4-byte size — where files may hold several streams.
    fn reader<'d>(self, d: &'d [u8], single: bool) -> Result<Box<dyn Read + 'd>, ExtractError> {
        // Decoder memory is bounded: a header claiming a huge dictionary
        // or window is an error, not an allocation.
        const MEMLIMIT: u64 = 1 << 30;
        let xz_err = |e| decode(self.name())(lzma_io(e));
        Ok(match self {
            Codec::Gzip if single => Box::new(flate2::read::GzDecoder::new(d)),
            Codec::Gzip => Box::new(flate2::read::MultiGzDecoder::new(d)),
            Codec::Xz if single => {
                let stream =
                    liblzma::stream::Stream::new_stream_decoder(MEMLIMIT, 0).map_err(xz_err)?;
                Box::new(std::io::Cursor::new(one_stream(stream, d, self.name())?))
            }
            Codec::Lzma if single => {
                let stream = liblzma::stream::Stream::new_lzma_decoder(MEMLIMIT).map_err(xz_err)?;
                Box::new(std::io::Cursor::new(one_stream(stream, d, self.name())?))
            }
            Codec::Xz => {
                let stream = liblzma::stream::Stream::new_stream_decoder(
                    MEMLIMIT,
                    liblzma::stream::CONCATENATED,
                )
                .map_err(xz_err)?;
                Box::new(liblzma::read::XzDecoder::new_stream(d, stream))
            }
            Codec::Lzma => {
                let stream = liblzma::stream::Stream::new_lzma_decoder(MEMLIMIT).map_err(xz_err)?;
                Box::new(liblzma::read::XzDecoder::new_stream(d, stream))
            }
            Codec::Zstd => {
                let dec = zstd::stream::read::Decoder::new(d).map_err(decode(self.name()))?;
                if single {
                    Box::new(dec.single_frame())
                } else {
                    Box::new(dec)
                }
            }
            Codec::Bzip2 if single => Box::new(bzip2::read::BzDecoder::new(d)),
            Codec::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(d)),
            Codec::Lz4Frame => Box::new(lz4_flex::frame::FrameDecoder::new(d)),
            Codec::Lz4Legacy => Box::new(std::io::Cursor::new(lz4_legacy(d)?)),
        })
    }

    fn decompress(self, d: &[u8], single: bool) -> Result<Vec<u8>, ExtractError> {
        read_limited(self.reader(d, single)?, self.name())
    }
}

/// Decodes the one xz or lzma stream at the start of `d`, ignoring what
/// follows it (liblzma's reader would call trailing bytes corrupt).
fn one_stream(
    mut s: liblzma::stream::Stream,
    d: &[u8],
    what: &'static str,
) -> Result<Vec<u8>, ExtractError> {
    use liblzma::stream::{Action, Status};
    let mut out: Vec<u8> = Vec::new();
    loop {
        if out.len() == out.capacity() {
            if out.len() as u64 > MAX_OUTPUT {
                return Err(too_large(what));
            }
            out.reserve(out.len().clamp(1 << 16, 64 << 20));
        }
        let (consumed, produced) = (s.total_in() as usize, out.len());
        let status = s
            .process_vec(&d[consumed..], &mut out, Action::Run)
            .map_err(|e| decode(what)(lzma_io(e)))?;
        if status == Status::StreamEnd {
            return Ok(out);
        }
        if s.total_in() as usize == consumed && out.len() == produced && out.len() < out.capacity()
        {
            return Err(ExtractError::Truncated { format: what });
        }
    }
}

/// The lz4 "legacy" format the kernel uses for lz4 bzImages: blocks of at
/// most 8 MiB, each a 4-byte compressed length and an lz4 block; streams
/// may be concatenated (magic again), and the kernel appends the
/// decompressed size, which ends the walk.
fn lz4_legacy(d: &[u8]) -> Result<Vec<u8>, ExtractError> {
    const MAGIC: u32 = 0x184c_2102;
    const BLOCK: usize = 8 << 20;
    let mut out = Vec::new();
    let mut buf = vec![0u8; BLOCK];
    let mut pos = 4;
    while pos + 4 <= d.len() {
        let len = u32::from_le_bytes(d[pos..pos + 4].try_into().expect("4 bytes"));
        if len == MAGIC {
            pos += 4;
            continue;
        }
        let len = len as usize;
        if len == 0
            || len > d.len() - pos - 4
            || len > lz4_flex::block::get_maximum_output_size(BLOCK)
        {
            break;
        }
        let n = lz4_flex::block::decompress_into(&d[pos + 4..pos + 4 + len], &mut buf)
            .map_err(|e| decode("lz4 legacy")(std::io::Error::other(e)))?;
        out.extend_from_slice(&buf[..n]);
        if out.len() as u64 > MAX_OUTPUT {
            return Err(too_large("lz4 legacy"));
        }
        pos += 4 + len;
    }
    if out.is_empty() {
        return Err(ExtractError::Lz4NoBlocks);
    }
    Ok(out)
}

/// ELF machine → architecture name.
fn elf_arch(data: &[u8]) -> Option<String> {
    use object::Object;
    let f = object::File::parse(data).ok()?;
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

/// A member of an `ar` archive (Debian packages are ar archives).
fn ar_members(data: &[u8]) -> Result<Vec<(String, &[u8])>, ExtractError> {
    let ar = |problem: String, offset: usize| ExtractError::Ar { problem, offset };
    if !data.starts_with(b"!<arch>\n") {
        return Err(ar("not an ar archive".into(), 0));
    }
    let mut out = Vec::new();
    let mut pos = 8;
    while pos + 60 <= data.len() {
        let h = &data[pos..pos + 60];
        if &h[58..60] != b"`\n" {
            return Err(ar("bad member header".into(), pos));
        }
        let name = String::from_utf8_lossy(&h[..16])
            .trim_end()
            .trim_end_matches('/')
            .to_string();
        let size: usize = String::from_utf8_lossy(&h[48..58])
            .trim()
            .parse()
            .map_err(|_| ar("bad size".into(), pos))?;
        let start = pos + 60;
        let end = start
            .checked_add(size)
            .filter(|&e| e <= data.len())
            .ok_or_else(|| ar(format!("member {name} truncated"), pos))?;
        out.push((name, &data[start..end]));
        pos = end + (size & 1);
    }
    Ok(out)
}

/// Files of a (possibly compressed) tar, by name, that `want` accepts;
/// streamed, stopping after `max` of them.
fn tar_files(
    data: &[u8],
    max: usize,
    mut want: impl FnMut(&str) -> bool,
) -> Result<Vec<(String, Vec<u8>)>, ExtractError> {
    let reader: Box<dyn Read + '_> = match Codec::detect(data) {
        Some(c) => c.reader(data, false)?,
        None => Box::new(data),
    };
    let mut ar = tar::Archive::new(reader.take(MAX_OUTPUT * 4));
    let mut out = Vec::new();
    for entry in ar.entries().map_err(ExtractError::Tar)? {
        let mut entry = entry.map_err(ExtractError::Tar)?;
        if entry.header().entry_type() != tar::EntryType::Regular {
            continue;
        }
        let name = entry
            .path()
            .map_err(ExtractError::Tar)?
            .to_string_lossy()
            .into_owned();
        if want(&name) {
            let bytes = read_limited(&mut entry, &name)?;
            out.push((name, bytes));
            if out.len() == max {
                break;
            }
        }
    }
    Ok(out)
}

fn control_field(control: &str, field: &str) -> String {
    control
        .lines()
        .find_map(|l| l.strip_prefix(field).and_then(|r| r.strip_prefix(':')))
        .map(|v| v.trim().to_string())
        .unwrap_or_default()
}

fn deb(data: &[u8]) -> Result<Extracted, ExtractError> {
    let members = ar_members(data)?;
    let find = |prefix: &str| {
        members
            .iter()
            .find(|(n, _)| n.starts_with(prefix))
            .map(|(n, d)| (n.clone(), *d))
    };
    let missing = |member: String| ExtractError::DebMember { member };
    let (cname, control_tar) = find("control.tar").ok_or_else(|| missing("control.tar".into()))?;
    let control = tar_files(control_tar, 1, |n| n.trim_start_matches("./") == "control")?;
    let control = control
        .first()
        .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
        .ok_or_else(|| missing(format!("control file in {cname}")))?;
    let package = control_field(&control, "Package");
    // Since 7.x Debian splits the image out of linux-image-R into
    // linux-binary-R (linux-binary-unsigned-R before signing).
    let release = ["linux-image-", "linux-binary-unsigned-", "linux-binary-"]
        .iter()
        .find_map(|p| package.strip_prefix(p))
        .map(|r| {
            r.trim_end_matches("-unsigned")
                .trim_end_matches("-dbg")
                .to_string()
        })
        .unwrap_or_default();
    let info = PackageInfo {
        version: control_field(&control, "Version"),
        architecture: control_field(&control, "Architecture"),
        maintainer: control_field(&control, "Maintainer"),
        package,
        release,
    };
    let (dname, data_tar) = find("data.tar").ok_or_else(|| missing("data.tar".into()))?;
    // The kernel image, or in -dbg packages the vmlinux with debug info.
    let images = tar_files(data_tar, 1, |n| {
        let n = n.trim_start_matches("./");
        n.starts_with("boot/vmlinuz-")
            || (n.starts_with("usr/lib/modules/") && n.ends_with("/vmlinuz"))
            || n.starts_with("boot/vmlinux-")
            || (n.starts_with("usr/lib/debug/boot/vmlinux-"))
    })?;
    let (iname, image) = images
        .into_iter()
        .next()
        .ok_or_else(|| ExtractError::NoKernelImage {
            package: info.package.clone(),
            member: dname.clone(),
        })?;
    let mut inner = extract(&image)?;
    inner.path.insert(0, iname);
    inner.path.insert(
        0,
        format!("deb {} {} ({dname})", info.package, info.version),
    );
    inner.package = Some(info);
    Ok(inner)
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
    extract_depth(data, 0)
}

fn extract_depth(data: &[u8], depth: u32) -> Result<Extracted, ExtractError> {
    if depth > 4 {
        return Err(ExtractError::TooDeep);
    }
    let found = |btf: &[u8], how: &str, arch: Option<String>| Extracted {
        btf: btf.to_vec(),
        path: vec![how.to_string()],
        package: None,
        arch,
    };
    if data.starts_with(b"!<arch>\n") {
        return deb(data);
    }
    if btfkit_btf::is_elf(data) {
        let (btf, _) = btfkit_btf::elf_section(data, ".BTF")
            .map_err(ExtractError::Elf)?
            .ok_or(ExtractError::NoBtfSection)?;
        return Ok(found(btf, "ELF .BTF", elf_arch(data)));
    }
    if btfkit_btf::Header::detect_endian(data).is_ok() {
        return Ok(found(data, "raw BTF", None));
    }
    if let Some(payload) = bzimage_payload(data) {
        let codec = Codec::detect(payload).ok_or(ExtractError::UnknownPayload)?;
        let inner = codec.decompress(payload, true)?;
        let mut e = extract_depth(&inner, depth + 1)?;
        e.path
            .insert(0, format!("bzImage {} payload", codec.name()));
        e.arch.get_or_insert_with(|| "x86_64".into());
        return Ok(e);
    }
    if let Some(codec) = Codec::detect(data) {
        let inner = codec.decompress(data, false)?;
        let mut e = extract_depth(&inner, depth + 1)?;
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

/// The endianness of raw BTF bytes.
pub fn btf_endian(btf: &[u8]) -> Option<Endian> {
    btfkit_btf::Header::detect_endian(btf).ok()
}
