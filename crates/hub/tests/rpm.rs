//! `RpmReader` on real packages, built here by `rpmbuild` from a spec
//! whose files are a few MiB of pseudo-random bytes, an empty file, a
//! file in a nested directory, a symlink and a pair of hard links, in
//! every payload compression rpmbuild writes (xz, zstd, gzip, bzip2,
//! lzma, none); and on a package with a file over 4 GiB, which rpm
//! archives in its "stripped" cpio format. Then damaged packages: cut at
//! every 1/50th and inside each part, flipped header and cpio entry bytes,
//! absurd counts and sizes, garbage — each a typed error (or, for a cpio
//! byte the walk does not check, harmless), promptly and without a panic.
//!
//! Without `rpmbuild` the tests skip (under `CI` they fail).

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::ops::ControlFlow;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use btfkit_hub::rpm::{RpmError, RpmReader};
use btfkit_testutil as tu;

/// rpmbuild's payload settings, and the compressor the header names.
const PAYLOADS: [(&str, &str); 6] = [
    ("w9.xzdio", "xz"),
    ("w19.zstdio", "zstd"),
    ("w9.gzdio", "gzip"),
    ("w9.bzdio", "bzip2"),
    ("w9.lzdio", "lzma"),
    ("w2.ufdio", ""),
];

const SPEC: &str = r#"Name: btfkit-rpmtest
Version: 1.2.3
Release: 4.el9
Summary: btfkit RpmReader fixture
License: MIT
%global debug_package %{nil}
%global __os_install_post %{nil}
%global _build_id_links none
%description
Files for btfkit's RPM reader tests.
%install
cp -a %{staging}/. %{buildroot}/
%{?extra_install}
%files
/usr/lib/debug
/usr/share/btfkit-pair
"#;

/// What the walk must visit: regular files with their mode and bytes.
/// Not the symlink, the directories, or the first of the hard link pair
/// (its content comes with the last).
type Files = BTreeMap<String, (u32, Vec<u8>)>;

struct Fixture {
    files: Files,
    /// Payload setting, header compressor, package bytes.
    packages: Vec<(&'static str, &'static str, Vec<u8>)>,
}

/// The packages, built once for all tests (concurrently).
fn fixture() -> Option<&'static Fixture> {
    static FIXTURE: OnceLock<Option<Fixture>> = OnceLock::new();
    FIXTURE
        .get_or_init(|| {
            let rpmbuild = tu::require_tool("rpmbuild")?;
            let tmp = tempfile::tempdir().unwrap();
            let files = stage(&tmp.path().join("staging"));
            let packages = std::thread::scope(|s| {
                let builds: Vec<_> = PAYLOADS
                    .iter()
                    .map(|&(payload, compressor)| {
                        let (rpmbuild, tmp) = (&rpmbuild, tmp.path());
                        let top = tmp.join(payload);
                        s.spawn(move || {
                            let rpm = build_rpm(rpmbuild, tmp, &top, payload, &[]);
                            (payload, compressor, std::fs::read(rpm).unwrap())
                        })
                    })
                    .collect();
                builds.into_iter().map(|b| b.join().unwrap()).collect()
            });
            Some(Fixture { files, packages })
        })
        .as_ref()
}

