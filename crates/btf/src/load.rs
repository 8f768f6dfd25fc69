//! Loading BTF-bearing files: raw BTF, ELF with `.BTF`, and the compressed
//! forms found in btfhub-archive (`.btf.xz`, `.btf.tar.xz`), detected by
//! content, not by name.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::ops::{Deref, Range};
use std::path::Path;

use crate::error::{Error, Result};
use crate::input::{self, Limit};
use crate::ParseOptions;

/// `f_type` of sysfs.
const SYSFS_MAGIC: i64 = 0x6265_6572;

/// The bytes of a loaded file: read into memory, or mapped read-only (the
/// kernel's own BTF in sysfs, and objects read by [`map_file`]), and
/// whether the running kernel served them.
pub struct BtfBytes {
    data: Data,
    from_kernel: bool,
}

enum Data {
    Owned(Vec<u8>),
    Mapped(memmap2::Mmap),
}

impl Deref for BtfBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match &self.data {
            Data::Owned(v) => v,
            Data::Mapped(m) => m,
        }
    }
}

impl From<Vec<u8>> for BtfBytes {
    fn from(v: Vec<u8>) -> Self {
        BtfBytes {
            data: Data::Owned(v),
            from_kernel: false,
        }
    }
}

impl BtfBytes {
    fn mapped(m: memmap2::Mmap, from_kernel: bool) -> Self {
        BtfBytes {
            data: Data::Mapped(m),
            from_kernel,
        }
    }

    /// The bytes, copied out of a mapping if need be.
    pub fn into_vec(self) -> Vec<u8> {
        match self.data {
            Data::Owned(v) => v,
            Data::Mapped(m) => m.to_vec(),
        }
    }

    /// Whether the running kernel served these bytes: raw BTF read from
    /// sysfs (`/sys/kernel/btf/vmlinux` or a module's), not a copy of it
    /// elsewhere.
    pub fn from_running_kernel(&self) -> bool {
        self.from_kernel
    }

    /// How to parse these bytes: [`ParseOptions::default`], without the
    /// kernel-rule checks ([`ParseOptions::validate`]) for BTF the running
    /// kernel serves, so that reading the host's BTF, on every tool's
    /// start-up path, costs what the structural checks cost.
    pub fn parse_options(&self) -> ParseOptions {
        ParseOptions {
            validate: !self.from_kernel,
            ..ParseOptions::default()
        }
    }
}

/// Whether a file is on sysfs.
// `f_type` is an `i64` here but narrower on 32-bit targets.
#[allow(clippy::unnecessary_cast)]
fn on_sysfs(file: &File) -> bool {
    rustix::fs::fstatfs(file).is_ok_and(|st| st.f_type as i64 == SYSFS_MAGIC)
}

fn is_btf_magic(data: &[u8]) -> bool {
    data.starts_with(&[0x9f, 0xeb]) || data.starts_with(&[0xeb, 0x9f])
}

/// Maps a sysfs BTF file (e.g. `/sys/kernel/btf/vmlinux`) instead of
/// copying it: kernels since 6.16 allow a private read-only mapping of
/// vmlinux BTF, which costs nothing where a read costs a copy and a page
/// fault per page. `None` when the kernel refuses, so the caller reads it
/// instead.
fn map_sysfs(file: &File) -> Option<memmap2::Mmap> {
    // SAFETY: the mapping is private and read-only, so this process cannot
    // change it, and the only other writer could be the file's owner: a
    // sysfs BTF file is the kernel's own type data, which it never changes
    // while the file exists (vmlinux BTF lives as long as the kernel). So
    // the bytes behind the returned slice stay valid and unchanged for the
    // life of the `Mmap`, which is what `&[u8]` requires. (Only called for
    // files on sysfs.)
    unsafe { memmap2::MmapOptions::new().map_copy_read_only(file) }.ok()
}

/// Reads a file as [`BtfBytes`]: mapped when it is sysfs BTF, otherwise
/// read; xz and tar are unpacked as by [`read_btf_file`]. Only regular
/// files are read, up to [`Limit::Btf`] (an ELF file, which may carry
/// DWARF besides its `.BTF`, up to [`Limit::Large`]). Raw BTF from sysfs
/// is marked as the running kernel's ([`BtfBytes::from_running_kernel`]).
pub fn load_btf_file(path: impl AsRef<Path>) -> Result<BtfBytes> {
    let path = path.as_ref();
    let io_err = |e| Error::Io(e).in_file(path);
    let mut file = input::open(path)?;
    let sysfs = on_sysfs(&file);
    if sysfs {
        if let Some(m) = map_sysfs(&file).filter(|m| is_btf_magic(m)) {
            return Ok(BtfBytes::mapped(m, true));
        }
    }
    let mut magic = [0u8; 4];
    let n = read_prefix(&mut file, &mut magic).map_err(io_err)?;
    file.seek(SeekFrom::Start(0)).map_err(io_err)?;
    let limit = if crate::elf::is_elf(&magic[..n]) {
        Limit::Large
    } else {
        Limit::Btf
    };
    let data = input::read_opened(file, path, limit)?;
    let from_kernel = sysfs && is_btf_magic(&data);
    let mut bytes = BtfBytes::from(unpack(data).map_err(|e| e.in_file(path))?);
    bytes.from_kernel = from_kernel;
    Ok(bytes)
}

