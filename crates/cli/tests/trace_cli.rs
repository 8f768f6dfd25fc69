//! `btfkit trace` end to end on the real kernel, as root: events with
//! exact values, every filter, both buffers, the no-BTF path through a
//! bundle, a wrong BTF caught, and bad input. Outside CI a host without
//! BPF skips these tests; under CI it fails them.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use btfkit_testutil as tu;
use serde_json::Value;

const BTFKIT: &str = env!("CARGO_BIN_EXE_btfkit");

/// Whether this host can run the tracer (root, kernel BTF, tracefs).
fn bpf_ok() -> bool {
    static OK: OnceLock<bool> = OnceLock::new();
    *OK.get_or_init(|| {
        let root = tu::is_root();
        if !root || !Path::new("/sys/kernel/btf/vmlinux").exists() || !tu::ensure_tracefs() {
            tu::missing::<()>("root with BPF, /sys/kernel/btf/vmlinux and tracefs");
            return false;
        }
        true
    })
}

fn marker(tag: &str) -> String {
    let ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("btfkit-e2e-{tag}-{}-{ns}", std::process::id())
}

/// The exec helper, compiled once.
fn helper() -> PathBuf {
    static H: OnceLock<PathBuf> = OnceLock::new();
    H.get_or_init(|| {
        let src = tu::workspace_root().join("testdata/trace/exec_helper.c");
        let out = tu::cache_dir().join("exec_helper");
        if !tu::is_fresh(&out, &src) {
            let tmp = tu::temp_sibling(&out);
            tu::run_ok(Command::new("cc").args(["-O2", "-o"]).arg(&tmp).arg(&src));
            std::fs::rename(&tmp, &out).unwrap();
        }
        out
    })
    .clone()
}

struct Tracer {
    child: Child,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

fn collect(
    r: impl std::io::Read + Send + 'static,
    into: Arc<Mutex<Vec<String>>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines().map_while(Result::ok) {
            into.lock().unwrap().push(line);
        }
    })
}

impl Tracer {
    /// Starts `btfkit trace --output json ARGS` and waits until it traces.
    fn start(args: &[&str], env: &[(&str, &str)]) -> Tracer {
        let mut cmd = Command::new(BTFKIT);
        cmd.args(["trace", "--output", "json", "--duration", "60"])
            .args(args);
        for k in [
            "BTFKIT_BTF_FILE",
            "BTFKIT_HOST_ROOT",
            "BTFKIT_OSRELEASE_FILE",
            "BTFKIT_KERNEL_RELEASE",
            "BTFKIT_MACHINE",
        ] {
            cmd.env_remove(k);
        }
        cmd.envs(env.iter().copied());
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let threads = vec![
            collect(child.stdout.take().unwrap(), Arc::clone(&stdout)),
            collect(child.stderr.take().unwrap(), Arc::clone(&stderr)),
        ];
        let t = Tracer {
            child,
            stdout,
            stderr,
            threads,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if t.stderr
                .lock()
                .unwrap()
                .iter()
                .any(|l| l.contains("tracing ("))
            {
                return t;
            }
            if Instant::now() > deadline {
                panic!("tracer not ready: {:?}", t.stderr.lock().unwrap());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGINT, then every event printed, stderr and the exit status.
    fn stop(mut self) -> (Vec<Value>, Vec<String>, ExitStatus) {
        // Let the last events reach the buffer.
        std::thread::sleep(Duration::from_millis(200));
        tu::run_ok(
            Command::new("kill")
                .arg("-INT")
                .arg(self.child.id().to_string()),
        );
        let status = self.child.wait().unwrap();
        for t in self.threads.drain(..) {
            t.join().unwrap();
        }
        let events = self
            .stdout
            .lock()
            .unwrap()
            .iter()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        let stderr = self.stderr.lock().unwrap().clone();
        (events, stderr, status)
    }
}

/// Runs a command to completion; returns its pid.
fn run(cmd: &mut Command) -> u32 {
    let mut c = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = c.id();
    c.wait().unwrap();
    pid
}

fn execs_with<'a>(events: &'a [Value], marker: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| {
            e["args"]["argv"]
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x == marker))
        })
        .collect()
}

