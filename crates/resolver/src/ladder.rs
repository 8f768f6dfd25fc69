//! The resolution ladder: the first rung that yields usable BTF wins, and
//! every rung tried is recorded with its outcome.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use btfkit_btf::input::{self, Limit};
use btfkit_btf::load::{load_btf_file, BtfBytes};
use btfkit_btf::Btf;
use btfkit_bundle::Bundle;

use crate::host::{Host, HostFactError, KernelInfo, Settings};

/// libbpf's vmlinux locations when sysfs has none (`%r` is the release),
/// searched in this order; each holds an ELF with `.BTF` (or raw BTF).
pub const FALLBACK_PATHS: &[&str] = &[
    "/boot/vmlinux-%r",
    "/lib/modules/%r/vmlinux-%r",
    "/lib/modules/%r/build/vmlinux",
    "/usr/lib/modules/%r/kernel/vmlinux",
    "/usr/lib/debug/boot/vmlinux-%r",
    "/usr/lib/debug/boot/vmlinux-%r.debug",
    "/usr/lib/debug/lib/modules/%r/vmlinux",
];

/// A rung of the ladder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rung {
    /// `BTFKIT_BTF_FILE`.
    EnvFile,
    /// `/sys/kernel/btf/vmlinux`.
    Sysfs,
    /// One of [`FALLBACK_PATHS`].
    Fallback,
    /// The embedded (or given) bundle.
    Bundle,
}

impl fmt::Display for Rung {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Rung::EnvFile => "BTFKIT_BTF_FILE",
            Rung::Sysfs => "sysfs",
            Rung::Fallback => "vmlinux file",
            Rung::Bundle => "bundle",
        })
    }
}

/// What happened on a rung.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Usable BTF found (`size` bytes).
    Found {
        /// Size of the raw BTF, in bytes.
        size: usize,
    },
    /// Not applicable: not set, not present, no bundle.
    Absent(String),
    /// Present but unusable, and why.
    Failed(String),
    /// Not tried: an earlier rung won.
    NotTried,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Found { size } => write!(f, "found, {size} bytes"),
            Outcome::Absent(why) => write!(f, "absent: {why}"),
            Outcome::Failed(why) => write!(f, "failed: {why}"),
            Outcome::NotTried => f.write_str("not tried"),
        }
    }
}

/// One rung tried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// Which rung.
    pub rung: Rung,
    /// The file or bundle key looked at.
    pub what: String,
    /// What came of it.
    pub outcome: Outcome,
}

/// Where the chosen BTF came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// The `BTFKIT_BTF_FILE` override, this file.
    EnvFile(PathBuf),
    /// The kernel's own BTF, `/sys/kernel/btf/vmlinux` (under the host
    /// root).
    Sysfs(PathBuf),
    /// One of libbpf's fallback vmlinux files ([`FALLBACK_PATHS`]).
    Fallback(PathBuf),
    /// A bundle entry, by its key.
    Bundle {
        /// The entry's `distro/version/arch/release` key.
        key: String,
    },
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::EnvFile(p) => write!(f, "BTFKIT_BTF_FILE {}", p.display()),
            Source::Sysfs(p) => write!(f, "sysfs {}", p.display()),
            Source::Fallback(p) => write!(f, "vmlinux file {}", p.display()),
            Source::Bundle { key } => write!(f, "bundle entry {key}"),
        }
    }
}

/// The BTF chosen for this host.
pub struct ResolvedBtf {
    /// Raw BTF: mapped from sysfs, or read/decoded into memory.
    pub bytes: BtfBytes,
    /// Where they came from.
    pub source: Source,
    /// What the host was found to run.
    pub host: KernelInfo,
    /// Every rung, in order, with its outcome.
    pub steps: Vec<Step>,
    /// Assumptions made on the way (e.g. a bundle entry matched by release
    /// alone).
    pub warnings: Vec<String>,
}

impl fmt::Debug for ResolvedBtf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResolvedBtf")
            .field("bytes", &self.bytes.len())
            .field("source", &self.source)
            .field("host", &self.host)
            .field("steps", &self.steps)
            .field("warnings", &self.warnings)
            .finish()
    }
}

