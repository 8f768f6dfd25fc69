//! The host: where its files are (a container sees the host under
//! `BTFKIT_HOST_ROOT`), and what kernel and distribution it runs.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use btfkit_btf::input::{self, Limit};

/// A BTF file to use instead of anything else; an unusable one is an error.
pub const ENV_BTF_FILE: &str = "BTFKIT_BTF_FILE";
/// Where the host's filesystem is mounted (e.g. `/host`); prefixes every host path.
pub const ENV_HOST_ROOT: &str = "BTFKIT_HOST_ROOT";
/// An os-release file to read instead of the host's.
pub const ENV_OSRELEASE_FILE: &str = "BTFKIT_OSRELEASE_FILE";
/// A kernel config (plain or gzip) to read instead of the host's.
pub const ENV_KCONFIG_FILE: &str = "BTFKIT_KCONFIG_FILE";
/// Stand-in for uname's release (tests).
pub const ENV_KERNEL_RELEASE: &str = "BTFKIT_KERNEL_RELEASE";
/// Stand-in for uname's machine (tests).
pub const ENV_MACHINE: &str = "BTFKIT_MACHINE";

/// What the resolver is told, by the environment or by its caller.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Settings {
    /// A BTF file (raw, ELF with `.BTF`, or a compressed btfhub file) to
    /// use instead of anything else ([`ENV_BTF_FILE`]); used as given, not
    /// under the host root. When set it must be usable, or resolution fails.
    pub btf_file: Option<PathBuf>,
    /// Where the host's filesystem is seen ([`ENV_HOST_ROOT`]); every host
    /// path is looked up under it. `None` is `/`.
    pub host_root: Option<PathBuf>,
    /// An os-release file to read instead of the host's
    /// ([`ENV_OSRELEASE_FILE`]); used as given, not under the host root.
    pub osrelease_file: Option<PathBuf>,
    /// A kernel config (plain or gzip) to read instead of the host's
    /// ([`ENV_KCONFIG_FILE`]); used as given, and it must be readable.
    pub kconfig_file: Option<PathBuf>,
    /// Overrides uname's release; `Some("")` is an empty release.
    pub kernel_release: Option<String>,
    /// Overrides uname's machine.
    pub machine: Option<String>,
}

impl Settings {
    /// From the process environment. Path variables set to the empty string
    /// count as unset; the release override counts even when empty.
    pub fn from_env() -> Settings {
        let path = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let text = |k: &str| std::env::var_os(k).map(|v| v.to_string_lossy().into_owned());
        Settings {
            btf_file: path(ENV_BTF_FILE),
            host_root: path(ENV_HOST_ROOT),
            osrelease_file: path(ENV_OSRELEASE_FILE),
            kconfig_file: path(ENV_KCONFIG_FILE),
            kernel_release: text(ENV_KERNEL_RELEASE),
            machine: text(ENV_MACHINE).filter(|m| !m.is_empty()),
        }
    }
}

/// The host's files and facts.
#[derive(Clone, Debug)]
pub struct Host {
    root: PathBuf,
    /// The settings it was made with.
    pub settings: Settings,
}

impl Host {
    /// The host these settings describe: rooted at
    /// [`Settings::host_root`], or `/`. Nothing is read until asked.
    pub fn new(settings: Settings) -> Host {
        Host {
            root: settings
                .host_root
                .clone()
                .unwrap_or_else(|| PathBuf::from("/")),
            settings,
        }
    }

    /// The host's root as this process sees it.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A host path (`/sys/kernel/btf/vmlinux`) as this process sees it.
    pub fn path(&self, host_path: &str) -> PathBuf {
        self.root.join(host_path.trim_start_matches('/'))
    }

