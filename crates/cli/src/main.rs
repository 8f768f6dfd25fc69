//! `btfkit`: the command-line front end.
// The doc comments of the argument structs are clap's --help text, where
// `<release>` and the like are placeholders the user reads, not HTML.
#![allow(rustdoc::invalid_html_tags)]

mod btf_cmd;
mod check_cmd;
mod check_report;
mod core_cmd;
mod extract_cmd;
mod gen_cmd;
mod hub_cmd;
mod output;
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

// Encoding a kernel allocates and frees gigabytes in large blocks; glibc
// hands those back to the kernel and faults them in (zeroed) again, which
// cost a fifth of the run. mimalloc keeps them.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    disable_huge_pages();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                e.exit();
            }
            // Usage errors on one line too, like every other error.
            let text = e.render().to_string();
            let first = text
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("invalid arguments");
            let first = first.trim_start_matches("error: ");
            let rest: Vec<&str> = text
                .lines()
                .skip_while(|l| l.trim().is_empty())
                .skip(1)
                .map(str::trim)
                .filter(|l| {
                    !l.is_empty()
                        && !l.starts_with("Usage:")
                        && !l.starts_with("For more information")
                })
                .collect();
            if rest.is_empty() {
                eprintln!("btfkit: {first} (see --help)");
            } else {
                eprintln!("btfkit: {first} {} (see --help)", rest.join(" "));
            }
            return ExitCode::from(2);
        }
    };
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

/// mimalloc asks for transparent huge pages on its arenas, and a 2 MiB
/// page counts in full the moment one byte of it is touched: for most
/// commands that is a third of their peak memory. Huge pages pay off
/// only for gigabytes of short-lived blocks (encoding a kernel), which
/// mimalloc keeps and reuses anyway. Best effort: an old kernel without
/// the switch just keeps them.
fn disable_huge_pages() {
    let _ = rustix::thread::disable_transparent_huge_pages(true);
}

/// The error and its causes on one line, each said once.
fn one_line(e: &anyhow::Error) -> String {
    let e: &(dyn std::error::Error + 'static) = e.as_ref();
    btfkit_btf::error_chain(e).replace('\n', " ")
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