/// Why no BTF was chosen.
#[derive(Clone, Debug, thiserror::Error)]
pub enum ResolveError {
    /// `BTFKIT_BTF_FILE` is set but unusable: never silently passed over.
    #[error("BTFKIT_BTF_FILE={}: {reason}", path.display())]
    EnvFile {
        /// The file `BTFKIT_BTF_FILE` names.
        path: PathBuf,
        /// Why it is unusable (unreadable, not BTF, does not parse).
        reason: String,
        /// What the host was found to run.
        host: Box<KernelInfo>,
        /// The rungs tried (only this one).
        steps: Vec<Step>,
    },
    /// A host fact (release, machine) that cannot be part of a path or a
    /// bundle key: nothing is probed with it. The message is the fact's
    /// own (not repeated as a cause).
    #[error("{error}")]
    HostFact {
        /// The refused fact, and where it came from.
        error: Box<HostFactError>,
        /// What the host was found to run.
        host: Box<KernelInfo>,
        /// Empty: no rung is tried.
        steps: Vec<Step>,
    },
    /// Every rung failed.
    #[error("no BTF for kernel {release:?} ({arch}): {}", summary(steps))]
    NotFound {
        /// The kernel release looked for.
        release: String,
        /// The architecture looked for, as bundles name it.
        arch: String,
        /// What the host was found to run.
        host: Box<KernelInfo>,
        /// Every rung, with why it failed.
        steps: Vec<Step>,
        /// Assumptions made on the way.
        warnings: Vec<String>,
    },
}

/// The rungs that had something to say, in one line: each rung that
/// failed (present but unusable) and the bundle's outcome (the last
/// resort, whose reason is the most telling); the rungs that were merely
/// absent are counted. The whole ladder is `btfkit resolve`'s report
/// ([`crate::report::text`] with [`ResolveError::steps`]).
fn summary(steps: &[Step]) -> String {
    let told: Vec<&Step> = steps
        .iter()
        .filter(|s| matches!(s.outcome, Outcome::Failed(_)) || s.rung == Rung::Bundle)
        .collect();
    let mut out = told
        .iter()
        .map(|s| match s.what.is_empty() {
            true => format!("{}: {}", s.rung, s.outcome),
            false => format!("{} {}: {}", s.rung, s.what, s.outcome),
        })
        .collect::<Vec<_>>()
        .join("; ");
    let others = steps.len() - told.len();
    if others > 0 {
        let sep = if out.is_empty() { "" } else { " " };
        out.push_str(&format!(
            "{sep}({others} other places absent; `btfkit resolve` lists every rung)"
        ));
    }
    out
}

impl ResolveError {
    /// The rungs tried before giving up.
    pub fn steps(&self) -> &[Step] {
        match self {
            ResolveError::EnvFile { steps, .. }
            | ResolveError::HostFact { steps, .. }
            | ResolveError::NotFound { steps, .. } => steps,
        }
    }

    /// What the host was found to run (release, machine, os-release).
    pub fn host(&self) -> &KernelInfo {
        match self {
            ResolveError::EnvFile { host, .. }
            | ResolveError::HostFact { host, .. }
            | ResolveError::NotFound { host, .. } => host,
        }
    }
}

/// Finds the BTF for this host. Nothing is written anywhere.
///
/// ```no_run
/// static BUNDLE: &[u8] = &[]; // include_bytes!("btf.bundle")
/// let btf = btfkit_resolver::Resolver::new().bundle(BUNDLE).resolve()?;
/// println!("{} bytes from {}", btf.bytes.len(), btf.source);
/// # Ok::<(), btfkit_resolver::ResolveError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Resolver<'b> {
    host: Host,
    bundle: Option<&'b [u8]>,
    try_all: bool,
}

impl Default for Resolver<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'b> Resolver<'b> {
    /// Settings from the environment (`BTFKIT_*`).
    pub fn new() -> Self {
        Self::with_settings(Settings::from_env())
    }

    /// Explicit settings, ignoring the environment.
    pub fn with_settings(settings: Settings) -> Self {
        Resolver {
            host: Host::new(settings),
            bundle: None,
            try_all: false,
        }
    }

    /// The bundle of the last rung (typically an `include_bytes!` static).
    pub fn bundle(mut self, bytes: &'b [u8]) -> Self {
        self.bundle = Some(bytes);
        self
    }

