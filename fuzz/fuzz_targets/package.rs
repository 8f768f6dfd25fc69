//! Any bytes as a kernel artifact or package (`btfkit btf extract`, `hub
//! add`): Debian packages and RPMs walked as streams, their tar and cpio
//! payloads in every compression, kernel images, ELF files. Each input
//! gives BTF or an error, never a panic, a hang or unbounded memory.
//! Seeds are a small `.deb` and a small RPM around a BPF object standing
//! in for a kernel image (its `.BTF` is the kernel's BTF here) and one
//! for a module, made by scripts/test.sh with dpkg-deb and rpmbuild.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // An ELF image without .BTF goes to the encoder, as in the CLI (the
    // `encode` target fuzzes the encoder itself).
    if let Ok(found) = btfkit_hub::extract::extract(data) {
        let _ = btfkit_hub::extract::validate(&found.btf, None);
    }
    // With modules: the walk goes on past the kernel, and a package whose
    // modules come first is walked twice.
    let opts = btfkit_hub::extract::ExtractOptions {
        modules: true,
        jobs: 1,
        ..Default::default()
    };
    let _ = btfkit_hub::extract::extract_with(data, &opts);
    let _ = btfkit_hub::rpm::RpmReader::new(data).map(|r| {
        r.for_each_file(|_, body| {
            std::io::copy(body, &mut std::io::sink())?;
            Ok::<_, btfkit_hub::rpm::RpmError>(std::ops::ControlFlow::Continue(()))
        })
    });
});
