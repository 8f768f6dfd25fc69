//! Bundles made at build time, from a crate's `build.rs`: every kernel of
//! an archive minimized for the crate's BPF objects, written where
//! `include_bytes!` finds it.
//!
//! ```no_run
//! // build.rs
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     btfkit_hub::BundleBuild::new("../shared/corpus/archive")
//!         .object("bpf/probe.bpf.o")
//!         .write_to_out_dir("btf.bundle")?;
//!     Ok(())
//! }
//! ```
//!
//! ```ignore
//! // main.rs
//! static BUNDLE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/btf.bundle"));
//! ```
//!
//! Cargo compiles build scripts without optimization by default, and
//! minimizing a whole archive unoptimized takes many times longer: give
//! the crate that builds bundles
//!
//! ```toml
//! [profile.dev.build-override]
//! opt-level = 3
//! ```

use std::io;
use std::path::{Path, PathBuf};

use btfkit_core::{BpfObject, ObjectError};

use crate::build::{build, write_atomic, BuildOptions, BuildReport, KernelResult};
use crate::{HubError, KernelError};
use btfkit_btf::error_chain;

/// A bundle to build from an archive for a set of BPF objects: the
/// build-script face of `btfkit hub build`.
#[derive(Clone, Debug)]
pub struct BundleBuild {
    archive: PathBuf,
    objects: Vec<PathBuf>,
    cache: Cache,
    jobs: usize,
    keep_going: bool,
}

/// Where decompressed kernel BTFs are kept between builds.
#[derive(Clone, Debug)]
enum Cache {
    /// In `OUT_DIR` when building there, else none.
    Default,
    Dir(PathBuf),
    Off,
}

/// A bundle built, with the report of every kernel.
#[derive(Debug)]
pub struct BuiltBundle {
    /// The bundle's bytes (the `btfkit_bundle` format).
    pub bytes: Vec<u8>,
    /// Every kernel's outcome, timings and sizes (its `bundle` is moved
    /// to `bytes`).
    pub report: BuildReport,
}

/// A kernel of the archive that could not be minimized.
#[derive(Debug)]
pub struct KernelFailure {
    /// Its bundle key, `distro/version/arch/release`.
    pub key: String,
    /// Its file in the archive.
    pub path: PathBuf,
    /// Why it failed.
    pub reason: KernelError,
}

/// Why a bundle could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BundleBuildError {
    /// `write_to_out_dir` outside a build script.
    #[error("OUT_DIR is not set: write_to_out_dir is for build scripts (use write_to elsewhere)")]
    NoOutDir,
    /// No object was given: a bundle for nothing is empty.
    #[error("no BPF object to build the bundle for")]
    NoObjects,
    /// An object file could not be read.
    #[error("reading BPF object {path}")]
    ReadObject {
        /// The object file.
        path: PathBuf,
        /// The read error.
        #[source]
        source: io::Error,
    },
    /// An object file is not a BPF object btfkit can read.
    #[error("BPF object {path}")]
    ParseObject {
        /// The object file.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        source: ObjectError,
    },
    /// The archive could not be read or the bundle not assembled.
    #[error("building a bundle from {archive}")]
    Build {
        /// The archive.
        archive: PathBuf,
        /// What failed.
        #[source]
        source: HubError,
    },
    /// Some kernels failed and `keep_going` was off.
    #[error("{} of {total} kernels of {} failed, first {}: {}", failures.len(), archive.display(), failures[0].key, error_chain(&failures[0].reason))]
    Kernels {
        /// The archive.
        archive: PathBuf,
        /// How many kernels the archive has.
        total: usize,
        /// Each failed kernel (never empty).
        failures: Vec<KernelFailure>,
    },
    /// The archive has no kernel.
    #[error("no kernel in {archive}")]
    NoKernels {
        /// The archive.
        archive: PathBuf,
    },
    /// The bundle could not be written.
    #[error("writing the bundle to {path}")]
    Write {
        /// The bundle file.
        path: PathBuf,
        /// The write error.
        #[source]
        source: io::Error,
    },
}

impl BundleBuild {
    /// A build from `archive`, a btfhub-layout directory
    /// (`distro/version/arch/release.btf.tar.xz`, `.btf.xz` or `.btf`).
    pub fn new(archive: impl Into<PathBuf>) -> Self {
        BundleBuild {
            archive: archive.into(),
            objects: Vec::new(),
            cache: Cache::Default,
            jobs: 0,
            keep_going: false,
        }
    }

    /// Adds a BPF object (relative paths: to the current directory, which
    /// in a build script is the package's).
    pub fn object(mut self, path: impl Into<PathBuf>) -> Self {
        self.objects.push(path.into());
        self
    }

    /// Adds BPF objects.
    pub fn objects<P: Into<PathBuf>>(mut self, paths: impl IntoIterator<Item = P>) -> Self {
        self.objects.extend(paths.into_iter().map(Into::into));
        self
    }

