//! What the kernel-matrix harness (`vmtest`, on the host) and its guest
//! agent (`vmtest-guest`, inside each booted kernel) say to each other.
//!
//! The host writes a [`Plan`] as `/vmtest/plan.json` into the guest's
//! initramfs; the agent runs the checks it names and prints one
//! [`RESULT_PREFIX`] line per check on the serial console, a
//! [`CheckResult`] as JSON. The host reads the console: a check whose line
//! never came (a hang, a panic, a crash of the agent) is a failure, never
//! a pass.

#![warn(missing_docs)]

use serde::{Deserialize, Serialize};

/// Where the plan is in the guest.
pub const PLAN_PATH: &str = "/vmtest/plan.json";
/// Starts every result line on the console.
pub const RESULT_PREFIX: &str = "@@vmtest-result ";
/// The agent prints this line after the last check.
pub const DONE_LINE: &str = "@@vmtest-done";

/// Every check, in the order the agent runs them.
pub const CHECKS: &[&str] = &[
    "trace-sysfs-ring",
    "trace-sysfs-perf",
    "trace-sysfs-kprobe",
    "trace-bundle-ring",
    "trace-bundle-perf",
    "trace-wrong-btf",
    "suite-probe-sysfs",
    "suite-probe-min",
    "suite-kernel-sysfs",
    "suite-kernel-min",
    "uprobe-v1",
    "uprobe-v2",
    "core-check-verifier",
    "core-check-tools",
];

/// The check that runs every tool of Debian's libbpf-tools (57 objects,
/// ~340 programs, each loaded twice: minutes per guest under emulation),
/// in the default matrix only on the kernels [`Plan`]s name for it.
pub const TOOLS_CHECK: &str = "core-check-tools";

/// What one guest is to check, and where its inputs are (guest paths).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Plan {
    /// The kernel's bundle key, `distro/version/arch/release`.
    pub key: String,
    /// The checks to run (names from [`CHECKS`]).
    pub checks: Vec<String>,
    /// The os-release `ID` and `VERSION_ID` the bundle rung is to see.
    pub os_id: String,
    /// See `os_id`.
    pub os_version: String,
    /// A bundle holding this kernel, for `--bundle`; `None`: the kernel is
    /// in the bundle built into btfkit.
    pub bundle: Option<String>,
    /// Another kernel's BTF, which the tracer must refuse.
    pub wrong_btf: String,
    /// That kernel's key, for the report.
    pub wrong_btf_key: String,
    /// The CO-RE suite's probe object (testdata/core/progs/probe.bpf.o).
    pub probe_object: String,
    /// The CO-RE suite's kernel object (testdata/core/progs/kernel.bpf.o).
    pub kernel_object: String,
    /// The uprobe demo's application, versions 1 and 2.
    pub apps: [String; 2],
    /// Objects whose programs `core check --btf` judges and libbpf loads
    /// one by one (the verifier's ground truth): the check suites and five
    /// real tools.
    pub check_objects: Vec<String>,
    /// Every libbpf-tools object, for the same comparison
    /// ([`TOOLS_CHECK`]).
    #[serde(default)]
    pub tool_objects: Vec<String>,
    /// libbpf's loader of single programs (testdata/oracle/load_programs.c).
    pub load_programs: String,
    /// The kernel's `.config` (for `.kconfig` externs), where its package
    /// ships one. Not at /boot: the tracer is to find no config.
    pub kconfig: Option<String>,
    /// Deliberate breakage, to prove the harness catches it:
    /// `wrong-btf` gives the tracer's own-BTF checks another kernel's BTF.
    #[serde(default)]
    pub inject: Vec<String>,
}

/// The outcome of one check.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct CheckResult {
    /// The check's name.
    pub check: String,
    /// Whether it passed.
    pub pass: bool,
    /// What was seen (values read, the error, the BTF source).
    pub detail: String,
    /// How long it took in the guest.
    pub secs: f64,
}

impl CheckResult {
    /// The console line for this result.
    pub fn line(&self) -> String {
        format!(
            "{RESULT_PREFIX}{}",
            serde_json::to_string(self).expect("a result serializes")
        )
    }

    /// The result on a console line, if it is one. Serial consoles can
    /// put kernel messages before the prefix on the same line.
    pub fn parse_line(line: &str) -> Option<CheckResult> {
        let at = line.find(RESULT_PREFIX)?;
        serde_json::from_str(line[at + RESULT_PREFIX.len()..].trim_end()).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_lines_roundtrip_and_tolerate_console_noise() {
        let r = CheckResult {
            check: "trace-sysfs-ring".into(),
            pass: true,
            detail: "argv [\"/bin/sh\"]".into(),
            secs: 1.5,
        };
        let line = format!("[   12.3] random: crng init done{}\r", r.line());
        assert_eq!(CheckResult::parse_line(&line), Some(r));
        assert_eq!(CheckResult::parse_line("@@vmtest-result {broken"), None);
        assert_eq!(CheckResult::parse_line("plain kernel message"), None);
    }
}
