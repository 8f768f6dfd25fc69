//! A streaming reader for RPM packages: their metadata, and their files
//! one by one as streams, so that a `vmlinux` of hundreds of MiB can be
//! taken out of a `kernel-debuginfo` package without unpacking it to disk
//! or holding it in memory.
//!
//! An RPM package is, in order:
//!
//! 1. the *lead*, 96 bytes starting `ed ab ee db`: a relic of rpm 2 kept
//!    for `file(1)`; only its magic and signature type are read;
//! 2. the *signature header*: digests and signatures of what follows,
//!    padded to a multiple of 8 bytes;
//! 3. the *header*: name, version, file list and everything else rpm
//!    knows about the package, not padded;
//! 4. the *payload*, to the end of the file: a cpio archive of the files,
//!    compressed (xz, zstd, gzip, bzip2, lzma) or not.
//!
//! Both headers share one layout: a 16-byte preamble (magic `8e ad e8
//! 01`, 4 reserved bytes, the number of index entries and the size of the
//! data store, big-endian), the index entries (tag, type, offset into the
//! store, count; 16 bytes each) and the store. [`RpmReader::new`] reads the
//! lead and both headers, keeping the header (its file list names the
//! files of rpm's "stripped" cpio entries) and checking it against the
//! signature header's SHA-256 and SHA-1 digests when present: a package
//! whose header was damaged is refused. [`RpmReader::for_each_file`] then
//! decompresses the payload as it walks it.
//!
//! Integrity of the payload rests on its compression format's own checks
//! (xz, gzip and bzip2 have checksums; rpm's zstd frames may not), the
//! "crc" cpio format's checksums, and the header's digest of each file
//! (`FILEDIGESTS`), checked for every file a visitor reads to its end: a
//! walk that stops after its file never reaches a compressed stream's
//! checksum at the end, nor reads all of what the header's payload
//! digest covers (which is not checked). Every malformed input is an error: headers are
//! bounded (at most 65535 entries, a 256 MiB store) before anything is
//! allocated for them, decoders' memory is bounded, and a cut anywhere is
//! [`RpmError::Truncated`].

use std::io::{self, Read};
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use crate::digest::Algorithm;
use crate::extract::codec::{Codec, MEMLIMIT};

mod cpio;
mod header;

use cpio::{Failure, Stop};
use header::Header;

const LEAD_MAGIC: [u8; 4] = [0xed, 0xab, 0xee, 0xdb];
const LEAD_SIZE: usize = 96;
/// The lead's signature type: a header-style signature, the only kind
/// since rpm 3.
const HEADER_SIGNATURE: u16 = 5;

/// Tags of the signature header: digests of the header.
const SIG_SHA1: u32 = 269;
const SIG_SHA256: u32 = 273;

/// Tags of the header.
const NAME: u32 = 1000;
const VERSION: u32 = 1001;
const RELEASE: u32 = 1002;
const ARCH: u32 = 1022;
const PAYLOADFORMAT: u32 = 1124;
const PAYLOADCOMPRESSOR: u32 = 1125;

