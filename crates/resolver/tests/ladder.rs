//! The ladder on fake host roots: every rung, every failure, and no file
//! written.

use std::path::{Path, PathBuf};

use btfkit_btf::BtfBuilder;
use btfkit_bundle::{BundleBuilder, Key};
use btfkit_resolver::{
    Kconfig, KconfigValue, Outcome, ResolveError, Resolver, Rung, Settings, Source,
};
use btfkit_testutil as tu;

/// A small BTF whose one struct is named after `tag`.
fn marked(tag: &str) -> BtfBuilder<'static> {
    let mut b = BtfBuilder::new();
    let int = b.add_int("int", 4, 1).unwrap();
    b.add_struct(
        &format!("marker_{tag}"),
        4,
        &[tu::member_spec("x", int, 0, 0)],
    )
    .unwrap();
    b
}

fn btf(tag: &str) -> Vec<u8> {
    marked(tag).finish()
}

fn elf(tag: &str) -> Vec<u8> {
    marked(tag).finish_elf()
}

fn marker(bytes: &[u8]) -> String {
    let b = btfkit_btf::Btf::parse(bytes).unwrap();
    let t = b.type_by_id(btfkit_btf::TypeId(2)).unwrap();
    b.name_of(&t).unwrap().to_string()
}

const RELEASE: &str = "6.1.0-56-amd64";

fn settings(root: &Path) -> Settings {
    Settings {
        host_root: Some(root.to_path_buf()),
        kernel_release: Some(RELEASE.into()),
        machine: Some("x86_64".into()),
        ..Settings::default()
    }
}

fn debian12(root: &Path) {
    tu::write_under(root, "/etc/os-release", b"PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nID=debian\n");
}

fn bundle() -> Vec<u8> {
    let mut b = BundleBuilder::new();
    for (key, tag) in [
        ("debian/12/x86_64/6.1.0-56-amd64", "deb12"),
        ("debian/12/arm64/6.1.0-56-arm64", "deb12arm"),
        ("rhel/8/x86_64/4.18.0-305.el8.x86_64", "rhel8"),
        ("centos/8/x86_64/4.18.0-1.el8.x86_64", "centos8"),
        ("fedora/8/x86_64/4.18.0-1.el8.x86_64", "other8"),
        ("ubuntu/20.04/x86_64/5.4.0-1-generic", "focal"),
        ("mint/20/x86_64/5.4.0-1-generic", "focal"),
    ] {
        b.add(Key::parse(key).unwrap(), &btf(tag)).unwrap();
    }
    b.finish().unwrap()
}

fn snapshot(root: &Path) -> Vec<(PathBuf, u64)> {
    let mut out = Vec::new();
    fn walk(d: &Path, out: &mut Vec<(PathBuf, u64)>) {
        let Ok(rd) = std::fs::read_dir(d) else { return };
        for e in rd.flatten() {
            let p = e.path();
            let Ok(m) = std::fs::symlink_metadata(&p) else {
                continue;
            };
            out.push((p.clone(), m.len()));
            if m.is_dir() {
                walk(&p, out);
            }
        }
    }
    walk(root, &mut out);
    out.sort();
    out
}

#[test]
fn env_file_wins_and_a_bad_one_is_a_hard_error() {
    let root = tempfile::tempdir().unwrap();
    tu::write_under(root.path(), "/sys/kernel/btf/vmlinux", &btf("sysfs"));
    let good = tu::write_under(root.path(), "/elsewhere/my.btf", &btf("env"));
    let r = Resolver::with_settings(Settings {
        btf_file: Some(good.clone()),
        ..settings(root.path())
    })
    .resolve()
    .unwrap();
    assert_eq!(r.source, Source::EnvFile(good));
    assert_eq!(marker(&r.bytes), "marker_env");
    assert_eq!(r.steps[1].rung, Rung::Sysfs);
    assert_eq!(r.steps[1].outcome, Outcome::NotTried);
    // ELF is fine too.
    let elf_file = tu::write_under(root.path(), "/elsewhere/vmlinux", &elf("envelf"));
    let r = Resolver::with_settings(Settings {
        btf_file: Some(elf_file),
        ..settings(root.path())
    })
    .resolve()
    .unwrap();
    assert_eq!(marker(&r.bytes), "marker_envelf");
    // Missing or not BTF: an error, even though sysfs would work.
    for (path, why) in [
        (root.path().join("missing.btf"), "No such file"),
        (
            tu::write_under(root.path(), "/elsewhere/junk", b"this is not BTF at all"),
            "not usable BTF",
        ),
        (
            tu::write_under(root.path(), "/elsewhere/cut", &btf("x")[..30]),
            "not usable BTF",
        ),
    ] {
        let e = Resolver::with_settings(Settings {
            btf_file: Some(path.clone()),
            ..settings(root.path())
        })
        .resolve()
        .unwrap_err();
        assert!(
            matches!(&e, ResolveError::EnvFile { path: p, .. } if *p == path),
            "{e}"
        );
        assert!(e.to_string().contains(why), "{e}");
        assert!(e.to_string().starts_with("BTFKIT_BTF_FILE="), "{e}");
    }
}

