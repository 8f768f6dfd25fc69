//! `btfkit btf extract` and `btfkit hub add`: a real Debian package, and
//! fixtures built here with the system's own compressors and binutils for
//! every image format the issue names.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use btfkit_testutil as tu;

mod common;
use common::{btfkit, s};

/// Extracts `input` and returns (BTF bytes, stderr).
fn extract(input: &Path, base: Option<&Path>) -> (Vec<u8>, String) {
    let out = input.with_extension("extracted.btf");
    let mut args = vec!["btf", "extract", s(input), "-o", s(&out)];
    if let Some(b) = base {
        args.extend(["--base", s(b)]);
    }
    let r = btfkit(&args);
    let err = String::from_utf8_lossy(&r.stderr).into_owned();
    assert!(r.status.success(), "extract {}: {err}", input.display());
    (std::fs::read(&out).unwrap(), err)
}

fn extract_fails(input: &Path) -> String {
    let out = input.with_extension("not-extracted.btf");
    let r = btfkit(&["btf", "extract", s(input), "-o", s(&out)]);
    let err = String::from_utf8_lossy(&r.stderr).into_owned();
    assert!(!r.status.success(), "{} extracted", input.display());
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(!out.exists(), "output written on failure");
    err
}

/// Pipes `data` through a system tool.
fn filter(tool: &str, args: &[&str], data: &[u8]) -> Option<Vec<u8>> {
    let path = tu::require_tool(tool)?;
    let mut child = Command::new(path)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let data = data.to_vec();
    let writer = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &data));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(out.status.success(), "{tool} {args:?}");
    Some(out.stdout)
}

/// An ELF object whose `.BTF` section is `btf`, made by binutils.
fn elf_with_btf(dir: &Path, name: &str, btf: &[u8]) -> Option<PathBuf> {
    let gcc = tu::require_tool("gcc")?;
    let objcopy = tu::require_tool("objcopy")?;
    let empty = dir.join("empty.o");
    if !empty.exists() {
        let src = dir.join("empty.c");
        std::fs::write(&src, "int btfkit_fixture;\n").unwrap();
        tu::run_ok(Command::new(gcc).args(["-c", "-o"]).arg(&empty).arg(&src));
    }
    let raw = dir.join(format!("{name}.raw"));
    std::fs::write(&raw, btf).unwrap();
    let out = dir.join(name);
    tu::run_ok(
        Command::new(objcopy)
            .arg(format!("--add-section=.BTF={}", raw.display()))
            .arg("--set-section-flags=.BTF=alloc,readonly")
            .arg(&empty)
            .arg(&out),
    );
    Some(out)
}

/// An x86 bzImage whose protected-mode part carries `payload` the way
/// the kernel's build lays it out (boot protocol 2.15 header, payload
/// followed by the 4-byte decompressed size).
fn bzimage(payload: &[u8], decompressed: usize) -> Vec<u8> {
    let setup_sects = 3u8;
    let mut img = vec![0u8; (setup_sects as usize + 1) * 512];
    img[0x1f1] = setup_sects;
    img[0x1fe] = 0x55;
    img[0x1ff] = 0xaa;
    img[0x202..0x206].copy_from_slice(b"HdrS");
    img[0x206..0x208].copy_from_slice(&0x020fu16.to_le_bytes());
    let decompressor = vec![0x90u8; 0x1234];
    let mut full = payload.to_vec();
    // Every format but gzip (which records the size itself) gets the
    // kernel's size_append.
    if !payload.starts_with(&[0x1f, 0x8b]) {
        full.extend_from_slice(&(decompressed as u32).to_le_bytes());
    }
    img[0x248..0x24c].copy_from_slice(&(decompressor.len() as u32).to_le_bytes());
    img[0x24c..0x250].copy_from_slice(&(full.len() as u32).to_le_bytes());
    img.extend_from_slice(&decompressor);
    img.extend_from_slice(&full);
    img.extend_from_slice(&[0xcc; 777]);
    img
}

fn kernel_raw(key: &str) -> Option<(PathBuf, Vec<u8>)> {
    let k = tu::corpus_kernel(key)?;
    Some((k.raw_path(), k.raw_bytes()))
}