    /// Evaluate every rung even after one succeeds (for diagnostics); the
    /// first success is still the one chosen.
    pub fn try_all(mut self, yes: bool) -> Self {
        self.try_all = yes;
        self
    }

    /// The host the resolver looks at (its settings, its root).
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// Walks the ladder.
    ///
    /// # Errors
    ///
    /// - [`ResolveError::HostFact`] when the kernel release or machine
    ///   (from uname or its override) cannot be part of a path or a key;
    /// - [`ResolveError::EnvFile`] when `BTFKIT_BTF_FILE` is set but
    ///   unusable;
    /// - [`ResolveError::NotFound`] when no rung yields BTF.
    ///
    /// Each carries the host's facts and the steps taken.
    pub fn resolve(&self) -> Result<ResolvedBtf, ResolveError> {
        let info = self.host.kernel_info();
        if let Err(error) = self.host.check_facts(&info) {
            return Err(ResolveError::HostFact {
                error: Box::new(error),
                host: Box::new(info),
                steps: Vec::new(),
            });
        }
        let mut steps = Vec::new();
        let mut warnings = Vec::new();
        let mut chosen: Option<(BtfBytes, Source)> = None;

        // 1. The override: set means it must work.
        match &self.host.settings.btf_file {
            Some(path) => match load_checked(path) {
                Ok(bytes) => {
                    steps.push(found(Rung::EnvFile, path, &bytes));
                    chosen = Some((bytes, Source::EnvFile(path.clone())));
                }
                Err(reason) => {
                    steps.push(Step {
                        rung: Rung::EnvFile,
                        what: path.display().to_string(),
                        outcome: Outcome::Failed(reason.clone()),
                    });
                    return Err(ResolveError::EnvFile {
                        path: path.clone(),
                        reason,
                        host: Box::new(info),
                        steps,
                    });
                }
            },
            None => steps.push(Step {
                rung: Rung::EnvFile,
                what: String::new(),
                outcome: Outcome::Absent("not set".into()),
            }),
        }

        // 2. The kernel's own BTF.
        let sysfs = self.host.path("/sys/kernel/btf/vmlinux");
        if self.skip(&chosen) {
            steps.push(not_tried(Rung::Sysfs, &sysfs));
        } else {
            match file_rung(&sysfs, Check::Header) {
                Ok(bytes) => {
                    steps.push(found(Rung::Sysfs, &sysfs, &bytes));
                    chosen.get_or_insert((bytes, Source::Sysfs(sysfs.clone())));
                }
                Err(outcome) => steps.push(Step {
                    rung: Rung::Sysfs,
                    what: sysfs.display().to_string(),
                    outcome,
                }),
            }
        }

        // 3. libbpf's fallback files.
        if info.release.is_empty() {
            steps.push(Step {
                rung: Rung::Fallback,
                what: FALLBACK_PATHS.join(", "),
                outcome: Outcome::Failed("the kernel release is empty".into()),
            });
        } else {
            for template in FALLBACK_PATHS {
                let path = self.host.path(&template.replace("%r", &info.release));
                if self.skip(&chosen) {
                    steps.push(not_tried(Rung::Fallback, &path));
                    continue;
                }
                match file_rung(&path, Check::Full) {
                    Ok(bytes) => {
                        steps.push(found(Rung::Fallback, &path, &bytes));
                        chosen.get_or_insert((bytes, Source::Fallback(path.clone())));
                    }
                    Err(outcome) => steps.push(Step {
                        rung: Rung::Fallback,
                        what: path.display().to_string(),
                        outcome,
                    }),
                }
            }
        }

        // 4. The bundle.
        if self.skip(&chosen) {
            steps.push(Step {
                rung: Rung::Bundle,
                what: String::new(),
                outcome: Outcome::NotTried,
            });
        } else {
            let (step, got, mut warns) = self.bundle_rung(&info);
            steps.push(step);
            if chosen.is_none() {
                warnings.append(&mut warns);
            }
            if let Some(g) = got {
                chosen.get_or_insert(g);
            }
        }

        match chosen {
            Some((bytes, source)) => Ok(ResolvedBtf {
                bytes,
                source,
                host: info,
                steps,
                warnings,
            }),
            None => Err(ResolveError::NotFound {
                release: info.release.clone(),
                arch: info.arch.clone(),
                host: Box::new(info),
                steps,
                warnings,
            }),
        }
    }

