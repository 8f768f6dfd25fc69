//! The kernel matrix (`scripts/vmtest.sh` runs this): boots Debian kernel
//! packages under QEMU with btfkit in a busybox initramfs and proves in
//! each guest that the tracer, the CO-RE suite and the userspace CO-RE
//! demo work there, with the kernel's own BTF and with BTF from a bundle.
//! Prints one table row per kernel and check; exits 0 iff all pass.

mod apt;
mod initramfs;
mod kernel;
mod prepare;
mod qemu;
mod report;
mod tools;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::Mutex;
use std::time::Duration;

use clap::Parser;

use btfkit_vmtest::CHECKS;
use kernel::{Arch, Kernel};
use prepare::{ArchInputs, Common};
use qemu::Accel;

/// Why the harness itself could not run (as opposed to a failed check).
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// An external tool failed.
    #[error("{tool}: {detail}")]
    Tool {
        /// The command.
        tool: String,
        /// What it said.
        detail: String,
    },
    /// No suite of the private apt has the package.
    #[error("no Debian package {package} in bullseye, bookworm, trixie or sid")]
    NoSuchPackage {
        /// The name asked for.
        package: String,
    },
    /// The package has no kernel image, nor depends on one that has.
    #[error("{package}: no kernel image (boot/vmlinuz-* or usr/lib/modules/*/vmlinuz) in it or its linux-binary dependency")]
    NoImage {
        /// The package.
        package: String,
    },
    /// A program is not an ELF file the harness can read.
    #[error("{}: {detail}", path.display())]
    Elf {
        /// The program.
        path: PathBuf,
        /// Why.
        detail: String,
    },
    /// A shared library a guest program needs was not found.
    #[error("{name} (needed by {}) not found", program.display())]
    MissingLibrary {
        /// The library.
        name: String,
        /// Who needs it.
        program: PathBuf,
    },
    /// The host's btfkit failed.
    #[error("btfkit {what}: {detail}")]
    Btfkit {
        /// The subcommand.
        what: String,
        /// Its error.
        detail: String,
    },
    /// The arguments make no sense.
    #[error("{0}")]
    Usage(String),
}

impl HarnessError {
    fn io(path: &Path, source: std::io::Error) -> HarnessError {
        HarnessError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// The packages whose guests run every libbpf-tools object: the first
/// amd64 kernel of the oldest series and the last arm64 kernel (or the
/// first kernel).
fn tools_kernels(kernels: &[Kernel]) -> Vec<String> {
    let mut out = Vec::new();
    let amd64 = kernels.iter().filter(|k| k.arch == Arch::Amd64);
    if let Some(k) = amd64.min_by_key(|k| kernel::version_key(&k.release)) {
        out.push(k.package.clone());
    }
    if let Some(k) = kernels.iter().rfind(|k| k.arch == Arch::Arm64) {
        out.push(k.package.clone());
    }
    if out.is_empty() {
        out.extend(kernels.first().map(|k| k.package.clone()));
    }
    out
}

/// Boots Debian kernels under QEMU and checks btfkit in each.
#[derive(Parser)]
#[command(name = "vmtest")]
struct Args {
    /// Debian kernel packages to boot instead of the default matrix
    /// (e.g. linux-image-6.12.117+deb12-amd64).
    #[arg(long, num_args = 1.., value_name = "PKG")]
    kernel: Vec<String>,
    /// Only these architectures (amd64, arm64); with --kernel, the
    /// architecture of names without one.
    #[arg(long, value_name = "ARCH")]
    arch: Vec<String>,
    /// Print the default matrix and exit.
    #[arg(long)]
    list: bool,
    /// Only these checks (default: all).
    #[arg(long, value_name = "NAME")]
    check: Vec<String>,
    /// Break something on purpose to see its row fail: bad-init (init
    /// exits: the guest panics), wrong-btf (the own-BTF checks get
    /// another kernel's BTF).
    #[arg(long, value_name = "WHAT")]
    inject: Vec<String>,
    /// Hard limit per guest, in seconds.
    #[arg(long, default_value_t = 900)]
    timeout: u64,
    /// Guests booted at once.
    #[arg(long, default_value_t = 2)]
    jobs: usize,
    /// tcg, kvm, or auto (KVM only where a probe boot shows it works).
    #[arg(long, default_value = "auto")]
    accel: String,
    /// Work directory (downloads, kernels, initramfs, logs).
    #[arg(long, default_value = "target/vmtest")]
    work: PathBuf,
    /// The host's btfkit and the x86_64 guest programs' directory.
    #[arg(long, default_value = "target/ci")]
    bin_dir: PathBuf,
    /// Write the results as a Markdown table here too.
    #[arg(long, value_name = "FILE")]
    markdown: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("vmtest: {e}");
            ExitCode::from(2)
        }
    }
}