/// Pseudo-random bytes (xorshift64), the same every run.
fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Writes the package's files under `root`; returns what the walk visits.
fn stage(root: &Path) -> Files {
    use std::os::unix::fs::PermissionsExt;
    let regular: [(&str, u32, Vec<u8>); 4] = [
        ("usr/lib/debug/a-first.txt", 0o644, b"first\n".to_vec()),
        ("usr/lib/debug/big.bin", 0o644, noise(3 << 20)),
        ("usr/lib/debug/empty", 0o600, Vec::new()),
        (
            "usr/lib/debug/nested/deeper/small.txt",
            0o755,
            b"nested\n".to_vec(),
        ),
    ];
    let mut files = Files::new();
    for (path, mode, data) in regular {
        tu::write_under(root, path, &data);
        let perms = std::fs::Permissions::from_mode(mode);
        std::fs::set_permissions(root.join(path), perms).unwrap();
        files.insert(path.to_string(), (0o100000 | mode, data));
    }
    std::os::unix::fs::symlink("big.bin", root.join("usr/lib/debug/link")).unwrap();
    let pair = root.join("usr/share/btfkit-pair");
    tu::write_under(&pair, "one", b"linked\n");
    std::fs::set_permissions(pair.join("one"), std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::hard_link(pair.join("one"), pair.join("two")).unwrap();
    let two = (
        "usr/share/btfkit-pair/two".to_string(),
        (0o100644, b"linked\n".to_vec()),
    );
    files.insert(two.0, two.1);
    files
}

/// Builds the spec's package under a temporary `_topdir`; returns its path.
fn build_rpm(
    rpmbuild: &Path,
    tmp: &Path,
    top: &Path,
    payload: &str,
    defines: &[(&str, &str)],
) -> std::path::PathBuf {
    let spec = tu::write_under(top, "btfkit-rpmtest.spec", SPEC.as_bytes());
    let staging = tmp.join("staging");
    let mut cmd = Command::new(rpmbuild);
    cmd.args(["-bb", "--quiet", "--target", "x86_64"]);
    let mut define = |k: &str, v: &str| {
        cmd.arg("--define").arg(format!("{k} {v}"));
    };
    define("_topdir", &top.display().to_string());
    define("_tmppath", &tmp.display().to_string());
    define("staging", &staging.display().to_string());
    define("_binary_payload", payload);
    for (k, v) in defines {
        define(k, v);
    }
    tu::run_ok(cmd.arg(&spec));
    top.join("RPMS/x86_64/btfkit-rpmtest-1.2.3-4.el9.x86_64.rpm")
}

/// Every regular file of a package, with its mode and bytes.
fn read_all(package: &[u8]) -> Result<Files, RpmError> {
    let mut files = Files::new();
    RpmReader::new(package)?.for_each_file(|file, data| {
        let mut bytes = Vec::new();
        // A read error carries the RpmError it means: `?` gives it back.
        data.read_to_end(&mut bytes)?;
        assert_eq!(bytes.len() as u64, file.size, "{}", file.path);
        files.insert(file.path.to_string(), (file.mode, bytes));
        Ok::<_, RpmError>(ControlFlow::Continue(()))
    })?;
    Ok(files)
}

#[test]
fn reads_every_payload_compression() {
    let Some(fx) = fixture() else { return };
    for (payload, compressor, package) in &fx.packages {
        let rpm = RpmReader::new(&package[..]).unwrap();
        let info = rpm.info();
        let nevra = [&info.name, &info.version, &info.release, &info.arch];
        assert_eq!(
            nevra,
            ["btfkit-rpmtest", "1.2.3", "4.el9", "x86_64"],
            "{payload}"
        );
        assert_eq!(info.payload_compressor, *compressor, "{payload}");
        assert_eq!(info.payload_format, "cpio", "{payload}");
        let files = read_all(package).unwrap_or_else(|e| panic!("{payload}: {e}"));
        assert_eq!(files, fx.files, "{payload}");
    }
}

/// Counts what a walk takes from the package.
struct Counting<'a> {
    data: &'a [u8],
    taken: usize,
}

impl Read for Counting<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = (&self.data[self.taken..]).read(buf)?;
        self.taken += n;
        Ok(n)
    }
}

