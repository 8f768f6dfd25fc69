//! Kernel modules of a package, as split BTF on their kernel's: what
//! `--modules` adds to a kernel's archive entry. A module's `.BTF` is
//! taken as it is (Debian's modules and their `-dbg` copies have one);
//! a debug file whose `.BTF` is empty (`objcopy --only-keep-debug`, as
//! RPM `kernel-debuginfo` packages ship `.ko.debug` files) has its DWARF
//! encoded on the kernel's BTF.

use std::sync::atomic::{AtomicUsize, Ordering};

use btfkit_btf::Btf;
use btfkit_encode::{EncodeError, EncodeOptions};

use super::codec::Codec;
use super::{Encode, ExtractOptions};
use crate::ExtractError;

/// A module's split BTF, from a package.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ModuleBtf {
    /// The module's name as the kernel knows it (`/sys/kernel/btf/<name>`):
    /// its file name without `.ko…`, `-` made `_` (`nf_conntrack`).
    pub name: String,
    /// Its file in the package (`usr/lib/debug/lib/modules/6.1.0-56-amd64/kernel/fs/btrfs/btrfs.ko`).
    pub path: String,
    /// Raw split BTF: type ids and strings continue the kernel's.
    pub btf: Vec<u8>,
    /// How it was made: `ELF .BTF`, or `ELF DWARF encoded by btfkit`.
    pub how: &'static str,
}

/// Module folders of a package's tree: the modules themselves and their
/// debug files.
const TREES: [&str; 4] = [
    "lib/modules/",
    "usr/lib/modules/",
    "usr/lib/debug/lib/modules/",
    "usr/lib/debug/usr/lib/modules/",
];

/// The module name of a package file, when it is a kernel module (or a
/// module's debug file) under a release's module tree.
pub(crate) fn module_name(path: &str) -> Option<String> {
    let p = path.trim_start_matches("./").trim_start_matches('/');
    let rest = TREES.iter().find_map(|t| p.strip_prefix(t))?;
    // <release>/…/<file>
    let (_, sub) = rest.split_once('/')?;
    let file = sub.rsplit('/').next()?;
    let stem = [".ko.debug", ".ko.xz", ".ko.zst", ".ko.gz", ".ko"]
        .iter()
        .find_map(|ext| file.strip_suffix(ext))?;
    (!stem.is_empty()).then(|| stem.replace('-', "_"))
}

/// The split BTF of a module file (compressed or not) on `base`, its
/// kernel's BTF; `None` for a module with neither `.BTF` nor DWARF (a
/// module built without debug info: nothing to take).
pub(crate) fn module_btf(
    file: &[u8],
    base: &Btf<'_>,
    opts: &ExtractOptions,
) -> Result<Option<(Vec<u8>, &'static str)>, ExtractError> {
    let elf;
    let data = match Codec::detect(file) {
        Some(codec) => {
            elf = codec.decompress(file, false)?;
            &elf[..]
        }
        None => file,
    };
    let section = btfkit_btf::elf_section(data, ".BTF")
        .map_err(ExtractError::Elf)?
        .filter(|(btf, _)| !btf.is_empty());
    if let (Some((btf, _)), Encode::WhenMissing) = (section, opts.encode) {
        super::validate(btf, Some(base))?;
        return Ok(Some((btf.to_vec(), "ELF .BTF")));
    }
    let eopts = EncodeOptions {
        jobs: 1,
        ..EncodeOptions::default()
    };
    match btfkit_encode::encode(data, Some(base), &eopts) {
        Ok((btf, _)) => Ok(Some((btf, "ELF DWARF encoded by btfkit"))),
        Err(EncodeError::NoDwarf) if section.is_none() => Ok(None),
        Err(source) => Err(ExtractError::Encode { source }),
    }
}

/// The modules of one package, as its walk meets them: each made split
/// BTF once the kernel's BTF is known; those met before it (in RPMs and
/// Debian 7.x packages the modules' folder sorts before the image) are
/// remembered, for a second walk.
pub(crate) struct Modules<'o> {
    opts: &'o ExtractOptions,
    base: Option<Btf<'static>>,
    /// Module files met before the kernel's BTF was known.
    pub(crate) early: std::collections::HashSet<String>,
    pub(crate) done: Vec<ModuleBtf>,
    /// Module files with neither `.BTF` nor DWARF.
    pub(crate) without_btf: Vec<String>,
    /// Module files taken, not yet made split BTF: name, path, bytes.
    pending: Vec<(String, String, Vec<u8>)>,
    pending_bytes: usize,
}

/// Module files are made split BTF in batches of about this many bytes,
/// on the extraction's threads.
const BATCH_BYTES: usize = 64 << 20;

impl<'o> Modules<'o> {
    pub(crate) fn new(opts: &'o ExtractOptions) -> Self {
        Modules {
            opts,
            base: None,
            early: Default::default(),
            done: Vec::new(),
            without_btf: Vec::new(),
            pending: Vec::new(),
            pending_bytes: 0,
        }
    }

