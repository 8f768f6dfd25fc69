//! Debian kernel packages: the default matrix (the newest kernel of each
//! series), the package that holds the image (7.x keeps it in
//! `linux-binary-<release>` under `usr/lib/modules/<release>/vmlinuz`),
//! and the image itself, extracted once into the work directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::apt::Apt;
use crate::HarnessError;

/// A guest architecture, by its Debian name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Arch {
    /// x86_64.
    Amd64,
    /// aarch64.
    Arm64,
}

impl Arch {
    /// Parses a Debian or kernel architecture name.
    pub fn parse(s: &str) -> Option<Arch> {
        match s {
            "amd64" | "x86_64" => Some(Arch::Amd64),
            "arm64" | "aarch64" => Some(Arch::Arm64),
            _ => None,
        }
    }

    /// Debian's name.
    pub fn debian(self) -> &'static str {
        match self {
            Arch::Amd64 => "amd64",
            Arch::Arm64 => "arm64",
        }
    }

    /// The folder name in bundle keys.
    pub fn key(self) -> &'static str {
        match self {
            Arch::Amd64 => "x86_64",
            Arch::Arm64 => "arm64",
        }
    }

    /// The architecture of the package name's suffix.
    fn of_package(pkg: &str) -> Option<Arch> {
        let last = pkg.rsplit('-').next()?;
        Arch::parse(last)
    }
}

/// One line of the default matrix: the newest kernel of a series and
/// flavour (looked up in the package lists at run time).
#[derive(Clone, Copy, Debug)]
pub struct SeriesPick {
    /// The architecture.
    pub arch: Arch,
    /// `major.minor`, or a major alone (`7`).
    pub series: &'static str,
    /// `""` for the plain flavour, or `rt`, `cloud`.
    pub flavour: &'static str,
}

const fn pick(arch: Arch, series: &'static str, flavour: &'static str) -> SeriesPick {
    SeriesPick {
        arch,
        series,
        flavour,
    }
}

/// The default matrix. Besides these, the newest kernel whose BTF the
/// tracer's built-in bundle holds (the newest kernels are usually newer
/// than the corpus), so the built-in bundle is exercised too.
pub const DEFAULT_SERIES: &[SeriesPick] = &[
    pick(Arch::Amd64, "5.10", ""),
    pick(Arch::Amd64, "6.1", ""),
    // PREEMPT_RT changes struct trace_entry, and so the syscall
    // tracepoints' context layout.
    pick(Arch::Amd64, "6.1", "rt"),
    pick(Arch::Amd64, "6.12", ""),
    pick(Arch::Amd64, "7", ""),
    pick(Arch::Arm64, "6.1", ""),
    pick(Arch::Arm64, "6.12", ""),
];

/// One kernel to boot.
#[derive(Clone, Debug)]
pub struct Kernel {
    /// The package named (`linux-image-...`).
    pub package: String,
    /// The kernel release (`uname -r`).
    pub release: String,
    /// Its architecture.
    pub arch: Arch,
}

impl Kernel {
    /// A kernel from a package name; the architecture from the name's
    /// suffix, else `arch`.
    pub fn from_package(package: &str, arch: Option<Arch>) -> Result<Kernel, HarnessError> {
        let arch = Arch::of_package(package).or(arch).ok_or_else(|| {
            HarnessError::Usage(format!(
                "{package}: no architecture in the name (…-amd64 / …-arm64); give --arch"
            ))
        })?;
        let release = ["linux-image-", "linux-binary-"]
            .iter()
            .find_map(|p| package.strip_prefix(p))
            .map(|r| r.trim_end_matches("-unsigned").trim_end_matches("-dbg"))
            .ok_or_else(|| {
                HarnessError::Usage(format!(
                    "{package}: not a kernel package (linux-image-RELEASE or linux-binary-RELEASE)"
                ))
            })?;
        Ok(Kernel {
            package: package.to_string(),
            release: release.to_string(),
            arch,
        })
    }

