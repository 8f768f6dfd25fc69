//! The `btfkit` binary: its command-line contract, output and errors.

use std::process::{Command, Stdio};

use btfkit_testutil as tu;

mod common;
use common::{btfkit, ok_stdout as ok};

/// Runs a failing command and returns its one-line error.
fn fails(args: &[&str]) -> String {
    let out = btfkit(args);
    assert_eq!(out.status.code(), Some(1), "btfkit {args:?} should fail");
    assert!(out.stdout.is_empty());
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "one line of error: {err:?}");
    assert!(err.starts_with("btfkit: "), "{err}");
    err
}

#[test]
fn version_and_help_everywhere() {
    assert_eq!(
        ok(&["--version"]).trim(),
        format!("btfkit {}", env!("CARGO_PKG_VERSION"))
    );
    for args in [
        vec!["--help"],
        vec!["btf", "--help"],
        vec!["btf", "dump", "--help"],
        vec!["btf", "stat", "--help"],
    ] {
        let help = ok(&args);
        assert!(help.contains("Usage: btfkit"), "{args:?}: {help}");
    }
    assert!(ok(&["btf", "dump", "--help"]).contains("Example: btfkit btf dump"));
    assert!(ok(&["btf", "stat", "--help"]).contains("Example: btfkit btf stat"));
    let out = btfkit(&["btf", "nosuchcmd"]);
    assert_eq!(out.status.code(), Some(2), "usage errors exit 2 (clap)");
}

#[test]
fn dump_reads_btfhub_tarballs_and_matches_bpftool() {
    let Some(k) = tu::corpus_kernel("debian/12/arm64/6.1.0-56-arm64") else {
        return;
    };
    let ours = ok(&["btf", "dump", k.archive.to_str().unwrap()]);
    let Some(theirs) = tu::bpftool(&[
        "btf",
        "dump",
        "file",
        k.raw_path().to_str().unwrap(),
        "format",
        "raw",
    ]) else {
        return;
    };
    assert!(
        ours.as_bytes() == theirs,
        "btfkit btf dump of the .btf.tar.xz differs from bpftool on the raw file"
    );
}

#[test]
fn dump_split_module_with_base() {
    let mods = tu::corpus_modules();
    let Some(m) = mods.iter().find(|m| m.name == "kvm") else {
        return;
    };
    let (mp, bp) = (m.raw.to_str().unwrap(), m.base.archive.to_str().unwrap());
    let ours = ok(&["btf", "dump", mp, "-B", bp]);
    assert_eq!(
        ours,
        ok(&["btf", "dump", mp, "--base", bp, "--format", "raw"])
    );
    let raw_base = m.base.raw_path();
    let Some(theirs) = tu::bpftool(&[
        "btf",
        "dump",
        "file",
        mp,
        "-B",
        raw_base.to_str().unwrap(),
        "format",
        "raw",
    ]) else {
        return;
    };
    assert!(ours.as_bytes() == theirs);
    let first = ours.lines().next().unwrap();
    assert!(
        first.starts_with("[100751] "),
        "split ids continue after the base: {first}"
    );
}

#[test]
fn json_lines_and_stat() {
    let objs = tu::bpf_objects();
    let Some(o) = objs.iter().find(|o| o.label.starts_with("layouts")) else {
        return;
    };
    let p = o.path.to_str().unwrap();
    let json = ok(&["btf", "dump", p, "--format", "json"]);
    let mut n = 0;
    for (i, line) in json.lines().enumerate() {
        let v: serde_json::Value =
            serde_json::from_str(line).expect("each line is one JSON object");
        assert_eq!(v["id"], i as u64 + 1);
        n += 1;
    }
    let stat: serde_json::Value = serde_json::from_str(&ok(&["btf", "stat", p, "--json"])).unwrap();
    assert_eq!(stat["type_count"], n);
    let by_kind: u64 = stat["kinds"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(by_kind, n);
    let text = ok(&["btf", "stat", p]);
    assert!(
        text.contains(&format!("types:           {n} (ids 1..={n})")),
        "{text}"
    );
    assert!(text.contains("STRUCT"), "{text}");
}

#[test]
fn stat_of_host_kernel() {
    if !std::path::Path::new("/sys/kernel/btf/vmlinux").exists() {
        tu::missing::<()>("/sys/kernel/btf/vmlinux");
        return;
    }
    let text = ok(&["btf", "stat", "/sys/kernel/btf/vmlinux"]);
    assert!(
        text.contains("little-endian") && text.contains("FUNC_PROTO"),
        "{text}"
    );
}

#[test]
fn errors_are_one_line_with_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.btf");
    let e = fails(&["btf", "dump", missing.to_str().unwrap()]);
    assert!(
        e.contains("missing.btf") && e.contains("No such file"),
        "{e}"
    );
    let bad = dir.path().join("bad.btf");
    std::fs::write(&bad, b"\x00\x01garbage that is not BTF").unwrap();
    let e = fails(&["btf", "stat", bad.to_str().unwrap()]);
    assert!(e.contains("bad.btf") && e.contains("bad magic"), "{e}");
    let trunc = dir.path().join("trunc.btf");
    std::fs::write(&trunc, [0x9f, 0xeb, 1, 0, 24, 0, 0, 0, 0, 0]).unwrap();
    let e = fails(&["btf", "dump", trunc.to_str().unwrap()]);
    assert!(
        e.contains("trunc.btf") && e.contains("truncated header"),
        "{e}"
    );
}

#[test]
fn closed_pipe_is_not_an_error() {
    let Some(k) = tu::corpus_kernel("debian/12/x86_64/6.1.0-56-amd64") else {
        return;
    };
    let mut child = Command::new(env!("CARGO_BIN_EXE_btfkit"))
        .args(["btf", "dump", k.raw_path().to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read one line, then close the pipe.
    let mut stdout = child.stdout.take().unwrap();
    let mut buf = [0u8; 64];
    std::io::Read::read(&mut stdout, &mut buf).unwrap();
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{:?}", out.status);
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
