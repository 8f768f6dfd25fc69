//! `btfkit trace` in the guest: started as a user would, a known exec
//! made while it traces, and the printed events checked value by value.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use btfkit_vmtest::Plan;
use serde_json::Value;

use crate::{Outcome, BTFKIT, SYSFS_BTF};

/// Which buffer and hook the tracer is told to use.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Mode {
    /// `--buffer ring` (tracepoints).
    Ring,
    /// `--buffer perf` (tracepoints).
    Perf,
    /// `--buffer ring --attach kprobe`: the architecture-specific register
    /// reads of the kprobe fallback.
    Kprobe,
}

impl Mode {
    /// What the tracer's --debug line must say: "`<buffer>` buffer,
    /// syscalls hooked by `<hook>`".
    fn expected(self) -> (&'static str, &'static str) {
        match self {
            Mode::Ring => ("ring buffer", "hooked by tracepoints"),
            Mode::Perf => ("perf buffer", "hooked by tracepoints"),
            Mode::Kprobe => ("ring buffer", "hooked by kprobes on "),
        }
    }

    fn args(self) -> &'static [&'static str] {
        match self {
            Mode::Ring => &["--buffer", "ring"],
            Mode::Perf => &["--buffer", "perf"],
            Mode::Kprobe => &["--buffer", "ring", "--attach", "kprobe"],
        }
    }
}

/// The uid and gid the known exec runs as, and its exit status.
const EXEC_UID: u32 = 1234;
const EXEC_GID: u32 = 4321;
const EXEC_STATUS: i64 = 7;
/// Generous: a TCG guest verifies the tracer's programs slowly.
const READY_TIMEOUT: Duration = Duration::from_secs(180);

type Lines = Arc<Mutex<Vec<String>>>;

struct Tracer {
    child: Child,
    stdout: Lines,
    stderr: Lines,
    readers: Vec<JoinHandle<()>>,
}

fn collect(r: impl Read + Send + 'static, into: Lines) -> JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines().map_while(Result::ok) {
            into.lock().expect("lines lock").push(line);
        }
    })
}

impl Tracer {
    fn start(args: &[&str], env: &[(&str, &str)]) -> Result<Tracer, String> {
        let mut child = Command::new(BTFKIT)
            .args(["trace", "--output", "json", "--duration", "600", "--debug"])
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {BTFKIT}: {e}"))?;
        let stdout = Lines::default();
        let stderr = Lines::default();
        let readers = vec![
            collect(child.stdout.take().expect("piped"), Arc::clone(&stdout)),
            collect(child.stderr.take().expect("piped"), Arc::clone(&stderr)),
        ];
        Ok(Tracer {
            child,
            stdout,
            stderr,
            readers,
        })
    }

