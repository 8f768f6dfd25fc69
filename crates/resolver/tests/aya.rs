//! The Aya hand-off (feature `aya`): BTF the resolver found loads a CO-RE
//! object through Aya, and a program of it into the running kernel; with
//! BTF that lacks the kernel's types, the relocations are poisoned and the
//! kernel refuses the program; a failed load is a typed error naming
//! where the BTF came from.
#![cfg(feature = "aya")]

use btfkit_resolver::aya::{aya_btf, load, AyaError};
use btfkit_resolver::{Resolver, Settings, Source};
use btfkit_testutil as tu;

fn probe_object() -> Vec<u8> {
    std::fs::read(tu::workspace_root().join("testdata/core/progs/probe.bpf.o")).unwrap()
}

#[test]
fn resolved_btf_loads_a_core_object_through_aya() {
    if !tu::is_root() || !std::path::Path::new("/sys/kernel/btf/vmlinux").exists() {
        tu::missing::<()>("root and /sys/kernel/btf/vmlinux (BPF loading)");
        return;
    }
    let resolved = Resolver::with_settings(Settings::default())
        .resolve()
        .unwrap();
    assert!(
        matches!(resolved.source, Source::Sysfs(_)),
        "{}",
        resolved.source
    );
    aya_btf(&resolved).unwrap();
    let object = probe_object();
    let mut ebpf = load(&object, &resolved).unwrap();
    let prog: &mut aya::programs::TracePoint = ebpf
        .program_mut("probe_getppid")
        .expect("probe_getppid")
        .try_into()
        .unwrap();
    prog.load().unwrap();
}

#[test]
fn a_load_failure_names_the_btf_source() {
    // BTF with none of the kernel types the object reads, as the override.
    let dir = tempfile::tempdir().unwrap();
    let mut b = btfkit_btf::BtfBuilder::new();
    b.add_int("int", 4, btfkit_btf::INT_SIGNED).unwrap();
    let file = tu::write_under(dir.path(), "int-only.btf", &b.finish());
    let settings = Settings {
        btf_file: Some(file.clone()),
        ..Settings::default()
    };
    let resolved = Resolver::with_settings(settings).resolve().unwrap();
    // Not an object: a typed error naming where the BTF came from.
    let e = load(b"not an ELF object", &resolved).unwrap_err();
    assert!(matches!(e, AyaError::Load { .. }), "{e}");
    assert!(e.to_string().contains("int-only.btf"), "{e}");
    assert!(std::error::Error::source(&e).is_some());
    // The object itself loads (Aya, like libbpf, poisons the relocations
    // it cannot resolve), but the kernel refuses the poisoned program.
    if !tu::is_root() {
        tu::missing::<()>("root (BPF loading)");
        return;
    }
    let mut ebpf = load(&probe_object(), &resolved).unwrap();
    let prog: &mut aya::programs::TracePoint = ebpf
        .program_mut("probe_getppid")
        .expect("probe_getppid")
        .try_into()
        .unwrap();
    assert!(
        prog.load().is_err(),
        "a program relocated against the wrong BTF loaded"
    );
}
