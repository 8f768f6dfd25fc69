//! Debian packages (`.deb`, Ubuntu's `.ddeb`) read as a stream: an `ar`
//! archive of `debian-binary`, `control.tar.*` and `data.tar.*`, each
//! member read in order and only as far as needed. The kernel image (or
//! the vmlinux with DWARF of a `-dbg`/`-dbgsym` package) is the one file
//! of the data tarball held in memory; the package itself never is, and
//! nothing is unpacked to disk.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read};

use super::codec::{read_limited, Codec};
use super::modules::{module_name, Modules};
use super::{image_btf, ExtractOptions, Extracted, PackageInfo};
use crate::digest::{parse_md5sums, HashingReader, Listed};
use crate::ExtractError;

/// An `ar` member's header.
struct ArMember {
    name: String,
    size: u64,
    /// Offset of the header in the archive, for errors.
    offset: u64,
}

/// Reads the next member header of an `ar` stream at `offset`; `None` at
/// the end.
fn ar_header(r: &mut impl BufRead, offset: u64) -> Result<Option<ArMember>, ExtractError> {
    let ar = |problem: &str| ExtractError::Ar {
        problem: problem.to_string(),
        offset: offset as usize,
    };
    if r.fill_buf().map_err(ExtractError::Tar)?.is_empty() {
        return Ok(None);
    }
    let mut h = [0u8; 60];
    r.read_exact(&mut h)
        .map_err(|_| ar("truncated member header"))?;
    if &h[58..60] != b"`\n" {
        return Err(ar("bad member header"));
    }
    let name = String::from_utf8_lossy(&h[..16])
        .trim_end()
        .trim_end_matches('/')
        .to_string();
    let size = String::from_utf8_lossy(&h[48..58])
        .trim()
        .parse()
        .map_err(|_| ar("bad size"))?;
    Ok(Some(ArMember { name, size, offset }))
}

fn control_field(control: &str, field: &str) -> String {
    control
        .lines()
        .find_map(|l| l.strip_prefix(field).and_then(|r| r.strip_prefix(':')))
        .map(|v| v.trim().to_string())
        .unwrap_or_default()
}

/// What a package's control file says of its kernel.
fn package_info(control: &str) -> PackageInfo {
    let package = control_field(control, "Package");
    // Since 7.x Debian splits the image out of linux-image-R into
    // linux-binary-R (linux-binary-unsigned-R before signing); Ubuntu's
    // debug symbols are linux-image-unsigned-R-dbgsym.
    let release = [
        "linux-image-unsigned-",
        "linux-image-",
        "linux-binary-unsigned-",
        "linux-binary-",
    ]
    .iter()
    .find_map(|p| package.strip_prefix(p))
    .map(|r| {
        r.trim_end_matches("-dbgsym")
            .trim_end_matches("-dbg")
            .trim_end_matches("-unsigned")
            .to_string()
    })
    .unwrap_or_default();
    PackageInfo {
        version: control_field(control, "Version"),
        architecture: control_field(control, "Architecture"),
        maintainer: control_field(control, "Maintainer"),
        package,
        release,
    }
}

/// A member of a (compressed) tar stream, decoded by its leading bytes.
fn tar_stream<'r>(
    r: impl Read + 'r,
    member: &str,
) -> Result<tar::Archive<Box<dyn Read + 'r>>, ExtractError> {
    let mut r = BufReader::with_capacity(1 << 16, r);
    let head = r.fill_buf().map_err(ExtractError::Tar)?;
    let reader: Box<dyn Read + 'r> = match Codec::detect(head) {
        Some(c) => c.stream(r)?,
        None if member.ends_with(".tar") => Box::new(r),
        None => {
            return Err(ExtractError::UnknownCompression {
                what: "package member",
            })
        }
    };
    Ok(tar::Archive::new(reader))
}

/// What `control.tar.*` says: the control file, and the MD5s of the
/// package's kernel images (from `md5sums`; a package built without one
/// has none, and its image is then checked only by its compression).
struct Control {
    info: PackageInfo,
    md5sums: HashMap<String, Listed>,
}

fn control_of(member: impl Read, name: &str) -> Result<Control, ExtractError> {
    let mut ar = tar_stream(member, name)?;
    let mut control = None;
    let mut md5sums = HashMap::new();
    for entry in ar.entries().map_err(ExtractError::Tar)? {
        let entry = entry.map_err(ExtractError::Tar)?;
        let path = entry.path().map_err(ExtractError::Tar)?;
        match path.to_string_lossy().trim_start_matches("./") {
            "control" => {
                let bytes = read_limited(entry, "control")?;
                control = Some(package_info(&String::from_utf8_lossy(&bytes)));
            }
            "md5sums" => {
                let bytes = read_limited(entry, "md5sums")?;
                md5sums = parse_md5sums(&String::from_utf8_lossy(&bytes), |p| {
                    is_kernel_image(p) || module_name(p).is_some()
                });
            }
            _ => {}
        }
    }
    let info = control.ok_or_else(|| ExtractError::DebMember {
        member: format!("control file in {name}"),
    })?;
    Ok(Control { info, md5sums })
}

/// Whether a file of a package's data is a kernel image: the compressed
/// image (`boot/vmlinuz-R`, `usr/lib/modules/R/vmlinuz`), or the vmlinux
/// with DWARF of a debug package (`usr/lib/debug/boot/vmlinux-R`,
/// `usr/lib/debug/lib/modules/R/vmlinux`), or a plain `boot/vmlinux-R`.
pub(crate) fn is_kernel_image(path: &str) -> bool {
    let p = path.trim_start_matches("./").trim_start_matches('/');
    let in_modules = |prefix: &str, file: &str| {
        p.strip_prefix(prefix)
            .and_then(|rest| rest.split_once('/'))
            .is_some_and(|(_, f)| f == file)
    };
    p.starts_with("boot/vmlinuz-")
        || p.starts_with("boot/vmlinux-")
        || p.starts_with("usr/lib/debug/boot/vmlinux-")
        || in_modules("usr/lib/modules/", "vmlinuz")
        || in_modules("lib/modules/", "vmlinuz")
        || in_modules("usr/lib/debug/lib/modules/", "vmlinux")
}

