//! Writing a relocated object: the input file with the patched
//! instructions written over the originals, everything else unchanged.

use crate::engine::Relocated;
use crate::insn::INSN_SIZE;
use crate::object::BpfObject;

/// The object's bytes with every patched instruction in place. With
/// `drop_core_relos`, the `.BTF.ext` header's CO-RE record length is set to
/// 0 so that a loader does not relocate the patched instructions again
/// (the records stay in the file, unreferenced).
pub fn write_relocated(obj: &BpfObject<'_>, rel: &Relocated, drop_core_relos: bool) -> Vec<u8> {
    let mut out = obj.data().to_vec();
    for s in obj.sections().iter().filter(|s| s.executable) {
        let Some(insns) = rel.insns.get(&s.index) else {
            continue;
        };
        let base = s.file_offset as usize;
        for (i, insn) in insns.iter().enumerate() {
            let at = base + i * INSN_SIZE;
            out[at..at + INSN_SIZE].copy_from_slice(&insn.encode(obj.endian()));
        }
    }
    if drop_core_relos {
        if let (Some(ext), Some(off)) = (obj.btf_ext(), obj.btf_ext_file_offset()) {
            if let Some(field) = ext.core_relo_len_field {
                let at = off as usize + field;
                out[at..at + 4].fill(0);
            }
        }
    }
    out
}
