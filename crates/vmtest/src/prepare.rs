//! Everything one guest needs, made on the host: the kernel's BTF filed
//! into a btfhub-layout archive by `btfkit hub add` (from the very
//! package the guest boots), a bundle of it for the tracer where the
//! built-in bundle lacks the kernel, another kernel's BTF to refuse, the
//! plan, and the initramfs holding busybox, btfkit, the agent, their
//! libraries and the test inputs.

use std::path::{Path, PathBuf};
use std::process::Command;

use btfkit_vmtest::{Plan, DONE_LINE, PLAN_PATH};

use crate::initramfs::{Initramfs, LibrarySearch};
use crate::kernel::{Arch, Kernel};
use crate::HarnessError;

/// Programs and inputs for guests of one architecture.
pub struct ArchInputs {
    /// The architecture.
    pub arch: Arch,
    /// btfkit built for it.
    pub btfkit: PathBuf,
    /// The guest agent built for it.
    pub agent: PathBuf,
    /// busybox-static for it.
    pub busybox: PathBuf,
    /// The uprobe demo's application, versions 1 and 2, built for it.
    pub apps: [PathBuf; 2],
    /// testdata/oracle/load_programs.c built for it (libbpf).
    pub loader: PathBuf,
    /// BPF objects of real tools (Debian's libbpf-tools for this
    /// architecture), for `core check` against the verifier.
    pub tool_objects: Vec<PathBuf>,
    /// Where their shared libraries are.
    pub libs: LibrarySearch,
}

/// Inputs shared by every guest.
pub struct Common {
    /// The workspace root.
    pub root: PathBuf,
    /// The host's btfkit (for `hub add`, `hub build`, `hub get`).
    pub host_btfkit: PathBuf,
    /// The checks to run.
    pub checks: Vec<String>,
    /// Packages whose guests also run [`btfkit_vmtest::TOOLS_CHECK`]
    /// (`None`: as `checks` says, everywhere).
    pub tools_kernels: Option<Vec<String>>,
    /// Deliberate breakage (`bad-init`, `wrong-btf`).
    pub inject: Vec<String>,
}

impl Common {
    /// The checks a kernel's guest runs.
    pub fn checks_for(&self, package: &str) -> Vec<String> {
        self.checks
            .iter()
            .filter(|c| {
                c.as_str() != btfkit_vmtest::TOOLS_CHECK
                    || self
                        .tools_kernels
                        .as_ref()
                        .is_none_or(|ks| ks.iter().any(|k| k == package))
            })
            .cloned()
            .collect()
    }