/// Why an RPM package cannot be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RpmError {
    /// The input does not start with the lead's magic.
    #[error("not an RPM package (no lead magic)")]
    NotRpm,
    /// The input ends early.
    #[error("truncated in the {what} at offset {offset}")]
    Truncated {
        /// The part cut: `lead`, `signature header`, `header` or
        /// `payload`.
        what: &'static str,
        /// Where the input ends (in the package file).
        offset: u64,
    },
    /// The lead or a header is malformed.
    #[error("{what} at offset {offset}: {problem}")]
    BadHeader {
        /// `lead`, `signature header` or `header`.
        what: &'static str,
        /// Where the lead, the header or its faulty index entry starts.
        offset: u64,
        /// What is wrong (`bad magic`, `4294967295 index entries`…).
        problem: String,
    },
    /// The header does not match its digest in the signature header.
    #[error("header {algorithm} digest mismatch: {actual}, signed {expected}")]
    HeaderDigest {
        /// `SHA-256` or `SHA-1`.
        algorithm: &'static str,
        /// The digest in the signature header.
        expected: String,
        /// The digest of the header as read.
        actual: String,
    },
    /// A file read to its end whose bytes are not those the header lists
    /// a digest of (`FILEDIGESTS`): damaged where the payload's
    /// compression has no check, or before a checksum the walk, stopping
    /// early, never reaches.
    #[error(transparent)]
    FileDigest(Box<FileDigestMismatch>),
    /// The header lacks a tag the reader needs.
    #[error("header has no {name} (tag {tag})")]
    MissingTag {
        /// The tag number.
        tag: u32,
        /// Its name in rpm (`NAME`, `BASENAMES`…).
        name: &'static str,
    },
    /// The payload is not a cpio archive (a delta RPM's is `drpm`).
    #[error("payload format {format:?} is not cpio")]
    PayloadFormat {
        /// The header's payload format.
        format: String,
    },
    /// The payload is in no compression format known here.
    #[error("payload in an unknown compression (starts {magic:02x?}, header says {compressor:?})")]
    UnknownCompression {
        /// The payload's first bytes (up to 6).
        magic: Vec<u8>,
        /// The header's payload compressor.
        compressor: String,
    },
    /// Decompressing the payload failed.
    #[error("{format} payload, input offset {offset}")]
    Decompress {
        /// `xz`, `zstd`, `gzip`, `bzip2` or `lzma`.
        format: &'static str,
        /// How far into the package file the decoder had read.
        offset: u64,
        /// The decoder's error.
        #[source]
        source: io::Error,
    },
    /// The cpio archive in the payload is malformed.
    #[error("cpio entry at payload offset {offset}: {problem}")]
    Cpio {
        /// Where the entry starts in the decompressed payload.
        offset: u64,
        /// What is wrong.
        problem: String,
    },
    /// Reading the package failed.
    #[error("reading the package")]
    Io(#[source] io::Error),
}

/// A file whose bytes are not those the header lists a digest of.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {algorithm} {actual}, the header lists {expected}")]
#[non_exhaustive]
pub struct FileDigestMismatch {
    /// The file's path in the payload.
    pub path: String,
    /// `MD5`, `SHA-256`…
    pub algorithm: &'static str,
    /// The digest the header lists, in hex.
    pub expected: String,
    /// The digest of the file's bytes, in hex.
    pub actual: String,
}

/// Errors of the readers [`RpmReader::for_each_file`] hands out: those
/// carrying an [`RpmError`] (a truncated package, a decoder's error, as
/// the walk would report them) give it back; others are
/// [`RpmError::Io`]. So a visitor can use `?` on its reads.
impl From<io::Error> for RpmError {
    fn from(e: io::Error) -> Self {
        if !e.get_ref().is_some_and(|inner| inner.is::<RpmError>()) {
            return RpmError::Io(e);
        }
        let kind = e.kind();
        match e.into_inner().map(|inner| inner.downcast::<RpmError>()) {
            Some(Ok(rpm)) => *rpm,
            // Not reached (checked above), but nothing is lost either way.
            Some(Err(inner)) => RpmError::Io(io::Error::new(kind, inner)),
            None => RpmError::Io(kind.into()),
        }
    }
}

impl RpmError {
    /// The error as an `io::Error`, for a reader to return; `From` gets
    /// it back.
    fn into_io(self) -> io::Error {
        let kind = match self {
            RpmError::Truncated { .. } => io::ErrorKind::UnexpectedEof,
            RpmError::Io(ref e) => e.kind(),
            _ => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, self)
    }
}

/// What the header says about the package.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RpmInfo {
    /// The package name (`NAME`, tag 1000): `kernel-debuginfo`.
    pub name: String,
    /// Its version (`VERSION`, 1001): the upstream version, `5.14.0`.
    pub version: String,
    /// Its release (`RELEASE`, 1002): the distribution's build, with the
    /// dist tag (`427.13.1.el9_4`).
    pub release: String,
    /// The architecture it is built for (`ARCH`, 1022): `x86_64`,
    /// `aarch64`, `noarch`; empty when the header has none.
    pub arch: String,
    /// How the payload is compressed, by the header (`PAYLOADCOMPRESSOR`,
    /// 1125): `xz`, `zstd`, `gzip`, `bzip2`, `lzma`; empty when the header
    /// has none, as in uncompressed packages. The payload's own magic
    /// bytes decide how it is decoded.
    pub payload_compressor: String,
    /// The payload's archive format (`PAYLOADFORMAT`, 1124): `cpio`;
    /// empty when the header has none (rpm then assumes cpio).
    pub payload_format: String,
}

