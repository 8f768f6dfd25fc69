//! `core check` output: a table per kernel, the matrix of failing
//! relocations across kernels, or JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use btfkit_hub::check::{KernelCheck, RelocCheck, Verdict};
use serde_json::json;

fn counts(v: &[RelocCheck]) -> [usize; 4] {
    let mut c = [0; 4];
    for r in v {
        match r.verdict {
            Verdict::Resolved => c[0] += 1,
            Verdict::Missing => c[1] += 1,
            Verdict::Poisoned(_) => c[2] += 1,
            Verdict::Error(_) => c[3] += 1,
            Verdict::Skipped => {}
        }
    }
    c
}

pub fn table(kernels: &[KernelCheck]) -> String {
    let mut s = String::new();
    let w = kernels
        .iter()
        .map(|k| k.key.len())
        .max()
        .unwrap_or(6)
        .max(6);
    let _ = writeln!(
        s,
        "{:>3}  {:<w$}  {:>8} {:>8} {:>8} {:>6}  VERDICT",
        "#", "KERNEL", "RESOLVED", "MISSING", "POISONED", "ERROR"
    );
    // Failing relocations: id -> per-kernel mark.
    let mut rows: BTreeMap<String, Vec<char>> = BTreeMap::new();
    for (i, k) in kernels.iter().enumerate() {
        match &k.result {
            Err(e) => {
                let _ = writeln!(s, "{:>3}  {:<w$}  cannot be checked: {e}", i + 1, k.key);
            }
            Ok(v) => {
                let c = counts(v);
                let unguarded = v.iter().filter(|r| r.fails()).count();
                let guarded = v
                    .iter()
                    .filter(|r| r.verdict.is_failure() && r.optional)
                    .count();
                let verdict = match (unguarded, guarded) {
                    (0, 0) => "ok".to_string(),
                    (0, g) => format!("ok ({g} guarded)"),
                    (u, _) => format!("FAILS ({u} unguarded)"),
                };
                let _ = writeln!(
                    s,
                    "{:>3}  {:<w$}  {:>8} {:>8} {:>8} {:>6}  {verdict}",
                    i + 1,
                    k.key,
                    c[0],
                    c[1],
                    c[2],
                    c[3]
                );
                for r in v.iter().filter(|r| r.verdict.is_failure()) {
                    let row = rows
                        .entry(r.id())
                        .or_insert_with(|| vec!['.'; kernels.len()]);
                    row[i] = match (&r.verdict, r.optional) {
                        (_, true) => 'o',
                        (Verdict::Error(_), false) => 'E',
                        _ => 'P',
                    };
                }
            }
        }
    }
    if !rows.is_empty() {
        let _ = writeln!(
            s,
            "\nfailing relocations by kernel # (P poisoned, E error, o guarded by an existence check, . fine):"
        );
        let mut header = String::new();
        for i in 0..kernels.len() {
            header.push(char::from_digit(((i + 1) % 10) as u32, 10).unwrap_or('?'));
        }
        let _ = writeln!(s, "  {header}");
        for (id, marks) in rows {
            let _ = writeln!(s, "  {}  {id}", marks.iter().collect::<String>());
        }
    }
    s
}

pub fn json(kernels: &[KernelCheck]) -> serde_json::Value {
    json!({
        "kernels": kernels.iter().map(|k| match &k.result {
            Err(e) => json!({"key": k.key, "error": e, "fails": true}),
            Ok(v) => {
                let c = counts(v);
                json!({
                    "key": k.key,
                    "fails": k.fails(),
                    "resolved": c[0], "missing": c[1], "poisoned": c[2], "errors": c[3],
                    "relocations": v.iter().map(|r| json!({
                        "object": r.object,
                        "section": r.section,
                        "program": r.program,
                        "insn": r.insn,
                        "relo": r.index,
                        "kind": r.kind,
                        "spec": r.spec,
                        "verdict": r.verdict.name(),
                        "detail": r.verdict.detail(),
                        "optional": r.optional,
                    })).collect::<Vec<_>>(),
                })
            }
        }).collect::<Vec<_>>(),
    })
}
