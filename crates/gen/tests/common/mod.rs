//! Helpers shared by the minimization soundness tests.

use btfkit_core::Patch;
use btfkit_core::{Outcome, ReloReport, RelocKind};

/// What must not change: the patched value (and load size), or
/// poisoning; for TYPE_ID_TARGET only whether a target was found (ids
/// are renumbered by minimization). None: an error in the full BTF,
/// which minimization need not preserve.
pub fn key(r: &ReloReport) -> Option<String> {
    Some(match &r.outcome {
        Outcome::Failed(_) => return None,
        Outcome::Skipped(w) => format!("skipped {w:?}"),
        Outcome::Done { target, .. } if r.kind == Some(RelocKind::TypeIdTarget) => {
            format!("target found: {}", target.is_some())
        }
        Outcome::Done {
            patch:
                Patch::Value {
                    field,
                    new,
                    mem_size,
                    ..
                },
            ..
        } => format!("{field:?} {new} {mem_size:?}"),
        Outcome::Done {
            patch: Patch::Poisoned(w),
            ..
        } => format!("poisoned ({w})"),
    })
}

/// Compares libbpf's run against the full BTF (`full`) with its run
/// against the minimized one (`min`), relocation by relocation in
/// btfkit's order (`ours`, the full BTF's reports), up to libbpf's first
/// failure with the full BTF; TYPE_ID_TARGET values are renumbered by
/// minimization and left out. Panics naming `label` on a difference;
/// returns how many relocations were compared.
#[allow(dead_code)] // bpftool.rs uses only `key`
pub fn same_as_libbpf_on_full(
    ours: &[ReloReport],
    full: &btfkit_testutil::libbpf::LibbpfRun,
    min: &btfkit_testutil::libbpf::LibbpfRun,
    label: &dyn Fn() -> String,
) -> usize {
    let mut compared = 0;
    for r in ours {
        let Some(p) = &r.program else { continue };
        let k = (p.to_string(), r.index);
        if full.failed_at.as_ref() == Some(&k) {
            break;
        }
        let (Some(x), y) = (full.relos.get(&k), min.relos.get(&k)) else {
            continue;
        };
        if r.kind == Some(RelocKind::TypeIdTarget) {
            continue;
        }
        assert_eq!(
            Some(x),
            y,
            "libbpf on {}: relo {k:?} {:?}",
            label(),
            r.local_spec
        );
        compared += 1;
    }
    compared
}
