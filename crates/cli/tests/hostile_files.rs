//! Hostile and careless inputs (issue 17, rows 4, 5, 5b, 6, 7, 9 and the
//! kernel release override): archives with symlinks out and in loops, key
//! components that would leave the archive, special files and garbage
//! given as inputs, tarballs that hide their BTF. Every input is made
//! here; every command runs under a deadline, so a hang fails the test
//! instead of stalling the suite.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use btfkit_testutil as tu;

mod common;
use common::s;

/// Environment variables the resolver reads: cleared for every run.
const RESOLVER_ENV: &[&str] = &[
    "BTFKIT_BTF_FILE",
    "BTFKIT_HOST_ROOT",
    "BTFKIT_OSRELEASE_FILE",
    "BTFKIT_KCONFIG_FILE",
    "BTFKIT_KERNEL_RELEASE",
    "BTFKIT_MACHINE",
];

/// How long any one command may take.
const DEADLINE: Duration = Duration::from_secs(10);

/// Runs btfkit with `args` and `env`, killing it and failing the test if
/// it is still running after [`DEADLINE`].
fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_btfkit"));
    c.args(args);
    for k in RESOLVER_ENV {
        c.env_remove(k);
    }
    c.envs(env.iter().copied());
    tu::output_within(&mut c, DEADLINE)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs btfkit and requires success; returns stderr.
fn ok(args: &[&str], env: &[(&str, &str)]) -> Output {
    let r = run(args, env);
    assert!(r.status.success(), "btfkit {args:?}: {}", text(&r.stderr));
    r
}

/// Runs btfkit and requires a failure told in one line; returns it.
fn fails(args: &[&str], env: &[(&str, &str)]) -> String {
    let r = run(args, env);
    let err = text(&r.stderr);
    assert!(!r.status.success(), "btfkit {args:?} succeeded: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
    err
}

fn mkfifo(p: &Path) {
    let st = Command::new("mkfifo").arg(p).status().expect("mkfifo");
    assert!(st.success(), "mkfifo {}", p.display());
}

fn symlink(target: impl AsRef<Path>, link: &Path) {
    std::fs::create_dir_all(link.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(target, link).unwrap();
}

/// Every path under `dir`, sorted (symlinks not followed).
fn tree(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.file_type().unwrap().is_dir() {
                todo.push(e.path());
            }
            out.push(e.path());
        }
    }
    out.sort();
    out
}

fn obj(name: &str) -> String {
    s(&tu::workspace_root().join("testdata/core/progs").join(name)).to_string()
}

const KEY: &str = "debian/12/x86_64/6.1.0-56-amd64";

/// Row 4. Directory symlinks (a loop back to the root) are not followed,
/// and a kernel-named symlink to /etc/passwd is refused as a failed
/// kernel, never read; a symlink that stays inside the archive is read.
#[test]
fn archive_symlinks_are_not_followed_out_of_the_archive() {
    let Some(k) = tu::corpus_kernel(KEY) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("archive");
    let real = format!("{KEY}.btf.tar.xz");
    tu::write_under(&a, &real, &std::fs::read(&k.archive).unwrap());
    symlink("../../..", &a.join("debian/12/loop/back"));
    symlink("/etc/passwd", &a.join("debian/12/x86_64/evil.btf"));
    let out = dir.path().join("b.bundle");
    let probe = obj("probe.bpf.o");
    let mut args = vec!["hub", "build", "--archive", s(&a), &probe, "-o", s(&out)];
    let r = run(&args, &[]);
    let err = text(&r.stderr);
    assert!(!r.status.success(), "{err}");
    assert!(err.contains("2 kernels: 1 done, 1 failed"), "{err}");
    assert!(
        err.contains(
            "failed debian/12/x86_64/evil: symlink to /etc/passwd, outside the archive: not read"
        ),
        "{err}"
    );
    assert!(
        err.contains("loop/back: a symlink to a folder, not followed"),
        "{err}"
    );
    // Nothing of /etc/passwd was parsed: the only failure is the refusal.
    assert_eq!(err.matches("failed ").count(), 1, "{err}");
    assert!(!err.contains("root:"), "{err}");

    // --keep-going: the one real kernel, nothing found through the loop.
    args.push("--keep-going");
    ok(&args, &[]);
    let listed = text(&ok(&["hub", "ls", s(&out)], &[]).stdout);
    let keys: Vec<&str> = listed
        .lines()
        .map(|l| l.split('\t').next().unwrap())
        .collect();
    assert_eq!(keys, [KEY], "{listed}");

    // A symlink that stays inside the archive is a kernel like any other.
    symlink(
        "6.1.0-56-amd64.btf.tar.xz",
        &a.join("debian/12/x86_64/alias.btf.tar.xz"),
    );
    std::fs::remove_file(a.join("debian/12/x86_64/evil.btf")).unwrap();
    let err = text(&ok(&args[..args.len() - 1], &[]).stderr);
    assert!(err.contains("2 kernels: 2 done, 0 failed"), "{err}");
}

