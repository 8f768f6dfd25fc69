//! A private apt configuration under the work directory: Debian's
//! bullseye, bookworm, trixie and sid (amd64 and arm64) for kernel and
//! busybox packages, without touching the machine's own sources, lists or
//! package state.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use crate::HarnessError;

/// The suites kernels come from, oldest first.
const SOURCES: &str = "\
deb http://deb.debian.org/debian bullseye main
deb http://deb.debian.org/debian-security bullseye-security main
deb http://deb.debian.org/debian bookworm main
deb http://deb.debian.org/debian bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
deb http://deb.debian.org/debian trixie main
deb http://deb.debian.org/debian trixie-updates main
deb http://deb.debian.org/debian-security trixie-security main
deb http://deb.debian.org/debian sid main
";

/// Lists older than this are fetched again.
const LISTS_MAX_AGE: Duration = Duration::from_secs(12 * 3600);

/// The private apt.
pub struct Apt {
    root: PathBuf,
    debs: PathBuf,
}

impl Apt {
    /// Sets up `work/apt` and brings its package lists up to date.
    pub fn new(work: &Path) -> Result<Apt, HarnessError> {
        let root = work.join("apt");
        let debs = work.join("debs");
        for d in [
            root.join("lists/partial"),
            root.join("cache/archives/partial"),
            root.join("etc/preferences.d"),
            debs.clone(),
        ] {
            std::fs::create_dir_all(&d).map_err(|e| HarnessError::io(&d, e))?;
        }
        let sources = root.join("etc/sources.list");
        let stale = std::fs::read_to_string(&sources).ok().as_deref() != Some(SOURCES);
        std::fs::write(&sources, SOURCES).map_err(|e| HarnessError::io(&sources, e))?;
        let apt = Apt { root, debs };
        let stamp = apt.root.join("lists/updated");
        let old = std::fs::metadata(&stamp)
            .and_then(|m| m.modified())
            .map(|t| SystemTime::now().duration_since(t).unwrap_or_default() > LISTS_MAX_AGE)
            .unwrap_or(true);
        if stale || old {
            eprintln!(
                "vmtest: apt-get update (private lists in {})",
                apt.root.display()
            );
            apt.run("apt-get", &["update", "-q"], None)?;
            std::fs::write(&stamp, b"").map_err(|e| HarnessError::io(&stamp, e))?;
        }
        Ok(apt)
    }

    fn options(&self) -> Vec<String> {
        let r = self.root.display();
        [
            format!("Dir::State::Lists={r}/lists"),
            format!("Dir::Cache={r}/cache"),
            format!("Dir::Etc::SourceList={r}/etc/sources.list"),
            "Dir::Etc::SourceParts=/dev/null".to_string(),
            format!("Dir::Etc::PreferencesParts={r}/etc/preferences.d"),
            "Dir::Etc::Preferences=/dev/null".to_string(),
            "APT::Architectures::=amd64".to_string(),
            "APT::Architectures::=arm64".to_string(),
            "APT::Get::AllowUnauthenticated=false".to_string(),
            "Debug::NoLocking=true".to_string(),
        ]
        .into_iter()
        .flat_map(|o| ["-o".to_string(), o])
        .collect()
    }

    fn run(&self, tool: &str, args: &[&str], cwd: Option<&Path>) -> Result<String, HarnessError> {
        let mut cmd = Command::new(tool);
        cmd.args(self.options()).args(args);
        if let Some(d) = cwd {
            cmd.current_dir(d);
        }
        let out = cmd.output().map_err(|e| HarnessError::Tool {
            tool: tool.to_string(),
            detail: e.to_string(),
        })?;
        if !out.status.success() {
            return Err(HarnessError::Tool {
                tool: format!("{tool} {}", args.join(" ")),
                detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Package names starting with `prefix`.
    pub fn names(&self, prefix: &str) -> Result<Vec<String>, HarnessError> {
        Ok(self
            .run("apt-cache", &["pkgnames", prefix], None)?
            .lines()
            .map(str::to_string)
            .collect())
    }

    /// The `Depends` of the candidate of `pkg:arch`, or `None` when no
    /// suite has such a package.
    pub fn depends(&self, pkg: &str, arch: &str) -> Result<Option<String>, HarnessError> {
        let full = format!("{pkg}:{arch}");
        match self.run("apt-cache", &["show", "--no-all-versions", &full], None) {
            Ok(text) => Ok(Some(
                text.lines()
                    .find_map(|l| l.strip_prefix("Depends: "))
                    .unwrap_or("")
                    .to_string(),
            )),
            Err(HarnessError::Tool { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Downloads `pkg:arch` (once; later calls find it in the cache).
    pub fn download(&self, pkg: &str, arch: &str) -> Result<PathBuf, HarnessError> {
        self.download_from(pkg, arch, None)
    }

    /// Downloads `pkg:arch` from `suite` (or the newest of any suite).
    pub fn download_from(
        &self,
        pkg: &str,
        arch: &str,
        suite: Option<&str>,
    ) -> Result<PathBuf, HarnessError> {
        let find = || -> Result<Option<PathBuf>, HarnessError> {
            let rd = std::fs::read_dir(&self.debs).map_err(|e| HarnessError::io(&self.debs, e))?;
            Ok(rd.filter_map(Result::ok).map(|e| e.path()).find(|p| {
                p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                    n.starts_with(&format!("{pkg}_")) && n.ends_with(&format!("_{arch}.deb"))
                })
            }))
        };
        if let Some(p) = find()? {
            return Ok(p);
        }
        if self.depends(pkg, arch)?.is_none() {
            return Err(HarnessError::NoSuchPackage {
                package: format!("{pkg}:{arch}"),
            });
        }
        eprintln!("vmtest: downloading {pkg}:{arch}");
        let what = match suite {
            Some(s) => format!("{pkg}:{arch}/{s}"),
            None => format!("{pkg}:{arch}"),
        };
        self.run("apt-get", &["download", "-q", &what], Some(&self.debs))?;
        find()?.ok_or_else(|| HarnessError::Tool {
            tool: format!("apt-get download {pkg}:{arch}"),
            detail: format!("no {pkg}_*_{arch}.deb in {}", self.debs.display()),
        })
    }
}