#[test]
fn sysfs_then_fallback_files() {
    let root = tempfile::tempdir().unwrap();
    tu::write_under(root.path(), "/sys/kernel/btf/vmlinux", &btf("sysfs"));
    let r = Resolver::with_settings(settings(root.path()))
        .resolve()
        .unwrap();
    assert_eq!(
        r.source,
        Source::Sysfs(root.path().join("sys/kernel/btf/vmlinux"))
    );
    assert_eq!(marker(&r.bytes), "marker_sysfs");
    assert!(r.warnings.is_empty());

    // Only /boot/vmlinux-<release> (an ELF with .BTF).
    let root = tempfile::tempdir().unwrap();
    let boot = tu::write_under(
        root.path(),
        &format!("/boot/vmlinux-{RELEASE}"),
        &elf("boot"),
    );
    let r = Resolver::with_settings(settings(root.path()))
        .resolve()
        .unwrap();
    assert_eq!(r.source, Source::Fallback(boot));
    assert_eq!(marker(&r.bytes), "marker_boot");
    assert!(matches!(r.steps[1].outcome, Outcome::Absent(_)));

    // Broken candidates are skipped with their reasons; a later one wins.
    let root = tempfile::tempdir().unwrap();
    tu::write_under(root.path(), "/sys/kernel/btf/vmlinux", b"garbage");
    tu::write_under(
        root.path(),
        &format!("/boot/vmlinux-{RELEASE}"),
        b"\x7fELF not really an ELF file at all",
    );
    let mut no_btf = elf("x");
    // Rename the section so the ELF has no .BTF.
    let at = no_btf.windows(5).position(|w| w == b".BTF\0").unwrap();
    no_btf[at + 1] = b'X';
    tu::write_under(
        root.path(),
        &format!("/lib/modules/{RELEASE}/vmlinux-{RELEASE}"),
        &no_btf,
    );
    let dbg = tu::write_under(
        root.path(),
        &format!("/usr/lib/debug/boot/vmlinux-{RELEASE}"),
        &btf("debug"),
    );
    let r = Resolver::with_settings(settings(root.path()))
        .resolve()
        .unwrap();
    assert_eq!(r.source, Source::Fallback(dbg));
    let outcomes: Vec<String> = r.steps.iter().map(|s| s.outcome.to_string()).collect();
    assert!(outcomes[1].starts_with("failed: not BTF"), "{outcomes:?}");
    assert!(outcomes[2].starts_with("failed: ELF"), "{outcomes:?}");
    assert!(
        outcomes[3].contains("without a .BTF section"),
        "{outcomes:?}"
    );
    assert!(outcomes[4].starts_with("absent"), "{outcomes:?}");
    assert!(outcomes[6].starts_with("found"), "{outcomes:?}");
    assert!(
        outcomes[7..].iter().all(|o| o == "not tried"),
        "{outcomes:?}"
    );
    // Every path looked at is under the host root.
    for s in &r.steps[1..] {
        assert!(
            s.what.is_empty() || s.what.starts_with(root.path().to_str().unwrap()),
            "{}",
            s.what
        );
    }
}