/// Rows 5 and 5b. Every key flag of `hub add` refuses values that would
/// leave (or not name) its folder, naming the flag, before anything is
/// read or created; so does a release taken from a file name.
#[test]
fn hub_add_refuses_key_components_that_leave_the_archive() {
    let dir = tempfile::tempdir().unwrap();
    // The archive sits two folders deep so that `../../x` stays in `dir`.
    let a = dir.path().join("a/b/archive");
    std::fs::create_dir_all(&a).unwrap();
    let input = tu::write_under(dir.path(), "in/kernel.btf", b"never read");
    let escape = dir.path().join("escape");
    let before = tree(dir.path());
    let bad = [
        s(&escape),
        "/",
        "..",
        ".",
        "",
        "a/b",
        "../../x",
        "x\ny",
        "x\x1b[2J",
    ];
    for flag in ["--distro", "--version", "--arch", "--release"] {
        for value in bad {
            let mut args = vec!["hub", "add", s(&input), "--archive", s(&a)];
            for f in ["--distro", "--version", "--arch", "--release"] {
                args.extend([f, if f == flag { value } else { "x86_64" }]);
            }
            let err = fails(&args, &[]);
            let want = format!("btfkit: {flag} {value:?} is not a valid key component: it ");
            assert!(err.starts_with(&want), "{flag} {value:?}: {err}");
            assert_eq!(tree(dir.path()), before, "{flag} {value:?} wrote something");
        }
    }
    // 5b in full: the message names the flag and is not cut off.
    let err = fails(
        &[
            "hub",
            "add",
            s(&input),
            "--archive",
            s(&a),
            "--distro",
            "d",
            "--version",
            "1",
            "--arch",
            "x86_64",
            "--release",
            "../../x",
        ],
        &[],
    );
    assert_eq!(
        err.trim_end(),
        "btfkit: --release \"../../x\" is not a valid key component: it contains '/'"
    );
    // A sound name that is no architecture folder: `hub build` would
    // refuse the entry, so `hub add` does not write it.
    let mut args = vec!["hub", "add", s(&input), "--archive", s(&a)];
    args.extend(["--distro", "d", "--version", "1", "--release", "r"]);
    args.extend(["--arch", "sparc128"]);
    let err = fails(&args, &[]);
    assert!(
        err.starts_with("btfkit: --arch \"sparc128\": not an architecture archives know (x86_64, amd64, arm64, "),
        "{err}"
    );
    assert_eq!(tree(dir.path()), before);

    // A release from the input's name is checked as a flag is.
    let Some(k) = tu::corpus_kernel(KEY) else {
        return;
    };
    let image = tu::write_under(dir.path(), "in/vmlinuz-..", &k.raw_bytes());
    let before = tree(dir.path());
    let err = fails(
        &[
            "hub",
            "add",
            s(&image),
            "--archive",
            s(&a),
            "--distro",
            "d",
            "--version",
            "1",
            "--arch",
            "x86_64",
        ],
        &[],
    );
    assert!(
        err.contains("vmlinuz-..: its release \"..\" is not a valid key component: it is a path step; pass --release"),
        "{err}"
    );
    assert_eq!(tree(dir.path()), before);
}