fn check_echo_event(buffer: &str) {
    if !bpf_ok() {
        return;
    }
    let t = Tracer::start(&["--buffer", buffer], &[]);
    let m = marker(buffer);
    let pid = run(Command::new("/bin/echo").arg(&m));
    let (events, stderr, status) = t.stop();
    assert!(status.success(), "{stderr:?}");
    let found = execs_with(&events, &m);
    assert_eq!(found.len(), 1, "{events:?}");
    let e = found[0];
    assert_eq!(e["event"], "execve");
    assert_eq!(e["args"]["argv"], serde_json::json!(["/bin/echo", m]));
    assert_eq!(e["args"]["pathname"], "/bin/echo");
    assert_eq!(e["uid"], 0);
    assert_eq!(e["gid"], 0);
    assert_eq!(e["pid"], pid);
    assert_eq!(e["tid"], pid);
    assert_eq!(e["ppid"], std::process::id());
    assert_eq!(e["ret"], 0);
    assert_eq!(e["comm"], "echo");
    let exit = events
        .iter()
        .find(|x| x["event"] == "sched_process_exit" && x["pid"] == pid)
        .unwrap_or_else(|| panic!("no exit event for {pid}"));
    assert_eq!(exit["args"]["exit_code"], 0);
    let stats = stderr
        .iter()
        .find(|l| l.contains(" events, "))
        .expect("stats line");
    assert!(stats.contains(" 0 lost, 0 errors"), "{stats}");
}

#[test]
fn echo_event_through_the_ring_buffer() {
    check_echo_event("ring");
}

#[test]
fn echo_event_through_the_perf_buffer() {
    check_echo_event("perf");
}

#[test]
fn execveat_failures_and_truncation() {
    if !bpf_ok() {
        return;
    }
    let h = helper();
    let t = Tracer::start(&["--event", "execve,execveat"], &[]);
    let m1 = marker("at");
    run(Command::new(&h)
        .args(["execveat", "/bin/echo", "echo"])
        .arg(&m1));
    let m2 = marker("fail");
    run(Command::new(&h)
        .args(["execve", "/nonexistent/btfkit", "x"])
        .arg(&m2));
    let m3 = marker("many");
    let many: Vec<String> = (0..25).map(|i| format!("a{i}")).collect();
    run(Command::new("/bin/echo").arg(&m3).args(&many));
    let m4 = marker("long");
    run(Command::new("/bin/echo").arg(&m4).arg("x".repeat(300)));
    let (events, stderr, status) = t.stop();
    assert!(status.success(), "{stderr:?}");
    assert!(
        events.iter().all(|e| e["event"] != "sched_process_exit"),
        "--event excludes exits"
    );
    let at = execs_with(&events, &m1);
    let at: Vec<_> = at.iter().filter(|e| e["event"] == "execveat").collect();
    assert_eq!(at.len(), 1, "{events:?}");
    assert_eq!(at[0]["args"]["pathname"], "/bin/echo");
    assert_eq!(at[0]["args"]["argv"], serde_json::json!(["echo", m1]));
    assert_eq!(at[0]["ret"], 0);
    let fail = execs_with(&events, &m2);
    let fail: Vec<_> = fail
        .iter()
        .filter(|e| e["args"]["pathname"] == "/nonexistent/btfkit")
        .collect();
    assert_eq!(fail.len(), 1);
    assert_eq!(fail[0]["ret"], -2, "ENOENT");
    let many_ev = execs_with(&events, &m3);
    assert_eq!(many_ev.len(), 1);
    let argv = many_ev[0]["args"]["argv"].as_array().unwrap();
    assert_eq!(argv.len(), 20);
    assert_eq!(argv[19], "a17");
    assert_eq!(many_ev[0]["args"]["argv_truncated"], true);
    let long = execs_with(&events, &m4);
    assert_eq!(long.len(), 1);
    assert_eq!(long[0]["args"]["argv"][2].as_str().unwrap().len(), 255);
    assert_eq!(long[0]["args"]["arg_truncated"], true);
}

