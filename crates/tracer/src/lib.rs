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
    #[error("{0}")]
    Usage(String),
    /// No BTF for this host; the ladder was printed.
    #[error("{0}")]
    Resolve(String),
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
        /// attaching, opening a map or mounting tracefs).
        what: String,
        /// Aya's error chain; for a verifier rejection, the log's first
        /// and last lines.
        detail: String,
    },
    /// The BTF in use does not describe the running kernel.
    #[error("self-test: {0}")]
    SelfTest(String),
    /// Installing the signal handlers, polling the event buffer or writing
    /// events failed (a closed pipe on the output ends the session without
    /// an error instead).
    #[error("{0}")]
    Io(#[from] std::io::Error),
}