impl RpmInfo {
    fn from_header(h: &Header) -> Result<RpmInfo, RpmError> {
        let required = |tag, name| h.string(tag)?.ok_or(RpmError::MissingTag { tag, name });
        let optional = |tag| Ok::<_, RpmError>(h.string(tag)?.unwrap_or_default());
        Ok(RpmInfo {
            name: required(NAME, "NAME")?,
            version: required(VERSION, "VERSION")?,
            release: required(RELEASE, "RELEASE")?,
            arch: optional(ARCH)?,
            payload_compressor: optional(PAYLOADCOMPRESSOR)?,
            payload_format: optional(PAYLOADFORMAT)?,
        })
    }
}

/// A regular file of the payload, as [`RpmReader::for_each_file`] visits
/// it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RpmFile<'a> {
    /// Its path from the root, without a leading `./` or `/`
    /// (`usr/lib/debug/lib/modules/5.14.0/vmlinux`); bytes that are not
    /// UTF-8 are replaced by U+FFFD.
    pub path: &'a str,
    /// Its size in bytes: what its reader yields.
    pub size: u64,
    /// Its mode: file type and permission bits (`0o100644`).
    pub mode: u32,
}

/// The package's bytes, counted for error offsets. What happens under
/// the decoders is shared with the walk above them ([`Probe`]), which
/// tells a truncated package from a decoder's error by it. (Shared by
/// `Arc`, not `Rc`, so that a reader can move to another thread.)
struct Source<R> {
    inner: R,
    state: Arc<SourceState>,
}

#[derive(Default)]
struct SourceState {
    /// Bytes read so far.
    pos: AtomicU64,
    /// Whether the end was reached: a decoder failing after it means a
    /// truncated package.
    eof: AtomicBool,
    /// The first read error (decoders pass on only their own, or a copy).
    error: Mutex<Option<io::Error>>,
}

impl SourceState {
    fn take_error(&self) -> Option<io::Error> {
        // A panic elsewhere while holding the lock leaves the slot sound.
        let mut slot = self.error.lock().unwrap_or_else(|p| p.into_inner());
        slot.take()
    }

    fn set_error(&self, e: io::Error) {
        *self.error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
    }
}

impl<R: Read> Read for Source<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let state = &self.state;
        match self.inner.read(buf) {
            Ok(0) if !buf.is_empty() => {
                state.eof.store(true, Relaxed);
                Ok(0)
            }
            Ok(n) => {
                state.pos.fetch_add(n as u64, Relaxed);
                Ok(n)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(e) => {
                let copy = io::Error::new(e.kind(), e.to_string());
                state.set_error(e);
                Err(copy)
            }
        }
    }
}

impl<R: Read> Source<R> {
    fn pos(&self) -> u64 {
        self.state.pos.load(Relaxed)
    }

    /// Appends up to `len` bytes to `out`, growing it only as data comes:
    /// a length from a damaged header allocates nothing it does not get.
    fn read_up_to(&mut self, out: &mut Vec<u8>, len: usize) -> Result<usize, RpmError> {
        match self.by_ref().take(len as u64).read_to_end(out) {
            Ok(n) => Ok(n),
            Err(e) => Err(RpmError::Io(self.state.take_error().unwrap_or(e))),
        }
    }

    /// Appends exactly `len` bytes of `what` to `out`.
    fn read_into(
        &mut self,
        out: &mut Vec<u8>,
        len: usize,
        what: &'static str,
    ) -> Result<(), RpmError> {
        if self.read_up_to(out, len)? < len {
            return Err(RpmError::Truncated {
                what,
                offset: self.pos(),
            });
        }
        Ok(())
    }

    /// Skips to the next multiple of `align` bytes from the start.
    fn align(&mut self, align: u64, what: &'static str) -> Result<(), RpmError> {
        let pad = (align - self.pos() % align) % align;
        self.read_into(&mut Vec::new(), pad as usize, what)
    }
}

/// Turns a failure of the payload stream into the error it means, by
/// what the package reader under the decoder saw.
struct Probe {
    state: Arc<SourceState>,
    /// The payload's compression, for errors.
    format: &'static str,
}

