//! Header structures. The signature header and the main header share one
//! layout: a 16-byte preamble (magic `8e ad e8 01`, 4 reserved bytes, the
//! number of index entries and the size of the store, big-endian), the
//! index (16 bytes an entry: tag, type, offset into the store, count) and
//! the store holding every entry's data.

use std::collections::{HashMap, HashSet};
use std::io::Read;

use super::{RpmError, Source};
use crate::digest::{Algorithm, Listed};

const MAGIC: [u8; 4] = [0x8e, 0xad, 0xe8, 0x01];
/// rpm itself refuses headers with more entries (its `hdrchkTags`).
const MAX_ENTRIES: u32 = 0xffff;
/// The largest store accepted, rpm's own bound too: headers are held
/// whole, so this bounds the memory a package can make the reader take.
const MAX_STORE: u32 = 256 << 20;

/// Entry data types (rpm's `rpmTagType`).
const INT16: u32 = 3;
const INT32: u32 = 4;
const INT64: u32 = 5;
const STRING: u32 = 6;
const STRING_ARRAY: u32 = 8;
const I18NSTRING: u32 = 9;

/// A header, kept whole: the signature header's digests cover its bytes.
pub(super) struct Header {
    /// `"signature header"` or `"header"`, for errors.
    what: &'static str,
    /// Where its preamble starts in the package.
    offset: u64,
    /// Preamble, index and store, as read.
    bytes: Vec<u8>,
    entries: usize,
}

/// One index entry (checked by [`Header::check`] once read).
#[derive(Clone, Copy)]
struct Entry {
    index: usize,
    tag: u32,
    ty: u32,
    offset: usize,
    count: usize,
}

impl Header {
    /// Reads a header at the reader's position, checking its preamble
    /// before anything is allocated and every index entry after.
    pub(super) fn read<R: Read>(
        src: &mut Source<R>,
        what: &'static str,
    ) -> Result<Header, RpmError> {
        let offset = src.pos();
        let mut bytes = Vec::new();
        src.read_into(&mut bytes, 16, what)?;
        let (entries, store) = preamble(&bytes).map_err(|problem| RpmError::BadHeader {
            what,
            offset,
            problem,
        })?;
        // Both bounded above: at most 1 MiB of index and 256 MiB of store,
        // and read_into only grows the buffer as data actually arrives.
        src.read_into(&mut bytes, entries * 16 + store, what)?;
        let header = Header {
            what,
            offset,
            bytes,
            entries,
        };
        for i in 0..entries {
            header.check(header.entry(i))?;
        }
        Ok(header)
    }

    /// The header's bytes, preamble to store: what its digests cover.
    pub(super) fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    fn store(&self) -> &[u8] {
        &self.bytes[16 + self.entries * 16..]
    }

    fn entry(&self, index: usize) -> Entry {
        let at = 16 + index * 16;
        let word = |i: usize| be32(&self.bytes[at + i * 4..]);
        Entry {
            index,
            tag: word(0),
            ty: word(1),
            offset: word(2) as usize,
            count: word(3) as usize,
        }
    }

    fn bad(&self, e: Entry, problem: String) -> RpmError {
        RpmError::BadHeader {
            what: self.what,
            offset: self.offset + 16 + e.index as u64 * 16,
            problem: format!("entry {} (tag {}): {problem}", e.index, e.tag),
        }
    }

    /// Checks what can be checked in constant time: the type, and that
    /// fixed-size data is aligned and inside the store. Strings are
    /// checked when read (walking them all here could take quadratic
    /// time on entries sharing one long run of strings).
    fn check(&self, e: Entry) -> Result<(), RpmError> {
        let store = self.store().len();
        if e.ty > I18NSTRING {
            return Err(self.bad(e, format!("unknown type {}", e.ty)));
        }
        if e.offset > store {
            return Err(self.bad(
                e,
                format!("offset {} past the {store}-byte store", e.offset),
            ));
        }
        let Some(width) = width(e.ty) else {
            return Ok(());
        };
        if e.offset % width != 0 {
            return Err(self.bad(e, format!("offset {} not aligned", e.offset)));
        }
        if e.count as u64 * width as u64 > (store - e.offset) as u64 {
            return Err(self.bad(e, format!("{} values overrun the store", e.count)));
        }
        Ok(())
    }

    fn find(&self, tag: u32) -> Option<Entry> {
        (0..self.entries)
            .map(|i| self.entry(i))
            .find(|e| e.tag == tag)
    }

