//! `hub build`: every kernel of an archive minimized for a set of objects,
//! in parallel, into one bundle (and optionally a tree of files).

use std::io::{IsTerminal, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use btfkit_btf::input::{self, Limit};
use btfkit_btf::load::{decompress_xz, tar_btf_member};
use btfkit_btf::{Btf, ParseOptions};
use btfkit_bundle::BundleBuilder;
use btfkit_core::{BpfObject, Target};
use btfkit_gen::{MinOptions, Minimizer};
use xxhash_rust::xxh3::xxh3_128;

use crate::archive::{scan_archive, tree_path, ArchiveKernel, Packing, Rejected, Scan};
use crate::{HubError, KernelError};
use btfkit_btf::error_chain;

/// Build knobs.
#[derive(Clone, Debug, Default)]
pub struct BuildOptions {
    /// Worker threads (0: one per core).
    pub jobs: usize,
    /// Keep decompressed kernel BTFs here, keyed by the input's content hash.
    pub cache: Option<PathBuf>,
    /// Also write each minimized BTF under this directory, archive layout.
    pub tree: Option<PathBuf>,
    /// Write the bundle even when some kernels fail.
    pub keep_going: bool,
    /// Progress lines on stderr (a bar when stderr is a terminal).
    pub progress: bool,
}

/// One kernel's outcome.
#[derive(Debug)]
pub struct KernelResult {
    /// The kernel's `distro/version/arch/release` key; for a file rejected
    /// before it had a key, its path.
    pub key: String,
    /// The archive file.
    pub path: PathBuf,
    /// Minimized BTF, or why the kernel failed.
    pub outcome: Result<Vec<u8>, KernelError>,
    /// Size of the archive file.
    pub bytes_in: u64,
    /// Size of the kernel's full BTF.
    pub raw_len: u64,
    /// The decompressed BTF came from [`BuildOptions::cache`] rather than
    /// from decompressing the archive file.
    pub from_cache: bool,
}

/// What a build did.
#[derive(Debug)]
pub struct BuildReport {
    /// Every kernel file found, rejected ones included, sorted by key.
    pub kernels: Vec<KernelResult>,
    /// Wall-clock time of the whole build.
    pub elapsed: Duration,
    /// The bundle, unless failures stopped the build.
    pub bundle: Option<Vec<u8>>,
    /// Symlinks to folders in the archive, which are not followed.
    pub dir_links: Vec<PathBuf>,
}

impl BuildReport {
    /// The kernels that failed (rejected by the scan, unreadable, or not
    /// minimized), with their reasons in [`KernelResult::outcome`].
    pub fn failed(&self) -> impl Iterator<Item = &KernelResult> {
        self.kernels.iter().filter(|k| k.outcome.is_err())
    }

    /// How many kernels were minimized (and so are in the bundle, when
    /// there is one).
    pub fn done(&self) -> usize {
        self.kernels.iter().filter(|k| k.outcome.is_ok()).count()
    }

    /// A multi-line summary: counts, failures with reasons, time, bytes.
    pub fn summary(&self) -> String {
        let failed: Vec<&KernelResult> = self.failed().collect();
        let bytes_in: u64 = self.kernels.iter().map(|k| k.bytes_in).sum();
        let raw: u64 = self.kernels.iter().map(|k| k.raw_len).sum();
        let cached = self.kernels.iter().filter(|k| k.from_cache).count();
        let mut s = format!(
            "{} kernels: {} done, {} failed, in {:.2} s; {} archive bytes in ({} of BTF, {} from cache)",
            self.kernels.len(),
            self.done(),
            failed.len(),
            self.elapsed.as_secs_f64(),
            bytes_in,
            raw,
            cached
        );
        match &self.bundle {
            Some(b) => s.push_str(&format!("; bundle {} bytes", b.len())),
            None => s.push_str("; no bundle written"),
        }
        for f in failed {
            let e = f.outcome.as_ref().expect_err("failed");
            s.push_str(&format!("\n  failed {}: {}", f.key, error_chain(e)));
        }
        for l in &self.dir_links {
            s.push_str(&format!(
                "\n  skipped {}: a symlink to a folder, not followed",
                l.display()
            ));
        }
        s
    }
}

/// Decompressed kernel BTFs by content hash of their archive file. Each
/// file ends with the xxh3-128 of what precedes it, so a damaged or
/// half-written entry is a miss, never wrong input.
struct Cache {
    dir: PathBuf,
}

impl Cache {
    fn path(&self, hash: u128) -> PathBuf {
        self.dir.join(format!("{hash:032x}.btf"))
    }

    fn get(&self, hash: u128) -> Option<Vec<u8>> {
        // Regular files only: a FIFO planted in the cache must not hang.
        let mut data = input::read(&self.path(hash), Limit::Large).ok()?;
        let body = data.len().checked_sub(16)?;
        let sum = u128::from_le_bytes(data[body..].try_into().ok()?);
        if xxh3_128(&data[..body]) != sum {
            return None;
        }
        data.truncate(body);
        Some(data)
    }

    fn put(&self, hash: u128, raw: &[u8]) {
        let path = self.path(hash);
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let mut data = Vec::with_capacity(raw.len() + 16);
        data.extend_from_slice(raw);
        data.extend_from_slice(&xxh3_128(raw).to_le_bytes());
        // A cache that cannot be written only costs time.
        if std::fs::write(&tmp, &data).is_err() || std::fs::rename(&tmp, &path).is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
    }
}

/// A kernel's BTF: `bytes[range]` (the member of a decompressed tarball,
/// or everything).
pub(crate) struct KernelBtf {
    bytes: Vec<u8>,
    range: Range<usize>,
}

impl KernelBtf {
    fn whole(bytes: Vec<u8>) -> KernelBtf {
        let range = 0..bytes.len();
        KernelBtf { bytes, range }
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.bytes[self.range.clone()]
    }
}

/// Reads a kernel's full BTF, without a cache.
pub(crate) fn load_kernel_btf(k: &ArchiveKernel) -> Result<KernelBtf, btfkit_btf::Error> {
    load_kernel(k, None).map(|(raw, _, _)| raw)
}

/// Reads a kernel's full BTF (decompressing as its packing says). The
/// archive file is read as any input is: a regular file only, of at most
/// [`Limit::Btf`] bytes; its tarball member is the one every reader picks
/// ([`btfkit_btf::load::tar_btf_member`]).
fn load_kernel(
    k: &ArchiveKernel,
    cache: Option<&Cache>,
) -> Result<(KernelBtf, u64, bool), btfkit_btf::Error> {
    let data = input::read(&k.path, Limit::Btf)?;
    let bytes_in = data.len() as u64;
    let hash = xxh3_128(&data);
    if let Some(raw) = cache.and_then(|c| c.get(hash)) {
        return Ok((KernelBtf::whole(raw), bytes_in, true));
    }
    let raw = match k.packing {
        Packing::Raw => KernelBtf::whole(data),
        Packing::Xz => KernelBtf::whole(decompress_xz(&data).map_err(in_file(&k.path))?),
        Packing::TarXz => {
            let bytes = decompress_xz(&data).map_err(in_file(&k.path))?;
            // The member is used in place, not copied out of the archive.
            let range = tar_btf_member(&bytes).map_err(in_file(&k.path))?;
            KernelBtf { bytes, range }
        }
    };
    if let Some(c) = cache {
        c.put(hash, raw.bytes());
    }
    Ok((raw, bytes_in, false))
}

/// Puts an error about a kernel's data (decompression, tarball) in its
/// file, as reading does.
fn in_file(path: &Path) -> impl Fn(btfkit_btf::Error) -> btfkit_btf::Error + '_ {
    move |e| btfkit_btf::Error::File {
        path: path.to_path_buf(),
        inner: Box::new(e),
    }
}

