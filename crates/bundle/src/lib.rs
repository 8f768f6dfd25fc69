//! # btfkit-bundle
//!
//! One file holding minimized BTFs for many kernels, looked up by
//! `distro/version/arch/release`, each entry decodable on its own, every
//! byte covered by a checksum. The reader works over any `&[u8]` — an
//! `include_bytes!` static or a file's contents — without copying it.
//!
//! ## Format (all integers little-endian)
//!
//! ```text
//! offset  size  field
//!      0     8  magic "BTFKITBN"
//!      8     4  version (1)
//!     12     4  flags (0)
//!     16     4  entry count
//!     20     4  blob count
//!     24     4  strings offset      key strings, NUL-terminated
//!     28     4  strings length
//!     32     4  index offset        entry count x 24 bytes, sorted by key
//!     36     4  blob table offset   blob count x 32 bytes
//!     40     4  dictionary offset   zstd frame of the shared dictionary
//!     44     4  dictionary length   (0: no dictionary)
//!     48     4  dictionary size, decompressed
//!     52     4  data offset         compressed blobs
//!     56     4  data length
//!     60     4  reserved (0)
//!     64     8  xxh3-64 of every byte after the 96-byte header
//!     72    16  reserved (0)
//!     88     8  xxh3-64 of header bytes 0..88
//!
//! index entry (24 bytes):  distro, version, arch, release (string offsets),
//!                          blob index, reserved
//! blob entry (32 bytes):   offset within data, compressed length, raw
//!                          length, codec (0 stored, 1 zstd with the
//!                          dictionary), xxh3-64 of the raw bytes, xxh3-64
//!                          of the stored bytes
//! ```
//!
//! Keys are compared byte by byte in the order distro, version, arch,
//! release. Architectures are normalized (`aarch64` is stored and looked up
//! as `arm64`, `amd64` as `x86_64`). Identical BTFs are stored once and
//! shared by their keys. Blobs are compressed with zstd against a shared
//! raw-content dictionary (itself one zstd frame): minimized BTFs of
//! related kernels are near-identical, so each blob shrinks to its
//! differences while still decoding without any other blob.

use std::sync::OnceLock;

use xxhash_rust::xxh3::xxh3_64;

pub const MAGIC: &[u8; 8] = b"BTFKITBN";
pub const VERSION: u32 = 1;
const HEADER_LEN: usize = 96;
const INDEX_ENTRY: usize = 24;
const BLOB_ENTRY: usize = 32;
const CODEC_STORED: u32 = 0;
const CODEC_ZSTD_DICT: u32 = 1;
/// Largest raw BTF an entry may claim (bounds allocation on bad input).
pub const MAX_ENTRY_SIZE: u32 = 256 << 20;
/// Largest dictionary the reader accepts.
const MAX_DICT_SIZE: u32 = 64 << 20;

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum BundleError {
    #[error("not a btfkit bundle (bad magic)")]
    BadMagic,
    #[error("unsupported bundle version {0}")]
    BadVersion(u32),
    #[error("truncated: {what} needs bytes up to {need}, the bundle has {have}")]
    Truncated {
        what: &'static str,
        need: u64,
        have: usize,
    },
    #[error("header checksum mismatch")]
    HeaderChecksum,
    #[error("checksum mismatch over the bundle's contents (index, blobs or dictionary damaged)")]
    FileChecksum,
    #[error("index entry {0}: {1}")]
    BadEntry(usize, String),
    #[error("index is not sorted at entry {0}")]
    Unsorted(usize),
    #[error("blob {blob}: {reason}")]
    BadBlob { blob: usize, reason: String },
    #[error("dictionary: {0}")]
    BadDictionary(String),
    #[error("key {0:?} is not in the bundle")]
    NotFound(String),
    #[error("invalid key {0:?}: expected distro/version/arch/release")]
    BadKey(String),
    #[error("duplicate key {0}")]
    DuplicateKey(String),
    #[error("compression: {0}")]
    Compress(String),
}

pub type Result<T, E = BundleError> = std::result::Result<T, E>;

