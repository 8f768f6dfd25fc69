//! The kind-layout section (2026 header): one `struct btf_layout` per kind
//! number, telling a reader how many bytes follow `struct btf_type` for kinds
//! it does not know, so it can step over them.

use crate::kind::{Kind, NR_KNOWN_KINDS};

/// `struct btf_layout`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct KindLayout {
    /// Bytes of the single fixed element after `struct btf_type`.
    pub info_sz: u8,
    /// Bytes of each of the vlen elements.
    pub elem_sz: u8,
    /// Flags of the kind's layout entry. This reader does not interpret
    /// them; they are kept as read and written back unchanged (0 in the
    /// table btfkit writes).
    pub flags: u16,
}

impl KindLayout {
    pub(crate) fn decode(e: &[u8]) -> KindLayout {
        KindLayout {
            info_sz: e[0],
            elem_sz: e[1],
            flags: u16::from_le_bytes([e[2], e[3]]),
        }
    }

    pub(crate) fn encode(&self) -> [u8; 4] {
        let f = self.flags.to_le_bytes();
        [self.info_sz, self.elem_sz, f[0], f[1]]
    }

    /// The layout of a kind this crate knows (`None` for unknown kinds).
    pub fn of_known(kind: Kind) -> Option<KindLayout> {
        let kind = match kind {
            Kind::Void => {
                return Some(KindLayout::default());
            }
            k => k,
        };
        Some(KindLayout {
            info_sz: kind.info_size()? as u8,
            elem_sz: kind.elem_size()? as u8,
            flags: 0,
        })
    }

    /// The table a writer emits: an entry for every known kind, kind 0
    /// included.
    pub fn known_table() -> Vec<KindLayout> {
        (0..NR_KNOWN_KINDS)
            .map(|k| KindLayout::of_known(Kind::from_raw(k)).expect("known kind"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_table_matches_uapi_sizes() {
        let t = KindLayout::known_table();
        assert_eq!(t.len(), 20);
        assert_eq!((t[1].info_sz, t[1].elem_sz), (4, 0)); // int
        assert_eq!((t[3].info_sz, t[3].elem_sz), (12, 0)); // array
        assert_eq!((t[4].info_sz, t[4].elem_sz), (0, 12)); // struct
        assert_eq!((t[6].info_sz, t[6].elem_sz), (0, 8)); // enum
        assert_eq!((t[13].info_sz, t[13].elem_sz), (0, 8)); // func_proto
        assert_eq!((t[14].info_sz, t[14].elem_sz), (4, 0)); // var
        assert_eq!((t[17].info_sz, t[17].elem_sz), (4, 0)); // decl_tag
        assert_eq!((t[19].info_sz, t[19].elem_sz), (0, 12)); // enum64
    }
}
