//! # btfkit-resolver
//!
//! Picks the BTF for the host a program runs on, in memory, and says why.
//! The ladder (first success wins, every rung recorded):
//!
//! 1. `BTFKIT_BTF_FILE`: when set it must be usable BTF (raw or ELF),
//!    otherwise resolution fails — it is never silently passed over;
//! 2. `/sys/kernel/btf/vmlinux`;
//! 3. libbpf's fallback vmlinux files ([`FALLBACK_PATHS`]);
//! 4. an embedded bundle, by os-release `ID`/`VERSION_ID`, architecture
//!    (`aarch64` is `arm64`) and release — or, without os-release or an
//!    exact key, by a release unique in the bundle, with a warning;
//! 5. otherwise an error listing every rung and why it failed.
//!
//! Host paths are prefixed with `BTFKIT_HOST_ROOT` (a container sees the
//! host under e.g. `/host`); `BTFKIT_OSRELEASE_FILE` replaces os-release;
//! `BTFKIT_KERNEL_RELEASE` and `BTFKIT_MACHINE` stand in for uname.
//! Host facts that become parts of probed paths or bundle keys (release,
//! machine, os-release `ID`/`VERSION_ID`) must each be one path component
//! (`btfkit_bundle::key_component_problem`); a bad release or machine is an error
//! naming its variable, a bad os-release counts as no os-release. Every
//! file is read as a regular file of bounded size
//! (`btfkit_btf::input`).
//! [`Kconfig`] reads the kernel's configuration the way libbpf does.
//!
//! Resolution only reads: no file is created, no temporary copy is made.
//!
//! # Example
//!
//! A host that lacks kernel BTF, seen through a host root (here a temporary
//! directory standing in for `/host` in a container), resolved from a
//! bundle:
//!
//! ```rust
//! use btfkit_bundle::{BundleBuilder, Key};
//! use btfkit_resolver::{Outcome, Resolver, Rung, Settings, Source};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // The host: an os-release, and no /sys/kernel/btf/vmlinux nor vmlinux
//! // files under /boot or /lib/modules.
//! let root = tempfile::tempdir()?;
//! std::fs::create_dir_all(root.path().join("etc"))?;
//! std::fs::write(
//!     root.path().join("etc/os-release"),
//!     "ID=ubuntu\nVERSION_ID=\"20.04\"\n",
//! )?;
//! let settings = Settings {
//!     host_root: Some(root.path().to_path_buf()),
//!     kernel_release: Some("5.4.0-42-generic".into()), // instead of uname
//!     machine: Some("x86_64".into()),
//!     ..Settings::default()
//! };
//!
//! // The bundle a program would embed with include_bytes!.
//! let mut kernel = btfkit_btf::BtfBuilder::new();
//! kernel.add_int("int", 4, 1)?;
//! let btf = kernel.finish();
//! let mut b = BundleBuilder::new();
//! b.add(Key::new("ubuntu", "20.04", "x86_64", "5.4.0-42-generic"), &btf)?;
//! let bundle = b.finish()?;
//!
//! let resolved = Resolver::with_settings(settings).bundle(&bundle).resolve()?;
//! assert_eq!(&resolved.bytes[..], &btf[..]);
//! assert_eq!(
//!     resolved.source,
//!     Source::Bundle { key: "ubuntu/20.04/x86_64/5.4.0-42-generic".into() }
//! );
//! assert!(resolved.warnings.is_empty()); // an exact key: nothing assumed
//! // Every rung is recorded: sysfs was looked for under the host root.
//! let sysfs = resolved.steps.iter().find(|s| s.rung == Rung::Sysfs).unwrap();
//! assert!(matches!(sysfs.outcome, Outcome::Absent(_)));
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

mod host;
mod kconfig;
mod ladder;
mod memfd;
pub mod report;

pub use host::{
    kernel_version, parse_os_release, version_code_from_release, version_code_from_signature,
    FactOrigin, Host, HostFactError, KernelInfo, OsRelease, Settings, ENV_BTF_FILE, ENV_HOST_ROOT,
    ENV_KCONFIG_FILE, ENV_KERNEL_RELEASE, ENV_MACHINE, ENV_OSRELEASE_FILE,
};
pub use kconfig::{Kconfig, KconfigDiagnostic, KconfigError, KconfigValue};
pub use ladder::{
    Outcome, ResolveError, ResolvedBtf, Resolver, Rung, Source, Step, FALLBACK_PATHS,
};
pub use memfd::{fd_path, MemfdError, SealedBtf};

/// The Aya hand-off: resolved BTF as `aya::Btf`, objects loaded with it.
#[cfg(feature = "aya")]
pub mod aya;