#[test]
fn bundle_by_exact_key_and_by_either_arm64_name() {
    let root = tempfile::tempdir().unwrap();
    debian12(root.path());
    let data = bundle();
    let r = Resolver::with_settings(settings(root.path()))
        .bundle(&data)
        .resolve()
        .unwrap();
    assert_eq!(
        r.source,
        Source::Bundle {
            key: "debian/12/x86_64/6.1.0-56-amd64".into()
        }
    );
    assert_eq!(marker(&r.bytes), "marker_deb12");
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    assert_eq!(r.host.os.as_ref().unwrap().id, "debian");
    let s = Settings {
        machine: Some("aarch64".into()),
        kernel_release: Some("6.1.0-56-arm64".into()),
        ..settings(root.path())
    };
    let r = Resolver::with_settings(s).bundle(&data).resolve().unwrap();
    assert_eq!(r.host.arch, "arm64");
    assert_eq!(
        r.source,
        Source::Bundle {
            key: "debian/12/arm64/6.1.0-56-arm64".into()
        }
    );
    assert_eq!(marker(&r.bytes), "marker_deb12arm");
}

#[test]
fn bundle_without_exact_key() {
    let root = tempfile::tempdir().unwrap();
    let data = bundle();
    // No os-release at all: a release unique in the bundle, with a warning.
    let s = Settings {
        kernel_release: Some("4.18.0-305.el8.x86_64".into()),
        ..settings(root.path())
    };
    let r = Resolver::with_settings(s.clone())
        .bundle(&data)
        .resolve()
        .unwrap();
    assert_eq!(
        r.source,
        Source::Bundle {
            key: "rhel/8/x86_64/4.18.0-305.el8.x86_64".into()
        }
    );
    assert_eq!(r.warnings.len(), 1);
    assert!(
        r.warnings[0].contains("no os-release") && r.warnings[0].contains("assumed rhel/8/x86_64"),
        "{:?}",
        r.warnings
    );
    // A dotted VERSION_ID finds the major-version folder, with a warning.
    tu::write_under(
        root.path(),
        "/etc/os-release",
        b"ID=\"RHEL\"\nVERSION_ID=\"8.4\"\n",
    );
    let r = Resolver::with_settings(s.clone())
        .bundle(&data)
        .resolve()
        .unwrap();
    assert_eq!(
        r.source,
        Source::Bundle {
            key: "rhel/8/x86_64/4.18.0-305.el8.x86_64".into()
        }
    );
    assert!(r.warnings[0].contains("major version"), "{:?}", r.warnings);
    // os-release names a distro the bundle lacks: release fallback.
    tu::write_under(
        root.path(),
        "/etc/os-release",
        b"ID=rocky\nVERSION_ID=8.4\n",
    );
    let r = Resolver::with_settings(s.clone())
        .bundle(&data)
        .resolve()
        .unwrap();
    assert!(
        r.warnings[0].contains("no entry rocky/8.4/x86_64/4.18.0-305.el8.x86_64 or rocky/8/x86_64"),
        "{:?}",
        r.warnings
    );
    // The override file wins over the host's.
    let over = tu::write_under(root.path(), "/tmp/os", b"ID=rhel\nVERSION_ID=8\n");
    let r = Resolver::with_settings(Settings {
        osrelease_file: Some(over),
        ..s.clone()
    })
    .bundle(&data)
    .resolve()
    .unwrap();
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    // Unreadable os-release (a directory): said so, release fallback.
    std::fs::remove_file(root.path().join("etc/os-release")).unwrap();
    std::fs::create_dir_all(root.path().join("etc/os-release")).unwrap();
    let r = Resolver::with_settings(s.clone())
        .bundle(&data)
        .resolve()
        .unwrap();
    assert!(
        r.host.os_error.as_ref().unwrap().contains("etc/os-release"),
        "{:?}",
        r.host
    );
    assert!(r.warnings[0].contains("no os-release"), "{:?}", r.warnings);
    // The same release under two keys with one BTF is not ambiguous.
    let s2 = Settings {
        kernel_release: Some("5.4.0-1-generic".into()),
        ..s.clone()
    };
    let r = Resolver::with_settings(s2).bundle(&data).resolve().unwrap();
    assert_eq!(marker(&r.bytes), "marker_focal");
    assert!(
        r.warnings[0].contains("mint/20/x86_64/5.4.0-1-generic = ubuntu/20.04"),
        "{:?}",
        r.warnings
    );
    // Two different BTFs for the release: refused, naming both.
    let s3 = Settings {
        kernel_release: Some("4.18.0-1.el8.x86_64".into()),
        ..s.clone()
    };
    let e = Resolver::with_settings(s3)
        .bundle(&data)
        .resolve()
        .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("ambiguous")
            && msg.contains("centos/8/x86_64/4.18.0-1.el8.x86_64")
            && msg.contains("fedora/8"),
        "{msg}"
    );
    // A release the bundle does not have.
    let s4 = Settings {
        kernel_release: Some("9.9.9".into()),
        ..s
    };
    let e = Resolver::with_settings(s4)
        .bundle(&data)
        .resolve()
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("no kernel 9.9.9 for x86_64 among its 7 kernels"),
        "{e}"
    );
}