/// Arguments whose pages are not present when execve is entered (BPF
/// cannot fault them in; on ARMv8.0 CPUs every page of a fork child is in
/// that state) are read after the exec from the new program's stack.
#[test]
fn arguments_unreadable_at_entry_are_read_after_exec() {
    if !bpf_ok() {
        return;
    }
    let t = Tracer::start(&["--event", "execve"], &[]);
    let m = marker("unmapped");
    let pid = run(Command::new(helper())
        .args(["execve-unmapped", "/bin/echo", "echo", "two words"])
        .arg(&m));
    let (events, stderr, status) = t.stop();
    assert!(status.success(), "{stderr:?}");
    let found: Vec<_> = execs_with(&events, &m)
        .into_iter()
        .filter(|e| e["args"]["pathname"] == "/bin/echo")
        .collect();
    assert_eq!(found.len(), 1, "{events:?}");
    let e = found[0];
    assert_eq!(
        e["args"]["argv"],
        serde_json::json!(["echo", "two words", m])
    );
    assert_eq!(e["args"]["read_error"], false);
    assert_eq!(e["pid"], pid);
    assert_eq!(e["ret"], 0);
}

#[test]
fn uid_comm_and_event_filters() {
    if !bpf_ok() {
        return;
    }
    let nobody = |m: &str| {
        run(Command::new("setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "/bin/echo",
            ])
            .arg(m))
    };
    // --uid
    let t = Tracer::start(&["--uid", "65534", "--event", "execve"], &[]);
    let (a, b) = (marker("uid-root"), marker("uid-nobody"));
    run(Command::new("/bin/echo").arg(&a));
    nobody(&b);
    let (events, _, _) = t.stop();
    assert!(execs_with(&events, &a).is_empty());
    let n = execs_with(&events, &b);
    assert_eq!(n.len(), 1, "{events:?}");
    assert_eq!(
        (n[0]["uid"].as_u64(), n[0]["gid"].as_u64()),
        (Some(65534), Some(65534))
    );
    assert!(events.iter().all(|e| e["uid"] == 65534));
    // Several uids.
    let t = Tracer::start(&["--uid", "65534", "--uid=0", "--event", "execve"], &[]);
    let (a, b) = (marker("uid2-root"), marker("uid2-nobody"));
    run(Command::new("/bin/echo").arg(&a));
    nobody(&b);
    let (events, _, _) = t.stop();
    // setpriv itself is exec'd as root with the marker among its arguments.
    let as_nobody = execs_with(&events, &b)
        .into_iter()
        .filter(|e| e["uid"] == 65534)
        .count();
    assert_eq!(
        (execs_with(&events, &a).len(), as_nobody),
        (1, 1),
        "{events:?}"
    );
    // --comm
    let t = Tracer::start(&["--comm", "echo"], &[]);
    let (a, b) = (marker("comm-echo"), marker("comm-true"));
    run(Command::new("/bin/echo").arg(&a));
    run(Command::new("/bin/true").arg(&b));
    let (events, _, _) = t.stop();
    assert_eq!(execs_with(&events, &a).len(), 1);
    assert!(execs_with(&events, &b).is_empty());
    assert!(events.iter().all(|e| e["comm"] == "echo"), "{events:?}");
    // --event exit
    let t = Tracer::start(&["--event", "exit"], &[]);
    let pid = run(Command::new("/bin/echo").arg(marker("exit-only")));
    let (events, _, _) = t.stop();
    assert!(events.iter().all(|e| e["event"] == "sched_process_exit"));
    assert!(events.iter().any(|e| e["pid"] == pid));
}

