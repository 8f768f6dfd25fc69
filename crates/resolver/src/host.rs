//! The host: where its files are (a container sees the host under
//! `BTFKIT_HOST_ROOT`), and what kernel and distribution it runs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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
    pub btf_file: Option<PathBuf>,
    pub host_root: Option<PathBuf>,
    pub osrelease_file: Option<PathBuf>,
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
    pub settings: Settings,
}

impl Host {
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
        let version_signature = std::fs::read_to_string(&signature_path)
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
    /// its `/usr/lib/os-release`. Errors say which files were tried.
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
            match std::fs::read(p) {
                Ok(bytes) => {
                    let text = String::from_utf8_lossy(&bytes);
                    let fields = parse_os_release(&text);
                    let id = fields.get("ID").cloned().unwrap_or_default().to_lowercase();
                    if id.is_empty() {
                        why.push(format!("{}: no ID", p.display()));
                        continue;
                    }
                    return Ok(OsRelease {
                        version_id: fields
                            .get("VERSION_ID")
                            .cloned()
                            .unwrap_or_default()
                            .to_lowercase(),
                        pretty_name: fields.get("PRETTY_NAME").cloned(),
                        id,
                        path: p.clone(),
                    });
                }
                Err(e) => why.push(format!("{}: {e}", p.display())),
            }
        }
        Err(why.join("; "))
    }
}

/// What `/etc/os-release` says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OsRelease {
    /// `ID`, case folded.
    pub id: String,
    /// `VERSION_ID`, case folded; empty when absent (rolling releases).
    pub version_id: String,
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