/// The architecture name a bundle stores: `aarch64` → `arm64`,
/// `amd64` → `x86_64`, others unchanged.
pub fn normalize_arch(arch: &str) -> &str {
    match arch {
        "aarch64" => "arm64",
        "amd64" | "x86-64" => "x86_64",
        "i686" | "i586" | "i486" => "i386",
        "ppc64el" => "ppc64le",
        other => other,
    }
}

/// A kernel's key.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    pub distro: String,
    pub version: String,
    pub arch: String,
    pub release: String,
}

impl Key {
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

fn u32_at(d: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(d[off..off + 4].try_into().expect("4 bytes"))
}

fn u64_at(d: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(d[off..off + 8].try_into().expect("8 bytes"))
}

#[derive(Clone, Copy, Debug)]
struct Header {
    entries: u32,
    blobs: u32,
    strings_off: u32,
    strings_len: u32,
    index_off: u32,
    blobtab_off: u32,
    dict_off: u32,
    dict_len: u32,
    dict_raw_len: u32,
    data_off: u32,
    data_len: u32,
    file_xxh3: u64,
}

/// One entry of the index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    pub distro: &'a str,
    pub version: &'a str,
    pub arch: &'a str,
    pub release: &'a str,
    /// Index of the blob holding this kernel's BTF (shared by identical BTFs).
    pub blob: u32,
}

impl Entry<'_> {
    pub fn key(&self) -> Key {
        Key::new(self.distro, self.version, self.arch, self.release)
    }
}

/// One stored BTF.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlobInfo {
    pub offset: u32,
    pub stored_len: u32,
    pub raw_len: u32,
    pub codec: u32,
    pub raw_xxh3: u64,
    pub stored_xxh3: u64,
}

/// A bundle over borrowed bytes.
pub struct Bundle<'a> {
    data: &'a [u8],
    h: Header,
    dict: OnceLock<Result<Vec<u8>>>,
}

impl std::fmt::Debug for Bundle<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bundle")
            .field("entries", &self.h.entries)
            .field("blobs", &self.h.blobs)
            .field("bytes", &self.data.len())
            .finish()
    }
}

impl<'a> Bundle<'a> {
    /// Checks the header (magic, version, checksum) and that every table
    /// lies inside `data`. The contents' checksum is checked by
    /// [`verify`](Self::verify); each blob's by [`get`](Self::get).
    pub fn parse(data: &'a [u8]) -> Result<Bundle<'a>> {
        if data.len() < HEADER_LEN {
            return Err(BundleError::Truncated {
                what: "header",
                need: HEADER_LEN as u64,
                have: data.len(),
            });
        }
        if &data[..8] != MAGIC {
            return Err(BundleError::BadMagic);
        }
        if xxh3_64(&data[..88]) != u64_at(data, 88) {
            return Err(BundleError::HeaderChecksum);
        }
        let version = u32_at(data, 8);
        if version != VERSION {
            return Err(BundleError::BadVersion(version));
        }
        let h = Header {
            entries: u32_at(data, 16),
            blobs: u32_at(data, 20),
            strings_off: u32_at(data, 24),
            strings_len: u32_at(data, 28),
            index_off: u32_at(data, 32),
            blobtab_off: u32_at(data, 36),
            dict_off: u32_at(data, 40),
            dict_len: u32_at(data, 44),
            dict_raw_len: u32_at(data, 48),
            data_off: u32_at(data, 52),
            data_len: u32_at(data, 56),
            file_xxh3: u64_at(data, 64),
        };
        let within = |what, off: u32, len: u64| {
            let end = off as u64 + len;
            if (off as usize) < HEADER_LEN || end > data.len() as u64 {
                Err(BundleError::Truncated {
                    what,
                    need: end,
                    have: data.len(),
                })
            } else {
                Ok(())
            }
        };
        within("strings", h.strings_off, h.strings_len as u64)?;
        within("index", h.index_off, h.entries as u64 * INDEX_ENTRY as u64)?;
        within(
            "blob table",
            h.blobtab_off,
            h.blobs as u64 * BLOB_ENTRY as u64,
        )?;
        within("dictionary", h.dict_off, h.dict_len as u64)?;
        within("data", h.data_off, h.data_len as u64)?;
        if h.dict_raw_len > MAX_DICT_SIZE {
            return Err(BundleError::BadDictionary(format!(
                "claims {} bytes",
                h.dict_raw_len
            )));
        }
        Ok(Bundle {
            data,
            h,
            dict: OnceLock::new(),
        })
    }

    pub fn len(&self) -> usize {
        self.h.entries as usize
    }

    pub fn is_empty(&self) -> bool {
        self.h.entries == 0
    }

    pub fn blob_count(&self) -> usize {
        self.h.blobs as usize
    }

    /// Size of the bundle in bytes.
    pub fn size(&self) -> usize {
        self.data.len()
    }

    fn string(&self, off: u32) -> Option<&'a str> {
        let strs = &self.data
            [self.h.strings_off as usize..(self.h.strings_off + self.h.strings_len) as usize];
        let tail = strs.get(off as usize..)?;
        let end = tail.iter().position(|&b| b == 0)?;
        std::str::from_utf8(&tail[..end]).ok()
    }