    /// The NUL-terminated string at `at` in the store, and where the next
    /// one starts.
    fn cstr(&self, e: Entry, at: usize) -> Result<(&[u8], usize), RpmError> {
        let rest = self.store().get(at..).unwrap_or_default();
        let len = memchr::memchr(0, rest)
            .ok_or_else(|| self.bad(e, "string runs past the store".into()))?;
        Ok((&rest[..len], at + len + 1))
    }

    /// A string tag (the first string of an internationalized one), or
    /// `None` when the header has no such tag.
    pub(super) fn string(&self, tag: u32) -> Result<Option<String>, RpmError> {
        let Some(e) = self.find(tag) else {
            return Ok(None);
        };
        if e.ty != STRING && e.ty != I18NSTRING {
            return Err(self.bad(e, format!("type {}, not a string", e.ty)));
        }
        let (s, _) = self.cstr(e, e.offset)?;
        Ok(Some(String::from_utf8_lossy(s).into_owned()))
    }

    /// The string at store offset `at`, which [`Header::each_string`]
    /// gave (so it ends inside the store).
    fn bytes_at(&self, at: u32) -> &[u8] {
        let rest = self.store().get(at as usize..).unwrap_or_default();
        &rest[..memchr::memchr(0, rest).unwrap_or(rest.len())]
    }

    /// Walks a string array, giving `f` each string's index and store
    /// offset once checked to end inside the store; returns the count, or
    /// `None` when the header has no such tag.
    fn each_string(
        &self,
        tag: u32,
        mut f: impl FnMut(usize, u32),
    ) -> Result<Option<usize>, RpmError> {
        let Some(e) = self.find(tag) else {
            return Ok(None);
        };
        if e.ty != STRING_ARRAY {
            return Err(self.bad(e, format!("type {}, not a string array", e.ty)));
        }
        // Each string takes a byte at least: a count the store cannot hold
        // is refused before anything is allocated for it.
        if e.count > self.store().len() - e.offset {
            return Err(self.bad(e, format!("{} strings overrun the store", e.count)));
        }
        let mut at = e.offset;
        for i in 0..e.count {
            let next = self.cstr(e, at)?.1;
            // Store offsets fit in u32: the store is at most 256 MiB.
            f(i, at as u32);
            at = next;
        }
        Ok(Some(e.count))
    }

    /// An integer array tag (16, 32 or 64 bits), or `None` when absent.
    fn numbers(&self, tag: u32) -> Result<Option<Numbers<'_>>, RpmError> {
        let Some(e) = self.find(tag) else {
            return Ok(None);
        };
        let width = match e.ty {
            INT16 | INT32 | INT64 => width(e.ty).unwrap_or(1),
            _ => return Err(self.bad(e, format!("type {}, not an integer", e.ty))),
        };
        // In bounds: check() saw this entry.
        let data = &self.store()[e.offset..e.offset + e.count * width];
        Ok(Some(Numbers { data, width }))
    }
}

/// The index entry count and store size of a preamble, within bounds.
fn preamble(p: &[u8]) -> Result<(usize, usize), String> {
    if p[..4] != MAGIC {
        return Err(format!("bad magic {:02x?}", &p[..4]));
    }
    let (entries, store) = (be32(&p[8..]), be32(&p[12..]));
    if entries == 0 || entries > MAX_ENTRIES {
        return Err(format!(
            "{entries} index entries (1 to {MAX_ENTRIES} allowed)"
        ));
    }
    if store > MAX_STORE {
        return Err(format!("{store}-byte store (at most {MAX_STORE})"));
    }
    Ok((entries as usize, store as usize))
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// The size of one value of fixed-size types (CHAR, INT8…INT64, BIN).
fn width(ty: u32) -> Option<usize> {
    match ty {
        1 | 2 | 7 => Some(1),
        INT16 => Some(2),
        INT32 => Some(4),
        INT64 => Some(8),
        _ => None,
    }
}

/// An integer array in the store, read in place.
#[derive(Clone, Copy)]
struct Numbers<'h> {
    data: &'h [u8],
    width: usize,
}

impl Numbers<'_> {
    fn len(&self) -> usize {
        self.data.len() / self.width
    }

    fn get(&self, i: usize) -> u64 {
        let b = &self.data[i * self.width..(i + 1) * self.width];
        b.iter().fold(0, |n, &byte| n << 8 | u64::from(byte))
    }
}

