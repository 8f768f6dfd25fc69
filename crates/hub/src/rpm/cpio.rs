//! The cpio archive of the payload. Entries start at 4-byte boundaries
//! (counted from the payload's start) with a 6-byte magic:
//!
//! - `070701` ("newc") and `070702` ("crc"): 13 fields of 8 hex digits
//!   (inode, mode, uid, gid, nlink, mtime, size, 4 device numbers, name
//!   size, checksum), the NUL-terminated name, padding to 4, the data;
//! - `07070X`, rpm's "stripped" entry (rpm 4.12+, written when a file is
//!   4 GiB or more, too big for 8 hex digits): only the file's index in
//!   the header's file list (8 hex digits) and padding, its name and size
//!   being in the header.
//!
//! A `newc` entry named `TRAILER!!!` ends the archive. A hard link set's
//! content follows only its last member's entry; the others have none.

use std::io::{self, Read};
use std::ops::ControlFlow;

use super::header::{file_digests, FileTable, Header};
use super::{FileDigestMismatch, Probe, RpmError, RpmFile};
use crate::digest::{Hasher, Listed};

/// rpm's bound on names (`CPIO_NAMESIZE_MAX`), with the NUL.
const MAX_NAME: u32 = 4096;
const TRAILER: &[u8] = b"TRAILER!!!";
const S_IFMT: u32 = 0o170000;
const S_IFREG: u32 = 0o100000;
const FIELDS: [&str; 13] = [
    "inode",
    "mode",
    "uid",
    "gid",
    "nlink",
    "mtime",
    "size",
    "dev major",
    "dev minor",
    "rdev major",
    "rdev minor",
    "name size",
    "checksum",
];

/// Why the payload stream could not be read further, before [`Probe`]
/// tells what that means.
pub(super) enum Failure {
    /// The decompressed stream ended, at this payload offset.
    Ended { offset: u64 },
    /// The decoder (or the package reader under it) failed.
    Read(io::Error),
}

impl Failure {
    /// A copy (an `io::Error` is not `Clone`: its kind and message).
    fn duplicate(&self) -> Failure {
        match self {
            Failure::Ended { offset } => Failure::Ended { offset: *offset },
            Failure::Read(e) => Failure::Read(io::Error::new(e.kind(), e.to_string())),
        }
    }
}

/// Why a walk stopped before the trailer.
pub(super) enum Stop<E> {
    /// The visitor's own error.
    Visitor(E),
    /// The package's.
    Rpm(RpmError),
}

impl<E> From<RpmError> for Stop<E> {
    fn from(e: RpmError) -> Self {
        Stop::Rpm(e)
    }
}

/// The payload stream, counted: padding and error offsets are relative to
/// its start.
struct Counted<'p, R> {
    inner: R,
    pos: u64,
    probe: &'p Probe,
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl<R: Read> Counted<'_, R> {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), RpmError> {
        let mut done = 0;
        while done < buf.len() {
            match self.read(&mut buf[done..]) {
                Ok(0) => return Err(self.probe.error(Failure::Ended { offset: self.pos })),
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.probe.error(Failure::Read(e))),
            }
        }
        Ok(())
    }

    /// Skips to the next 4-byte boundary.
    fn pad(&mut self) -> Result<(), RpmError> {
        let n = (4 - self.pos % 4) % 4;
        self.fill(&mut [0u8; 3][..n as usize])
    }

    /// Reads to the end of the stream, so that its end is checked too (a
    /// compressed stream's checksum, a cut after the trailer).
    fn drain(&mut self) -> Result<(), RpmError> {
        read_to_end_discarding(self).map_err(|e| self.probe.error(Failure::Read(e)))
    }
}

