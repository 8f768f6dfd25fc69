//! Finding BTF, loading the embedded object with Aya, filling its maps and
//! attaching its programs.

use std::io::Write;
use std::path::Path;

use aya::maps::{Array, HashMap as BpfHashMap, MapType};
use aya::programs::{KProbe, TracePoint};
use aya::{Ebpf, EbpfLoader};
use btfkit_resolver::{report, Kconfig, KconfigValue, Resolver, Settings};

use crate::event::{EventKind, COMM_LEN};
use crate::options::{AttachChoice, BufferChoice, Filters, TraceOptions};
use crate::TraceError;

// The objects are built per architecture from the same source
// (`bpf/build.sh`): the kprobe fallback reads the probed function's
// arguments from registers, whose layout is the architecture's. The
// build's target selects them: aarch64 the arm64 objects, anything else
// the x86-64 ones (there are no others; their tracepoint programs read
// nothing architecture-specific, their kprobe fallback would read the
// wrong registers).

/// The tracer's object for the target architecture, events through a BPF
/// ring buffer.
#[cfg(not(target_arch = "aarch64"))]
pub static RING_OBJECT: &[u8] = aya::include_bytes_aligned!("../bpf/trace_ring.bpf.o");
/// The tracer's object for the target architecture, events through a BPF
/// ring buffer.
#[cfg(target_arch = "aarch64")]
pub static RING_OBJECT: &[u8] = aya::include_bytes_aligned!("../bpf/trace_ring.arm64.bpf.o");
/// The same object, events through a perf event array.
#[cfg(not(target_arch = "aarch64"))]
pub static PERF_OBJECT: &[u8] = aya::include_bytes_aligned!("../bpf/trace_perf.bpf.o");
/// The same object, events through a perf event array.
#[cfg(target_arch = "aarch64")]
pub static PERF_OBJECT: &[u8] = aya::include_bytes_aligned!("../bpf/trace_perf.arm64.bpf.o");
/// Minimized BTF of every corpus kernel for the objects of both
/// architectures (`bpf/build.sh`).
pub static BUNDLE: &[u8] = include_bytes!("../bpf/trace.bundle");

// Must match bpf/trace.h.
const CONFIG_FILTERS_ON: u32 = 1;
const CONFIG_FILTER_UID: u32 = 2;
const CONFIG_FILTER_PID: u32 = 4;
const CONFIG_FILTER_NEW: u32 = 8;
const CONFIG_FILTER_COMM: u32 = 16;
const KCONFIG_ARCH_HAS_SYSCALL_WRAPPER: u32 = 0;
pub(crate) const STAT_LOST: u32 = 0;
pub(crate) const STAT_ERRORS: u32 = 1;

/// `struct config` of bpf/trace.h.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Config {
    flags: u32,
    event_mask: u32,
    start_ns: u64,
}

// SAFETY: `Config` is `repr(C)` with two `u32` then a `u64`: 16 bytes, no
// padding, and every bit pattern is a valid value, which is what `Pod`
// (plain bytes copied to and from the kernel) requires.
unsafe impl aya::Pod for Config {}

/// Which buffer is in use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Buffer {
    Ring,
    Perf,
}

/// How the syscalls are hooked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Hook {
    Tracepoint,
    /// kprobes on these syscall functions (execve, execveat).
    Kprobe(&'static str, &'static str),
}

pub(crate) struct Loaded {
    pub ebpf: Ebpf,
    pub buffer: Buffer,
    /// Where the BTF came from.
    pub btf_source: String,
}

/// The first io::Error in an error's chain.
fn io_cause<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a std::io::Error> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cur {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        cur = c.source();
    }
    None
}

/// An error's message with its causes, verifier logs trimmed to their end.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let text = btfkit_btf::error_chain(e);
    // A verifier log is long; its last lines say why.
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() > 6 {
        format!("{} ... {}", lines[0], lines[lines.len() - 4..].join(" "))
    } else {
        text.replace('\n', " ")
    }
}