    /// Waits until the tracer says it traces, or exits, or time runs out.
    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if self.stderr_text().contains("tracing (") {
                return Ok(());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                self.join();
                return Err(format!(
                    "the tracer exited ({status}) before tracing: {}",
                    last_lines(&self.stderr_text(), 3)
                ));
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                return Err(format!(
                    "not tracing after {} s: {}",
                    READY_TIMEOUT.as_secs(),
                    last_lines(&self.stderr_text(), 3)
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stderr_text(&self) -> String {
        self.stderr.lock().expect("lines lock").join("\n")
    }

    fn join(&mut self) {
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
    }

    /// SIGINT (as Ctrl-C), then the events and the exit status.
    fn stop(mut self) -> Result<(Vec<Value>, String, ExitStatus), String> {
        // Let the last events reach the buffer.
        std::thread::sleep(Duration::from_millis(500));
        let pid = rustix::process::Pid::from_raw(self.child.id() as i32).expect("a child pid");
        rustix::process::kill_process(pid, rustix::process::Signal::INT)
            .map_err(|e| format!("SIGINT to the tracer: {e}"))?;
        let status = self.child.wait().map_err(|e| e.to_string())?;
        self.join();
        let stderr = self.stderr_text();
        let events = self
            .stdout
            .lock()
            .expect("lines lock")
            .iter()
            .map(|l| serde_json::from_str(l).map_err(|e| format!("not JSON ({e}): {l}")))
            .collect::<Result<Vec<Value>, String>>()?;
        Ok((events, stderr, status))
    }
}

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}

/// Runs the known exec: `/bin/sh -c 'exit 7' MARKER 'two words'` as
/// uid 1234 / gid 4321. Returns its pid and argv.
fn known_exec() -> Result<(u32, Vec<String>), String> {
    let marker = format!("vmtest-marker-{}", std::process::id());
    let argv = vec![
        "/bin/sh".to_string(),
        "-c".to_string(),
        format!("exit {EXEC_STATUS}"),
        marker,
        "two words".to_string(),
    ];
    let mut child = Command::new(&argv[0])
        .args(&argv[1..])
        .uid(EXEC_UID)
        .gid(EXEC_GID)
        .stdin(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run the known exec: {e}"))?;
    let status = child.wait().map_err(|e| e.to_string())?;
    if status.code() != Some(EXEC_STATUS as i32) {
        return Err(format!("the known exec ended with {status}"));
    }
    Ok((child.id(), argv))
}

/// Checks the events of the known exec; returns a summary.
fn check_events(events: &[Value], pid: u32, argv: &[String]) -> Outcome {
    let of_pid = |name: &str| {
        events
            .iter()
            .find(|e| e["event"] == name && e["pid"] == pid)
            .cloned()
    };
    let exec = of_pid("execve").ok_or_else(|| {
        format!(
            "no execve event for pid {pid} among {} events",
            events.len()
        )
    })?;
    let mut wrong = Vec::new();
    let mut expect = |what: &str, got: &Value, want: Value| {
        if *got != want {
            wrong.push(format!("{what} {got} (expected {want})"));
        }
    };
    expect(
        "pathname",
        &exec["args"]["pathname"],
        argv[0].clone().into(),
    );
    expect("argv", &exec["args"]["argv"], argv.into());
    expect("uid", &exec["uid"], EXEC_UID.into());
    expect("gid", &exec["gid"], EXEC_GID.into());
    expect("return value", &exec["ret"], 0.into());
    expect("ppid", &exec["ppid"], std::process::id().into());
    expect("tid", &exec["tid"], pid.into());
    match of_pid("sched_process_exit") {
        Some(exit) => expect("exit code", &exit["args"]["exit_code"], EXEC_STATUS.into()),
        None => wrong.push(format!("no exit event for pid {pid}")),
    }
    if !wrong.is_empty() {
        let flags: Vec<&str> = [
            "read_error",
            "argv_truncated",
            "arg_truncated",
            "pathname_truncated",
        ]
        .into_iter()
        .filter(|f| exec["args"][*f] == true)
        .collect();
        if !flags.is_empty() {
            wrong.push(format!("event flags: {}", flags.join(", ")));
        }
        return Err(wrong.join("; "));
    }
    Ok(format!(
        "execve {} uid {EXEC_UID} exit {EXEC_STATUS}",
        exec["args"]["argv"]
    ))
}

/// Starts the tracer, makes the known exec, stops it and checks.
fn trace_known_exec(mode: Mode, args: &[&str], env: &[(&str, &str)], want_source: &str) -> Outcome {
    let mut tracer = Tracer::start(args, env)?;
    tracer.wait_ready()?;
    let exec = known_exec();
    let (events, stderr, status) = tracer.stop()?;
    let (pid, argv) = exec?;
    if !status.success() {
        return Err(format!(
            "the tracer exited with {status}: {}",
            last_lines(&stderr, 3)
        ));
    }
    // The --debug line "<buffer> buffer, syscalls hooked by <hook>, BTF
    // from <source>" says what was used.
    let loaded = stderr
        .lines()
        .find(|l| l.contains("hooked by"))
        .unwrap_or("")
        .to_string();
    let (buffer, hook) = mode.expected();
    if !loaded.contains(buffer) || !loaded.contains(hook) {
        return Err(format!("expected {buffer} and {hook}: {loaded}"));
    }
    let source = loaded
        .split_once("BTF from ")
        .map_or_else(|| "?".to_string(), |(_, s)| s.to_string());
    let hooked = loaded
        .split_once("hooked by ")
        .and_then(|(_, s)| s.split_once(", BTF"))
        .map_or("?", |(h, _)| h);
    if !source.contains(want_source) {
        return Err(format!("BTF from {source}, expected {want_source}"));
    }
    if !stderr.contains("self-test passed") {
        return Err(format!(
            "no self-test pass reported: {}",
            last_lines(&stderr, 3)
        ));
    }
    let summary = check_events(&events, pid, &argv)?;
    Ok(format!(
        "self-test passed; {summary}; {buffer}, {hooked}; BTF from {source}"
    ))
}

/// Check 1: the kernel's own BTF from sysfs.
pub(crate) fn own_btf(plan: &Plan, mode: Mode) -> Outcome {
    let mut args = mode.args().to_vec();
    let mut want = SYSFS_BTF;
    if plan.inject.iter().any(|i| i == "wrong-btf") {
        args.extend(["--btf", plan.wrong_btf.as_str()]);
        want = plan.wrong_btf.as_str();
    }
    trace_known_exec(mode, &args, &[], want)
}

/// `/sys/kernel/btf` hidden under an empty tmpfs while `f` runs.
fn without_sysfs_btf<T>(f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    run_ok(&[
        "mount",
        "-t",
        "tmpfs",
        "btfkit-hides-btf",
        "/sys/kernel/btf",
    ])?;
    let result = if std::path::Path::new(SYSFS_BTF).exists() {
        Err("/sys/kernel/btf/vmlinux still visible under the tmpfs".to_string())
    } else {
        f()
    };
    run_ok(&["umount", "/sys/kernel/btf"])?;
    result
}

fn run_ok(argv: &[&str]) -> Result<(), String> {
    let out = Command::new(argv[0])
        .args(&argv[1..])
        .output()
        .map_err(|e| format!("{}: {e}", argv[0]))?;
    if !out.status.success() {
        return Err(format!(
            "{}: {}",
            argv.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

/// Check 2: no BTF in sysfs; the bundle rung by os-release, arch and
/// release.
pub(crate) fn bundle(plan: &Plan, mode: Mode) -> Outcome {
    let os_release = "/tmp/os-release";
    std::fs::write(
        os_release,
        format!("ID={}\nVERSION_ID=\"{}\"\n", plan.os_id, plan.os_version),
    )
    .map_err(|e| e.to_string())?;
    let mut args = mode.args().to_vec();
    if let Some(b) = &plan.bundle {
        args.extend(["--bundle", b.as_str()]);
    }
    let want = format!("bundle entry {}", plan.key);
    without_sysfs_btf(|| {
        trace_known_exec(mode, &args, &[("BTFKIT_OSRELEASE_FILE", os_release)], &want).map(|s| {
            let which = if plan.bundle.is_some() {
                "the bundle made from this kernel's package"
            } else {
                "the built-in bundle"
            };
            format!("{s} ({which})")
        })
    })
}

/// Check 3: another kernel's BTF forced: the tracer must refuse to run.
pub(crate) fn wrong_btf(plan: &Plan) -> Outcome {
    let mut tracer = Tracer::start(&["--btf", &plan.wrong_btf], &[])?;
    let deadline = Instant::now() + READY_TIMEOUT;
    let status = loop {
        if let Ok(Some(status)) = tracer.child.try_wait() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = tracer.child.kill();
            return Err("the tracer kept running with another kernel's BTF".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    tracer.join();
    let stderr = tracer.stderr_text();
    if status.success() || stderr.contains("tracing (") {
        return Err(format!(
            "the tracer ran with {}'s BTF ({status})",
            plan.wrong_btf_key
        ));
    }
    let why = stderr
        .lines()
        .rev()
        .find(|l| l.contains("self-test"))
        .ok_or_else(|| {
            format!(
                "refused ({status}) but not by the self-test: {}",
                last_lines(&stderr, 2)
            )
        })?;
    Ok(format!(
        "refused {}'s BTF ({status}): {}",
        plan.wrong_btf_key,
        why.chars().take(160).collect::<String>()
    ))
}
