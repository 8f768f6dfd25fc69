//! Typed errors. Every malformed input maps to one variant that says what is
//! wrong and where (byte offset within the BTF blob, type id); the file-level
//! loaders wrap them with the path.

use std::fmt;
use std::path::PathBuf;

use crate::{Kind, TypeId};

/// The parts of a BTF blob, for error messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    /// `struct btf_header`: the first `hdr_len` bytes of the blob.
    Header,
    /// The type section (`type_off`, `type_len`): the `struct btf_type`
    /// records.
    Types,
    /// The string section (`str_off`, `str_len`): NUL-terminated names.
    Strings,
    /// The kind-layout section (`layout_off`, `layout_len`) of a 32-byte
    /// header: one `struct btf_layout` per kind number.
    Layout,
}

impl fmt::Display for Section {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Section::Header => "header",
            Section::Types => "type",
            Section::Strings => "string",
            Section::Layout => "kind-layout",
        })
    }
}

/// Everything that can go wrong reading, querying or writing BTF.
///
/// Parse errors name the byte offset within the BTF blob (absolute, header
/// included) and, for record-level problems, the type id; the file loaders
/// wrap them in [`Error::File`] (and [`Error::InSection`] for ELF input) so
/// the `Display` output is one self-contained message. Use [`Error::root`]
/// to match on the underlying variant through those wrappers.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Wraps any error with the file it came from. Wrapping variants print
    /// their inner error (rather than exposing it as `source()`), so one
    /// `Display` is the whole message.
    #[error("{}: {inner}", path.display())]
    File {
        /// The input file, as the caller named it.
        path: PathBuf,
        /// The error itself (possibly an [`Error::InSection`]).
        inner: Box<Error>,
    },
    /// Wraps an error inside an ELF section with the section's file offset.
    #[error("section {name} (file offset {file_offset:#x}): {inner}")]
    InSection {
        /// The ELF section (`.BTF`).
        name: String,
        /// File offset of the section's first byte: add it to the inner
        /// error's offsets, which are relative to the section, to get file
        /// offsets.
        file_offset: u64,
        /// The error, with offsets relative to the start of the section.
        inner: Box<Error>,
    },
    /// An I/O error opening, inspecting, reading or mapping an input; the
    /// loaders wrap it in [`Error::File`] with the path.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The input has no bytes at all (an empty file, or an empty `.BTF`
    /// section).
    #[error("empty input")]
    Empty,
    /// An input path names something other than a regular file.
    #[error("{kind}, not a regular file")]
    NotRegularFile {
        /// What the path is instead, e.g. `"a directory"`, `"a FIFO"` or
        /// `"a character device"`.
        kind: &'static str,
    },
    /// An input is larger than its kind allows (see [`crate::input::Limit`]).
    /// The read stops at the cap, whatever size `stat` reports.
    #[error("{what} larger than {max} bytes")]
    InputTooLarge {
        /// What the input is ([`Limit::what`](crate::input::Limit::what)).
        what: &'static str,
        /// The cap, in bytes.
        max: u64,
    },
    /// The first two bytes are not the BTF magic 0xeb9f in either byte
    /// order: the input is not raw BTF.
    #[error("at offset 0: bad magic {found:#06x}, not BTF (expected 0xeb9f in either byte order)")]
    BadMagic {
        /// The first two bytes, read as a little-endian `u16`.
        found: u16,
    },
    /// The header's `version` byte is not 1, the only BTF version the
    /// kernel and libbpf define.
    #[error("at offset 2: unsupported BTF version {version}")]
    BadVersion {
        /// The version byte found at offset 2.
        version: u8,
    },
    /// Header flags: none is defined.
    #[error("at offset 3: header flags {flags:#04x} set, but no BTF flag is defined")]
    UnsupportedFlags {
        /// The flags byte found at offset 3 (non-zero).
        flags: u8,
    },
    /// The magic's byte order and the header's disagree.
    #[error("at offset 4: header length {hdr_len} in the magic's byte order, {swapped} in the other: the magic does not match the byte order of the rest")]
    MixedByteOrder {
        /// `hdr_len` read in the byte order the magic indicates (over 32).
        hdr_len: u32,
        /// `hdr_len` read in the other byte order: 24 or 32, a valid
        /// length.
        swapped: u32,
    },
    /// The input ends before the header does: a single byte, shorter than
    /// the 8 bytes that hold the magic, version, flags and `hdr_len`, or
    /// shorter than `hdr_len`.
    #[error("truncated header: need {need} bytes at offset 0, input has {have}")]
    TruncatedHeader {
        /// Bytes needed from offset 0.
        need: usize,
        /// Bytes the input holds.
        have: usize,
    },
    /// `hdr_len` is below 24 or between 24 and 32: neither the classic
    /// header nor the header with the kind-layout fields. (Lengths above
    /// 32 are accepted when the extra bytes are zero; see
    /// [`Error::UnknownHeaderField`].)
    #[error(
        "at offset 4: header length {hdr_len} not supported (24 classic, 32 with kind layout)"
    )]
    BadHeaderLen {
        /// The `hdr_len` found at offset 4.
        hdr_len: u32,
    },
    /// The header is longer than the 32 bytes this reader knows and one of
    /// the extra bytes is non-zero: a field of a newer format that is not
    /// safe to ignore (the kernel refuses such headers too).
    #[error("at offset {offset:#x}: non-zero header byte beyond the fields this reader knows")]
    UnknownHeaderField {
        /// Offset of the first non-zero byte past the known fields.
        offset: usize,
    },
    /// A section the header describes (`hdr_len + off`, `len`) ends past
    /// the end of the input.
    #[error("{section} section [{start:#x}, {end:#x}) lies outside the input of {len} bytes")]
    SectionOutOfBounds {
        /// The section.
        section: Section,
        /// Offset of its first byte in the blob.
        start: u64,
        /// Offset one past its last byte.
        end: u64,
        /// Length of the input, in bytes.
        len: usize,
    },
    /// Two non-empty sections share bytes.
    #[error(
        "{a} section [{a_start:#x}, {a_end:#x}) overlaps {b} section [{b_start:#x}, {b_end:#x})"
    )]
    SectionsOverlap {
        /// The first section, in header order (types, strings, layout).
        a: Section,
        /// Offset of `a`'s first byte in the blob.
        a_start: usize,
        /// Offset one past `a`'s last byte.
        a_end: usize,
        /// The section `a` overlaps.
        b: Section,
        /// Offset of `b`'s first byte in the blob.
        b_start: usize,
        /// Offset one past `b`'s last byte.
        b_end: usize,
    },
    /// `type_off`, or `layout_off` of a non-empty kind-layout section, is
    /// not a multiple of 4.
    #[error("{section} section at offset {offset:#x} is not 4-byte aligned")]
    Misaligned {
        /// The section ([`Section::Types`] or [`Section::Layout`]).
        section: Section,
        /// Offset of the section in the blob (`hdr_len + off`).
        offset: usize,
    },
    /// A section's length is not a whole number of its units: a kind-layout
    /// section that is not a multiple of 4 bytes (one `struct btf_layout`
    /// each), or the type section of big-endian input that is not a
    /// multiple of 4 bytes (it is byte-swapped word by word).
    #[error("{section} section at offset {offset:#x}: length {len} is not a multiple of {unit}")]
    BadSectionLen {
        /// The section.
        section: Section,
        /// Offset of the section in the blob.
        offset: usize,
        /// Its length, in bytes.
        len: usize,
        /// The unit its length must be a multiple of, in bytes.
        unit: usize,
    },
    /// Base BTF with an empty string section: it must hold at least the
    /// empty string at offset 0. (Split BTF may add no strings.)
    #[error("string section at offset {offset:#x} is empty")]
    StringsEmpty {
        /// Offset of the string section in the blob.
        offset: usize,
    },
    /// Base BTF whose string section does not start with a NUL: offset 0
    /// must be the empty string, the name of anonymous types.
    #[error("string section at offset {offset:#x} does not start with the empty string")]
    StringsNoLeadingNul {
        /// Offset of the string section in the blob.
        offset: usize,
    },
    /// The string section's last byte is not NUL, so its last string would
    /// run off the end.
    #[error("string section is not NUL-terminated (last byte at offset {offset:#x})")]
    StringsUnterminated {
        /// Offset of the section's last byte in the blob.
        offset: usize,
    },
    /// A record of base BTF holds a string offset at or past the end of the
    /// string section (found at parse time; for split BTF the same problem
    /// is reported as [`Error::BaseMismatch`]).
    #[error("type id {id} at offset {offset:#x}: {what} string offset {str_off} out of range (strings end at {limit})")]
    StringOffsetOutOfRange {
        /// The type whose record holds the offset.
        id: TypeId,
        /// Offset of that record in the blob.
        offset: usize,
        /// Which field: `"name"` (the type's own) or
        /// `"member/value/param name"`.
        what: &'static str,
        /// The out-of-range string offset.
        str_off: u32,
        /// One past the last valid string offset ([`Btf::str_end`](crate::Btf::str_end)).
        limit: u32,
    },
    /// A string lookup ([`Btf::str_bytes`](crate::Btf::str_bytes),
    /// [`Btf::str_at`](crate::Btf::str_at)) with an offset outside the
    /// string sections. Offsets read from a parsed BTF's records never
    /// cause it: they are checked at parse time.
    #[error("string offset {str_off} out of range (strings end at {limit})")]
    BadStringOffset {
        /// The offset asked for.
        str_off: u32,
        /// One past the last valid string offset, base included.
        limit: u32,
    },
    /// [`Btf::str_at`](crate::Btf::str_at): the string is not valid UTF-8.
    /// BTF does not require UTF-8; [`Btf::str_bytes`](crate::Btf::str_bytes)
    /// returns the raw bytes.
    #[error("string at offset {str_off} is not valid UTF-8")]
    InvalidUtf8 {
        /// Offset of the string.
        str_off: u32,
    },
    /// A record of base BTF refers to a type id past the last type (found
    /// at parse time; for split BTF the same problem is reported as
    /// [`Error::BaseMismatch`]).
    #[error("type id {id} at offset {offset:#x}: references type id {target}, but the last type id is {max}")]
    TypeIdOutOfRange {
        /// The type whose record holds the reference.
        id: TypeId,
        /// Offset of that record in the blob.
        offset: usize,
        /// The referenced id.
        target: u32,
        /// The last valid type id.
        max: u32,
    },
    /// A record's kind is 0 (reserved), or a kind number this reader does
    /// not know (above 19, `BTF_KIND_ENUM64`) that no kind-layout entry
    /// describes, so the record's size, and where the next one starts, is
    /// unknown.
    #[error("type id {id} at offset {offset:#x}: unknown kind {kind} and no kind-layout entry describes it")]
    UnknownKind {
        /// The id the record would have.
        id: TypeId,
        /// Offset of the record in the blob.
        offset: usize,
        /// The kind number from `info` bits 24-30.
        kind: u8,
    },
    /// A record (12-byte `struct btf_type`, its kind's fixed part and
    /// `vlen` elements) runs past the end of the type section.
    #[error("type id {id} at offset {offset:#x}: record of {need} bytes (vlen {vlen}) runs past the end of the type section ({avail} bytes left)")]
    TypeTruncated {
        /// The id the record would have.
        id: TypeId,
        /// Offset of the record in the blob.
        offset: usize,
        /// The record's vlen (0 when even its 12-byte header is cut off).
        vlen: u32,
        /// Bytes the record needs.
        need: u64,
        /// Bytes left in the type section from the record's start.
        avail: usize,
    },
    /// The type section holds more records than type ids can number: the
    /// last id must stay below `i32::MAX` (libbpf's `BTF_MAX_NR_TYPES`).
    #[error("type section holds more types than BTF can number ({count})")]
    TooManyTypes {
        /// Records in the type section.
        count: u64,
    },
    /// [`Btf::type_by_id`](crate::Btf::type_by_id) with an id past the last
    /// type (base included). Ids read from a parsed BTF's records never
    /// cause it.
    #[error("type id {id}: no such type (last type id is {max})")]
    NoSuchType {
        /// The id asked for.
        id: TypeId,
        /// The last valid type id.
        max: u32,
    },
    /// A query following a chain of modifiers, typedefs, arrays or
    /// anonymous members ([`Btf::resolve_size`](crate::Btf::resolve_size),
    /// [`Btf::skip_mods_and_typedefs`](crate::Btf::skip_mods_and_typedefs),
    /// [`Btf::find_member`](crate::Btf::find_member), ...) went deeper than
    /// [`MAX_CHAIN`](crate::MAX_CHAIN) links: a reference cycle (which
    /// parse-time validation rejects, unless
    /// [`ParseOptions::validate`](crate::ParseOptions::validate) was off) or
    /// a chain longer than that limit.
    #[error("type id {id}: reference cycle, or chain deeper than {limit}, through modifiers, typedefs and arrays")]
    ReferenceCycle {
        /// The type the query started from.
        id: TypeId,
        /// The chain limit, [`MAX_CHAIN`](crate::MAX_CHAIN).
        limit: u32,
    },
    /// A query was given (or reached) a type of the wrong kind: the size
    /// of a function, the members of an int, the values of a struct.
    #[error("type id {id}: expected {expected}, found {found}")]
    UnexpectedKind {
        /// The offending type.
        id: TypeId,
        /// What the query needed, e.g. `"struct or union"`.
        expected: &'static str,
        /// The kind it has.
        found: Kind,
    },
    /// A type breaks one of the kernel's BTF rules (see `validate`).
    #[error("type id {id} at offset {offset:#x} ({kind} {name:?}): {reason}")]
    InvalidType {
        /// The offending type.
        id: TypeId,
        /// Offset of its record in the blob.
        offset: usize,
        /// Its kind.
        kind: Kind,
        /// Its name (`"?"` when it cannot be read).
        name: String,
        /// The rule it breaks, in words (naming the member first, for a
        /// member's problem).
        reason: String,
    },
    /// [`Btf::resolve_size`](crate::Btf::resolve_size): the size (element
    /// count times element size, through nested arrays) exceeds `u32::MAX`
    /// bytes.
    #[error("type id {id}: size overflows")]
    SizeOverflow {
        /// The type whose size was asked for.
        id: TypeId,
    },
    /// Split BTF parsed on a base it was not built against: one of its
    /// string offsets or type ids is out of range, or a name offset points
    /// into the middle of a string.
    #[error("split BTF does not match its base: {reason}")]
    BaseMismatch {
        /// The first evidence found, with its type id and offset.
        reason: String,
    },
    /// The ELF file could not be read (the `object` crate's message), or
    /// its section is compressed, which is not supported.
    #[error("ELF: {0}")]
    Elf(String),
    /// An ELF file without a `.BTF` section (a kernel or object built
    /// without BTF).
    #[error("ELF has no .BTF section")]
    NoBtfSection,
    /// An xz stream or tar archive is corrupt, or decompresses to more
    /// than [`load::MAX_DECOMPRESSED`](crate::load::MAX_DECOMPRESSED)
    /// bytes.
    #[error("archive: {0}")]
    Archive(String),
    /// A tarball holds no member the BTF could be (see
    /// [`load::tar_btf_member`](crate::load::tar_btf_member)).
    #[error("{}", if *regular == 0 { "tarball has no regular file".to_string() } else { format!("tarball has {regular} files and none of them is a .btf file") })]
    TarNoBtf {
        /// Regular files in the tarball (0 for an empty one).
        regular: usize,
    },
    /// A tarball holds two `.btf` members.
    #[error("tarball has two .btf members, {first:?} and {second:?}: which is the kernel's is ambiguous")]
    TarAmbiguous {
        /// Path of the first `.btf` member.
        first: String,
        /// Path of the second.
        second: String,
    },
    /// A tar member's size runs past the end of the archive.
    #[error("tar member {member:?} claims {size} bytes, more than the {len}-byte archive holds")]
    TarMemberTruncated {
        /// Path of the member.
        member: String,
        /// Size its tar header claims, in bytes.
        size: u64,
        /// Size of the whole archive, in bytes.
        len: usize,
    },
    /// [`BtfBuilder`](crate::BtfBuilder) or [`ir::IrBtf::write`](crate::ir::IrBtf::write)
    /// refused to encode something: a string with a NUL, a vlen or type
    /// count past the format's limits, an int wider than 128 bits, a bit
    /// offset too large for the bitfield encoding (24 bits), a kind the
    /// method does not take, a type of unknown kind to copy or rewrite, or
    /// a base that does not match the split types.
    #[error("builder: {0}")]
    Build(String),
}

