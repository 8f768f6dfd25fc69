//! `btfkit core check`: which programs of the objects load on which
//! kernels (see `btfkit_hub::check`).

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use btfkit_btf::input::{self, Limit};
use btfkit_core::flow::{rodata_names, Kconfig, LoadConfig};
use btfkit_core::BpfObject;
use btfkit_hub::check::{
    check_archive, check_bundle, check_target, CheckObject, CheckOptions, KernelCheck,
};
use clap::{ArgGroup, Args};

use crate::target::{file_label, read_object, with_target, TargetBtfArgs};

#[derive(Args)]
#[command(group(ArgGroup::new("kernels").required(true).args(["archive", "bundle", "btf"])))]
pub struct CheckArgs {
    /// BPF objects.
    #[arg(required = true)]
    objects: Vec<PathBuf>,
    /// A btfhub-layout archive of kernel BTFs.
    #[arg(long, value_name = "DIR")]
    archive: Option<PathBuf>,
    /// A bundle (btfkit hub build). Its minimized BTFs answer CO-RE; checks
    /// that need the whole BTF (helpers, attach targets) are then skipped
    /// where the bundle lacks what they look up.
    #[arg(long, value_name = "BUNDLE")]
    bundle: Option<PathBuf>,
    /// One kernel's BTF (vmlinux raw, ELF or .btf.tar.xz; a module's split
    /// BTF with -B).
    #[arg(long = "btf", value_name = "FILE")]
    btf: Option<PathBuf>,
    /// vmlinux BTF when --btf is a module's split BTF.
    #[arg(short = 'B', long = "base", value_name = "BASE", requires = "btf")]
    base: Option<PathBuf>,
    /// More module BTFs split on the vmlinux BTF (with --btf).
    #[arg(long = "module", value_name = "MODULE", requires = "btf")]
    modules: Vec<PathBuf>,
    /// The kernel's release for LINUX_KERNEL_VERSION with --btf (default:
    /// the running kernel's for /sys/kernel/btf/vmlinux; archive and bundle
    /// keys give theirs).
    #[arg(long, value_name = "RELEASE")]
    kernel_release: Option<String>,
    /// The kernel's .config: values of `.kconfig` externs (CONFIG_*).
    /// Without it they are unknown, and code they guard counts as
    /// reachable only "unknown".
    #[arg(long, value_name = "FILE")]
    kconfig: Option<PathBuf>,
    /// Pin a `const volatile` global (as the loader would set it), e.g.
    /// --rodata targ_tgid=0. Repeatable. Unpinned ones are unknown.
    #[arg(long = "rodata", value_name = "NAME=VALUE")]
    rodata: Vec<String>,
    /// A table per program (one mark per kernel) instead of per kernel.
    #[arg(long)]
    programs: bool,
    /// With --json: the relocation-level document (every relocation on
    /// every kernel) instead of one line per program and kernel.
    #[arg(long)]
    relocations: bool,
    /// JSON: one line per object, program and kernel:
    /// {"object","program","kernel","verdict","reasons",...}.
    #[arg(long)]
    json: bool,
    /// Kernels checked in parallel (default: one per core).
    #[arg(short, long, default_value = "0")]
    jobs: usize,
}

