#![doc = include_str!("../FORMAT.md")]
//!
//! This crate reads ([`Bundle`]) and writes ([`BundleBuilder`]) bundles.
//! The reader borrows the bundle's bytes — an `include_bytes!` static or a
//! file's contents — and decodes only the small catalog on open.
//!
//! # Example
//!
//! Build a bundle in memory and read it back:
//!
//! ```rust
//! use btfkit_bundle::{Bundle, BundleBuilder, Key};
//!
//! # fn main() -> btfkit_bundle::Result<()> {
//! // Any bytes will do for the example; real entries are (minimized) BTF.
//! let btf_amd64 = b"\x9f\xeb\x01\x00 pretend this is BTF".to_vec();
//! let btf_arm64 = b"\x9f\xeb\x01\x00 pretend this is BTF, too".to_vec();
//!
//! let mut builder = BundleBuilder::new();
//! builder.add(Key::new("debian", "12", "amd64", "6.1.0-56-amd64"), &btf_amd64)?;
//! builder.add(Key::new("debian", "12", "aarch64", "6.1.0-56-arm64"), &btf_arm64)?;
//! let bytes: Vec<u8> = builder.finish()?;
//!
//! let bundle = Bundle::parse(&bytes)?;
//! bundle.verify()?;
//! assert_eq!(bundle.len(), 2);
//! // Architectures are normalized on both sides: aarch64 is stored as arm64.
//! let e = bundle.find("debian", "12", "aarch64", "6.1.0-56-arm64").unwrap();
//! assert_eq!(e.arch, "arm64");
//! assert_eq!(bundle.get(&e)?, btf_arm64);
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

mod delta;
mod lzma;
mod reader;
mod writer;

pub use reader::{BlobInfo, Bundle, Codec, Entry};
pub use writer::BundleBuilder;

/// The 8 bytes every bundle starts with (header offset 0).
pub const MAGIC: &[u8; 8] = b"BTFKITBN";
/// The format version this crate writes and the only one it reads (header
/// offset 8); any other is [`BundleError::BadVersion`].
pub const VERSION: u32 = 1;
const HEADER_LEN: usize = 80;
/// Largest decoded BTF an entry may claim (bounds allocation on bad input).
pub const MAX_ENTRY_SIZE: u32 = 256 << 20;
/// Largest decoded catalog a reader accepts.
const MAX_CATALOG_SIZE: u32 = 64 << 20;
/// Largest decoded dictionary a reader accepts.
const MAX_DICT_SIZE: u32 = 1 << 30;