    fn skip(&self, chosen: &Option<(BtfBytes, Source)>) -> bool {
        chosen.is_some() && !self.try_all
    }

    /// Looks the host up in the bundle: exact key, then the major version
    /// of a dotted VERSION_ID, then a release unique across the bundle.
    fn bundle_rung(&self, info: &KernelInfo) -> (Step, Option<(BtfBytes, Source)>, Vec<String>) {
        let step = |what: String, outcome| Step {
            rung: Rung::Bundle,
            what,
            outcome,
        };
        let Some(data) = self.bundle else {
            return (
                step(String::new(), Outcome::Absent("no bundle".into())),
                None,
                vec![],
            );
        };
        if info.release.is_empty() {
            let o = Outcome::Failed("the kernel release is empty".into());
            return (step(String::new(), o), None, vec![]);
        }
        let bundle = match Bundle::parse(data) {
            Ok(b) => b,
            Err(e) => {
                let o = Outcome::Failed(format!("bundle refused: {e}"));
                return (step(String::new(), o), None, vec![]);
            }
        };
        let mut warnings = Vec::new();
        let mut tried_keys = Vec::new();
        let mut entry = None;
        if let Some(os) = &info.os {
            let mut versions = vec![os.version_id.clone()];
            if let Some((major, _)) = os.version_id.split_once('.') {
                versions.push(major.to_string());
            }
            for v in versions {
                let key = format!("{}/{v}/{}/{}", os.id, info.arch, info.release);
                // Archive folders keep their own case (bclinux/21.10U3):
                // compare case-insensitively when the exact bytes miss.
                let found = bundle
                    .find(&os.id, &v, &info.arch, &info.release)
                    .or_else(|| {
                        bundle
                            .find_release(&info.arch, &info.release)
                            .into_iter()
                            .find(|e| {
                                e.distro.eq_ignore_ascii_case(&os.id)
                                    && e.version.eq_ignore_ascii_case(&v)
                            })
                    });
                if let Some(e) = found {
                    if v != os.version_id {
                        warnings.push(format!(
                            "os-release VERSION_ID {} has no entry; used {key}, its major version",
                            os.version_id
                        ));
                    }
                    entry = Some(e);
                    break;
                }
                tried_keys.push(key);
            }
        }
        if entry.is_none() {
            let why = match (&info.os, &info.os_error) {
                (Some(_), _) => format!("no entry {}", tried_keys.join(" or ")),
                (None, Some(e)) => format!("no os-release ({e})"),
                (None, None) => "no os-release".to_string(),
            };
            let same = bundle.find_release(&info.arch, &info.release);
            let blobs: std::collections::BTreeSet<u32> = same.iter().map(|e| e.blob).collect();
            match (same.first(), blobs.len()) {
                (None, _) => {
                    let o = Outcome::Failed(format!(
                        "{why}, and no kernel {} for {} among its {} kernels",
                        info.release,
                        info.arch,
                        bundle.len()
                    ));
                    return (step(tried_keys.join(", "), o), None, vec![]);
                }
                (Some(e), 1) => {
                    let keys: Vec<String> = same.iter().map(|e| e.key().to_string()).collect();
                    warnings.push(format!(
                        "{why}; assumed {}, the only BTF for release {} ({}) in the bundle",
                        keys.join(" = "),
                        info.release,
                        info.arch
                    ));
                    entry = Some(*e);
                }
                (Some(_), _) => {
                    let keys: Vec<String> = same.iter().map(|e| e.key().to_string()).collect();
                    let o = Outcome::Failed(format!(
                        "{why}, and release {} is ambiguous: {}",
                        info.release,
                        keys.join(", ")
                    ));
                    return (step(tried_keys.join(", "), o), None, vec![]);
                }
            }
        }
        let e = entry.expect("found above");
        let key = e.key().to_string();
        match bundle.get(&e) {
            Ok(btf) => {
                let o = Outcome::Found { size: btf.len() };
                (
                    step(key.clone(), o),
                    Some((BtfBytes::from(btf), Source::Bundle { key })),
                    warnings,
                )
            }
            Err(err) => {
                let o = Outcome::Failed(format!("entry refused: {err}"));
                (step(key, o), None, vec![])
            }
        }
    }
}

