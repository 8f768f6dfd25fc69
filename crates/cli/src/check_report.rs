//! `core check` output: a table per kernel with the failing relocations
//! across kernels and the reasons programs fail, a per-program table, or
//! JSON (one line per object, program and kernel; or the relocation-level
//! document).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use btfkit_btf::error_chain;
use btfkit_core::flow::Reach;
use btfkit_hub::check::{KernelCheck, ProgVerdict, ProgramCheck, Reason, Verdict};
use serde_json::json;

fn key_width(kernels: &[KernelCheck]) -> usize {
    kernels
        .iter()
        .map(|k| k.key.len())
        .max()
        .unwrap_or(6)
        .max(6)
}

/// The kernel's verdict in the table.
fn kernel_verdict(k: &KernelCheck) -> String {
    let Ok(r) = &k.result else {
        return "FAILS (cannot be checked)".into();
    };
    let loaded: Vec<&ProgramCheck> = r.programs.iter().filter(|p| p.autoload).collect();
    let n = |v| loaded.iter().filter(|p| p.verdict == v).count();
    let guarded = r.counts.guarded;
    match (n(ProgVerdict::Fails), n(ProgVerdict::Unknown)) {
        (0, 0) if guarded == 0 => "ok".into(),
        (0, 0) => format!("ok ({guarded} guarded)"),
        (0, u) => format!("unknown ({u} of {} programs)", loaded.len()),
        (f, _) => format!("FAILS ({f} of {} programs)", loaded.len()),
    }
}

/// The kernel header line of each section.
fn kernel_marks_header(kernels: &[KernelCheck]) -> String {
    (0..kernels.len())
        .map(|i| char::from_digit(((i + 1) % 10) as u32, 10).unwrap_or('?'))
        .collect()
}

pub fn table(kernels: &[KernelCheck]) -> String {
    let mut s = String::new();
    let w = key_width(kernels);
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
                let e = error_chain(e);
                let _ = writeln!(s, "{:>3}  {:<w$}  cannot be checked: {e}", i + 1, k.key);
            }
            Ok(r) => {
                let c = &r.counts;
                let _ = writeln!(
                    s,
                    "{:>3}  {:<w$}  {:>8} {:>8} {:>8} {:>6}  {}",
                    i + 1,
                    k.key,
                    c.resolved,
                    c.missing,
                    c.poisoned,
                    c.errors,
                    kernel_verdict(k)
                );
                for x in r.relocations.iter().filter(|x| x.verdict.is_failure()) {
                    let row = rows
                        .entry(x.id())
                        .or_insert_with(|| vec!['.'; kernels.len()]);
                    row[i] = match (&x.verdict, x.reach) {
                        (Verdict::Error(_), _) => 'E',
                        (_, Some(Reach::Feasible)) => 'P',
                        (_, Some(Reach::Config)) => '?',
                        (_, None) => 'o',
                    };
                }
            }
        }
    }
    if !rows.is_empty() {
        let _ = writeln!(
            s,
            "\nfailing relocations by kernel # (P poisoned and reached, E error, ? reached only through unknown load-time values, o poisoned in dead code, . fine):"
        );
        let _ = writeln!(s, "  {}", kernel_marks_header(kernels));
        for (id, marks) in rows {
            let _ = writeln!(s, "  {}  {id}", marks.iter().collect::<String>());
        }
    }
    s.push_str(&reasons_section(kernels, true));
    s.push_str(&optional_section(kernels));
    s
}

/// Per program: one mark per kernel, then the reasons.
pub fn programs_table(kernels: &[KernelCheck]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "programs by kernel # (. ok, F fails, ? unknown, x kernel not checked):"
    );
    for (i, k) in kernels.iter().enumerate() {
        let _ = writeln!(s, "  {:>3}  {}  {}", i + 1, k.key, kernel_verdict(k));
    }
    let _ = writeln!(s, "\n  {}", kernel_marks_header(kernels));
    for (autoload, title) in [
        (true, None),
        (false, Some("not loaded by default (SEC(\"?...\")):")),
    ] {
        let rows = program_rows(kernels, autoload);
        if rows.is_empty() {
            continue;
        }
        if let Some(t) = title {
            let _ = writeln!(s, "{t}");
        }
        for ((obj, prog, sec), marks) in rows {
            let _ = writeln!(
                s,
                "  {}  {obj} {prog} ({sec})",
                marks.iter().collect::<String>()
            );
        }
    }
    s.push_str(&reasons_section(kernels, false));
    s
}

type ProgKey = (String, String, String);

fn program_rows(kernels: &[KernelCheck], autoload: bool) -> BTreeMap<ProgKey, Vec<char>> {
    let mut rows: BTreeMap<ProgKey, Vec<char>> = BTreeMap::new();
    for (i, k) in kernels.iter().enumerate() {
        let Ok(r) = &k.result else { continue };
        for p in r.programs.iter().filter(|p| p.autoload == autoload) {
            let row = rows
                .entry((p.object.clone(), p.program.clone(), p.section.clone()))
                .or_insert_with(|| vec!['x'; kernels.len()]);
            row[i] = match p.verdict {
                ProgVerdict::Ok => '.',
                ProgVerdict::Fails => 'F',
                ProgVerdict::Unknown => '?',
            };
        }
    }
    rows
}

