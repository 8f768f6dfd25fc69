//! The running kernel's configuration: `BTFKIT_KCONFIG_FILE`, else
//! `/proc/config.gz`, else `/boot/config-<release>`, parsed the way libbpf
//! reads it for `__kconfig` externs.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use btfkit_btf::input::{self, Limit};

use crate::host::Host;

/// Largest kernel config accepted, as read and once decompressed.
const MAX_CONFIG: u64 = Limit::Config.max_bytes();

/// Diagnostics kept: a garbage file has as many as it has lines, and
/// the first few say what is wrong.
const MAX_DIAGNOSTICS: usize = 100;

/// Bytes of a line quoted in a diagnostic: a garbage config may be one
/// line of megabytes.
const QUOTE_MAX: usize = 80;

/// One option's value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KconfigValue {
    /// `=y`
    Yes,
    /// `=m`
    Module,
    /// `=n` or `# CONFIG_X is not set`
    No,
    /// A number, decimal, `0x` hex or `0` octal (as `strtoull` reads it).
    Number(u64),
    /// A quoted string, unescaped.
    Str(String),
}

impl std::fmt::Display for KconfigValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KconfigValue::Yes => f.write_str("y"),
            KconfigValue::Module => f.write_str("m"),
            KconfigValue::No => f.write_str("n"),
            KconfigValue::Number(n) => write!(f, "{n}"),
            KconfigValue::Str(s) => write!(f, "{s:?}"),
        }
    }
}

/// A line that could not be read; the rest of the file still counts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KconfigDiagnostic {
    /// 1-based.
    pub line: usize,
    /// What is wrong with it, quoting (a bounded part of) the line.
    pub message: String,
}

/// A parsed kernel config: `CONFIG_*` options and their values, as libbpf
/// reads them to fill `extern ... __kconfig` variables.
///
/// ```rust
/// use btfkit_resolver::{Kconfig, KconfigValue};
///
/// let k = Kconfig::parse(
///     "CONFIG_BPF=y\n# CONFIG_BPF_LSM is not set\nCONFIG_HZ=250\nbogus\n",
///     "/boot/config-6.1.0",
/// );
/// assert_eq!(k.get("CONFIG_BPF"), Some(&KconfigValue::Yes));
/// assert_eq!(k.get("HZ"), Some(&KconfigValue::Number(250))); // prefix optional
/// assert_eq!(k.get("BPF_LSM"), Some(&KconfigValue::No));
/// assert_eq!(k.diagnostics[0].line, 4); // read past, reported
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Kconfig {
    /// Where it was read from.
    pub source: PathBuf,
    values: BTreeMap<String, KconfigValue>,
    /// The first 100 lines that could not be read.
    pub diagnostics: Vec<KconfigDiagnostic>,
    /// How many lines could not be read, kept or not.
    pub unreadable_lines: usize,
}

/// Why no kernel config could be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct KconfigError(pub String);

fn number(s: &str) -> Option<u64> {
    if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u64::from_str_radix(hex, 16).ok()
    } else if s.len() > 1 && s.starts_with('0') {
        u64::from_str_radix(&s[1..], 8).ok()
    } else if let Some(neg) = s.strip_prefix('-') {
        // strtoull accepts a sign and wraps, as libbpf then does.
        neg.parse::<u64>().ok().map(|n| n.wrapping_neg())
    } else {
        s.parse().ok()
    }
}

/// `s` quoted and escaped as `{:?}` does, cut after about
/// [`QUOTE_MAX`] bytes with a note of how many more there were.
fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for (i, c) in s.char_indices() {
        if out.len() >= QUOTE_MAX {
            return format!("{out}\"... ({} more bytes)", s.len() - i);
        }
        out.extend(c.escape_debug());
    }
    out.push('"');
    out
}

/// An option name (letters, digits, `_`) cut after [`QUOTE_MAX`] bytes.
fn clip(name: &str) -> String {
    match name.get(..QUOTE_MAX) {
        Some(head) if head.len() < name.len() => format!("{head}..."),
        _ => name.to_string(),
    }
}

