//! `core check` against the kernel's verifier: every program of the check
//! objects is judged by `btfkit core check --btf /sys/kernel/btf/vmlinux`
//! and loaded alone by two loaders, libbpf (testdata/oracle/load_programs.c)
//! and btfkit + Aya (`core apply --program`, then Aya); the verdict must
//! agree with both wherever the load depends on BTF.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Instant;

use btfkit_vmtest::Plan;
use serde_json::Value;

use crate::aya_loads::{self, AyaLoad};
use crate::{Outcome, BTFKIT, SYSFS_BTF};

/// libbpf's errors that say the kernel or architecture lacks a feature
/// whatever the BTF says (BPF trampolines on older arm64, for instance):
/// not counted as CO-RE verdicts. ENOTSUPP (524), EOPNOTSUPP (95).
const OTHER_CAUSES: &[i64] = &[-524, -95];

/// What was compared.
#[derive(Default)]
struct Tally {
    ok: usize,
    fails: usize,
    unknown: usize,
    other_cause: Vec<String>,
    /// Programs the loader cannot try (Aya: objects it cannot parse),
    /// by reason.
    not_loadable: BTreeMap<String, usize>,
    disagree: Vec<String>,
}

impl Tally {
    fn summary(&self, loader: &str) -> String {
        let mut s = format!(
            "{loader}: {} programs agree ({} ok, {} fail), {} unknown, {} other causes",
            self.ok + self.fails,
            self.ok,
            self.fails,
            self.unknown,
            self.other_cause.len(),
        );
        if !self.other_cause.is_empty() {
            s.push_str(&format!(" ({})", self.other_cause.join(", ")));
        }
        if !self.not_loadable.is_empty() {
            let n: usize = self.not_loadable.values().sum();
            let why: Vec<String> = self
                .not_loadable
                .iter()
                .map(|(r, c)| format!("{c}x {r}"))
                .collect();
            s.push_str(&format!(", {n} not loadable by it ({})", why.join("; ")));
        }
        s
    }
}

/// libbpf's load of one program: its result (0: loaded and verified) and,
/// after a failure, libbpf's last messages.
struct Load {
    ret: i64,
    why: String,
}

