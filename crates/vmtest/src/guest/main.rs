//! The kernel matrix's guest agent: runs inside a Debian kernel booted
//! under QEMU (started by the initramfs's `/init`), reads the plan the
//! host wrote, runs each check and prints its result on the console.
//!
//! Every check runs even when an earlier one failed; a panic in a check
//! is that check's failure. The host trusts only the result lines: a
//! check that prints none failed.

mod aya_loads;
mod suite;
mod trace;
mod uprobe;
mod verdicts;

use std::panic::AssertUnwindSafe;
use std::process::ExitCode;
use std::time::Instant;

use btfkit_vmtest::{CheckResult, Plan, CHECKS, DONE_LINE, PLAN_PATH};

// Aya's load errors carry the verifier log in a source.
pub(crate) use btfkit_btf::error_chain;

/// A check's outcome: what was seen, or why it failed.
pub(crate) type Outcome = Result<String, String>;

/// The btfkit binary in the guest.
pub(crate) const BTFKIT: &str = "/bin/btfkit";
/// The kernel's own BTF.
pub(crate) const SYSFS_BTF: &str = "/sys/kernel/btf/vmlinux";

fn run_check(name: &str, plan: &Plan, suite: &mut suite::Suite) -> Outcome {
    match name {
        "trace-sysfs-ring" => trace::own_btf(plan, trace::Mode::Ring),
        "trace-sysfs-perf" => trace::own_btf(plan, trace::Mode::Perf),
        "trace-sysfs-kprobe" => trace::own_btf(plan, trace::Mode::Kprobe),
        "trace-bundle-ring" => trace::bundle(plan, trace::Mode::Ring),
        "trace-bundle-perf" => trace::bundle(plan, trace::Mode::Perf),
        "trace-wrong-btf" => trace::wrong_btf(plan),
        "suite-probe-sysfs" => suite.probe(plan, suite::Target::Sysfs),
        "suite-probe-min" => suite.probe(plan, suite::Target::Minimized),
        "suite-kernel-sysfs" => suite.kernel(plan, suite::Target::Sysfs),
        "suite-kernel-min" => suite.kernel(plan, suite::Target::Minimized),
        "uprobe-v1" => uprobe::check(&plan.apps[0]),
        "uprobe-v2" => uprobe::check(&plan.apps[1]),
        "core-check-verifier" => verdicts::check(plan),
        "core-check-tools" => verdicts::check_tools(plan),
        other => Err(format!("unknown check {other:?}")),
    }
}

fn main() -> ExitCode {
    let plan: Plan = match std::fs::read(PLAN_PATH)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
    {
        Ok(p) => p,
        Err(e) => {
            eprintln!("vmtest-guest: {PLAN_PATH}: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "vmtest-guest: {} on {}",
        plan.key,
        rustix::system::uname().release().to_string_lossy()
    );
    let mut suite = suite::Suite::default();
    for &name in CHECKS
        .iter()
        .filter(|c| plan.checks.iter().any(|p| p == *c))
    {
        println!("vmtest-guest: running {name}");
        let start = Instant::now();
        let outcome =
            std::panic::catch_unwind(AssertUnwindSafe(|| run_check(name, &plan, &mut suite)))
                .unwrap_or_else(|p| {
                    let msg = p
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default();
                    Err(format!("panicked: {msg}"))
                });
        let (pass, detail) = match outcome {
            Ok(d) => (true, d),
            Err(d) => (false, d),
        };
        let result = CheckResult {
            check: name.to_string(),
            pass,
            detail,
            secs: start.elapsed().as_secs_f64(),
        };
        println!("{}", result.line());
    }
    println!("{DONE_LINE}");
    ExitCode::SUCCESS
}
