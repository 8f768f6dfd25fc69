//! The btfhub-archive layout: `<distro>/<version>/<arch>/<release>.btf.tar.xz`
//! (also `.btf.xz` and plain `.btf`).

use std::path::{Path, PathBuf};

use btfkit_bundle::{normalize_arch, Key};

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

/// How a kernel's file is packed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Packing {
    TarXz,
    Xz,
    Raw,
}

/// A kernel file found in an archive.
#[derive(Clone, Debug)]
pub struct ArchiveKernel {
    pub key: Key,
    pub path: PathBuf,
    pub packing: Packing,
}

/// A file the walk could not use, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejected {
    pub path: PathBuf,
    /// The key, when the path gives one.
    pub key: Option<String>,
    pub reason: String,
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

fn walk_files(dir: &Path, out: &mut Vec<PathBuf>, rejected: &mut Vec<Rejected>) {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) => {
            rejected.push(Rejected {
                path: dir.to_path_buf(),
                key: None,
                reason: format!("cannot read directory: {e}"),
            });
            return;
        }
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk_files(&p, out, rejected);
        } else {
            out.push(p);
        }
    }
}

/// Finds every kernel of an archive. Files that look like kernels but
/// cannot be keyed (wrong depth, unknown architecture folder) and keys
/// that appear twice (after architecture normalization) are rejected with
/// a reason; other files are ignored. Results are sorted by key.
pub fn scan(root: &Path) -> (Vec<ArchiveKernel>, Vec<Rejected>) {
    let mut files = Vec::new();
    let mut rejected = Vec::new();
    walk_files(root, &mut files, &mut rejected);
    files.sort();
    let mut kernels: Vec<ArchiveKernel> = Vec::new();
    for path in files {
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let Some((release, packing)) = packing_of(name) else {
            continue;
        };
        let rel = path.strip_prefix(root).unwrap_or(&path);
        let parts: Vec<&str> = rel.iter().filter_map(|c| c.to_str()).collect();
        let reject = |reason: String, key: Option<String>| Rejected {
            path: path.clone(),
            key,
            reason,
        };
        let [distro, version, arch, _file] = parts.as_slice() else {
            rejected.push(reject(
                "not at <distro>/<version>/<arch>/<release>.btf[.tar.xz|.xz]".into(),
                None,
            ));
            continue;
        };
        let key = Key::new(distro, version, arch, release);
        if !KNOWN_ARCHES.contains(arch) {
            rejected.push(reject(
                format!("unknown architecture folder {arch:?}"),
                Some(key.to_string()),
            ));
            continue;
        }
        if release.is_empty() {
            rejected.push(reject("empty release name".into(), None));
            continue;
        }
        debug_assert_eq!(key.arch, normalize_arch(arch));
        kernels.push(ArchiveKernel { key, path, packing });
    }
    // Two files for one key (say `aarch64/R` and `arm64/R`): neither can be
    // trusted to be the kernel the key names, so both fail.
    let mut by_key: std::collections::HashMap<Key, Vec<usize>> = std::collections::HashMap::new();
    for (i, k) in kernels.iter().enumerate() {
        by_key.entry(k.key.clone()).or_default().push(i);
    }
    let mut dup = vec![false; kernels.len()];
    for group in by_key.values().filter(|g| g.len() > 1) {
        for &i in group {
            dup[i] = true;
            let others: Vec<String> = group
                .iter()
                .filter(|&&j| j != i)
                .map(|&j| kernels[j].path.display().to_string())
                .collect();
            rejected.push(Rejected {
                path: kernels[i].path.clone(),
                key: Some(kernels[i].key.to_string()),
                reason: format!("duplicate key, also at {}", others.join(", ")),
            });
        }
    }
    let mut i = 0;
    kernels.retain(|_| {
        i += 1;
        !dup[i - 1]
    });
    kernels.sort_by(|a, b| a.key.cmp(&b.key));
    (kernels, rejected)
}

/// Where `--tree` writes a kernel's minimized BTF: the archive layout,
/// with the normalized architecture, as `<release>.btf`.
pub fn tree_path(root: &Path, key: &Key) -> PathBuf {
    root.join(&key.distro)
        .join(&key.version)
        .join(&key.arch)
        .join(format!("{}.btf", key.release))
}