impl Error {
    /// Attaches a file path to this error.
    pub fn in_file(self, path: impl Into<PathBuf>) -> Error {
        Error::File {
            path: path.into(),
            inner: Box::new(self),
        }
    }

    /// The innermost error, through `File` and `InSection` wrappers.
    pub fn root(&self) -> &Error {
        match self {
            Error::File { inner, .. } | Error::InSection { inner, .. } => inner.root(),
            e => e,
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error and its causes on one line, `: `-separated: how btfkit's
/// commands, reports and progress lines print any error (its causes are
/// its `source()`s, not part of its own text). A cause whose text the line
/// already ends with is not repeated, for errors that print their source
/// themselves (`"...: {source}"`): each thing is said once.
///
/// ```
/// use std::{error::Error, fmt, io};
///
/// #[derive(Debug)]
/// struct Reading(io::Error, bool);
/// impl fmt::Display for Reading {
///     fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
///         match self.1 {
///             false => write!(f, "reading x.btf"),
///             // Some errors print their source themselves.
///             true => write!(f, "reading x.btf: {}", self.0),
///         }
///     }
/// }
/// impl Error for Reading {
///     fn source(&self) -> Option<&(dyn Error + 'static)> {
///         Some(&self.0)
///     }
/// }
///
/// let quiet = Reading(io::Error::other("disk on fire"), false);
/// assert_eq!(btfkit_btf::error_chain(&quiet), "reading x.btf: disk on fire");
/// let echoing = Reading(io::Error::other("disk on fire"), true);
/// assert_eq!(btfkit_btf::error_chain(&echoing), "reading x.btf: disk on fire");
/// ```
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut line = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let text = c.to_string();
        if !line.ends_with(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        cur = c.source();
    }
    line
}