fn arches_of(args: &Args) -> Result<Vec<Arch>, HarnessError> {
    if args.arch.is_empty() {
        return Ok(vec![Arch::Amd64, Arch::Arm64]);
    }
    args.arch
        .iter()
        .map(|a| {
            Arch::parse(a)
                .ok_or_else(|| HarnessError::Usage(format!("unknown --arch {a} (amd64, arm64)")))
        })
        .collect()
}

fn kernels(args: &Args, apt: &apt::Apt, host_btfkit: &Path) -> Result<Vec<Kernel>, HarnessError> {
    let arches = arches_of(args)?;
    if args.kernel.is_empty() {
        let keys = prepare::bundle_keys(host_btfkit, Path::new("crates/tracer/bpf/trace.bundle"))?;
        return kernel::default_matrix(apt, &arches, &keys);
    }
    let only = (args.arch.len() == 1).then(|| arches[0]);
    let mut out = Vec::new();
    for p in &args.kernel {
        let k = Kernel::from_package(p, only)?;
        // A name no suite has is said as such, before anything else.
        if apt.depends(&k.package, k.arch.debian())?.is_none() {
            return Err(HarnessError::NoSuchPackage {
                package: format!("{}:{}", k.package, k.arch.debian()),
            });
        }
        out.push(k);
    }
    Ok(out)
}