/// Reads `r` to its end, in 64 KiB reads, keeping nothing.
fn read_to_end_discarding(r: &mut impl Read) -> io::Result<()> {
    let mut buf = [0u8; 1 << 16];
    loop {
        match r.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// One archive entry.
struct Entry {
    /// Where its header starts in the payload.
    offset: u64,
    /// The name as archived (`./usr/...`, or from the header `/usr/...`).
    name: Vec<u8>,
    mode: u32,
    /// The bytes following the entry.
    size: u64,
    /// Whether they are a regular file's content, to visit.
    content: bool,
    /// The "crc" format's sum of the content bytes.
    checksum: Option<u32>,
}

/// Walks the archive, calling `visit` for each regular file's content
/// until it breaks or the trailer is reached; then reads the stream to
/// its end.
pub(super) fn walk<E, F>(
    payload: impl Read,
    header: &Header,
    probe: &Probe,
    visit: &mut F,
) -> Result<(), Stop<E>>
where
    F: FnMut(&RpmFile<'_>, &mut dyn Read) -> Result<ControlFlow<()>, E>,
{
    let mut r = Counted {
        inner: payload,
        pos: 0,
        probe,
    };
    // Built at the first stripped entry: only packages with huge files
    // have them.
    let mut table = None;
    // The header's file digests, read at the first file visited.
    let mut digests = None;
    while let Some(entry) = next_entry(&mut r, header, &mut table)? {
        if !entry.content {
            Member::new(&mut r, entry.size, false).drain()?;
            continue;
        }
        if digests.is_none() {
            digests = Some(file_digests(header)?.unwrap_or_default());
        }
        let listed = digests
            .as_ref()
            .and_then(|d| d.get(&normalize(&entry.name)));
        if visit_member(&mut r, &entry, listed, visit)?.is_break() {
            return Ok(());
        }
    }
    Ok(r.drain()?)
}

/// Gives the visitor an entry's content, then reads what it left, so the
/// walk can go on, and checks the "crc" format's checksum. A file the
/// visitor reads (in part or whole) is checked against the digest the
/// header lists once all of it is read; one it breaks the walk on before
/// the end, or does not read at all, is not (so skipping costs no hash).
fn visit_member<R: Read, E, F>(
    r: &mut Counted<'_, R>,
    entry: &Entry,
    listed: Option<&Listed>,
    visit: &mut F,
) -> Result<ControlFlow<()>, Stop<E>>
where
    F: FnMut(&RpmFile<'_>, &mut dyn Read) -> Result<ControlFlow<()>, E>,
{
    let path = normalize(&entry.name);
    let file = RpmFile {
        path: &path,
        size: entry.size,
        mode: entry.mode,
    };
    let mut member = Member::new(r, entry.size, entry.checksum.is_some());
    member.hasher = listed.map(|l| l.algorithm.hasher());
    let flow = visit(&file, &mut member).map_err(Stop::Visitor)?;
    // A read error the visitor saw, even if it went on, ends the walk.
    if let Some(f) = member.failure.take() {
        return Err(member.r.probe.error(f).into());
    }
    if member.left == entry.size && entry.size > 0 {
        member.hasher = None;
    }
    if flow.is_continue() {
        member.drain()?;
    }
    if let (Some(listed), Some(hasher), 0) = (listed, member.hasher.take(), member.left) {
        listed.check(hasher).map_err(|m| {
            RpmError::FileDigest(Box::new(FileDigestMismatch {
                path: path.clone(),
                algorithm: m.algorithm,
                expected: m.expected,
                actual: m.actual,
            }))
        })?;
    }
    if flow.is_break() {
        return Ok(flow);
    }
    match (entry.checksum, member.sum) {
        (Some(want), Some(sum)) if want != sum => Err(cpio(
            entry.offset,
            format!("checksum of {path}: {want:08x} in its entry, {sum:08x} in its data"),
        )
        .into()),
        _ => Ok(flow),
    }
}

/// The archive path, relative to the root: without a leading `./` (rpm's
/// names) or `/` (names from the header).
fn normalize(name: &[u8]) -> String {
    let name = String::from_utf8_lossy(name);
    let name = name.strip_prefix("./").unwrap_or(&name);
    name.trim_start_matches('/').to_string()
}

/// Reads the next entry's header; `None` at the trailer.
fn next_entry<'h, R: Read>(
    r: &mut Counted<'_, R>,
    header: &'h Header,
    table: &mut Option<FileTable<'h>>,
) -> Result<Option<Entry>, RpmError> {
    r.pad()?;
    let start = r.pos;
    let mut magic = [0u8; 6];
    r.fill(&mut magic)?;
    match &magic {
        b"070701" => newc(r, start, false),
        b"070702" => newc(r, start, true),
        b"07070X" => stripped(r, start, header, table),
        _ => Err(cpio(
            start,
            format!("bad entry magic {:?}", String::from_utf8_lossy(&magic)),
        )),
    }
}

fn cpio(offset: u64, problem: String) -> RpmError {
    RpmError::Cpio { offset, problem }
}

/// An 8-digit hex field (rpm's reader wants all 8 digits).
fn hex8(b: &[u8]) -> Option<u32> {
    let s = std::str::from_utf8(b).ok()?;
    if s.len() != 8 || !s.bytes().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(s, 16).ok()
}

/// A "newc" or "crc" entry, after its magic.
fn newc<R: Read>(r: &mut Counted<'_, R>, start: u64, crc: bool) -> Result<Option<Entry>, RpmError> {
    let mut raw = [0u8; 13 * 8];
    r.fill(&mut raw)?;
    let mut f = [0u32; 13];
    for (i, field) in f.iter_mut().enumerate() {
        let digits = &raw[i * 8..i * 8 + 8];
        *field = hex8(digits).ok_or_else(|| {
            let shown = String::from_utf8_lossy(digits);
            cpio(start, format!("bad {} field {shown:?}", FIELDS[i]))
        })?;
    }
    let [_, mode, _, _, nlink, _, size, _, _, _, _, namesize, checksum] = f;
    let name = read_name(r, start, namesize)?;
    if name == TRAILER {
        return Ok(None);
    }
    // Hard links but the last of their set have no data: the set's content
    // comes with the last one. (A set of empty files is thus not visited.)
    let content = mode & S_IFMT == S_IFREG && !(nlink > 1 && size == 0);
    Ok(Some(Entry {
        offset: start,
        name,
        mode,
        size: size.into(),
        content,
        checksum: crc.then_some(checksum),
    }))
}

/// An entry's name (`namesize` bytes with the NUL), and the padding after.
fn read_name<R: Read>(
    r: &mut Counted<'_, R>,
    start: u64,
    namesize: u32,
) -> Result<Vec<u8>, RpmError> {
    if namesize == 0 || namesize > MAX_NAME {
        return Err(cpio(start, format!("name size {namesize}")));
    }
    let mut name = vec![0u8; namesize as usize];
    r.fill(&mut name)?;
    if name.pop() != Some(0) || name.contains(&0) {
        return Err(cpio(start, "name not NUL-terminated".into()));
    }
    r.pad()?;
    Ok(name)
}

/// A stripped entry, after its magic: the file comes from the header.
fn stripped<'h, R: Read>(
    r: &mut Counted<'_, R>,
    start: u64,
    header: &'h Header,
    table: &mut Option<FileTable<'h>>,
) -> Result<Option<Entry>, RpmError> {
    let mut raw = [0u8; 8];
    r.fill(&mut raw)?;
    let index = hex8(&raw).ok_or_else(|| {
        cpio(
            start,
            format!("bad file index {:?}", String::from_utf8_lossy(&raw)),
        )
    })?;
    r.pad()?;
    // rpm's reader takes index -1 as the end, though it writes a trailer.
    if index == u32::MAX {
        return Ok(None);
    }
    if table.is_none() {
        *table = Some(FileTable::new(header)?);
    }
    let files = table.as_ref().map_or(0, FileTable::len);
    let file = table.as_ref().and_then(|t| t.get(index as usize));
    let file = file.ok_or_else(|| {
        cpio(
            start,
            format!("file index {index} past the header's {files} files"),
        )
    })?;
    Ok(Some(Entry {
        offset: start,
        name: file.path,
        mode: file.mode,
        size: file.size,
        content: file.content,
        checksum: None,
    }))
}

/// One entry's data, as the visitor reads it: never past its end, an
/// early end of the stream an error (not a short file), and the first
/// failure kept for the walk (the visitor may drop it). Its errors carry
/// the [`RpmError`] they mean.
struct Member<'a, 'p, R> {
    r: &'a mut Counted<'p, R>,
    left: u64,
    /// The sum of the bytes read, for "crc" entries only.
    sum: Option<u32>,
    /// The hash of the bytes read, for files the header lists a digest
    /// of.
    hasher: Option<Hasher>,
    failure: Option<Failure>,
}

impl<'a, 'p, R: Read> Member<'a, 'p, R> {
    fn new(r: &'a mut Counted<'p, R>, size: u64, crc: bool) -> Self {
        Member {
            r,
            left: size,
            sum: crc.then_some(0),
            hasher: None,
            failure: None,
        }
    }

    /// Reads the rest of the data.
    fn drain(&mut self) -> Result<(), RpmError> {
        Ok(read_to_end_discarding(self)?)
    }

    /// Records a failure, giving the reader the error it means.
    fn fail(&mut self, f: Failure) -> io::Error {
        let given = self.r.probe.error(f.duplicate()).into_io();
        self.failure.get_or_insert(f);
        given
    }
}

impl<R: Read> Read for Member<'_, '_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 || buf.is_empty() {
            return Ok(0);
        }
        if let Some(f) = &self.failure {
            return Err(self.r.probe.error(f.duplicate()).into_io());
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        match self.r.read(&mut buf[..want]) {
            Ok(0) => {
                let offset = self.r.pos;
                Err(self.fail(Failure::Ended { offset }))
            }
            Ok(n) => {
                self.left -= n as u64;
                if let Some(h) = &mut self.hasher {
                    h.update(&buf[..n]);
                }
                if let Some(sum) = &mut self.sum {
                    let bytes = buf[..n].iter().map(|&b| u32::from(b));
                    *sum = bytes.fold(*sum, u32::wrapping_add);
                }
                Ok(n)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(e) => Err(self.fail(Failure::Read(e))),
        }
    }
}