/// Reads a file of the data tarball with `read`, checked against the MD5
/// the package lists for it.
fn read_checked<R: Read>(
    entry: R,
    path: &str,
    md5sums: &HashMap<String, Listed>,
    read: impl FnOnce(&mut dyn Read) -> Result<Vec<u8>, ExtractError>,
) -> Result<Vec<u8>, ExtractError> {
    let Some(listed) = md5sums.get(path) else {
        let mut entry = entry;
        return read(&mut entry);
    };
    let mut hashed = HashingReader::new(entry, listed.algorithm);
    let bytes = read(&mut hashed)?;
    listed
        .check(hashed.into_hasher())
        .map_err(|m| ExtractError::MemberDigest {
            member: path.to_string(),
            algorithm: m.algorithm,
            expected: m.expected,
            actual: m.actual,
        })?;
    Ok(bytes)
}

/// A handle on the package to read it again from its start, for a second
/// walk.
pub(crate) type Reopen<'a> = &'a dyn Fn() -> Result<Box<dyn Read + 'a>, ExtractError>;

/// The BTF of a Debian package's kernel (and, with
/// [`ExtractOptions::modules`], of its modules), reading `r` from its
/// start; `reopen` reads it again when modules come before the kernel.
pub(crate) fn deb(
    r: impl Read,
    opts: &ExtractOptions,
    reopen: Reopen<'_>,
) -> Result<Extracted, ExtractError> {
    let mut modules = Modules::new(opts);
    let mut e = walk(r, &mut modules, false)?.expect("the first walk finds the kernel or fails");
    if modules.need_second_walk() {
        walk(reopen()?, &mut modules, true)?;
    }
    modules.finish(&mut e)?;
    Ok(e)
}

/// One walk over the package: the kernel (first walk) and the modules
/// to read in this walk.
fn walk(
    r: impl Read,
    modules: &mut Modules<'_>,
    second: bool,
) -> Result<Option<Extracted>, ExtractError> {
    let mut r = BufReader::with_capacity(1 << 20, r);
    let mut magic = [0u8; 8];
    if r.read_exact(&mut magic).is_err() || &magic != b"!<arch>\n" {
        return Err(ExtractError::Ar {
            problem: "not an ar archive".into(),
            offset: 0,
        });
    }
    let mut offset = 8;
    let mut control = None;
    while let Some(m) = ar_header(&mut r, offset)? {
        let mut body = (&mut r).take(m.size);
        if m.name.starts_with("control.tar") {
            control = Some(control_of(&mut body, &m.name)?);
        } else if m.name.starts_with("data.tar") {
            let control = control.ok_or_else(|| ExtractError::DebMember {
                member: "control.tar".into(),
            })?;
            return data(body, &m.name, control, modules, second);
        }
        // What is left of the member (a tar reader stops at its end
        // blocks), then the padding to an even offset.
        io::copy(&mut body, &mut io::sink()).map_err(ExtractError::Tar)?;
        if body.limit() > 0 {
            return Err(ExtractError::Ar {
                problem: format!("member {} truncated", m.name),
                offset: m.offset as usize,
            });
        }
        if m.size & 1 == 1 {
            io::copy(&mut (&mut r).take(1), &mut io::sink()).map_err(ExtractError::Tar)?;
        }
        offset = m.offset + 60 + m.size + (m.size & 1);
    }
    Err(ExtractError::DebMember {
        member: "data.tar".into(),
    })
}

/// The data member's kernel image and its BTF (first walk), and the
/// modules to read in this walk. The first walk stops after the image
/// unless modules are wanted.
fn data(
    body: impl Read,
    name: &str,
    control: Control,
    modules: &mut Modules<'_>,
    second: bool,
) -> Result<Option<Extracted>, ExtractError> {
    let Control { info, md5sums } = control;
    let opts = modules.opts();
    let mut kernel: Option<Extracted> = None;
    let mut ar = tar_stream(body, name)?;
    for entry in ar.entries().map_err(ExtractError::Tar)? {
        let entry = entry.map_err(ExtractError::Tar)?;
        if entry.header().entry_type() != tar::EntryType::Regular {
            continue;
        }
        let path = entry.path().map_err(ExtractError::Tar)?;
        let path = path.to_string_lossy().trim_start_matches("./").to_string();
        let size = entry.size();
        if !second && kernel.is_none() && is_kernel_image(&path) {
            let image = read_checked(entry, &path, &md5sums, |r| {
                super::read_image(r, size, &path, opts)
            })?;
            let mut e = image_btf(&image, opts)?;
            drop(image);
            e.path.insert(0, path);
            e.path
                .insert(0, format!("deb {} {} ({name})", info.package, info.version));
            e.package = Some(info.clone());
            if !modules.wanted() {
                return Ok(Some(e));
            }
            modules.set_base(&e.btf)?;
            kernel = Some(e);
        } else if let Some(module) = modules.module_to_read(&path, second) {
            let file = read_checked(entry, &path, &md5sums, |r| {
                super::read_member(r, size, &path)
            })?;
            modules.take(module, &path, file)?;
        }
    }
    if second {
        return Ok(None);
    }
    kernel.map(Some).ok_or_else(|| ExtractError::NoKernelImage {
        package: info.package.clone(),
        member: name.to_string(),
    })
}
