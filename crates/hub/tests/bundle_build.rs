//! `BundleBuild`, the build-script API: a bundle from a small archive
//! (three corpus kernels, one of each architecture family) holds one
//! entry per kernel, written to OUT_DIR with the cache filled; each bad
//! input is a typed error naming the file or kernel.

use std::path::{Path, PathBuf};

use btfkit_bundle::Bundle;
use btfkit_hub::{BundleBuild, BundleBuildError, HubError, KernelError};
use btfkit_testutil as tu;

/// A small archive of three corpus kernels (x86_64 and arm64), in a
/// temporary directory, and the keys it has.
fn small_archive(dir: &Path) -> Option<Vec<String>> {
    let kernels = tu::corpus_kernels();
    let mut picked: Vec<&tu::Kernel> = Vec::new();
    for want in ["debian/12/x86_64/", "debian/12/arm64/", "debian/11/x86_64/"] {
        picked.extend(kernels.iter().find(|k| k.key.starts_with(want)));
    }
    if picked.len() < 3 {
        return tu::missing("three corpus kernels (debian 11 and 12, x86_64 and arm64)");
    }
    let mut keys = Vec::new();
    for k in picked {
        let data = std::fs::read(&k.archive).unwrap();
        tu::write_under(dir, &format!("{}.btf.tar.xz", k.key), &data);
        keys.push(k.key.clone());
    }
    keys.sort();
    Some(keys)
}

fn suite_object(name: &str) -> PathBuf {
    tu::workspace_root().join("testdata/core/progs").join(name)
}

#[test]
fn builds_a_bundle_with_every_kernel_and_refuses_bad_inputs() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("archive");
    let Some(keys) = small_archive(&archive) else {
        return;
    };
    let objects = [suite_object("fields.bpf.o"), suite_object("enums.bpf.o")];

    // In memory: one entry per kernel, each a BTF with the types the
    // objects read.
    let built = BundleBuild::new(&archive)
        .objects(objects.iter().cloned())
        .build()
        .unwrap();
    let bundle = Bundle::parse(&built.bytes).unwrap();
    let mut got: Vec<String> = bundle
        .entries()
        .map(|e| format!("{}/{}/{}/{}", e.distro, e.version, e.arch, e.release))
        .collect();
    got.sort();
    assert_eq!(got, keys);
    assert_eq!(built.report.done(), 3);
    for key in &keys {
        let entry = bundle.find_key(key).unwrap().unwrap();
        let btf = bundle.get(&entry).unwrap();
        btfkit_btf::Btf::parse(&btf).unwrap();
    }

    // From a build script: OUT_DIR/NAME, the same bytes, the cache filled
    // for the next build (which then reads no archive file).
    let out_dir = tmp.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    // Only this test in this binary touches OUT_DIR.
    std::env::set_var("OUT_DIR", &out_dir);
    let path = BundleBuild::new(&archive)
        .objects(objects.iter().cloned())
        .write_to_out_dir("btf.bundle")
        .unwrap();
    assert_eq!(path, out_dir.join("btf.bundle"));
    assert_eq!(std::fs::read(&path).unwrap(), built.bytes);
    let cached = std::fs::read_dir(out_dir.join("btfkit-cache"))
        .unwrap()
        .count();
    assert!(cached >= 3, "{cached} files in the cache");
    let again = BundleBuild::new(&archive)
        .objects(objects.iter().cloned())
        .cache_dir(Some(out_dir.join("btfkit-cache")))
        .build()
        .unwrap();
    assert!(again.report.kernels.iter().all(|k| k.from_cache));
    assert_eq!(again.bytes, built.bytes);
    std::env::remove_var("OUT_DIR");
    let e = BundleBuild::new(&archive)
        .object(&objects[0])
        .write_to_out_dir("btf.bundle")
        .unwrap_err();
    assert!(matches!(e, BundleBuildError::NoOutDir), "{e}");

    // Bad inputs, each named.
    let e = BundleBuild::new(&archive).build().unwrap_err();
    assert!(matches!(e, BundleBuildError::NoObjects), "{e}");
    let missing = tmp.path().join("missing.bpf.o");
    let e = BundleBuild::new(&archive)
        .object(&missing)
        .build()
        .unwrap_err();
    assert!(
        matches!(&e, BundleBuildError::ReadObject { path, .. } if *path == missing),
        "{e}"
    );
    let garbage = tu::write_under(tmp.path(), "garbage.bpf.o", b"not an ELF file");
    let e = BundleBuild::new(&archive)
        .object(&garbage)
        .build()
        .unwrap_err();
    assert!(
        matches!(&e, BundleBuildError::ParseObject { path, .. } if *path == garbage),
        "{e}"
    );
    assert!(std::error::Error::source(&e).is_some(), "{e:?}");
    let e = BundleBuild::new(tmp.path().join("no-archive"))
        .object(&objects[0])
        .build()
        .unwrap_err();
    assert!(
        matches!(
            &e,
            BundleBuildError::Build {
                source: HubError::NotADirectory { .. },
                ..
            }
        ),
        "{e}"
    );
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let e = BundleBuild::new(&empty)
        .object(&objects[0])
        .build()
        .unwrap_err();
    assert!(matches!(e, BundleBuildError::NoKernels { .. }), "{e}");

    // A broken kernel: an error naming it, unless keep_going, which
    // builds the others.
    let bad_key = "debian/12/x86_64/6.1.0-99-amd64";
    tu::write_under(&archive, &format!("{bad_key}.btf.tar.xz"), b"not xz");
    let e = BundleBuild::new(&archive)
        .object(&objects[0])
        .build()
        .unwrap_err();
    match &e {
        BundleBuildError::Kernels {
            total, failures, ..
        } => {
            assert_eq!(*total, 4);
            assert_eq!(failures.len(), 1);
            assert_eq!(failures[0].key, bad_key);
            // The kernel's failure is a typed error: the xz decoder's,
            // naming the archive file.
            let reason = &failures[0].reason;
            assert!(matches!(reason, KernelError::Btf(_)), "{reason:?}");
            assert!(reason.to_string().contains(".btf.tar.xz"), "{reason}");
        }
        other => panic!("{other}"),
    }
    assert!(e.to_string().contains(bad_key), "{e}");
    let built = BundleBuild::new(&archive)
        .object(&objects[0])
        .keep_going(true)
        .build()
        .unwrap();
    let bundle = Bundle::parse(&built.bytes).unwrap();
    assert_eq!(bundle.entries().count(), 3);
}