    /// Kernel release, machine, distribution and kernel version code.
    pub fn kernel_info(&self) -> KernelInfo {
        let uname = rustix::system::uname();
        let release = self
            .settings
            .kernel_release
            .clone()
            .unwrap_or_else(|| uname.release().to_string_lossy().into_owned());
        let machine = self
            .settings
            .machine
            .clone()
            .unwrap_or_else(|| uname.machine().to_string_lossy().into_owned());
        let (os, os_error) = match self.os_release() {
            Ok(os) => (Some(os), None),
            Err(e) => (None, Some(e)),
        };
        let signature_path = self.path("/proc/version_signature");
        let version_signature = input::read_text(&signature_path, Limit::Text)
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty());
        let version_code = version_signature
            .as_deref()
            .and_then(version_code_from_signature)
            .or_else(|| version_code_from_release(&release));
        KernelInfo {
            arch: btfkit_bundle::normalize_arch(&machine).to_string(),
            release,
            machine,
            os,
            os_error,
            version_code,
            version_signature,
        }
    }

    /// os-release: the override, else the host's `/etc/os-release`, else
    /// its `/usr/lib/os-release`. Each is read as a regular file of at
    /// most [`Limit::Text`]; an `ID` or `VERSION_ID` that cannot be part
    /// of a bundle key makes the file unusable. Errors say which files
    /// were tried.
    pub fn os_release(&self) -> Result<OsRelease, String> {
        let candidates: Vec<PathBuf> = match &self.settings.osrelease_file {
            Some(p) => vec![p.clone()],
            None => vec![
                self.path("/etc/os-release"),
                self.path("/usr/lib/os-release"),
            ],
        };
        let mut why = Vec::new();
        for p in &candidates {
            match input::read_text(p, Limit::Text) {
                Ok(text) => match os_release_of(&text, p) {
                    Ok(os) => return Ok(os),
                    Err(e) => why.push(e),
                },
                // The error names the file.
                Err(e) => why.push(e.to_string()),
            }
        }
        Err(why.join("; "))
    }

    /// Checks that the kernel release and machine can be parts of paths
    /// (`/boot/config-<release>`) and bundle keys; the error names the
    /// variable that set a bad one.
    pub fn check_facts(&self, info: &KernelInfo) -> Result<(), HostFactError> {
        self.check_release(&info.release)?;
        let origin = match self.settings.machine {
            Some(_) => FactOrigin::Env(ENV_MACHINE),
            None => FactOrigin::Uname("machine"),
        };
        check_fact(origin, "machine", &info.machine)
    }

    /// Checks a kernel release as [`Host::check_facts`] does. An empty
    /// release passes: it is a fact of its own (no release), which the
    /// rungs that need one report.
    pub fn check_release(&self, release: &str) -> Result<(), HostFactError> {
        if release.is_empty() {
            return Ok(());
        }
        let origin = match self.settings.kernel_release {
            Some(_) => FactOrigin::Env(ENV_KERNEL_RELEASE),
            None => FactOrigin::Uname("release"),
        };
        check_fact(origin, "kernel release", release)
    }
}

/// The distribution an os-release file names; an error (naming the file)
/// when it has no `ID`, or an `ID`/`VERSION_ID` no bundle key can hold.
fn os_release_of(text: &str, path: &Path) -> Result<OsRelease, String> {
    let fields = parse_os_release(text);
    let field = |k: &str| fields.get(k).cloned().unwrap_or_default().to_lowercase();
    let (id, version_id) = (field("ID"), field("VERSION_ID"));
    if id.is_empty() {
        return Err(format!("{}: no ID", path.display()));
    }
    let checks = [
        ("ID", "distro ID", &id),
        ("VERSION_ID", "version", &version_id),
    ];
    for (name, what, value) in checks {
        // No VERSION_ID is a rolling release, not an error.
        if name == "VERSION_ID" && value.is_empty() {
            continue;
        }
        let origin = FactOrigin::File {
            path: path.to_path_buf(),
            field: name,
        };
        check_fact(origin, what, value).map_err(|e| e.to_string())?;
    }
    Ok(OsRelease {
        version_id,
        pretty_name: fields.get("PRETTY_NAME").cloned(),
        id,
        path: path.to_path_buf(),
    })
}

fn check_fact(origin: FactOrigin, what: &'static str, value: &str) -> Result<(), HostFactError> {
    match btfkit_bundle::key_component_problem(value) {
        None => Ok(()),
        Some(problem) => Err(HostFactError {
            origin,
            what,
            value: value.to_string(),
            problem,
        }),
    }
}