#[test]
fn nothing_at_all_lists_every_rung() {
    let root = tempfile::tempdir().unwrap();
    let e = Resolver::with_settings(settings(root.path()))
        .resolve()
        .unwrap_err();
    let ResolveError::NotFound { steps, release, .. } = &e else {
        panic!("{e}")
    };
    assert_eq!(release, RELEASE);
    assert_eq!(steps.len(), 1 + 1 + 7 + 1);
    assert_eq!(steps[0].outcome, Outcome::Absent("not set".into()));
    assert!(steps[1..9]
        .iter()
        .all(|s| matches!(s.outcome, Outcome::Absent(_))));
    assert_eq!(steps[9].outcome, Outcome::Absent("no bundle".into()));
    // The error is one short line: the bundle's outcome, the absent rest
    // counted; the report lists every rung.
    let msg = e.to_string();
    assert!(
        msg.contains("bundle: absent: no bundle") && msg.contains("9 other places absent"),
        "{msg}"
    );
    assert!(!msg.contains('\n') && msg.len() < 200, "{msg}");
    let report = btfkit_resolver::report::text(e.host(), e.steps(), None, &[], &Err("-".into()));
    for p in [
        "sys/kernel/btf/vmlinux",
        "boot/vmlinux-6.1.0-56-amd64",
        "usr/lib/debug/lib/modules/6.1.0-56-amd64/vmlinux",
        "bundle",
    ] {
        assert!(report.contains(p), "{p}: {report}");
    }
}

#[test]
fn bad_bundles_and_empty_release() {
    let root = tempfile::tempdir().unwrap();
    debian12(root.path());
    let data = bundle();
    let mut header = data.clone();
    header[20] ^= 1;
    let e = Resolver::with_settings(settings(root.path()))
        .bundle(&header)
        .resolve()
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("bundle refused: header checksum mismatch"),
        "{e}"
    );
    let mut entry = data.clone();
    let last = entry.len() - 1;
    entry[last] ^= 0x40;
    // Whichever entry owns the last byte no longer decodes: resolve as
    // that kernel's host.
    let damaged = btfkit_bundle::Bundle::parse(&entry).unwrap();
    let broken = damaged
        .entries()
        .find(|e| damaged.get(e).is_err())
        .expect("a damaged entry")
        .key();
    let os = tu::write_under(
        root.path(),
        "/x/os",
        format!("ID={}\nVERSION_ID={}\n", broken.distro, broken.version).as_bytes(),
    );
    let s = Settings {
        osrelease_file: Some(os),
        machine: Some(broken.arch.clone()),
        kernel_release: Some(broken.release.clone()),
        ..settings(root.path())
    };
    let e = Resolver::with_settings(s)
        .bundle(&entry)
        .resolve()
        .unwrap_err();
    assert!(
        e.to_string()
            .contains(&format!("bundle {broken}: failed: entry refused")),
        "{e}"
    );

    let s = Settings {
        kernel_release: Some(String::new()),
        ..settings(root.path())
    };
    let e = Resolver::with_settings(s)
        .bundle(&data)
        .resolve()
        .unwrap_err();
    let steps = e.steps();
    assert!(
        steps
            .iter()
            .filter(|s| s.outcome == Outcome::Failed("the kernel release is empty".into()))
            .count()
            == 2,
        "{steps:?}"
    );
}