/// Header tags of the file list.
const FILESIZES: u32 = 1028;
const FILEMODES: u32 = 1030;
const FILEFLAGS: u32 = 1037;
const FILEDEVICES: u32 = 1095;
const FILEINODES: u32 = 1096;
const DIRINDEXES: u32 = 1116;
const BASENAMES: u32 = 1117;
const DIRNAMES: u32 = 1118;
const LONGFILESIZES: u32 = 5008;
const FILEDIGESTS: u32 = 1035;
const FILEDIGESTALGO: u32 = 5011;
/// `%ghost` files are listed but never in the payload.
const GHOST: u64 = 1 << 6;
const S_IFMT: u32 = 0o170000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;

/// The header's file list, for the stripped cpio format whose entries
/// give only a file's index in it. Names are kept as store offsets, not
/// copies: its memory is a fraction of the header's.
pub(super) struct FileTable<'h> {
    header: &'h Header,
    basenames: Vec<u32>,
    dirindexes: Numbers<'h>,
    /// Store offsets of the directory names files use (not of all: a
    /// header may list more directories than files).
    dirs: HashMap<u64, u32>,
    modes: Numbers<'h>,
    sizes: Numbers<'h>,
    /// Regular files whose content is not in the payload after their own
    /// entry: hard links but the last of their set, which carries it.
    empty_links: HashSet<usize>,
}

/// A file of the table, as its stripped entry stands for it.
pub(super) struct TableFile {
    pub(super) path: Vec<u8>,
    pub(super) mode: u32,
    /// The bytes following its entry in the payload.
    pub(super) size: u64,
    /// Whether those bytes are the file's content (a regular file, and the
    /// last of its hard link set).
    pub(super) content: bool,
}

impl<'h> FileTable<'h> {
    /// Reads the file list: names, modes and sizes (64-bit when any file
    /// is 4 GiB or more), device and inode numbers for hard links.
    pub(super) fn new(h: &'h Header) -> Result<Self, RpmError> {
        let mut basenames = Vec::new();
        h.each_string(BASENAMES, |_, at| basenames.push(at))?
            .ok_or(RpmError::MissingTag {
                tag: BASENAMES,
                name: "BASENAMES",
            })?;
        let n = basenames.len();
        let sizes = match h.find(LONGFILESIZES) {
            Some(_) => file_array(h, LONGFILESIZES, "LONGFILESIZES", n)?,
            None => file_array(h, FILESIZES, "FILESIZES", n)?,
        };
        let modes = file_array(h, FILEMODES, "FILEMODES", n)?;
        let dirindexes = file_array(h, DIRINDEXES, "DIRINDEXES", n)?;
        Ok(FileTable {
            header: h,
            dirs: used_dirs(h, dirindexes)?,
            empty_links: empty_links(h, modes)?,
            basenames,
            dirindexes,
            modes,
            sizes,
        })
    }

    /// How many files the header lists.
    pub(super) fn len(&self) -> usize {
        self.basenames.len()
    }

    /// File `i` of the list, `None` past its end.
    pub(super) fn get(&self, i: usize) -> Option<TableFile> {
        if i >= self.len() {
            return None;
        }
        let mode = self.modes.get(i) as u32;
        let size = self.sizes.get(i);
        let (size, content) = match mode & S_IFMT {
            S_IFREG if self.empty_links.contains(&i) => (0, false),
            S_IFREG => (size, true),
            // A symlink's target is in the payload, as its data.
            S_IFLNK => (size, false),
            _ => (0, false),
        };
        Some(TableFile {
            path: self.path(i),
            mode,
            size,
            content,
        })
    }

    fn path(&self, i: usize) -> Vec<u8> {
        let string = |at: u32| self.header.bytes_at(at);
        // Every file's directory is in `dirs`: used_dirs checked them all.
        let dir = self.dirs.get(&self.dirindexes.get(i)).copied();
        let mut path = dir.map(string).unwrap_or_default().to_vec();
        path.extend_from_slice(string(self.basenames[i]));
        path
    }
}