fn run(args: Args) -> Result<bool, HarnessError> {
    let root = std::env::current_dir().map_err(|e| HarnessError::io(Path::new("."), e))?;
    if !root.join("crates/tracer/bpf/trace.bundle").exists() {
        return Err(HarnessError::Usage(
            "run from the workspace root (scripts/vmtest.sh does)".into(),
        ));
    }
    for c in &args.check {
        if !CHECKS.contains(&c.as_str()) {
            return Err(HarnessError::Usage(format!(
                "unknown check {c}; checks: {}",
                CHECKS.join(", ")
            )));
        }
    }
    for i in &args.inject {
        if !["bad-init", "wrong-btf"].contains(&i.as_str()) {
            return Err(HarnessError::Usage(format!(
                "unknown --inject {i} (bad-init, wrong-btf)"
            )));
        }
    }
    let work = root.join(&args.work);
    let apt = apt::Apt::new(&work)?;
    let host_btfkit = root.join(&args.bin_dir).join("btfkit");
    let kernels = kernels(&args, &apt, &host_btfkit)?;
    if args.list {
        for k in &kernels {
            println!("{:<40} {:<6} {}", k.package, k.arch.debian(), k.key()?);
        }
        return Ok(true);
    }
    for k in &kernels {
        k.key()?;
    }
    let common = Common {
        host_btfkit,
        root: root.clone(),
        checks: if args.check.is_empty() {
            CHECKS.iter().map(|c| c.to_string()).collect()
        } else {
            args.check.clone()
        },
        // Asked for by name, a check runs everywhere; by default the
        // all-tools check runs on the oldest amd64 and the newest arm64
        // kernel only (minutes per guest under emulation).
        tools_kernels: args.check.is_empty().then(|| tools_kernels(&kernels)),
        inject: args.inject.clone(),
    };
    // Every download and build first; then the guests.
    let mut arches: Vec<Arch> = kernels.iter().map(|k| k.arch).collect();
    arches.sort();
    arches.dedup();
    let mut inputs = Vec::new();
    for a in arches {
        inputs.push(arch_inputs(&root, &work, &args.bin_dir, &apt, a)?);
    }
    let mut guests = Vec::new();
    for k in &kernels {
        let fetched = kernel::fetch(&apt, &work, k)?;
        let dir = work
            .join("runs")
            .join(format!("{}-{}", k.release, k.arch.debian()));
        std::fs::create_dir_all(&dir).map_err(|e| HarnessError::io(&dir, e))?;
        let input = inputs
            .iter()
            .find(|i| i.arch == k.arch)
            .expect("inputs per arch");
        eprintln!("vmtest: preparing {} ({})", k.package, k.key()?);
        let prepared = prepare::prepare(&common, input, k, &fetched, &dir)?;
        guests.push((k.clone(), fetched.image, prepared, dir));
    }
    // The longest guests first, so none starts last and runs alone.
    guests.sort_by_key(|(_, _, p, _)| !p.checks.iter().any(|c| c == btfkit_vmtest::TOOLS_CHECK));
    let accel = choose_accel(&args.accel, &guests)?;
    let results = Mutex::new(Vec::new());
    let next = Mutex::new(0usize);
    std::thread::scope(|s| {
        for _ in 0..args.jobs.max(1) {
            s.spawn(|| loop {
                let i = {
                    let mut n = next.lock().expect("lock");
                    let i = *n;
                    *n += 1;
                    i
                };
                let Some((k, image, prepared, dir)) = guests.get(i) else {
                    break;
                };
                eprintln!(
                    "vmtest: booting {} ({}, {accel:?})",
                    k.package,
                    k.arch.debian()
                );
                let log = dir.join("console.log");
                let spec = qemu::GuestSpec {
                    arch: k.arch,
                    kernel: image,
                    initrd: &prepared.initrd,
                    timeout: Duration::from_secs(args.timeout),
                    accel,
                    log: &log,
                    done_marker: btfkit_vmtest::DONE_LINE,
                };
                let guest = report::run_guest(k, prepared, &spec, &prepared.checks);
                eprintln!(
                    "vmtest: {} done in {:.0} s: {}/{} passed",
                    k.package,
                    guest.secs,
                    guest.rows.iter().filter(|r| r.pass).count(),
                    guest.rows.len()
                );
                results.lock().expect("lock").push((i, guest));
            });
        }
    });
    let mut results = results.into_inner().expect("lock");
    results.sort_by_key(|(i, _)| *i);
    let guests: Vec<report::Guest> = results.into_iter().map(|(_, g)| g).collect();
    let all_pass = report::print(&guests, accel);
    if let Some(md) = &args.markdown {
        prepare::write_atomic(md, report::markdown(&guests, accel).as_bytes())?;
    }
    Ok(all_pass)
}

fn choose_accel(
    want: &str,
    guests: &[(Kernel, PathBuf, prepare::Prepared, PathBuf)],
) -> Result<Accel, HarnessError> {
    match want {
        "tcg" => Ok(Accel::Tcg),
        "kvm" => Ok(Accel::Kvm),
        "auto" => {
            // One probe on the first native guest: its initramfs with the
            // agent's done line printed as soon as the kernel runs init
            // would need a second image; the real initramfs prints
            // "@@vmtest-boot" first, which is enough.
            let Some((k, image, p, dir)) = guests.first() else {
                return Ok(Accel::Tcg);
            };
            let ok = qemu::kvm_works(
                k.arch,
                image,
                &p.initrd,
                dir.join("kvm-probe.log"),
                "@@vmtest-boot",
            );
            eprintln!(
                "vmtest: KVM {}",
                if ok {
                    "works: using it"
                } else {
                    "does not boot here: using TCG"
                }
            );
            Ok(if ok { Accel::Kvm } else { Accel::Tcg })
        }
        other => Err(HarnessError::Usage(format!(
            "unknown --accel {other} (auto, tcg, kvm)"
        ))),
    }
}

