//! Events as the BPF programs send them (`bpf/trace.h`, `struct event`),
//! parsed from bytes without trusting them.

use std::fmt;

/// Offsets in `struct event` (checked against the object's BTF by a test).
const TS_NS: usize = 0;
const TYPE: usize = 8;
const PID: usize = 12;
const TID: usize = 16;
const PPID: usize = 20;
const UID: usize = 24;
const GID: usize = 28;
const RET: usize = 32;
const MNT_NS: usize = 36;
const PID_NS: usize = 40;
const FLAGS: usize = 44;
const ARGC: usize = 48;
const PATH_LEN: usize = 52;
const ARGS_LEN: usize = 56;
const COMM: usize = 60;
const PATH: usize = 76;
/// Bytes before the arguments (`EVENT_HEADER_LEN`).
pub const HEADER_LEN: usize = 332;
/// Size of `comm` with its NUL (`TASK_COMM_LEN`): a command name holds at
/// most 15 bytes.
pub const COMM_LEN: usize = 16;
/// Size of the event's `path` buffer (`PATH_LEN`), NUL included.
pub const PATH_MAX: usize = 256;
/// Arguments captured per exec, at most.
pub const ARGS_MAX: usize = 20;
/// Bytes kept of one argument, NUL included.
pub const ARG_LEN: usize = 256;
/// Size of the event's argument buffer, in bytes.
pub const ARGS_BUF: usize = ARGS_MAX * ARG_LEN;

/// `flags`: the exec had more than [`ARGS_MAX`] arguments; the rest were
/// dropped.
pub const FLAG_ARGS_TRUNCATED: u32 = 1;
/// `flags`: an argument was longer than `ARG_LEN - 1` bytes and was cut.
pub const FLAG_ARG_TRUNCATED: u32 = 2;
/// `flags`: the pathname was longer than `PATH_MAX - 1` bytes and was cut.
pub const FLAG_PATH_TRUNCATED: u32 = 4;
/// `flags`: reading the pathname or an argument from user memory failed
/// (`bpf_probe_read_user*`), so what was captured is incomplete.
pub const FLAG_READ_ERROR: u32 = 8;
/// The arguments are the new program's argument block, read after the
/// exec because the caller's could not be read (`bpf/trace.bpf.c`,
/// `args_from_mm`); `argc` is 0 and the block is split here.
pub const FLAG_ARGS_FROM_MM: u32 = 16;

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventKind {
    /// An `execve(2)`, reported when it returns (`EVENT_EXECVE`).
    Execve = 1,
    /// An `execveat(2)`, reported when it returns (`EVENT_EXECVEAT`).
    Execveat = 2,
    /// A process exiting (`sched_process_exit`, `EVENT_EXIT`).
    Exit = 3,
}

impl EventKind {
    /// Every kind, in code order.
    pub const ALL: [EventKind; 3] = [EventKind::Execve, EventKind::Execveat, EventKind::Exit];

