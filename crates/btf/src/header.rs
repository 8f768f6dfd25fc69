//! `struct btf_header`, classic (24 bytes) and with the kind-layout fields
//! (32 bytes), in either byte order.

use std::borrow::Cow;
use std::ops::Range;

use crate::error::{Error, Result, Section};

/// `BTF_MAGIC`: the first two bytes of every BTF blob, in the blob's byte
/// order (`9f eb` little-endian, `eb 9f` big-endian), which is how the
/// byte order is detected.
pub const BTF_MAGIC: u16 = 0xeb9f;
pub const BTF_VERSION: u8 = 1;
/// `hdr_len` of the classic header.
pub const HEADER_LEN_CLASSIC: u32 = 24;
/// `hdr_len` of the header with `layout_off`/`layout_len`.
pub const HEADER_LEN_LAYOUT: u32 = 32;

/// Byte order of a BTF blob (or of an ELF file wrapping one).
///
/// BTF is written in the byte order of the target it describes; a reader on
/// a host of the other order must swap it, as libbpf does for
/// cross-endian BTF. [`Btf`](crate::Btf) swaps big-endian input once at
/// parse time and keeps the original order in [`Header::endian`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endian {
    /// Little-endian (x86-64, arm64, most BPF targets: `bpfel`).
    Little,
    /// Big-endian (s390x, `bpfeb`).
    Big,
}

impl Endian {
    /// The byte order of the host this code runs on.
    pub fn native() -> Endian {
        if cfg!(target_endian = "big") {
            Endian::Big
        } else {
            Endian::Little
        }
    }
    pub(crate) fn u32(self, b: [u8; 4]) -> u32 {
        match self {
            Endian::Little => u32::from_le_bytes(b),
            Endian::Big => u32::from_be_bytes(b),
        }
    }
    pub(crate) fn put_u16(self, v: u16) -> [u8; 2] {
        match self {
            Endian::Little => v.to_le_bytes(),
            Endian::Big => v.to_be_bytes(),
        }
    }
    pub(crate) fn put_u32(self, v: u32) -> [u8; 4] {
        match self {
            Endian::Little => v.to_le_bytes(),
            Endian::Big => v.to_be_bytes(),
        }
    }
}

/// The decoded header.
///
/// Section offsets (`*_off`) are relative to the end of the header
/// (`hdr_len`), as in the kernel's `struct btf_header`; lengths are in
/// bytes. [`Header::range`] gives absolute byte ranges.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Byte order of the blob, from the magic (not a field of the on-disk
    /// header).
    pub endian: Endian,
    /// `version`: 1, the only version defined ([`Header::parse`] refuses
    /// others).
    pub version: u8,
    /// `flags`: no flag is defined, so [`Header::parse`] refuses any
    /// non-zero value.
    pub flags: u8,
    /// `hdr_len`: size of the header in bytes, 24
    /// ([`HEADER_LEN_CLASSIC`]) or 32 ([`HEADER_LEN_LAYOUT`]); longer
    /// headers are accepted when the extra bytes are zero.
    pub hdr_len: u32,
    /// `type_off`: start of the type section, from the end of the header.
    pub type_off: u32,
    /// `type_len`: size of the type section in bytes.
    pub type_len: u32,
    /// `str_off`: start of the string section, from the end of the header.
    pub str_off: u32,
    /// `str_len`: size of the string section in bytes.
    pub str_len: u32,
    /// `layout_off`: start of the kind-layout section, from the end of
    /// the header. Both 0 in a classic header.
    pub layout_off: u32,
    /// `layout_len`: size of the kind-layout section in bytes (4 per kind
    /// number described; 0 when there is none).
    pub layout_len: u32,
}

impl Header {
    /// Whether the header carries the kind-layout fields (`hdr_len >= 32`).
    pub fn has_layout_fields(&self) -> bool {
        self.hdr_len >= HEADER_LEN_LAYOUT
    }

    /// Absolute byte range of a section within the blob.
    pub fn range(&self, section: Section) -> Range<usize> {
        let (off, len) = match section {
            Section::Header => return 0..self.hdr_len as usize,
            Section::Types => (self.type_off, self.type_len),
            Section::Strings => (self.str_off, self.str_len),
            Section::Layout => (self.layout_off, self.layout_len),
        };
        let start = self.hdr_len as usize + off as usize;
        start..start + len as usize
    }

    /// Detects the byte order from the magic.
    pub fn detect_endian(data: &[u8]) -> Result<Endian> {
        match data {
            [] => Err(Error::Empty),
            [0x9f, 0xeb, ..] => Ok(Endian::Little),
            [0xeb, 0x9f, ..] => Ok(Endian::Big),
            [a, b, ..] => Err(Error::BadMagic {
                found: u16::from_le_bytes([*a, *b]),
            }),
            [_] => Err(Error::TruncatedHeader { need: 2, have: 1 }),
        }
    }