    /// The Debian version the kernel belongs to: from a `+debNN` tag,
    /// else the series (5.10 is 11, 6.1 is 12, 6.12 is 13), as `btfkit
    /// hub add` infers it.
    pub fn debian_version(&self) -> Option<String> {
        if let Some(i) = self.release.find("+deb") {
            let digits: String = self.release[i + 4..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            if !digits.is_empty() {
                return Some(digits);
            }
        }
        let v = match series_of(&self.release).as_str() {
            "4.19" => "10",
            "5.10" => "11",
            "6.1" => "12",
            "6.12" => "13",
            _ => return None,
        };
        Some(v.to_string())
    }

    /// The bundle key, `debian/VERSION/ARCH/RELEASE`.
    pub fn key(&self) -> Result<String, HarnessError> {
        let version = self.debian_version().ok_or_else(|| {
            HarnessError::Usage(format!(
                "{}: cannot tell the Debian version of release {}",
                self.package, self.release
            ))
        })?;
        Ok(format!(
            "debian/{version}/{}/{}",
            self.arch.key(),
            self.release
        ))
    }
}

/// `major.minor` of a release.
pub fn series_of(release: &str) -> String {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    match (parts.next(), parts.next()) {
        (Some(a), Some(b)) => format!("{a}.{b}"),
        _ => release.to_string(),
    }
}

/// Numbers of a release, for ordering (`6.12.118+deb13` → [6, 12, 118, 13]).
pub fn version_key(release: &str) -> Vec<u64> {
    release
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .filter_map(|s| s.parse().ok())
        .collect()
}

/// The release of a kernel package of `arch` and `flavour` (`""`: plain)
/// from the series' own suite: digits, dots, one ABI dash and an
/// optional `+debNN` tag — no other flavour, no backport such as
/// `6.1.0-0.deb11.52`, no meta package such as `linux-image-6.1-amd64`.
fn release_of<'a>(name: &'a str, arch: Arch, flavour: &str) -> Option<&'a str> {
    let suffix = if flavour.is_empty() {
        format!("-{}", arch.debian())
    } else {
        format!("-{flavour}-{}", arch.debian())
    };
    let release = name.strip_prefix("linux-image-")?.strip_suffix(&suffix)?;
    let plain = release
        .chars()
        .all(|c| c.is_ascii_digit() || ".-+deb".contains(c))
        && !release.contains(".deb")
        && release.chars().filter(|c| *c == '.').count() >= 2;
    plain.then_some(release)
}

/// The newest kernel of `pick`'s series among package `names`.
pub fn newest_of_series(names: &[String], pick: &SeriesPick) -> Option<String> {
    names
        .iter()
        .filter_map(|n| {
            let release = release_of(n, pick.arch, pick.flavour)?;
            release
                .starts_with(&format!("{}.", pick.series))
                .then(|| (version_key(release), n.clone()))
        })
        .max()
        .map(|(_, n)| n)
}

/// The newest plain amd64 kernel among `names` whose key is in `keys`.
pub fn newest_in_bundle(names: &[String], keys: &[String]) -> Option<String> {
    names
        .iter()
        .filter_map(|n| {
            let release = release_of(n, Arch::Amd64, "")?;
            let k = Kernel::from_package(n, None).ok()?;
            keys.contains(&k.key().ok()?)
                .then(|| (version_key(release), n.clone()))
        })
        .max()
        .map(|(_, n)| n)
}

/// The default matrix, resolved against the package lists; `bundle_keys`
/// are the keys of the tracer's built-in bundle.
pub fn default_matrix(
    apt: &Apt,
    arches: &[Arch],
    bundle_keys: &[String],
) -> Result<Vec<Kernel>, HarnessError> {
    let names = apt.names("linux-image-")?;
    let mut out = Vec::new();
    for p in DEFAULT_SERIES.iter().filter(|p| arches.contains(&p.arch)) {
        let pkg = newest_of_series(&names, p).ok_or_else(|| HarnessError::NoSuchPackage {
            package: format!("linux-image-{}.*-{}", p.series, p.arch.debian()),
        })?;
        out.push(Kernel::from_package(&pkg, Some(p.arch))?);
    }
    if arches.contains(&Arch::Amd64) {
        let pkg =
            newest_in_bundle(&names, bundle_keys).ok_or_else(|| HarnessError::NoSuchPackage {
                package: "any amd64 kernel of the built-in bundle".into(),
            })?;
        out.push(Kernel::from_package(&pkg, None)?);
    }
    Ok(out)
}

/// What the harness needs of a kernel package, extracted once.
pub struct Fetched {
    /// The compressed kernel image for `-kernel`.
    pub image: PathBuf,
    /// The package that holds the image (for `btfkit hub add`).
    pub image_deb: PathBuf,
    /// The kernel's `.config`, where a package ships it.
    pub config: Option<PathBuf>,
}