/// Where a host fact came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FactOrigin {
    /// An environment variable (`BTFKIT_KERNEL_RELEASE`).
    Env(&'static str),
    /// A field of uname (`release`, `machine`).
    Uname(&'static str),
    /// A field of a file (os-release's `ID`).
    File {
        /// The file, as this process sees it.
        path: PathBuf,
        /// The field's name (`ID`, `VERSION_ID`).
        field: &'static str,
    },
}

/// A host fact that cannot be part of a path or a bundle key.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct HostFactError {
    /// Where the value came from (named in the message, so that the
    /// variable or file to fix is clear).
    pub origin: FactOrigin,
    /// What the fact is (`kernel release`).
    pub what: &'static str,
    /// The refused value.
    pub value: String,
    /// Why it is refused (see `btfkit_bundle::key_component_problem`).
    pub problem: &'static str,
}

impl fmt::Display for HostFactError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = &self.value;
        match &self.origin {
            FactOrigin::Env(var) => write!(f, "{var}={v:?}")?,
            FactOrigin::Uname(field) => write!(f, "uname {field} {v:?}")?,
            FactOrigin::File { path, field } => write!(f, "{}: {field}={v:?}", path.display())?,
        }
        write!(f, " is not a valid {}: {}", self.what, self.problem)
    }
}

/// What `/etc/os-release` says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OsRelease {
    /// `ID`, case folded.
    pub id: String,
    /// `VERSION_ID`, case folded; empty when absent (rolling releases).
    pub version_id: String,
    /// `PRETTY_NAME`, as written (for messages).
    pub pretty_name: Option<String>,
    /// The file it came from.
    pub path: PathBuf,
}

/// The running kernel and distribution.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelInfo {
    /// uname's release (`6.1.0-56-amd64`).
    pub release: String,
    /// uname's machine (`x86_64`, `aarch64`).
    pub machine: String,
    /// The machine as bundles name it (`aarch64` is `arm64`).
    pub arch: String,
    /// The distribution, from os-release; `None` when no usable
    /// os-release was found (then see `os_error`).
    pub os: Option<OsRelease>,
    /// Why os-release could not be read.
    pub os_error: Option<String>,
    /// `LINUX_KERNEL_VERSION` as libbpf computes it: from Ubuntu's
    /// `/proc/version_signature` when present, else from the release.
    pub version_code: Option<u32>,
    /// Ubuntu's `/proc/version_signature`.
    pub version_signature: Option<String>,
}

/// `KERNEL_VERSION(a, b, c)`: the patch level saturates at 255.
pub fn kernel_version(major: u32, minor: u32, patch: u32) -> u32 {
    (major << 16) + (minor << 8) + patch.min(255)
}

/// Leading decimal digits of `s` and the rest.
fn leading_number(s: &str) -> Option<(u32, &str)> {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let n = s[..end].parse().ok()?;
    Some((n, &s[end..]))
}

/// `major.minor.patch` at the start of `s` (what `sscanf("%d.%d.%d")`
/// accepts; anything may follow the patch level).
fn three_numbers(s: &str) -> Option<(u32, u32, u32)> {
    let (a, rest) = leading_number(s)?;
    let (b, rest) = leading_number(rest.strip_prefix('.')?)?;
    let (c, _) = leading_number(rest.strip_prefix('.')?)?;
    Some((a, b, c))
}

/// The version code of a release string, as libbpf derives it from uname.
pub fn version_code_from_release(release: &str) -> Option<u32> {
    three_numbers(release).map(|(a, b, c)| kernel_version(a, b, c))
}

/// The version code from Ubuntu's `/proc/version_signature`
/// (`Ubuntu 5.15.0-91.101-generic 5.15.131`): its third field, the
/// upstream version.
pub fn version_code_from_signature(sig: &str) -> Option<u32> {
    let third = sig.split_whitespace().nth(2)?;
    three_numbers(third).map(|(a, b, c)| kernel_version(a, b, c))
}

