//! The instruction set a kernel's verifier accepts, where BTF cannot tell
//! and the kernel's version can: BPF atomics beyond `lock add` arrived in
//! 5.12, load-acquire and store-release in 6.15.
//!
//! Where an older verifier refuses them differs. Before 5.12 its first
//! pass over every instruction of the program (`resolve_pseudo_ldimm64`)
//! refuses any store whose mode is not a plain store or `lock add`, or
//! whose immediate is set ("BPF_STX uses reserved fields", 0 instructions
//! processed): the program fails whether or not the code is reached. From
//! 5.12 that pass lets atomics through and `check_atomic` judges each one
//! as the walk reaches it, so an unknown operation fails only where it is
//! reached.
//!
//! Vendor kernels that backport BPF (RHEL and its rebuilds, openEuler and
//! its derivatives) keep an old version number over a newer verifier: for
//! them the version says nothing, and nothing is concluded.

use btfkit_core::flow::kernel_version_of;
use btfkit_core::insn::{Insn, BPF_DW, BPF_STX, BPF_W};

/// `BPF_ATOMIC` (`BPF_XADD` before 5.12): mode bits of a store.
const BPF_ATOMIC: u8 = 0xc0;
/// `BPF_FETCH` flag of an atomic operation.
const BPF_FETCH: i32 = 0x01;
const BPF_LOAD_ACQ: i32 = 0x100;
const BPF_STORE_REL: i32 = 0x110;

const fn kernel(major: u32, minor: u32) -> u32 {
    (major << 16) | (minor << 8)
}

/// Release markers of kernels whose BPF is newer than their version.
const BACKPORTING: &[&str] = &[".el", ".oe", ".an", "uek", ".ky"];

/// What one kernel's version says about its instruction set.
#[derive(Clone, Copy, Debug)]
pub(super) struct InsnSet {
    version: u32,
}

impl InsnSet {
    /// From the kernel's release (`LINUX_KERNEL_VERSION` as computed from
    /// it, or as pinned); None when unknown or a backporting vendor's.
    pub fn of(release: Option<&str>, version: Option<u32>) -> Option<InsnSet> {
        if release.is_some_and(|r| BACKPORTING.iter().any(|m| r.contains(m))) {
            return None;
        }
        let version = version.or_else(|| release.and_then(kernel_version_of))?;
        Some(InsnSet { version })
    }

    /// The kernel's version (`major << 16 | minor << 8 | patch`), where
    /// it can be trusted.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// What `insn` needs that this kernel lacks.
    pub fn missing(&self, insn: &Insn) -> Option<Missing> {
        let (what, since) = atomic_needs(insn)?;
        if self.version >= since {
            return None;
        }
        let anywhere = self.version < ATOMICS;
        let mut message = format!(
            "{what} (BPF_ATOMIC) needs Linux {}.{}, the kernel is {}.{}",
            since >> 16,
            (since >> 8) & 0xff,
            self.version >> 16,
            (self.version >> 8) & 0xff
        );
        if anywhere {
            message.push_str(" (refused anywhere in the program, reached or not)");
        }
        Some(Missing { message, anywhere })
    }
}

impl InsnSet {
    /// Whether some instructions are refused wherever they are (kernels
    /// before 5.12).
    pub fn refuses_anywhere(&self) -> bool {
        self.version < ATOMICS
    }
}

/// An instruction the kernel's verifier refuses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Missing {
    pub message: String,
    /// Refused wherever it is in the program; otherwise only if reached.
    pub anywhere: bool,
}

/// The first kernel with BPF atomics beyond `lock add`.
const ATOMICS: u32 = kernel(5, 12);

impl InsnSet {}

/// The atomic operation an instruction is and the first kernel that
/// verifies it; None for anything else, `lock add` (every kernel), and
/// encodings no kernel accepts (left to the verifier's other checks).
fn atomic_needs(insn: &Insn) -> Option<(&'static str, u32)> {
    if insn.code & 0x07 != BPF_STX || insn.code & 0xe0 != BPF_ATOMIC {
        return None;
    }
    let size = insn.code & 0x18;
    match insn.imm {
        BPF_LOAD_ACQ => return Some(("load-acquire", kernel(6, 15))),
        BPF_STORE_REL => return Some(("store-release", kernel(6, 15))),
        _ => {}
    }
    if size != BPF_W && size != BPF_DW {
        return None;
    }
    let what = match insn.imm {
        0 => return None,
        x if x == BPF_FETCH => "atomic fetch_add",
        0x40 => "atomic or",
        0x41 => "atomic fetch_or",
        0x50 => "atomic and",
        0x51 => "atomic fetch_and",
        0xa0 => "atomic xor",
        0xa1 => "atomic fetch_xor",
        0xe1 => "atomic xchg",
        0xf1 => "atomic cmpxchg",
        _ => return None,
    };
    Some((what, ATOMICS))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn atomic(size: u8, imm: i32) -> Insn {
        Insn {
            code: BPF_STX | BPF_ATOMIC | size,
            dst_reg: 1,
            src_reg: 2,
            off: 0,
            imm,
        }
    }

    #[test]
    fn versions_gate_atomics() {
        let k510 = InsnSet::of(Some("5.10.0-32-amd64"), None).unwrap();
        let k61 = InsnSet::of(Some("6.1.0-56-amd64"), None).unwrap();
        assert_eq!(k510.missing(&atomic(BPF_DW, 0)), None, "lock add");
        let or = k510.missing(&atomic(BPF_DW, 0x41)).unwrap();
        assert_eq!(
            or.message,
            "atomic fetch_or (BPF_ATOMIC) needs Linux 5.12, the kernel is 5.10 \
             (refused anywhere in the program, reached or not)"
        );
        assert!(or.anywhere);
        assert!(k510.missing(&atomic(BPF_W, 0xf1)).is_some());
        assert!(k510.missing(&atomic(BPF_W, BPF_LOAD_ACQ)).unwrap().anywhere);
        assert_eq!(k61.missing(&atomic(BPF_DW, 0xf1)), None);
        // From 5.12 unknown operations fail only where reached.
        assert!(!k61.missing(&atomic(BPF_W, BPF_LOAD_ACQ)).unwrap().anywhere);
        // Not atomics: a plain store, an encoding no kernel accepts.
        let store = Insn {
            code: BPF_STX | 0x60 | BPF_DW,
            ..atomic(BPF_DW, 0x41)
        };
        assert_eq!(k510.missing(&store), None);
        assert_eq!(k510.missing(&atomic(BPF_DW, 0x77)), None);
    }

    #[test]
    fn backporting_vendors_are_not_judged() {
        assert!(InsnSet::of(Some("4.18.0-147.5.1.el8_1.aarch64"), None).is_none());
        assert!(InsnSet::of(Some("4.19.90-2107.6.0.0248.35.oe1.bclinux.x86_64"), None).is_none());
        assert!(InsnSet::of(None, None).is_none());
        assert!(InsnSet::of(None, Some(kernel(5, 10))).is_some());
    }
}