    /// The options of the extraction.
    pub(crate) fn opts(&self) -> &'o ExtractOptions {
        self.opts
    }

    /// Whether modules are wanted at all.
    pub(crate) fn wanted(&self) -> bool {
        self.opts.modules
    }

    /// The kernel's BTF, now known.
    pub(crate) fn set_base(&mut self, btf: &[u8]) -> Result<(), ExtractError> {
        let base =
            Btf::parse_cow(std::borrow::Cow::Owned(btf.to_vec()), None).map_err(|source| {
                ExtractError::Invalid {
                    without_base: false,
                    source,
                }
            })?;
        self.base = Some(base);
        Ok(())
    }

    /// The module name of `path` when modules are wanted and it is one
    /// to read now: after the kernel, or in the second walk one met
    /// before it.
    pub(crate) fn module_to_read(&mut self, path: &str, second_walk: bool) -> Option<String> {
        if !self.opts.modules {
            return None;
        }
        let name = module_name(path)?;
        match (&self.base, second_walk) {
            (Some(_), false) => Some(name),
            (Some(_), true) => self.early.contains(path).then_some(name),
            (None, _) => {
                self.early.insert(path.to_string());
                None
            }
        }
    }

    /// Takes a module file; its split BTF is made with the others of its
    /// batch.
    pub(crate) fn take(
        &mut self,
        name: String,
        path: &str,
        file: Vec<u8>,
    ) -> Result<(), ExtractError> {
        self.pending_bytes += file.len();
        self.pending.push((name, path.to_string(), file));
        if self.pending_bytes >= BATCH_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    /// Makes the split BTF of the modules taken so far, on the
    /// extraction's threads: encoding a module's DWARF on its kernel's
    /// BTF takes a fifth of a second, thousands of modules a while.
    fn flush(&mut self) -> Result<(), ExtractError> {
        let pending = std::mem::take(&mut self.pending);
        self.pending_bytes = 0;
        let Some(base) = self.base.as_ref() else {
            return Ok(());
        };
        let opts = self.opts;
        let make = |(name, path, file): &(String, String, Vec<u8>)| {
            let made = module_btf(file, base, opts).map_err(|source| ExtractError::Module {
                path: path.clone(),
                source: Box::new(source),
            })?;
            Ok::<_, ExtractError>(made.map(|(btf, how)| ModuleBtf {
                name: name.clone(),
                path: path.clone(),
                btf,
                how,
            }))
        };
        let jobs = match opts.jobs {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let next = AtomicUsize::new(0);
        let mut results: Vec<(usize, Result<Option<ModuleBtf>, ExtractError>)> =
            std::thread::scope(|s| {
                let workers: Vec<_> = (0..jobs.min(pending.len()))
                    .map(|_| {
                        s.spawn(|| {
                            let mut out = Vec::new();
                            loop {
                                let i = next.fetch_add(1, Ordering::Relaxed);
                                let Some(job) = pending.get(i) else {
                                    return out;
                                };
                                out.push((i, make(job)));
                            }
                        })
                    })
                    .collect();
                workers
                    .into_iter()
                    .flat_map(|w| w.join().expect("module workers do not panic"))
                    .collect()
            });
        // In package order: the first error is the first module's.
        results.sort_by_key(|(i, _)| *i);
        for (i, made) in results {
            match made? {
                Some(m) => self.done.push(m),
                None => self.without_btf.push(pending[i].1.clone()),
            }
        }
        Ok(())
    }

    /// Whether a second walk is needed: modules were met before the
    /// kernel.
    pub(crate) fn need_second_walk(&self) -> bool {
        self.opts.modules && !self.early.is_empty()
    }

    /// Hands the modules made to `e`, checking no two share a name.
    pub(crate) fn finish(mut self, e: &mut super::Extracted) -> Result<(), ExtractError> {
        self.flush()?;
        let mut done = self.done;
        done.sort_by(|a, b| a.name.cmp(&b.name));
        if let Some(w) = done.windows(2).find(|w| w[0].name == w[1].name) {
            return Err(ExtractError::DuplicateModule {
                name: w[0].name.clone(),
                first: w[0].path.clone(),
                second: w[1].path.clone(),
            });
        }
        e.modules = done;
        e.modules_without_btf = self.without_btf;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_files_and_their_names() {
        let cases = [
            ("./usr/lib/debug/lib/modules/6.1.0-56-amd64/kernel/fs/btrfs/btrfs.ko", Some("btrfs")),
            ("usr/lib/debug/lib/modules/5.14.0-70.el9.x86_64/kernel/net/netfilter/nf_conntrack.ko.debug", Some("nf_conntrack")),
            ("lib/modules/6.1.0-56-amd64/kernel/arch/x86/crypto/aegis128-aesni.ko.xz", Some("aegis128_aesni")),
            ("usr/lib/modules/6.12.0/kernel/fs/xfs/xfs.ko.zst", Some("xfs")),
            ("usr/lib/debug/boot/vmlinux-6.1.0-56-amd64", None),
            ("usr/lib/debug/lib/modules/6.1.0-56-amd64/vmlinux", None),
            ("lib/modules/6.1.0-56-amd64/modules.dep", None),
            ("usr/share/doc/x/readme.ko", None),
            ("lib/modules/x.ko", None),
        ];
        for (path, want) in cases {
            assert_eq!(module_name(path).as_deref(), want, "{path}");
        }
    }
}