fn found(rung: Rung, path: &Path, bytes: &[u8]) -> Step {
    Step {
        rung,
        what: path.display().to_string(),
        outcome: Outcome::Found { size: bytes.len() },
    }
}

fn not_tried(rung: Rung, path: &Path) -> Step {
    Step {
        rung,
        what: path.display().to_string(),
        outcome: Outcome::NotTried,
    }
}

/// How much of a file's BTF is checked before it is accepted.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Check {
    /// The kernel's own sysfs BTF: header and section bounds (a full parse
    /// would cost milliseconds on every start for nothing).
    Header,
    /// Any other file: a full parse.
    Full,
}

/// A file rung: absent when the file does not exist, failed when it
/// exists but is not usable BTF.
fn file_rung(path: &Path, check: Check) -> Result<BtfBytes, Outcome> {
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Outcome::Absent("no such file".into()))
        }
        Err(e) => return Err(Outcome::Failed(e.to_string())),
        Ok(_) => {}
    }
    let bytes = read_btf_of_file(path).map_err(Outcome::Failed)?;
    match check {
        Check::Header => validate_header(&bytes),
        Check::Full => validate(&bytes),
    }
    .map_err(Outcome::Failed)?;
    Ok(bytes)
}

/// The override file: raw BTF or ELF, and it must parse.
fn load_checked(path: &Path) -> Result<BtfBytes, String> {
    let bytes = read_btf_of_file(path)?;
    validate(&bytes)?;
    Ok(bytes)
}

/// Raw BTF (or a compressed btfhub file) read whole, or the `.BTF`
/// section of an ELF read alone — a vmlinux with debug info is hundreds of
/// megabytes, of which only the BTF is wanted. Only regular files are
/// read (see `btfkit_btf::input`), the BTF up to [`Limit::Btf`]. Errors
/// do not name the file: the step (or `ResolveError::EnvFile`) does.
fn read_btf_of_file(path: &Path) -> Result<BtfBytes, String> {
    let mut f = input::open(path).map_err(without_path)?;
    let mut magic = [0u8; 4];
    let n = f.read(&mut magic).map_err(|e| e.to_string())?;
    if n == 4 && magic == *b"\x7fELF" {
        return elf_btf(f);
    }
    drop(f);
    load_btf_file(path).map_err(without_path)
}

/// An error's message without the file it names.
fn without_path(e: btfkit_btf::Error) -> String {
    match e {
        btfkit_btf::Error::File { inner, .. } => inner.to_string(),
        e => e.to_string(),
    }
}

/// The `.BTF` section of an ELF file, refused when it claims more than
/// [`Limit::Btf`] (it is read whole).
fn elf_btf(f: std::fs::File) -> Result<BtfBytes, String> {
    use object::{Object, ObjectSection};
    let cache = object::ReadCache::new(f);
    let elf = object::File::parse(&cache).map_err(|e| format!("ELF: {e}"))?;
    let section = elf
        .section_by_name(".BTF")
        .ok_or_else(|| "ELF without a .BTF section".to_string())?;
    let max = Limit::Btf.max_bytes();
    if section.size() > max {
        return Err(format!(
            "ELF .BTF: {} bytes, more than the {max} a BTF file may hold",
            section.size()
        ));
    }
    let data = section.data().map_err(|e| format!("ELF .BTF: {e}"))?;
    Ok(BtfBytes::from(data.to_vec()))
}

/// Checks that bytes start with a BTF header whose sections they hold.
fn validate_header(bytes: &[u8]) -> Result<(), String> {
    let h = btfkit_btf::Header::parse(bytes).map_err(|e| format!("not BTF: {e}"))?;
    let end = [
        u64::from(h.type_off) + u64::from(h.type_len),
        u64::from(h.str_off) + u64::from(h.str_len),
        u64::from(h.layout_off) + u64::from(h.layout_len),
    ]
    .into_iter()
    .max()
    .unwrap_or(0)
        + u64::from(h.hdr_len);
    if end > bytes.len() as u64 {
        return Err(format!(
            "truncated BTF: sections end at {end}, the file has {} bytes",
            bytes.len()
        ));
    }
    Ok(())
}

/// Checks that bytes are complete, well-formed BTF.
fn validate(bytes: &[u8]) -> Result<(), String> {
    Btf::parse(bytes)
        .map(|_| ())
        .map_err(|e| format!("not usable BTF: {e}"))
}