impl Probe {
    fn error(&self, f: Failure) -> RpmError {
        let state = &self.state;
        if let Some(e) = state.take_error() {
            // Kept for a later failure (the walk's, after the visitor's).
            state.set_error(io::Error::new(e.kind(), e.to_string()));
            return RpmError::Io(e);
        }
        let offset = state.pos.load(Relaxed);
        if state.eof.load(Relaxed) {
            return RpmError::Truncated {
                what: "payload",
                offset,
            };
        }
        match f {
            Failure::Ended { offset } => RpmError::Cpio {
                offset,
                problem: "the payload ends before the archive's trailer".into(),
            },
            Failure::Read(source) => RpmError::Decompress {
                format: self.format,
                offset,
                source,
            },
        }
    }
}

/// Reads an RPM package from a stream: [`new`](RpmReader::new) reads the
/// lead and headers, [`for_each_file`](RpmReader::for_each_file) walks
/// the payload's files.
///
/// Memory is bounded by the header (which rpm caps at 256 MiB; a few MiB
/// for a kernel's debuginfo) and the decoder (the xz or lzma dictionary,
/// at most 1 GiB; zstd's window at most 128 MiB), not by the package's or
/// its files' sizes.
pub struct RpmReader<R: Read> {
    source: Source<R>,
    header: Header,
    info: RpmInfo,
}

impl<R: Read> RpmReader<R> {
    /// Reads the lead, the signature header and the header, and checks the
    /// header against the signature header's digests; the reader is left
    /// at the payload.
    ///
    /// # Errors
    ///
    /// [`RpmError::NotRpm`] for other files, [`RpmError::Truncated`],
    /// [`RpmError::BadHeader`] and [`RpmError::HeaderDigest`] for damaged
    /// packages, [`RpmError::MissingTag`] without a name, version or
    /// release, [`RpmError::Io`] when reading fails.
    pub fn new(reader: R) -> Result<Self, RpmError> {
        let mut source = Source {
            inner: reader,
            state: Arc::default(),
        };
        read_lead(&mut source)?;
        let signature = Header::read(&mut source, "signature header")?;
        source.align(8, "signature header")?;
        let header = Header::read(&mut source, "header")?;
        check_digests(&signature, &header)?;
        let info = RpmInfo::from_header(&header)?;
        Ok(RpmReader {
            source,
            header,
            info,
        })
    }

    /// What the header says about the package.
    pub fn info(&self) -> &RpmInfo {
        &self.info
    }