    /// Entry `i` of the sorted index.
    pub fn entry(&self, i: usize) -> Result<Entry<'a>> {
        if i >= self.len() {
            return Err(BundleError::BadEntry(i, "out of range".into()));
        }
        let at = self.h.index_off as usize + i * INDEX_ENTRY;
        let s = |k: usize| {
            self.string(u32_at(self.data, at + 4 * k))
                .ok_or_else(|| BundleError::BadEntry(i, "key string out of range".into()))
        };
        let blob = u32_at(self.data, at + 16);
        if blob >= self.h.blobs {
            return Err(BundleError::BadEntry(
                i,
                format!("blob {blob} out of range"),
            ));
        }
        Ok(Entry {
            distro: s(0)?,
            version: s(1)?,
            arch: s(2)?,
            release: s(3)?,
            blob,
        })
    }

    /// All entries, in key order.
    pub fn entries(&self) -> impl Iterator<Item = Result<Entry<'a>>> + '_ {
        (0..self.len()).map(|i| self.entry(i))
    }

    /// The entry for an exact key (architecture normalized).
    pub fn find(
        &self,
        distro: &str,
        version: &str,
        arch: &str,
        release: &str,
    ) -> Result<Option<Entry<'a>>> {
        let want = (distro, version, normalize_arch(arch), release);
        let (mut lo, mut hi) = (0usize, self.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            let e = self.entry(mid)?;
            match (e.distro, e.version, e.arch, e.release).cmp(&want) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Ok(Some(e)),
            }
        }
        Ok(None)
    }

    /// The entry for a `distro/version/arch/release` key.
    pub fn find_key(&self, key: &str) -> Result<Option<Entry<'a>>> {
        let k = Key::parse(key)?;
        self.find(&k.distro, &k.version, &k.arch, &k.release)
    }

    /// Entries with this architecture and release, whatever the distro.
    pub fn find_release(&self, arch: &str, release: &str) -> Result<Vec<Entry<'a>>> {
        let arch = normalize_arch(arch);
        let mut out = Vec::new();
        for e in self.entries() {
            let e = e?;
            if e.arch == arch && e.release == release {
                out.push(e);
            }
        }
        Ok(out)
    }

    /// Blob `i`'s table entry.
    pub fn blob(&self, i: u32) -> Result<BlobInfo> {
        if i >= self.h.blobs {
            return Err(BundleError::BadBlob {
                blob: i as usize,
                reason: "out of range".into(),
            });
        }
        let at = self.h.blobtab_off as usize + i as usize * BLOB_ENTRY;
        Ok(BlobInfo {
            offset: u32_at(self.data, at),
            stored_len: u32_at(self.data, at + 4),
            raw_len: u32_at(self.data, at + 8),
            codec: u32_at(self.data, at + 12),
            raw_xxh3: u64_at(self.data, at + 16),
            stored_xxh3: u64_at(self.data, at + 24),
        })
    }

    fn dictionary(&self) -> Result<&[u8]> {
        self.dict
            .get_or_init(|| {
                if self.h.dict_len == 0 {
                    return Ok(Vec::new());
                }
                let frame = &self.data
                    [self.h.dict_off as usize..(self.h.dict_off + self.h.dict_len) as usize];
                zstd::bulk::decompress(frame, self.h.dict_raw_len as usize)
                    .map_err(|e| BundleError::BadDictionary(e.to_string()))
                    .and_then(|d| {
                        if d.len() == self.h.dict_raw_len as usize {
                            Ok(d)
                        } else {
                            Err(BundleError::BadDictionary("wrong size".into()))
                        }
                    })
            })
            .as_deref()
            .map_err(Clone::clone)
    }

    /// The stored bytes of blob `i`, checked against its checksum.
    fn stored(&self, i: u32, b: &BlobInfo) -> Result<&'a [u8]> {
        let bad = |reason: String| BundleError::BadBlob {
            blob: i as usize,
            reason,
        };
        let end = b.offset as u64 + b.stored_len as u64;
        if end > self.h.data_len as u64 {
            return Err(bad(format!(
                "bytes {}..{end} outside the data ({})",
                b.offset, self.h.data_len
            )));
        }
        let start = self.h.data_off as usize + b.offset as usize;
        let bytes = &self.data[start..start + b.stored_len as usize];
        if xxh3_64(bytes) != b.stored_xxh3 {
            return Err(bad("checksum mismatch".into()));
        }
        Ok(bytes)
    }

    /// Decodes blob `i`, verifying both checksums.
    pub fn get_blob(&self, i: u32) -> Result<Vec<u8>> {
        let b = self.blob(i)?;
        let bad = |reason: String| BundleError::BadBlob {
            blob: i as usize,
            reason,
        };
        if b.raw_len > MAX_ENTRY_SIZE {
            return Err(bad(format!("claims {} bytes", b.raw_len)));
        }
        let stored = self.stored(i, &b)?;
        let raw = match b.codec {
            CODEC_STORED => stored.to_vec(),
            CODEC_ZSTD_DICT => {
                let mut d = zstd::bulk::Decompressor::with_dictionary(self.dictionary()?)
                    .map_err(|e| bad(e.to_string()))?;
                d.decompress(stored, b.raw_len as usize)
                    .map_err(|e| bad(e.to_string()))?
            }
            other => return Err(bad(format!("unknown codec {other}"))),
        };
        if raw.len() != b.raw_len as usize || xxh3_64(&raw) != b.raw_xxh3 {
            return Err(bad("decoded bytes do not match their checksum".into()));
        }
        Ok(raw)
    }

    /// Decodes an entry's BTF.
    pub fn get(&self, e: &Entry<'_>) -> Result<Vec<u8>> {
        self.get_blob(e.blob)
    }

    /// Checks everything: the contents' checksum, index order and
    /// references, and that every blob decodes to its checksum.
    pub fn verify(&self) -> Result<()> {
        if xxh3_64(&self.data[HEADER_LEN..]) != self.h.file_xxh3 {
            return Err(BundleError::FileChecksum);
        }
        let mut prev: Option<Entry<'_>> = None;
        for i in 0..self.len() {
            let e = self.entry(i)?;
            if let Some(p) = prev {
                if (p.distro, p.version, p.arch, p.release)
                    >= (e.distro, e.version, e.arch, e.release)
                {
                    return Err(BundleError::Unsorted(i));
                }
            }
            prev = Some(e);
        }
        for b in 0..self.h.blobs {
            self.get_blob(b)?;
        }
        Ok(())
    }
}

