//! Builds `btf.bundle` into OUT_DIR: every kernel of the archive, each
//! minimized to what the probe's CO-RE relocations read.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The archive: PORTABLE_AYA_ARCHIVE, else the shared corpus's.
    println!("cargo:rerun-if-env-changed=PORTABLE_AYA_ARCHIVE");
    println!("cargo:rerun-if-env-changed=BTFKIT_CORPUS");
    let archive = match std::env::var_os("PORTABLE_AYA_ARCHIVE") {
        Some(a) => a.into(),
        None => {
            let corpus = std::env::var("BTFKIT_CORPUS").unwrap_or("../shared/corpus".into());
            // Relative to the workspace root, two levels up.
            std::path::Path::new("../..").join(corpus).join("archive")
        }
    };
    btfkit_hub::BundleBuild::new(archive)
        .object("bpf/exec.bpf.o")
        .write_to_out_dir("btf.bundle")?;
    Ok(())
}
