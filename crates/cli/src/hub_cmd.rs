//! `btfkit hub ...`: bundles of minimized BTFs for whole archives.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use btfkit_btf::input::{self, Limit};
use btfkit_bundle::{Bundle, Codec};
use btfkit_hub::{build, parse_objects, BuildOptions};
use clap::{Args, Subcommand};

#[derive(Subcommand)]
pub enum HubCommand {
    /// Minimize every kernel of a btfhub-layout archive for the objects,
    /// into one bundle.
    ///
    /// Example: btfkit hub build --archive btfhub-archive prog.bpf.o -o btf.bundle --jobs 2
    Build(BuildArgs),
    /// List a bundle's kernels.
    ///
    /// Example: btfkit hub ls btf.bundle
    Ls(LsArgs),
    /// Write one kernel's minimized BTF out of a bundle.
    ///
    /// Example: btfkit hub get btf.bundle debian/12/x86_64/6.1.0-56-amd64 -o 6.1.0-56-amd64.btf
    Get(GetArgs),
    /// Check a bundle's checksums, index and every entry.
    ///
    /// Example: btfkit hub verify btf.bundle
    Verify(VerifyArgs),
    /// Extract BTF from kernel images or packages and file it into a
    /// btfhub-layout archive.
    ///
    /// Example: btfkit hub add linux-image-6.1.0-56-amd64_6.1.158-1_amd64.deb --archive btfhub-archive
    // `--version` is the distro version folder here, not btfkit's.
    #[command(disable_version_flag = true)]
    Add(crate::extract_cmd::AddArgs),
}

#[derive(Args)]
pub struct BuildArgs {
    /// The archive: <distro>/<version>/<arch>/<release>.btf.tar.xz (or .btf.xz, .btf).
    #[arg(long, value_name = "DIR")]
    archive: PathBuf,
    /// BPF objects the minimized BTFs must serve.
    #[arg(required = true)]
    objects: Vec<PathBuf>,
    /// The bundle to write.
    #[arg(short, long, value_name = "BUNDLE")]
    output: PathBuf,
    /// Also write every minimized BTF under this directory, in the archive's layout.
    #[arg(long, value_name = "OUTDIR")]
    tree: Option<PathBuf>,
    /// Kernels processed in parallel (default: one per core).
    #[arg(short, long, default_value_t = 0)]
    jobs: usize,
    /// Keep decompressed kernel BTFs here, so rebuilds skip decompression.
    #[arg(long, value_name = "DIR")]
    cache: Option<PathBuf>,
    /// Write the bundle even when some kernels fail.
    #[arg(long)]
    keep_going: bool,
}

#[derive(Args)]
pub struct LsArgs {
    bundle: PathBuf,
    /// One JSON object per kernel.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct GetArgs {
    bundle: PathBuf,
    /// distro/version/arch/release (aarch64 and arm64 are the same).
    key: String,
    #[arg(short, long, value_name = "OUT")]
    output: PathBuf,
}

#[derive(Args)]
pub struct VerifyArgs {
    bundle: PathBuf,
}

pub fn run(cmd: HubCommand) -> Result<()> {
    match cmd {
        HubCommand::Build(a) => build_cmd(a),
        HubCommand::Ls(a) => {
            let data = read(&a.bundle)?;
            let b = open(&data, &a.bundle)?;
            let mut out = crate::output::stdout();
            for e in b.entries() {
                let blob = b.blob(e.blob).expect("entries name existing blobs");
                let codec = match blob.codec {
                    Codec::Stored => "stored".to_string(),
                    Codec::Reference => "reference".to_string(),
                    Codec::Delta { base } => format!("delta from blob {base}"),
                    Codec::Zstd => "zstd".to_string(),
                };
                if a.json {
                    let v = serde_json::json!({
                        "key": e.key().to_string(),
                        "distro": e.distro, "version": e.version, "arch": e.arch, "release": e.release,
                        "blob": e.blob, "size": blob.raw_len, "stored": blob.stored_len, "codec": codec,
                    });
                    writeln!(out, "{v}")?;
                } else {
                    writeln!(
                        out,
                        "{}\t{} bytes\tblob {}, {codec}, {} bytes stored",
                        e.key(),
                        blob.raw_len,
                        e.blob,
                        blob.stored_len
                    )?;
                }
            }
            Ok(())
        }
        HubCommand::Get(a) => {
            let data = read(&a.bundle)?;
            let b = open(&data, &a.bundle)?;
            let Some(e) = b
                .find_key(&a.key)
                .with_context(|| format!("{}", a.bundle.display()))?
            else {
                bail!("{}: no kernel {}", a.bundle.display(), a.key);
            };
            let btf = b
                .get(&e)
                .with_context(|| format!("{}: {}", a.bundle.display(), a.key))?;
            crate::output::write(&a.output, &btf, &[&a.bundle])?;
            Ok(())
        }
        HubCommand::Verify(a) => {
            let data = read(&a.bundle)?;
            let b = open(&data, &a.bundle)?;
            b.verify()
                .with_context(|| format!("{}", a.bundle.display()))?;
            println!(
                "{}: ok, {} kernels, {} distinct BTFs, {} bytes",
                a.bundle.display(),
                b.len(),
                b.blob_count(),
                b.size()
            );
            Ok(())
        }
        HubCommand::Add(a) => crate::extract_cmd::add(a),
    }
}

/// A bundle's bytes: a regular file only (the error names the file).
fn read(path: &std::path::Path) -> Result<Vec<u8>> {
    Ok(input::read(path, Limit::Large)?)
}

fn open<'a>(data: &'a [u8], path: &std::path::Path) -> Result<Bundle<'a>> {
    Bundle::parse(data).with_context(|| format!("{}", path.display()))
}

fn build_cmd(a: BuildArgs) -> Result<()> {
    // Refused before the work, not after: a bundle written over a kernel
    // tarball would replace it.
    crate::output::refuse_inside(&a.output, &a.archive)?;
    let inputs: Vec<&std::path::Path> = a.objects.iter().map(PathBuf::as_path).collect();
    crate::output::refuse_inputs(&a.output, &inputs)?;
    let bytes = a
        .objects
        .iter()
        .map(|p| Ok((p.display().to_string(), crate::target::read_object(p)?)))
        .collect::<Result<Vec<_>>>()?;
    let objects = parse_objects(&bytes)?;
    let opts = BuildOptions {
        jobs: a.jobs,
        cache: a.cache,
        tree: a.tree,
        keep_going: a.keep_going,
        progress: true,
    };
    let report = build(&a.archive, &objects, &opts)?;
    eprintln!("{}", report.summary());
    match &report.bundle {
        Some(b) => {
            let inputs: Vec<&std::path::Path> = a.objects.iter().map(PathBuf::as_path).collect();
            crate::output::write(&a.output, b, &inputs)?
        }
        None => bail!(
            "{} of {} kernels failed; no bundle written (--keep-going writes the others)",
            report.failed().count(),
            report.kernels.len()
        ),
    }
    if report.kernels.is_empty() {
        eprintln!(
            "btfkit: notice: no kernels found under {}",
            a.archive.display()
        );
    }
    Ok(())
}