#[test]
fn bzimage_with_every_payload_compression() {
    let Some((_, raw)) = kernel_raw("debian/12/x86_64/6.1.0-56-amd64") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let Some(vmlinux) = elf_with_btf(dir.path(), "vmlinux", &raw) else {
        return;
    };
    // The plain vmlinux ELF first.
    let (btf, err) = extract(&vmlinux, None);
    assert!(btf == raw, "extracted BTF differs");
    assert!(err.contains("ELF .BTF"), "{err}");
    let elf = std::fs::read(&vmlinux).unwrap();
    let codecs: [(&str, &str, &[&str]); 6] = [
        ("gzip", "gzip", &["-9", "-n", "-c"]),
        ("xz", "xz", &["--check=crc32", "-6", "-c"]),
        ("lzma", "lzma", &["-9", "-c"]),
        ("lz4 legacy", "lz4", &["-l", "-9", "-c"]),
        ("zstd", "zstd", &["-19", "-q", "-c"]),
        ("bzip2", "bzip2", &["-9", "-c"]),
    ];
    for (name, tool, args) in codecs {
        let Some(payload) = filter(tool, args, &elf) else {
            return;
        };
        let img = dir.path().join(format!("bzImage-{tool}"));
        std::fs::write(&img, bzimage(&payload, elf.len())).unwrap();
        let (btf, err) = extract(&img, None);
        assert!(btf == raw, "{name}");
        assert!(
            err.contains(&format!("bzImage {name} payload > ELF .BTF")),
            "{name}: {err}"
        );
    }
    // A bzImage whose payload is in no known compression.
    let img = dir.path().join("bzImage-unknown");
    std::fs::write(&img, bzimage(&[0x42; 4096], 4096)).unwrap();
    let err = extract_fails(&img);
    assert!(err.contains("unknown compression"), "{err}");
    // A truncated payload.
    let payload = filter("gzip", &["-c"], &elf).unwrap();
    let img = dir.path().join("bzImage-cut");
    let mut cut = bzimage(&payload, elf.len());
    cut.truncate(cut.len() - 777 - payload.len() / 2);
    std::fs::write(&img, cut).unwrap();
    extract_fails(&img);
}

