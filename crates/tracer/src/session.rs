//! A tracing session: read events from the buffer, check the kernel data
//! with an exec of our own, then print until told to stop.

use std::io::Write;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aya::maps::perf::{PerfEvent, PerfEventArrayBuffer};
use aya::maps::{MapData, PerCpuArray, PerfEventArray, RingBuf};
use aya::Ebpf;

use crate::event::{Event, EventKind};
use crate::loader::{self, bpf_error, Buffer, Loaded};
use crate::options::{OutputFormat, TraceOptions};
use crate::output::{Clock, Printer};
use crate::{SelfTestError, TraceError};

/// Pages of each per-CPU perf buffer (events are up to 5.4 KiB).
const PERF_PAGES: usize = 256;

/// What a session saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Events printed.
    pub events: u64,
    /// Events the kernel could not deliver (buffer full).
    pub lost: u64,
    /// Events that could not be captured or parsed.
    pub errors: u64,
}

impl std::fmt::Display for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} events, {} lost, {} errors",
            self.events, self.lost, self.errors
        )
    }
}

/// Where events arrive.
enum Reader {
    Ring(RingBuf<MapData>),
    Perf(Vec<PerfEventArrayBuffer<MapData>>),
}

impl Reader {
    fn open(ebpf: &mut Ebpf, buffer: Buffer) -> Result<Reader, TraceError> {
        let map = ebpf.take_map("events").expect("events map");
        Ok(match buffer {
            Buffer::Ring => {
                Reader::Ring(RingBuf::try_from(map).map_err(|e| bpf_error("ring buffer", &e))?)
            }
            Buffer::Perf => {
                let mut perf =
                    PerfEventArray::try_from(map).map_err(|e| bpf_error("perf buffer", &e))?;
                let cpus = aya::util::online_cpus().map_err(|(what, e)| TraceError::Bpf {
                    what: what.to_string(),
                    detail: e.to_string(),
                })?;
                let mut bufs = Vec::with_capacity(cpus.len());
                for cpu in cpus {
                    bufs.push(
                        perf.open(cpu, Some(PERF_PAGES))
                            .map_err(|e| bpf_error(&format!("perf buffer of CPU {cpu}"), &e))?,
                    );
                }
                Reader::Perf(bufs)
            }
        })
    }

    /// Waits up to `timeout` for events.
    fn wait(&self, timeout: Duration) -> Result<(), TraceError> {
        use rustix::event::{poll, PollFd, PollFlags};
        let ts = rustix::time::Timespec {
            tv_sec: timeout.as_secs() as i64,
            tv_nsec: timeout.subsec_nanos() as i64,
        };
        let r = match self {
            Reader::Ring(r) => poll(&mut [PollFd::new(&r.as_fd(), PollFlags::IN)], Some(&ts)),
            Reader::Perf(bufs) => {
                let mut fds: Vec<PollFd<'_>> =
                    bufs.iter().map(|b| PollFd::new(b, PollFlags::IN)).collect();
                poll(&mut fds, Some(&ts))
            }
        };
        match r {
            Ok(_) | Err(rustix::io::Errno::INTR) => Ok(()),
            Err(e) => Err(TraceError::Io(e.into())),
        }
    }

    /// Hands every available event to `f`; returns the events the perf
    /// buffers report lost.
    fn drain(&mut self, f: &mut dyn FnMut(&[u8])) -> u64 {
        match self {
            Reader::Ring(r) => {
                while let Some(item) = r.next() {
                    f(&item);
                }
                0
            }
            Reader::Perf(bufs) => {
                let mut lost = 0;
                let mut joined = Vec::new();
                for b in bufs.iter_mut() {
                    b.for_each(|ev| match ev {
                        PerfEvent::Sample { head, tail: &[] } => f(head),
                        PerfEvent::Sample { head, tail } => {
                            joined.clear();
                            joined.extend_from_slice(head);
                            joined.extend_from_slice(tail);
                            f(&joined);
                        }
                        PerfEvent::Lost { count } => lost += count,
                    });
                }
                lost
            }
        }
    }
}

fn monotonic_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

fn ns_inode(path: &str) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| m.ino() as u32)
}

