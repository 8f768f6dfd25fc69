//! Printing events: Tracee's table or JSON lines.

use std::io::Write;

use serde_json::json;

use crate::event::{Event, EventKind};

/// Converts the BPF clock (CLOCK_MONOTONIC) to wall-clock time.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    /// Realtime minus monotonic, in nanoseconds.
    offset_ns: i128,
}

impl Clock {
    /// The current offset between `CLOCK_REALTIME` and `CLOCK_MONOTONIC`
    /// (taken once: later wall-clock adjustments are not followed).
    pub fn now() -> Clock {
        use rustix::time::{clock_gettime, ClockId};
        let ns = |t: rustix::time::Timespec| t.tv_sec as i128 * 1_000_000_000 + t.tv_nsec as i128;
        let mono = ns(clock_gettime(ClockId::Monotonic));
        let real = ns(clock_gettime(ClockId::Realtime));
        Clock {
            offset_ns: real - mono,
        }
    }

    /// Nanoseconds since the epoch for a monotonic timestamp.
    pub fn wall_ns(&self, mono_ns: u64) -> i128 {
        mono_ns as i128 + self.offset_ns
    }

    /// `HH:MM:SS:micros` (UTC), Tracee's TIME column.
    pub fn time_of_day(&self, mono_ns: u64) -> String {
        let ns = self.wall_ns(mono_ns).rem_euclid(86_400 * 1_000_000_000);
        let secs = (ns / 1_000_000_000) as u64;
        let micros = (ns % 1_000_000_000) / 1000;
        format!(
            "{:02}:{:02}:{:02}:{micros:06}",
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        )
    }
}

/// Tracee's ARGS column.
pub fn args_text(e: &Event) -> String {
    match e.kind {
        EventKind::Exit => format!("exit_code: {}", e.ret),
        EventKind::Execve | EventKind::Execveat => {
            let mut argv: Vec<String> = e.argv.clone();
            if e.args_truncated() {
                argv.push("...".into());
            }
            let path = if e.path_truncated() {
                format!("{}...", e.path)
            } else {
                e.path.clone()
            };
            let mut s = format!("pathname: {path}, argv: [{}]", argv.join(" "));
            if e.arg_truncated() {
                s.push_str(" (an argument was cut at 255 bytes)");
            }
            if e.read_error() {
                s.push_str(" (unreadable user memory)");
            }
            s
        }
    }
}

/// The table's header line, columns as Tracee names them.
pub const TABLE_HEADER: &str = "TIME             UID    COMM             PID     TID     RET              EVENT                ARGS";

/// One table row.
pub fn table_row(clock: &Clock, e: &Event) -> String {
    format!(
        "{:<16} {:<6} {:<16} {:<7} {:<7} {:<16} {:<20} {}",
        clock.time_of_day(e.ts_ns),
        e.uid,
        e.comm,
        e.pid,
        e.tid,
        e.ret,
        e.kind.name(),
        args_text(e)
    )
}

/// One JSON line.
pub fn json_line(clock: &Clock, e: &Event) -> String {
    let args = match e.kind {
        EventKind::Exit => json!({ "exit_code": e.ret }),
        _ => json!({
            "pathname": e.path,
            "argv": e.argv,
            "argv_truncated": e.args_truncated(),
            "arg_truncated": e.arg_truncated(),
            "pathname_truncated": e.path_truncated(),
            "read_error": e.read_error(),
        }),
    };
    json!({
        "timestamp": clock.wall_ns(e.ts_ns) as u64,
        "event": e.kind.name(),
        "uid": e.uid,
        "gid": e.gid,
        "comm": e.comm,
        "pid": e.pid,
        "tid": e.tid,
        "ppid": e.ppid,
        "ret": e.ret,
        "mnt_ns": e.mnt_ns,
        "pid_ns": e.pid_ns,
        "args": args,
    })
    .to_string()
}

/// Writes events in the chosen format.
///
/// ```rust
/// use btfkit_tracer::output::{Clock, Printer, TABLE_HEADER};
///
/// let mut p = Printer { out: Vec::new(), json: false, clock: Clock::now() };
/// p.header().unwrap();
/// assert_eq!(String::from_utf8(p.out).unwrap(), format!("{TABLE_HEADER}\n"));
/// ```
pub struct Printer<W: Write> {
    /// Where lines go.
    pub out: W,
    /// JSON lines ([`json_line`]) instead of the table ([`table_row`]).
    pub json: bool,
    /// Converts event timestamps to wall-clock time.
    pub clock: Clock,
}

impl<W: Write> Printer<W> {
    /// Writes the table's header line ([`TABLE_HEADER`]); nothing for JSON.
    pub fn header(&mut self) -> std::io::Result<()> {
        if !self.json {
            writeln!(self.out, "{TABLE_HEADER}")?;
        }
        Ok(())
    }

    /// Writes one event as a line.
    pub fn event(&mut self, e: &Event) -> std::io::Result<()> {
        let line = if self.json {
            json_line(&self.clock, e)
        } else {
            table_row(&self.clock, e)
        };
        writeln!(self.out, "{line}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::tests::raw;

    #[test]
    fn table_and_json() {
        let clock = Clock { offset_ns: 0 };
        let e = Event::parse(&raw(
            1,
            "/bin/echo",
            &["echo", "btfkit"],
            crate::event::FLAG_ARGS_TRUNCATED,
        ))
        .unwrap();
        let row = table_row(&clock, &e);
        assert!(row.starts_with("00:00:00:000000  1000   echo             10      11      -2               execve               pathname: /bin/echo, argv: [echo btfkit ...]"), "{row}");
        let v: serde_json::Value = serde_json::from_str(&json_line(&clock, &e)).unwrap();
        assert_eq!(v["args"]["argv"][1], "btfkit");
        assert_eq!(v["args"]["argv_truncated"], true);
        assert_eq!(v["ppid"], 1);
        let x = Event::parse(&raw(3, "", &[], 0)).unwrap();
        assert!(table_row(&clock, &x).contains("sched_process_exit   exit_code: -2"));
        assert_eq!(
            Clock {
                offset_ns: 3_723_000_001_000
            }
            .time_of_day(0),
            "01:02:03:000001"
        );
    }
}
