//! The committed corpus bundle (testdata/bundle/suite.bundle), embedded
//! the way a program embeds its own: every kernel in it resolves on a fake
//! host of that kernel, with uname's `aarch64` for the arm64 ones.

use btfkit_bundle::Bundle;
use btfkit_resolver::{Resolver, Settings, Source};

static BUNDLE: &[u8] = include_bytes!("../../../testdata/bundle/suite.bundle");

#[test]
fn every_kernel_of_the_embedded_bundle_resolves_on_its_host() {
    let bundle: Bundle<'static> = Bundle::parse(BUNDLE).unwrap();
    bundle.verify().unwrap();
    assert!(bundle.len() >= 30, "{} kernels", bundle.len());
    for e in bundle.entries() {
        let root = tempfile::tempdir().unwrap();
        let os = root.path().join("os-release");
        // Quoted and upper-cased, as some distributions write it.
        std::fs::write(
            &os,
            format!(
                "ID=\"{}\"\nVERSION_ID=\"{}\"\n",
                e.distro.to_uppercase(),
                e.version
            ),
        )
        .unwrap();
        let machine = if e.arch == "arm64" { "aarch64" } else { e.arch };
        let settings = Settings {
            host_root: Some(root.path().to_path_buf()),
            osrelease_file: Some(os),
            kernel_release: Some(e.release.to_string()),
            machine: Some(machine.to_string()),
            ..Settings::default()
        };
        let r = Resolver::with_settings(settings)
            .bundle(BUNDLE)
            .resolve()
            .unwrap();
        assert_eq!(
            r.source,
            Source::Bundle {
                key: e.key().to_string()
            }
        );
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
        assert_eq!(*r.bytes, bundle.get(&e).unwrap()[..]);
        let btf = btfkit_btf::Btf::parse(&r.bytes).unwrap();
        assert!(
            btf.find_first("task_struct", btfkit_btf::Kind::Struct)
                .is_some(),
            "{}",
            e.key()
        );
    }
}
