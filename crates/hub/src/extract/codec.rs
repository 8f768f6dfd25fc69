//! Compressions kernel images, packages and modules come in, recognized
//! by their leading bytes, decoded with bounded output and memory.

use std::io::Read;

use crate::ExtractError;

/// Decoder memory is bounded: a header claiming a huge dictionary or
/// window is an error, not an allocation.
pub(crate) const MEMLIMIT: u64 = 1 << 30;

/// Largest decompressed size accepted (a vmlinux with BTF is well under).
pub(crate) const MAX_OUTPUT: u64 = 1 << 30;

pub(crate) fn too_large(what: &str) -> ExtractError {
    ExtractError::TooLarge {
        what: what.to_string(),
        limit: MAX_OUTPUT,
    }
}

pub(crate) fn decode(what: &str) -> impl FnOnce(std::io::Error) -> ExtractError + '_ {
    move |source| ExtractError::Decode {
        what: what.to_string(),
        source,
    }
}

/// liblzma's errors as I/O errors, as its readers report them.
fn lzma_io(e: liblzma::stream::Error) -> std::io::Error {
    std::io::Error::other(e)
}

/// Reads all of `r`, at most [`MAX_OUTPUT`] bytes.
pub(crate) fn read_limited(mut r: impl Read, what: &str) -> Result<Vec<u8>, ExtractError> {
    let mut out = Vec::new();
    r.by_ref()
        .take(MAX_OUTPUT + 1)
        .read_to_end(&mut out)
        .map_err(decode(what))?;
    if out.len() as u64 > MAX_OUTPUT {
        return Err(too_large(what));
    }
    Ok(out)
}

/// Compression formats recognized by their leading bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Codec {
    Gzip,
    Xz,
    Lzma,
    Zstd,
    Bzip2,
    Lz4Frame,
    Lz4Legacy,
}

impl Codec {
    pub(crate) fn detect(d: &[u8]) -> Option<Codec> {
        Some(match d {
            [0x1f, 0x8b, ..] => Codec::Gzip,
            [0xfd, b'7', b'z', b'X', b'Z', 0, ..] => Codec::Xz,
            [0x28, 0xb5, 0x2f, 0xfd, ..] => Codec::Zstd,
            [b'B', b'Z', b'h', ..] => Codec::Bzip2,
            [0x04, 0x22, 0x4d, 0x18, ..] => Codec::Lz4Frame,
            [0x02, 0x21, 0x4c, 0x18, ..] => Codec::Lz4Legacy,
            // lzma "alone": properties byte 0x5d and a power-of-two dictionary.
            [0x5d, 0, 0, ..] => Codec::Lzma,
            _ => return None,
        })
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Codec::Gzip => "gzip",
            Codec::Xz => "xz",
            Codec::Lzma => "lzma",
            Codec::Zstd => "zstd",
            Codec::Bzip2 => "bzip2",
            Codec::Lz4Frame => "lz4",
            Codec::Lz4Legacy => "lz4 legacy",
        }
    }

    /// A streaming decoder over `d` (lz4 legacy, only ever a kernel
    /// payload, is decoded whole by [`lz4_legacy`]). `single` decodes one
    /// stream and ignores what follows — a bzImage payload ends with the
    /// kernel build's 4-byte size — where files may hold several streams.
    pub(crate) fn reader<'d>(
        self,
        d: &'d [u8],
        single: bool,
    ) -> Result<Box<dyn Read + 'd>, ExtractError> {
        let xz_err = |e| decode(self.name())(lzma_io(e));
        Ok(match self {
            Codec::Gzip if single => Box::new(flate2::read::GzDecoder::new(d)),
            Codec::Gzip => Box::new(flate2::read::MultiGzDecoder::new(d)),
            Codec::Xz if single => {
                let stream =
                    liblzma::stream::Stream::new_stream_decoder(MEMLIMIT, 0).map_err(xz_err)?;
                Box::new(std::io::Cursor::new(one_stream(stream, d, self.name())?))
            }
            Codec::Lzma if single => {
                let stream = liblzma::stream::Stream::new_lzma_decoder(MEMLIMIT).map_err(xz_err)?;
                Box::new(std::io::Cursor::new(one_stream(stream, d, self.name())?))
            }
            Codec::Xz => {
                let stream = liblzma::stream::Stream::new_stream_decoder(
                    MEMLIMIT,
                    liblzma::stream::CONCATENATED,
                )
                .map_err(xz_err)?;
                Box::new(liblzma::read::XzDecoder::new_stream(d, stream))
            }
            Codec::Lzma => {
                let stream = liblzma::stream::Stream::new_lzma_decoder(MEMLIMIT).map_err(xz_err)?;
                Box::new(liblzma::read::XzDecoder::new_stream(d, stream))
            }
            Codec::Zstd => {
                let dec = zstd::stream::read::Decoder::new(d).map_err(decode(self.name()))?;
                if single {
                    Box::new(dec.single_frame())
                } else {
                    Box::new(dec)
                }
            }
            Codec::Bzip2 if single => Box::new(bzip2::read::BzDecoder::new(d)),
            Codec::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(d)),
            Codec::Lz4Frame => Box::new(lz4_flex::frame::FrameDecoder::new(d)),
            Codec::Lz4Legacy => Box::new(std::io::Cursor::new(lz4_legacy(d)?)),
        })
    }

    /// A decoder of every stream of a (package member) stream `r`: the
    /// compressions packages use (gzip, xz, lzma, zstd, bzip2); lz4 is
    /// only ever a kernel payload, read whole by [`Codec::reader`].
    pub(crate) fn stream<'r>(self, r: impl Read + 'r) -> Result<Box<dyn Read + 'r>, ExtractError> {
        let xz_err = |e| decode(self.name())(lzma_io(e));
        Ok(match self {
            Codec::Gzip => Box::new(flate2::read::MultiGzDecoder::new(r)),
            Codec::Xz => {
                let flags = liblzma::stream::CONCATENATED;
                let stream =
                    liblzma::stream::Stream::new_stream_decoder(MEMLIMIT, flags).map_err(xz_err)?;
                Box::new(liblzma::read::XzDecoder::new_stream(r, stream))
            }
            Codec::Lzma => {
                let stream = liblzma::stream::Stream::new_lzma_decoder(MEMLIMIT).map_err(xz_err)?;
                Box::new(liblzma::read::XzDecoder::new_stream(r, stream))
            }
            Codec::Zstd => {
                Box::new(zstd::stream::read::Decoder::new(r).map_err(decode(self.name()))?)
            }
            Codec::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(r)),
            Codec::Lz4Frame | Codec::Lz4Legacy => {
                return Err(ExtractError::UnknownCompression { what: self.name() })
            }
        })
    }

    pub(crate) fn decompress(self, d: &[u8], single: bool) -> Result<Vec<u8>, ExtractError> {
        read_limited(self.reader(d, single)?, self.name())
    }
}