    /// Parses and bounds-checks the header: every section lies inside
    /// `data`, sections do not overlap, alignment holds.
    pub fn parse(data: &[u8]) -> Result<Header> {
        let endian = Self::detect_endian(data)?;
        if data.len() < 8 {
            return Err(Error::TruncatedHeader {
                need: 8,
                have: data.len(),
            });
        }
        let version = data[2];
        if version != BTF_VERSION {
            return Err(Error::BadVersion { version });
        }
        let flags = data[3];
        // No flag is defined; the kernel refuses any.
        if flags != 0 {
            return Err(Error::UnsupportedFlags { flags });
        }
        let word = |off: usize| endian.u32(data[off..off + 4].try_into().expect("4 bytes"));
        let hdr_len = word(4);
        // A header length that is only sensible in the other byte order:
        // the magic and the rest disagree (a hand-edited or mis-converted
        // file), which a length check would report as a huge truncation.
        let swapped = hdr_len.swap_bytes();
        if hdr_len > HEADER_LEN_LAYOUT
            && (swapped == HEADER_LEN_CLASSIC || swapped == HEADER_LEN_LAYOUT)
        {
            return Err(Error::MixedByteOrder { hdr_len, swapped });
        }
        if hdr_len < HEADER_LEN_CLASSIC
            || (hdr_len > HEADER_LEN_CLASSIC && hdr_len < HEADER_LEN_LAYOUT)
        {
            return Err(Error::BadHeaderLen { hdr_len });
        }
        if (data.len() as u64) < hdr_len as u64 {
            return Err(Error::TruncatedHeader {
                need: hdr_len as usize,
                have: data.len(),
            });
        }
        // A newer writer may have appended fields; they are only safe to
        // ignore when zero (the kernel applies the same rule).
        if let Some(pos) = data[HEADER_LEN_LAYOUT.min(hdr_len) as usize..hdr_len as usize]
            .iter()
            .position(|&b| b != 0)
        {
            return Err(Error::UnknownHeaderField {
                offset: HEADER_LEN_LAYOUT as usize + pos,
            });
        }
        let (layout_off, layout_len) = if hdr_len >= HEADER_LEN_LAYOUT {
            (word(24), word(28))
        } else {
            (0, 0)
        };
        let h = Header {
            endian,
            version,
            flags,
            hdr_len,
            type_off: word(8),
            type_len: word(12),
            str_off: word(16),
            str_len: word(20),
            layout_off,
            layout_len,
        };
        h.check_sections(data.len())?;
        Ok(h)
    }

    fn check_sections(&self, len: usize) -> Result<()> {
        let mut spans = Vec::with_capacity(3);
        for (section, off, slen) in [
            (Section::Types, self.type_off, self.type_len),
            (Section::Strings, self.str_off, self.str_len),
            (Section::Layout, self.layout_off, self.layout_len),
        ] {
            let start = self.hdr_len as u64 + off as u64;
            let end = start + slen as u64;
            if end > len as u64 {
                return Err(Error::SectionOutOfBounds {
                    section,
                    start,
                    end,
                    len,
                });
            }
            if slen > 0 {
                spans.push((section, start as usize, end as usize));
            }
        }
        if self.type_off % 4 != 0 {
            return Err(Error::Misaligned {
                section: Section::Types,
                offset: self.hdr_len as usize + self.type_off as usize,
            });
        }
        if self.layout_len > 0 {
            let offset = self.hdr_len as usize + self.layout_off as usize;
            if self.layout_off % 4 != 0 {
                return Err(Error::Misaligned {
                    section: Section::Layout,
                    offset,
                });
            }
            if self.layout_len % 4 != 0 {
                return Err(Error::BadSectionLen {
                    section: Section::Layout,
                    offset,
                    len: self.layout_len as usize,
                    unit: 4,
                });
            }
        }
        for (i, a) in spans.iter().enumerate() {
            for b in &spans[i + 1..] {
                if a.1 < b.2 && b.1 < a.2 {
                    return Err(Error::SectionsOverlap {
                        a: a.0,
                        a_start: a.1,
                        a_end: a.2,
                        b: b.0,
                        b_start: b.1,
                        b_end: b.2,
                    });
                }
            }
        }
        Ok(())
    }

    /// Serializes the header (`hdr_len` bytes) in `endian`.
    pub fn to_bytes(&self, endian: Endian) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.hdr_len as usize);
        out.extend_from_slice(&endian.put_u16(BTF_MAGIC));
        out.push(self.version);
        out.push(self.flags);
        for w in [
            self.hdr_len,
            self.type_off,
            self.type_len,
            self.str_off,
            self.str_len,
        ] {
            out.extend_from_slice(&endian.put_u32(w));
        }
        if self.has_layout_fields() {
            out.extend_from_slice(&endian.put_u32(self.layout_off));
            out.extend_from_slice(&endian.put_u32(self.layout_len));
        }
        out.resize(self.hdr_len as usize, 0);
        out
    }
}

/// Returns `data` in little-endian order: borrowed as is when it already
/// is, otherwise a byte-swapped copy. Every word of the type section is a
/// u32 for all kinds (unknown kinds are assumed to follow the same rule, as
/// their element layout is not known), layout entries are `u8, u8, u16`,
/// strings are bytes.
pub(crate) fn to_little_endian<'a>(data: Cow<'a, [u8]>, h: &Header) -> Result<Cow<'a, [u8]>> {
    if h.endian == Endian::Little {
        return Ok(data);
    }
    let types = h.range(Section::Types);
    if types.len() % 4 != 0 {
        return Err(Error::BadSectionLen {
            section: Section::Types,
            offset: types.start,
            len: types.len(),
            unit: 4,
        });
    }
    let mut v = data.into_owned();
    v[0..2].copy_from_slice(&BTF_MAGIC.to_le_bytes());
    for w in v[4..h.hdr_len as usize].chunks_exact_mut(4) {
        w.reverse();
    }
    for w in v[types].chunks_exact_mut(4) {
        w.reverse();
    }
    for e in v[h.range(Section::Layout)].chunks_exact_mut(4) {
        e[2..4].reverse();
    }
    Ok(Cow::Owned(v))
}