/// Builds a bundle.
#[derive(Default)]
pub struct BundleBuilder {
    entries: Vec<(Key, usize)>,
    blobs: Vec<Vec<u8>>,
    by_hash: std::collections::HashMap<(u64, usize), Vec<usize>>,
}

/// Largest shared dictionary the builder makes.
const DICT_CAP: usize = 1 << 20;
const ZSTD_LEVEL: i32 = 19;

impl BundleBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a kernel's BTF under `key`; identical BTFs are stored once.
    pub fn add(&mut self, key: Key, btf: &[u8]) -> Result<()> {
        if self.entries.iter().any(|(k, _)| *k == key) {
            return Err(BundleError::DuplicateKey(key.to_string()));
        }
        let h = (xxh3_64(btf), btf.len());
        let found = self
            .by_hash
            .get(&h)
            .and_then(|cands| cands.iter().copied().find(|&i| self.blobs[i] == btf));
        let blob = match found {
            Some(i) => i,
            None => {
                self.blobs.push(btf.to_vec());
                self.by_hash
                    .entry(h)
                    .or_default()
                    .push(self.blobs.len() - 1);
                self.blobs.len() - 1
            }
        };
        self.entries.push((key, blob));
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Writes the bundle.
    pub fn finish(mut self) -> Result<Vec<u8>> {
        self.entries.sort();
        let cerr = |e: std::io::Error| BundleError::Compress(e.to_string());
        // Strings, deduplicated.
        let mut strings: Vec<u8> = Vec::new();
        let mut str_off: std::collections::HashMap<String, u32> = std::collections::HashMap::new();
        let mut intern = |s: &str| -> u32 {
            *str_off.entry(s.to_string()).or_insert_with(|| {
                let off = strings.len() as u32;
                strings.extend_from_slice(s.as_bytes());
                strings.push(0);
                off
            })
        };
        let mut index = Vec::with_capacity(self.entries.len() * INDEX_ENTRY);
        for (k, blob) in &self.entries {
            for s in [&k.distro, &k.version, &k.arch, &k.release] {
                index.extend_from_slice(&intern(s).to_le_bytes());
            }
            index.extend_from_slice(&(*blob as u32).to_le_bytes());
            index.extend_from_slice(&0u32.to_le_bytes());
        }
        // The dictionary: blobs in key order (related kernels next to each
        // other), up to the cap.
        let mut dict = Vec::new();
        let mut in_dict = vec![false; self.blobs.len()];
        for (_, b) in &self.entries {
            if !in_dict[*b] && dict.len() + self.blobs[*b].len() <= DICT_CAP {
                dict.extend_from_slice(&self.blobs[*b]);
                in_dict[*b] = true;
            }
        }
        let dict_frame = if dict.is_empty() {
            Vec::new()
        } else {
            zstd::bulk::compress(&dict, ZSTD_LEVEL).map_err(cerr)?
        };
        let mut data = Vec::new();
        let mut blobtab = Vec::with_capacity(self.blobs.len() * BLOB_ENTRY);
        let mut compressor =
            zstd::bulk::Compressor::with_dictionary(ZSTD_LEVEL, &dict).map_err(cerr)?;
        for blob in &self.blobs {
            let z = compressor.compress(blob).map_err(cerr)?;
            let (codec, stored) = if z.len() < blob.len() {
                (CODEC_ZSTD_DICT, z)
            } else {
                (CODEC_STORED, blob.clone())
            };
            for w in [
                data.len() as u32,
                stored.len() as u32,
                blob.len() as u32,
                codec,
            ] {
                blobtab.extend_from_slice(&w.to_le_bytes());
            }
            blobtab.extend_from_slice(&xxh3_64(blob).to_le_bytes());
            blobtab.extend_from_slice(&xxh3_64(&stored).to_le_bytes());
            data.extend_from_slice(&stored);
        }
        // Layout: header, strings, index, blob table, dictionary, data.
        let mut out = vec![0u8; HEADER_LEN];
        let place = |out: &mut Vec<u8>, bytes: &[u8]| -> u32 {
            while out.len() % 4 != 0 {
                out.push(0);
            }
            let off = out.len() as u32;
            out.extend_from_slice(bytes);
            off
        };
        let strings_off = place(&mut out, &strings);
        let index_off = place(&mut out, &index);
        let blobtab_off = place(&mut out, &blobtab);
        let dict_off = place(&mut out, &dict_frame);
        let data_off = place(&mut out, &data);
        if out.len() > u32::MAX as usize {
            return Err(BundleError::Compress("bundle exceeds 4 GiB".into()));
        }
        out[..8].copy_from_slice(MAGIC);
        let fields = [
            (8, VERSION),
            (12, 0),
            (16, self.entries.len() as u32),
            (20, self.blobs.len() as u32),
            (24, strings_off),
            (28, strings.len() as u32),
            (32, index_off),
            (36, blobtab_off),
            (40, dict_off),
            (44, dict_frame.len() as u32),
            (48, dict.len() as u32),
            (52, data_off),
            (56, data.len() as u32),
        ];
        for (at, v) in fields {
            out[at..at + 4].copy_from_slice(&v.to_le_bytes());
        }
        let file_sum = xxh3_64(&out[HEADER_LEN..]);
        out[64..72].copy_from_slice(&file_sum.to_le_bytes());
        let header_sum = xxh3_64(&out[..88]);
        out[88..96].copy_from_slice(&header_sum.to_le_bytes());
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut b = BundleBuilder::new();
        b.add(
            Key::new("debian", "12", "x86_64", "6.1.0-56-amd64"),
            b"btf one, quite long content to compress",
        )
        .unwrap();
        b.add(
            Key::new("debian", "12", "aarch64", "6.1.0-56-arm64"),
            b"btf two, quite long content to compress",
        )
        .unwrap();
        b.add(
            Key::new("centos", "8", "x86_64", "4.18.0"),
            b"btf one, quite long content to compress",
        )
        .unwrap();
        b.finish().unwrap()
    }

    #[test]
    fn roundtrip_lookup_and_sharing() {
        let data = sample();
        let bundle = Bundle::parse(&data).unwrap();
        bundle.verify().unwrap();
        assert_eq!((bundle.len(), bundle.blob_count()), (3, 2));
        let keys: Vec<String> = bundle
            .entries()
            .map(|e| e.unwrap().key().to_string())
            .collect();
        assert_eq!(
            keys,
            [
                "centos/8/x86_64/4.18.0",
                "debian/12/arm64/6.1.0-56-arm64",
                "debian/12/x86_64/6.1.0-56-amd64"
            ]
        );
        let e = bundle
            .find("debian", "12", "aarch64", "6.1.0-56-arm64")
            .unwrap()
            .unwrap();
        assert_eq!(
            bundle.get(&e).unwrap(),
            b"btf two, quite long content to compress"
        );
        let e = bundle
            .find_key("debian/12/arm64/6.1.0-56-arm64")
            .unwrap()
            .unwrap();
        assert_eq!(e.arch, "arm64");
        assert!(bundle
            .find("debian", "12", "x86_64", "nope")
            .unwrap()
            .is_none());
        assert_eq!(bundle.find_release("x86_64", "4.18.0").unwrap().len(), 1);
        assert_eq!(
            bundle.find_key("debian/12").unwrap_err(),
            BundleError::BadKey("debian/12".into())
        );
    }

    #[test]
    fn damage_is_detected() {
        let data = sample();
        let n = data.len();
        for (at, what) in [(10, "header"), (100, "strings"), (n - 3, "data")] {
            let mut d = data.clone();
            d[at] ^= 0x20;
            let r = Bundle::parse(&d).and_then(|b| b.verify());
            assert!(r.is_err(), "flip in {what} not detected");
        }
        for cut in [0, 50, 95, n / 2, n - 1] {
            let r = Bundle::parse(&data[..cut]).and_then(|b| b.verify());
            assert!(r.is_err(), "truncation at {cut}");
        }
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
    fn empty_bundle() {
        let data = BundleBuilder::new().finish().unwrap();
        let b = Bundle::parse(&data).unwrap();
        b.verify().unwrap();
        assert!(b.is_empty());
    }
}