/// The kernel's config from its packages (`boot/config-<release>`),
/// extracted to `to` once.
fn fetch_config(debs: &[&Path], to: &Path) -> Result<Option<PathBuf>, HarnessError> {
    if to.exists() {
        return Ok(Some(to.to_path_buf()));
    }
    for deb in debs {
        let member = find_member(deb, |p| {
            p.starts_with("./boot/config-")
                || (p.starts_with("./usr/lib/modules/") && p.ends_with("/config"))
        })?;
        if let Some(m) = member {
            extract_member(deb, &m, to)?;
            return Ok(Some(to.to_path_buf()));
        }
    }
    Ok(None)
}

/// Downloads the kernel's package (and the split-out image package of
/// newer kernels) and extracts the image into `work/kernels/RELEASE/`.
pub fn fetch(apt: &Apt, work: &Path, k: &Kernel) -> Result<Fetched, HarnessError> {
    let arch = k.arch.debian();
    let deb = apt.download(&k.package, arch)?;
    let dir = work.join("kernels").join(format!("{}-{}", k.release, arch));
    std::fs::create_dir_all(&dir).map_err(|e| HarnessError::io(&dir, e))?;
    let image = dir.join("vmlinuz");
    let from = dir.join("image-deb");
    if image.exists() {
        if let Ok(p) = std::fs::read_to_string(&from) {
            let image_deb = PathBuf::from(p);
            let config = fetch_config(&[&deb, &image_deb], &dir.join("config"))?;
            return Ok(Fetched {
                image,
                image_deb,
                config,
            });
        }
    }
    let (image_deb, member) = match image_member(&deb)? {
        Some(m) => (deb.clone(), m),
        None => {
            // 7.x: linux-image-R depends on linux-binary-R (or
            // linux-binary-unsigned-R), which has the image.
            let binary =
                dependency(apt, k, "linux-binary-")?.ok_or_else(|| HarnessError::NoImage {
                    package: k.package.clone(),
                })?;
            let bdeb = apt.download(&binary, arch)?;
            let m = image_member(&bdeb)?.ok_or_else(|| HarnessError::NoImage {
                package: binary.clone(),
            })?;
            (bdeb, m)
        }
    };
    extract_member(&image_deb, &member, &image)?;
    std::fs::write(&from, image_deb.to_string_lossy().as_bytes())
        .map_err(|e| HarnessError::io(&from, e))?;
    let mut debs = vec![deb.clone(), image_deb.clone()];
    // 7.x keeps the config in linux-base-R.
    if let Some(base) = dependency(apt, k, "linux-base-")? {
        debs.push(apt.download(&base, arch)?);
    }
    let debs: Vec<&Path> = debs.iter().map(PathBuf::as_path).collect();
    let config = fetch_config(&debs, &dir.join("config"))?;
    Ok(Fetched {
        image,
        image_deb,
        config,
    })
}

/// The first of `k`'s package's dependencies named `prefix...`.
fn dependency(apt: &Apt, k: &Kernel, prefix: &str) -> Result<Option<String>, HarnessError> {
    let depends = apt
        .depends(&k.package, k.arch.debian())?
        .unwrap_or_default();
    Ok(depends
        .split([',', '|'])
        .map(|d| d.split_whitespace().next().unwrap_or(""))
        .find(|d| d.starts_with(prefix))
        .map(str::to_string))
}

/// The kernel image's path inside a package, if it has one.
fn image_member(deb: &Path) -> Result<Option<String>, HarnessError> {
    find_member(deb, |p| {
        p.starts_with("./boot/vmlinuz-")
            || (p.starts_with("./usr/lib/modules/") && p.ends_with("/vmlinuz"))
    })
}

/// The first regular file of a package's data whose path `want`s.
pub fn find_member(
    deb: &Path,
    want: impl Fn(&str) -> bool,
) -> Result<Option<String>, HarnessError> {
    Ok(members(deb, want)?.into_iter().next())
}