/// btfkit, the agent, busybox, the applications and where their
/// libraries are, for one architecture.
fn arch_inputs(
    root: &Path,
    work: &Path,
    bin_dir: &Path,
    apt: &apt::Apt,
    arch: Arch,
) -> Result<ArchInputs, HarnessError> {
    let dir = work.join(arch.debian());
    std::fs::create_dir_all(&dir).map_err(|e| HarnessError::io(&dir, e))?;
    let busybox = dir.join("busybox");
    if !busybox.exists() {
        let deb = apt.download("busybox-static", arch.debian())?;
        let member =
            kernel::find_member(&deb, |p| p.ends_with("bin/busybox"))?.ok_or_else(|| {
                HarnessError::Tool {
                    tool: "busybox-static".into(),
                    detail: format!("no bin/busybox in {}", deb.display()),
                }
            })?;
        kernel::extract_member(&deb, &member, &busybox)?;
    }
    let tool_objects = tools::objects(apt, arch, &dir.join("tools"))?;
    let app_src = root.join("testdata/uprobe/app.c");
    let loader_src = root.join("testdata/oracle/load_programs.c");
    let apps = [dir.join("app-v1"), dir.join("app-v2")];
    let loader = dir.join("load_programs");
    // The C programs: the uprobe demo's application in both versions, and
    // libbpf's loader of single programs (the verifier's ground truth for
    // `core check`).
    let c_programs: [(&Path, &Path, &[&str]); 3] = [
        (&apps[0], &app_src, &["-g", "-O2"]),
        (&apps[1], &app_src, &["-g", "-O2", "-DV2"]),
        (&loader, &loader_src, &["-O2", "-lbpf"]),
    ];
    match arch {
        Arch::Amd64 => {
            for (out, src, flags) in c_programs {
                run_tool(Command::new("cc").arg(src).args(flags).arg("-o").arg(out))?;
            }
            Ok(ArchInputs {
                arch,
                btfkit: root.join(bin_dir).join("btfkit"),
                agent: root.join(bin_dir).join("vmtest-guest"),
                busybox,
                apps,
                loader,
                tool_objects,
                libs: initramfs::LibrarySearch {
                    roots: vec![(
                        PathBuf::from("/"),
                        [
                            "lib/x86_64-linux-gnu",
                            "usr/lib/x86_64-linux-gnu",
                            "lib64",
                            "usr/lib64",
                        ]
                        .map(String::from)
                        .to_vec(),
                    )],
                },
            })
        }
        Arch::Arm64 => {
            let script = root.join("scripts/vmtest/cross-arm64.sh");
            let bin = dir.join("bin");
            eprintln!("vmtest: cross-building btfkit and the agent for arm64");
            run_tool(
                Command::new(&script)
                    // The committed Cargo.lock, as the host build uses it.
                    .env("CROSS_CARGO_FLAGS", "--locked")
                    .arg(&bin)
                    .arg("btfkit:btfkit")
                    .arg("btfkit-vmtest:vmtest-guest"),
            )?;
            for (out, src, flags) in c_programs {
                run_tool(
                    Command::new(&script)
                        .arg("cc")
                        .arg(out)
                        .arg(src)
                        .args(flags),
                )?;
            }
            Ok(ArchInputs {
                arch,
                btfkit: bin.join("btfkit"),
                agent: bin.join("vmtest-guest"),
                busybox,
                apps,
                loader,
                tool_objects,
                // The libraries the cross build linked (the script copies
                // them into bin/lib in their guest layout), then the
                // cross sysroot's (libbpf and its dependencies).
                libs: initramfs::LibrarySearch {
                    roots: vec![
                        (
                            bin.clone(),
                            vec!["lib/aarch64-linux-gnu".into(), "lib".into()],
                        ),
                        (
                            work.join("sid-root"),
                            vec!["usr/lib/aarch64-linux-gnu".into()],
                        ),
                    ],
                },
            })
        }
    }
}

fn run_tool(cmd: &mut Command) -> Result<(), HarnessError> {
    let out = cmd.output().map_err(|e| HarnessError::Tool {
        tool: format!("{:?}", cmd.get_program()),
        detail: e.to_string(),
    })?;
    if !out.status.success() {
        let mut detail = String::from_utf8_lossy(&out.stderr).into_owned();
        let lines: Vec<&str> = detail.lines().collect();
        detail = lines[lines.len().saturating_sub(15)..].join("\n");
        return Err(HarnessError::Tool {
            tool: format!("{cmd:?}"),
            detail,
        });
    }
    Ok(())
}