    /// The name printed (Tracee's names).
    pub fn name(self) -> &'static str {
        match self {
            EventKind::Execve => "execve",
            EventKind::Execveat => "execveat",
            EventKind::Exit => "sched_process_exit",
        }
    }

    /// The name given to `--event` (`exit` or Tracee's full name).
    pub fn from_name(s: &str) -> Option<EventKind> {
        match s {
            "execve" => Some(EventKind::Execve),
            "execveat" => Some(EventKind::Execveat),
            "exit" | "sched_process_exit" => Some(EventKind::Exit),
            _ => None,
        }
    }

    fn from_code(c: u32) -> Option<EventKind> {
        match c {
            1 => Some(EventKind::Execve),
            2 => Some(EventKind::Execveat),
            3 => Some(EventKind::Exit),
            _ => None,
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// `bpf_ktime_get_ns()`: CLOCK_MONOTONIC nanoseconds.
    pub ts_ns: u64,
    /// What happened.
    pub kind: EventKind,
    /// Process id: the thread group id (`bpf_get_current_pid_tgid() >> 32`).
    pub pid: u32,
    /// Thread id (the kernel's `pid` of the task).
    pub tid: u32,
    /// The real parent's thread group id (`task->real_parent->tgid`).
    pub ppid: u32,
    /// User id (`bpf_get_current_uid_gid()`).
    pub uid: u32,
    /// Group id (`bpf_get_current_uid_gid() >> 32`).
    pub gid: u32,
    /// Return value of the syscall; exit status for [`EventKind::Exit`].
    pub ret: i32,
    /// Mount namespace inode number (`nsproxy->mnt_ns->ns.inum`), as in
    /// `/proc/<pid>/ns/mnt`.
    pub mnt_ns: u32,
    /// Inode number of the pid namespace for the task's children
    /// (`nsproxy->pid_ns_for_children`).
    pub pid_ns: u32,
    /// `FLAG_*` bits: truncations, read errors, how arguments were read.
    pub flags: u32,
    /// The task's command name (`comm`, at most 15 bytes), lossily UTF-8.
    pub comm: String,
    /// The pathname exec'd (empty for exits).
    pub path: String,
    /// The arguments captured, `argv[0]` first (empty for exits).
    pub argv: Vec<String>,
}

/// Why bytes are not an event.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("malformed event: {0}")]
pub struct EventError(pub String);

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_ne_bytes(b[off..off + 4].try_into().expect("4 bytes"))
}