/// Row 6. `/dev/zero` and a FIFO, as every kind of input file: each is
/// refused at once, in one line naming it.
#[test]
fn special_files_are_refused_promptly() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    mkfifo(&fifo);
    let a = dir.path().join("archive");
    std::fs::create_dir_all(&a).unwrap();
    let out = s(&dir.path().join("out")).to_string();
    let probe = obj("probe.bpf.o");
    let btf = "/sys/kernel/btf/vmlinux";
    for x in ["/dev/zero", s(&fifo)] {
        let kind = if x == "/dev/zero" {
            "a character device"
        } else {
            "a FIFO"
        };
        let want = format!("btfkit: {x}: {kind}, not a regular file\n");
        let key = [
            "--archive",
            s(&a),
            "--distro",
            "d",
            "--version",
            "1",
            "--arch",
            "x86_64",
            "--release",
            "r",
        ];
        let commands: Vec<Vec<&str>> = vec![
            [&["hub", "add", x][..], &key].concat(),
            vec!["btf", "extract", x, "-o", &out],
            vec!["hub", "build", "--archive", s(&a), x, "-o", &out],
            vec!["hub", "ls", x],
            vec!["hub", "verify", x],
            vec!["core", "check", x, "--btf", btf],
            vec!["core", "check", &probe, "--bundle", x],
            vec!["core", "check", &probe, "--btf", btf, "--kconfig", x],
            vec!["resolve", "--bundle", x],
            vec!["trace", "--bundle", x, "--duration", "0"],
            vec!["btf", "stat", x],
            vec!["btf", "dump", x],
            vec!["btf", "dump", btf, "--base", x],
            vec!["btf", "diff", x, btf],
            vec!["btf", "diff", btf, x],
            vec!["btf", "encode", x, "-o", &out],
            vec!["btf", "encode", &probe, "--base", x, "-o", &out],
            vec!["btf", "merge", x, btf, "-o", &out],
            vec!["btf", "merge", btf, x, "-o", &out],
            vec!["core", "explain", x, "--btf", btf],
            vec!["core", "explain", &probe, "--btf", x],
            vec!["core", "apply", x, "--btf", btf, "-o", &out],
            vec!["core", "apply", &probe, "--btf", x, "-o", &out],
            vec!["gen", "min", x, "--btf", btf, "-o", &out],
            vec!["gen", "min", &probe, "--btf", x, "-o", &out],
        ];
        for args in &commands {
            assert_eq!(fails(args, &[]), want, "{args:?}");
        }
    }
    assert!(std::fs::read_dir(&a).unwrap().next().is_none());
}

/// Row 6, the resolver's environment: `BTFKIT_BTF_FILE` as a special file
/// fails resolution; `BTFKIT_OSRELEASE_FILE` and `BTFKIT_KCONFIG_FILE` as
/// one are reported unusable, each naming the file — all at once.
#[test]
fn special_files_in_the_resolver_environment_are_refused_promptly() {
    let Some(k) = tu::corpus_kernel(KEY) else {
        return;
    };
    let raw = k.raw_path();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(&root).unwrap();
    let fifo = dir.path().join("fifo");
    mkfifo(&fifo);
    for x in ["/dev/zero", s(&fifo)] {
        let kind = if x == "/dev/zero" {
            "a character device"
        } else {
            "a FIFO"
        };
        let host = ("BTFKIT_HOST_ROOT", s(&root));
        let err = fails(&["resolve"], &[host, ("BTFKIT_BTF_FILE", x)]);
        assert_eq!(
            err,
            format!("btfkit: BTFKIT_BTF_FILE={x}: {kind}, not a regular file\n")
        );
        let with_btf = ("BTFKIT_BTF_FILE", s(&raw));
        let r = ok(
            &["resolve"],
            &[host, with_btf, ("BTFKIT_OSRELEASE_FILE", x)],
        );
        let report = text(&r.stdout);
        let want = format!("os-release unavailable: {x}: {kind}, not a regular file\n");
        assert!(report.contains(&want), "{report}");
        let r = ok(&["resolve"], &[host, with_btf, ("BTFKIT_KCONFIG_FILE", x)]);
        let report = text(&r.stdout);
        let want =
            format!("kconfig  unavailable: BTFKIT_KCONFIG_FILE={x}: {kind}, not a regular file\n");
        assert!(report.contains(&want), "{report}");
    }
}