    /// Walks the payload, calling `visit` with each regular file and a
    /// reader of its bytes, in archive order (the header's, hard links
    /// last), until `visit` returns [`ControlFlow::Break`] or the archive
    /// ends. Directories, symlinks and devices are skipped, as are hard
    /// links but the last of their set, which carries the set's content
    /// (so a set of empty files is not visited at all).
    ///
    /// Whatever `visit` leaves unread is skipped. A read error it sees is
    /// also returned by the walk, even if `visit` goes on. Reaching the
    /// archive's end, the walk reads the payload to its end, so that a cut
    /// or a damaged checksum there is an error too; breaking early reads
    /// no further.
    ///
    /// # Errors
    ///
    /// `visit`'s own errors, as they are; otherwise an [`RpmError`]:
    /// [`Truncated`](RpmError::Truncated),
    /// [`UnknownCompression`](RpmError::UnknownCompression),
    /// [`Decompress`](RpmError::Decompress), [`Cpio`](RpmError::Cpio) for
    /// a malformed archive, [`PayloadFormat`](RpmError::PayloadFormat)
    /// for a payload that is not cpio, [`Io`](RpmError::Io).
    ///
    /// ```no_run
    /// use std::ops::ControlFlow;
    /// use btfkit_hub::rpm::{RpmError, RpmReader};
    ///
    /// # fn main() -> Result<(), RpmError> {
    /// let file = std::fs::File::open("kernel-debuginfo-5.14.0-427.el9.x86_64.rpm")?;
    /// let rpm = RpmReader::new(std::io::BufReader::new(file))?;
    /// println!("{} {}-{}", rpm.info().name, rpm.info().version, rpm.info().release);
    /// let mut vmlinux = Vec::new();
    /// rpm.for_each_file(|file, data| {
    ///     if !file.path.ends_with("/vmlinux") {
    ///         return Ok(ControlFlow::Continue(()));
    ///     }
    ///     // Its errors carry the RpmError they mean (a cut, a decoder's).
    ///     data.read_to_end(&mut vmlinux)?;
    ///     Ok::<_, RpmError>(ControlFlow::Break(()))
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn for_each_file<E, F>(self, mut visit: F) -> Result<(), E>
    where
        E: From<RpmError>,
        F: FnMut(&RpmFile<'_>, &mut dyn Read) -> Result<ControlFlow<()>, E>,
    {
        let RpmReader {
            mut source,
            header,
            info,
        } = self;
        if !matches!(info.payload_format.as_str(), "cpio" | "") {
            let format = info.payload_format;
            return Err(RpmError::PayloadFormat { format }.into());
        }
        let (magic, codec) = payload_codec(&mut source, &info)?;
        let probe = Probe {
            state: source.state.clone(),
            format: codec.map_or("cpio", Codec::name),
        };
        let input = io::Cursor::new(magic).chain(source);
        let payload = decoder(codec, input).map_err(|e| probe.error(Failure::Read(e)))?;
        match cpio::walk(payload, &header, &probe, &mut visit) {
            Ok(()) => Ok(()),
            Err(Stop::Visitor(e)) => Err(e),
            Err(Stop::Rpm(e)) => Err(e.into()),
        }
    }
}

/// Reads the lead: its magic, and the signature type the rest depends on.
fn read_lead<R: Read>(src: &mut Source<R>) -> Result<(), RpmError> {
    let mut lead = Vec::new();
    let got = src.read_up_to(&mut lead, LEAD_SIZE)?;
    if got == 0 || lead.iter().zip(LEAD_MAGIC).any(|(a, b)| *a != b) {
        return Err(RpmError::NotRpm);
    }
    if got < LEAD_SIZE {
        return Err(RpmError::Truncated {
            what: "lead",
            offset: got as u64,
        });
    }
    let signature_type = u16::from_be_bytes([lead[78], lead[79]]);
    if signature_type != HEADER_SIGNATURE {
        return Err(RpmError::BadHeader {
            what: "lead",
            offset: 0,
            problem: format!("signature type {signature_type}, not a header (5)"),
        });
    }
    Ok(())
}

/// Checks the header against each digest of it the signature header has.
/// Without either (packages older than rpm 4.0.4), nothing is checked.
fn check_digests(signature: &Header, header: &Header) -> Result<(), RpmError> {
    for (tag, algorithm) in [(SIG_SHA256, Algorithm::Sha256), (SIG_SHA1, Algorithm::Sha1)] {
        let Some(expected) = signature.string(tag)? else {
            continue;
        };
        let actual = algorithm.hex_of(header.bytes());
        if !expected.eq_ignore_ascii_case(&actual) {
            return Err(RpmError::HeaderDigest {
                algorithm: algorithm.name(),
                expected,
                actual,
            });
        }
    }
    Ok(())
}

/// Reads the payload's first bytes and finds its compression (`None`:
/// an uncompressed cpio archive).
fn payload_codec<R: Read>(
    src: &mut Source<R>,
    info: &RpmInfo,
) -> Result<(Vec<u8>, Option<Codec>), RpmError> {
    let mut magic = Vec::new();
    src.read_up_to(&mut magic, 6)?;
    let codec = match Codec::detect(&magic) {
        _ if magic.starts_with(b"0707") => None,
        Some(c @ (Codec::Xz | Codec::Zstd | Codec::Gzip | Codec::Bzip2 | Codec::Lzma)) => Some(c),
        // Too short to tell: the package is cut.
        _ if src.state.eof.load(Relaxed) => {
            return Err(RpmError::Truncated {
                what: "payload",
                offset: src.pos(),
            })
        }
        _ => {
            let compressor = info.payload_compressor.clone();
            return Err(RpmError::UnknownCompression { magic, compressor });
        }
    };
    Ok((magic, codec))
}

/// A streaming decoder of the payload. Several concatenated streams are
/// read as one, as rpm's multithreaded compressors may write them.
fn decoder<'a>(codec: Option<Codec>, input: impl Read + 'a) -> io::Result<Box<dyn Read + 'a>> {
    use liblzma::stream::{Stream, CONCATENATED};
    let lzma_err = io::Error::other;
    Ok(match codec {
        None => Box::new(input),
        Some(Codec::Xz) => {
            let stream = Stream::new_stream_decoder(MEMLIMIT, CONCATENATED).map_err(lzma_err)?;
            Box::new(liblzma::read::XzDecoder::new_stream(input, stream))
        }
        Some(Codec::Lzma) => {
            let stream = Stream::new_lzma_decoder(MEMLIMIT).map_err(lzma_err)?;
            Box::new(liblzma::read::XzDecoder::new_stream(input, stream))
        }
        // The zstd decoder refuses windows over 128 MiB (its default
        // limit) rather than allocating them.
        Some(Codec::Zstd) => Box::new(zstd::stream::read::Decoder::new(input)?),
        Some(Codec::Gzip) => Box::new(flate2::read::MultiGzDecoder::new(input)),
        Some(Codec::Bzip2) => Box::new(bzip2::read::MultiBzDecoder::new(input)),
        Some(Codec::Lz4Frame | Codec::Lz4Legacy) => {
            return Err(io::Error::other("lz4 is no rpm payload compression"))
        }
    })
}