/// Decodes the one xz or lzma stream at the start of `d`, ignoring what
/// follows it (liblzma's reader would call trailing bytes corrupt).
fn one_stream(
    mut s: liblzma::stream::Stream,
    d: &[u8],
    what: &'static str,
) -> Result<Vec<u8>, ExtractError> {
    use liblzma::stream::{Action, Status};
    let mut out: Vec<u8> = Vec::new();
    loop {
        if out.len() == out.capacity() {
            if out.len() as u64 > MAX_OUTPUT {
                return Err(too_large(what));
            }
            out.reserve(out.len().clamp(1 << 16, 64 << 20));
        }
        let (consumed, produced) = (s.total_in() as usize, out.len());
        let status = s
            .process_vec(&d[consumed..], &mut out, Action::Run)
            .map_err(|e| decode(what)(lzma_io(e)))?;
        if status == Status::StreamEnd {
            return Ok(out);
        }
        if s.total_in() as usize == consumed && out.len() == produced && out.len() < out.capacity()
        {
            return Err(ExtractError::Truncated { format: what });
        }
    }
}

/// The lz4 "legacy" format the kernel uses for lz4 bzImages: blocks of at
/// most 8 MiB, each a 4-byte compressed length and an lz4 block; streams
/// may be concatenated (magic again), and the kernel appends the
/// decompressed size, which ends the walk.
fn lz4_legacy(d: &[u8]) -> Result<Vec<u8>, ExtractError> {
    const MAGIC: u32 = 0x184c_2102;
    const BLOCK: usize = 8 << 20;
    let mut out = Vec::new();
    let mut buf = vec![0u8; BLOCK];
    let mut pos = 4;
    while pos + 4 <= d.len() {
        let len = u32::from_le_bytes(d[pos..pos + 4].try_into().expect("4 bytes"));
        if len == MAGIC {
            pos += 4;
            continue;
        }
        let len = len as usize;
        if len == 0
            || len > d.len() - pos - 4
            || len > lz4_flex::block::get_maximum_output_size(BLOCK)
        {
            break;
        }
        let n = lz4_flex::block::decompress_into(&d[pos + 4..pos + 4 + len], &mut buf)
            .map_err(|e| decode("lz4 legacy")(std::io::Error::other(e)))?;
        out.extend_from_slice(&buf[..n]);
        if out.len() as u64 > MAX_OUTPUT {
            return Err(too_large("lz4 legacy"));
        }
        pos += 4 + len;
    }
    if out.is_empty() {
        return Err(ExtractError::Lz4NoBlocks);
    }
    Ok(out)
}
