//! `btfkit hub build/ls/get/verify` over the corpus, the archive's bad
//! inputs, and the build cache.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use btfkit_testutil as tu;

mod common;
use common::{btfkit, fails, run_ok as ok, s};

/// Fails with exactly one line on stderr.
/// Every object of the CO-RE suite.
fn suite_objects() -> Vec<String> {
    let dir = tu::workspace_root().join("testdata/core/progs");
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| s(p).ends_with(".bpf.o"))
        .map(|p| s(&p).to_string())
        .collect();
    v.sort();
    assert!(v.len() >= 10, "{v:?}");
    v
}

struct Built {
    dir: PathBuf,
    bundle: PathBuf,
    tree: PathBuf,
    stderr: String,
}

/// One bundle of the whole corpus for the suite's objects, shared by the
/// tests of this file.
fn corpus_bundle() -> Option<&'static Built> {
    static B: OnceLock<Option<Built>> = OnceLock::new();
    B.get_or_init(|| {
        let corpus = tu::corpus_dir()?;
        let dir = tu::cache_dir().join("hub-cli");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let bundle = dir.join("corpus.bundle");
        let tree = dir.join("tree");
        let mut args = vec![
            "hub".to_string(),
            "build".into(),
            "--archive".into(),
            s(&corpus.join("archive")).into(),
            "-o".into(),
            s(&bundle).into(),
            "--tree".into(),
            s(&tree).into(),
            "--jobs".into(),
            "2".into(),
        ];
        args.extend(suite_objects());
        let r = btfkit(&args);
        let stderr = String::from_utf8_lossy(&r.stderr).into_owned();
        assert!(r.status.success(), "{stderr}");
        Some(Built {
            dir,
            bundle,
            tree,
            stderr,
        })
    })
    .as_ref()
}