/// Execs `/bin/true` with a marker and checks every field the tracer reads
/// through the BTF against what this process knows: a BTF of another
/// kernel makes CO-RE read the wrong offsets, which this catches before a
/// single wrong event is printed.
fn self_test(reader: &mut Reader, btf_source: &str, errors: &mut u64) -> Result<(), TraceError> {
    let prog = ["/bin/true", "/usr/bin/true"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .ok_or(SelfTestError::NoTrue)?;
    let marker = format!("btfkit-self-test-{}-{}", std::process::id(), monotonic_ns());
    let mut child = std::process::Command::new(prog)
        .arg(&marker)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|source| SelfTestError::Spawn { prog, source })?;
    let cpid = child.id();
    let status = child.wait()?;
    let (mut exec, mut exit) = (None::<Event>, None::<Event>);
    let deadline = Instant::now() + Duration::from_secs(3);
    while (exec.is_none() || exit.is_none()) && Instant::now() < deadline {
        reader.wait(Duration::from_millis(50))?;
        reader.drain(&mut |bytes| match Event::parse(bytes) {
            Ok(e) if e.kind == EventKind::Execve && e.argv.last() == Some(&marker) => {
                exec = Some(e)
            }
            Ok(e) if e.kind == EventKind::Exit && e.pid == cpid => exit = Some(e),
            Ok(_) => {}
            Err(_) => *errors += 1,
        });
    }
    let Some(exec) = exec else {
        return Err(SelfTestError::NoEvent {
            prog,
            btf_source: btf_source.to_string(),
        }
        .into());
    };
    let me = std::process::id();
    let uid = rustix::process::getuid().as_raw();
    let gid = rustix::process::getgid().as_raw();
    let mut wrong = Vec::new();
    let mut check = |what: &str, got: String, want: String| {
        if got != want {
            wrong.push(format!("{what} {got} (expected {want})"));
        }
    };
    check("pid", exec.pid.to_string(), cpid.to_string());
    check("tid", exec.tid.to_string(), cpid.to_string());
    check("ppid", exec.ppid.to_string(), me.to_string());
    check("uid", exec.uid.to_string(), uid.to_string());
    check("gid", exec.gid.to_string(), gid.to_string());
    check("return value", exec.ret.to_string(), "0".into());
    check("comm", exec.comm.clone(), "true".into());
    check("pathname", exec.path.clone(), prog.into());
    check(
        "argv",
        format!("{:?}", exec.argv),
        format!("{:?}", [prog, marker.as_str()]),
    );
    if let Some(ino) = ns_inode("/proc/self/ns/mnt") {
        check("mount namespace", exec.mnt_ns.to_string(), ino.to_string());
    }
    if let Some(ino) = ns_inode("/proc/self/ns/pid_for_children") {
        check("pid namespace", exec.pid_ns.to_string(), ino.to_string());
    }
    match &exit {
        Some(x) => {
            check("exit ppid", x.ppid.to_string(), me.to_string());
            check(
                "exit status",
                x.ret.to_string(),
                status.code().unwrap_or(-1).to_string(),
            );
        }
        None => wrong.push("no sched_process_exit event".into()),
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(SelfTestError::WrongValues {
            prog,
            btf_source: btf_source.to_string(),
            wrong,
        }
        .into())
    }
}

fn counter_sum(ebpf: &Ebpf, key: u32) -> u64 {
    let Some(map) = ebpf.map("stats") else {
        return 0;
    };
    let Ok(stats) = PerCpuArray::<_, u64>::try_from(map) else {
        return 0;
    };
    stats.get(&key, 0).map(|v| v.iter().sum()).unwrap_or(0)
}

/// Traces until `opts.duration` passes or SIGINT/SIGTERM, printing events
/// to `out` and diagnostics (`--debug`, warnings) to `diag`.
pub fn run(
    opts: &TraceOptions,
    out: &mut dyn Write,
    diag: &mut dyn Write,
) -> Result<Stats, TraceError> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))?;
    }
    let Loaded {
        mut ebpf,
        buffer,
        btf_source,
    } = loader::load(opts, diag)?;
    let mut reader = Reader::open(&mut ebpf, buffer)?;
    let mut stats = Stats::default();
    if !opts.skip_self_test {
        self_test(&mut reader, &btf_source, &mut stats.errors)?;
        if opts.debug {
            let _ = writeln!(diag, "btfkit trace: self-test passed");
        }
    }
    // Tracing begins. Events stamped before the filters were on (the
    // self-test's, and anything that raced with turning them on) are not
    // shown.
    let lost_before = counter_sum(&ebpf, loader::STAT_LOST);
    let errors_before = counter_sum(&ebpf, loader::STAT_ERRORS);
    loader::enable_filters(&mut ebpf, &opts.filters, monotonic_ns())?;
    let filters_on = monotonic_ns();
    stats.lost += reader.drain(&mut |_| {});
    let started = Instant::now();
    let mut printer = Printer {
        out: std::io::BufWriter::new(out),
        json: opts.output == OutputFormat::Json,
        clock: Clock::now(),
    };
    let _ = writeln!(
        diag,
        "btfkit trace: tracing ({} buffer, BTF from {btf_source}); Ctrl-C stops",
        match buffer {
            Buffer::Ring => "ring",
            Buffer::Perf => "perf",
        }
    );
    printer.header()?;
    printer.out.flush()?;
    let mut failure: Option<std::io::Error> = None;
    loop {
        let remaining = opts.duration.map(|d| d.saturating_sub(started.elapsed()));
        let done = stop.load(Ordering::Relaxed) || remaining == Some(Duration::ZERO);
        if !done {
            let wait = remaining.map_or(Duration::from_millis(200), |r| {
                r.min(Duration::from_millis(200))
            });
            reader.wait(wait)?;
        }
        stats.lost += reader.drain(&mut |bytes| match Event::parse(bytes) {
            Ok(e) if e.ts_ns < filters_on => {}
            Ok(e) => {
                if failure.is_none() {
                    match printer.event(&e) {
                        Ok(()) => stats.events += 1,
                        Err(err) => failure = Some(err),
                    }
                }
            }
            Err(_) => stats.errors += 1,
        });
        if let Err(e) = printer.out.flush() {
            failure.get_or_insert(e);
        }
        if let Some(e) = failure.take() {
            // A reader that went away (`| head`) ends the session quietly.
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                break;
            }
            return Err(e.into());
        }
        if done {
            break;
        }
    }
    stats.lost += counter_sum(&ebpf, loader::STAT_LOST).saturating_sub(lost_before);
    stats.errors += counter_sum(&ebpf, loader::STAT_ERRORS).saturating_sub(errors_before);
    Ok(stats)
}