#[test]
fn stops_early_after_the_wanted_member() {
    let Some(fx) = fixture() else { return };
    for (payload, _, package) in &fx.packages {
        // The first file, and no more: the 3 MiB of noise after it are not
        // read (but for the first bzip2 block, up to 900 kB, which is
        // decoded whole), nor is the rest of the package.
        let mut counting = Counting {
            data: package,
            taken: 0,
        };
        let mut visited = Vec::new();
        RpmReader::new(&mut counting)
            .unwrap()
            .for_each_file(|file, data| {
                visited.push(file.path.to_string());
                let mut bytes = Vec::new();
                data.read_to_end(&mut bytes)?;
                assert_eq!(bytes, b"first\n");
                Ok::<_, RpmError>(ControlFlow::Break(()))
            })
            .unwrap();
        assert_eq!(visited, ["usr/lib/debug/a-first.txt"], "{payload}");
        assert!(
            counting.taken < package.len() / 2,
            "{payload}: read {} of {} bytes to stop after the first file",
            counting.taken,
            package.len()
        );

        // So a package cut after the wanted file still yields it.
        let cut = &package[..package.len() * 3 / 4];
        RpmReader::new(cut)
            .unwrap()
            .for_each_file(|_, _| Ok::<_, RpmError>(ControlFlow::Break(())))
            .unwrap_or_else(|e| panic!("{payload}: {e}"));

        // Stopping inside a file: its first bytes are the file's.
        let mut head = [0u8; 1000];
        RpmReader::new(&package[..])
            .unwrap()
            .for_each_file(|file, data| {
                if file.path != "usr/lib/debug/big.bin" {
                    return Ok::<_, RpmError>(ControlFlow::Continue(()));
                }
                data.read_exact(&mut head)?;
                Ok(ControlFlow::Break(()))
            })
            .unwrap();
        assert_eq!(head[..], fx.files["usr/lib/debug/big.bin"].1[..1000]);

        // The visitor's own error ends the walk and comes back as it is.
        let mut calls = 0;
        let err = RpmReader::new(&package[..])
            .unwrap()
            .for_each_file(|_, _| {
                calls += 1;
                Err::<ControlFlow<()>, Box<dyn std::error::Error>>("mine".into())
            })
            .unwrap_err();
        assert_eq!((err.to_string().as_str(), calls), ("mine", 1));
    }
}

/// Where each part of a package starts: signature header, header,
/// payload.
fn layout(p: &[u8]) -> [usize; 3] {
    let be32 = |at: usize| u32::from_be_bytes(p[at..at + 4].try_into().unwrap()) as usize;
    let header_end = |at: usize| at + 16 + 16 * be32(at + 8) + be32(at + 12);
    let signature = 96;
    let header = header_end(signature).next_multiple_of(8);
    [signature, header, header_end(header)]
}

/// The part of the package `offset` is in, as errors name it.
fn part(parts: [usize; 3], offset: usize) -> &'static str {
    match parts.iter().filter(|&&start| offset >= start).count() {
        0 => "lead",
        1 => "signature header",
        2 => "header",
        _ => "payload",
    }
}

#[test]
fn truncated_packages_are_errors() {
    let Some(fx) = fixture() else { return };
    for (payload, _, package) in &fx.packages {
        let len = package.len();
        let parts = layout(package);
        let [sig, hdr, pay] = parts;
        let mut cuts: Vec<usize> = (1..50).map(|i| len * i / 50).collect();
        cuts.extend([1, 3, 4, 50, 95]);
        for start in [sig, hdr] {
            cuts.extend([start, start + 7, start + 16, start + 40, start + 200]);
        }
        cuts.extend([hdr - 1, pay - 1, pay, pay + 1, pay + 5, pay + 6, pay + 200]);
        cuts.extend([len - 300, len - 20, len - 4, len - 1]);
        for cut in cuts {
            let want = part(parts, cut);
            match read_all(&package[..cut]) {
                Err(RpmError::Truncated { what, offset }) if what == want => {
                    assert_eq!(offset, cut as u64, "{payload} cut at {cut}")
                }
                other => panic!("{payload} cut at {cut} (in the {want}): {other:?}"),
            }
        }

        // A visitor that ignores the read error does not hide it.
        let cut = &package[..pay + (len - pay) / 2];
        let err = RpmReader::new(cut)
            .unwrap()
            .for_each_file(|_, data| {
                let _ = data.read_to_end(&mut Vec::new());
                Ok::<_, RpmError>(ControlFlow::Continue(()))
            })
            .unwrap_err();
        assert!(
            matches!(
                err,
                RpmError::Truncated {
                    what: "payload",
                    ..
                }
            ),
            "{payload}: {err:?}"
        );
    }
}

fn xz_package(fx: &Fixture) -> &[u8] {
    &fx.packages.iter().find(|p| p.0 == "w9.xzdio").unwrap().2
}

fn uncompressed_package(fx: &Fixture) -> &[u8] {
    &fx.packages.iter().find(|p| p.0 == "w2.ufdio").unwrap().2
}