/// Minimizes one kernel for the objects.
fn minimize_kernel(
    raw: &[u8],
    objects: &[(String, BpfObject<'_>)],
    threads: usize,
) -> Result<Vec<u8>, KernelError> {
    let btf = Btf::parse_with(
        std::borrow::Cow::Borrowed(raw),
        None,
        ParseOptions {
            threads,
            ..ParseOptions::default()
        },
    )?;
    let target = Target::new(&btf);
    let mut m = Minimizer::new(&target);
    for (label, obj) in objects {
        m.add_object(label, obj);
    }
    Ok(m.finish(&MinOptions::default())?.btf)
}

struct Progress {
    total: usize,
    done: AtomicUsize,
    tty: bool,
    enabled: bool,
    out: Mutex<()>,
}

impl Progress {
    fn tick(&self, r: &KernelResult) {
        let n = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        if !self.enabled {
            return;
        }
        let _guard = self.out.lock().expect("progress lock");
        let mut err = std::io::stderr().lock();
        if self.tty {
            let width = 30;
            let filled = width * n / self.total.max(1);
            let _ = write!(
                err,
                "\r\x1b[2K[{}{}] {n}/{} {}",
                "#".repeat(filled),
                " ".repeat(width - filled),
                self.total,
                r.key
            );
            if let Err(e) = &r.outcome {
                let e = error_chain(e);
                let _ = write!(err, "\r\x1b[2Kfailed {}: {e}\n", r.key);
            }
            if n == self.total {
                let _ = writeln!(err);
            }
        } else {
            match &r.outcome {
                Ok(b) => {
                    let _ = writeln!(err, "[{n}/{}] {} {} bytes", self.total, r.key, b.len());
                }
                Err(e) => {
                    let e = error_chain(e);
                    let _ = writeln!(err, "[{n}/{}] {} FAILED: {e}", self.total, r.key);
                }
            }
        }
    }
}

/// Writes `bytes` to `path` through a temporary file, so that a failed
/// or interrupted write never leaves a partial file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp{}", std::process::id()));
    let tmp = path.with_file_name(name);
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// Builds a bundle from every kernel under `archive` for `objects`: BTFGen
/// over a whole btfhub-archive, one bundle out instead of one file per
/// kernel.
///
/// The archive is scanned as [`archive::scan_archive`](crate::archive::scan_archive)
/// does (`<distro>/<version>/<arch>/<release>.btf[.tar.xz|.xz]`); each
/// kernel is read, decompressed, parsed and minimized to the types the
/// objects' CO-RE relocations need on it (as `bpftool gen min_core_btf`
/// does, for all objects at once), on [`BuildOptions::jobs`] threads,
/// largest files first. Objects are parsed once by the caller
/// ([`parse_objects`]) and shared by every worker.
///
/// A kernel that fails (a file the scan rejected, unreadable or damaged
/// BTF, a minimization error) does not stop the others: it is reported in
/// [`BuildReport::kernels`], and then no bundle is made unless
/// [`BuildOptions::keep_going`] is set, in which case the bundle holds the
/// kernels that succeeded.
///
/// # Errors
///
/// [`HubError::NotADirectory`] when `archive` is not a directory,
/// [`HubError::Cache`] or [`HubError::Write`] when the cache or tree cannot
/// be written, [`HubError::Bundle`] when the bundle cannot be assembled.
///
/// # Example
///
/// A one-kernel archive and no objects (every kernel minimizes to almost
/// nothing, but the whole pipeline runs):
///
/// ```rust
/// use btfkit_hub::{build, BuildOptions};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let archive = tempfile::tempdir()?;
/// let dir = archive.path().join("debian/12/amd64");
/// std::fs::create_dir_all(&dir)?;
/// // A tiny stand-in for a kernel's BTF: one `int`.
/// let mut kernel = btfkit_btf::BtfBuilder::new();
/// kernel.add_int("int", 4, 1)?;
/// std::fs::write(dir.join("6.1.0-56-amd64.btf"), kernel.finish())?;
///
/// let objects: Vec<(String, btfkit_core::BpfObject<'_>)> = Vec::new();
/// let opts = BuildOptions { jobs: 1, ..BuildOptions::default() };
/// let report = build(archive.path(), &objects, &opts)?;
/// assert_eq!(report.done(), 1);
///
/// let bytes = report.bundle.expect("no kernel failed");
/// let bundle = btfkit_bundle::Bundle::parse(&bytes)?;
/// assert!(bundle.find("debian", "12", "x86_64", "6.1.0-56-amd64").is_some());
///
/// // A damaged kernel fails on its own; without keep_going, no bundle.
/// std::fs::write(dir.join("6.1.0-57-amd64.btf"), b"not BTF")?;
/// let report = build(archive.path(), &objects, &opts)?;
/// assert_eq!((report.done(), report.failed().count()), (1, 1));
/// assert!(report.bundle.is_none());
/// # Ok(())
/// # }
/// ```
pub fn build(
    archive: &Path,
    objects: &[(String, BpfObject<'_>)],
    opts: &BuildOptions,
) -> Result<BuildReport, HubError> {
    let start = Instant::now();
    if !archive.is_dir() {
        return Err(HubError::NotADirectory {
            path: archive.to_path_buf(),
        });
    }
    let Scan {
        kernels,
        rejected,
        dir_links,
    } = scan_archive(archive);
    let cache = match &opts.cache {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|source| HubError::Cache {
                path: dir.clone(),
                source,
            })?;
            Some(Cache { dir: dir.clone() })
        }
        None => None,
    };
    let jobs = match opts.jobs {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
    .min(kernels.len().max(1));
    // Parallelism comes from kernels; each parse stays on its thread
    // unless there is only one worker.
    let parse_threads = if jobs > 1 {
        1
    } else {
        ParseOptions::default().threads
    };
    let progress = Progress {
        total: kernels.len() + rejected.len(),
        done: AtomicUsize::new(0),
        tty: std::io::stderr().is_terminal(),
        enabled: opts.progress,
        out: Mutex::new(()),
    };
    let mut results: Vec<KernelResult> = rejected
        .into_iter()
        .map(|Rejected { path, key, reason }| KernelResult {
            key: key.unwrap_or_else(|| path.display().to_string()),
            path,
            outcome: Err(reason.into()),
            bytes_in: 0,
            raw_len: 0,
            from_cache: false,
        })
        .collect();
    for r in &results {
        progress.tick(r);
    }
    // Largest first, so no big kernel starts last and leaves the other
    // workers idle while it finishes.
    let mut order: Vec<usize> = (0..kernels.len()).collect();
    let size = |k: &ArchiveKernel| std::fs::metadata(&k.path).map_or(0, |m| m.len());
    order.sort_by_cached_key(|&i| std::cmp::Reverse(size(&kernels[i])));
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<KernelResult>>> =
        kernels.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| {
                while let Some(&i) = order.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let k = &kernels[i];
                    let r = match load_kernel(k, cache.as_ref()) {
                        Ok((raw, bytes_in, from_cache)) => KernelResult {
                            key: k.key.to_string(),
                            path: k.path.clone(),
                            outcome: minimize_kernel(raw.bytes(), objects, parse_threads),
                            bytes_in,
                            raw_len: raw.bytes().len() as u64,
                            from_cache,
                        },
                        Err(e) => KernelResult {
                            key: k.key.to_string(),
                            path: k.path.clone(),
                            outcome: Err(e.into()),
                            bytes_in: 0,
                            raw_len: 0,
                            from_cache: false,
                        },
                    };
                    progress.tick(&r);
                    *slots[i].lock().expect("slot") = Some(r);
                }
            });
        }
    });
    let built: Vec<KernelResult> = slots
        .into_iter()
        .map(|m| m.into_inner().expect("slot").expect("every kernel ran"))
        .collect();
    let any_failed = results.iter().chain(&built).any(|r| r.outcome.is_err());
    let mut bundle = None;
    if !any_failed || opts.keep_going {
        let mut b = BundleBuilder::new();
        for (k, r) in kernels.iter().zip(&built) {
            if let Ok(btf) = &r.outcome {
                b.add(k.key.clone(), btf).map_err(HubError::Bundle)?;
            }
        }
        bundle = Some(b.finish().map_err(HubError::Bundle)?);
        if let Some(tree) = &opts.tree {
            for (k, r) in kernels.iter().zip(&built) {
                if let Ok(btf) = &r.outcome {
                    let p = tree_path(tree, &k.key);
                    std::fs::create_dir_all(p.parent().expect("has a parent"))
                        .and_then(|_| write_atomic(&p, btf))
                        .map_err(|source| HubError::Write { path: p, source })?;
                }
            }
        }
    }
    results.extend(built);
    results.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(BuildReport {
        kernels: results,
        elapsed: start.elapsed(),
        bundle,
        dir_links,
    })
}

/// Parses `(label, bytes)` BPF objects once for a [`build`]; the objects
/// borrow from `bytes`. The label names the object in reports.
///
/// # Errors
///
/// [`HubError::Object`], with the label, for the first object that does
/// not parse.
pub fn parse_objects<B: std::ops::Deref<Target = [u8]>>(
    bytes: &[(String, B)],
) -> Result<Vec<(String, BpfObject<'_>)>, HubError> {
    bytes
        .iter()
        .map(|(label, b)| {
            BpfObject::parse(b)
                .map(|o| (label.clone(), o))
                .map_err(|source| HubError::Object {
                    label: label.clone(),
                    source,
                })
        })
        .collect()
}