fn ls_keys(bundle: &Path) -> Vec<serde_json::Value> {
    let out = ok(&["hub", "ls", s(bundle), "--json"]);
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn corpus_bundle_entries_equal_gen_min() {
    let Some(b) = corpus_bundle() else { return };
    let kernels = tu::corpus_kernels();
    assert!(
        b.stderr.contains(&format!(
            "{n} kernels: {n} done, 0 failed",
            n = kernels.len()
        )),
        "{}",
        b.stderr
    );
    let listed = ls_keys(&b.bundle);
    let mut want: Vec<String> = kernels
        .iter()
        .map(|k| k.key.replace("/aarch64/", "/arm64/"))
        .collect();
    want.sort();
    let got: Vec<String> = listed
        .iter()
        .map(|v| v["key"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(got, want);
    let objects = suite_objects();
    let work = tempfile::tempdir().unwrap();
    for k in &kernels {
        let key = k.key.replace("/aarch64/", "/arm64/");
        let from_bundle = work.path().join("entry.btf");
        ok(&["hub", "get", s(&b.bundle), &key, "-o", s(&from_bundle)]);
        let gen = work.path().join("gen.btf");
        let mut args = vec!["gen", "min", "--btf", s(&k.archive), "-o", s(&gen)];
        args.extend(objects.iter().map(String::as_str));
        ok(&args);
        let entry = std::fs::read(&from_bundle).unwrap();
        assert_eq!(
            entry,
            std::fs::read(&gen).unwrap(),
            "{key}: bundle entry differs from gen min"
        );
        let parts: Vec<&str> = key.splitn(4, '/').collect();
        let tree_file = b
            .tree
            .join(parts[0])
            .join(parts[1])
            .join(parts[2])
            .join(format!("{}.btf", parts[3]));
        assert_eq!(
            std::fs::read(&tree_file).unwrap(),
            entry,
            "{}",
            tree_file.display()
        );
    }
    let out = ok(&["hub", "verify", s(&b.bundle)]);
    let msg = String::from_utf8_lossy(&out.stdout);
    assert!(
        msg.contains(&format!("ok, {} kernels", kernels.len())),
        "{msg}"
    );
}

#[test]
fn bundle_is_smaller_than_a_solid_tar_xz_of_the_tree() {
    let Some(b) = corpus_bundle() else { return };
    let tar = b.dir.join("tree.tar.xz");
    tu::run_ok(
        Command::new("tar")
            .arg("-cJf")
            .arg(&tar)
            .arg("-C")
            .arg(&b.tree)
            .arg("."),
    );
    let (bundle, solid) = (
        std::fs::metadata(&b.bundle).unwrap().len(),
        std::fs::metadata(&tar).unwrap().len(),
    );
    assert!(
        bundle < solid,
        "bundle {bundle} bytes, tar -cJ {solid} bytes"
    );
}

#[test]
fn lookups_by_exact_key_and_by_either_arm64_name() {
    let Some(b) = corpus_bundle() else { return };
    let dir = tempfile::tempdir().unwrap();
    let key = "centos/8/arm64/4.18.0-147.5.1.el8_1.aarch64";
    let (a, c) = (dir.path().join("a.btf"), dir.path().join("c.btf"));
    ok(&["hub", "get", s(&b.bundle), key, "-o", s(&a)]);
    ok(&[
        "hub",
        "get",
        s(&b.bundle),
        &key.replace("arm64", "aarch64"),
        "-o",
        s(&c),
    ]);
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&c).unwrap());
    // The release keeps its own spelling: only the arch folder is normalized.
    let err = fails(&[
        "hub",
        "get",
        s(&b.bundle),
        "centos/8/arm64/4.18.0-147.5.1.el8_1.arm64",
        "-o",
        s(&a),
    ]);
    assert!(err.contains("no kernel"), "{err}");
    let deb = "debian/12/amd64/6.1.0-56-amd64";
    ok(&["hub", "get", s(&b.bundle), deb, "-o", s(&a)]);
    let k = tu::corpus_kernel("debian/12/x86_64/6.1.0-56-amd64").unwrap();
    let btf = std::fs::read(&a).unwrap();
    let parsed = btfkit_btf::Btf::parse(&btf).unwrap();
    assert!(parsed
        .find_first("task_struct", btfkit_btf::Kind::Struct)
        .is_some());
    assert!(btf.len() < k.raw_bytes().len() / 100);
    let err = fails(&["hub", "get", s(&b.bundle), "debian/12", "-o", s(&a)]);
    assert!(err.contains("distro/version/arch/release"), "{err}");
}

#[test]
fn verify_catches_a_flipped_byte_anywhere() {
    let Some(b) = corpus_bundle() else { return };
    let data = std::fs::read(&b.bundle).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let catalog_len = u32::from_le_bytes(data[24..28].try_into().unwrap()) as usize;
    let dict_len = u32::from_le_bytes(data[32..36].try_into().unwrap()) as usize;
    let places = [
        ("header (entry count)", 16),
        ("header (checksum)", 75),
        ("index", 80 + catalog_len / 2),
        ("dictionary", 80 + catalog_len + dict_len / 2),
        ("entry data", data.len() - 1),
    ];
    for (what, at) in places {
        let mut d = data.clone();
        d[at] ^= 0x04;
        let p = dir.path().join("flipped.bundle");
        std::fs::write(&p, &d).unwrap();
        let err = fails(&["hub", "verify", s(&p)]);
        assert!(err.contains("flipped.bundle"), "{what}: {err}");
    }
    // Every byte of the header and catalog, each bit position once.
    for at in 0..80 + catalog_len {
        let mut d = data.clone();
        d[at] ^= 1 << (at % 8);
        let p = dir.path().join("flipped.bundle");
        std::fs::write(&p, &d).unwrap();
        assert!(
            !btfkit(&["hub", "verify", s(&p)]).status.success(),
            "flip at {at}"
        );
    }
    // A damaged entry fails to decode on its own; the others still do.
    let mut d = data.clone();
    *d.last_mut().unwrap() ^= 0x10;
    let p = dir.path().join("entry.bundle");
    std::fs::write(&p, &d).unwrap();
    let listed = ls_keys(&p);
    let out = dir.path().join("x.btf");
    let (mut good, mut bad) = (0, 0);
    for v in &listed {
        let r = btfkit(&[
            "hub",
            "get",
            s(&p),
            v["key"].as_str().unwrap(),
            "-o",
            s(&out),
        ]);
        if r.status.success() {
            good += 1;
        } else {
            bad += 1;
        }
    }
    assert!(
        bad >= 1 && good >= listed.len() / 2,
        "{bad} bad, {good} good"
    );
}

// --- Bad archives -----------------------------------------------------

#[test]
fn bad_archive_entries_fail_per_kernel_with_reasons() {
    let Some(good) = tu::corpus_kernel("debian/12/x86_64/6.1.0-56-amd64") else {
        return;
    };
    let good = std::fs::read(&good.archive).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("archive");
    tu::write_under(&a, "debian/12/x86_64/6.1.0-56-amd64.btf.tar.xz", &good);
    tu::write_under(&a, "bad/1/x86_64/empty.btf.tar.xz", &tu::tar_xz(&[]));
    tu::write_under(
        &a,
        "bad/1/x86_64/nobtf.btf.tar.xz",
        &tu::tar_xz(&[("README", b"no btf here")]),
    );
    tu::write_under(
        &a,
        "bad/1/x86_64/corrupt.btf.tar.xz",
        &good[..good.len() / 3],
    );
    let mut flipped = good.clone();
    flipped[good.len() / 2] ^= 0xff;
    tu::write_under(&a, "bad/1/x86_64/flipped.btf.tar.xz", &flipped);
    tu::write_under(
        &a,
        "bad/1/x86_64/garbage.btf.tar.xz",
        &tu::tar_xz(&[("garbage.btf", &[0x5a; 4096])]),
    );
    tu::write_under(&a, "bad/1/x86_64/plain.btf", b"\x7fELF but not really");
    tu::write_under(&a, "dup/1/aarch64/r1.btf.tar.xz", &good);
    tu::write_under(&a, "dup/1/arm64/r1.btf.tar.xz", &good);
    tu::write_under(&a, "bad/1/sparc99/r2.btf.tar.xz", &good);
    tu::write_under(&a, "too/shallow.btf.tar.xz", &good);
    std::fs::create_dir_all(a.join("bad/1/x86_64")).unwrap();
    std::os::unix::fs::symlink(
        "/nonexistent/kernel.btf.tar.xz",
        a.join("bad/1/x86_64/unreadable.btf.tar.xz"),
    )
    .unwrap();
    let kernel_obj = tu::workspace_root().join("testdata/core/progs/kernel.bpf.o");
    let out = dir.path().join("out/b.bundle");
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    let args = [
        "hub",
        "build",
        "--archive",
        s(&a),
        s(&kernel_obj),
        "-o",
        s(&out),
    ];
    let r = btfkit(&args);
    let err = String::from_utf8_lossy(&r.stderr).into_owned();
    assert!(!r.status.success(), "{err}");
    assert!(!out.exists(), "a bundle was written despite failures");
    assert_eq!(
        std::fs::read_dir(out.parent().unwrap()).unwrap().count(),
        0,
        "leftover files"
    );
    let reasons = [
        ("bad/1/x86_64/empty", "tarball has no regular file"),
        ("bad/1/x86_64/nobtf", "none of them is a .btf file"),
        ("bad/1/x86_64/corrupt", "xz"),
        ("bad/1/x86_64/flipped", "xz"),
        ("bad/1/x86_64/garbage", "BTF"),
        ("bad/1/x86_64/plain", "BTF"),
        ("dup/1/arm64/r1", "duplicate key"),
        ("bad/1/sparc99/r2", "unknown architecture folder"),
        ("shallow", "not at <distro>/<version>/<arch>/<release>"),
        ("bad/1/x86_64/unreadable", "cannot resolve symlink"),
    ];
    for (key, reason) in reasons {
        let line = err
            .lines()
            .find(|l| l.contains("failed") && l.contains(key))
            .unwrap_or_else(|| panic!("no failure line for {key}: {err}"));
        assert!(line.contains(reason), "{key}: {line}");
    }
    assert!(err.contains("1 done, 11 failed"), "{err}");
    assert_eq!(err.matches("failed dup/1/arm64/r1").count(), 2, "{err}");

    // --keep-going writes what worked.
    let mut args = args.to_vec();
    args.push("--keep-going");
    let r = btfkit(&args);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(r.status.success(), "{err}");
    let listed = ls_keys(&out);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["key"], "debian/12/x86_64/6.1.0-56-amd64");
    ok(&["hub", "verify", s(&out)]);
}

