//! `btfkit btf extract` and `btfkit hub add` straight from debug packages
//! (issue 18): Debian's real `-dbg` package (its vmlinux has DWARF and a
//! `.BTF` section), the same vmlinux with `.BTF` stripped repacked as an
//! Ubuntu-style `.ddeb` (what RHEL and Ubuntu debug packages hold), and
//! small debug packages built here for the bad inputs.

use std::path::{Path, PathBuf};
use std::process::Command;

use btfkit_testutil as tu;

mod common;
use common::{btfkit, s};

/// Runs btfkit, asserting success; returns stderr.
fn ok(args: &[&str]) -> String {
    let r = btfkit(args);
    let err = String::from_utf8_lossy(&r.stderr).into_owned();
    assert!(r.status.success(), "btfkit {args:?}: {err}");
    err
}

/// The named types of a BTF file as layouts (see `tu::named_layouts`).
fn layouts(btf: &Path) -> std::collections::BTreeSet<Vec<String>> {
    let r = btfkit(&["btf", "dump", s(btf)]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    tu::named_layouts(&String::from_utf8_lossy(&r.stdout))
}

/// Asserts two layout sets are equal, listing a few differences if not.
fn assert_same_layouts(got: &Path, want: &Path) {
    let (g, w) = (layouts(got), layouts(want));
    let only_got: Vec<_> = g.difference(&w).take(5).collect();
    let only_want: Vec<_> = w.difference(&g).take(5).collect();
    assert!(
        only_got.is_empty() && only_want.is_empty(),
        "{} vs {}: only in the first {only_got:?}, only in the second {only_want:?}",
        got.display(),
        want.display()
    );
    assert!(w.len() > 50_000, "{} named layouts only", w.len());
}

/// The kernel's own BTF from the corpus, as a raw file.
fn kernel_file(kernel: &tu::Kernel, dir: &Path) -> PathBuf {
    let p = dir.join("kernel.btf");
    std::fs::write(&p, kernel.raw_bytes()).unwrap();
    p
}

/// Debian's -dbg package: its `.BTF` taken as it is (byte for byte the
/// corpus entry, which came from the image package), and with `--encode`
/// its DWARF encoded into the same named types and layouts.
#[test]
fn debian_debug_package_gives_the_kernels_types() {
    let Some((deb, kernel)) = tu::debian_debug_deb() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let taken = dir.path().join("taken.btf");
    let err = ok(&["btf", "extract", s(&deb), "-o", s(&taken)]);
    assert!(
        err.contains("-dbg") && err.ends_with("> ELF .BTF\n"),
        "{err}"
    );
    assert!(std::fs::read(&taken).unwrap() == kernel.raw_bytes());

    let encoded = dir.path().join("encoded.btf");
    let err = ok(&["btf", "extract", s(&deb), "--encode", "-o", s(&encoded)]);
    assert!(err.contains("ELF DWARF encoded by btfkit"), "{err}");
    assert_same_layouts(&encoded, &kernel_file(&kernel, dir.path()));
}

/// The -dbg package's vmlinux as a debug file without BTF, as
/// distributions make debug files (`objcopy --only-keep-debug`: code,
/// data and the `.BTF` section become NOBITS; `--remove-section=.BTF`
/// itself is refused, `__start_BTF` being named by relocations), so only
/// the DWARF holds the types. Made once and kept in the cache next to the
/// package.
fn debug_file(deb: &Path, release: &str) -> Option<PathBuf> {
    let dpkg = tu::require_tool("dpkg-deb")?;
    let objcopy = tu::require_tool("objcopy")?;
    let out = deb.with_file_name(format!("vmlinux-{release}.debug"));
    if out.exists() {
        return Some(out);
    }
    let work = deb.with_file_name("debug-file-work");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let member = format!("./usr/lib/debug/boot/vmlinux-{release}");
    let mut fs = Command::new(&dpkg)
        .arg("--fsys-tarfile")
        .arg(deb)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    tu::run_ok(
        Command::new("tar")
            .args(["-x", "-C"])
            .arg(&work)
            .arg(&member)
            .stdin(fs.stdout.take().unwrap()),
    );
    // tar stops after its member: dpkg-deb may end on a closed pipe.
    let _ = fs.wait();
    let tmp = out.with_extension("tmp");
    tu::run_ok(
        Command::new(objcopy)
            .arg("--only-keep-debug")
            .arg(work.join(&member))
            .arg(&tmp),
    );
    std::fs::rename(&tmp, &out).unwrap();
    let _ = std::fs::remove_dir_all(&work);
    Some(out)
}

/// The debug file in an Ubuntu-style `-dbgsym` package (gzip data, as
/// dpkg-deb writes it fast), kept in the cache.
fn stripped_ddeb(deb: &Path, release: &str) -> Option<PathBuf> {
    let dpkg = tu::require_tool("dpkg-deb")?;
    let debug = debug_file(deb, release)?;
    let out = deb.with_file_name(format!(
        "linux-image-unsigned-{release}-dbgsym_1_amd64.ddeb"
    ));
    if out.exists() {
        return Some(out);
    }
    let root = deb.with_file_name("ddeb-root");
    let _ = std::fs::remove_dir_all(&root);
    let boot = root.join("usr/lib/debug/boot");
    std::fs::create_dir_all(&boot).unwrap();
    std::fs::create_dir_all(root.join("DEBIAN")).unwrap();
    std::fs::hard_link(&debug, boot.join(format!("vmlinux-{release}")))
        .or_else(|_| std::fs::copy(&debug, boot.join(format!("vmlinux-{release}"))).map(drop))
        .unwrap();
    std::fs::write(
        root.join("DEBIAN/control"),
        format!(
            "Package: linux-image-unsigned-{release}-dbgsym\nVersion: 1\nArchitecture: amd64\n\
             Maintainer: Ubuntu Kernel Team <kernel-team@lists.ubuntu.com>\nDescription: t\n"
        ),
    )
    .unwrap();
    let tmp = out.with_extension("tmp");
    tu::run_ok(
        Command::new(dpkg)
            .args(["--build", "-Zgzip", "-z1"])
            .arg(&root)
            .arg(&tmp),
    );
    std::fs::rename(&tmp, &out).unwrap();
    let _ = std::fs::remove_dir_all(&root);
    Some(out)
}

/// The debug file as a RHEL-style `kernel-debuginfo` RPM (at
/// `usr/lib/debug/lib/modules/<release>/vmlinux`, zstd payload), kept in
/// the cache.
fn debuginfo_rpm(deb: &Path, release: &str) -> Option<PathBuf> {
    let rpmbuild = tu::require_tool("rpmbuild")?;
    let debug = debug_file(deb, release)?;
    let out = deb.with_file_name(format!("kernel-debuginfo-{release}.rpm"));
    if out.exists() {
        return Some(out);
    }
    let top = deb.with_file_name("rpm-top");
    let _ = std::fs::remove_dir_all(&top);
    let spec = KERNEL_DEBUGINFO_SPEC
        .replace("5.14.0-70.el9.x86_64", release)
        .replace("Version: 5.14.0", "Version: 6.1.0")
        .replace("Release: 70.el9", "Release: 56");
    let spec = tu::write_under(&top, "kernel.spec", spec.as_bytes());
    let rpms = rpmbuild_kernel(&rpmbuild, &spec, &top, &debug, "w3.zstdio");
    std::fs::rename(rpms.join("kernel-debuginfo-6.1.0-56.x86_64.rpm"), &out).unwrap();
    let _ = std::fs::remove_dir_all(&top);
    Some(out)
}

/// A vmlinux with DWARF only (as RHEL's and Ubuntu's debug packages ship
/// it) is encoded without being asked, and `hub add` files it under the
/// key the flags and the package give, saying what it inferred.
#[test]
fn stripped_debug_package_is_encoded_and_filed() {
    let Some((deb, kernel)) = tu::debian_debug_deb() else {
        return;
    };
    let Some(ddeb) = stripped_ddeb(&deb, &kernel.release) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("archive");
    let err = ok(&[
        "hub",
        "add",
        s(&ddeb),
        "--archive",
        s(&archive),
        "--distro",
        "ubuntu",
        "--version",
        "20.04",
    ]);
    let key = format!("ubuntu/20.04/x86_64/{}", kernel.release);
    assert!(
        err.contains(&format!(
            "{key}: arch x86_64, release {} inferred from package linux-image-unsigned-{}-dbgsym 1",
            kernel.release, kernel.release
        )),
        "{err}"
    );
    assert!(err.contains("ELF DWARF encoded by btfkit"), "{err}");
    let filed = archive.join(format!("{key}.btf.tar.xz"));
    let raw = dir.path().join("filed.btf");
    std::fs::write(&raw, btfkit_btf::load::read_btf_file(&filed).unwrap()).unwrap();
    assert_same_layouts(&raw, &kernel_file(&kernel, dir.path()));

    // The same debug file in a kernel-debuginfo RPM.
    let Some(rpm) = debuginfo_rpm(&deb, &kernel.release) else {
        return;
    };
    let err = ok(&[
        "hub",
        "add",
        s(&rpm),
        "--archive",
        s(&archive),
        "--distro",
        "centos",
        "--version",
        "8",
    ]);
    assert!(err.contains("> ELF DWARF encoded by btfkit"), "{err}");
    let filed = archive.join(format!("centos/8/x86_64/{}.btf.tar.xz", kernel.release));
    std::fs::write(&raw, btfkit_btf::load::read_btf_file(&filed).unwrap()).unwrap();
    assert_same_layouts(&raw, &kernel_file(&kernel, dir.path()));
}

/// Builds the stand-in for a vmlinux the small packages carry: the
/// encoder's test program, a shared object with DWARF, at `out`.
fn stand_in_vmlinux(cc: &Path, out: &Path) {
    tu::run_ok(
        Command::new(cc)
            .args(["-g", "-O1", "-shared", "-fPIC", "-o"])
            .arg(out)
            .arg(tu::workspace_root().join("testdata/encode/lib.c")),
    );
}

/// A small debug package around a DWARF-only shared object standing in for
/// a vmlinux (the encoder's test program), data compressed `zstd`, with
/// the `md5sums` real packages carry: its image's MD5 by `md5sum`, or
/// `listed_md5` when given.
fn small_debug_package(dir: &Path, listed_md5: Option<&str>) -> Option<PathBuf> {
    let dpkg = tu::require_tool("dpkg-deb")?;
    let cc = tu::require_tool("cc")?;
    let root = dir.join("root");
    let boot = root.join("usr/lib/debug/boot");
    std::fs::create_dir_all(&boot).unwrap();
    std::fs::create_dir_all(root.join("DEBIAN")).unwrap();
    stand_in_vmlinux(&cc, &boot.join("vmlinux-5.4.0-42-generic"));
    let image = "usr/lib/debug/boot/vmlinux-5.4.0-42-generic";
    let md5sums = match listed_md5 {
        Some(md5) => format!("{md5}  {image}\n"),
        None => {
            let md5sum = tu::require_tool("md5sum")?;
            let out = tu::run_ok(Command::new(md5sum).arg(image).current_dir(&root));
            String::from_utf8(out).unwrap()
        }
    };
    std::fs::write(root.join("DEBIAN/md5sums"), md5sums).unwrap();
    std::fs::write(
        root.join("DEBIAN/control"),
        "Package: linux-image-unsigned-5.4.0-42-generic-dbgsym\nVersion: 5.4.0-42.46\n\
         Architecture: amd64\nMaintainer: Ubuntu Kernel Team <k@u>\nDescription: t\n",
    )
    .unwrap();
    let deb = dir.join("small.ddeb");
    tu::run_ok(
        Command::new(dpkg)
            .args(["--build", "-Zzstd"])
            .arg(&root)
            .arg(&deb),
    );
    Some(deb)
}

/// A small debug package files under the key it gives; cut short or
/// damaged anywhere, `hub add` fails in one line naming the package, and
/// leaves nothing in the archive. (A flipped byte of the zstd data can
/// decode to a changed image: zstd's checksum ends the frame, after the
/// image, where the walk stops; the image's MD5 in `md5sums` catches it.)
#[test]
fn damaged_debug_packages_fail_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let Some(deb) = small_debug_package(dir.path(), None) else {
        return;
    };
    let archive = dir.path().join("archive");
    let add = |pkg: &Path| {
        btfkit(&[
            "hub",
            "add",
            s(pkg),
            "--archive",
            s(&archive),
            "--distro",
            "ubuntu",
            "--version",
            "20.04",
        ])
    };
    let r = add(&deb);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let filed = archive.join("ubuntu/20.04/x86_64/5.4.0-42-generic.btf.tar.xz");
    let btf = btfkit_btf::load::read_btf_file(&filed).unwrap();
    let parsed = btfkit_btf::Btf::parse(&btf).unwrap();
    assert!(parsed.types().count() > 10);
    std::fs::remove_dir_all(&archive).unwrap();

    let refused = |what: &str, b: &[u8]| {
        let bad = dir.path().join("bad.ddeb");
        std::fs::write(&bad, b).unwrap();
        let r = add(&bad);
        let err = String::from_utf8_lossy(&r.stderr).into_owned();
        if r.status.success() {
            return Err(err);
        }
        assert_eq!(err.trim_end().lines().count(), 1, "{what}: {err}");
        assert!(err.contains(s(&bad)), "{what}: {err}");
        assert!(!archive.exists(), "{what}: left {}", archive.display());
        Ok(err)
    };
    let bytes = std::fs::read(&deb).unwrap();
    let n = bytes.len();
    // Cut anywhere before the end of the image: nothing to encode. (Past
    // it, the package is read no further: the image was whole.)
    for cut in [8, 60, 100, n / 4, n / 2, 3 * n / 4] {
        let what = format!("cut at {cut}");
        if let Err(out) = refused(&what, &bytes[..cut]) {
            panic!("{what}: accepted: {out}");
        }
    }
    // A byte flipped anywhere in the middle half (the image's compressed
    // bytes): refused, or (should the change not reach the image) filed
    // with the very BTF of the intact package; never other BTF.
    let mut flips = 0;
    for at in (n / 4..3 * n / 4).step_by(61) {
        let mut b = bytes.clone();
        b[at] ^= 0x55;
        let what = format!("byte {at} flipped");
        match refused(&what, &b) {
            Ok(_) => flips += 1,
            Err(out) => {
                let again = btfkit_btf::load::read_btf_file(&filed).unwrap();
                assert_eq!(again, btf, "{what}: accepted with other BTF: {out}");
                std::fs::remove_dir_all(&archive).unwrap();
            }
        }
    }
    assert!(flips > 0, "no flipped byte was refused");
}