/// The digests the header lists for its regular files (`FILEDIGESTS`, in
/// the algorithm `FILEDIGESTALGO` names, MD5 without it), by path
/// without a leading `/`; `None` when it lists none, or in an algorithm
/// no kernel package uses.
pub(super) fn file_digests(h: &Header) -> Result<Option<HashMap<String, Listed>>, RpmError> {
    let algorithm = match h.numbers(FILEDIGESTALGO)? {
        None => Some(Algorithm::Md5),
        Some(n) if n.len() == 1 => Algorithm::from_rpm(n.get(0)),
        Some(n) => {
            return Err(RpmError::BadHeader {
                what: h.what,
                offset: h.offset,
                problem: format!("FILEDIGESTALGO has {} values", n.len()),
            })
        }
    };
    let (Some(algorithm), Some(_)) = (algorithm, h.find(FILEDIGESTS)) else {
        return Ok(None);
    };
    let table = FileTable::new(h)?;
    let mut digests = Vec::new();
    h.each_string(FILEDIGESTS, |_, at| digests.push(at))?;
    if digests.len() != table.len() {
        return Err(RpmError::BadHeader {
            what: h.what,
            offset: h.offset,
            problem: format!(
                "FILEDIGESTS has {} values for {} files",
                digests.len(),
                table.len()
            ),
        });
    }
    let mut by_path = HashMap::new();
    for (i, &at) in digests.iter().enumerate() {
        let hex = String::from_utf8_lossy(h.bytes_at(at));
        // Directories, links and ghosts have none.
        if hex.is_empty() {
            continue;
        }
        let path = table.path(i);
        let path = String::from_utf8_lossy(&path);
        let listed = Listed {
            algorithm,
            hex: hex.to_ascii_lowercase(),
        };
        by_path.insert(path.trim_start_matches('/').to_string(), listed);
    }
    Ok(Some(by_path))
}

/// A per-file integer array, which must have one value for each file.
fn file_array<'h>(
    h: &'h Header,
    tag: u32,
    name: &'static str,
    files: usize,
) -> Result<Numbers<'h>, RpmError> {
    let v = h.numbers(tag)?.ok_or(RpmError::MissingTag { tag, name })?;
    if v.len() != files {
        return Err(RpmError::BadHeader {
            what: h.what,
            offset: h.offset,
            problem: format!("{name} has {} values for {files} files", v.len()),
        });
    }
    Ok(v)
}

/// Store offsets of the directory names the files use, found in one walk
/// over the names.
fn used_dirs(h: &Header, dirindexes: Numbers<'_>) -> Result<HashMap<u64, u32>, RpmError> {
    let mut dirs: HashMap<u64, u32> = (0..dirindexes.len())
        .map(|i| (dirindexes.get(i), u32::MAX))
        .collect();
    let count = h
        .each_string(DIRNAMES, |i, at| {
            if let Some(d) = dirs.get_mut(&(i as u64)) {
                *d = at;
            }
        })?
        .ok_or(RpmError::MissingTag {
            tag: DIRNAMES,
            name: "DIRNAMES",
        })?;
    if let Some(d) = dirs.keys().find(|&&d| d >= count as u64) {
        return Err(RpmError::BadHeader {
            what: h.what,
            offset: h.offset,
            problem: format!("DIRINDEXES names directory {d} of {count}"),
        });
    }
    Ok(dirs)
}

/// Hard links but the last of their set: regular files, not ghosts,
/// sharing device and inode numbers (rpm's grouping). Without those
/// numbers every file stands alone.
fn empty_links(h: &Header, modes: Numbers<'_>) -> Result<HashSet<usize>, RpmError> {
    let n = modes.len();
    let (Some(_), Some(_)) = (h.find(FILEINODES), h.find(FILEDEVICES)) else {
        return Ok(HashSet::new());
    };
    let inodes = file_array(h, FILEINODES, "FILEINODES", n)?;
    let devices = file_array(h, FILEDEVICES, "FILEDEVICES", n)?;
    let flags = h.numbers(FILEFLAGS)?.filter(|f| f.len() == n);
    let linked = |i: usize| {
        let ghost = flags.is_some_and(|f| f.get(i) & GHOST != 0);
        modes.get(i) as u32 & S_IFMT == S_IFREG && !ghost && inodes.get(i) != 0
    };
    let key = |i: usize| (devices.get(i), inodes.get(i));
    let mut last = HashMap::new();
    for i in (0..n).filter(|&i| linked(i)) {
        last.insert(key(i), i);
    }
    Ok((0..n)
        .filter(|&i| linked(i) && last.get(&key(i)) != Some(&i))
        .collect())
}
