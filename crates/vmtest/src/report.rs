//! Rows from a guest's console, and the table. A planned check without a
//! result line is a failed row that says why (timeout, panic, the agent
//! gone) and shows the last console lines.

use btfkit_vmtest::CheckResult;

use crate::kernel::Kernel;
use crate::prepare::Prepared;
use crate::qemu::{self, Accel, GuestSpec};

/// One row: a kernel and a check.
pub struct Row {
    /// The check.
    pub check: String,
    /// Passed.
    pub pass: bool,
    /// Seconds in the guest.
    pub secs: f64,
    /// What was seen or why it failed.
    pub detail: String,
}

/// One guest's rows.
pub struct Guest {
    /// The kernel package.
    pub package: String,
    /// Its release.
    pub release: String,
    /// Its architecture (Debian name).
    pub arch: &'static str,
    /// Where the bundle rung's BTF came from.
    pub bundle: &'static str,
    /// Boot to power-off.
    pub secs: f64,
    /// The rows, in check order.
    pub rows: Vec<Row>,
}

/// Why a check has no result line.
fn missing_reason(boot: &qemu::Boot, spec: &GuestSpec<'_>) -> String {
    let text = boot.console.join("");
    let why = if boot.timed_out {
        format!("guest killed after {} s", spec.timeout.as_secs())
    } else if let Some(panic) = boot.console.iter().find(|l| l.contains("Kernel panic")) {
        format!("the guest panicked: {}", panic.trim())
    } else if !text.contains("@@vmtest-boot") {
        "the guest never reached the agent".to_string()
    } else {
        "the agent ended without a result".to_string()
    };
    format!("no result: {why}; console: {}", boot.tail(4).join(" | "))
}

/// Boots the guest and turns its console into rows.
pub fn run_guest(
    k: &Kernel,
    prepared: &Prepared,
    spec: &GuestSpec<'_>,
    checks: &[String],
) -> Guest {
    let bundle = if prepared.builtin_bundle {
        "built-in"
    } else {
        "from package"
    };
    let mut guest = Guest {
        package: k.package.clone(),
        release: k.release.clone(),
        arch: k.arch.debian(),
        bundle,
        secs: 0.0,
        rows: Vec::new(),
    };
    let boot = match qemu::boot(spec) {
        Ok(b) => b,
        Err(e) => {
            for c in checks {
                guest.rows.push(Row {
                    check: c.clone(),
                    pass: false,
                    secs: 0.0,
                    detail: format!("cannot boot: {e}"),
                });
            }
            return guest;
        }
    };
    guest.secs = boot.secs;
    let results: Vec<CheckResult> = boot
        .console
        .iter()
        .filter_map(|l| CheckResult::parse_line(l))
        .collect();
    for c in checks {
        let row = match results.iter().find(|r| &r.check == c) {
            Some(r) => Row {
                check: c.clone(),
                pass: r.pass,
                secs: r.secs,
                detail: r.detail.clone(),
            },
            None => Row {
                check: c.clone(),
                pass: false,
                secs: 0.0,
                detail: missing_reason(&boot, spec),
            },
        };
        guest.rows.push(row);
    }
    guest
}

fn clip(s: &str, n: usize) -> String {
    let one_line = s.replace('\n', " ");
    if one_line.chars().count() <= n {
        one_line
    } else {
        format!("{}…", one_line.chars().take(n).collect::<String>())
    }
}

/// Prints the table and the summary; whether every row passed.
pub fn print(guests: &[Guest], accel: Accel) -> bool {
    println!(
        "{:<24} {:<6} {:<20} {:<6} {:>6}  DETAIL",
        "KERNEL", "ARCH", "CHECK", "RESULT", "TIME"
    );
    let (mut passed, mut failed) = (0, 0);
    for g in guests {
        for r in &g.rows {
            if r.pass {
                passed += 1;
            } else {
                failed += 1;
            }
            let detail = if r.pass {
                clip(&r.detail, 110)
            } else {
                r.detail.replace('\n', " ")
            };
            println!(
                "{:<24} {:<6} {:<20} {:<6} {:>5.1}s  {}",
                g.release,
                g.arch,
                r.check,
                if r.pass { "pass" } else { "FAIL" },
                r.secs,
                detail
            );
        }
    }
    println!();
    for g in guests {
        let ok = g.rows.iter().filter(|r| r.pass).count();
        println!(
            "guest {:<24} {:<6} {:?}: {ok}/{} passed in {:.0} s (bundle rung: {})",
            g.release,
            g.arch,
            accel,
            g.rows.len(),
            g.secs,
            g.bundle
        );
    }
    println!("vmtest: {passed} passed, {failed} failed");
    failed == 0
}

/// The results as a Markdown table (for the README); a check a guest did
/// not run is `-`.
pub fn markdown(guests: &[Guest], accel: Accel) -> String {
    let checks: Vec<&str> = btfkit_vmtest::CHECKS
        .iter()
        .copied()
        .filter(|c| guests.iter().any(|g| g.rows.iter().any(|r| r.check == *c)))
        .collect();
    let mut out = format!(
        "| kernel | arch | BTF bundle | {} | time ({accel:?}) |\n|---|---|---|{}---|\n",
        checks.join(" | "),
        "---|".repeat(checks.len())
    );
    for g in guests {
        let cells: Vec<&str> = checks
            .iter()
            .map(|c| match g.rows.iter().find(|r| r.check == *c) {
                Some(r) if r.pass => "pass",
                Some(_) => "**FAIL**",
                None => "-",
            })
            .collect();
        out.push_str(&format!(
            "| {} | {} | {} | {} | {:.0} s |\n",
            g.package,
            g.arch,
            g.bundle,
            cells.join(" | "),
            g.secs
        ));
    }
    out
}