#[test]
fn damaged_headers_are_errors() {
    let Some(fx) = fixture() else { return };
    let package = xz_package(fx);
    let [sig, hdr, pay] = layout(package);

    // Any byte of the header changed: a structural error, or its digest
    // no longer matches.
    for i in hdr..pay {
        let mut p = package.to_vec();
        p[i] ^= 0x20;
        let err = RpmReader::new(&p[..]).err();
        assert!(err.is_some(), "byte {i} of the header flipped unnoticed");
    }
    // A digest in the signature header changed.
    let store = &package[sig..hdr];
    let sha256 = (0..store.len() - 65)
        .find(|&i| store[i..i + 64].iter().all(u8::is_ascii_hexdigit) && store[i + 64] == 0)
        .expect("a SHA-256 hex digest in the signature header");
    let mut p = package.to_vec();
    p[sig + sha256 + 10] = if p[sig + sha256 + 10] == b'0' {
        b'1'
    } else {
        b'0'
    };
    let err = RpmReader::new(&p[..]).err();
    assert!(
        matches!(
            err,
            Some(RpmError::HeaderDigest {
                algorithm: "SHA-256",
                ..
            })
        ),
        "{err:?}"
    );

    // Index counts and store sizes past the bounds are refused from the
    // preamble, before anything is read or allocated for them, even with
    // an endless stream behind.
    for (start, what) in [(sig, "signature header"), (hdr, "header")] {
        for (field, value) in [
            (8, u32::MAX),
            (8, 0x10000),
            (8, 0),
            (12, u32::MAX),
            (12, (256 << 20) + 1),
        ] {
            let mut p = package[..start + 16].to_vec();
            p[start + field..start + field + 4].copy_from_slice(&value.to_be_bytes());
            let endless = (&p[..]).chain(io::repeat(0));
            match RpmReader::new(endless).err() {
                Some(RpmError::BadHeader {
                    what: w, offset, ..
                }) if w == what => {
                    assert_eq!(offset, start as u64)
                }
                other => panic!("{what} field {field} = {value:#x}: {other:?}"),
            }
        }
    }
    // Bounds allowed, data absent: truncated, without waiting for data
    // that is not there.
    let mut p = package[..hdr + 16].to_vec();
    p[hdr + 8..hdr + 16].copy_from_slice(&[0, 0, 0xff, 0xff, 0x10, 0, 0, 0]);
    let err = RpmReader::new(&p[..]).err();
    assert!(
        matches!(err, Some(RpmError::Truncated { what: "header", .. })),
        "{err:?}"
    );

    // An index entry whose count overruns the store.
    let mut p = package.to_vec();
    p[hdr + 16 + 12..hdr + 16 + 16].copy_from_slice(&u32::MAX.to_be_bytes());
    let err = RpmReader::new(&p[..]).err();
    assert!(
        matches!(err, Some(RpmError::BadHeader { what: "header", .. })),
        "{err:?}"
    );
}

#[test]
fn garbage_is_an_error() {
    let Some(fx) = fixture() else { return };
    let garbage = noise(4096);
    for input in [
        &b""[..],
        &garbage,
        b"!<arch>\ndebian-binary   ",
        b"\xed\xab\xee",
    ] {
        let err = RpmReader::new(input).err();
        let cut_lead = matches!(err, Some(RpmError::Truncated { what: "lead", .. }));
        assert!(matches!(err, Some(RpmError::NotRpm)) || cut_lead, "{err:?}");
    }
    let package = uncompressed_package(fx);
    let [sig, _, pay] = layout(package);
    let lead_and = |rest: &[u8]| [&package[..sig], rest].concat();
    let err = RpmReader::new(&lead_and(&garbage)[..]).err();
    let bad_sig = matches!(
        err,
        Some(RpmError::BadHeader {
            what: "signature header",
            ..
        })
    );
    assert!(bad_sig, "{err:?}");

    // A sound package whose payload is replaced.
    let headers_and = |rest: &[u8]| [&package[..pay], rest].concat();
    let walk = |payload: &[u8]| read_all(&headers_and(payload)).unwrap_err();
    let err = walk(&garbage);
    assert!(
        matches!(err, RpmError::UnknownCompression { .. }),
        "{err:?}"
    );
    let xz = [&[0xfd, b'7', b'z', b'X', b'Z', 0][..], &garbage].concat();
    let err = walk(&xz);
    assert!(
        matches!(err, RpmError::Decompress { format: "xz", .. }),
        "{err:?}"
    );
    for cpio in [
        [&b"070701"[..], &garbage].concat(),
        [&b"070709"[..], &[b'0'; 200]].concat(),
        // A name size over 4096.
        [&b"070701"[..], &[b'0'; 88], b"ffffffff00000000", &garbage].concat(),
        // A stripped entry whose file index is past the header's list.
        [&b"07070X"[..], b"00001000", &[0; 64]].concat(),
    ] {
        let err = walk(&cpio);
        assert!(matches!(err, RpmError::Cpio { .. }), "{err:?}");
    }
}