/// `KEY=value` lines of an os-release file: values may be quoted with
/// `"` or `'`; backslash escapes in double quotes; comments and blank
/// lines are skipped.
pub fn parse_os_release(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.trim();
        let value = if let Some(inner) = v.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
            let mut s = String::new();
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                if c == '\\' {
                    if let Some(n) = chars.next() {
                        s.push(n);
                    }
                } else {
                    s.push(c);
                }
            }
            s
        } else if let Some(inner) = v.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
            inner.to_string()
        } else {
            v.to_string()
        };
        out.insert(k.trim().to_string(), value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_codes_follow_libbpf() {
        assert_eq!(version_code_from_release("6.1.0-56-amd64"), Some(0x060100));
        assert_eq!(
            version_code_from_release("6.12.94+deb13-amd64"),
            Some(0x060c5e)
        );
        assert_eq!(version_code_from_release("4.19.300"), Some(0x0413ff));
        assert_eq!(version_code_from_release("5.4"), None);
        assert_eq!(version_code_from_release(""), None);
        assert_eq!(
            version_code_from_signature("Ubuntu 5.15.0-91.101-generic 5.15.131"),
            Some(0x050f83)
        );
        assert_eq!(version_code_from_signature("Ubuntu"), None);
    }

    #[test]
    fn os_release_quotes_and_comments() {
        let f = parse_os_release(
            "# comment\nID=debian\nVERSION_ID=\"12\"\nNAME='Debian GNU/Linux'\nPRETTY_NAME=\"A \\\"quoted\\\" name\"\n\nbroken line\n",
        );
        assert_eq!(f["ID"], "debian");
        assert_eq!(f["VERSION_ID"], "12");
        assert_eq!(f["NAME"], "Debian GNU/Linux");
        assert_eq!(f["PRETTY_NAME"], "A \"quoted\" name");
        assert_eq!(f.len(), 4);
    }

    #[test]
    fn facts_that_would_leave_a_path_are_refused_naming_their_origin() {
        let host = |release: Option<&str>, machine: Option<&str>| {
            Host::new(Settings {
                kernel_release: release.map(String::from),
                machine: machine.map(String::from),
                ..Settings::default()
            })
        };
        let h = host(Some("../../../../etc/passwd"), None);
        let e = h.check_facts(&h.kernel_info()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "BTFKIT_KERNEL_RELEASE=\"../../../../etc/passwd\" is not a valid kernel release: it contains '/'"
        );
        let h = host(Some("6.1.0\n"), None);
        let e = h.check_facts(&h.kernel_info()).unwrap_err();
        assert_eq!(e.problem, "it contains a control character");
        let h = host(Some("6.1.0-56-amd64"), Some(".."));
        let e = h.check_facts(&h.kernel_info()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "BTFKIT_MACHINE=\"..\" is not a valid machine: it is a path step"
        );
        // An empty release is no release (the rungs say so), not an error.
        let h = host(Some(""), Some("x86_64"));
        assert_eq!(h.check_facts(&h.kernel_info()), Ok(()));
        let h = host(None, None);
        assert_eq!(h.check_facts(&h.kernel_info()), Ok(()));
    }

    #[test]
    fn os_release_ids_that_cannot_be_keys_make_it_unusable() {
        let p = Path::new("/x/os-release");
        let os = os_release_of("ID=Debian\nVERSION_ID=12\n", p).unwrap();
        assert_eq!((os.id.as_str(), os.version_id.as_str()), ("debian", "12"));
        assert_eq!(os_release_of("ID=arch\n", p).unwrap().version_id, "");
        assert_eq!(
            os_release_of("ID=\"../x\"\n", p).unwrap_err(),
            "/x/os-release: ID=\"../x\" is not a valid distro ID: it contains '/'"
        );
        assert_eq!(
            os_release_of("ID=debian\nVERSION_ID=..\n", p).unwrap_err(),
            "/x/os-release: VERSION_ID=\"..\" is not a valid version: it is a path step"
        );
        assert_eq!(
            os_release_of("NAME=x\n", p).unwrap_err(),
            "/x/os-release: no ID"
        );
    }

    #[test]
    fn host_paths_are_prefixed() {
        let h = Host::new(Settings {
            host_root: Some("/host".into()),
            ..Settings::default()
        });
        assert_eq!(
            h.path("/sys/kernel/btf/vmlinux"),
            Path::new("/host/sys/kernel/btf/vmlinux")
        );
        let h = Host::new(Settings::default());
        assert_eq!(h.path("/boot/x"), Path::new("/boot/x"));
    }
}
