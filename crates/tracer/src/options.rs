//! What to trace and how: filters, output, buffer and attach choices.

use std::path::PathBuf;
use std::time::Duration;

use crate::event::{EventKind, COMM_LEN};
use crate::{TraceError, UsageError};

/// In-kernel filters. Values of one filter are alternatives (any may
/// match); different filters must all match.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filters {
    /// `--uid`: user ids (the event's `uid`) to report; empty: any.
    pub uids: Vec<u32>,
    /// `--pid`: process ids (thread group ids) to report; empty: any.
    pub pids: Vec<u32>,
    /// `--pid new`: processes started after tracing began.
    pub new_pids: bool,
    /// `--comm`: command names to report, compared with the task's `comm`
    /// when the event is sent (after a successful exec, the new
    /// program's); empty: any.
    pub comms: Vec<String>,
    /// Empty: every event.
    pub events: Vec<EventKind>,
}

impl Filters {
    /// `--uid` values: decimal user ids.
    pub fn add_uid(&mut self, s: &str) -> Result<(), TraceError> {
        let uid = (s.trim().parse::<u32>()).map_err(|_| UsageError::Uid(s.to_string()))?;
        self.uids.push(uid);
        Ok(())
    }

    /// `--pid` values: a process id, or `new`.
    pub fn add_pid(&mut self, s: &str) -> Result<(), TraceError> {
        match s.trim() {
            "new" => self.new_pids = true,
            p => match p.parse::<u32>() {
                Ok(pid) if pid > 0 => self.pids.push(pid),
                _ => return Err(UsageError::Pid(s.to_string()).into()),
            },
        }
        Ok(())
    }

    /// `--comm` values: a command name as the kernel keeps it (at most 15
    /// bytes; a longer name could never match).
    pub fn add_comm(&mut self, s: &str) -> Result<(), TraceError> {
        if s.is_empty() || s.len() >= COMM_LEN || s.contains('\0') {
            return Err(UsageError::Comm(s.to_string()).into());
        }
        self.comms.push(s.to_string());
        Ok(())
    }

    /// `--event` values: comma-separated names.
    pub fn add_events(&mut self, s: &str) -> Result<(), TraceError> {
        for name in s.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let kind =
                EventKind::from_name(name).ok_or_else(|| UsageError::Event(name.to_string()))?;
            if !self.events.contains(&kind) {
                self.events.push(kind);
            }
        }
        Ok(())
    }

    /// Whether the event kind is reported.
    pub fn wants(&self, kind: EventKind) -> bool {
        self.events.is_empty() || self.events.contains(&kind)
    }
}

/// How events are printed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OutputFormat {
    /// Tracee's table: `TIME UID COMM PID TID RET EVENT ARGS`.
    #[default]
    Table,
    /// One JSON object per line.
    Json,
}

/// Which buffer carries events to user space.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BufferChoice {
    /// The ring buffer where the kernel has it (5.8+), else perf.
    #[default]
    Auto,
    /// The ring buffer (`BPF_MAP_TYPE_RINGBUF`), whether or not the kernel
    /// has it: loading fails where it does not.
    Ring,
    /// Per-CPU perf buffers (`BPF_MAP_TYPE_PERF_EVENT_ARRAY`), which every
    /// kernel with BPF has.
    Perf,
}

/// How the syscalls are hooked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AttachChoice {
    /// Syscall tracepoints, else kprobes on the syscall functions.
    #[default]
    Auto,
    /// The `syscalls/sys_{enter,exit}_execve{,at}` tracepoints only
    /// (kernels with `CONFIG_FTRACE_SYSCALLS`).
    Tracepoint,
    /// Kprobes and kretprobes on the execve and execveat syscall functions
    /// only (`__x64_sys_execve` or `__arm64_sys_execve` where syscalls have
    /// wrappers, else `sys_execve`).
    Kprobe,
}

/// Everything `btfkit trace` is told.
#[derive(Clone, Debug, Default)]
pub struct TraceOptions {
    /// Which events to report, applied in the kernel.
    pub filters: Filters,
    /// How events are printed.
    pub output: OutputFormat,
    /// Stop after this long (otherwise at SIGINT/SIGTERM).
    pub duration: Option<Duration>,
    /// Which buffer carries events.
    pub buffer: BufferChoice,
    /// How the syscalls are hooked.
    pub attach: AttachChoice,
    /// Use this BTF (as `BTFKIT_BTF_FILE` would).
    pub btf_file: Option<PathBuf>,
    /// Use this bundle instead of the embedded one.
    pub bundle: Option<Vec<u8>>,
    /// Print the resolver's ladder and loading decisions on stderr.
    pub debug: bool,
    /// Skip checking, with an exec of our own, that the kernel data read
    /// through the BTF in use is right.
    pub skip_self_test: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_values() {
        let mut f = Filters::default();
        f.add_uid("0").unwrap();
        f.add_uid("1000").unwrap();
        assert!(f.add_uid("-1").is_err());
        assert!(f.add_uid("root").is_err());
        f.add_pid("new").unwrap();
        f.add_pid("42").unwrap();
        assert!(f.add_pid("0").is_err());
        assert!(f.add_pid("old").is_err());
        f.add_comm("bash").unwrap();
        assert!(f.add_comm("a-name-of-16-chr").is_err());
        assert!(f.add_comm("").is_err());
        f.add_events("execve, exit").unwrap();
        f.add_events("execve").unwrap();
        assert_eq!(f.events, [EventKind::Execve, EventKind::Exit]);
        let e = f.add_events("execve,open").unwrap_err();
        assert!(e.to_string().contains("unknown event \"open\""), "{e}");
        assert_eq!(
            (f.uids.as_slice(), f.pids.as_slice(), f.new_pids),
            (&[0, 1000][..], &[42][..], true)
        );
        assert!(f.wants(EventKind::Exit) && !f.wants(EventKind::Execveat));
    }
}
