//! RPM packages (`kernel-core`, `kernel-debuginfo`) read as a stream with
//! [`crate::rpm::RpmReader`]: the payload is walked until the kernel
//! image (`lib/modules/R/vmlinuz`, or the debug vmlinux at
//! `usr/lib/debug/lib/modules/R/vmlinux`), which alone is held in memory.

use std::io::Read;
use std::ops::ControlFlow;

use super::deb::{is_kernel_image, Reopen};
use super::modules::Modules;
use super::{image_btf, read_image, read_member, ExtractOptions, Extracted, PackageInfo};
use crate::rpm::{RpmInfo, RpmReader};
use crate::ExtractError;

/// The kernel release an image's path names (`lib/modules/R/vmlinuz`,
/// `usr/lib/debug/lib/modules/R/vmlinux`, `boot/vmlinuz-R`).
fn release_of(path: &str) -> Option<String> {
    if let Some((_, rest)) = path.split_once("lib/modules/") {
        return rest.split_once('/').map(|(r, _)| r.to_string());
    }
    let name = path.rsplit('/').next()?;
    ["vmlinuz-", "vmlinux-"]
        .iter()
        .find_map(|p| name.strip_prefix(p))
        .map(str::to_string)
}

/// What an RPM's header says, as [`PackageInfo`]: the version is RPM's
/// `version-release`, the kernel release the image path's (else
/// `version-release.arch`, as `uname -r` shows it on RPM distributions).
fn package_info(info: &RpmInfo, image_path: &str) -> PackageInfo {
    let version = format!("{}-{}", info.version, info.release);
    PackageInfo {
        package: info.name.clone(),
        release: release_of(image_path).unwrap_or_else(|| format!("{version}.{}", info.arch)),
        version,
        architecture: info.arch.clone(),
        maintainer: String::new(),
    }
}

/// The BTF of an RPM package's kernel (and, with
/// [`ExtractOptions::modules`], of its modules), reading `r` from its
/// start; `reopen` reads it again when modules come before the kernel (in
/// a `kernel-debuginfo` package they do: `…/kernel/` sorts before
/// `…/vmlinux`).
pub(crate) fn rpm(
    r: impl Read,
    opts: &ExtractOptions,
    reopen: Reopen<'_>,
) -> Result<Extracted, ExtractError> {
    let mut modules = Modules::new(opts);
    let reader = RpmReader::new(r)?;
    let info = reader.info().clone();
    let mut kernel: Option<Extracted> = None;
    reader.for_each_file(|file, body| {
        if kernel.is_none() && is_kernel_image(file.path) {
            let image = read_image(body, file.size, file.path, opts)?;
            let e = kernel_btf(&image, file.path, &info, opts)?;
            drop(image);
            if !modules.wanted() {
                kernel = Some(e);
                return Ok(ControlFlow::Break(()));
            }
            modules.set_base(&e.btf)?;
            kernel = Some(e);
        } else if let Some(name) = modules.module_to_read(file.path, false) {
            let bytes = read_member(body, file.size, file.path)?;
            modules.take(name, file.path, bytes)?;
        }
        Ok::<_, ExtractError>(ControlFlow::Continue(()))
    })?;
    let mut e = kernel.ok_or_else(|| ExtractError::NoKernelImage {
        package: info.name.clone(),
        member: "the payload".into(),
    })?;
    if modules.need_second_walk() {
        RpmReader::new(reopen()?)?.for_each_file(|file, body| {
            if let Some(name) = modules.module_to_read(file.path, true) {
                let bytes = read_member(body, file.size, file.path)?;
                modules.take(name, file.path, bytes)?;
            }
            Ok::<_, ExtractError>(ControlFlow::Continue(()))
        })?;
    }
    modules.finish(&mut e)?;
    Ok(e)
}

/// The BTF of the kernel image at `path`, its provenance said.
fn kernel_btf(
    image: &[u8],
    path: &str,
    info: &RpmInfo,
    opts: &ExtractOptions,
) -> Result<Extracted, ExtractError> {
    let mut e = image_btf(image, opts)?;
    let pkg = package_info(info, path);
    let compressor = match info.payload_compressor.as_str() {
        "" => "uncompressed",
        c => c,
    };
    e.path.insert(0, path.to_string());
    e.path.insert(
        0,
        format!(
            "rpm {} {} ({} {compressor})",
            pkg.package, pkg.version, info.payload_format
        ),
    );
    e.arch = Some(info.arch.clone()).filter(|a| !a.is_empty()).or(e.arch);
    e.package = Some(pkg);
    Ok(e)
}
