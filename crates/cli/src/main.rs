//! `btfkit`: the command-line front end.

mod btf_cmd;
mod core_cmd;
mod extract_cmd;
mod gen_cmd;
mod hub_cmd;
mod resolve_cmd;
mod target;
mod trace_cmd;

use std::io;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Portable eBPF: read, write and query BTF; CO-RE relocation; BTF
/// minimization; runtime BTF resolution.
#[derive(Parser)]
#[command(name = "btfkit", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Inspect BTF files: statistics and dumps.
    #[command(subcommand)]
    Btf(btf_cmd::BtfCommand),
    /// CO-RE: explain and apply the relocations of BPF objects.
    #[command(subcommand)]
    Core(core_cmd::CoreCommand),
    /// BTFGen: minimized BTF for BPF objects.
    #[command(subcommand)]
    Gen(gen_cmd::GenCommand),
    /// Bundles of minimized BTFs for whole archives; filing kernels into archives.
    #[command(subcommand)]
    Hub(hub_cmd::HubCommand),
    /// Find this host's BTF: env override, sysfs, vmlinux files, a bundle;
    /// print every rung tried, the host facts and key kconfig values.
    ///
    /// Example: btfkit resolve --bundle btf.bundle
    Resolve(resolve_cmd::ResolveArgs),
    /// Trace execve, execveat and process exits, Tracee-style, on any
    /// kernel: the BPF object and BTF for the corpus kernels are built in.
    ///
    /// Example: btfkit trace --event execve --output json
    Trace(trace_cmd::TraceArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Btf(cmd) => btf_cmd::run(cmd),
        Command::Core(cmd) => core_cmd::run(cmd),
        Command::Gen(cmd) => gen_cmd::run(cmd),
        Command::Hub(cmd) => hub_cmd::run(cmd),
        Command::Resolve(a) => resolve_cmd::run(a),
        Command::Trace(a) => trace_cmd::run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // A closed pipe (`btfkit btf dump ... | head`) is not an error.
            if e.downcast_ref::<io::Error>()
                .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
            {
                return ExitCode::SUCCESS;
            }
            eprintln!("btfkit: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line.
fn one_line(e: &anyhow::Error) -> String {
    format!("{e:#}").replace('\n', " ")
}

#[cfg(test)]
mod tests {
    /// clap's own consistency checks over every subcommand (they run only
    /// in debug builds, and only for the subcommand being parsed).
    #[test]
    fn command_line_definition_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