#[test]
fn cache_skips_decompression_and_changes_nothing() {
    let Some(corpus) = tu::corpus_dir() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("archive");
    for key in [
        "debian/11/x86_64/5.10.0-32-amd64",
        "bclinux/21.10U3/x86_64/4.19.90-2107.6.0.0248.35.oe1.bclinux.x86_64",
    ] {
        let src = corpus.join("archive").join(format!("{key}.btf.tar.xz"));
        tu::write_under(
            &a,
            &format!("{key}.btf.tar.xz"),
            &std::fs::read(src).unwrap(),
        );
    }
    // A plain .btf and a .btf.xz are archive members too.
    let k = tu::corpus_kernel("debian/12/x86_64/6.1.0-56-amd64").unwrap();
    tu::write_under(&a, "debian/12/x86_64/6.1.0-56-amd64.btf", &k.raw_bytes());
    let xz = tu::run_ok(Command::new("xz").args(["-1", "-c"]).arg(k.raw_path()));
    tu::write_under(&a, "debian/12/x86_64/6.1.0-56-cloud-amd64.btf.xz", &xz);
    let obj = tu::workspace_root().join("testdata/core/progs/probe.bpf.o");
    let cache = dir.path().join("cache");
    let mut outs = Vec::new();
    for (i, jobs) in ["1", "2", "2"].iter().enumerate() {
        let out = dir.path().join(format!("b{i}.bundle"));
        let r = ok(&[
            "hub",
            "build",
            "--archive",
            s(&a),
            s(&obj),
            "-o",
            s(&out),
            "--cache",
            s(&cache),
            "--jobs",
            jobs,
        ]);
        let err = String::from_utf8_lossy(&r.stderr).into_owned();
        assert!(err.contains("4 kernels: 4 done, 0 failed"), "{err}");
        let from_cache = if i == 0 {
            "0 from cache"
        } else {
            "4 from cache"
        };
        assert!(err.contains(from_cache), "run {i}: {err}");
        outs.push(std::fs::read(&out).unwrap());
    }
    assert_eq!(outs[0], outs[1]);
    assert_eq!(outs[1], outs[2]);
    // Damaged cache entries are misses, rebuilt from the archive.
    let entries: Vec<PathBuf> = std::fs::read_dir(&cache)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(entries.len(), 4);
    std::fs::write(&entries[0], b"junk").unwrap();
    let mut d = std::fs::read(&entries[1]).unwrap();
    d[100] ^= 1;
    std::fs::write(&entries[1], d).unwrap();
    let out = dir.path().join("again.bundle");
    let r = ok(&[
        "hub",
        "build",
        "--archive",
        s(&a),
        s(&obj),
        "-o",
        s(&out),
        "--cache",
        s(&cache),
    ]);
    let err = String::from_utf8_lossy(&r.stderr).into_owned();
    assert!(err.contains("2 from cache"), "{err}");
    assert_eq!(std::fs::read(&out).unwrap(), outs[0]);
}