    fn btfkit(&self, args: &[&str]) -> Result<String, HarnessError> {
        let out = Command::new(&self.host_btfkit)
            .args(args)
            .output()
            .map_err(|e| HarnessError::io(&self.host_btfkit, e))?;
        if !out.status.success() {
            return Err(HarnessError::Btfkit {
                what: args.iter().take(3).copied().collect::<Vec<_>>().join(" "),
                detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The tracer's built-in bundle.
    fn builtin_bundle(&self) -> PathBuf {
        self.root.join("crates/tracer/bpf/trace.bundle")
    }

    /// Every tracer object (all architectures): what the bundles are
    /// minimized for, as `crates/tracer/bpf/build.sh` makes the built-in one.
    fn tracer_objects(&self) -> Result<Vec<PathBuf>, HarnessError> {
        let dir = self.root.join("crates/tracer/bpf");
        let mut objs: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map_err(|e| HarnessError::io(&dir, e))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("trace_") && n.ends_with(".bpf.o"))
            })
            .collect();
        objs.sort();
        Ok(objs)
    }
}

/// The keys of a bundle (`btfkit hub ls`: the key first on each line).
pub fn bundle_keys(btfkit: &Path, bundle: &Path) -> Result<Vec<String>, HarnessError> {
    let out = Command::new(btfkit)
        .args(["hub", "ls"])
        .arg(bundle)
        .output()
        .map_err(|e| HarnessError::io(btfkit, e))?;
    if !out.status.success() {
        return Err(HarnessError::Btfkit {
            what: "hub ls".into(),
            detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect())
}

/// A kernel of the corpus with a layout other than `k`'s, whose BTF the
/// tracer must refuse: Debian 11's 5.10 for newer kernels, Debian 12's
/// 6.1 for 5.10 (task_struct moved between them).
fn wrong_key(k: &Kernel) -> &'static str {
    let old = crate::kernel::series_of(&k.release) == "5.10";
    match (k.arch, old) {
        (Arch::Amd64, false) => "debian/11/x86_64/5.10.0-32-amd64",
        (Arch::Amd64, true) => "debian/12/x86_64/6.1.0-56-amd64",
        (Arch::Arm64, false) => "debian/11/arm64/5.10.0-32-arm64",
        (Arch::Arm64, true) => "debian/12/arm64/6.1.0-56-arm64",
    }
}

/// The guest's files, ready to boot.
pub struct Prepared {
    /// The initramfs.
    pub initrd: PathBuf,
    /// The checks its guest runs.
    pub checks: Vec<String>,
    /// Whether the bundle rung uses the built-in bundle.
    pub builtin_bundle: bool,
}

/// Makes the kernel's archive entry, bundle and initramfs in `dir`.
pub fn prepare(
    common: &Common,
    inputs: &ArchInputs,
    k: &Kernel,
    fetched: &crate::kernel::Fetched,
    dir: &Path,
) -> Result<Prepared, HarnessError> {
    let image_deb = fetched.image_deb.as_path();
    let key = k.key()?;
    let version = k.debian_version().expect("key() checked it");
    // The BTFHub pipeline from the distro package: the package the guest
    // boots, filed into an archive by btfkit alone.
    let archive = dir.join("archive");
    let entry = archive.join(format!("{key}.btf.tar.xz"));
    if !entry.exists() {
        common.btfkit(&[
            "hub",
            "add",
            path_str(image_deb)?,
            "--archive",
            path_str(&archive)?,
            "--distro",
            "debian",
            "--version",
            &version,
            "--arch",
            k.arch.key(),
            "--release",
            &k.release,
        ])?;
        if !entry.exists() {
            return Err(HarnessError::Btfkit {
                what: "hub add".into(),
                detail: format!(
                    "no {} after adding {}",
                    entry.display(),
                    image_deb.display()
                ),
            });
        }
    }
    let builtin = bundle_keys(&common.host_btfkit, &common.builtin_bundle())?.contains(&key);
    let mut fs = Initramfs::default();
    let bundle = if builtin {
        None
    } else {
        let out = dir.join("kernel.bundle");
        let mut args = vec!["hub", "build", "--archive", path_str(&archive)?];
        let objs = common.tracer_objects()?;
        for o in &objs {
            args.push(path_str(o)?);
        }
        args.extend(["-o", path_str(&out)?]);
        common.btfkit(&args)?;
        fs.copy("/vmtest/kernel.bundle", &out, 0o644)?;
        Some("/vmtest/kernel.bundle".to_string())
    };
    let wrong = wrong_key(k);
    let wrong_file = dir.join("wrong.btf");
    common.btfkit(&[
        "hub",
        "get",
        path_str(&common.builtin_bundle())?,
        wrong,
        "-o",
        path_str(&wrong_file)?,
    ])?;
    fs.copy("/vmtest/wrong.btf", &wrong_file, 0o644)?;
    let suite = common.root.join("testdata/core/progs");
    fs.copy("/vmtest/probe.bpf.o", &suite.join("probe.bpf.o"), 0o644)?;
    fs.copy("/vmtest/kernel.bpf.o", &suite.join("kernel.bpf.o"), 0o644)?;
    let mut check_objects = Vec::new();
    for sub in ["testdata/core/check", "testdata/core/progs"] {
        for obj in objects_in(&common.root.join(sub))? {
            let name = obj
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("object.o");
            let guest = format!("/vmtest/check/{name}");
            fs.copy(&guest, &obj, 0o644)?;
            check_objects.push(guest);
        }
    }
    let checks = common.checks_for(&k.package);
    let all_tools = checks.iter().any(|c| c == btfkit_vmtest::TOOLS_CHECK);
    let mut tool_objects = Vec::new();
    for obj in &inputs.tool_objects {
        let name = obj
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("tool.bpf.o");
        let named = crate::tools::NAMED
            .iter()
            .any(|t| name.strip_suffix(".bpf.o") == Some(t));
        if !named && !all_tools {
            continue;
        }
        let guest = format!("/vmtest/tools/{name}");
        fs.copy(&guest, obj, 0o644)?;
        if named {
            check_objects.push(guest.clone());
        }
        tool_objects.push(guest);
    }
    let kconfig = match &fetched.config {
        Some(c) => {
            fs.copy("/vmtest/kconfig", c, 0o644)?;
            Some("/vmtest/kconfig".to_string())
        }
        None => None,
    };
    let plan = Plan {
        key,
        checks: checks.clone(),
        os_id: "debian".into(),
        os_version: version,
        bundle,
        wrong_btf: "/vmtest/wrong.btf".into(),
        wrong_btf_key: wrong.to_string(),
        probe_object: "/vmtest/probe.bpf.o".into(),
        kernel_object: "/vmtest/kernel.bpf.o".into(),
        apps: ["/vmtest/app-v1".into(), "/vmtest/app-v2".into()],
        check_objects,
        tool_objects,
        load_programs: "/vmtest/load_programs".into(),
        kconfig,
        inject: common.inject.clone(),
    };
    fs.file(
        PLAN_PATH,
        serde_json::to_vec_pretty(&plan).expect("a plan serializes"),
        0o644,
    );
    add_programs(&mut fs, inputs)?;
    let bad_init = common.inject.iter().any(|i| i == "bad-init");
    fs.file("/init", init_script(bad_init).into_bytes(), 0o755);
    let initrd = dir.join("initrd.cpio");
    write_atomic(&initrd, &fs.to_cpio())?;
    Ok(Prepared {
        initrd,
        checks,
        builtin_bundle: builtin,
    })
}

/// The `*.bpf.o` files of a directory, sorted.
fn objects_in(dir: &Path) -> Result<Vec<PathBuf>, HarnessError> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| HarnessError::io(dir, e))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.to_str().is_some_and(|s| s.ends_with(".bpf.o")))
        .collect();
    v.sort();
    Ok(v)
}

