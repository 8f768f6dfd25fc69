//! The btfhub-archive layout: `<distro>/<version>/<arch>/<release>.btf.tar.xz`
//! (also `.btf.xz` and plain `.btf`).

use std::path::{Path, PathBuf};

use btfkit_bundle::{normalize_arch, Key};

use crate::{HubError, Rejection};

/// Architecture folder names an archive may use (before normalization).
pub const KNOWN_ARCHES: &[&str] = &[
    "x86_64",
    "amd64",
    "arm64",
    "aarch64",
    "s390x",
    "ppc64le",
    "ppc64el",
    "riscv64",
    "i386",
    "i686",
    "arm",
    "armhf",
    "loongarch64",
];

/// How a kernel's file is packed, from its name's suffix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Packing {
    /// `<release>.btf.tar.xz`: BTFHub's own packing, an xz-compressed tar
    /// holding the BTF as a member.
    TarXz,
    /// `<release>.btf.xz`: the raw BTF, xz-compressed.
    Xz,
    /// `<release>.btf`: the raw BTF as is (as `--tree` writes it).
    Raw,
}

/// A kernel file found in an archive.
#[derive(Clone, Debug)]
pub struct ArchiveKernel {
    /// The kernel's key, from the file's folders and name (architecture
    /// normalized).
    pub key: Key,
    /// The file, under the archive's root.
    pub path: PathBuf,
    /// How the file is packed.
    pub packing: Packing,
}

/// A file the walk could not use, and why.
#[derive(Debug)]
pub struct Rejected {
    /// The file (or folder that could not be read).
    pub path: PathBuf,
    /// The key, when the path gives one.
    pub key: Option<String>,
    /// Why it was rejected (wrong depth, unknown architecture folder,
    /// symlink out of the archive, duplicate key…).
    pub reason: Rejection,
}

fn packing_of(name: &str) -> Option<(&str, Packing)> {
    if let Some(r) = name.strip_suffix(".btf.tar.xz") {
        Some((r, Packing::TarXz))
    } else if let Some(r) = name.strip_suffix(".btf.xz") {
        Some((r, Packing::Xz))
    } else {
        name.strip_suffix(".btf").map(|r| (r, Packing::Raw))
    }
}

/// Checks one key component, naming where it came from in the error.
pub fn check_key_component(origin: &str, value: &str) -> Result<(), HubError> {
    match btfkit_bundle::key_component_problem(value) {
        None => Ok(()),
        Some(problem) => Err(HubError::KeyComponent {
            origin: origin.to_string(),
            value: value.to_string(),
            problem,
        }),
    }
}

/// What a walk of an archive's folders found.
#[derive(Default)]
struct Walk {
    /// Files, and symlinks that are not to folders.
    files: Vec<PathBuf>,
    /// Symlinks to folders, which are never followed.
    dir_links: Vec<PathBuf>,
    rejected: Vec<Rejected>,
}

/// Collects the files under `dir`. Only real folders are entered: a
/// symlink to a folder can make a loop (`loop/back -> ../../..`) or lead
/// out of the archive, so it is recorded, not followed.
fn walk_files(dir: &Path, walk: &mut Walk) {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) => {
            walk.rejected.push(Rejected {
                path: dir.to_path_buf(),
                key: None,
                reason: Rejection::ReadDir(e),
            });
            return;
        }
    };
    for e in rd.flatten() {
        let p = e.path();
        // `DirEntry::file_type` does not follow symlinks.
        match e.file_type() {
            // A kernel's modules (`hub add --modules`), not kernels.
            Ok(t) if t.is_dir() && is_modules_dir(&p) => {}
            Ok(t) if t.is_dir() => walk_files(&p, walk),
            Ok(t) if t.is_symlink() && p.is_dir() => walk.dir_links.push(p),
            _ => walk.files.push(p),
        }
    }
}

/// Whether a folder holds a kernel's modules, next to its entry
/// (`<release>.modules`, as [`crate::extract::write_modules`] names it).
fn is_modules_dir(p: &Path) -> bool {
    p.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with(".modules") && !n.starts_with('.'))
}

/// Why a kernel file that is a symlink may not be read: it does not
/// resolve, or it resolves outside the archive (`canon_root`, canonical).
/// A regular file (not a link) is always inside, since no folder symlink
/// is followed to reach it.
fn link_problem(path: &Path, canon_root: &Path) -> Option<Rejection> {
    if !path.is_symlink() {
        return None;
    }
    match std::fs::canonicalize(path) {
        Err(source) => Some(Rejection::BrokenLink {
            link: path.to_path_buf(),
            source,
        }),
        Ok(target) if !target.starts_with(canon_root) => Some(Rejection::LinkOutside { target }),
        Ok(_) => None,
    }
}