fn unquote(s: &str) -> Option<String> {
    let inner = s.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            '"' => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

impl Kconfig {
    /// Parses config text. Lines that are not options, comments or blank
    /// are recorded as diagnostics with their line numbers.
    pub fn parse(text: &str, source: impl Into<PathBuf>) -> Kconfig {
        let mut k = Kconfig {
            source: source.into(),
            ..Kconfig::default()
        };
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            let mut bad = |message: String| {
                k.unreadable_lines += 1;
                if k.diagnostics.len() < MAX_DIAGNOSTICS {
                    k.diagnostics.push(KconfigDiagnostic {
                        line: i + 1,
                        message,
                    })
                }
            };
            if line.is_empty() {
                continue;
            }
            if let Some(comment) = line.strip_prefix('#') {
                if let Some(name) = comment
                    .trim()
                    .strip_suffix(" is not set")
                    .filter(|n| n.starts_with("CONFIG_"))
                {
                    k.values.insert(name.to_string(), KconfigValue::No);
                }
                continue;
            }
            let Some((name, value)) = line.split_once('=') else {
                bad(format!("no '=' in {}", quote(line)));
                continue;
            };
            if !name.starts_with("CONFIG_")
                || name.len() == "CONFIG_".len()
                || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            {
                bad(format!("not an option name: {}", quote(name)));
                continue;
            }
            let v = match value {
                "y" => KconfigValue::Yes,
                "m" => KconfigValue::Module,
                "n" => KconfigValue::No,
                v if v.starts_with('"') => match unquote(v) {
                    Some(s) => KconfigValue::Str(s),
                    None => {
                        bad(format!(
                            "{}: unterminated or malformed string {}",
                            clip(name),
                            quote(v)
                        ));
                        continue;
                    }
                },
                v => match number(v) {
                    Some(n) => KconfigValue::Number(n),
                    None => {
                        bad(format!("{}: invalid value {}", clip(name), quote(v)));
                        continue;
                    }
                },
            };
            k.values.insert(name.to_string(), v);
        }
        k
    }

    /// Parses plain or gzip-compressed config bytes.
    pub fn from_bytes(data: &[u8], source: impl Into<PathBuf>) -> Result<Kconfig, KconfigError> {
        let source = source.into();
        let text = if data.starts_with(&[0x1f, 0x8b]) {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(data)
                .take(MAX_CONFIG + 1)
                .read_to_end(&mut out)
                .map_err(|e| KconfigError(format!("{}: gzip: {e}", source.display())))?;
            if out.len() as u64 > MAX_CONFIG {
                return Err(KconfigError(format!(
                    "{}: larger than {MAX_CONFIG} bytes",
                    source.display()
                )));
            }
            out
        } else {
            data.to_vec()
        };
        let text = String::from_utf8_lossy(&text);
        Ok(Kconfig::parse(&text, source))
    }

    /// Reads a config file (plain or gzip): a regular file of at most
    /// [`Limit::Config`] bytes (see `btfkit_btf::input`; `/proc/config.gz`
    /// reports size 0 and is read to its end all the same).
    pub fn read(path: &Path) -> Result<Kconfig, KconfigError> {
        // The error names the file.
        let data = input::read(path, Limit::Config).map_err(|e| KconfigError(e.to_string()))?;
        Kconfig::from_bytes(&data, path)
    }

    /// The host's config: the `BTFKIT_KCONFIG_FILE` override (which must
    /// be readable), else `/proc/config.gz`, else `/boot/config-<release>`.
    pub fn load(host: &Host, release: &str) -> Result<Kconfig, KconfigError> {
        if let Some(p) = &host.settings.kconfig_file {
            return Kconfig::read(p).map_err(|e| KconfigError(format!("BTFKIT_KCONFIG_FILE={e}")));
        }
        let mut tried = Vec::new();
        let mut candidates = vec![host.path("/proc/config.gz")];
        // A release that is not one path component is never part of a
        // path probed (`BTFKIT_KERNEL_RELEASE=../../etc/passwd`).
        match host.check_release(release) {
            Ok(()) if !release.is_empty() => {
                candidates.push(host.path(&format!("/boot/config-{release}")));
            }
            Ok(()) => {}
            Err(e) => tried.push(format!("/boot/config-<release> not tried: {e}")),
        }
        for p in candidates {
            match Kconfig::read(&p) {
                Ok(k) => return Ok(k),
                Err(e) => tried.push(e.0),
            }
        }
        Err(KconfigError(format!(
            "no kernel config ({})",
            tried.join("; ")
        )))
    }

    /// An option's value, by name with or without the `CONFIG_` prefix.
    pub fn get(&self, name: &str) -> Option<&KconfigValue> {
        match self.values.get(name) {
            Some(v) => Some(v),
            None => self.values.get(&format!("CONFIG_{name}")),
        }
    }

    /// Every option, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &KconfigValue)> {
        self.values.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Number of options set (`# CONFIG_X is not set` lines count, as
    /// [`KconfigValue::No`]).
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether no option was read.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_comments_and_bad_lines() {
        let text = "\
#
# Automatically generated file; DO NOT EDIT.
CONFIG_BPF=y
CONFIG_KVM=m
# CONFIG_BPF_LSM is not set
CONFIG_HZ=250
CONFIG_PHYS=0x1000000
CONFIG_OCT=0755
CONFIG_NEG=-1
CONFIG_NAME=\"debian \\\"x\\\" kernel\"

CONFIG_BROKEN
CONFIG_BADNUM=12abc
CONFIG_BADSTR=\"open
garbage here
CONFIG_N=n
";
        let k = Kconfig::parse(text, "/proc/config.gz");
        assert_eq!(k.get("CONFIG_BPF"), Some(&KconfigValue::Yes));
        assert_eq!(k.get("BPF"), Some(&KconfigValue::Yes));
        assert_eq!(k.get("KVM"), Some(&KconfigValue::Module));
        assert_eq!(k.get("BPF_LSM"), Some(&KconfigValue::No));
        assert_eq!(k.get("N"), Some(&KconfigValue::No));
        assert_eq!(k.get("HZ"), Some(&KconfigValue::Number(250)));
        assert_eq!(k.get("PHYS"), Some(&KconfigValue::Number(0x100_0000)));
        assert_eq!(k.get("OCT"), Some(&KconfigValue::Number(0o755)));
        assert_eq!(k.get("NEG"), Some(&KconfigValue::Number(u64::MAX)));
        assert_eq!(
            k.get("NAME"),
            Some(&KconfigValue::Str("debian \"x\" kernel".into()))
        );
        assert_eq!(k.get("MISSING"), None);
        let lines: Vec<usize> = k.diagnostics.iter().map(|d| d.line).collect();
        assert_eq!(lines, [12, 13, 14, 15], "{:?}", k.diagnostics);
        assert!(k.diagnostics[1].message.contains("CONFIG_BADNUM"));
        assert_eq!(k.len(), 9);
    }

    #[test]
    fn garbage_is_quoted_briefly_and_counted() {
        let line = "G".repeat(1 << 20);
        let k = Kconfig::parse(&line, "x");
        assert_eq!(k.unreadable_lines, 1);
        let m = &k.diagnostics[0].message;
        assert!(m.len() < 120, "{m}");
        assert!(m.starts_with("no '=' in \"GGG"), "{m}");
        assert!(
            m.ends_with(&format!("... ({} more bytes)", (1 << 20) - 79)),
            "{m}"
        );
        // Escapes count towards the quote's length.
        let k = Kconfig::parse(&"\u{1}".repeat(10_000), "x");
        assert!(k.diagnostics[0].message.len() < 120, "{:?}", k.diagnostics);
        // A long valid name with a bad value is cut too.
        let name = format!("CONFIG_{}", "A".repeat(10_000));
        let k = Kconfig::parse(&format!("{name}=\"open"), "x");
        assert!(k.diagnostics[0].message.len() < 200, "{:?}", k.diagnostics);
        // Every bad line counts; the first hundred are kept.
        let k = Kconfig::parse(&"x\n".repeat(1000), "x");
        assert_eq!((k.unreadable_lines, k.diagnostics.len()), (1000, 100));
        assert_eq!(k.diagnostics[99].line, 100);
    }

    #[test]
    fn special_and_missing_files_are_refused_naming_them() {
        let e = Kconfig::read(Path::new("/dev/zero")).unwrap_err();
        assert_eq!(e.0, "/dev/zero: a character device, not a regular file");
        let e = Kconfig::read(Path::new("/nonexistent/config")).unwrap_err();
        assert!(e.0.starts_with("/nonexistent/config: "), "{e}");
    }

    #[test]
    fn gzip_and_plain_read_alike() {
        let text = "CONFIG_A=y\nCONFIG_B=\"s\"\n";
        let mut gz = Vec::new();
        {
            use std::io::Write;
            let mut e = flate2::write::GzEncoder::new(&mut gz, flate2::Compression::default());
            e.write_all(text.as_bytes()).unwrap();
            e.finish().unwrap();
        }
        let a = Kconfig::from_bytes(&gz, "x").unwrap();
        let b = Kconfig::from_bytes(text.as_bytes(), "x").unwrap();
        assert_eq!(a, b);
        assert!(Kconfig::from_bytes(&gz[..gz.len() / 2], "x").is_err());
    }
}
