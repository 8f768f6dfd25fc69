//! Helpers shared by the minimization soundness tests.

use btfkit_core::patch::Patch;
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
