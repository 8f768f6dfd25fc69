//! # btfkit-hub
//!
//! BTFHub's build side: minimize every kernel of a btfhub-layout archive
//! for a set of BPF objects into one bundle ([`build()`]), and get kernel BTF
//! out of kernel images and packages in the first place ([`extract`]).

pub mod archive;
pub mod build;
mod bundle_build;
pub mod check;
pub mod extract;

pub use build::{build, parse_objects, BuildOptions, BuildReport, KernelResult};
pub use bundle_build::{BuiltBundle, BundleBuild, BundleBuildError, KernelFailure};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HubError {
    #[error("archive: {0}")]
    Archive(String),
    #[error("object {0}")]
    Object(String),
    #[error("{0}")]
    Extract(String),
    /// A distro, version, arch or release that cannot be one folder or
    /// file name of an archive (see `btfkit_bundle::key_component_problem`).
    #[error("{origin} {value:?} is not a valid key component: {problem}")]
    KeyComponent {
        /// Where the value came from: a flag (`--release`), or an input.
        origin: String,
        value: String,
        problem: &'static str,
    },
}