/// Reasons of programs that fail or may fail, each with the kernels.
fn reasons_section(kernels: &[KernelCheck], autoload_only: bool) -> String {
    let mut by: BTreeMap<(String, String, String), Vec<usize>> = BTreeMap::new();
    for (i, k) in kernels.iter().enumerate() {
        let Ok(r) = &k.result else { continue };
        for p in r.programs.iter().filter(|p| p.autoload || !autoload_only) {
            for x in &p.reasons {
                by.entry((p.object.clone(), p.program.clone(), x.to_string()))
                    .or_default()
                    .push(i + 1);
            }
        }
    }
    let mut s = String::new();
    if by.is_empty() {
        return s;
    }
    let _ = writeln!(s, "\nwhy programs fail (kernel #s):");
    for ((obj, prog, why), ks) in by {
        let _ = writeln!(s, "  {obj} {prog}: {why} [{}]", ranges(&ks));
    }
    s
}

/// Programs that are not loaded by default, reported apart.
fn optional_section(kernels: &[KernelCheck]) -> String {
    let rows = program_rows(kernels, false);
    let mut s = String::new();
    if rows.is_empty() {
        return s;
    }
    let _ = writeln!(
        s,
        "\nprograms not loaded by default (SEC(\"?...\")), if enabled (. ok, F fails, ? unknown):"
    );
    let _ = writeln!(s, "  {}", kernel_marks_header(kernels));
    for ((obj, prog, sec), marks) in rows {
        let _ = writeln!(
            s,
            "  {}  {obj} {prog} ({sec})",
            marks.iter().collect::<String>()
        );
    }
    s
}

/// `1-3,5`.
fn ranges(ks: &[usize]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < ks.len() {
        let mut j = i;
        while j + 1 < ks.len() && ks[j + 1] == ks[j] + 1 {
            j += 1;
        }
        out.push(if i == j {
            ks[i].to_string()
        } else {
            format!("{}-{}", ks[i], ks[j])
        });
        i = j + 1;
    }
    out.join(",")
}

fn reason_json(r: &Reason) -> serde_json::Value {
    json!({
        "kind": r.kind.name(),
        "func": r.func,
        "insn": r.insn,
        "message": r.message,
        "conditional": r.conditional,
    })
}

/// A program of an object as listed when its kernel could not be read.
pub struct ProgramId {
    pub name: String,
    pub section: String,
    pub autoload: bool,
}

/// An object's label and programs.
pub type ObjectPrograms = (String, Vec<ProgramId>);

/// One JSON value per (object, program, kernel).
pub fn program_lines(
    kernels: &[KernelCheck],
    programs_of: &[ObjectPrograms],
) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    for k in kernels {
        match &k.result {
            Ok(r) => {
                for p in &r.programs {
                    out.push(json!({
                        "object": p.object,
                        "program": p.program,
                        "kernel": k.key,
                        "verdict": p.verdict.name(),
                        "reasons": p.reasons.iter().map(reason_json).collect::<Vec<_>>(),
                        "section": p.section,
                        "autoload": p.autoload,
                    }));
                }
            }
            Err(e) => {
                for (obj, progs) in programs_of {
                    for p in progs {
                        out.push(json!({
                            "object": obj,
                            "program": p.name,
                            "kernel": k.key,
                            "verdict": "unknown",
                            "reasons": [{
                                "kind": "kernel", "func": null, "insn": null,
                                "message": format!("kernel BTF cannot be read: {}", error_chain(e)),
                                "conditional": false,
                            }],
                            "section": p.section,
                            "autoload": p.autoload,
                        }));
                    }
                }
            }
        }
    }
    out
}

/// The relocation-level document (`--json --relocations`).
pub fn json(kernels: &[KernelCheck]) -> serde_json::Value {
    json!({
        "kernels": kernels.iter().map(|k| match &k.result {
            Err(e) => json!({"key": k.key, "error": error_chain(e), "fails": true, "verdict": "fails"}),
            Ok(r) => {
                let c = &r.counts;
                json!({
                    "key": k.key,
                    "fails": k.fails(),
                    "verdict": k.verdict().name(),
                    "resolved": c.resolved, "missing": c.missing, "poisoned": c.poisoned, "errors": c.errors,
                    "relocations": r.relocations.iter().map(|x| json!({
                        "object": x.object,
                        "section": x.section,
                        "program": x.program,
                        "insn": x.insn,
                        "relo": x.index,
                        "kind": x.kind,
                        "spec": x.spec,
                        "verdict": x.verdict.name(),
                        "detail": x.verdict.detail(),
                        "optional": x.optional,
                        "reached": x.reach.map(|r| match r {
                            Reach::Feasible => "feasible",
                            Reach::Config => "config",
                        }),
                    })).collect::<Vec<_>>(),
                })
            }
        }).collect::<Vec<_>>(),
    })
}
