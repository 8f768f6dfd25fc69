//! # btfkit-hub
//!
//! BTFHub's build side: minimize every kernel of a btfhub-layout archive
//! for a set of BPF objects into one bundle ([`build()`]), and get kernel BTF
//! out of kernel images and packages in the first place ([`extract`]).
//!
//! [`check`] answers the question the other way round: given objects and an
//! archive or bundle, which programs load on which kernels, and why not.

#![warn(missing_docs)]

pub mod archive;
pub mod build;
mod bundle_build;
pub mod check;
pub mod extract;

pub use build::{build, parse_objects, BuildOptions, BuildReport, KernelResult};
pub use bundle_build::{BuiltBundle, BundleBuild, BundleBuildError, KernelFailure};

/// Errors of this crate. Per-kernel failures during a build or check are
/// not errors: they are recorded in the kernel's result and the run goes
/// on; these stop the whole operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HubError {
    /// The archive or its outputs: the archive path is not a directory, the
    /// cache or `--tree` directory cannot be created or written, or the
    /// bundle cannot be assembled (the message says which, with the path).
    #[error("archive: {0}")]
    Archive(String),
    /// A BPF object does not parse ([`parse_objects`]); the message starts
    /// with the object's label.
    #[error("object {0}")]
    Object(String),
    /// No BTF could be extracted from the input, or what was extracted
    /// does not parse ([`extract::extract`], [`extract::validate`],
    /// [`extract::btfhub_tarball`]): unknown format, a decompression error,
    /// an ELF without `.BTF`, a damaged package.
    #[error("{0}")]
    Extract(String),
    /// A distro, version, arch or release that cannot be one folder or
    /// file name of an archive (see `btfkit_bundle::key_component_problem`).
    #[error("{origin} {value:?} is not a valid key component: {problem}")]
    KeyComponent {
        /// Where the value came from: a flag (`--release`), or an input.
        origin: String,
        /// The offending value.
        value: String,
        /// What is wrong with it, from `key_component_problem` (`"it is
        /// empty"`, `"it contains '/'"`…).
        problem: &'static str,
    },
}
