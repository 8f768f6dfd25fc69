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
    Permission { what: String },
    /// Loading or attaching failed for another reason.
    #[error("{what}: {detail}")]
    Bpf { what: String, detail: String },
    /// The BTF in use does not describe the running kernel.
    #[error("self-test: {0}")]
    SelfTest(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}