/// What [`scan_archive`] found.
#[derive(Debug, Default)]
pub struct Scan {
    /// Usable kernels, sorted by key.
    pub kernels: Vec<ArchiveKernel>,
    /// Files that look like kernels but cannot be used, with reasons.
    pub rejected: Vec<Rejected>,
    /// Symlinks to folders, not followed.
    pub dir_links: Vec<PathBuf>,
}

/// Finds every kernel of an archive. Files that look like kernels but
/// cannot be keyed (wrong depth, unknown architecture folder, a name no
/// key can hold), symlinks that leave the archive and keys that appear
/// twice (after architecture normalization) are rejected with a reason;
/// other files are ignored. Symlinks to folders are never followed.
pub fn scan(root: &Path) -> (Vec<ArchiveKernel>, Vec<Rejected>) {
    let s = scan_archive(root);
    (s.kernels, s.rejected)
}

/// [`scan`], also listing the folder symlinks it did not follow.
pub fn scan_archive(root: &Path) -> Scan {
    let mut walk = Walk::default();
    walk_files(root, &mut walk);
    walk.files.sort();
    walk.dir_links.sort();
    let canon_root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    let mut kernels: Vec<ArchiveKernel> = Vec::new();
    for path in walk.files {
        match archive_kernel(root, &canon_root, path) {
            Some(Ok(k)) => kernels.push(k),
            Some(Err(r)) => walk.rejected.push(r),
            None => {}
        }
    }
    let (kernels, mut dups) = drop_duplicate_keys(kernels);
    walk.rejected.append(&mut dups);
    Scan {
        kernels,
        rejected: walk.rejected,
        dir_links: walk.dir_links,
    }
}

/// The kernel a file of the archive is, why it cannot be one, or `None`
/// when its name is not a kernel's.
fn archive_kernel(
    root: &Path,
    canon_root: &Path,
    path: PathBuf,
) -> Option<Result<ArchiveKernel, Rejected>> {
    let (release, packing) = packing_of(path.file_name()?.to_str()?)?;
    let release = release.to_string();
    let reject = |reason: Rejection, key: Option<String>| {
        Some(Err(Rejected {
            path: path.clone(),
            key,
            reason,
        }))
    };
    let rel = path.strip_prefix(root).unwrap_or(&path);
    let Some(parts) = rel
        .iter()
        .map(|c| c.to_str())
        .collect::<Option<Vec<&str>>>()
    else {
        return reject(Rejection::NotUtf8, None);
    };
    let [distro, version, arch, _file] = parts.as_slice() else {
        return reject(Rejection::Layout, None);
    };
    let named = [("distro", distro), ("version", version), ("arch", arch)];
    for (what, value) in named.into_iter().chain([("release", &release.as_str())]) {
        if let Some(problem) = btfkit_bundle::key_component_problem(value) {
            let value = value.to_string();
            return reject(
                Rejection::KeyComponent {
                    what,
                    value,
                    problem,
                },
                None,
            );
        }
    }
    let key = Key::new(distro, version, arch, &release);
    if !KNOWN_ARCHES.contains(arch) {
        return reject(
            Rejection::UnknownArch(arch.to_string()),
            Some(key.to_string()),
        );
    }
    if let Some(reason) = link_problem(&path, canon_root) {
        return reject(reason, Some(key.to_string()));
    }
    debug_assert_eq!(key.arch, normalize_arch(arch));
    Some(Ok(ArchiveKernel { key, path, packing }))
}

/// Two files for one key (say `aarch64/R` and `arm64/R`): neither can be
/// trusted to be the kernel the key names, so both are rejected. The
/// kernels left are sorted by key.
fn drop_duplicate_keys(kernels: Vec<ArchiveKernel>) -> (Vec<ArchiveKernel>, Vec<Rejected>) {
    let mut by_key: std::collections::HashMap<Key, Vec<usize>> = std::collections::HashMap::new();
    for (i, k) in kernels.iter().enumerate() {
        by_key.entry(k.key.clone()).or_default().push(i);
    }
    let mut dup = vec![false; kernels.len()];
    let mut rejected = Vec::new();
    for group in by_key.values().filter(|g| g.len() > 1) {
        for &i in group {
            dup[i] = true;
            let others: Vec<PathBuf> = group
                .iter()
                .filter(|&&j| j != i)
                .map(|&j| kernels[j].path.clone())
                .collect();
            rejected.push(Rejected {
                path: kernels[i].path.clone(),
                key: Some(kernels[i].key.to_string()),
                reason: Rejection::DuplicateKey { others },
            });
        }
    }
    let mut kept: Vec<ArchiveKernel> = kernels
        .into_iter()
        .zip(dup)
        .filter(|(_, d)| !d)
        .map(|(k, _)| k)
        .collect();
    kept.sort_by(|a, b| a.key.cmp(&b.key));
    (kept, rejected)
}

