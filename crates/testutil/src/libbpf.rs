//! Running libbpf's CO-RE relocation as an oracle: the
//! `testdata/oracle/core_relocs` harness loads an object with a custom
//! target BTF and prints libbpf's relocation messages; this parses them.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

/// What libbpf reported for one relocation.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LibbpfRelo {
    /// From `patched insn #N (CLASS) imm OLD -> NEW` (or `off`, `imm64`):
    /// the instruction class as libbpf names it (`ALU/ALU64`,
    /// `LDX/ST/STX`, `LDIMM64`), the old value and the new.
    pub patched: Option<(String, u64, u64)>,
    /// From `patched insn #N (LDX/ST/STX) mem_sz OLD -> NEW`: a load's or
    /// store's size changed, in bytes (old, new).
    pub mem_size: Option<(u32, u32)>,
    /// Instructions libbpf poisoned (`substituting insn #N w/ invalid
    /// insn`), by index in the program.
    pub poisoned: Vec<u32>,
    /// From `failed to relocate: -E` or `failed to patch insn #N ...: -E`:
    /// the positive errno (22 for `EINVAL`, 3 for `ESRCH`).
    pub errno: Option<i32>,
}

/// What one run of the oracle reported.
pub struct LibbpfRun {
    /// Each relocation's messages, by (program name, `relo #N`).
    pub relos: HashMap<(String, usize), LibbpfRelo>,
    /// The relocation libbpf stopped at, if any.
    pub failed_at: Option<(String, usize)>,
    /// `bpf_object__load`'s return value (0, or a negative errno; the load
    /// may fail after relocation, e.g. programs built for another kernel).
    pub load_ret: i32,
}

fn after<'a>(s: &'a str, pat: &str) -> Option<&'a str> {
    s.find(pat).map(|i| &s[i + pat.len()..])
}

fn num<T: std::str::FromStr>(s: &str) -> T {
    s.trim()
        .parse()
        .ok()
        .unwrap_or_else(|| panic!("number expected in {s:?}"))
}

/// Parses the oracle's output: libbpf's `prog 'P': relo #N: ...` lines
/// (others are ignored) and the final `LOAD <ret>`. Panics on a message it
/// recognizes but cannot read (a libbpf wording change must not go
/// unnoticed).
pub fn parse_libbpf(out: &str) -> LibbpfRun {
    let mut run = LibbpfRun {
        relos: HashMap::new(),
        failed_at: None,
        load_ret: 0,
    };
    for line in out.lines() {
        if let Some(r) = line.strip_prefix("LOAD ") {
            run.load_ret = num(r);
            continue;
        }
        let Some(rest) = after(line, "prog '") else {
            continue;
        };
        let Some((prog, rest)) = rest.split_once("': relo #") else {
            continue;
        };
        let Some((idx, msg)) = rest.split_once(": ") else {
            continue;
        };
        let key = (prog.to_string(), num::<usize>(idx));
        let entry = || LibbpfRelo::default();
        if let Some(m) = after(msg, "patched insn #") {
            let e = run.relos.entry(key).or_insert_with(entry);
            let (_, m) = m.split_once(" (").unwrap();
            let (class, m) = m.split_once(") ").unwrap();
            let (what, m) = m.split_once(' ').unwrap();
            let (a, b) = m.split_once(" -> ").unwrap();
            if what == "mem_sz" {
                e.mem_size = Some((num(a), num(b)));
            } else {
                e.patched = Some((class.to_string(), num(a), num(b)));
            }
        } else if let Some(m) = after(msg, "substituting insn #") {
            let insn = m.split_whitespace().next().unwrap();
            run.relos
                .entry(key)
                .or_insert_with(entry)
                .poisoned
                .push(num(insn));
        } else if let Some(m) = after(msg, "failed to relocate: ") {
            run.relos.entry(key.clone()).or_insert_with(entry).errno = Some(-num::<i32>(m));
            run.failed_at = Some(key);
        } else if msg.starts_with("failed to patch insn #") {
            let (_, e) = msg.rsplit_once(": ").unwrap();
            run.relos.entry(key.clone()).or_insert_with(entry).errno = Some(-num::<i32>(e));
            run.failed_at = Some(key);
        }
    }
    run
}

/// Runs the oracle on `obj` with `target` as `btf_custom_path`, loading
/// only `prog` (and its subprograms) when given, else libbpf's default
/// set. Panics when the oracle fails or libbpf cannot open the object.
pub fn run_libbpf(oracle: &Path, obj: &Path, target: &Path, prog: Option<&str>) -> LibbpfRun {
    run_libbpf_programs(oracle, obj, target, prog.as_slice())
}

/// Runs the oracle loading only `progs` (and subprograms), autoload off
/// for every other program; an empty list loads libbpf's default set.
pub fn run_libbpf_programs(oracle: &Path, obj: &Path, target: &Path, progs: &[&str]) -> LibbpfRun {
    let mut cmd = Command::new(oracle);
    cmd.arg(obj).arg(target).args(progs);
    let out = String::from_utf8(crate::run_ok(&mut cmd)).unwrap();
    assert!(
        !out.contains("OPEN failed"),
        "libbpf cannot open {}",
        obj.display()
    );
    parse_libbpf(&out)
}