#[test]
fn hub_commands_reject_bad_bundles_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let junk = tu::write_under(
        dir.path(),
        "junk.bundle",
        b"not a bundle at all, just bytes",
    );
    let empty = tu::write_under(dir.path(), "empty.bundle", b"");
    for p in [&junk, &empty] {
        fails(&["hub", "ls", s(p)]);
        fails(&["hub", "verify", s(p)]);
        fails(&[
            "hub",
            "get",
            s(p),
            "a/b/c/d",
            "-o",
            s(&dir.path().join("o")),
        ]);
    }
    fails(&["hub", "ls", s(&dir.path().join("missing.bundle"))]);
    let err = fails(&[
        "hub",
        "build",
        "--archive",
        s(&dir.path().join("nope")),
        s(&junk),
        "-o",
        s(&dir.path().join("o")),
    ]);
    assert!(err.contains("junk.bundle") || err.contains("nope"), "{err}");
}

/// Outputs never replace inputs (issue 17 #3, #3b): `gen min` and `core
/// apply` given their own input as output, `hub build` an output inside
/// the archive it reads, `hub get` its bundle — each refused in one line
/// naming both, the input untouched.
#[test]
fn outputs_never_replace_inputs() {
    let Some(k) = tu::corpus_kernel("debian/12/x86_64/6.1.0-56-amd64") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let kernel = dir.path().join("6.1.btf");
    std::fs::write(&kernel, k.raw_bytes()).unwrap();
    let kernel_s = kernel.to_str().unwrap();
    let before = std::fs::read(&kernel).unwrap();
    let objs = suite_objects();
    let obj = objs
        .iter()
        .find(|o| o.ends_with("/kernel.bpf.o"))
        .unwrap()
        .as_str();
    let err = fails(&["gen", "min", obj, "--btf", kernel_s, "-o", kernel_s]);
    assert!(
        err.contains("refusing to overwrite an input") && err.contains("6.1.btf"),
        "{err}"
    );
    // Another path to the same file counts too.
    let link = dir.path().join("link.btf");
    std::os::unix::fs::symlink(&kernel, &link).unwrap();
    let err = fails(&[
        "gen",
        "min",
        obj,
        "--btf",
        kernel_s,
        "-o",
        link.to_str().unwrap(),
    ]);
    assert!(err.contains("refusing to overwrite an input"), "{err}");
    let obj_copy = dir.path().join("copy.bpf.o");
    std::fs::copy(obj, &obj_copy).unwrap();
    let oc = obj_copy.to_str().unwrap();
    let err = fails(&["core", "apply", oc, "--btf", kernel_s, "-o", oc]);
    assert!(err.contains("refusing to overwrite an input"), "{err}");
    assert_eq!(std::fs::read(&kernel).unwrap(), before);
    assert_eq!(
        std::fs::read(&obj_copy).unwrap(),
        std::fs::read(obj).unwrap()
    );
    // hub build: not inside the archive it reads.
    let a = dir.path().join("archive");
    let tarball = tu::write_under(
        &a,
        "debian/12/x86_64/6.1.0-56-amd64.btf.tar.xz",
        &std::fs::read(&k.archive).unwrap(),
    );
    let t = tarball.to_str().unwrap();
    let err = fails(&[
        "hub",
        "build",
        "--archive",
        a.to_str().unwrap(),
        obj,
        "-o",
        t,
    ]);
    assert!(err.contains("inside the archive"), "{err}");
    assert_eq!(
        std::fs::read(&tarball).unwrap(),
        std::fs::read(&k.archive).unwrap()
    );
    // hub get: not over the bundle.
    let bundle = dir.path().join("b.bundle");
    let b = bundle.to_str().unwrap();
    ok(&[
        "hub",
        "build",
        "--archive",
        a.to_str().unwrap(),
        obj,
        "-o",
        b,
    ]);
    let err = fails(&["hub", "get", b, "debian/12/x86_64/6.1.0-56-amd64", "-o", b]);
    assert!(err.contains("refusing to overwrite an input"), "{err}");
    ok(&["hub", "verify", b]);
}
