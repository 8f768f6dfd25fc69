//! # btfkit-tracer
//!
//! `btfkit trace`: a Tracee-style execve tracer that runs on any kernel
//! btfkit has BTF for. The CO-RE object (`bpf/trace.bpf.c`, built twice,
//! ring buffer and perf buffer, for each of x86-64 and arm64) of the target
//! architecture and a bundle of minimized BTFs for every corpus kernel are
//! embedded; at start the resolver picks the BTF (sysfs,
//! vmlinux files, the bundle), Aya relocates and loads the object with it,
//! and an exec of the tracer's own checks that what the kernel reports
//! through that BTF is right before any event is printed.
//!
//! # Example
//!
//! Tracing needs root (or `CAP_BPF` and `CAP_PERFMON`), hence `no_run`:
//!
//! ```no_run
//! use std::time::Duration;
//! use btfkit_tracer::{run, TraceOptions};
//!
//! # fn main() -> Result<(), btfkit_tracer::TraceError> {
//! let mut opts = TraceOptions::default();
//! opts.filters.add_events("execve,exit")?;
//! opts.filters.add_uid("1000")?;
//! opts.duration = Some(Duration::from_secs(10));
//! let stats = run(&opts, &mut std::io::stdout(), &mut std::io::stderr())?;
//! eprintln!("{stats}");
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

pub mod event;
mod loader;
pub mod options;
pub mod output;
mod session;
pub mod uprobe;

pub use event::{Event, EventKind};
pub use loader::{BUNDLE, PERF_OBJECT, RING_OBJECT};
pub use options::{AttachChoice, BufferChoice, Filters, OutputFormat, TraceOptions};
pub use session::{run, Stats};

/// Why tracing could not start or stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TraceError {
    /// A bad command-line value.
    #[error(transparent)]
    Usage(#[from] UsageError),
    /// No BTF for this host (the ladder was printed on the debug stream).
    #[error(transparent)]
    Resolve(#[from] btfkit_resolver::ResolveError),
    /// The resolved BTF could not be handed to Aya.
    #[error(transparent)]
    Btf(#[from] btfkit_resolver::aya::AyaError),
    /// The kernel refused for lack of privilege.
    #[error("{what}: permission denied: loading and attaching BPF programs needs CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN); run btfkit trace as root")]
    Permission {
        /// The operation refused (`loading tp_enter_execve`, `attaching a
        /// kprobe to __x64_sys_execve`…).
        what: String,
    },
    /// Loading or attaching failed for another reason.
    #[error("{what}: {detail}")]
    Bpf {
        /// The operation that failed (loading the object, a program,
        /// attaching, opening a map).
        what: String,
        /// Aya's error chain, condensed to one line: for a verifier
        /// rejection, the log's first and last lines (the whole log is
        /// thousands of lines; its end says why).
        detail: String,
    },
    /// tracefs, where tracepoints are attached, is not mounted and could
    /// not be.
    #[error("tracefs is not mounted, and mounting it on {target} failed (mount -t tracefs nodev {target})")]
    Tracefs {
        /// Where it was to be mounted.
        target: &'static str,
        /// The mount error.
        #[source]
        source: std::io::Error,
    },
    /// The BTF in use does not describe the running kernel.
    #[error("self-test")]
    SelfTest(#[from] SelfTestError),
    /// Installing the signal handlers, polling the event buffer or writing
    /// events failed (a closed pipe on the output ends the session without
    /// an error instead).
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// A bad filter value ([`Filters`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UsageError {
    /// `--uid` not a number.
    #[error("bad uid {0:?}: expected a number from 0 to {max}", max = u32::MAX)]
    Uid(String),
    /// `--pid` neither a process id nor `new`.
    #[error("bad pid {0:?}: expected a process id or \"new\"")]
    Pid(String),
    /// `--comm` empty, too long or with a NUL.
    #[error("bad comm {0:?}: the kernel keeps 1 to {max} bytes of a command name", max = event::COMM_LEN - 1)]
    Comm(String),
    /// `--event` names no event.
    #[error("unknown event {0:?}: expected execve, execveat or exit")]
    Event(String),
}

/// Why the start-up self-test failed: the tracer execs `/bin/true` and
/// checks the event it reads through CO-RE against what it knows.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SelfTestError {
    /// Neither `/bin/true` nor `/usr/bin/true` exists.
    #[error("no /bin/true to exec")]
    NoTrue,
    /// It could not be run.
    #[error("cannot run {prog}")]
    Spawn {
        /// The program.
        prog: &'static str,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// No exec event for it arrived in time.
    #[error("no event for the tracer's own exec of {prog} within 3 s (BTF from {btf_source})")]
    NoEvent {
        /// The program.
        prog: &'static str,
        /// Where the BTF came from.
        btf_source: String,
    },
    /// Its events hold wrong values: the BTF's layouts are not the
    /// running kernel's.
    #[error("the BTF from {btf_source} does not describe the running kernel: the tracer's exec of {prog} read {}", wrong.join(", "))]
    WrongValues {
        /// The program.
        prog: &'static str,
        /// Where the BTF came from.
        btf_source: String,
        /// Each wrong field, `pid 12 (expected 34)`.
        wrong: Vec<String>,
    },
}
