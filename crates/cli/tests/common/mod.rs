//! Running the `btfkit` binary from the command-line tests.
// Each test file uses some of these.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Output};

/// Runs btfkit with `args`.
pub fn btfkit<S: AsRef<OsStr>>(args: &[S]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_btfkit"))
        .args(args)
        .output()
        .expect("run btfkit")
}

/// Runs btfkit and requires success (its stderr in the panic message).
pub fn run_ok(args: &[&str]) -> Output {
    let r = btfkit(args);
    assert!(
        r.status.success(),
        "btfkit {args:?}: {}",
        String::from_utf8_lossy(&r.stderr)
    );
    r
}

/// Runs btfkit and requires success; returns its stdout.
pub fn ok_stdout(args: &[&str]) -> String {
    String::from_utf8(run_ok(args).stdout).unwrap()
}

/// Runs btfkit and requires a failure told in one line; returns it.
pub fn fails(args: &[&str]) -> String {
    let r = btfkit(args);
    let err = String::from_utf8_lossy(&r.stderr).into_owned();
    assert!(!r.status.success(), "btfkit {args:?} succeeded");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    err
}

pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}