#[test]
fn damaged_cpio_entries_are_errors_or_harmless() {
    let Some(fx) = fixture() else { return };
    let package = uncompressed_package(fx);
    let [.., pay] = layout(package);
    // The entries before the noise and after it (the small files, the
    // hard links, the trailer), byte by byte: each flip is an error, or
    // lands where it changes nothing the walk checks (a time, an owner,
    // file data) and the walk succeeds; nothing panics or hangs.
    let (mut errors, mut harmless) = (0, 0);
    let mut p = package.to_vec();
    let tail = p.len() - 1024;
    for i in (pay..pay + 512).chain(tail..p.len()) {
        p[i] ^= 0x41;
        // The walk skips what the visitor leaves: no copies of the noise.
        let walked = RpmReader::new(&p[..])
            .unwrap()
            .for_each_file(|_, _| Ok::<_, RpmError>(ControlFlow::Continue(())));
        p[i] ^= 0x41;
        match walked {
            Ok(()) => harmless += 1,
            Err(_) => errors += 1,
        }
    }
    let counts = format!("{errors} errors, {harmless} harmless");
    assert!(errors > 500 && harmless > 0, "{counts}");
}

/// A package with a file over 4 GiB (sparse in the buildroot, compressed
/// to a few KiB), built once and kept in the test cache: rpmbuild takes
/// half a minute over it.
fn large_file_package() -> Option<Vec<u8>> {
    let rpmbuild = tu::require_tool("rpmbuild")?;
    let key = SPEC
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(b.into()));
    let cached = tu::cache_dir().join(format!("rpm-stripped-{key:08x}.rpm"));
    if let Ok(bytes) = std::fs::read(&cached) {
        return Some(bytes);
    }
    let tmp = tempfile::tempdir().unwrap();
    stage(&tmp.path().join("staging"));
    let huge = "truncate -s 4294967297 %{buildroot}/usr/lib/debug/huge.bin";
    let top = tmp.path().join("top");
    let rpm = build_rpm(
        &rpmbuild,
        tmp.path(),
        &top,
        "w1.zstdio",
        &[("extra_install", huge)],
    );
    let bytes = std::fs::read(rpm).unwrap();
    tu::write_atomic(&cached, &bytes);
    Some(bytes)
}

#[test]
fn files_over_4_gib_in_the_stripped_cpio_format() {
    let Some(fx) = fixture() else { return };
    let Some(package) = large_file_package() else {
        return;
    };
    let mut want = fx.files.clone();
    let huge = 4u64 << 30 | 1;
    want.insert("usr/lib/debug/huge.bin".into(), (0o100644, Vec::new()));
    let mut got = Files::new();
    RpmReader::new(&package[..])
        .unwrap()
        .for_each_file(|file, data| {
            let mut bytes = Vec::new();
            if file.path.ends_with("huge.bin") {
                // Too big to hold: its size, and that it is all zeros.
                assert_eq!(file.size, huge);
                assert_eq!(zeros(data), huge);
            } else {
                data.read_to_end(&mut bytes)?;
            }
            got.insert(file.path.to_string(), (file.mode, bytes));
            Ok::<_, RpmError>(ControlFlow::Continue(()))
        })
        .unwrap();
    assert_eq!(got, want);
}

/// How many bytes `data` yields, all checked to be zero.
fn zeros(data: &mut dyn Read) -> u64 {
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0;
    loop {
        let n = data.read(&mut buf).unwrap();
        if n == 0 {
            return total;
        }
        assert!(buf[..n].iter().all(|&b| b == 0));
        total += n as u64;
    }
}
