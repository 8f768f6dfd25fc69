//! `btfkit resolve` driven by the `BTFKIT_*` environment, on fake hosts,
//! the real host, and a bundle built from the corpus.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use btfkit_testutil as tu;
use serde_json::Value;

const ENV: &[&str] = &[
    "BTFKIT_BTF_FILE",
    "BTFKIT_HOST_ROOT",
    "BTFKIT_OSRELEASE_FILE",
    "BTFKIT_KCONFIG_FILE",
    "BTFKIT_KERNEL_RELEASE",
    "BTFKIT_MACHINE",
];

fn btfkit(args: &[&str], env: &[(&str, &str)], cwd: Option<&Path>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_btfkit"));
    c.args(args);
    for k in ENV {
        c.env_remove(k);
    }
    for (k, v) in env {
        c.env(k, v);
    }
    if let Some(d) = cwd {
        c.current_dir(d);
    }
    c.output().expect("run btfkit")
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A bundle of the corpus for the probe object, built once per run.
fn corpus_bundle() -> Option<PathBuf> {
    static B: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    B.get_or_init(|| {
        let corpus = tu::corpus_dir()?;
        let out = tu::cache_dir().join("resolve-cli.bundle");
        let obj = tu::workspace_root().join("testdata/core/progs/probe.bpf.o");
        let r = btfkit(
            &[
                "hub",
                "build",
                "--archive",
                s(&corpus.join("archive")),
                s(&obj),
                "-o",
                s(&out),
            ],
            &[],
            None,
        );
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
        Some(out)
    })
    .clone()
}

#[test]
fn fake_debian_host_resolves_from_the_bundle() {
    let Some(bundle) = corpus_bundle() else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    tu::write_under(
        root.path(),
        "/etc/os-release",
        b"ID=debian\nVERSION_ID=\"12\"\n",
    );
    let mut gz = Vec::new();
    {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(&mut gz, flate2::Compression::default());
        e.write_all(b"CONFIG_BPF=y\nCONFIG_DEBUG_INFO_BTF=n\nbad line\nCONFIG_HZ=250\n")
            .unwrap();
        e.finish().unwrap();
    }
    tu::write_under(root.path(), "/proc/config.gz", &gz);
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("resolved.btf");
    let env = [
        ("BTFKIT_HOST_ROOT", s(root.path())),
        ("BTFKIT_KERNEL_RELEASE", "6.1.0-56-arm64"),
        ("BTFKIT_MACHINE", "aarch64"),
    ];
    let r = btfkit(
        &["resolve", "--bundle", s(&bundle), "--json", "-o", s(&out)],
        &env,
        None,
    );
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let v = json_of(&r);
    assert_eq!(v["chosen"]["kind"], "bundle");
    assert_eq!(v["chosen"]["what"], "debian/12/arm64/6.1.0-56-arm64");
    assert_eq!(v["host"]["arch"], "arm64");
    assert_eq!(v["host"]["linux_kernel_version"], (6 << 16) + (1 << 8));
    assert_eq!(v["kconfig"]["values"]["CONFIG_BPF"], "y");
    assert_eq!(v["kconfig"]["values"]["CONFIG_DEBUG_INFO_BTF"], "n");
    assert_eq!(v["kconfig"]["diagnostics"][0]["line"], 3);
    assert_eq!(v["warnings"].as_array().unwrap().len(), 0);
    // The bytes are the bundle's entry.
    let entry = work.path().join("entry.btf");
    let g = btfkit(
        &[
            "hub",
            "get",
            s(&bundle),
            "debian/12/aarch64/6.1.0-56-arm64",
            "-o",
            s(&entry),
        ],
        &[],
        None,
    );
    assert!(g.status.success());
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&entry).unwrap());
    // Text: every rung, the choice, the kconfig line.
    let r = btfkit(&["resolve", "--bundle", s(&bundle)], &env, None);
    let text = String::from_utf8_lossy(&r.stdout);
    assert!(
        text.contains("BTF: btfenv = false sysfs = false vmlinux_file = false bundle = true"),
        "{text}"
    );
    assert!(
        text.contains("chosen   bundle entry debian/12/arm64/6.1.0-56-arm64"),
        "{text}"
    );
    assert!(text.contains("1 unreadable lines (first: line 3"), "{text}");
    assert_eq!(text.matches("absent: no such file").count(), 8, "{text}");
}