/// A package whose image is not what its `md5sums` lists (replaced, or
/// damaged where its compression has no check) is refused, saying both
/// digests.
#[test]
fn an_image_unlike_its_md5sums_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let listed = "00112233445566778899aabbccddeeff";
    let Some(deb) = small_debug_package(dir.path(), Some(listed)) else {
        return;
    };
    let archive = dir.path().join("archive");
    let r = btfkit(&["hub", "add", s(&deb), "--archive", s(&archive)]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(!r.status.success(), "accepted: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    let said = format!(
        "usr/lib/debug/boot/vmlinux-5.4.0-42-generic: MD5 {}, the package lists {listed}",
        md5_hex(
            &dir.path()
                .join("root/usr/lib/debug/boot/vmlinux-5.4.0-42-generic")
        )
    );
    assert!(err.contains(&said), "{err}");
    assert!(err.contains(s(&deb)), "{err}");
    assert!(!archive.exists());
}

/// The MD5 of a file, by coreutils' `md5sum` (the reference).
fn md5_hex(path: &Path) -> String {
    let out = tu::run_ok(Command::new("md5sum").arg(path));
    String::from_utf8(out).unwrap()[..32].to_string()
}

const KERNEL_DEBUGINFO_SPEC: &str = r#"Name: kernel-debuginfo
Version: 5.14.0
Release: 70.el9
Summary: btfkit test stand-in for a kernel-debuginfo package
License: GPL-2.0
%global debug_package %{nil}
%global __os_install_post %{nil}
%global _build_id_links none
%description
A DWARF-only vmlinux stand-in.
%install
mkdir -p %{buildroot}/usr/lib/debug/lib/modules/5.14.0-70.el9.x86_64
cp %{vmlinux} %{buildroot}/usr/lib/debug/lib/modules/5.14.0-70.el9.x86_64/vmlinux
%files
/usr/lib/debug
"#;