#[test]
fn arm64_image_without_sections() {
    let Some((_, raw)) = kernel_raw("debian/12/arm64/6.1.0-56-arm64") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // An arm64 Image: the 64-byte header, code, a decoy BTF header whose
    // sections run past the end of the blob it claims, the real BTF
    // (4-byte aligned, as the linker places it), more data.
    let mut img = vec![0u8; 64];
    img[0..4].copy_from_slice(&0x1400_0000u32.to_le_bytes());
    img[0x38..0x3c].copy_from_slice(b"ARMd");
    img.extend(std::iter::repeat_n(0xd503_201fu32.to_le_bytes(), 2048).flatten());
    let mut decoy = raw[..24].to_vec();
    decoy[20..24].copy_from_slice(&u32::MAX.to_le_bytes());
    img.extend_from_slice(&decoy);
    while img.len() % 4 != 0 {
        img.push(0);
    }
    img.extend_from_slice(&raw);
    img.extend_from_slice(&[0x11; 5000]);
    let image = dir.path().join("Image");
    std::fs::write(&image, &img).unwrap();
    let (btf, err) = extract(&image, None);
    assert!(btf == raw, "extracted BTF differs");
    assert!(err.contains("arm64 Image"), "{err}");
    let Some(gz) = filter("gzip", &["-9", "-n", "-c"], &img) else {
        return;
    };
    let image_gz = dir.path().join("vmlinuz-6.1.0-56-arm64");
    std::fs::write(&image_gz, gz).unwrap();
    let (btf, err) = extract(&image_gz, None);
    assert!(btf == raw, "extracted BTF differs");
    assert!(
        err.contains("gzip > arm64 Image, BTF found by its header"),
        "{err}"
    );
    // `hub add` files it; the arch comes from the image header, the rest
    // from flags and the file name.
    let archive = dir.path().join("archive");
    let r = btfkit(&[
        "hub",
        "add",
        s(&image_gz),
        "--archive",
        s(&archive),
        "--distro",
        "debian",
        "--version",
        "12",
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let filed = archive.join("debian/12/arm64/6.1.0-56-arm64.btf.tar.xz");
    assert!(
        btfkit_btf::load::read_btf_file(&filed).unwrap() == raw,
        "filed BTF differs"
    );
    // Without a distro there is nothing to file it under.
    let r = btfkit(&["hub", "add", s(&image_gz), "--archive", s(&archive)]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(!r.status.success() && err.contains("--distro"), "{err}");
}

#[test]
fn kernel_modules_plain_and_compressed() {
    let Some(m) = tu::corpus_modules().into_iter().find(|m| m.name == "btrfs") else {
        return;
    };
    let split = std::fs::read(&m.raw).unwrap();
    let base = m.base.raw_path();
    let dir = tempfile::tempdir().unwrap();
    let Some(ko) = elf_with_btf(dir.path(), "btrfs.ko", &split) else {
        return;
    };
    let (btf, _) = extract(&ko, Some(&base));
    assert!(btf == split, "extracted BTF differs");
    let err = extract_fails(&ko);
    assert!(err.contains("needs its kernel's BTF as base"), "{err}");
    let bytes = std::fs::read(&ko).unwrap();
    for (ext, tool, args) in [
        ("ko.xz", "xz", &["-c"][..]),
        ("ko.zst", "zstd", &["-q", "-c"][..]),
        ("ko.gz", "gzip", &["-c"][..]),
    ] {
        let Some(z) = filter(tool, args, &bytes) else {
            return;
        };
        let p = dir.path().join(format!("btrfs.{ext}"));
        std::fs::write(&p, z).unwrap();
        let (btf, err) = extract(&p, Some(&base));
        assert!(btf == split, "{ext}");
        assert!(err.contains("ELF .BTF"), "{err}");
    }
}

#[test]
fn bad_inputs_fail_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str, data: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, data).unwrap();
        p
    };
    extract_fails(&p("empty", b""));
    extract_fails(&p("junk", &[0x37; 10000]));
    extract_fails(&p("ar", b"!<arch>\nthis is no deb"));
    let gz = filter("gzip", &["-c"], &[0u8; 100_000]).unwrap_or_default();
    if !gz.is_empty() {
        extract_fails(&p("zeros.gz", &gz));
        extract_fails(&p("cut.gz", &gz[..gz.len() / 2]));
    }
    if let Some(elf) = elf_with_btf(dir.path(), "x.o", b"") {
        // .BTF present but empty.
        extract_fails(&elf);
        let err = extract_fails(&dir.path().join("empty.o"));
        assert!(err.contains("without a .BTF section"), "{err}");
    }
    // A package with no kernel in it.
    if let Some(dpkg) = tu::require_tool("dpkg-deb") {
        let root = dir.path().join("pkg");
        std::fs::create_dir_all(root.join("DEBIAN")).unwrap();
        std::fs::create_dir_all(root.join("usr/share/doc/x")).unwrap();
        std::fs::write(root.join("usr/share/doc/x/README"), "hi").unwrap();
        std::fs::write(
            root.join("DEBIAN/control"),
            "Package: linux-image-9.9.9-test\nVersion: 1\nArchitecture: amd64\nMaintainer: t <t@t>\nDescription: t\n",
        )
        .unwrap();
        let deb = dir.path().join("linux-image-9.9.9-test_1_amd64.deb");
        tu::run_ok(
            Command::new(dpkg)
                .args(["--build", "-Zxz"])
                .arg(&root)
                .arg(&deb),
        );
        let err = extract_fails(&deb);
        assert!(err.contains("no kernel image"), "{err}");
    }
    let r = btfkit(&[
        "btf",
        "extract",
        s(&dir.path().join("missing")),
        "-o",
        s(&dir.path().join("o")),
    ]);
    assert!(!r.status.success());
}