/// Fills as much of `buf` as the file has.
fn read_prefix(file: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// The bytes of a file as they are, without unpacking: a regular file is
/// mapped read-only, so only the pages a reader touches are read in (a
/// 15 MB BPF object of which CO-RE needs the BTF sections and the
/// relocated instructions costs that much memory, not the whole file).
/// Anything but a regular file is refused (see [`input`]).
pub fn map_file(path: impl AsRef<Path>) -> Result<BtfBytes> {
    let path = path.as_ref();
    let file = input::open(path)?;
    let meta = file.metadata().map_err(|e| Error::Io(e).in_file(path))?;
    if meta.len() > 0 {
        // SAFETY: `&[u8]` over a mapping needs the mapped bytes to stay as
        // they are while the `Mmap` lives. The mapping is private and
        // read-only, so nothing in this process can change them; only a
        // write into this very file, in place, by another process could.
        // That is outside what btfkit reads a file under: compilers and
        // btfkit's own outputs go to a new file renamed into place (the
        // mapping keeps the old one), and an object rewritten in place
        // while it is being read has no consistent content to read by any
        // means. It is the contract libbpf and bpftool read objects under
        // too (libelf's `ELF_C_READ_MMAP`).
        if let Ok(m) = unsafe { memmap2::MmapOptions::new().map_copy_read_only(&file) } {
            return Ok(BtfBytes::mapped(m, false));
        }
    }
    // Empty as stat says (procfs), or the mapping was refused: read it.
    Ok(BtfBytes::from(input::read_opened(
        file,
        path,
        Limit::Large,
    )?))
}

const XZ_MAGIC: &[u8] = &[0xfd, b'7', b'z', b'X', b'Z', 0];

/// Largest decompressed size accepted: BTF of the largest kernels is
/// under 64 MiB; anything beyond this is treated as hostile.
pub const MAX_DECOMPRESSED: u64 = 1 << 30;

/// Reads a file and returns the raw BTF or ELF bytes inside it,
/// decompressing xz and unpacking a tar as needed. Errors name the file.
pub fn read_btf_file(path: impl AsRef<Path>) -> Result<Vec<u8>> {
    load_btf_file(path).map(BtfBytes::into_vec)
}

/// Decompresses/unpacks `data` when it is xz and/or tar; otherwise returns
/// it unchanged.
pub fn unpack(data: Vec<u8>) -> Result<Vec<u8>> {
    let data = if data.starts_with(XZ_MAGIC) {
        decompress_xz(&data)?
    } else {
        data
    };
    if is_empty_tar(&data) {
        return Err(Error::TarNoBtf { regular: 0 });
    }
    if is_tar(&data) {
        let range = tar_btf_member(&data)?;
        let mut data = data;
        data.truncate(range.end);
        data.drain(..range.start);
        return Ok(data);
    }
    Ok(data)
}

/// Without the `archives` feature, xz input is an error naming it.
#[cfg(not(feature = "archives"))]
pub fn decompress_xz(_data: &[u8]) -> Result<Vec<u8>> {
    Err(without_archives("xz"))
}

/// The error for xz or tar input when the `archives` feature is off.
#[cfg(not(feature = "archives"))]
fn without_archives(what: &str) -> Error {
    Error::Archive(format!(
        "{what}: btfkit-btf was built without its `archives` feature"
    ))
}

/// Decompresses a complete xz stream, refusing output over
/// [`MAX_DECOMPRESSED`].
#[cfg(feature = "archives")]
pub fn decompress_xz(data: &[u8]) -> Result<Vec<u8>> {
    // The exact size when the index says it (no regrowth: each copies
    // what is there and faults in pages again); a guess otherwise. Only a
    // capacity: the decoder's output decides, capped as ever.
    // A hostile index could claim anything: no more than a ratio real
    // BTF never reaches is taken on its word.
    let guess = data.len() as u64 * 4;
    let hint = xz_uncompressed_size(data).map_or(guess, |n| n.min(data.len() as u64 * 64));
    let mut out = Vec::with_capacity(hint.min(MAX_DECOMPRESSED) as usize);
    let dec = liblzma::read::XzDecoder::new(data);
    let n = dec
        .take(MAX_DECOMPRESSED + 1)
        .read_to_end(&mut out)
        .map_err(|e| Error::Archive(format!("xz: {e}")))?;
    if n as u64 > MAX_DECOMPRESSED {
        return Err(Error::Archive(format!(
            "xz: decompressed data exceeds {MAX_DECOMPRESSED} bytes"
        )));
    }
    Ok(out)
}

/// The uncompressed size an xz file's last stream declares in its index
/// (btfhub files are one stream); None when it cannot be read.
#[cfg(feature = "archives")]
fn xz_uncompressed_size(data: &[u8]) -> Option<u64> {
    // Stream footer: CRC32, backward size, flags, "YZ".
    let footer = data.get(data.len().checked_sub(12)?..)?;
    if &footer[10..] != b"YZ" {
        return None;
    }
    let backward = (u64::from(u32::from_le_bytes(footer[4..8].try_into().ok()?)) + 1) * 4;
    let start = (data.len() as u64).checked_sub(12 + backward)? as usize;
    let index = data.get(start..data.len() - 12)?;
    // Index: indicator 0, record count, (unpadded, uncompressed) pairs.
    let (&indicator, mut rest) = index.split_first()?;
    if indicator != 0 {
        return None;
    }
    let records = read_varint(&mut rest)?;
    let mut total: u64 = 0;
    for _ in 0..records.min(1 << 20) {
        read_varint(&mut rest)?;
        total = total.checked_add(read_varint(&mut rest)?)?;
    }
    Some(total)
}

/// An xz multibyte integer (7 bits per byte, at most 9 bytes).
#[cfg(feature = "archives")]
fn read_varint(b: &mut &[u8]) -> Option<u64> {
    let mut v: u64 = 0;
    for i in 0..9 {
        let (&byte, rest) = b.split_first()?;
        *b = rest;
        v |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// A tar archive without members: only its end marker, two or more
/// blocks of zeros (no BTF or ELF file starts with a zero byte).
fn is_empty_tar(data: &[u8]) -> bool {
    data.len() >= 1024 && data.len() % 512 == 0 && data.iter().all(|&b| b == 0)
}

fn is_tar(data: &[u8]) -> bool {
    data.len() >= 512 && &data[257..262] == b"ustar"
}

/// Without the `archives` feature, tar input is an error naming it.
#[cfg(not(feature = "archives"))]
pub fn tar_btf_member(_data: &[u8]) -> Result<Range<usize>> {
    Err(without_archives("tar"))
}

/// Where the BTF is in a btfhub tarball: the one regular member whose
/// name ends in `.btf` (btfhub packs `<release>.btf` alone). This is the
/// rule every reader of tarballs follows (`btf` commands, `--btf`, `hub
/// build`). Two `.btf` members, members none of which is `.btf`, and an
/// empty tarball are errors rather than a guess.
#[cfg(feature = "archives")]
pub fn tar_btf_member(data: &[u8]) -> Result<Range<usize>> {
    let tar_err = |e: std::io::Error| Error::Archive(format!("tar: {e}"));
    let mut ar = tar::Archive::new(data);
    let mut regular = 0usize;
    let mut btf: Option<(String, Range<usize>)> = None;
    for entry in ar.entries().map_err(tar_err)? {
        let entry = entry.map_err(tar_err)?;
        if entry.header().entry_type() != tar::EntryType::Regular {
            continue;
        }
        regular += 1;
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        // A plain member's data is contiguous after its header.
        let (start, size) = (entry.raw_file_position(), entry.size());
        let range = start
            .checked_add(size)
            .filter(|&end| end <= data.len() as u64)
            .map(|end| start as usize..end as usize)
            .ok_or_else(|| Error::TarMemberTruncated {
                member: name.clone(),
                size,
                len: data.len(),
            })?;
        if name.ends_with(".btf") {
            if let Some((first, _)) = &btf {
                return Err(Error::TarAmbiguous {
                    first: first.clone(),
                    second: name,
                });
            }
            btf = Some((name, range));
        }
    }
    btf.map(|(_, range)| range)
        .ok_or(Error::TarNoBtf { regular })
}

#[cfg(all(test, feature = "archives"))]
mod tests {
    use super::*;
    use std::io::Write;

    fn xz(data: &[u8]) -> Vec<u8> {
        let mut e = liblzma::write::XzEncoder::new(Vec::new(), 6);
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn xz_index_gives_the_uncompressed_size() {
        for len in [0usize, 1, 4096, 3 << 20] {
            let data: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            let packed = xz(&data);
            assert_eq!(xz_uncompressed_size(&packed), Some(len as u64));
            assert_eq!(decompress_xz(&packed).unwrap(), data);
            // Damaged or cut files give no size (and decoding says why).
            assert_eq!(xz_uncompressed_size(&packed[..packed.len() - 1]), None);
            let mut bad = packed.clone();
            let n = bad.len();
            bad[n - 8] ^= 0xff; // backward size
            let _ = xz_uncompressed_size(&bad);
        }
        assert_eq!(xz_uncompressed_size(b"YZ"), None);
        assert_eq!(xz_uncompressed_size(&[0xff; 12]), None);
    }
}