/// A shell that waits for a line on stdin, then execs echo with `m`.
fn waiting_shell(m: &str) -> Child {
    Command::new("sh")
        .arg("-c")
        .arg(format!("read x; exec /bin/echo {m}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

fn release(mut c: Child) -> u32 {
    use std::io::Write;
    c.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let pid = c.id();
    c.wait().unwrap();
    pid
}

#[test]
fn pid_filters_including_new() {
    if !bpf_ok() {
        return;
    }
    // --pid N: only that process.
    let (a, b) = (marker("pid-yes"), marker("pid-no"));
    let sh = waiting_shell(&a);
    let pid = sh.id().to_string();
    let t = Tracer::start(&["--pid", &pid], &[]);
    release(sh);
    run(Command::new("/bin/echo").arg(&b));
    let (events, _, _) = t.stop();
    assert_eq!(execs_with(&events, &a).len(), 1, "{events:?}");
    assert!(execs_with(&events, &b).is_empty());
    let pid_num: u64 = pid.parse().unwrap();
    assert!(events.iter().all(|e| e["pid"] == pid_num), "{events:?}");
    // --pid new: a process started before tracing is not reported, one
    // started after is.
    let (old, new) = (marker("old"), marker("new"));
    let sh = waiting_shell(&old);
    let t = Tracer::start(&["--pid", "new", "--event", "execve"], &[]);
    release(sh);
    run(Command::new("/bin/echo").arg(&new));
    let (events, _, _) = t.stop();
    assert!(execs_with(&events, &old).is_empty(), "{events:?}");
    assert_eq!(execs_with(&events, &new).len(), 1);
}

#[test]
fn table_output_and_duration() {
    if !bpf_ok() {
        return;
    }
    let m = marker("table");
    let child = Command::new(BTFKIT)
        .args(["trace", "--duration", "3", "--event", "execve"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    run(Command::new("/bin/echo").arg(&m));
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap(),
        "TIME             UID    COMM             PID     TID     RET              EVENT                ARGS"
    );
    let row = text
        .lines()
        .find(|l| l.contains(&m))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        row.contains(&format!(
            " execve               pathname: /bin/echo, argv: [/bin/echo {m}]"
        )),
        "{row}"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("btfkit trace: "),
        "stats line"
    );
}

/// The no-BTF path: BTF only in a bundle (made here from this kernel's
/// BTF, under a made-up distro), a host root without sysfs BTF.
#[test]
fn loads_from_a_bundle_on_a_host_without_btf() {
    if !bpf_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let release = String::from_utf8(tu::run_ok(Command::new("uname").arg("-r"))).unwrap();
    let release = release.trim();
    let arch = std::env::consts::ARCH;
    let archive = dir.path().join("archive");
    let kdir = archive.join("btfkittest/7").join(arch);
    std::fs::create_dir_all(&kdir).unwrap();
    std::fs::copy(
        "/sys/kernel/btf/vmlinux",
        kdir.join(format!("{release}.btf")),
    )
    .unwrap();
    let bundle = dir.path().join("host.bundle");
    let bpf = tu::workspace_root().join("crates/tracer/bpf");
    // The objects btfkit embeds for this architecture (crates/tracer/bpf/build.sh).
    let sfx = if cfg!(target_arch = "aarch64") {
        ".arm64"
    } else {
        ""
    };
    tu::run_ok(
        Command::new(BTFKIT)
            .args(["hub", "build", "--archive"])
            .arg(&archive)
            .arg(bpf.join(format!("trace_ring{sfx}.bpf.o")))
            .arg(bpf.join(format!("trace_perf{sfx}.bpf.o")))
            .arg("-o")
            .arg(&bundle),
    );
    let root = dir.path().join("host");
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(
        root.join("etc/os-release"),
        "ID=btfkittest\nVERSION_ID=\"7\"\n",
    )
    .unwrap();
    for buffer in ["ring", "perf"] {
        let t = Tracer::start(
            &[
                "--bundle",
                bundle.to_str().unwrap(),
                "--debug",
                "--buffer",
                buffer,
            ],
            &[("BTFKIT_HOST_ROOT", root.to_str().unwrap())],
        );
        let m = marker("bundle");
        let pid = run(Command::new("/bin/echo").arg(&m));
        let (events, stderr, status) = t.stop();
        assert!(status.success(), "{stderr:?}");
        let text = stderr.join("\n");
        assert!(
            text.contains(&format!(
                "chosen   bundle entry btfkittest/7/{arch}/{release}"
            )),
            "{text}"
        );
        assert!(
            text.contains("sysfs") && text.contains("absent: no such file"),
            "{text}"
        );
        let e = execs_with(&events, &m);
        assert_eq!(e.len(), 1, "{events:?}");
        assert_eq!(
            (e[0]["pid"].as_u64(), e[0]["ppid"].as_u64()),
            (Some(pid as u64), Some(std::process::id() as u64))
        );
    }
}

/// Another kernel's BTF makes CO-RE read the wrong offsets: the tracer
/// must refuse, not print wrong values.
#[test]
fn another_kernels_btf_is_caught() {
    if !bpf_ok() {
        return;
    }
    let Some(k) = tu::corpus_kernel("debian/12/x86_64/6.1.0-56-amd64") else {
        return;
    };
    let out = Command::new(BTFKIT)
        .args(["trace", "--duration", "1", "--btf"])
        .arg(k.raw_path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("self-test: the BTF from BTFKIT_BTF_FILE")
            && err.contains("does not describe the running kernel"),
        "{err}"
    );
    assert!(err.contains("ppid 0 (expected"), "{err}");
    assert!(out.stdout.is_empty(), "no event printed");
}

#[test]
fn bad_input_and_failures_are_explained() {
    let bad = |args: &[&str], env: &[(&str, &str)], want: &str| {
        let out = Command::new(BTFKIT)
            .arg("trace")
            .args(args)
            .envs(env.iter().copied())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        let last = err.trim_end().lines().last().unwrap_or_default();
        assert!(
            last.starts_with("btfkit: ") && last.contains(want),
            "{args:?}: {err}"
        );
        err.into_owned()
    };
    bad(&["--event", "execve,open"], &[], "unknown event \"open\"");
    bad(&["--uid=-1"], &[], "bad uid \"-1\"");
    bad(&["--uid", "root"], &[], "bad uid");
    bad(&["--pid", "old"], &[], "bad pid");
    bad(&["--comm", "a-command-name-too-long"], &[], "bad comm");
    bad(&["--duration=-1"], &[], "bad duration");
    // No BTF anywhere: the ladder, then the error.
    let empty = tempfile::tempdir().unwrap();
    let err = bad(
        &["--duration", "1"],
        &[
            ("BTFKIT_HOST_ROOT", empty.path().to_str().unwrap()),
            ("BTFKIT_KERNEL_RELEASE", "0.0.1-none"),
        ],
        "no BTF for kernel \"0.0.1-none\"",
    );
    assert!(
        err.contains("ladder") && err.contains("10. bundle"),
        "{err}"
    );
    assert!(err.contains("no kernel 0.0.1-none"), "{err}");
    if !bpf_ok() {
        return;
    }
    // Without privileges: the capability is named.
    let copy = empty.path().join("btfkit");
    std::fs::copy(BTFKIT, &copy).unwrap();
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&copy)
        .args(["trace", "--duration", "1"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("CAP_BPF") && err.contains("permission denied"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
}

/// The kprobe fallback's programs pass the verifier; attaching them
/// needs CONFIG_KPROBES, which this host may lack.
#[test]
fn kprobe_fallback_loads() {
    if !bpf_ok() {
        return;
    }
    let out = Command::new(BTFKIT)
        .args([
            "trace",
            "--attach",
            "kprobe",
            "--duration",
            "1",
            "--event",
            "execve",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    if out.status.success() {
        return;
    }
    assert!(
        err.contains("attaching a kprobe to"),
        "programs must load; only attaching may fail: {err}"
    );
    assert!(!err.contains("loading kp_"), "{err}");
}
