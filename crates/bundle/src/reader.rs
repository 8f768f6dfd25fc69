//! Reading a bundle: open checks the header and decodes the catalog; the
//! dictionary is decoded once, on first use; each blob when asked for.

use std::io::Read;
use std::sync::OnceLock;

use xxhash_rust::xxh3::xxh3_64;

use crate::{
    delta, normalize_arch, BundleError, Key, Result, HEADER_LEN, MAGIC, MAX_CATALOG_SIZE,
    MAX_DICT_SIZE, MAX_ENTRY_SIZE, VERSION,
};

pub(crate) const CODEC_STORED: u32 = 0;
pub(crate) const CODEC_REFERENCE: u32 = 1;
pub(crate) const CODEC_DELTA: u32 = 2;
pub(crate) const CODEC_ZSTD: u32 = 3;

fn u32_at(d: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(d[off..off + 4].try_into().expect("4 bytes"))
}

fn u64_at(d: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(d[off..off + 8].try_into().expect("8 bytes"))
}

/// Decodes one zstd frame, refusing output beyond `limit` bytes without
/// ever allocating more than the frame really produces.
pub(crate) fn unzstd(frame: &[u8], dict: Option<&[u8]>, limit: usize) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let dec = match dict {
        Some(d) => zstd::stream::read::Decoder::with_dictionary(frame, d)?,
        None => zstd::stream::read::Decoder::with_dictionary(frame, &[])?,
    };
    dec.single_frame()
        .take(limit as u64 + 1)
        .read_to_end(&mut out)?;
    if out.len() > limit {
        return Err(std::io::Error::other(format!(
            "decodes to more than the declared {limit} bytes"
        )));
    }
    Ok(out)
}

#[derive(Clone, Copy, Debug)]
struct Header {
    entries: u32,
    blobs: u32,
    catalog_len: u32,
    catalog_raw: u32,
    dict_len: u32,
    dict_raw: u32,
    data_len: u32,
    catalog_xxh3: u64,
    dict_xxh3: u64,
    file_xxh3: u64,
}

impl Header {
    fn catalog_off(&self) -> usize {
        HEADER_LEN
    }
    fn dict_off(&self) -> usize {
        HEADER_LEN + self.catalog_len as usize
    }
    fn data_off(&self) -> usize {
        self.dict_off() + self.dict_len as usize
    }
}

/// How a blob is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    /// Verbatim in the data.
    Stored,
    /// A slice of the dictionary.
    Reference,
    /// Delta ops against reference blob `base`.
    Delta {
        /// Index of the [`Codec::Reference`] blob the ops apply to.
        base: u32,
    },
    /// A zstd frame using the dictionary.
    Zstd,
}

/// One stored BTF, as the catalog describes it. Several entries share a
/// blob when their BTFs are byte-identical.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlobInfo {
    /// How its bytes are encoded.
    pub codec: Codec,
    /// Offset in the data section (in the dictionary for references).
    pub offset: u32,
    /// Bytes it occupies there.
    pub stored_len: u32,
    /// Decoded size.
    pub raw_len: u32,
    /// xxh3-64 of the decoded BTF.
    pub xxh3: u64,
}

#[derive(Clone, Debug)]
struct RawEntry {
    /// `distro/version/arch/release`.
    key: String,
    /// Where its first three slashes are.
    cuts: [u32; 3],
    blob: u32,
}

fn key_tuple(key: &str) -> Vec<&str> {
    key.splitn(4, '/').collect()
}

struct CatalogReader<'c> {
    c: &'c [u8],
    pos: usize,
}

impl<'c> CatalogReader<'c> {
    /// A LEB128 varint that fits in 32 bits.
    fn varint(&mut self) -> Option<u32> {
        let mut v = 0u64;
        for shift in (0..35).step_by(7) {
            let b = *self.c.get(self.pos)?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return u32::try_from(v).ok();
            }
        }
        None
    }

    fn bytes(&mut self, n: usize) -> Option<&'c [u8]> {
        let s = self.c.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(s)
    }
}

/// One kernel of the index: its key's fields, borrowed from the bundle's
/// decoded catalog, and the blob that holds its BTF. Decode it with
/// [`Bundle::get`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry<'b> {
    /// Distribution id (`ubuntu`, `debian`…).
    pub distro: &'b str,
    /// Distribution version (`20.04`, `12`…).
    pub version: &'b str,
    /// Architecture, normalized (`x86_64`, `arm64`…).
    pub arch: &'b str,
    /// Kernel release, as `uname -r` prints it.
    pub release: &'b str,
    /// The blob holding this kernel's BTF (shared by identical BTFs).
    pub blob: u32,
}

