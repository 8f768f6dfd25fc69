//! Typed errors. Every malformed input maps to one variant that says what is
//! wrong and where (byte offset within the BTF blob, type id); the file-level
//! loaders wrap them with the path.

use std::fmt;
use std::path::PathBuf;

use crate::{Kind, TypeId};

/// The parts of a BTF blob, for error messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    Header,
    Types,
    Strings,
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

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Wraps any error with the file it came from. Wrapping variants print
    /// their inner error (rather than exposing it as `source()`), so one
    /// `Display` is the whole message.
    #[error("{}: {inner}", path.display())]
    File { path: PathBuf, inner: Box<Error> },
    /// Wraps an error inside an ELF section with the section's file offset.
    #[error("section {name} (file offset {file_offset:#x}): {inner}")]
    InSection {
        name: String,
        file_offset: u64,
        inner: Box<Error>,
    },
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("empty input")]
    Empty,
    /// An input path names something other than a regular file.
    #[error("{kind}, not a regular file")]
    NotRegularFile { kind: &'static str },
    /// An input is larger than its kind allows (see `input::Limit`).
    #[error("{what} larger than {max} bytes")]
    InputTooLarge { what: &'static str, max: u64 },
    #[error("at offset 0: bad magic {found:#06x}, not BTF (expected 0xeb9f in either byte order)")]
    BadMagic { found: u16 },
    #[error("at offset 2: unsupported BTF version {version}")]
    BadVersion { version: u8 },
    /// Header flags: none is defined.
    #[error("at offset 3: header flags {flags:#04x} set, but no BTF flag is defined")]
    UnsupportedFlags { flags: u8 },
    /// The magic's byte order and the header's disagree.
    #[error("at offset 4: header length {hdr_len} in the magic's byte order, {swapped} in the other: the magic does not match the byte order of the rest")]
    MixedByteOrder { hdr_len: u32, swapped: u32 },
    #[error("truncated header: need {need} bytes at offset 0, input has {have}")]
    TruncatedHeader { need: usize, have: usize },
    #[error(
        "at offset 4: header length {hdr_len} not supported (24 classic, 32 with kind layout)"
    )]
    BadHeaderLen { hdr_len: u32 },
    #[error("at offset {offset:#x}: non-zero header byte beyond the fields this reader knows")]
    UnknownHeaderField { offset: usize },
    #[error("{section} section [{start:#x}, {end:#x}) lies outside the input of {len} bytes")]
    SectionOutOfBounds {
        section: Section,
        start: u64,
        end: u64,
        len: usize,
    },
    #[error(
        "{a} section [{a_start:#x}, {a_end:#x}) overlaps {b} section [{b_start:#x}, {b_end:#x})"
    )]
    SectionsOverlap {
        a: Section,
        a_start: usize,
        a_end: usize,
        b: Section,
        b_start: usize,
        b_end: usize,
    },
    #[error("{section} section at offset {offset:#x} is not 4-byte aligned")]
    Misaligned { section: Section, offset: usize },
    #[error("{section} section at offset {offset:#x}: length {len} is not a multiple of {unit}")]
    BadSectionLen {
        section: Section,
        offset: usize,
        len: usize,
        unit: usize,
    },
    #[error("string section at offset {offset:#x} is empty")]
    StringsEmpty { offset: usize },
    #[error("string section at offset {offset:#x} does not start with the empty string")]
    StringsNoLeadingNul { offset: usize },
    #[error("string section is not NUL-terminated (last byte at offset {offset:#x})")]
    StringsUnterminated { offset: usize },
    #[error("type id {id} at offset {offset:#x}: {what} string offset {str_off} out of range (strings end at {limit})")]
    StringOffsetOutOfRange {
        id: TypeId,
        offset: usize,
        what: &'static str,
        str_off: u32,
        limit: u32,
    },
    #[error("string offset {str_off} out of range (strings end at {limit})")]
    BadStringOffset { str_off: u32, limit: u32 },
    #[error("string at offset {str_off} is not valid UTF-8")]
    InvalidUtf8 { str_off: u32 },
    #[error("type id {id} at offset {offset:#x}: references type id {target}, but the last type id is {max}")]
    TypeIdOutOfRange {
        id: TypeId,
        offset: usize,
        target: u32,
        max: u32,
    },
    #[error("type id {id} at offset {offset:#x}: unknown kind {kind} and no kind-layout entry describes it")]
    UnknownKind { id: TypeId, offset: usize, kind: u8 },
    #[error("type id {id} at offset {offset:#x}: record of {need} bytes (vlen {vlen}) runs past the end of the type section ({avail} bytes left)")]
    TypeTruncated {
        id: TypeId,
        offset: usize,
        vlen: u32,
        need: u64,
        avail: usize,
    },
    #[error("type section holds more types than BTF can number ({count})")]
    TooManyTypes { count: u64 },
    #[error("type id {id}: no such type (last type id is {max})")]
    NoSuchType { id: TypeId, max: u32 },
    #[error("type id {id}: reference cycle, or chain deeper than {limit}, through modifiers, typedefs and arrays")]
    ReferenceCycle { id: TypeId, limit: u32 },
    #[error("type id {id}: expected {expected}, found {found}")]
    UnexpectedKind {
        id: TypeId,
        expected: &'static str,
        found: Kind,
    },
    /// A type breaks one of the kernel's BTF rules (see `validate`).
    #[error("type id {id} at offset {offset:#x} ({kind} {name:?}): {reason}")]
    InvalidType {
        id: TypeId,
        offset: usize,
        kind: Kind,
        name: String,
        reason: String,
    },
    #[error("type id {id}: size overflows")]
    SizeOverflow { id: TypeId },
    #[error("split BTF does not match its base: {reason}")]
    BaseMismatch { reason: String },
    #[error("ELF: {0}")]
    Elf(String),
    #[error("ELF has no .BTF section")]
    NoBtfSection,
    #[error("archive: {0}")]
    Archive(String),
    /// A tarball holds no member the BTF could be (see
    /// `load::tar_btf_member`).
    #[error("{}", if *regular == 0 { "tarball has no regular file".to_string() } else { format!("tarball has {regular} files and none of them is a .btf file") })]
    TarNoBtf { regular: usize },
    /// A tarball holds two `.btf` members.
    #[error("tarball has two .btf members, {first:?} and {second:?}: which is the kernel's is ambiguous")]
    TarAmbiguous { first: String, second: String },
    /// A tar member's size runs past the end of the archive.
    #[error("tar member {member:?} claims {size} bytes, more than the {len}-byte archive holds")]
    TarMemberTruncated {
        member: String,
        size: u64,
        len: usize,
    },
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

pub type Result<T, E = Error> = std::result::Result<T, E>;