/// Builds a kernel-debuginfo spec for x86_64 under `top`, `vmlinux` as
/// its file and `payload` as rpmbuild's payload setting; returns the
/// folder the package is in.
fn rpmbuild_kernel(
    rpmbuild: &Path,
    spec: &Path,
    top: &Path,
    vmlinux: &Path,
    payload: &str,
) -> PathBuf {
    rpmbuild_kernel_with(rpmbuild, spec, top, vmlinux, payload, &[])
}

/// [`rpmbuild_kernel`], with more files for the spec as defines.
fn rpmbuild_kernel_with(
    rpmbuild: &Path,
    spec: &Path,
    top: &Path,
    vmlinux: &Path,
    payload: &str,
    files: &[(&str, &Path)],
) -> PathBuf {
    let mut cmd = Command::new(rpmbuild);
    cmd.args(["-bb", "--quiet", "--target", "x86_64"]);
    let files = files.iter().map(|(k, v)| (*k, v.display().to_string()));
    let defines = [
        ("_topdir", top.display().to_string()),
        ("_tmppath", top.display().to_string()),
        ("vmlinux", vmlinux.display().to_string()),
        ("_binary_payload", payload.to_string()),
    ];
    for (k, v) in defines.into_iter().chain(files) {
        cmd.arg("--define").arg(format!("{k} {v}"));
    }
    tu::run_ok(cmd.arg(spec));
    top.join("RPMS/x86_64")
}