    /// Keeps decompressed kernel BTFs in `dir` (None: no cache). By
    /// default `write_to_out_dir` keeps them in `OUT_DIR/btfkit-cache`,
    /// which lasts until `cargo clean`, so a rebuild after an object
    /// changes only minimizes.
    pub fn cache_dir(mut self, dir: Option<PathBuf>) -> Self {
        self.cache = dir.map_or(Cache::Off, Cache::Dir);
        self
    }

    /// Worker threads (0, the default: one per core).
    pub fn jobs(mut self, jobs: usize) -> Self {
        self.jobs = jobs;
        self
    }

    /// Builds the bundle from the kernels that succeed even when some fail
    /// (default: any failure is an error).
    pub fn keep_going(mut self, keep_going: bool) -> Self {
        self.keep_going = keep_going;
        self
    }

    /// Builds the bundle in memory.
    pub fn build(&self) -> Result<BuiltBundle, BundleBuildError> {
        self.build_with_cache(match &self.cache {
            Cache::Dir(d) => Some(d.clone()),
            Cache::Default | Cache::Off => None,
        })
    }

    /// Builds the bundle and writes it to `path` (atomically).
    pub fn write_to(&self, path: impl AsRef<Path>) -> Result<BuiltBundle, BundleBuildError> {
        let built = self.build()?;
        write(path.as_ref(), &built.bytes)?;
        Ok(built)
    }

    /// From a build script: builds the bundle into `OUT_DIR/name` and tells
    /// Cargo to run the script again when an object or the archive changes
    /// (`cargo:rerun-if-changed`); kernels that failed under `keep_going`
    /// become `cargo:warning` lines. Returns the bundle's path.
    pub fn write_to_out_dir(&self, name: &str) -> Result<PathBuf, BundleBuildError> {
        let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").ok_or(BundleBuildError::NoOutDir)?);
        for p in self.objects.iter().chain([&self.archive]) {
            println!("cargo:rerun-if-changed={}", p.display());
        }
        let cache = match &self.cache {
            Cache::Default => Some(out_dir.join("btfkit-cache")),
            Cache::Dir(d) => Some(d.clone()),
            Cache::Off => None,
        };
        let built = self.build_with_cache(cache)?;
        for f in built.report.failed() {
            let reason = f.outcome.as_ref().err().map(|e| error_chain(e));
            let reason = reason.unwrap_or_default();
            println!("cargo:warning=btfkit: kernel {} left out: {reason}", f.key);
        }
        let path = out_dir.join(name);
        write(&path, &built.bytes)?;
        Ok(path)
    }

    fn build_with_cache(&self, cache: Option<PathBuf>) -> Result<BuiltBundle, BundleBuildError> {
        if self.objects.is_empty() {
            return Err(BundleBuildError::NoObjects);
        }
        let bytes = self
            .objects
            .iter()
            .map(|p| {
                std::fs::read(p).map_err(|source| BundleBuildError::ReadObject {
                    path: p.clone(),
                    source,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let objects = self
            .objects
            .iter()
            .zip(&bytes)
            .map(|(p, b)| {
                BpfObject::parse(b)
                    .map(|o| (p.display().to_string(), o))
                    .map_err(|source| BundleBuildError::ParseObject {
                        path: p.clone(),
                        source,
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let opts = BuildOptions {
            jobs: self.jobs,
            cache,
            tree: None,
            keep_going: self.keep_going,
            progress: false,
        };
        let report =
            build(&self.archive, &objects, &opts).map_err(|source| BundleBuildError::Build {
                archive: self.archive.clone(),
                source,
            })?;
        if report.kernels.is_empty() {
            return Err(BundleBuildError::NoKernels {
                archive: self.archive.clone(),
            });
        }
        let failed = report.failed().count();
        // Under keep_going, still an error when no kernel is left.
        let usable = failed == 0 || (self.keep_going && failed < report.kernels.len());
        let mut report = report;
        match report.bundle.take() {
            Some(bytes) if usable => Ok(BuiltBundle { bytes, report }),
            _ => Err(BundleBuildError::Kernels {
                archive: self.archive.clone(),
                total: report.kernels.len(),
                failures: failures(report),
            }),
        }
    }
}

/// The failed kernels of a report, their errors moved out of it.
fn failures(report: BuildReport) -> Vec<KernelFailure> {
    let failure = |k: KernelResult| match k.outcome {
        Err(reason) => Some(KernelFailure {
            key: k.key,
            path: k.path,
            reason,
        }),
        Ok(_) => None,
    };
    report.kernels.into_iter().filter_map(failure).collect()
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), BundleBuildError> {
    write_atomic(path, bytes).map_err(|source| BundleBuildError::Write {
        path: path.to_path_buf(),
        source,
    })
}
