//! `btfkit trace`: the execve tracer.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use btfkit_btf::input::{self, Limit};
use btfkit_tracer::{AttachChoice, BufferChoice, Filters, OutputFormat, TraceOptions};
use clap::{Args, ValueEnum};

#[derive(Clone, Copy, ValueEnum)]
enum Output {
    Table,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum BufferArg {
    Auto,
    Ring,
    Perf,
}

#[derive(Clone, Copy, ValueEnum)]
enum AttachArg {
    Auto,
    Tracepoint,
    Kprobe,
}

#[derive(Args)]
pub struct TraceArgs {
    /// Only these user ids (repeatable).
    #[arg(long, value_name = "UID")]
    uid: Vec<String>,
    /// Only these processes, or `new` for processes started after tracing
    /// began (repeatable).
    #[arg(long, value_name = "PID|new")]
    pid: Vec<String>,
    /// Only these command names (repeatable; at most 15 bytes, as the
    /// kernel keeps them).
    #[arg(long, value_name = "NAME")]
    comm: Vec<String>,
    /// Only these events: execve, execveat, exit (comma-separated,
    /// repeatable).
    #[arg(long, value_name = "LIST")]
    event: Vec<String>,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value = "table")]
    output: Output,
    /// Stop after this many seconds (default: at Ctrl-C / SIGTERM).
    #[arg(long, value_name = "S")]
    duration: Option<f64>,
    /// Event buffer: the ring buffer where the kernel has it, else perf.
    #[arg(long, value_enum, default_value = "auto")]
    buffer: BufferArg,
    /// How the syscalls are hooked: tracepoints, else kprobes.
    #[arg(long, value_enum, default_value = "auto")]
    attach: AttachArg,
    /// Use this BTF (raw or ELF) instead of resolving one.
    #[arg(long, value_name = "FILE")]
    btf: Option<PathBuf>,
    /// Use this bundle instead of the one built into btfkit.
    #[arg(long, value_name = "BUNDLE")]
    bundle: Option<PathBuf>,
    /// Print how the BTF was found and what was loaded (stderr).
    #[arg(long)]
    debug: bool,
    /// Skip the start-up check of the kernel data read through the BTF.
    #[arg(long)]
    no_self_test: bool,
}

pub fn run(a: TraceArgs) -> Result<()> {
    let mut filters = Filters::default();
    for u in &a.uid {
        filters.add_uid(u)?;
    }
    for p in &a.pid {
        filters.add_pid(p)?;
    }
    for c in &a.comm {
        filters.add_comm(c)?;
    }
    for e in &a.event {
        filters.add_events(e)?;
    }
    let duration = match a.duration {
        Some(s) if s.is_finite() && s >= 0.0 => Some(Duration::from_secs_f64(s)),
        Some(s) => anyhow::bail!("bad duration {s}: expected seconds, at least 0"),
        None => None,
    };
    let bundle = match &a.bundle {
        // The error names the file.
        Some(p) => Some(input::read(p, Limit::Large)?),
        None => None,
    };
    let opts = TraceOptions {
        filters,
        output: match a.output {
            Output::Table => OutputFormat::Table,
            Output::Json => OutputFormat::Json,
        },
        duration,
        buffer: match a.buffer {
            BufferArg::Auto => BufferChoice::Auto,
            BufferArg::Ring => BufferChoice::Ring,
            BufferArg::Perf => BufferChoice::Perf,
        },
        attach: match a.attach {
            AttachArg::Auto => AttachChoice::Auto,
            AttachArg::Tracepoint => AttachChoice::Tracepoint,
            AttachArg::Kprobe => AttachChoice::Kprobe,
        },
        btf_file: a.btf,
        bundle,
        debug: a.debug,
        skip_self_test: a.no_self_test,
    };
    let stats = btfkit_tracer::run(&opts, &mut crate::output::stdout(), &mut std::io::stderr())?;
    eprintln!("btfkit trace: {stats}");
    Ok(())
}