/// Each program's libbpf load.
fn libbpf_loads(plan: &Plan, object: &str) -> Result<BTreeMap<String, Load>, String> {
    let out = Command::new(&plan.load_programs)
        .arg(object)
        .output()
        .map_err(|e| format!("{}: {e}", plan.load_programs))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut loads: BTreeMap<String, Load> = BTreeMap::new();
    for l in text.lines() {
        if let Some(rest) = l.strip_prefix("PROG ") {
            let mut w = rest.split_whitespace();
            if let (Some(name), Some(Ok(ret))) = (w.next(), w.next().map(str::parse)) {
                let why = String::new();
                loads.insert(name.to_string(), Load { ret, why });
            }
        } else if let Some((name, why)) = l.strip_prefix("WHY ").and_then(|r| r.split_once(' ')) {
            if let Some(load) = loads.get_mut(name) {
                load.why = why.trim().chars().take(400).collect();
            }
        }
    }
    if loads.is_empty() {
        return Err(format!(
            "libbpf loaded nothing of {object}: {} {}",
            text.trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(loads)
}

/// Each program's `core check` verdict and reasons.
fn verdicts(plan: &Plan, object: &str) -> Result<BTreeMap<String, (String, String)>, String> {
    let mut args = vec!["core", "check", "--btf", SYSFS_BTF, "--json", object];
    if let Some(k) = &plan.kconfig {
        args.extend(["--kconfig", k.as_str()]);
    }
    let out = Command::new(BTFKIT)
        .args(&args)
        .output()
        .map_err(|e| format!("{BTFKIT}: {e}"))?;
    let mut map = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let v: Value =
            serde_json::from_str(line).map_err(|e| format!("core check --json: {e}: {line}"))?;
        let reasons = v["reasons"]
            .as_array()
            .map(|r| {
                r.iter()
                    .filter_map(|x| x["message"].as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_default();
        map.insert(
            v["program"].as_str().unwrap_or("?").to_string(),
            (v["verdict"].as_str().unwrap_or("?").to_string(), reasons),
        );
    }
    if map.is_empty() {
        return Err(format!(
            "core check judged nothing in {object}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(map)
}

fn compare(
    t: &mut Tally,
    object: &str,
    prog: &str,
    load: &Load,
    verdict: Option<&(String, String)>,
) {
    let name = object.rsplit('/').next().unwrap_or(object);
    let Some((verdict, reasons)) = verdict else {
        t.disagree.push(format!("{name} {prog}: no verdict"));
        return;
    };
    match (verdict.as_str(), load.ret) {
        ("unknown", _) => t.unknown += 1,
        (_, l) if OTHER_CAUSES.contains(&l) => t.other_cause.push(format!("{name} {prog} ({l})")),
        // A map sized at run time (max_entries 0 until the tool sets it)
        // cannot be created as the object is: not a BTF matter.
        (_, l) if l != 0 && load.why.contains("failed to create") => {
            t.other_cause.push(format!("{name} {prog} (map creation)"))
        }
        ("ok", 0) => t.ok += 1,
        ("fails", l) if l != 0 => t.fails += 1,
        (v, l) => t.disagree.push(format!(
            "{name} {prog}: core check says {v}{} but libbpf's load returned {l}{}",
            if reasons.is_empty() {
                String::new()
            } else {
                format!(" ({reasons})")
            },
            if load.why.is_empty() {
                String::new()
            } else {
                format!(": {}", load.why)
            }
        )),
    }
}

/// The verdict against btfkit + Aya's load of the same program.
fn compare_aya(
    t: &mut Tally,
    object: &str,
    prog: &str,
    load: &AyaLoad,
    verdict: Option<&(String, String)>,
) {
    let name = object.rsplit('/').next().unwrap_or(object);
    let Some((verdict, reasons)) = verdict else {
        t.disagree.push(format!("{name} {prog}: no verdict"));
        return;
    };
    let refused = match load {
        AyaLoad::NotLoadable(why) => {
            // Aya's message comes twice in its chain: once is enough.
            let key = why.split(": ").take(3).collect::<Vec<_>>().join(": ");
            *t.not_loadable.entry(key).or_default() += 1;
            return;
        }
        AyaLoad::Refused { errno, .. } if OTHER_CAUSES.contains(&-i64::from(*errno)) => {
            t.other_cause.push(format!("{name} {prog} (-{errno})"));
            return;
        }
        AyaLoad::Loaded => false,
        AyaLoad::ApplyRefused(_) | AyaLoad::Refused { .. } | AyaLoad::NoAttachTarget(_) => true,
    };
    match (verdict.as_str(), refused) {
        ("unknown", _) => t.unknown += 1,
        ("ok", false) => t.ok += 1,
        ("fails", true) => t.fails += 1,
        (v, _) => {
            let what = match load {
                AyaLoad::Loaded => "loaded".to_string(),
                AyaLoad::ApplyRefused(e) => format!("core apply refused: {e}"),
                AyaLoad::Refused { errno, why } => format!("refused (-{errno}): {why}"),
                AyaLoad::NoAttachTarget(e) => format!("no attach target: {e}"),
                AyaLoad::NotLoadable(e) => e.clone(),
            };
            t.disagree.push(format!(
                "{name} {prog}: core check says {v}{} but btfkit + Aya {what}",
                if reasons.is_empty() {
                    String::new()
                } else {
                    format!(" ({reasons})")
                },
            ))
        }
    }
}

/// The kernel's config where libbpf reads it (`/boot/config-RELEASE`)
/// while `f` runs: libbpf reads it for the objects' `.kconfig` externs,
/// even weak ones (its in-memory config option does not stop that).
/// Only here: the tracer's checks are to find no config.
fn with_system_config<T>(plan: &Plan, f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    let Some(k) = &plan.kconfig else {
        return f();
    };
    let release = rustix::system::uname()
        .release()
        .to_string_lossy()
        .into_owned();
    let path = format!("/boot/config-{release}");
    std::fs::create_dir_all("/boot").map_err(|e| format!("/boot: {e}"))?;
    std::fs::copy(k, &path).map_err(|e| format!("{path}: {e}"))?;
    let result = f();
    std::fs::remove_file(&path).map_err(|e| format!("{path}: {e}"))?;
    result
}

/// The check: zero disagreements, and something compared.
pub(crate) fn check(plan: &Plan) -> Outcome {
    with_system_config(plan, || compare_all(plan, &plan.check_objects))
}

/// The same over every libbpf-tools object.
pub(crate) fn check_tools(plan: &Plan) -> Outcome {
    if plan.tool_objects.is_empty() {
        return Err("no libbpf-tools objects in the plan".into());
    }
    with_system_config(plan, || compare_all(plan, &plan.tool_objects))
}

fn compare_all(plan: &Plan, objects: &[String]) -> Outcome {
    let mut t = Tally::default();
    let mut aya = Tally::default();
    let kernel = aya_loads::KernelBtf::read()?;
    // Seconds spent: core check, libbpf's loads, btfkit + Aya's loads.
    let mut secs = [0f64; 3];
    for object in objects {
        let start = Instant::now();
        let verdicts = verdicts(plan, object)?;
        secs[0] += start.elapsed().as_secs_f64();
        let start = Instant::now();
        let loads = libbpf_loads(plan, object)?;
        secs[1] += start.elapsed().as_secs_f64();
        for (prog, load) in &loads {
            compare(&mut t, object, prog, load, verdicts.get(prog));
        }
        let start = Instant::now();
        let aya_loads = aya_loads::loads(object, &kernel)?;
        secs[2] += start.elapsed().as_secs_f64();
        for (prog, load) in &aya_loads {
            compare_aya(&mut aya, object, prog, load, verdicts.get(prog));
        }
    }
    let summary = format!(
        "{}; {}; kconfig {}; {} objects in {:.0} s (core check {:.0} s, libbpf {:.0} s, btfkit + Aya {:.0} s)",
        t.summary("libbpf"),
        aya.summary("btfkit + Aya"),
        if plan.kconfig.is_some() {
            "given"
        } else {
            "unknown"
        },
        objects.len(),
        secs.iter().sum::<f64>(),
        secs[0],
        secs[1],
        secs[2],
    );
    let disagree: Vec<&String> = t.disagree.iter().chain(&aya.disagree).collect();
    if !disagree.is_empty() {
        return Err(format!(
            "{} disagreements: {}; {summary}",
            disagree.len(),
            disagree
                .iter()
                .map(|d| d.as_str())
                .collect::<Vec<_>>()
                .join(" | ")
        ));
    }
    if t.ok == 0 || t.fails == 0 || aya.ok == 0 || aya.fails == 0 {
        return Err(format!("nothing on one side to compare: {summary}"));
    }
    Ok(summary)
}
