//! # btfkit-hub
//!
//! BTFHub's build side: minimize every kernel of a btfhub-layout archive
//! for a set of BPF objects into one bundle ([`build()`]), and get kernel BTF
//! out of kernel images and packages in the first place ([`extract`];
//! [`rpm`] streams files out of RPM packages).
//!
//! [`check`] answers the question the other way round: given objects and an
//! archive or bundle, which programs load on which kernels, and why not.

#![warn(missing_docs)]

pub mod archive;
pub mod build;
mod bundle_build;
pub mod check;
mod digest;
mod error;
pub mod extract;
pub mod rpm;

pub use build::{build, parse_objects, BuildOptions, BuildReport, KernelResult};
pub use bundle_build::{BuiltBundle, BundleBuild, BundleBuildError, KernelFailure};

pub use error::{ExtractError, HubError, KernelError, Rejection};
