//! The `ferret` command: parses the command line and hands each subcommand to the
//! library crates that do the work. No analysis logic lives here.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd;
mod render;
mod yara;

#[derive(Debug, Parser)]
#[command(
    name = "ferret",
    version,
    about = "Linux malware-analysis sandbox and host behaviour monitor"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Detonate a sample in a contained sandbox, trace it, apply the rules, write a report.
    Analyze(cmd::analyze::Args),
    /// List stored analyses.
    List(cmd::list::Args),
    /// Show a stored analysis.
    Show(cmd::show::Args),
    /// Read auditd logs: interpreted events (text or --json), or alerts with --rules.
    Audit(cmd::audit::Args),
    /// Network analysis of a pcap/pcapng capture: flows, endpoints, DNS/HTTP/IRC/telnet/TLS, anomalies.
    Pcap(cmd::pcap::Args),
    /// Falco-compatible behaviour rules: check rule files, run them over events.
    Rules(cmd::rules::Args),
    /// List the filter fields (like `sysdig -l`).
    Fields(cmd::rules::FieldsArgs),
    /// Watch this host live (process, network, file events) with the sandbox's rules; `query` reads a stored session.
    Monitor(cmd::monitor::Args),
    /// Serve the REST API and web UI with in-process workers (task queue on SQLite or PostgreSQL).
    Serve(cmd::serve::Args),
    /// Static analysis: file type, hashes, ELF facts, strings, IOCs, packer signs, YARA.
    Static(cmd::static_::Args),
    /// API tokens of `ferret serve`: create (prints the secret once), list, revoke.
    Token(cmd::token::Args),
    /// Run analysis workers on a task database shared with `ferret serve` (e.g. PostgreSQL).
    Worker(cmd::worker::Args),
    /// Print ferret's version and the optional parts compiled in.
    Version,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Analyze(args) => cmd::analyze::run(args),
        Command::List(args) => cmd::list::run(args),
        Command::Show(args) => cmd::show::run(args),
        Command::Audit(args) => cmd::audit::run(args),
        Command::Pcap(args) => cmd::pcap::run(args),
        Command::Rules(args) => cmd::rules::run(args),
        Command::Fields(args) => cmd::rules::fields(args),
        Command::Monitor(args) => cmd::monitor::run(args),
        Command::Serve(args) => cmd::serve::run(args),
        Command::Static(args) => cmd::static_::run(args),
        Command::Token(args) => cmd::token::run(args),
        Command::Worker(args) => cmd::worker::run(args),
        Command::Version => cmd::version::run(),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("ferret: {err:#}");
            ExitCode::from(2)
        }
    }
}