/// Text up to the first NUL (the kernel's strings are not always UTF-8).
fn c_string(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// NUL-terminated strings, one after another.
fn split_args(args: &[u8]) -> Vec<String> {
    if args.is_empty() {
        return Vec::new();
    }
    let mut argv: Vec<String> = args
        .split(|&c| c == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    // The buffer ends with a NUL, which leaves one empty piece.
    if args.last() == Some(&0) {
        argv.pop();
    }
    argv
}

/// An argument block read whole (`FLAG_ARGS_FROM_MM`) cut the way the
/// entry-time capture cuts arguments: at most [`ARGS_MAX`] arguments of at
/// most `ARG_LEN - 1` bytes. Returns the truncation flags that applies.
fn normalize_block(argv: &mut Vec<String>) -> u32 {
    let mut flags = 0;
    if argv.len() > ARGS_MAX {
        argv.truncate(ARGS_MAX);
        flags |= FLAG_ARGS_TRUNCATED;
    }
    for a in argv.iter_mut() {
        if a.len() > ARG_LEN - 1 {
            let mut end = ARG_LEN - 1;
            while !a.is_char_boundary(end) {
                end -= 1;
            }
            a.truncate(end);
            flags |= FLAG_ARG_TRUNCATED;
        }
    }
    flags
}

impl Event {
    /// Parses an event; extra bytes after it (perf padding) are ignored.
    ///
    /// The bytes come from the kernel through a ring or perf buffer and
    /// are not trusted: lengths and counts are checked against the
    /// buffers' sizes, and anything inconsistent is an [`EventError`].
    pub fn parse(b: &[u8]) -> Result<Event, EventError> {
        if b.len() < HEADER_LEN {
            return Err(EventError(format!(
                "{} bytes, the header has {HEADER_LEN}",
                b.len()
            )));
        }
        let kind = EventKind::from_code(u32_at(b, TYPE))
            .ok_or_else(|| EventError(format!("unknown type {}", u32_at(b, TYPE))))?;
        let argc = u32_at(b, ARGC) as usize;
        let path_len = u32_at(b, PATH_LEN) as usize;
        let args_len = u32_at(b, ARGS_LEN) as usize;
        if argc > ARGS_MAX || path_len > PATH_MAX || args_len > ARGS_BUF {
            return Err(EventError(format!(
                "argc {argc}, path {path_len} or args {args_len} bytes out of bounds"
            )));
        }
        let args = b.get(HEADER_LEN..HEADER_LEN + args_len).ok_or_else(|| {
            EventError(format!(
                "args of {args_len} bytes past the end ({})",
                b.len()
            ))
        })?;
        let mut flags = u32_at(b, FLAGS);
        let mut argv = split_args(args);
        if flags & FLAG_ARGS_FROM_MM != 0 {
            flags |= normalize_block(&mut argv);
        } else if argv.len() != argc {
            return Err(EventError(format!(
                "argc {argc} but {} strings",
                argv.len()
            )));
        }
        Ok(Event {
            ts_ns: u64::from_ne_bytes(b[TS_NS..TS_NS + 8].try_into().expect("8 bytes")),
            kind,
            pid: u32_at(b, PID),
            tid: u32_at(b, TID),
            ppid: u32_at(b, PPID),
            uid: u32_at(b, UID),
            gid: u32_at(b, GID),
            ret: u32_at(b, RET) as i32,
            mnt_ns: u32_at(b, MNT_NS),
            pid_ns: u32_at(b, PID_NS),
            flags,
            comm: c_string(&b[COMM..COMM + COMM_LEN]),
            path: c_string(&b[PATH..PATH + path_len]),
            argv,
        })
    }

    /// Arguments beyond [`ARGS_MAX`] were dropped ([`FLAG_ARGS_TRUNCATED`]).
    pub fn args_truncated(&self) -> bool {
        self.flags & FLAG_ARGS_TRUNCATED != 0
    }

    /// An argument was cut at `ARG_LEN - 1` bytes ([`FLAG_ARG_TRUNCATED`]).
    pub fn arg_truncated(&self) -> bool {
        self.flags & FLAG_ARG_TRUNCATED != 0
    }

    /// The pathname was cut ([`FLAG_PATH_TRUNCATED`]).
    pub fn path_truncated(&self) -> bool {
        self.flags & FLAG_PATH_TRUNCATED != 0
    }

    /// Some user memory could not be read ([`FLAG_READ_ERROR`]).
    pub fn read_error(&self) -> bool {
        self.flags & FLAG_READ_ERROR != 0
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Bytes of an event as the BPF side lays it out.
    pub fn raw(kind: u32, path: &str, argv: &[&str], flags: u32) -> Vec<u8> {
        let mut b = vec![0u8; HEADER_LEN];
        let put =
            |b: &mut Vec<u8>, off: usize, v: u32| b[off..off + 4].copy_from_slice(&v.to_ne_bytes());
        b[0..8].copy_from_slice(&123u64.to_ne_bytes());
        put(&mut b, TYPE, kind);
        put(&mut b, PID, 10);
        put(&mut b, TID, 11);
        put(&mut b, PPID, 1);
        put(&mut b, UID, 1000);
        put(&mut b, GID, 100);
        put(&mut b, RET, (-2i32) as u32);
        put(&mut b, FLAGS, flags);
        put(&mut b, ARGC, argv.len() as u32);
        put(&mut b, PATH_LEN, path.len() as u32 + 1);
        b[COMM..COMM + 4].copy_from_slice(b"echo");
        b[PATH..PATH + path.len()].copy_from_slice(path.as_bytes());
        let mut args = Vec::new();
        for a in argv {
            args.extend_from_slice(a.as_bytes());
            args.push(0);
        }
        put(&mut b, ARGS_LEN, args.len() as u32);
        b.extend_from_slice(&args);
        b
    }

    #[test]
    fn parses_what_bpf_sends() {
        let mut b = raw(
            1,
            "/bin/echo",
            &["echo", "hi there", ""],
            FLAG_ARG_TRUNCATED,
        );
        b.extend_from_slice(&[0; 4]); // perf padding
        let e = Event::parse(&b).unwrap();
        assert_eq!(e.kind, EventKind::Execve);
        assert_eq!(
            (e.pid, e.tid, e.ppid, e.uid, e.gid, e.ret),
            (10, 11, 1, 1000, 100, -2)
        );
        assert_eq!(e.comm, "echo");
        assert_eq!(e.path, "/bin/echo");
        assert_eq!(e.argv, ["echo", "hi there", ""]);
        assert!(e.arg_truncated() && !e.args_truncated());
        let exit = Event::parse(&raw(3, "", &[], 0)).unwrap();
        assert!(exit.argv.is_empty() && exit.kind == EventKind::Exit);
    }

    #[test]
    fn argument_blocks_read_after_exec_are_split_and_cut() {
        let long = "x".repeat(300);
        let mut argv: Vec<&str> = vec!["sh", "-c", &long];
        argv.extend(std::iter::repeat_n("a", 25));
        let mut b = raw(1, "/bin/sh", &argv, FLAG_ARGS_FROM_MM);
        b[ARGC..ARGC + 4].copy_from_slice(&0u32.to_ne_bytes());
        let e = Event::parse(&b).unwrap();
        assert_eq!(e.argv.len(), ARGS_MAX);
        assert_eq!(&e.argv[..2], ["sh", "-c"]);
        assert_eq!(e.argv[2].len(), ARG_LEN - 1);
        assert!(e.args_truncated() && e.arg_truncated() && !e.read_error());
        // A block cut at ARGS_BUF ends without a NUL: the piece counts.
        let mut b = raw(1, "/bin/sh", &["sh", "tail"], FLAG_ARGS_FROM_MM);
        b.pop();
        let len = (b.len() - HEADER_LEN) as u32;
        b[ARGS_LEN..ARGS_LEN + 4].copy_from_slice(&len.to_ne_bytes());
        assert_eq!(Event::parse(&b).unwrap().argv, ["sh", "tail"]);
    }

    #[test]
    fn rejects_malformed_bytes() {
        let good = raw(1, "/bin/echo", &["echo"], 0);
        assert!(Event::parse(&good[..HEADER_LEN - 1]).is_err());
        assert!(Event::parse(&good[..good.len() - 1]).is_err());
        let mut bad = good.clone();
        bad[TYPE] = 9;
        assert!(Event::parse(&bad).is_err());
        let mut bad = good.clone();
        bad[ARGC..ARGC + 4].copy_from_slice(&2u32.to_ne_bytes());
        assert!(Event::parse(&bad).is_err());
        let mut bad = good;
        bad[ARGS_LEN..ARGS_LEN + 4].copy_from_slice(&u32::MAX.to_ne_bytes());
        assert!(Event::parse(&bad).is_err());
    }
}

#[cfg(test)]
mod layout {
    use super::*;
    use btfkit_btf::{Btf, Kind};

    /// The offsets above are `struct event`'s in the embedded objects.
    #[test]
    fn offsets_match_the_objects_btf() {
        for obj in [crate::RING_OBJECT, crate::PERF_OBJECT] {
            let btf = Btf::parse_any(obj, None).unwrap();
            let ev = btf.find_first("event", Kind::Struct).expect("struct event");
            let at = |m: &str| btf.find_member(ev, m).unwrap().expect(m).bit_offset as usize / 8;
            for (m, off) in [
                ("ts_ns", TS_NS),
                ("type", TYPE),
                ("pid", PID),
                ("tid", TID),
                ("ppid", PPID),
                ("uid", UID),
                ("gid", GID),
                ("ret", RET),
                ("mnt_ns", MNT_NS),
                ("pid_ns", PID_NS),
                ("flags", FLAGS),
                ("argc", ARGC),
                ("path_len", PATH_LEN),
                ("args_len", ARGS_LEN),
                ("comm", COMM),
                ("path", PATH),
                ("args", HEADER_LEN),
            ] {
                assert_eq!(at(m), off, "event.{m}");
            }
            let cfg = btf
                .find_first("config", Kind::Struct)
                .expect("struct config");
            let at = |m: &str| btf.find_member(cfg, m).unwrap().expect(m).bit_offset / 8;
            assert_eq!((at("flags"), at("event_mask"), at("start_ns")), (0, 4, 8));
            assert_eq!(std::mem::size_of::<crate::loader::Config>(), 16);
        }
    }
}
