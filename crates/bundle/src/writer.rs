//! Writing a bundle: deduplicate, pick references, delta-encode the rest.

use std::collections::HashMap;

use xxhash_rust::xxh3::xxh3_64;

use crate::reader::{CODEC_DELTA, CODEC_REFERENCE, CODEC_STORED, CODEC_ZSTD};
use crate::{
    delta, BundleError, Key, Result, HEADER_LEN, MAGIC, MAX_DICT_SIZE, MAX_ENTRY_SIZE, VERSION,
};

/// zstd level for every frame: bundles are built once and read many times.
const ZSTD_LEVEL: i32 = 19;
/// Largest dictionary the builder makes; blobs that do not fit in it are
/// compressed against what is there.
const DICT_CAP: usize = 64 << 20;
/// References tried per blob when there are many (the nearest in key
/// order, where related kernels are).
const MAX_TRIES: usize = 32;
/// A delta this small is taken without looking further.
const TINY_DELTA: usize = 8;
/// How much of the dictionary's end serves to estimate a new reference's cost.
const ESTIMATE_WINDOW: usize = 4 << 20;
/// Bytes of a zstd frame that are not content (header, block header).
const FRAME_OVERHEAD: usize = 6;

/// Builds a bundle in memory: [`add`](Self::add) each kernel's BTF under
/// its key, then [`finish`](Self::finish) to get the bundle's bytes.
///
/// Identical BTFs are stored once. The output depends only on the set of
/// keys and BTFs, not on the order they were added in. `finish` picks some
/// blobs as references (compressed together with LZMA as the dictionary)
/// and stores each other blob as whichever is smallest: a delta against a
/// reference, a zstd frame using the dictionary, or its bytes as they are
/// (the format is described in the crate documentation).
///
/// ```rust
/// use btfkit_bundle::{Bundle, BundleBuilder, BundleError, Key};
///
/// # fn main() -> btfkit_bundle::Result<()> {
/// let base = vec![7u8; 4096];
/// let mut near = base.clone();
/// near[100] = 8; // a kernel whose BTF differs in one byte
///
/// let mut b = BundleBuilder::new();
/// b.add(Key::new("centos", "8", "x86_64", "4.18.0-305.el8.x86_64"), &base)?;
/// b.add(Key::new("centos", "8", "x86_64", "4.18.0-348.el8.x86_64"), &near)?;
/// // The same key twice is refused (architectures compare normalized).
/// assert!(matches!(
///     b.add(Key::new("centos", "8", "amd64", "4.18.0-305.el8.x86_64"), &base),
///     Err(BundleError::DuplicateKey(_))
/// ));
/// assert_eq!(b.len(), 2);
/// let bytes = b.finish()?;
/// assert!(bytes.len() < 1000); // far less than the 8 KiB added
///
/// let bundle = Bundle::parse(&bytes)?;
/// let e = bundle.find("centos", "8", "x86_64", "4.18.0-348.el8.x86_64").unwrap();
/// assert_eq!(bundle.get(&e)?, near);
/// # Ok(())
/// # }
/// ```
#[derive(Default)]
pub struct BundleBuilder {
    entries: Vec<(Key, usize)>,
    blobs: Vec<Vec<u8>>,
    by_hash: HashMap<(u64, usize), Vec<usize>>,
}

/// How a blob ends up stored.
enum Plan {
    Reference,
    Delta { base: usize, ops: Vec<u8> },
    Stored,
    Zstd(Vec<u8>),
}

fn compressor(dict: &[u8]) -> Result<zstd::bulk::Compressor<'static>> {
    use zstd::zstd_safe::CParameter;
    let cerr = |e: std::io::Error| BundleError::Compress(e.to_string());
    let mut c = zstd::bulk::Compressor::with_dictionary(ZSTD_LEVEL, dict).map_err(cerr)?;
    // Sizes and checksums live in the catalog; the frames need neither.
    for p in [
        CParameter::ChecksumFlag(false),
        CParameter::ContentSizeFlag(false),
        CParameter::DictIdFlag(false),
    ] {
        c.set_parameter(p).map_err(cerr)?;
    }
    Ok(c)
}

fn compress(data: &[u8]) -> Result<Vec<u8>> {
    if data.is_empty() {
        return Ok(Vec::new());
    }
    crate::lzma::compress(data).map_err(|e| BundleError::Compress(e.to_string()))
}

