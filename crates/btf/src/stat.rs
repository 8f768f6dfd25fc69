//! Summary statistics of a BTF: header fields, section sizes, counts per
//! kind, strings.

use crate::btf::Btf;
use crate::header::Header;
use crate::kind::Kind;

/// Summary of one BTF, as [`Btf::stats`] computes it (what `btfkit btf
/// stat` prints). Counts cover this BTF's own types and strings, not its
/// base's.
#[derive(Clone, Debug)]
pub struct Stats {
    /// The header as parsed.
    pub header: Header,
    /// Whether the BTF is split (parsed on a base).
    pub split: bool,
    /// Id of the first own type: 1 for base BTF, one past the base's last
    /// id for split BTF.
    pub first_id: u32,
    /// Number of own types (void not counted).
    pub type_count: usize,
    /// (kind, count) for every kind present, in kind-number order.
    pub kinds: Vec<(Kind, usize)>,
    /// Number of strings in this BTF's own string section (the empty
    /// string at offset 0 included).
    pub string_count: usize,
    /// Size of the own string section in bytes.
    pub string_bytes: usize,
    /// Types with a non-empty name.
    pub named_types: usize,
    /// Entries of the kind-layout section (0 without one).
    pub layout_entries: usize,
}

impl Btf<'_> {
    /// Header fields, section sizes and per-kind counts of this BTF's own
    /// types. One pass over the types.
    pub fn stats(&self) -> Stats {
        let mut counts = [0usize; 128];
        let mut named = 0;
        for t in self.types() {
            counts[t.kind().to_raw() as usize] += 1;
            if t.name_off() != 0 {
                named += 1;
            }
        }
        let kinds = counts
            .iter()
            .enumerate()
            .filter(|(_, &c)| c > 0)
            .map(|(k, &c)| (Kind::from_raw(k as u8), c))
            .collect();
        let strs = self.strings_section();
        Stats {
            header: *self.header(),
            split: self.is_split(),
            first_id: self.first_id().0,
            type_count: self.len(),
            kinds,
            string_count: memchr::memchr_iter(0, strs).count(),
            string_bytes: strs.len(),
            named_types: named,
            layout_entries: self.kind_layouts().map_or(0, <[_]>::len),
        }
    }
}