/// Everything that can go wrong reading or writing a bundle.
///
/// Reading never panics on damaged or hostile input: every size, offset and
/// checksum is checked, and a failure is one of these variants. Most are
/// found by [`Bundle::parse`]; the dictionary's and a blob's problems only
/// when they are decoded ([`Bundle::get`], [`Bundle::verify`]).
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum BundleError {
    /// The input does not start with [`MAGIC`]: it is not a bundle.
    #[error("not a btfkit bundle (bad magic)")]
    BadMagic,
    /// The header names a format version other than [`VERSION`] (the value
    /// found).
    #[error("unsupported bundle version {0}")]
    BadVersion(u32),
    /// The input ends before the header, or before the end of the sections
    /// the header declares.
    #[error("truncated: {what} needs bytes up to {need}, the bundle has {have}")]
    Truncated {
        /// The part that does not fit: `"header"` or `"sections"`.
        what: &'static str,
        /// Bytes the input would need to hold it.
        need: u64,
        /// Bytes the input has.
        have: usize,
    },
    /// The xxh3 over header bytes 0..72 does not match the one stored at
    /// offset 72: the header is damaged.
    #[error("header checksum mismatch")]
    HeaderChecksum,
    /// The header is intact but inconsistent: unknown flags, a non-zero
    /// reserved field, or bytes after the end of the data section.
    #[error("header: {0}")]
    BadHeader(String),
    /// The catalog frame does not decode, decodes to the wrong length or
    /// checksum, claims more than the reader accepts (64 MiB), has bytes left
    /// over, or its blobs do not cover the data and dictionary exactly.
    #[error("catalog: {0}")]
    BadCatalog(String),
    /// The whole-file xxh3 (over every byte after the 80-byte header) does
    /// not match: checked only by [`Bundle::verify`].
    #[error("checksum mismatch over the bundle's contents (catalog, dictionary or data damaged)")]
    FileChecksum,
    /// Index entry `.0` of the catalog is malformed (described by `.1`):
    /// truncated, not UTF-8, not a `distro/version/arch/release` key, an
    /// unnormalized architecture, or a blob number out of range.
    #[error("index entry {0}: {1}")]
    BadEntry(usize, String),
    /// Entry `.0`'s key does not sort after the previous one (keys must be
    /// unique and in order for lookups to work).
    #[error("index is not sorted at entry {0}")]
    Unsorted(usize),
    /// A blob's description is invalid (unknown codec, too large, outside
    /// its section, a delta whose base is not a reference blob) or its bytes
    /// do not decode to its length and checksum.
    #[error("blob {blob}: {reason}")]
    BadBlob {
        /// The blob's index in the catalog.
        blob: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// The dictionary frame claims an impossible size (over 1 GiB, or a
    /// size without a frame), does not decode, or fails its checksum.
    #[error("dictionary: {0}")]
    BadDictionary(String),
    /// The string (shown) is not a valid `distro/version/arch/release` key:
    /// fewer than four non-empty components, a NUL byte, or (when adding)
    /// a `/` outside the release or an architecture [`normalize_arch`] would
    /// change (possible only in a `Key` built without [`Key::new`]).
    #[error("invalid key {0:?}: expected distro/version/arch/release")]
    BadKey(String),
    /// [`BundleBuilder::add`] was given a key (shown, architecture
    /// normalized) that is already in the bundle.
    #[error("duplicate key {0}")]
    DuplicateKey(String),
    /// Writing failed: an LZMA or zstd encoder error, an entry over
    /// [`MAX_ENTRY_SIZE`], or a bundle that would exceed 4 GiB.
    #[error("compression: {0}")]
    Compress(String),
}

/// `Result` with [`BundleError`] as the default error type.
pub type Result<T, E = BundleError> = std::result::Result<T, E>;

/// The architecture name a bundle stores (the kernel's, as BTFHub names its
/// folders): `aarch64` → `arm64`, `amd64` and `x86-64` → `x86_64`,
/// `i686`/`i586`/`i486` → `i386`, `ppc64el` → `ppc64le`, others unchanged.
pub fn normalize_arch(arch: &str) -> &str {
    match arch {
        "aarch64" => "arm64",
        "amd64" | "x86-64" => "x86_64",
        "i686" | "i586" | "i486" => "i386",
        "ppc64el" => "ppc64le",
        other => other,
    }
}

/// Why `s` cannot be one component of a kernel key, `None` when it can.
/// Keys name archive folders and files (`<distro>/<version>/<arch>/
/// <release>`), and a host's release is also part of probed paths
/// (`/boot/config-<release>`), so a component must not step out of its
/// folder: not empty, not `.` or `..`, no `/`; and no control characters
/// (NUL ends a path, a newline splits every line-based report). Applied
/// where keys are made: archives and `hub add` (btfkit-hub), host facts
/// (btfkit-resolver).
pub fn key_component_problem(s: &str) -> Option<&'static str> {
    if s.is_empty() {
        Some("it is empty")
    } else if s == "." || s == ".." {
        Some("it is a path step")
    } else if s.contains('/') {
        Some("it contains '/'")
    } else if s.chars().any(char::is_control) {
        Some("it contains a control character")
    } else {
        None
    }
}

/// A kernel's key: `distro/version/arch/release`, the same four fields
/// BTFHub uses for its archive layout (`ubuntu/20.04/x86_64/5.4.0-42-generic`).
///
/// Keys order field by field (distro, then version, arch, release), as byte
/// strings, which is the order of a bundle's index. Its `Display` form is
/// the four fields joined by `/`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    /// Distribution id, as in os-release's `ID` (`ubuntu`, `debian`, `centos`…).
    pub distro: String,
    /// Distribution version, as in os-release's `VERSION_ID` (`20.04`, `12`).
    pub version: String,
    /// Architecture, normalized by [`normalize_arch`] (`x86_64`, `arm64`).
    pub arch: String,
    /// Kernel release, as `uname -r` prints it (`5.4.0-42-generic`); the only
    /// field that may contain a `/`.
    pub release: String,
}

impl Key {
    /// A key from its four fields, normalizing the architecture
    /// (`aarch64` → `arm64`, `amd64` → `x86_64`). Nothing is validated here:
    /// [`BundleBuilder::add`] refuses keys that do not survive a round trip
    /// through [`Key::parse`].
    pub fn new(distro: &str, version: &str, arch: &str, release: &str) -> Key {
        Key {
            distro: distro.to_string(),
            version: version.to_string(),
            arch: normalize_arch(arch).to_string(),
            release: release.to_string(),
        }
    }

