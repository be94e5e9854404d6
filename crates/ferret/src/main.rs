//! The `ferret` command: parses the command line and hands each subcommand to the
//! library crates that do the work. No analysis logic lives here.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd;

#[derive(Debug, Parser)]
#[command(name = "ferret", version, about = "Linux malware-analysis sandbox and host behaviour monitor")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Read auditd logs: interpreted events (text or --json), or alerts with --rules.
    Audit(cmd::audit::Args),
    /// Network analysis of a pcap/pcapng capture: flows, endpoints, DNS/HTTP/IRC/telnet/TLS, anomalies.
    Pcap(cmd::pcap::Args),
    /// Falco-compatible behaviour rules: check rule files, run them over events.
    Rules(cmd::rules::Args),
    /// List the filter fields (like `sysdig -l`).
    Fields(cmd::rules::FieldsArgs),
    /// Print ferret's version and the optional parts compiled in.
    Version,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Audit(args) => cmd::audit::run(args),
        Command::Pcap(args) => cmd::pcap::run(args),
        Command::Rules(args) => cmd::rules::run(args),
        Command::Fields(args) => cmd::rules::fields(args),
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