#[cfg(test)]
mod tests {
    //! Synthetic packages, for what rpmbuild does not write: "crc" cpio
    //! entries, signature headers with only a SHA-1 digest, broken
    //! archives.

    use super::*;

    /// A header of string tags.
    fn header(tags: &[(u32, &str)]) -> Vec<u8> {
        let (mut index, mut store) = (Vec::new(), Vec::new());
        for &(tag, value) in tags {
            for word in [tag, 6, store.len() as u32, 1] {
                index.extend_from_slice(&word.to_be_bytes());
            }
            store.extend_from_slice(value.as_bytes());
            store.push(0);
        }
        let counts = [tags.len() as u32, store.len() as u32].map(u32::to_be_bytes);
        [
            &[0x8e, 0xad, 0xe8, 1, 0, 0, 0, 0][..],
            &counts.concat(),
            &index,
            &store,
        ]
        .concat()
    }

    fn main_header(format: &str) -> Vec<u8> {
        let tags = [
            (NAME, "t"),
            (VERSION, "1"),
            (RELEASE, "2"),
            (PAYLOADFORMAT, format),
        ];
        header(&tags)
    }

    /// Lead, signature header (padded), header, payload.
    fn package(signature: &[(u32, &str)], main: &[u8], payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0u8; LEAD_SIZE];
        p[..4].copy_from_slice(&LEAD_MAGIC);
        p[78..80].copy_from_slice(&HEADER_SIGNATURE.to_be_bytes());
        p.extend(header(signature));
        p.resize(p.len().next_multiple_of(8), 0);
        [&p, main, payload].concat()
    }

    /// A "newc" or "crc" entry, padded to 4 bytes (so entries concatenate).
    fn entry(magic: &str, name: &str, mode: u32, data: &[u8], checksum: u32) -> Vec<u8> {
        let fields = [0, mode, 0, 0, 1, 0, data.len() as u32, 0, 0, 0, 0];
        let mut e = magic.as_bytes().to_vec();
        for f in fields.into_iter().chain([name.len() as u32 + 1, checksum]) {
            e.extend_from_slice(format!("{f:08x}").as_bytes());
        }
        e.extend_from_slice(name.as_bytes());
        e.push(0);
        e.resize(e.len().next_multiple_of(4), 0);
        e.extend_from_slice(data);
        e.resize(e.len().next_multiple_of(4), 0);
        e
    }

    fn trailer() -> Vec<u8> {
        entry("070701", "TRAILER!!!", 0, b"", 0)
    }

    /// Every regular file's path and bytes.
    fn walk(p: &[u8]) -> Result<Vec<(String, Vec<u8>)>, RpmError> {
        let mut files = Vec::new();
        RpmReader::new(p)?.for_each_file(|file, data| {
            let mut bytes = Vec::new();
            data.read_to_end(&mut bytes)?;
            files.push((file.path.to_string(), bytes));
            Ok::<_, RpmError>(ControlFlow::Continue(()))
        })?;
        Ok(files)
    }

    #[test]
    fn crc_entries_have_their_checksums_checked() {
        let data = b"checked data";
        let sum = data.iter().map(|&b| u32::from(b)).sum();
        let good = entry("070702", "./a/file", 0o100644, data, sum);
        let dir = entry("070702", "./a", 0o040755, b"", 0);
        let payload = [dir, good, trailer()].concat();
        let p = package(&[(1000, "x")], &main_header("cpio"), &payload);
        assert_eq!(walk(&p).unwrap(), [("a/file".to_string(), data.to_vec())]);

        let bad = entry("070702", "./a/file", 0o100644, data, sum + 1);
        let p = package(
            &[(1000, "x")],
            &main_header("cpio"),
            &[bad, trailer()].concat(),
        );
        let err = walk(&p).unwrap_err();
        assert!(
            matches!(&err, RpmError::Cpio { offset: 0, problem } if problem.contains("checksum")),
            "{err:?}"
        );
    }

    #[test]
    fn a_sha1_digest_alone_is_checked() {
        let main = main_header("cpio");
        let sha1 = Algorithm::Sha1.hex_of(&main);
        let p = package(&[(SIG_SHA1, &sha1)], &main, &trailer());
        assert_eq!(walk(&p).unwrap(), []);
        let mut damaged = main.clone();
        *damaged.last_mut().unwrap() = b'x';
        let p = package(&[(SIG_SHA1, &sha1)], &damaged, &trailer());
        let err = RpmReader::new(&p[..]).err();
        let mismatch = matches!(
            err,
            Some(RpmError::HeaderDigest {
                algorithm: "SHA-1",
                ..
            })
        );
        assert!(mismatch, "{err:?}");
    }

    #[test]
    fn headers_without_what_is_needed_are_refused() {
        let p = package(&[(1000, "x")], &header(&[(NAME, "t")]), &trailer());
        let err = RpmReader::new(&p[..]).err();
        assert!(
            matches!(err, Some(RpmError::MissingTag { tag: VERSION, .. })),
            "{err:?}"
        );

        let p = package(&[(1000, "x")], &main_header("drpm"), &trailer());
        let err = walk(&p).unwrap_err();
        assert!(matches!(&err, RpmError::PayloadFormat { format } if format == "drpm"));

        // A stripped entry, and no file list to look it up in.
        let stripped = b"07070X00000000\0\0";
        let p = package(&[(1000, "x")], &main_header("cpio"), stripped);
        let err = walk(&p).unwrap_err();
        assert!(
            matches!(err, RpmError::MissingTag { tag: 1117, .. }),
            "{err:?}"
        );

        // An archive without a trailer, in a complete (uncompressed)
        // package: cut.
        let p = package(
            &[(1000, "x")],
            &main_header("cpio"),
            &entry("070701", "./f", 0o100644, b"x", 0),
        );
        let err = walk(&p).unwrap_err();
        assert!(
            matches!(
                err,
                RpmError::Truncated {
                    what: "payload",
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn walks_for_extraction_report_extract_errors() {
        use crate::ExtractError;
        let file = entry("070701", "./boot/vmlinux", 0o100644, b"ELF", 0);
        let p = package(&[(1000, "x")], &main_header("cpio"), &file);
        let mut found = Vec::new();
        let err = RpmReader::new(&p[..])
            .unwrap()
            .for_each_file(|_, data| {
                data.read_to_end(&mut found).map_err(RpmError::from)?;
                Ok::<_, ExtractError>(ControlFlow::Continue(()))
            })
            .unwrap_err();
        // The file is read; the missing trailer is the error, said once.
        assert_eq!(found, b"ELF");
        assert!(matches!(err, ExtractError::Rpm(RpmError::Truncated { .. })));
        let text = btfkit_btf::error_chain(&err);
        assert_eq!(
            text,
            format!("truncated in the payload at offset {}", p.len())
        );
    }

    #[test]
    fn readers_can_move_between_threads() {
        fn send<T: Send>() {}
        send::<RpmReader<std::fs::File>>();
    }

    #[test]
    fn reader_errors_carry_the_rpm_error() {
        let cut = RpmError::Truncated {
            what: "payload",
            offset: 7,
        };
        let io = cut.into_io();
        assert_eq!(io.kind(), io::ErrorKind::UnexpectedEof);
        let back = RpmError::from(io);
        assert!(matches!(
            back,
            RpmError::Truncated {
                what: "payload",
                offset: 7
            }
        ));
        let plain = RpmError::from(io::Error::from(io::ErrorKind::PermissionDenied));
        assert!(matches!(plain, RpmError::Io(e) if e.kind() == io::ErrorKind::PermissionDenied));
    }
}