impl Entry<'_> {
    /// The entry's key as an owned [`Key`].
    pub fn key(&self) -> Key {
        Key::new(self.distro, self.version, self.arch, self.release)
    }

    fn tuple(&self) -> (&str, &str, &str, &str) {
        (self.distro, self.version, self.arch, self.release)
    }
}

/// A bundle over borrowed bytes (an `include_bytes!` static, a file read
/// or mapped into memory). Only the catalog is copied out, decoded.
///
/// Lookups ([`find`](Self::find), [`find_key`](Self::find_key),
/// [`find_release`](Self::find_release)) only touch the catalog; decoding
/// an entry ([`get`](Self::get)) decodes the shared dictionary once, on
/// first use, then that entry's own bytes, and checks them against their
/// xxh3 checksum.
///
/// ```rust
/// use btfkit_bundle::{Bundle, BundleBuilder, BundleError, Key};
///
/// # fn main() -> btfkit_bundle::Result<()> {
/// let mut b = BundleBuilder::new();
/// b.add(Key::new("ubuntu", "20.04", "x86_64", "5.4.0-42-generic"), b"one")?;
/// b.add(Key::new("ubuntu", "22.04", "x86_64", "5.4.0-42-generic"), b"one")?;
/// let bytes = b.finish()?;
///
/// let bundle = Bundle::parse(&bytes)?;
/// // Identical BTFs are stored once.
/// assert_eq!((bundle.len(), bundle.blob_count()), (2, 1));
/// // A release shipped by several distro versions: look it up by release.
/// let hits = bundle.find_release("amd64", "5.4.0-42-generic");
/// assert_eq!(hits.len(), 2);
/// let e = bundle.find_key("ubuntu/22.04/x86_64/5.4.0-42-generic")?.unwrap();
/// assert_eq!(bundle.get(&e)?, b"one");
///
/// // Anything else is refused with a typed error, never a panic.
/// assert_eq!(Bundle::parse(&bytes[..40]).unwrap_err(),
///            BundleError::Truncated { what: "header", need: 80, have: 40 });
/// # Ok(())
/// # }
/// ```
pub struct Bundle<'a> {
    data: &'a [u8],
    h: Header,
    entries: Vec<RawEntry>,
    blobs: Vec<BlobInfo>,
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
    /// Checks the header, sizes and catalog, and decodes the catalog. The
    /// dictionary's and blobs' checksums are checked when they are decoded;
    /// [`verify`](Self::verify) checks everything.
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
        if xxh3_64(&data[..72]) != u64_at(data, 72) {
            return Err(BundleError::HeaderChecksum);
        }
        let version = u32_at(data, 8);
        if version != VERSION {
            return Err(BundleError::BadVersion(version));
        }
        let flags = u32_at(data, 12);
        if flags != 0 || u32_at(data, 44) != 0 {
            return Err(BundleError::BadHeader(format!("unknown flags {flags:#x}")));
        }
        let h = Header {
            entries: u32_at(data, 16),
            blobs: u32_at(data, 20),
            catalog_len: u32_at(data, 24),
            catalog_raw: u32_at(data, 28),
            dict_len: u32_at(data, 32),
            dict_raw: u32_at(data, 36),
            data_len: u32_at(data, 40),
            catalog_xxh3: u64_at(data, 48),
            dict_xxh3: u64_at(data, 56),
            file_xxh3: u64_at(data, 64),
        };
        let end = HEADER_LEN as u64 + h.catalog_len as u64 + h.dict_len as u64 + h.data_len as u64;
        if end > data.len() as u64 {
            return Err(BundleError::Truncated {
                what: "sections",
                need: end,
                have: data.len(),
            });
        }
        if end < data.len() as u64 {
            return Err(BundleError::BadHeader(format!(
                "{} bytes after the data",
                data.len() as u64 - end
            )));
        }
        if h.catalog_raw > MAX_CATALOG_SIZE {
            return Err(BundleError::BadCatalog(format!(
                "claims {} bytes",
                h.catalog_raw
            )));
        }
        if h.dict_raw > MAX_DICT_SIZE || (h.dict_len == 0) != (h.dict_raw == 0) {
            return Err(BundleError::BadDictionary(format!(
                "claims {} bytes in a {}-byte frame",
                h.dict_raw, h.dict_len
            )));
        }
        let frame = &data[h.catalog_off()..h.dict_off()];
        let catalog = crate::lzma::decompress(frame, h.catalog_raw as usize)
            .map_err(|e| BundleError::BadCatalog(e.to_string()))?;
        if catalog.len() != h.catalog_raw as usize || xxh3_64(&catalog) != h.catalog_xxh3 {
            return Err(BundleError::BadCatalog("checksum mismatch".into()));
        }
        let mut b = Bundle {
            data,
            h,
            entries: Vec::new(),
            blobs: Vec::new(),
            dict: OnceLock::new(),
        };
        b.load_catalog(&catalog)?;
        Ok(b)
    }

    fn load_catalog(&mut self, c: &[u8]) -> Result<()> {
        let h = self.h;
        let mut r = CatalogReader { c, pos: 0 };
        let mut prev = String::new();
        // Entries: front-coded keys in order, each with its blob.
        for i in 0..h.entries as usize {
            let bad = |m: &str| BundleError::BadEntry(i, m.to_string());
            let shared = r.varint().ok_or_else(|| bad("truncated"))? as usize;
            let n = r.varint().ok_or_else(|| bad("truncated"))? as usize;
            let suffix = r.bytes(n).ok_or_else(|| bad("truncated key"))?;
            if shared > prev.len() || !prev.is_char_boundary(shared) {
                return Err(bad("key shares more than the previous key has"));
            }
            let suffix = std::str::from_utf8(suffix).map_err(|_| bad("key is not UTF-8"))?;
            let key = format!("{}{suffix}", &prev[..shared]);
            let parsed = Key::parse(&key).map_err(|_| bad("malformed key"))?;
            if parsed.to_string() != key {
                return Err(bad("key's architecture is not normalized"));
            }
            let blob = r.varint().ok_or_else(|| bad("truncated"))?;
            if blob >= h.blobs {
                return Err(bad(&format!("blob {blob} out of range")));
            }
            let mut cuts = [0u32; 3];
            for (k, (at, _)) in key.match_indices('/').take(3).enumerate() {
                cuts[k] = at as u32;
            }
            if i > 0 && key_tuple(&prev) >= key_tuple(&key) {
                return Err(BundleError::Unsorted(i));
            }
            self.entries.push(RawEntry {
                key: key.clone(),
                cuts,
                blob,
            });
            prev = key;
        }
        // Blobs: codec, sizes, checksum; offsets are cumulative.
        let (mut data_at, mut dict_at) = (0u64, 0u64);
        for i in 0..h.blobs as usize {
            let bad = |reason: String| BundleError::BadBlob { blob: i, reason };
            let trunc = || bad("truncated description".into());
            let codec = r.varint().ok_or_else(trunc)?;
            let raw_len = r.varint().ok_or_else(trunc)?;
            if raw_len > MAX_ENTRY_SIZE {
                return Err(bad(format!("claims {raw_len} bytes")));
            }
            let (codec, stored_len) = match codec {
                CODEC_STORED => (Codec::Stored, raw_len),
                CODEC_REFERENCE => (Codec::Reference, raw_len),
                CODEC_DELTA => {
                    let base = r.varint().ok_or_else(trunc)?;
                    (Codec::Delta { base }, r.varint().ok_or_else(trunc)?)
                }
                CODEC_ZSTD => (Codec::Zstd, r.varint().ok_or_else(trunc)?),
                other => return Err(bad(format!("unknown codec {other}"))),
            };
            let xxh3 = r.bytes(8).ok_or_else(trunc)?;
            let xxh3 = u64::from_le_bytes(xxh3.try_into().expect("8 bytes"));
            let (at, limit, what) = if codec == Codec::Reference {
                (&mut dict_at, h.dict_raw, "dictionary")
            } else {
                (&mut data_at, h.data_len, "data")
            };
            let offset = *at;
            *at += stored_len as u64;
            if *at > limit as u64 {
                return Err(bad(format!(
                    "bytes {offset}..{at} outside the {what} ({limit} bytes)"
                )));
            }
            self.blobs.push(BlobInfo {
                codec,
                offset: offset as u32,
                stored_len,
                raw_len,
                xxh3,
            });
        }
        if r.pos != c.len() {
            return Err(BundleError::BadCatalog(format!(
                "{} bytes left over",
                c.len() - r.pos
            )));
        }
        if data_at != h.data_len as u64 || dict_at != h.dict_raw as u64 {
            return Err(BundleError::BadCatalog(format!(
                "blobs cover {data_at} of {} data bytes and {dict_at} of {} dictionary bytes",
                h.data_len, h.dict_raw
            )));
        }
        for (i, blob) in self.blobs.iter().enumerate() {
            if let Codec::Delta { base } = blob.codec {
                if self.blobs.get(base as usize).map(|b| b.codec) != Some(Codec::Reference) {
                    return Err(BundleError::BadBlob {
                        blob: i,
                        reason: format!("delta against blob {base}, not a reference"),
                    });
                }
            }
        }
        Ok(())
    }

    fn entry_at(&self, i: usize) -> Entry<'_> {
        let e = &self.entries[i];
        let [a, b, c] = e.cuts.map(|x| x as usize);
        Entry {
            distro: &e.key[..a],
            version: &e.key[a + 1..b],
            arch: &e.key[b + 1..c],
            release: &e.key[c + 1..],
            blob: e.blob,
        }
    }

    /// Number of entries (kernels) in the index.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the index has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Distinct BTFs stored.
    pub fn blob_count(&self) -> usize {
        self.blobs.len()
    }

    /// Size of the bundle in bytes.
    pub fn size(&self) -> usize {
        self.data.len()
    }

    /// Sizes of the catalog, dictionary and data sections, as stored.
    pub fn section_sizes(&self) -> (usize, usize, usize) {
        (
            self.h.catalog_len as usize,
            self.h.dict_len as usize,
            self.h.data_len as usize,
        )
    }

    /// Entry `i` of the sorted index.
    pub fn entry(&self, i: usize) -> Option<Entry<'_>> {
        (i < self.len()).then(|| self.entry_at(i))
    }

    /// All entries, in key order.
    pub fn entries(&self) -> impl Iterator<Item = Entry<'_>> + '_ {
        (0..self.len()).map(|i| self.entry_at(i))
    }

    /// The entry for an exact key (architecture normalized).
    pub fn find(
        &self,
        distro: &str,
        version: &str,
        arch: &str,
        release: &str,
    ) -> Option<Entry<'_>> {
        let want = (distro, version, normalize_arch(arch), release);
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.entry_at(mid).tuple().cmp(&want) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(self.entry_at(mid)),
            }
        }
        None
    }

    /// The entry for a `distro/version/arch/release` key.
    pub fn find_key(&self, key: &str) -> Result<Option<Entry<'_>>> {
        let k = Key::parse(key)?;
        Ok(self.find(&k.distro, &k.version, &k.arch, &k.release))
    }

    /// Entries with this architecture and release, whatever the distro.
    pub fn find_release(&self, arch: &str, release: &str) -> Vec<Entry<'_>> {
        let arch = normalize_arch(arch);
        self.entries()
            .filter(|e| e.arch == arch && e.release == release)
            .collect()
    }

    /// Blob `i`'s description.
    pub fn blob(&self, i: u32) -> Option<BlobInfo> {
        self.blobs.get(i as usize).copied()
    }

    fn dictionary(&self) -> Result<&[u8]> {
        self.dict
            .get_or_init(|| {
                let h = &self.h;
                if h.dict_len == 0 {
                    return Ok(Vec::new());
                }
                let frame = &self.data[h.dict_off()..h.data_off()];
                let d = crate::lzma::decompress(frame, h.dict_raw as usize)
                    .map_err(|e| BundleError::BadDictionary(e.to_string()))?;
                if d.len() != h.dict_raw as usize || xxh3_64(&d) != h.dict_xxh3 {
                    return Err(BundleError::BadDictionary("checksum mismatch".into()));
                }
                Ok(d)
            })
            .as_deref()
            .map_err(Clone::clone)
    }

    /// Decodes blob `i` and checks it against its checksum.
    pub fn get_blob(&self, i: u32) -> Result<Vec<u8>> {
        let bad = |reason: String| BundleError::BadBlob {
            blob: i as usize,
            reason,
        };
        let b = self.blob(i).ok_or_else(|| bad("out of range".into()))?;
        let data_off = self.h.data_off() + b.offset as usize;
        let stored = &self.data[data_off.min(self.data.len())..];
        let stored = &stored[..(b.stored_len as usize).min(stored.len())];
        let raw = match b.codec {
            Codec::Stored => stored.to_vec(),
            Codec::Reference => self.reference(b)?.to_vec(),
            Codec::Delta { base } => {
                let base = self.blobs[base as usize];
                delta::apply(self.reference(base)?, stored, b.raw_len as usize)
                    .map_err(|e| bad(format!("delta: {e}")))?
            }
            Codec::Zstd => unzstd(stored, Some(self.dictionary()?), b.raw_len as usize)
                .map_err(|e| bad(format!("zstd: {e}")))?,
        };
        if raw.len() != b.raw_len as usize || xxh3_64(&raw) != b.xxh3 {
            return Err(bad("decoded bytes do not match their checksum".into()));
        }
        Ok(raw)
    }

    fn reference(&self, b: BlobInfo) -> Result<&[u8]> {
        let d = self.dictionary()?;
        Ok(&d[b.offset as usize..(b.offset + b.stored_len) as usize])
    }

    /// Decodes an entry's BTF.
    pub fn get(&self, e: &Entry<'_>) -> Result<Vec<u8>> {
        self.get_blob(e.blob)
    }

    /// Checks everything: the whole-file checksum, the dictionary, and that
    /// every blob decodes to its checksum.
    pub fn verify(&self) -> Result<()> {
        if xxh3_64(&self.data[HEADER_LEN..]) != self.h.file_xxh3 {
            return Err(BundleError::FileChecksum);
        }
        self.dictionary()?;
        for b in 0..self.blobs.len() as u32 {
            self.get_blob(b)?;
        }
        Ok(())
    }
}
