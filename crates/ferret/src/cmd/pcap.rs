//! `ferret pcap`: network analysis of a pcap or pcapng capture (ferret-pcap).

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args as ClapArgs;

use ferret_pcap::{Blacklist, GeoIp, Options};

#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Capture to analyse (pcap or pcapng).
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Print the report as JSON (the `network` section of analysis reports; docs/network.md).
    #[arg(long)]
    json: bool,
    /// Directory of MaxMind databases (GeoLite2 City/Country and ASN *.mmdb) to enrich endpoints.
    #[arg(long, value_name = "DIR")]
    geoip: Option<PathBuf>,
    /// File of addresses, networks (CIDR) and domains to flag, one a line; repeatable.
    #[arg(long, value_name = "FILE")]
    blacklist: Vec<PathBuf>,
    /// IP scan: distinct addresses one source reaches on one port.
    #[arg(long, value_name = "N", default_value_t = 20)]
    ip_scan_hosts: u64,
    /// Port scan: distinct ports one source reaches on one address.
    #[arg(long, value_name = "N", default_value_t = 20)]
    port_scan_ports: u64,
    /// TCP flows from one source whose SYN got no SYN-ACK.
    #[arg(long, value_name = "N", default_value_t = 10)]
    syn_without_handshake: u64,
    /// Distinct domain names queried.
    #[arg(long, value_name = "N", default_value_t = 50)]
    distinct_domains: u64,
    /// Telnet login attempts from one client to one server.
    #[arg(long, value_name = "N", default_value_t = 3)]
    telnet_attempts: u64,
    /// Flows tracked (memory bound).
    #[arg(long, value_name = "N", default_value_t = 200_000)]
    max_flows: usize,
    /// Records kept per L7 kind (memory bound).
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    max_records: usize,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut opts = Options::default();
    if let Some(dir) = &args.geoip {
        opts.geoip = Some(GeoIp::open_dir(dir)?);
    }
    let mut blacklist = Blacklist::default();
    for f in &args.blacklist {
        blacklist.load(f)?;
    }
    opts.blacklist = blacklist;
    let t = &mut opts.thresholds;
    t.ip_scan_hosts = args.ip_scan_hosts;
    t.port_scan_ports = args.port_scan_ports;
    t.syn_without_handshake = args.syn_without_handshake;
    t.distinct_domains = args.distinct_domains;
    t.telnet_login_attempts = args.telnet_attempts;
    opts.limits.max_flows = args.max_flows;
    opts.limits.max_records = args.max_records;

    let report = ferret_pcap::analyze_file(&args.file, &opts)?;
    let mut out = io::BufWriter::with_capacity(1 << 20, io::stdout().lock());
    if args.json {
        serde_json::to_writer(&mut out, &report).context("writing the JSON report")?;
        out.write_all(b"\n")?;
    } else {
        out.write_all(ferret_pcap::render_text(&report).as_bytes())?;
    }
    out.flush()?;
    let code = match &report.error {
        Some(e) => {
            eprintln!("ferret: {}: {}", args.file.display(), e.message);
            ExitCode::from(1)
        }
        None => ExitCode::SUCCESS,
    };
    // The process ends here: freeing a large report record by record would only
    // cost time.
    std::mem::forget(report);
    Ok(code)
}