/// `kernel-debuginfo` RPMs, one per payload compression, around a
/// DWARF-only stand-in for a vmlinux (the encoder's test program):
/// `hub add` reads each as a stream, encodes the DWARF, and files it
/// under the release the package's path gives and the arch its header
/// gives (RHEL's `.el9` names no distro: `--distro` and `--version`
/// say it); cut short, an RPM fails in one line naming it.
#[test]
fn kernel_debuginfo_rpms_in_every_payload_compression() {
    let (Some(rpmbuild), Some(cc)) = (tu::require_tool("rpmbuild"), tu::require_tool("cc")) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let vmlinux = dir.path().join("vmlinux");
    stand_in_vmlinux(&cc, &vmlinux);
    let spec = tu::write_under(dir.path(), "kernel.spec", KERNEL_DEBUGINFO_SPEC.as_bytes());
    let release = "5.14.0-70.el9.x86_64";
    let mut first: Option<Vec<u8>> = None;
    for payload in ["w9.xzdio", "w19.zstdio", "w9.gzdio", "w9.bzdio"] {
        let top = dir.path().join(format!("top-{payload}"));
        let rpms = rpmbuild_kernel(&rpmbuild, &spec, &top, &vmlinux, payload);
        let rpm = rpms.join("kernel-debuginfo-5.14.0-70.el9.x86_64.rpm");
        let archive = dir.path().join(format!("archive-{payload}"));
        let err = ok(&[
            "hub",
            "add",
            s(&rpm),
            "--archive",
            s(&archive),
            "--distro",
            "rhel",
            "--version",
            "9",
        ]);
        assert!(
            err.contains(&format!(
                "rhel/9/x86_64/{release}: arch x86_64, release {release} inferred from package kernel-debuginfo 5.14.0-70.el9"
            )) && err.contains("> ELF DWARF encoded by btfkit"),
            "{payload}: {err}"
        );
        let filed = archive.join(format!("rhel/9/x86_64/{release}.btf.tar.xz"));
        let btf = btfkit_btf::load::read_btf_file(&filed).unwrap();
        // The same BTF whatever the compression.
        match &first {
            None => first = Some(btf),
            Some(f) => assert!(*f == btf, "{payload}: other BTF"),
        }
        if payload == "w9.xzdio" {
            let bytes = std::fs::read(&rpm).unwrap();
            for cut in [50, 200, bytes.len() / 2, bytes.len() - 200] {
                let bad = dir.path().join("cut.rpm");
                std::fs::write(&bad, &bytes[..cut]).unwrap();
                let out = dir.path().join("cut.btf");
                let r = btfkit(&["btf", "extract", s(&bad), "-o", s(&out)]);
                let err = String::from_utf8_lossy(&r.stderr);
                assert!(!r.status.success(), "cut at {cut}: {err}");
                assert_eq!(err.trim_end().lines().count(), 1, "{err}");
                assert!(err.contains(s(&bad)), "{err}");
                assert!(!out.exists());
            }
        }
    }
}