pub fn run(a: CheckArgs) -> Result<()> {
    let bytes = a
        .objects
        .iter()
        .map(|p| Ok((p.clone(), read_object(p)?)))
        .collect::<Result<Vec<_>>>()?;
    let mut objects = Vec::new();
    for (p, b) in &bytes {
        let obj = BpfObject::parse(b).with_context(|| format!("{}", p.display()))?;
        if obj.btf_ext().is_none() {
            return Err(btfkit_core::ObjectError::NoBtfExt)
                .with_context(|| format!("{}", p.display()));
        }
        let label = p.file_name().map_or_else(
            || p.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        objects.push(CheckObject::new(label, obj));
    }
    let opts = options(&a, &objects)?;
    let kernels = run_kernels(&a, &objects, &opts)?;
    report(&a, &objects, &kernels)?;
    let failing: Vec<&str> = kernels
        .iter()
        .filter(|k| k.fails())
        .map(|k| k.key.as_str())
        .collect();
    if !failing.is_empty() {
        bail!(
            "{} of {} kernels fail: programs fail to load on {}",
            failing.len(),
            kernels.len(),
            failing.join(", ")
        );
    }
    Ok(())
}

fn options(a: &CheckArgs, objects: &[CheckObject<'_>]) -> Result<CheckOptions> {
    let kconfig = match &a.kconfig {
        // The error names the file.
        Some(p) => Some(Kconfig::parse(&input::read_text(p, Limit::Config)?)),
        None => None,
    };
    let known: Vec<String> = objects.iter().flat_map(|o| rodata_names(&o.obj)).collect();
    let mut rodata = Vec::new();
    for pin in &a.rodata {
        let Some((name, value)) = pin.split_once('=') else {
            bail!("--rodata {pin}: expected NAME=VALUE");
        };
        let Some(v) = btfkit_core::flow::inputs::parse_int(value.trim()) else {
            bail!("--rodata {pin}: {value} is not an integer");
        };
        if !known.iter().any(|k| k == name) {
            bail!("--rodata {pin}: no object has a read-only global named {name}");
        }
        rodata.push((name.to_string(), v));
    }
    Ok(CheckOptions {
        load: LoadConfig {
            kconfig,
            kernel_version: None,
            rodata,
        },
        all_relocations: a.json && a.relocations,
        ..CheckOptions::default()
    })
}

fn run_kernels(
    a: &CheckArgs,
    objects: &[CheckObject<'_>],
    opts: &CheckOptions,
) -> Result<Vec<KernelCheck>> {
    if let Some(dir) = &a.archive {
        return Ok(check_archive(dir, objects, a.jobs, opts)?);
    }
    if let Some(path) = &a.bundle {
        let data = input::read(path, Limit::Large)?;
        let bundle =
            btfkit_bundle::Bundle::parse(&data).with_context(|| format!("{}", path.display()))?;
        return Ok(check_bundle(&bundle, objects, opts));
    }
    let Some(btf) = &a.btf else {
        bail!("give --archive, --bundle or --btf");
    };
    let targs = TargetBtfArgs {
        btf: btf.clone(),
        base: a.base.clone(),
        modules: a.modules.clone(),
    };
    let release = a.kernel_release.clone().or_else(|| running_release(btf));
    let key = if btf == Path::new("/sys/kernel/btf/vmlinux") {
        format!("host/{}", release.as_deref().unwrap_or("vmlinux"))
    } else {
        file_label(btf)
    };
    let result = with_target(&targs, |target| {
        Ok(check_target(objects, target, release.as_deref(), opts))
    })?;
    Ok(vec![KernelCheck {
        key,
        result: Ok(result),
    }])
}

/// The running kernel's release, when `btf` is its BTF.
fn running_release(btf: &Path) -> Option<String> {
    if !btf.starts_with("/sys/kernel/btf") {
        return None;
    }
    input::read_text(Path::new("/proc/sys/kernel/osrelease"), Limit::Text)
        .ok()
        .map(|s| s.trim().to_string())
}

fn report(a: &CheckArgs, objects: &[CheckObject<'_>], kernels: &[KernelCheck]) -> Result<()> {
    let mut out = BufWriter::new(crate::output::stdout());
    if a.json && a.relocations {
        writeln!(out, "{}", crate::check_report::json(kernels))?;
    } else if a.json {
        let programs: Vec<crate::check_report::ObjectPrograms> = objects
            .iter()
            .map(|o| {
                let progs = o
                    .obj
                    .programs()
                    .iter()
                    .filter(|p| !p.is_subprog)
                    .map(|p| crate::check_report::ProgramId {
                        name: p.name.clone(),
                        section: p.section_name.clone(),
                        autoload: p.autoload,
                    })
                    .collect();
                (o.label.clone(), progs)
            })
            .collect();
        for line in crate::check_report::program_lines(kernels, &programs) {
            writeln!(out, "{line}")?;
        }
    } else if a.programs {
        write!(out, "{}", crate::check_report::programs_table(kernels))?;
    } else {
        write!(out, "{}", crate::check_report::table(kernels))?;
    }
    out.flush()?;
    Ok(())
}