/// busybox, btfkit, the agent, the applications and their libraries.
fn add_programs(fs: &mut Initramfs, inputs: &ArchInputs) -> Result<(), HarnessError> {
    fs.copy("/bin/busybox", &inputs.busybox, 0o755)?;
    fs.copy("/bin/btfkit", &inputs.btfkit, 0o755)?;
    fs.copy("/bin/vmtest-guest", &inputs.agent, 0o755)?;
    fs.copy("/vmtest/app-v1", &inputs.apps[0], 0o755)?;
    fs.copy("/vmtest/app-v2", &inputs.apps[1], 0o755)?;
    fs.copy("/vmtest/load_programs", &inputs.loader, 0o755)?;
    let mut programs = vec![
        inputs.btfkit.clone(),
        inputs.agent.clone(),
        inputs.loader.clone(),
    ];
    programs.extend(inputs.apps.iter().cloned());
    for (guest, host) in inputs.libs.closure(&programs)? {
        fs.copy(&guest, &host, 0o755)?;
    }
    for d in ["/proc", "/sys", "/dev", "/tmp", "/run", "/etc"] {
        fs.dir(d);
    }
    fs.char_device("/dev/console", 5, 1);
    fs.file(
        "/etc/passwd",
        b"root:x:0:0:root:/:/bin/sh\n".to_vec(),
        0o644,
    );
    Ok(())
}

/// PID 1: mounts what the tracer and the loaders need, runs the agent,
/// powers off. With `bad_init` it exits at once: the kernel panics, as a
/// broken guest would.
fn init_script(bad_init: bool) -> String {
    if bad_init {
        return "#!/bin/busybox sh\necho 'vmtest: deliberately broken init'\nexit 1\n".into();
    }
    format!(
        r#"#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
/bin/busybox --install -s /bin
export PATH=/bin
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mount -t bpf bpf /sys/fs/bpf 2>/dev/null
# Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK.
ulimit -l unlimited
echo "@@vmtest-boot $(uname -r) $(uname -m)"
/bin/vmtest-guest
echo "@@vmtest-agent-exit $?"
echo "{DONE_LINE}"
poweroff -f
"#
    )
}

fn path_str(p: &Path) -> Result<&str, HarnessError> {
    p.to_str()
        .ok_or_else(|| HarnessError::Usage(format!("{}: not UTF-8", p.display())))
}

/// Writes `to` through a temporary file and a rename.
pub fn write_atomic(to: &Path, data: &[u8]) -> Result<(), HarnessError> {
    let tmp = to.with_extension("tmp");
    std::fs::write(&tmp, data).map_err(|e| HarnessError::io(&tmp, e))?;
    std::fs::rename(&tmp, to).map_err(|e| HarnessError::io(to, e))
}