/// An RPM whose payload has no check of its own (uncompressed, as rpm
/// writes with `w0.ufdio`) is read; a byte changed in its vmlinux is
/// caught by the file digest the header lists (SHA-256, as rpmbuild
/// writes them), and `btf extract` fails in one line saying both digests.
#[test]
fn an_rpm_file_unlike_its_header_digest_is_refused() {
    let (Some(rpmbuild), Some(cc)) = (tu::require_tool("rpmbuild"), tu::require_tool("cc")) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let vmlinux = dir.path().join("vmlinux");
    stand_in_vmlinux(&cc, &vmlinux);
    let spec = tu::write_under(dir.path(), "kernel.spec", KERNEL_DEBUGINFO_SPEC.as_bytes());
    let top = dir.path().join("top");
    let rpms = rpmbuild_kernel(&rpmbuild, &spec, &top, &vmlinux, "w0.ufdio");
    let rpm = rpms.join("kernel-debuginfo-5.14.0-70.el9.x86_64.rpm");
    let out = dir.path().join("out.btf");
    ok(&["btf", "extract", s(&rpm), "-o", s(&out)]);
    std::fs::remove_file(&out).unwrap();

    let image = std::fs::read(&vmlinux).unwrap();
    let mut bytes = std::fs::read(&rpm).unwrap();
    let at = bytes
        .windows(4096)
        .position(|w| w == &image[..4096])
        .expect("the vmlinux, uncompressed");
    // A byte of .text, which the encoder never reads: only the digest
    // tells the file was changed.
    let text = tu::run_ok(Command::new("objdump").args(["-h"]).arg(&vmlinux));
    let text = String::from_utf8(text).unwrap();
    let offset = text
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(".text"))
        .and_then(|l| l.split_whitespace().nth(5))
        .map(|o| usize::from_str_radix(o, 16).unwrap())
        .expect(".text in objdump -h");
    bytes[at + offset] ^= 0x01;
    let bad = dir.path().join("bad.rpm");
    std::fs::write(&bad, &bytes).unwrap();
    let r = btfkit(&["btf", "extract", s(&bad), "-o", s(&out)]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(!r.status.success(), "accepted: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    let path = "usr/lib/debug/lib/modules/5.14.0-70.el9.x86_64/vmlinux";
    assert!(err.contains(&format!("{path}: SHA-256 ")), "{err}");
    assert!(err.contains(", the header lists "), "{err}");
    assert!(err.contains(s(&bad)), "{err}");
    assert!(!out.exists());
}

/// A kernel-debuginfo spec with a module's debug file besides the
/// vmlinux: `…/kernel/foo/foo-bar.ko.debug` sorts before `…/vmlinux`, so
/// the module is met before the kernel.
const KERNEL_DEBUGINFO_WITH_MODULE_SPEC: &str = r#"Name: kernel-debuginfo
Version: 5.14.0
Release: 70.el9
Summary: btfkit test stand-in for a kernel-debuginfo package with a module
License: GPL-2.0
%global debug_package %{nil}
%global __os_install_post %{nil}
%global _build_id_links none
%description
A DWARF-only vmlinux stand-in and a module's debug file.
%install
mkdir -p %{buildroot}/usr/lib/debug/lib/modules/5.14.0-70.el9.x86_64/kernel/foo
cp %{vmlinux} %{buildroot}/usr/lib/debug/lib/modules/5.14.0-70.el9.x86_64/vmlinux
cp %{module} %{buildroot}/usr/lib/debug/lib/modules/5.14.0-70.el9.x86_64/kernel/foo/foo-bar.ko.debug
%files
/usr/lib/debug
"#;

/// What `hub add --modules` filed for module `name` next to `entry`:
/// its raw split BTF.
fn filed_module(entry: &Path, release: &str, name: &str) -> Vec<u8> {
    let file = entry.with_file_name(format!("{release}.modules/{name}.btf.xz"));
    let out = tu::run_ok(Command::new("xz").arg("-dc").arg(&file));
    assert!(!out.is_empty(), "{}", file.display());
    out
}

/// `hub add --modules` of a Debian debug package (module after the
/// image) and of a kernel-debuginfo RPM (module's debug file before the
/// vmlinux: read in a second walk) files each module's split BTF, named
/// as the kernel names it (`foo-bar` -> `foo_bar`), equal to what `btf
/// encode MODULE --base` makes of it on the filed kernel; the archive's
/// scan sees the kernel alone.
#[test]
fn modules_are_filed_as_split_btf_on_their_kernel() {
    let (Some(dpkg), Some(rpmbuild), Some(cc), Some(objcopy)) = (
        tu::require_tool("dpkg-deb"),
        tu::require_tool("rpmbuild"),
        tu::require_tool("cc"),
        tu::require_tool("objcopy"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let src = tu::workspace_root().join("testdata/encode");
    let vmlinux = dir.path().join("vmlinux");
    stand_in_vmlinux(&cc, &vmlinux);
    let module = dir.path().join("foo-bar.ko");
    tu::run_ok(
        Command::new(&cc)
            .args(["-g", "-O1", "-c", "-I"])
            .arg(&src)
            .arg(src.join("app.c"))
            .arg("-o")
            .arg(&module),
    );
    let module_debug = dir.path().join("foo-bar.ko.debug");
    tu::run_ok(
        Command::new(&objcopy)
            .arg("--only-keep-debug")
            .arg(&module)
            .arg(&module_debug),
    );

    // The Debian package: boot/ sorts before lib/, the module comes after.
    let release = "5.4.0-42-generic";
    let root = dir.path().join("root");
    let boot = root.join("usr/lib/debug/boot");
    let kmod = root.join(format!("usr/lib/debug/lib/modules/{release}/kernel/foo"));
    for d in [&boot, &kmod, &root.join("DEBIAN")] {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::copy(&vmlinux, boot.join(format!("vmlinux-{release}"))).unwrap();
    std::fs::copy(&module, kmod.join("foo-bar.ko")).unwrap();
    std::fs::write(
        root.join("DEBIAN/control"),
        format!(
            "Package: linux-image-unsigned-{release}-dbgsym\nVersion: 5.4.0-42.46\n\
             Architecture: amd64\nMaintainer: U <k@u>\nDescription: t\n"
        ),
    )
    .unwrap();
    let deb = dir.path().join("with-module.ddeb");
    tu::run_ok(Command::new(dpkg).arg("--build").arg(&root).arg(&deb));

    let top = dir.path().join("top");
    let spec = tu::write_under(
        dir.path(),
        "kernel.spec",
        KERNEL_DEBUGINFO_WITH_MODULE_SPEC.as_bytes(),
    );
    let rpms = rpmbuild_kernel_with(
        &rpmbuild,
        &spec,
        &top,
        &vmlinux,
        "w19.zstdio",
        &[("module", &module_debug)],
    );
    let rpm = rpms.join("kernel-debuginfo-5.14.0-70.el9.x86_64.rpm");

    let archive = dir.path().join("archive");
    let cases = [
        (&deb, "ubuntu", "20.04", release),
        (&rpm, "rhel", "9", "5.14.0-70.el9.x86_64"),
    ];
    for (pkg, distro, version, release) in cases {
        let err = ok(&[
            "hub",
            "add",
            s(pkg),
            "--archive",
            s(&archive),
            "--distro",
            distro,
            "--version",
            version,
            "--modules",
        ]);
        assert!(
            err.contains("1 modules (0 .BTF taken, 1 DWARF encoded;"),
            "{err}"
        );
        let entry = archive.join(format!("{distro}/{version}/x86_64/{release}.btf.tar.xz"));
        let kernel = dir.path().join(format!("{distro}.btf"));
        std::fs::write(&kernel, btfkit_btf::load::read_btf_file(&entry).unwrap()).unwrap();
        let want = dir.path().join(format!("{distro}-foo_bar.btf"));
        ok(&[
            "btf",
            "encode",
            s(&module),
            "--base",
            s(&kernel),
            "-o",
            s(&want),
        ]);
        assert_eq!(
            filed_module(&entry, release, "foo_bar"),
            std::fs::read(&want).unwrap(),
            "{distro}"
        );
    }
    // The modules' folders are not kernels to the archive's scan.
    let scan = btfkit_hub::archive::scan_archive(&archive);
    assert_eq!(scan.kernels.len(), 2);
    assert!(scan.rejected.is_empty(), "{:?}", scan.rejected);

    // A module whose .BTF is not BTF on its kernel's: one line naming the
    // package and the module; the kernel's entry and modules as they were.
    let junk = dir.path().join("junk");
    std::fs::write(&junk, b"\x9f\xeb\x01\x00not really BTF at all").unwrap();
    tu::run_ok(
        Command::new(&objcopy)
            .arg("--add-section")
            .arg(format!(".BTF={}", junk.display()))
            .arg(&module)
            .arg(kmod.join("foo-bar.ko")),
    );
    let bad = dir.path().join("bad-module.ddeb");
    tu::run_ok(Command::new("dpkg-deb").arg("--build").arg(&root).arg(&bad));
    let before =
        std::fs::read(archive.join(format!("ubuntu/20.04/x86_64/{release}.btf.tar.xz"))).unwrap();
    let r = btfkit(&[
        "hub",
        "add",
        s(&bad),
        "--archive",
        s(&archive),
        "--distro",
        "ubuntu",
        "--version",
        "20.04",
        "--modules",
    ]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(!r.status.success(), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    let path = format!("usr/lib/debug/lib/modules/{release}/kernel/foo/foo-bar.ko");
    assert!(
        err.contains(s(&bad)) && err.contains(&format!("module {path}")),
        "{err}"
    );
    let after =
        std::fs::read(archive.join(format!("ubuntu/20.04/x86_64/{release}.btf.tar.xz"))).unwrap();
    assert_eq!(before, after);
}

/// Debian's -dbg package with `--modules`: every module its md5sums
/// lists is filed, and the four modules the corpus has are its `.BTF`
/// byte for byte.
#[test]
fn debian_debug_package_modules_match_the_corpus() {
    let Some((deb, kernel)) = tu::debian_debug_deb() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("archive");
    let err = ok(&["hub", "add", s(&deb), "--archive", s(&archive), "--modules"]);
    let md5sums = tu::run_ok(Command::new("dpkg-deb").arg("-I").arg(&deb).arg("md5sums"));
    let listed = String::from_utf8_lossy(&md5sums)
        .lines()
        .filter(|l| l.ends_with(".ko"))
        .count();
    assert!(listed > 1000, "{listed}");
    assert!(
        err.contains(&format!(
            "{listed} modules ({listed} .BTF taken, 0 DWARF encoded;"
        )),
        "{err}"
    );
    let entry = archive.join(format!("{}.btf.tar.xz", kernel.key));
    let mut compared = 0;
    for m in tu::corpus_modules()
        .iter()
        .filter(|m| m.base.key == kernel.key)
    {
        let want = std::fs::read(&m.raw).unwrap();
        assert_eq!(
            filed_module(&entry, &kernel.release, &m.name),
            want,
            "{}",
            m.name
        );
        compared += 1;
    }
    assert!(compared >= 4, "{compared}");
}

/// Debug files of the -dbg package's modules that the corpus has
/// (`objcopy --only-keep-debug`, as RPM `kernel-debuginfo` ships them:
/// DWARF, no `.BTF`), taken out of the package once into the cache.
fn module_debug_files(deb: &Path, release: &str, names: &[&str]) -> Option<Vec<(String, PathBuf)>> {
    let dpkg = tu::require_tool("dpkg-deb")?;
    let objcopy = tu::require_tool("objcopy")?;
    let dir = deb.with_file_name(format!("modules-{release}"));
    let out = |n: &str| dir.join(format!("{n}.ko.debug"));
    if names.iter().all(|n| out(n).exists()) {
        return Some(names.iter().map(|n| (n.to_string(), out(n))).collect());
    }
    let work = deb.with_file_name("modules-work");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    std::fs::create_dir_all(&dir).unwrap();
    // Wildcards: the modules' folders differ (kernel/fs/btrfs, kernel/arch/x86/kvm).
    let mut fs = Command::new(&dpkg)
        .arg("--fsys-tarfile")
        .arg(deb)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut tar = Command::new("tar");
    tar.args(["-x", "--wildcards", "-C"]).arg(&work);
    for n in names {
        tar.arg(format!("./usr/lib/debug/lib/modules/{release}/*/{n}.ko"));
    }
    tu::run_ok(tar.stdin(fs.stdout.take().unwrap()));
    let _ = fs.wait();
    for n in names {
        let found = std::fs::read_dir(&work)
            .ok()
            .and_then(|_| find_file(&work, &format!("{n}.ko")))
            .unwrap_or_else(|| panic!("{n}.ko not in {}", deb.display()));
        let tmp = out(n).with_extension("tmp");
        tu::run_ok(
            Command::new(&objcopy)
                .arg("--only-keep-debug")
                .arg(&found)
                .arg(&tmp),
        );
        std::fs::rename(&tmp, out(n)).unwrap();
    }
    let _ = std::fs::remove_dir_all(&work);
    Some(names.iter().map(|n| (n.to_string(), out(n))).collect())
}

/// The file named `name` under `dir`.
fn find_file(dir: &Path, name: &str) -> Option<PathBuf> {
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let p = e.path();
        if p.is_dir() {
            if let Some(f) = find_file(&p, name) {
                return Some(f);
            }
        } else if e.file_name() == name {
            return Some(p);
        }
    }
    None
}

/// The corpus's modules, their DWARF encoded on the corpus kernel (as
/// `--modules` does for a debug file without `.BTF`): every named layout
/// pahole's module BTF has is in btfkit's, or in the kernel's BTF where
/// btfkit found it equal (kvm's `kvm_x86_ops`, which pahole repeats). This
/// caught `struct kvm_io_device`, only declared in vmlinux, collapsing
/// onto that declaration (a struct member without a size).
#[test]
fn module_debug_files_encode_to_the_corpus_layouts() {
    let Some((deb, kernel)) = tu::debian_debug_deb() else {
        return;
    };
    let modules: Vec<_> = tu::corpus_modules()
        .into_iter()
        .filter(|m| m.base.key == kernel.key)
        .collect();
    let names: Vec<&str> = modules.iter().map(|m| m.name.as_str()).collect();
    let Some(files) = module_debug_files(&deb, &kernel.release, &names) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let base = kernel_file(&kernel, dir.path());
    let base_layouts = layouts(&base);
    let split_layouts = |btf: &Path| {
        let r = btfkit(&["btf", "dump", s(btf), "--base", s(&base)]);
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
        tu::named_layouts(&String::from_utf8_lossy(&r.stdout))
    };
    for (m, (name, debug)) in modules.iter().zip(&files) {
        let ours = dir.path().join(format!("{name}.btf"));
        ok(&[
            "btf",
            "encode",
            s(debug),
            "--base",
            s(&base),
            "-o",
            s(&ours),
        ]);
        let (want, got) = (split_layouts(&m.raw), split_layouts(&ours));
        let missing: Vec<_> = want
            .difference(&got)
            .filter(|l| !base_layouts.contains(*l))
            .take(5)
            .collect();
        assert!(missing.is_empty(), "{name}: missing {missing:?}");
        assert!(want.len() > 100, "{name}: {} layouts", want.len());
    }
}
