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

mod host;
mod kconfig;
mod ladder;
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