pub(crate) fn bpf_error(what: &str, e: &(dyn std::error::Error + 'static)) -> TraceError {
    if let Some(io) = io_cause(e) {
        let denied = [rustix::io::Errno::PERM, rustix::io::Errno::ACCESS].map(|e| e.raw_os_error());
        if io.raw_os_error().is_some_and(|c| denied.contains(&c)) {
            return TraceError::Permission {
                what: what.to_string(),
            };
        }
    }
    TraceError::Bpf {
        what: what.to_string(),
        detail: chain(e),
    }
}

/// tracefs, where the tracepoints are; mounted if the host has not.
fn ensure_tracefs(debug: &mut dyn Write) -> Result<(), TraceError> {
    for p in [
        "/sys/kernel/tracing/events",
        "/sys/kernel/debug/tracing/events",
    ] {
        if Path::new(p).is_dir() {
            return Ok(());
        }
    }
    let target = "/sys/kernel/tracing";
    rustix::mount::mount(
        "nodev",
        target,
        "tracefs",
        rustix::mount::MountFlags::empty(),
        None,
    )
    .map_err(|e| TraceError::Tracefs {
        target,
        source: e.into(),
    })?;
    let _ = writeln!(debug, "btfkit trace: mounted tracefs on {target}");
    Ok(())
}

fn kconfig_code(k: Option<&Kconfig>, name: &str) -> u64 {
    match k.and_then(|k| k.get(name)) {
        Some(KconfigValue::Yes) => 1,
        Some(KconfigValue::Module) => 2,
        _ => 0,
    }
}

/// Resolves BTF, loads the object and attaches it; the filters stay off
/// (every event passes) until [`enable_filters`].
pub(crate) fn load(opts: &TraceOptions, debug: &mut dyn Write) -> Result<Loaded, TraceError> {
    let mut settings = Settings::from_env();
    if let Some(f) = &opts.btf_file {
        settings.btf_file = Some(f.clone());
    }
    let bundle = opts.bundle.as_deref().unwrap_or(BUNDLE);
    let resolver = Resolver::with_settings(settings).bundle(bundle);
    let resolved = resolver.resolve();
    let kernel_release = match &resolved {
        Ok(r) => r.host.release.clone(),
        Err(e) => e.host().release.clone(),
    };
    let kconfig = Kconfig::load(resolver.host(), &kernel_release);
    let resolved = match resolved {
        Ok(r) => {
            if opts.debug {
                let kc = kconfig.clone().map_err(|e| e.to_string());
                let _ = write!(
                    debug,
                    "{}",
                    report::text(
                        &r.host,
                        &r.steps,
                        Some((&r.source, r.bytes.len())),
                        &r.warnings,
                        &kc
                    )
                );
            }
            for w in &r.warnings {
                let _ = writeln!(debug, "btfkit trace: warning: {w}");
            }
            r
        }
        Err(e) => {
            // The whole ladder, then the one-line error.
            let kc = kconfig.clone().map_err(|e| e.to_string());
            let _ = write!(
                debug,
                "{}",
                report::text(e.host(), e.steps(), None, &[], &kc)
            );
            return Err(e.into());
        }
    };
    let kconfig = kconfig.ok();
    let btf = btfkit_resolver::aya::aya_btf(&resolved)?;

    let buffer = match opts.buffer {
        BufferChoice::Ring => Buffer::Ring,
        BufferChoice::Perf => Buffer::Perf,
        BufferChoice::Auto => match aya::sys::is_map_supported(MapType::RingBuf) {
            Ok(true) => Buffer::Ring,
            Ok(false) => Buffer::Perf,
            Err(e) => return Err(bpf_error("probing for BPF ring buffers", &e)),
        },
    };
    let object = match buffer {
        Buffer::Ring => RING_OBJECT,
        Buffer::Perf => PERF_OBJECT,
    };
    let mut ebpf = EbpfLoader::new()
        .btf(Some(&btf))
        .load(object)
        .map_err(|e| {
            bpf_error(
                &format!("loading the tracer with BTF from {}", resolved.source),
                &e,
            )
        })?;
    let wrapper = syscall_wrapper(kconfig.as_ref(), debug);
    {
        let mut kc: Array<_, u64> = Array::try_from(ebpf.map_mut("kconfig").expect("kconfig map"))
            .map_err(|e| bpf_error("kconfig map", &e))?;
        kc.set(KCONFIG_ARCH_HAS_SYSCALL_WRAPPER, u64::from(wrapper), 0)
            .map_err(|e| bpf_error("kconfig map", &e))?;
    }
    set_config(&mut ebpf, Config::default())?;

    ensure_tracefs(debug)?;
    let kprobes_missing =
        kconfig.is_some() && kconfig_code(kconfig.as_ref(), "CONFIG_KPROBES") == 0;
    let hook = attach(&mut ebpf, opts.attach, wrapper, kprobes_missing, debug)?;
    let exit: &mut TracePoint = ebpf
        .program_mut("tp_process_exit")
        .expect("tp_process_exit")
        .try_into()
        .map_err(|e| bpf_error("tp_process_exit", &e))?;
    exit.load()
        .map_err(|e| bpf_error("loading tp_process_exit", &e))?;
    exit.attach("sched", "sched_process_exit")
        .map_err(|e| bpf_error("attaching sched/sched_process_exit", &e))?;
    if opts.debug {
        let _ = writeln!(
            debug,
            "btfkit trace: {} buffer, syscalls hooked by {}, BTF from {}",
            match buffer {
                Buffer::Ring => "ring",
                Buffer::Perf => "perf",
            },
            match hook {
                Hook::Tracepoint => "tracepoints".to_string(),
                Hook::Kprobe(a, b) => format!("kprobes on {a} and {b}"),
            },
            resolved.source
        );
    }
    Ok(Loaded {
        ebpf,
        buffer,
        btf_source: resolved.source.to_string(),
    })
}

fn attach_tracepoints(ebpf: &mut Ebpf) -> Result<(), TraceError> {
    for (prog, event) in [
        ("tp_enter_execve", "sys_enter_execve"),
        ("tp_exit_execve", "sys_exit_execve"),
        ("tp_enter_execveat", "sys_enter_execveat"),
        ("tp_exit_execveat", "sys_exit_execveat"),
    ] {
        let p: &mut TracePoint = ebpf
            .program_mut(prog)
            .expect("program in the object")
            .try_into()
            .map_err(|e| bpf_error(prog, &e))?;
        p.load()
            .map_err(|e| bpf_error(&format!("loading {prog}"), &e))?;
        p.attach("syscalls", event)
            .map_err(|e| bpf_error(&format!("attaching syscalls/{event}"), &e))?;
    }
    Ok(())
}

fn attach_kprobes(
    ebpf: &mut Ebpf,
    wrapper: bool,
    kprobes_missing: bool,
) -> Result<Hook, TraceError> {
    // With syscall wrappers the functions are per-architecture entry
    // points taking the user registers; without, the plain sys_* ones.
    let (execve, execveat) = match (wrapper, std::env::consts::ARCH) {
        (true, "x86_64") => ("__x64_sys_execve", "__x64_sys_execveat"),
        (true, "aarch64") => ("__arm64_sys_execve", "__arm64_sys_execveat"),
        _ => ("sys_execve", "sys_execveat"),
    };
    for (prog, func) in [
        ("kp_enter_execve", execve),
        ("kp_exit_execve", execve),
        ("kp_enter_execveat", execveat),
        ("kp_exit_execveat", execveat),
    ] {
        let p: &mut KProbe = ebpf
            .program_mut(prog)
            .expect("program in the object")
            .try_into()
            .map_err(|e| bpf_error(prog, &e))?;
        p.load()
            .map_err(|e| bpf_error(&format!("loading {prog}"), &e))?;
        p.attach(func, 0).map_err(|e| {
            let what = if kprobes_missing {
                format!("attaching a kprobe to {func} (this kernel has no kprobes: CONFIG_KPROBES is not set)")
            } else {
                format!("attaching a kprobe to {func}")
            };
            bpf_error(&what, &e)
        })?;
    }
    Ok(Hook::Kprobe(execve, execveat))
}

/// The architecture's syscall wrapper for execve, whose presence in
/// the kernel's symbols means CONFIG_ARCH_HAS_SYSCALL_WRAPPER.
fn wrapper_symbol() -> Option<&'static str> {
    match std::env::consts::ARCH {
        "x86_64" => Some("__x64_sys_execve"),
        "aarch64" => Some("__arm64_sys_execve"),
        _ => None,
    }
}

