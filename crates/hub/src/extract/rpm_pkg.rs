//! RPM packages (`kernel-core`, `kernel-debuginfo`) read as a stream with
//! [`crate::rpm::RpmReader`]: the payload is walked until the kernel
//! image (`lib/modules/R/vmlinuz`, or the debug vmlinux at
//! `usr/lib/debug/lib/modules/R/vmlinux`), which alone is held in memory.

use std::io::Read;
use std::ops::ControlFlow;

use super::deb::is_kernel_image;
use super::{image_btf, read_image, ExtractOptions, Extracted, PackageInfo};
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

/// The BTF of an RPM package's kernel, reading `r` once from its start.
pub(crate) fn rpm(r: impl Read, opts: &ExtractOptions) -> Result<Extracted, ExtractError> {
    let reader = RpmReader::new(r)?;
    let info = reader.info().clone();
    let mut image = None;
    reader.for_each_file(|file, body| {
        if !is_kernel_image(file.path) {
            return Ok::<_, ExtractError>(ControlFlow::Continue(()));
        }
        image = Some((
            file.path.to_string(),
            read_image(body, file.size, file.path, opts)?,
        ));
        Ok(ControlFlow::Break(()))
    })?;
    let (path, bytes) = image.ok_or_else(|| ExtractError::NoKernelImage {
        package: info.name.clone(),
        member: "the payload".into(),
    })?;
    let mut e = image_btf(&bytes, opts)?;
    let pkg = package_info(&info, &path);
    let compressor = match info.payload_compressor.as_str() {
        "" => "uncompressed",
        c => c,
    };
    e.path.insert(0, path);
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