impl BundleBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a kernel's BTF under `key`; identical BTFs are stored once.
    ///
    /// The bytes are not parsed: any content is accepted, though bundles are
    /// meant for (minimized) raw BTF.
    ///
    /// # Errors
    ///
    /// - [`BundleError::BadKey`] when the key would not read back the same
    ///   from the catalog (an empty field, a NUL, a `/` outside the release,
    ///   an unnormalized architecture);
    /// - [`BundleError::DuplicateKey`] when the key was already added;
    /// - [`BundleError::Compress`] when `btf` is larger than
    ///   [`MAX_ENTRY_SIZE`](crate::MAX_ENTRY_SIZE).
    pub fn add(&mut self, key: Key, btf: &[u8]) -> Result<()> {
        // The catalog stores keys joined with slashes: only the release may
        // contain one.
        if Key::parse(&key.to_string()).ok().as_ref() != Some(&key) {
            return Err(BundleError::BadKey(key.to_string()));
        }
        if self.entries.iter().any(|(k, _)| *k == key) {
            return Err(BundleError::DuplicateKey(key.to_string()));
        }
        if btf.len() > MAX_ENTRY_SIZE as usize {
            return Err(BundleError::Compress(format!(
                "{key}: {} bytes is more than an entry may hold",
                btf.len()
            )));
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

    /// Number of keys added so far.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no key has been added.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Picks references among `blobs` (in key order): a blob becomes one
    /// when adding it to the dictionary frame costs less than its best
    /// delta against the references so far. (What it costs there is about
    /// what a zstd frame of it costs with the dictionary as history.)
    /// Returns, per blob, its plan so far (reference or delta).
    fn plan(blobs: &[Vec<u8>]) -> Result<Vec<Plan>> {
        let mut refs: Vec<usize> = Vec::new();
        let mut dict: Vec<u8> = Vec::new();
        let mut zc: Option<zstd::bulk::Compressor<'static>> = None;
        let mut plans: Vec<Option<Plan>> = (0..blobs.len()).map(|_| None).collect();
        for (i, blob) in blobs.iter().enumerate() {
            let mut best: Option<(usize, Vec<u8>)> = None;
            for &r in refs.iter().rev().take(MAX_TRIES) {
                let ops = delta::encode(&blobs[r], blob);
                if best.as_ref().is_none_or(|(_, b)| ops.len() < b.len()) {
                    let done = ops.len() <= TINY_DELTA;
                    best = Some((r, ops));
                    if done {
                        break;
                    }
                }
            }
            let fits = dict.len() + blob.len() <= DICT_CAP;
            let as_reference = match &best {
                _ if !fits => false,
                None => true,
                Some((_, ops)) if ops.len() <= TINY_DELTA => false,
                Some((_, ops)) => {
                    if zc.is_none() {
                        let tail = &dict[dict.len().saturating_sub(ESTIMATE_WINDOW)..];
                        zc = Some(compressor(tail)?);
                    }
                    let z = zc
                        .as_mut()
                        .expect("just made")
                        .compress(blob)
                        .map_err(|e| BundleError::Compress(e.to_string()))?;
                    z.len().saturating_sub(FRAME_OVERHEAD) < ops.len()
                }
            };
            plans[i] = Some(if as_reference {
                refs.push(i);
                dict.extend_from_slice(blob);
                zc = None;
                Plan::Reference
            } else {
                match best {
                    Some((base, ops)) => Plan::Delta { base, ops },
                    None => Plan::Stored,
                }
            });
        }
        let mut plans: Vec<Plan> = plans.into_iter().map(|p| p.expect("planned")).collect();
        // References chosen after a blob may suit it better.
        for (i, plan) in plans.iter_mut().enumerate() {
            if let Plan::Delta { base, ops } = plan {
                let pos = refs.partition_point(|&r| r < i);
                let lo = pos.saturating_sub(MAX_TRIES / 2);
                for &r in &refs[lo..(lo + MAX_TRIES).min(refs.len())] {
                    if r != *base {
                        let o = delta::encode(&blobs[r], &blobs[i]);
                        if o.len() < ops.len() {
                            (*base, *ops) = (r, o);
                        }
                    }
                }
            }
        }
        Ok(plans)
    }

    /// Encodes everything added into the bundle's bytes (format version
    /// [`VERSION`](crate::VERSION)). CPU-heavy for many kernels (zstd level
    /// 19, LZMA, delta searches); an empty builder gives a valid empty
    /// bundle.
    ///
    /// # Errors
    ///
    /// [`BundleError::Compress`] when an encoder fails or the bundle would
    /// exceed 4 GiB.
    pub fn finish(mut self) -> Result<Vec<u8>> {
        self.entries.sort();
        // Number blobs by their first key, so the output does not depend on
        // the order kernels were added in, and related kernels are adjacent.
        let mut renum = vec![u32::MAX; self.blobs.len()];
        let mut order = Vec::new();
        for (_, b) in &self.entries {
            if renum[*b] == u32::MAX {
                renum[*b] = order.len() as u32;
                order.push(*b);
            }
        }
        let mut old: Vec<Option<Vec<u8>>> = std::mem::take(&mut self.blobs)
            .into_iter()
            .map(Some)
            .collect();
        let blobs: Vec<Vec<u8>> = order
            .iter()
            .map(|&b| old[b].take().expect("once"))
            .collect();

        let mut plans = Self::plan(&blobs)?;
        let mut dict = Vec::new();
        for (blob, plan) in blobs.iter().zip(&plans) {
            if let Plan::Reference = plan {
                dict.extend_from_slice(blob);
            }
        }
        debug_assert!(dict.len() <= MAX_DICT_SIZE as usize);
        // A delta, a zstd frame against the dictionary, or the bytes
        // themselves: whichever is smallest.
        let mut zc = compressor(&dict)?;
        for (blob, plan) in blobs.iter().zip(plans.iter_mut()) {
            let current = match plan {
                Plan::Reference => continue,
                Plan::Delta { ops, .. } => ops.len(),
                _ => usize::MAX,
            };
            if current > 8 {
                let z = zc
                    .compress(blob)
                    .map_err(|e| BundleError::Compress(e.to_string()))?;
                if z.len() < current.min(blob.len()) {
                    *plan = Plan::Zstd(z);
                    continue;
                }
            }
            if current >= blob.len() {
                *plan = Plan::Stored;
            }
        }

        // Catalog: front-coded keys, then blob descriptions; the data
        // section holds the non-reference blobs in blob order.
        let mut catalog = Vec::new();
        let mut prev = String::new();
        for (k, blob) in &self.entries {
            let key = k.to_string();
            let shared = prev
                .bytes()
                .zip(key.bytes())
                .take_while(|(a, b)| a == b)
                .count();
            let shared = (0..=shared)
                .rev()
                .find(|&n| key.is_char_boundary(n))
                .unwrap_or(0);
            delta::put_varint(&mut catalog, shared as u64);
            delta::put_varint(&mut catalog, (key.len() - shared) as u64);
            catalog.extend_from_slice(&key.as_bytes()[shared..]);
            delta::put_varint(&mut catalog, renum[*blob] as u64);
            prev = key;
        }
        let mut data = Vec::new();
        for (blob, plan) in blobs.iter().zip(&plans) {
            let mut put = |v: usize| delta::put_varint(&mut catalog, v as u64);
            match plan {
                Plan::Reference => {
                    put(CODEC_REFERENCE as usize);
                    put(blob.len());
                }
                Plan::Stored => {
                    put(CODEC_STORED as usize);
                    put(blob.len());
                    data.extend_from_slice(blob);
                }
                Plan::Delta { base, ops } => {
                    put(CODEC_DELTA as usize);
                    put(blob.len());
                    put(*base);
                    put(ops.len());
                    data.extend_from_slice(ops);
                }
                Plan::Zstd(z) => {
                    put(CODEC_ZSTD as usize);
                    put(blob.len());
                    put(z.len());
                    data.extend_from_slice(z);
                }
            }
            catalog.extend_from_slice(&xxh3_64(blob).to_le_bytes());
        }
        let catalog_frame = compress(&catalog)?;
        let dict_frame = compress(&dict)?;

        let mut out = vec![0u8; HEADER_LEN];
        out.extend_from_slice(&catalog_frame);
        out.extend_from_slice(&dict_frame);
        out.extend_from_slice(&data);
        if out.len() > u32::MAX as usize {
            return Err(BundleError::Compress("bundle exceeds 4 GiB".into()));
        }
        out[..8].copy_from_slice(MAGIC);
        let fields = [
            (8, VERSION),
            (12, 0),
            (16, self.entries.len() as u32),
            (20, blobs.len() as u32),
            (24, catalog_frame.len() as u32),
            (28, catalog.len() as u32),
            (32, dict_frame.len() as u32),
            (36, dict.len() as u32),
            (40, data.len() as u32),
        ];
        for (at, v) in fields {
            out[at..at + 4].copy_from_slice(&v.to_le_bytes());
        }
        out[48..56].copy_from_slice(&xxh3_64(&catalog).to_le_bytes());
        out[56..64].copy_from_slice(&xxh3_64(&dict).to_le_bytes());
        let file_sum = xxh3_64(&out[HEADER_LEN..]);
        out[64..72].copy_from_slice(&file_sum.to_le_bytes());
        let header_sum = xxh3_64(&out[..72]);
        out[72..80].copy_from_slice(&header_sum.to_le_bytes());
        Ok(out)
    }
}