#[test]
fn try_all_reports_every_rung() {
    let root = tempfile::tempdir().unwrap();
    debian12(root.path());
    tu::write_under(root.path(), "/sys/kernel/btf/vmlinux", &btf("sysfs"));
    tu::write_under(
        root.path(),
        &format!("/boot/vmlinux-{RELEASE}"),
        &elf("boot"),
    );
    let data = bundle();
    let r = Resolver::with_settings(settings(root.path()))
        .bundle(&data)
        .try_all(true)
        .resolve()
        .unwrap();
    assert!(matches!(r.source, Source::Sysfs(_)));
    let found: Vec<&Rung> = r
        .steps
        .iter()
        .filter(|s| matches!(s.outcome, Outcome::Found { .. }))
        .map(|s| &s.rung)
        .collect();
    assert_eq!(found, [&Rung::Sysfs, &Rung::Fallback, &Rung::Bundle]);
}

#[test]
fn resolution_writes_nothing() {
    let root = tempfile::tempdir().unwrap();
    debian12(root.path());
    tu::write_under(root.path(), "/proc/config.gz", b"CONFIG_BPF=y\n");
    let data = bundle();
    let before = snapshot(root.path());
    for s in [
        settings(root.path()),
        Settings {
            kernel_release: Some("x".into()),
            ..settings(root.path())
        },
    ] {
        let _ = Resolver::with_settings(s.clone())
            .bundle(&data)
            .try_all(true)
            .resolve();
        let _ = Kconfig::load(&btfkit_resolver::Host::new(s), RELEASE);
    }
    assert_eq!(snapshot(root.path()), before);
    // (The CLI test also runs `btfkit resolve` with empty TMPDIR, HOME
    // and working directory and checks they stay empty.)
}

#[test]
fn kconfig_sources_in_order() {
    let root = tempfile::tempdir().unwrap();
    let host = |s: Settings| btfkit_resolver::Host::new(s);
    assert!(Kconfig::load(&host(settings(root.path())), RELEASE)
        .unwrap_err()
        .to_string()
        .contains("proc/config.gz"));
    tu::write_under(
        root.path(),
        &format!("/boot/config-{RELEASE}"),
        b"CONFIG_FROM_BOOT=y\nCONFIG_BAD\n",
    );
    let k = Kconfig::load(&host(settings(root.path())), RELEASE).unwrap();
    assert_eq!(k.get("FROM_BOOT"), Some(&KconfigValue::Yes));
    assert_eq!(k.diagnostics[0].line, 2);
    let mut gz = Vec::new();
    {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(&mut gz, flate2::Compression::default());
        e.write_all(b"CONFIG_FROM_PROC=m\n").unwrap();
        e.finish().unwrap();
    }
    tu::write_under(root.path(), "/proc/config.gz", &gz);
    let k = Kconfig::load(&host(settings(root.path())), RELEASE).unwrap();
    assert_eq!(k.get("FROM_PROC"), Some(&KconfigValue::Module));
    let over = tu::write_under(root.path(), "/x/config", b"CONFIG_OVERRIDE=\"yes\"\n");
    let k = Kconfig::load(
        &host(Settings {
            kconfig_file: Some(over),
            ..settings(root.path())
        }),
        RELEASE,
    )
    .unwrap();
    assert_eq!(k.get("OVERRIDE"), Some(&KconfigValue::Str("yes".into())));
    let e = Kconfig::load(
        &host(Settings {
            kconfig_file: Some(root.path().join("nope")),
            ..settings(root.path())
        }),
        RELEASE,
    )
    .unwrap_err();
    assert!(e.to_string().starts_with("BTFKIT_KCONFIG_FILE="), "{e}");
}

#[test]
fn kernel_info_from_fake_host() {
    let root = tempfile::tempdir().unwrap();
    tu::write_under(
        root.path(),
        "/usr/lib/os-release",
        b"ID=Ubuntu\nVERSION_ID=\"22.04\"\n",
    );
    tu::write_under(
        root.path(),
        "/proc/version_signature",
        b"Ubuntu 5.15.0-91.101-generic 5.15.131\n",
    );
    let s = Settings {
        kernel_release: Some("5.15.0-91-generic".into()),
        machine: Some("aarch64".into()),
        ..settings(root.path())
    };
    let info = btfkit_resolver::Host::new(s).kernel_info();
    assert_eq!(info.arch, "arm64");
    assert_eq!(info.machine, "aarch64");
    let os = info.os.unwrap();
    assert_eq!(
        (os.id.as_str(), os.version_id.as_str()),
        ("ubuntu", "22.04")
    );
    assert_eq!(
        info.version_code,
        Some(btfkit_resolver::kernel_version(5, 15, 131))
    );
}