/// Whether syscalls go through per-architecture wrappers taking the user
/// registers: from the kernel's config where it is known, else from its
/// symbols (a container or a minimal host often has no config, but
/// /proc/kallsyms always names the wrapper where there is one).
fn syscall_wrapper(kconfig: Option<&Kconfig>, debug: &mut dyn Write) -> bool {
    if kconfig.is_some() {
        return kconfig_code(kconfig, "CONFIG_ARCH_HAS_SYSCALL_WRAPPER") != 0;
    }
    let Some(symbol) = wrapper_symbol() else {
        return false;
    };
    let found = std::fs::read("/proc/kallsyms").is_ok_and(|syms| {
        syms.split(|&b| b == b'\n')
            .any(|l| l.rsplit(|&b| b == b' ').next() == Some(symbol.as_bytes()))
    });
    let _ = writeln!(
        debug,
        "btfkit trace: no kernel config; syscall wrappers: {} ({symbol} {} /proc/kallsyms)",
        if found { "yes" } else { "no" },
        if found { "in" } else { "not in" }
    );
    found
}

fn attach(
    ebpf: &mut Ebpf,
    choice: AttachChoice,
    wrapper: bool,
    kprobes_missing: bool,
    debug: &mut dyn Write,
) -> Result<Hook, TraceError> {
    match choice {
        AttachChoice::Tracepoint => attach_tracepoints(ebpf).map(|_| Hook::Tracepoint),
        AttachChoice::Kprobe => attach_kprobes(ebpf, wrapper, kprobes_missing),
        AttachChoice::Auto => match attach_tracepoints(ebpf) {
            Ok(()) => Ok(Hook::Tracepoint),
            Err(TraceError::Permission { what }) => Err(TraceError::Permission { what }),
            Err(e) => {
                let _ = writeln!(
                    debug,
                    "btfkit trace: no syscall tracepoints ({e}); trying kprobes"
                );
                attach_kprobes(ebpf, wrapper, kprobes_missing)
            }
        },
    }
}