/// Where `--tree` writes a kernel's minimized BTF: the archive layout,
/// with the normalized architecture, as `<release>.btf`.
pub fn tree_path(root: &Path, key: &Key) -> PathBuf {
    root.join(&key.distro)
        .join(&key.version)
        .join(&key.arch)
        .join(format!("{}.btf", key.release))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(p: &Path) {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, b"x").unwrap();
    }

    #[test]
    fn key_components_are_single_names() {
        for bad in [
            "", ".", "..", "a/b", "/x", "../../x", "a\0b", "a\nb", "a\x7fb",
        ] {
            assert!(
                btfkit_bundle::key_component_problem(bad).is_some(),
                "{bad:?}"
            );
        }
        for good in [
            "debian",
            "12",
            "x86_64",
            "6.1.0-56-amd64",
            "21.10U3",
            "...",
            "a..b",
        ] {
            assert_eq!(btfkit_bundle::key_component_problem(good), None, "{good:?}");
        }
        let e = check_key_component("--release", "../x").unwrap_err();
        assert_eq!(
            e.to_string(),
            "--release \"../x\" is not a valid key component: it contains '/'"
        );
    }

    /// Folder symlinks are listed, not followed (a loop ends at once);
    /// kernel-named file symlinks are read only when they stay inside.
    #[test]
    fn scan_follows_no_folder_symlink_and_no_file_symlink_out() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("archive");
        let x86 = root.join("debian/12/x86_64");
        touch(&x86.join("r1.btf"));
        touch(&dir.path().join("outside.btf"));
        std::os::unix::fs::symlink("r1.btf", x86.join("r2.btf")).unwrap();
        std::os::unix::fs::symlink("../../../../outside.btf", x86.join("r3.btf")).unwrap();
        std::os::unix::fs::symlink("missing.btf", x86.join("r4.btf")).unwrap();
        std::fs::create_dir_all(root.join("debian/12/loop")).unwrap();
        std::os::unix::fs::symlink("../../..", root.join("debian/12/loop/back")).unwrap();
        // A folder link into the archive would give every kernel twice.
        std::os::unix::fs::symlink("x86_64", root.join("debian/12/amd64")).unwrap();
        let s = scan_archive(&root);
        let keys: Vec<String> = s.kernels.iter().map(|k| k.key.to_string()).collect();
        assert_eq!(keys, ["debian/12/x86_64/r1", "debian/12/x86_64/r2"]);
        let why: Vec<(&str, String)> = s
            .rejected
            .iter()
            .map(|r| (r.key.as_deref().unwrap(), r.reason.to_string()))
            .collect();
        assert_eq!(why.len(), 2, "{why:?}");
        assert_eq!(why[0].0, "debian/12/x86_64/r3");
        assert!(
            why[0].1.starts_with("symlink to ")
                && why[0]
                    .1
                    .ends_with("outside.btf, outside the archive: not read"),
            "{}",
            why[0].1
        );
        assert_eq!(why[1].0, "debian/12/x86_64/r4");
        assert!(
            matches!(&s.rejected[1].reason, Rejection::BrokenLink { link, .. } if link.ends_with("r4.btf")),
            "{}",
            why[1].1
        );
        assert_eq!(
            s.dir_links,
            [
                root.join("debian/12/amd64"),
                root.join("debian/12/loop/back")
            ]
        );
    }

    #[test]
    fn names_no_key_can_hold_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        touch(&root.join("debian/12/x86_64/.btf"));
        touch(&root.join("debian/1\n2/x86_64/r.btf"));
        let s = scan_archive(root);
        assert!(s.kernels.is_empty());
        let reasons: Vec<String> = s.rejected.iter().map(|r| r.reason.to_string()).collect();
        assert_eq!(
            reasons,
            [
                "version \"1\\n2\" is not a valid key component: it contains a control character",
                "release \"\" is not a valid key component: it is empty",
            ]
        );
    }
}