#[test]
fn env_override_must_work_and_failures_are_one_line() {
    let root = tempfile::tempdir().unwrap();
    let env = [
        ("BTFKIT_HOST_ROOT", s(root.path())),
        ("BTFKIT_BTF_FILE", "/nonexistent/x.btf"),
    ];
    let r = btfkit(&["resolve"], &env, None);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(!r.status.success());
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.starts_with("btfkit: BTFKIT_BTF_FILE=/nonexistent/x.btf"),
        "{err}"
    );
    let stdout = String::from_utf8_lossy(&r.stdout);
    assert!(
        stdout.contains("1. BTFKIT_BTF_FILE /nonexistent/x.btf: failed"),
        "{stdout}"
    );
    // Nothing at all: every rung listed, one error line.
    let env = [
        ("BTFKIT_HOST_ROOT", s(root.path())),
        ("BTFKIT_KERNEL_RELEASE", "1.2.3"),
    ];
    let r = btfkit(&["resolve", "--json"], &env, None);
    assert!(!r.status.success());
    let v = json_of(&r);
    assert_eq!(v["steps"].as_array().unwrap().len(), 10);
    assert!(v["error"]
        .as_str()
        .unwrap()
        .starts_with("no BTF for kernel \"1.2.3\""));
    assert!(v["kconfig"]["error"]
        .as_str()
        .unwrap()
        .contains("config-1.2.3"));
    // A bundle that is not one.
    let junk = tu::write_under(root.path(), "/junk.bundle", b"BTFKITBN and then nonsense");
    let r = btfkit(&["resolve", "--bundle", s(&junk)], &env, None);
    assert!(String::from_utf8_lossy(&r.stdout).contains("bundle: failed: bundle refused"));
    // A vmlinux that is not BTF.
    tu::write_under(root.path(), "/sys/kernel/btf/vmlinux", b"nope");
    let r = btfkit(&["resolve", "--json"], &env, None);
    let v = json_of(&r);
    assert_eq!(v["steps"][1]["outcome"], "failed");
}

#[test]
fn resolution_creates_no_file() {
    let Some(bundle) = corpus_bundle() else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    tu::write_under(
        root.path(),
        "/etc/os-release",
        b"ID=debian\nVERSION_ID=12\n",
    );
    tu::write_under(
        root.path(),
        "/boot/config-6.1.0-56-amd64",
        b"CONFIG_BPF=y\n",
    );
    let empty = tempfile::tempdir().unwrap();
    let list = |p: &Path| {
        let mut v: Vec<PathBuf> = walk(p);
        v.sort();
        v
    };
    let before = list(root.path());
    let tmp = s(empty.path());
    for extra in [&[][..], &["--all"][..], &["--json"][..]] {
        let mut args = vec!["resolve", "--bundle", s(&bundle)];
        args.extend_from_slice(extra);
        let env = [
            ("BTFKIT_HOST_ROOT", s(root.path())),
            ("BTFKIT_KERNEL_RELEASE", "6.1.0-56-amd64"),
            ("TMPDIR", tmp),
            ("HOME", tmp),
            ("XDG_CACHE_HOME", tmp),
        ];
        let r = btfkit(&args, &env, Some(empty.path()));
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    }
    assert_eq!(list(root.path()), before, "the fake host changed");
    assert!(
        list(empty.path()).is_empty(),
        "files appeared: {:?}",
        list(empty.path())
    );
}

fn walk(d: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(d) {
        for e in rd.flatten() {
            out.push(e.path());
            if e.path().is_dir() {
                out.extend(walk(&e.path()));
            }
        }
    }
    out
}

#[test]
fn real_host_uses_sysfs() {
    if !Path::new("/sys/kernel/btf/vmlinux").exists() {
        tu::missing::<()>("/sys/kernel/btf/vmlinux");
        return;
    }
    let r = btfkit(&["resolve", "--json"], &[], None);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let v = json_of(&r);
    assert_eq!(v["chosen"]["kind"], "sysfs");
    assert_eq!(
        v["chosen"]["size"].as_u64().unwrap(),
        std::fs::metadata("/sys/kernel/btf/vmlinux").unwrap().len()
    );
    let uname = String::from_utf8(tu::run_ok(Command::new("uname").arg("-r"))).unwrap();
    assert_eq!(v["host"]["release"], uname.trim());
}

/// `resolve --exec`: the command runs with the chosen BTF in a sealed
/// memory file, its path in BTFKIT_BTF_PATH and in place of `{btf}`;
/// the bytes are the chosen BTF's; without BTF the command never runs,
/// the report goes to stderr and the exit status is non-zero.
#[test]
fn exec_hands_the_btf_over_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = btfkit_btf::BtfBuilder::new();
    b.add_int("int", 4, btfkit_btf::INT_SIGNED).unwrap();
    let btf = b.finish();
    let file = tu::write_under(dir.path(), "chosen.btf", &btf);
    let script = r#"case "$1" in /proc/self/fd/*) ;; *) exit 3;; esac
[ "$1" = "$BTFKIT_BTF_PATH" ] || exit 4
[ -w "$1" ] && printf x >> "$1" 2>/dev/null && exit 5
cat "$1""#;
    let out = btfkit(
        &["resolve", "--exec", "sh", "-c", script, "sh", "{btf}"],
        &[("BTFKIT_BTF_FILE", s(&file))],
        None,
    );
    assert!(
        out.status.success(),
        "{:?} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        out.stdout, btf,
        "the command read other bytes than the chosen BTF"
    );
    // No BTF: the report on stderr, and the command does not run.
    let ran = dir.path().join("ran");
    let out = btfkit(
        &["resolve", "--exec", "touch", s(&ran)],
        &[("BTFKIT_BTF_FILE", s(&dir.path().join("missing.btf")))],
        None,
    );
    assert!(!out.status.success());
    assert!(!ran.exists(), "the command ran without BTF");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("BTFKIT_BTF_FILE"), "{err}");
    assert!(out.stdout.is_empty());
}