pub(crate) fn set_config(ebpf: &mut Ebpf, c: Config) -> Result<(), TraceError> {
    let mut config: Array<_, Config> = Array::try_from(ebpf.map_mut("config").expect("config map"))
        .map_err(|e| bpf_error("config map", &e))?;
    config.set(0, c, 0).map_err(|e| bpf_error("config map", &e))
}

/// Fills the filter maps and turns the filters on; `start_ns` is when
/// tracing began, for `--pid new`.
pub(crate) fn enable_filters(
    ebpf: &mut Ebpf,
    f: &Filters,
    start_ns: u64,
) -> Result<(), TraceError> {
    let mut flags = CONFIG_FILTERS_ON;
    {
        let mut uids: BpfHashMap<_, u32, u8> =
            BpfHashMap::try_from(ebpf.map_mut("uid_filter").expect("uid_filter"))
                .map_err(|e| bpf_error("uid_filter", &e))?;
        for &u in &f.uids {
            uids.insert(u, 1, 0)
                .map_err(|e| bpf_error("uid_filter", &e))?;
            flags |= CONFIG_FILTER_UID;
        }
    }
    {
        let mut pids: BpfHashMap<_, u32, u8> =
            BpfHashMap::try_from(ebpf.map_mut("pid_filter").expect("pid_filter"))
                .map_err(|e| bpf_error("pid_filter", &e))?;
        for &p in &f.pids {
            pids.insert(p, 1, 0)
                .map_err(|e| bpf_error("pid_filter", &e))?;
            flags |= CONFIG_FILTER_PID;
        }
    }
    if f.new_pids {
        flags |= CONFIG_FILTER_NEW;
    }
    {
        let mut comms: BpfHashMap<_, [u8; COMM_LEN], u8> =
            BpfHashMap::try_from(ebpf.map_mut("comm_filter").expect("comm_filter"))
                .map_err(|e| bpf_error("comm_filter", &e))?;
        for c in &f.comms {
            let mut key = [0u8; COMM_LEN];
            key[..c.len()].copy_from_slice(c.as_bytes());
            comms
                .insert(key, 1, 0)
                .map_err(|e| bpf_error("comm_filter", &e))?;
            flags |= CONFIG_FILTER_COMM;
        }
    }
    let kinds: Vec<EventKind> = if f.events.is_empty() {
        EventKind::ALL.to_vec()
    } else {
        f.events.clone()
    };
    let event_mask = kinds.iter().fold(0u32, |m, k| m | 1 << (*k as u32));
    set_config(
        ebpf,
        Config {
            flags,
            event_mask,
            start_ns,
        },
    )
}