    /// Parses `distro/version/arch/release`.
    pub fn parse(s: &str) -> Result<Key> {
        let parts: Vec<&str> = s.splitn(4, '/').collect();
        match parts.as_slice() {
            [d, v, a, r]
                if ![d, v, a, r]
                    .iter()
                    .any(|p| p.is_empty() || p.contains('\0')) =>
            {
                Ok(Key::new(d, v, a, r))
            }
            _ => Err(BundleError::BadKey(s.to_string())),
        }
    }
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}/{}/{}/{}",
            self.distro, self.version, self.arch, self.release
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn btf_like(seed: u8, len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31) ^ (i / 7) as u8 ^ seed)
            .collect()
    }

    fn sample() -> Vec<u8> {
        let mut b = BundleBuilder::new();
        let one = btf_like(0, 3000);
        let mut two = one.clone();
        two[1000] ^= 1;
        b.add(Key::new("debian", "12", "x86_64", "6.1.0-56-amd64"), &one)
            .unwrap();
        b.add(Key::new("debian", "12", "aarch64", "6.1.0-56-arm64"), &two)
            .unwrap();
        b.add(Key::new("centos", "8", "x86_64", "4.18.0"), &one)
            .unwrap();
        b.add(Key::new("other", "1", "x86_64", "r"), &btf_like(9, 500))
            .unwrap();
        b.add(Key::new("tiny", "1", "x86_64", "r"), b"abc").unwrap();
        b.finish().unwrap()
    }

    #[test]
    fn roundtrip_lookup_and_sharing() {
        let data = sample();
        let bundle = Bundle::parse(&data).unwrap();
        bundle.verify().unwrap();
        assert_eq!((bundle.len(), bundle.blob_count()), (5, 4));
        let keys: Vec<String> = bundle.entries().map(|e| e.key().to_string()).collect();
        assert_eq!(
            keys,
            [
                "centos/8/x86_64/4.18.0",
                "debian/12/arm64/6.1.0-56-arm64",
                "debian/12/x86_64/6.1.0-56-amd64",
                "other/1/x86_64/r",
                "tiny/1/x86_64/r",
            ]
        );
        let e = bundle
            .find("debian", "12", "aarch64", "6.1.0-56-arm64")
            .unwrap();
        let mut two = btf_like(0, 3000);
        two[1000] ^= 1;
        assert_eq!(bundle.get(&e).unwrap(), two);
        let e = bundle
            .find_key("debian/12/arm64/6.1.0-56-arm64")
            .unwrap()
            .unwrap();
        assert_eq!(e.arch, "arm64");
        let amd = bundle
            .find_key("debian/12/amd64/6.1.0-56-amd64")
            .unwrap()
            .unwrap();
        assert_eq!(bundle.get(&amd).unwrap(), btf_like(0, 3000));
        assert!(bundle.find("debian", "12", "x86_64", "nope").is_none());
        assert_eq!(bundle.find_release("x86_64", "4.18.0").len(), 1);
        assert_eq!(
            bundle
                .get(&bundle.find_key("tiny/1/x86_64/r").unwrap().unwrap())
                .unwrap(),
            b"abc"
        );
        assert_eq!(
            bundle.find_key("debian/12").unwrap_err(),
            BundleError::BadKey("debian/12".into())
        );
        // The near-copy is a few-byte delta against its reference.
        let two = bundle.blob(e.blob).unwrap();
        assert!(
            matches!(two.codec, Codec::Delta { .. }) && two.stored_len < 8,
            "{two:?}"
        );
    }

    #[test]
    fn output_does_not_depend_on_insertion_order() {
        let mut a = BundleBuilder::new();
        let mut b = BundleBuilder::new();
        let items: Vec<(Key, Vec<u8>)> = (0..6u8)
            .map(|i| {
                (
                    Key::new("d", "1", "x86_64", &format!("r{i}")),
                    btf_like(i % 3, 800),
                )
            })
            .collect();
        for (k, v) in &items {
            a.add(k.clone(), v).unwrap();
        }
        for (k, v) in items.iter().rev() {
            b.add(k.clone(), v).unwrap();
        }
        assert_eq!(a.finish().unwrap(), b.finish().unwrap());
    }

    #[test]
    fn every_flipped_byte_is_detected() {
        let data = sample();
        for at in 0..data.len() {
            for bit in [0x01, 0x80] {
                let mut d = data.clone();
                d[at] ^= bit;
                let r = Bundle::parse(&d).and_then(|b| b.verify());
                assert!(r.is_err(), "flip {bit:#x} at {at} not detected");
            }
        }
        for cut in [0, 50, 79, 80, data.len() / 2, data.len() - 1] {
            assert!(Bundle::parse(&data[..cut]).is_err(), "truncation at {cut}");
        }
        let mut longer = data.clone();
        longer.push(0);
        assert!(Bundle::parse(&longer).is_err());
    }

    #[test]
    fn duplicate_keys_are_refused() {
        let mut b = BundleBuilder::new();
        b.add(Key::new("d", "1", "aarch64", "r"), b"x").unwrap();
        assert_eq!(
            b.add(Key::new("d", "1", "arm64", "r"), b"y"),
            Err(BundleError::DuplicateKey("d/1/arm64/r".into()))
        );
    }

    #[test]
    fn keys_must_survive_joining() {
        let mut b = BundleBuilder::new();
        assert!(b.add(Key::new("a/b", "1", "x86_64", "r"), b"x").is_err());
        assert!(b.add(Key::new("a", "", "x86_64", "r"), b"x").is_err());
        b.add(Key::new("a", "1", "x86_64", "r/with/slash"), b"x")
            .unwrap();
        let data = b.finish().unwrap();
        let bundle = Bundle::parse(&data).unwrap();
        assert_eq!(bundle.entry(0).unwrap().release, "r/with/slash");
    }

    #[test]
    fn empty_bundle() {
        let data = BundleBuilder::new().finish().unwrap();
        let b = Bundle::parse(&data).unwrap();
        b.verify().unwrap();
        assert!(b.is_empty());
    }
}