/// Debian 7.x packages keep the image in `linux-binary-<release>` at
/// `usr/lib/modules/<release>/vmlinuz`: `hub add` files it from there,
/// with distro, version, arch and release read from the package.
#[test]
fn split_image_package_of_newer_kernels() {
    let (Some(dpkg), Some((_, btf))) = (
        tu::require_tool("dpkg-deb"),
        kernel_raw("debian/12/x86_64/6.1.0-56-amd64"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let release = "7.9.1+deb14-amd64";
    let root = dir.path().join("pkg");
    let modules = root.join(format!("usr/lib/modules/{release}"));
    std::fs::create_dir_all(root.join("DEBIAN")).unwrap();
    std::fs::create_dir_all(&modules).unwrap();
    let Some(elf) = elf_with_btf(dir.path(), "vmlinux", &btf) else {
        return;
    };
    std::fs::copy(&elf, modules.join("vmlinuz")).unwrap();
    std::fs::write(
        root.join("DEBIAN/control"),
        format!("Package: linux-binary-{release}\nVersion: 7.9.1-1\nArchitecture: amd64\nMaintainer: t <t@t>\nDescription: t\n"),
    )
    .unwrap();
    let deb = dir.path().join("linux-binary.deb");
    tu::run_ok(
        Command::new(dpkg)
            .args(["--build", "-Zxz"])
            .arg(&root)
            .arg(&deb),
    );
    let archive = dir.path().join("archive");
    let r = btfkit(&["hub", "add", s(&deb), "--archive", s(&archive)]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let filed = archive.join(format!("debian/14/x86_64/{release}.btf.tar.xz"));
    assert!(
        btfkit_btf::load::read_btf_file(&filed).unwrap() == btf,
        "{} differs from the image's BTF",
        filed.display()
    );
}

/// The corpus's Debian kernels were taken from Debian's own packages:
/// btfkit alone reproduces that, byte for byte.
#[test]
fn real_debian_package_reproduces_the_corpus() {
    let Some((deb, kernel)) = tu::debian_kernel_deb() else {
        return;
    };
    let (btf, err) = extract(&deb, None);
    assert!(
        btf == kernel.raw_bytes(),
        "{}: differs from the corpus: {err}",
        deb.display()
    );
    assert!(
        err.contains("bzImage") && err.contains("payload > ELF .BTF"),
        "{err}"
    );
    // hub add files it where the corpus has it, reading distro, version,
    // arch and release from the package.
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("archive");
    let r = btfkit(&["hub", "add", s(&deb), "--archive", s(&archive)]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let filed = archive.join(format!("{}.btf.tar.xz", kernel.key));
    assert!(filed.exists(), "{} not created", filed.display());
    assert!(
        btfkit_btf::load::read_btf_file(&filed).unwrap() == kernel.raw_bytes(),
        "filed BTF differs"
    );
    // Its tarball is btfhub's: one member, <release>.btf.
    let listing = tu::run_ok(Command::new("tar").arg("-tJf").arg(&filed));
    assert_eq!(
        String::from_utf8_lossy(&listing).trim(),
        format!("{}.btf", kernel.release)
    );

    // A real module from the package, against the same kernel's BTF, as
    // binutils sees its .BTF section.
    let (Some(dpkg), Some(objcopy)) = (tu::require_tool("dpkg-deb"), tu::require_tool("objcopy"))
    else {
        return;
    };
    let fs = dir.path().join("fs.tar");
    let tarball = tu::run_ok(Command::new(dpkg).arg("--fsys-tarfile").arg(&deb));
    std::fs::write(&fs, tarball).unwrap();
    let names = String::from_utf8(tu::run_ok(Command::new("tar").arg("-tf").arg(&fs))).unwrap();
    let module = names
        .lines()
        .find(|l| l.contains("/kernel/fs/") && (l.ends_with(".ko") || l.ends_with(".ko.xz")))
        .expect("a filesystem module in the package");
    tu::run_ok(
        Command::new("tar")
            .arg("-xf")
            .arg(&fs)
            .arg("-C")
            .arg(dir.path())
            .arg(module),
    );
    let ko = dir.path().join(module);
    let plain = if module.ends_with(".xz") {
        let p = dir.path().join("module.ko");
        std::fs::write(&p, tu::run_ok(Command::new("xz").args(["-dc"]).arg(&ko))).unwrap();
        p
    } else {
        ko.clone()
    };
    let section = dir.path().join("section.btf");
    tu::run_ok(
        Command::new(objcopy)
            .arg(format!("--dump-section=.BTF={}", section.display()))
            .arg(&plain)
            .arg(dir.path().join("module.copy.ko")),
    );
    let (btf, _) = extract(&ko, Some(&kernel.raw_path()));
    assert!(
        btf == std::fs::read(&section).unwrap(),
        "{module}: differs from its .BTF section"
    );
}