/// Every regular file of a package's data whose path `want`s, in the
/// package's order.
pub fn members(deb: &Path, want: impl Fn(&str) -> bool) -> Result<Vec<String>, HarnessError> {
    let out = Command::new("dpkg-deb")
        .arg("--contents")
        .arg(deb)
        .output()
        .map_err(|e| HarnessError::Tool {
            tool: "dpkg-deb".into(),
            detail: e.to_string(),
        })?;
    if !out.status.success() {
        return Err(HarnessError::Tool {
            tool: format!("dpkg-deb --contents {}", deb.display()),
            detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text
        .lines()
        .filter(|l| l.starts_with('-')) // regular files only
        .filter_map(|l| l.split_whitespace().nth(5))
        .filter(|p| want(p))
        .map(str::to_string)
        .collect())
}

/// Writes one member of a package's data to `to` (atomically).
pub fn extract_member(deb: &Path, member: &str, to: &Path) -> Result<(), HarnessError> {
    let tmp = to.with_extension("part");
    let mut tar = Command::new("dpkg-deb")
        .arg("--fsys-tarfile")
        .arg(deb)
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| HarnessError::Tool {
            tool: "dpkg-deb".into(),
            detail: e.to_string(),
        })?;
    let out = std::fs::File::create(&tmp).map_err(|e| HarnessError::io(&tmp, e))?;
    let status = Command::new("tar")
        .args(["-xO", member])
        .stdin(tar.stdout.take().expect("piped"))
        .stdout(out)
        .status()
        .map_err(|e| HarnessError::Tool {
            tool: "tar".into(),
            detail: e.to_string(),
        })?;
    let dpkg = tar.wait().map_err(|e| HarnessError::Tool {
        tool: "dpkg-deb".into(),
        detail: e.to_string(),
    })?;
    if !status.success() || !dpkg.success() {
        return Err(HarnessError::Tool {
            tool: format!("extracting {member} from {}", deb.display()),
            detail: format!("tar {status}, dpkg-deb {dpkg}"),
        });
    }
    std::fs::rename(&tmp, to).map_err(|e| HarnessError::io(to, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_of_each_series_skips_other_flavours_and_backports() {
        let names: Vec<String> = [
            "linux-image-6.1.0-9-amd64",
            "linux-image-6.1.0-57-amd64",
            "linux-image-6.1.0-57-cloud-amd64",
            "linux-image-6.1.0-56-rt-amd64",
            "linux-image-6.1.0-57-rt-amd64",
            "linux-image-6.1.0-0.deb11.52-amd64",
            "linux-image-6.1-amd64",
            "linux-image-6.12.118+deb13-amd64",
            "linux-image-6.12.117+deb12-amd64",
            "linux-image-6.12.9+deb13-amd64",
            "linux-image-7.2.13+deb14-amd64",
            "linux-image-5.10.0-46-arm64",
        ]
        .map(String::from)
        .to_vec();
        let n = |a, s, f| newest_of_series(&names, &pick(a, s, f));
        assert_eq!(
            n(Arch::Amd64, "6.1", "").as_deref(),
            Some("linux-image-6.1.0-57-amd64")
        );
        assert_eq!(
            n(Arch::Amd64, "6.1", "rt").as_deref(),
            Some("linux-image-6.1.0-57-rt-amd64")
        );
        assert_eq!(
            n(Arch::Amd64, "6.12", "").as_deref(),
            Some("linux-image-6.12.118+deb13-amd64")
        );
        assert_eq!(
            n(Arch::Amd64, "7", "").as_deref(),
            Some("linux-image-7.2.13+deb14-amd64")
        );
        assert_eq!(n(Arch::Amd64, "5.10", ""), None);
        assert_eq!(
            n(Arch::Arm64, "5.10", "").as_deref(),
            Some("linux-image-5.10.0-46-arm64")
        );
        let keys = [
            "debian/12/x86_64/6.1.0-9-amd64",
            "debian/12/x86_64/6.12.117+deb12-amd64",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            newest_in_bundle(&names, &keys).as_deref(),
            Some("linux-image-6.12.117+deb12-amd64")
        );
    }

    #[test]
    fn keys_as_hub_add_makes_them() {
        let k = |p| Kernel::from_package(p, None).unwrap().key().unwrap();
        assert_eq!(
            k("linux-image-6.1.0-57-amd64"),
            "debian/12/x86_64/6.1.0-57-amd64"
        );
        assert_eq!(
            k("linux-image-5.10.0-46-arm64"),
            "debian/11/arm64/5.10.0-46-arm64"
        );
        assert_eq!(
            k("linux-image-6.12.117+deb12-amd64"),
            "debian/12/x86_64/6.12.117+deb12-amd64"
        );
        assert_eq!(
            k("linux-binary-7.2.13+deb14-arm64"),
            "debian/14/arm64/7.2.13+deb14-arm64"
        );
        assert!(Kernel::from_package("busybox", None).is_err());
    }
}