/// Row 7. A regular but garbage kernel config: one line of a megabyte is
/// quoted in under a hundred bytes, and a file of many bad lines keeps
/// only the first hundred diagnostics (and counts them all).
#[test]
fn garbage_kernel_config_is_quoted_briefly() {
    let Some(k) = tu::corpus_kernel(KEY) else {
        return;
    };
    let raw = k.raw_path();
    let dir = tempfile::tempdir().unwrap();
    let one_line = tu::write_under(dir.path(), "one-line", &vec![b'G'; 1 << 20]);
    let env = |p: &Path| {
        [
            ("BTFKIT_BTF_FILE", s(&raw).to_string()),
            ("BTFKIT_KCONFIG_FILE", s(p).to_string()),
        ]
    };
    let e = env(&one_line);
    let e: Vec<(&str, &str)> = e.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = ok(&["resolve", "--all"], &e);
    assert!(r.stderr.len() < 1024, "{}", text(&r.stderr));
    let report = text(&r.stdout);
    let line = report
        .lines()
        .find(|l| l.starts_with("kconfig"))
        .unwrap_or_else(|| panic!("{report}"));
    assert!(line.len() < 300, "{line}");
    assert!(
        line.contains("1 unreadable lines (first: line 1: no '=' in \"GGG"),
        "{line}"
    );
    assert!(
        line.contains("... (") && line.contains(" more bytes)"),
        "{line}"
    );
    assert!(report.len() < 4096, "{} bytes", report.len());

    let many = tu::write_under(dir.path(), "many", "x\n".repeat(200_000).as_bytes());
    let e = env(&many);
    let e: Vec<(&str, &str)> = e.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = ok(&["resolve", "--json"], &e);
    let v: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(v["kconfig"]["unreadable_lines"], 200_000);
    assert_eq!(v["kconfig"]["diagnostics"].as_array().unwrap().len(), 100);
}

/// The smaller row. `BTFKIT_KERNEL_RELEASE=../../../../etc/passwd` is
/// refused naming the variable, before any path is made of it: a BTF
/// planted where `/boot/vmlinux-<release>` would lead (and a config where
/// `/boot/config-<release>` would) is never read.
#[test]
fn kernel_release_override_never_leaves_the_host() {
    let Some(k) = tu::corpus_kernel(KEY) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    // <root>/boot/vmlinux-../../../../etc/passwd is <dir>/etc/passwd.
    std::fs::create_dir_all(root.join("boot/vmlinux-..")).unwrap();
    std::fs::create_dir_all(root.join("boot/config-..")).unwrap();
    tu::write_under(dir.path(), "etc/passwd", &k.raw_bytes());
    for probe in ["vmlinux", "config"] {
        let p = root.join(format!("boot/{probe}-../../../../etc/passwd"));
        assert!(p.is_file(), "{} does not lead out", p.display());
    }
    let env = [
        ("BTFKIT_HOST_ROOT", s(&root)),
        ("BTFKIT_KERNEL_RELEASE", "../../../../etc/passwd"),
    ];
    let r = run(&["resolve", "--json"], &env);
    assert!(!r.status.success());
    let want = "BTFKIT_KERNEL_RELEASE=\"../../../../etc/passwd\" is not a valid kernel release: it contains '/'";
    assert_eq!(text(&r.stderr), format!("btfkit: {want}\n"));
    let v: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(v["error"], want);
    assert_eq!(v["steps"], serde_json::json!([]), "{v}");
    assert!(v["chosen"].is_null(), "{v}");
    let kc = v["kconfig"]["error"]
        .as_str()
        .unwrap_or_else(|| panic!("{v}"));
    assert!(
        kc.contains("/boot/config-<release> not tried: BTFKIT_KERNEL_RELEASE="),
        "{kc}"
    );
    let err = fails(&["resolve"], &[("BTFKIT_MACHINE", "../x")]);
    assert_eq!(
        err,
        "btfkit: BTFKIT_MACHINE=\"../x\" is not a valid machine: it contains '/'\n"
    );
}

/// Row 9. `hub build` and `btf stat` pick a tarball's member by the same
/// rule: the `.btf` member after 20,000 one-byte ones; two `.btf` members
/// are an error naming both; an empty tarball is "no regular file" to
/// `hub build` (and to `btf stat`, below).
#[test]
fn tarball_members_are_picked_alike_by_hub_build_and_btf_stat() {
    let Some(k) = tu::corpus_kernel(KEY) else {
        return;
    };
    let raw = k.raw_bytes();
    let dir = tempfile::tempdir().unwrap();
    let names: Vec<String> = (0..20_000).map(|i| format!("pad/{i}")).collect();
    let mut members: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b"x"[..])).collect();
    members.push(("6.1.0-56-amd64.btf", &raw));
    let padded = tu::tar_xz(&members);
    let both = tu::tar_xz(&[("a.btf", &raw), ("b.btf", &raw)]);
    let empty = tu::tar_xz(&[]);
    let probe = obj("probe.bpf.o");
    let build = |name: &str, tarball: &[u8]| {
        let a = dir.path().join(name);
        let t = tu::write_under(&a, &format!("{KEY}.btf.tar.xz"), tarball);
        let tree = dir.path().join(format!("{name}.tree"));
        let out = dir.path().join(format!("{name}.bundle"));
        let args = [
            "hub",
            "build",
            "--archive",
            s(&a),
            &probe,
            "-o",
            s(&out),
            "--tree",
            s(&tree),
        ];
        (t, run(&args, &[]), tree.join(format!("{KEY}.btf")))
    };

    // The padded tarball: both read the real member.
    let (t, r, built) = build("padded", &padded);
    assert!(r.status.success(), "{}", text(&r.stderr));
    let plain = tu::write_under(dir.path(), "plain.btf", &raw);
    let stat = |p: &Path| text(&ok(&["btf", "stat", s(p)], &[]).stdout);
    assert_eq!(stat(&t), stat(&plain).replace(s(&plain), s(&t)));
    let gen = dir.path().join("gen.btf");
    ok(
        &["gen", "min", &probe, "--btf", s(&plain), "-o", s(&gen)],
        &[],
    );
    assert_eq!(std::fs::read(&built).unwrap(), std::fs::read(&gen).unwrap());

    // Two .btf members: the same error from both.
    let why =
        "tarball has two .btf members, \"a.btf\" and \"b.btf\": which is the kernel's is ambiguous";
    let (t, r, _) = build("both", &both);
    let err = text(&r.stderr);
    assert!(!r.status.success(), "{err}");
    assert!(
        failure_line(&err).ends_with(&format!(".btf.tar.xz: {why}")),
        "{err}"
    );
    let err = fails(&["btf", "stat", s(&t)], &[]);
    assert!(err.contains(why), "{err}");

    // An empty tarball (only the two zero end blocks).
    let (_, r, _) = build("empty", &empty);
    let err = text(&r.stderr);
    assert!(!r.status.success(), "{err}");
    let why = "tarball has no regular file";
    assert!(
        failure_line(&err).ends_with(&format!(".btf.tar.xz: {why}")),
        "{err}"
    );
}

/// Row 9b for `btf stat`: an empty tarball holds no `ustar` header, only
/// its end marker of zeros; reading by content recognizes it and says
/// what `hub build` says, not "bad magic 0x0000".
#[test]
fn empty_tarball_is_no_regular_file_for_btf_stat_too() {
    let dir = tempfile::tempdir().unwrap();
    let t = tu::write_under(dir.path(), "empty.btf.tar.xz", &tu::tar_xz(&[]));
    let err = fails(&["btf", "stat", s(&t)], &[]);
    assert!(err.contains("tarball has no regular file"), "{err}");
}

/// The summary's line for the kernel `KEY`, past its key: the archive
/// file, then why (`hub build` names the file; `btf stat` was given it).
fn failure_line(stderr: &str) -> &str {
    let head = format!("  failed {KEY}: ");
    stderr
        .lines()
        .find_map(|l| l.strip_prefix(head.as_str()))
        .unwrap_or_else(|| panic!("no failure line for {KEY}: {stderr}"))
}
