//! Streaming network analysis of pcap and pcapng captures for ferret.
//!
//! [`analyze_file`] (or [`analyze_reader`], or [`Analyzer`] packet by packet)
//! turns a capture into a [`NetworkReport`]: flows, endpoints enriched with
//! GeoIP and blacklists, port statistics, DNS, HTTP, IRC, telnet and TLS
//! records, and anomalies. Every sandbox report embeds it as its `network`
//! section; docs/network.md documents its JSON form.
//!
//! Memory stays bounded whatever the capture's size: the flow table and every
//! record list have caps ([`Limits`]), and reaching one is reported in
//! [`NetworkReport::limits_reached`].

mod analyzer;
mod decode;
mod dns;
mod enrich;
mod frag;
mod h2;
mod http;
mod irc;
mod mmap;
mod reader;
mod records;
pub mod report;
mod tcp;
mod telnet;
mod text;
mod tls;
pub mod write;

use std::fs::File;
use std::io::Read;
use std::path::Path;

pub use analyzer::Analyzer;
pub use enrich::{Blacklist, EnrichError, GeoInfo, GeoIp};
pub use reader::{Format, PcapReader, RawPacket, ReadError};
pub use report::NetworkReport;
pub use text::render_text;

/// Thresholds of the anomaly detectors. The defaults are documented per field.
#[derive(Debug, Clone)]
pub struct Thresholds {
    /// IP scan: one source reaching at least this many distinct addresses on one
    /// port. Default 20.
    pub ip_scan_hosts: u64,
    /// Port scan: one source reaching at least this many distinct ports on one
    /// address. Default 20.
    pub port_scan_ports: u64,
    /// At least this many TCP flows from one source whose SYN got no SYN-ACK.
    /// Default 10.
    pub syn_without_handshake: u64,
    /// Malformed packets reported from this many on. Default 1.
    pub malformed_packets: u64,
    /// Malformed DNS messages reported from this many on. Default 1.
    pub malformed_dns: u64,
    /// At least this many distinct names queried. Default 50.
    pub distinct_domains: u64,
    /// Telnet brute force: at least this many login attempts from one client to
    /// one server. Default 3.
    pub telnet_login_attempts: u64,
    /// Report IRC registrations (NICK/JOIN) as possible C2. Default true.
    pub irc_c2: bool,
    /// Web paths whose request (case-insensitive substring of the URI) is an
    /// anomaly. Default: `/wp-login.php`, `/HNAP1`, `/GponForm`, `/cgi-bin/`,
    /// `/shell?`, `/boaform/`, `/setup.cgi`, `/tmUnblock.cgi`.
    pub exploit_paths: Vec<String>,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            ip_scan_hosts: 20,
            port_scan_ports: 20,
            syn_without_handshake: 10,
            malformed_packets: 1,
            malformed_dns: 1,
            distinct_domains: 50,
            telnet_login_attempts: 3,
            irc_c2: true,
            exploit_paths: [
                "/wp-login.php",
                "/HNAP1",
                "/GponForm",
                "/cgi-bin/",
                "/shell?",
                "/boaform/",
                "/setup.cgi",
                "/tmUnblock.cgi",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        }
    }
}

/// Caps that keep memory bounded.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Flows tracked; packets of further flows count only in the summary.
    /// Default 200,000.
    pub max_flows: usize,
    /// Records kept per L7 kind (DNS messages, HTTP transactions, IRC messages,
    /// telnet sessions, TLS hellos). Default 100,000.
    pub max_records: usize,
    /// Estimated bytes all L7 records together may hold; records beyond it are
    /// counted under `record_bytes` in the limits reached. Default 64 MiB.
    pub max_record_bytes: usize,
    /// Bytes all TCP connections together may hold in buffers (out-of-order
    /// segments, partial headers and lines); a connection that would go beyond
    /// stops being parsed, counted under `tcp_buffer_bytes`. Default 32 MiB.
    pub tcp_buffer_bytes: usize,
    /// Out-of-order TCP bytes buffered per direction before the hole is skipped.
    /// Default 256 KiB.
    pub tcp_window: usize,
    /// TCP reassembly state of a flow idle this long is dropped. Default 300 s.
    pub tcp_idle_secs: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_flows: 200_000,
            max_records: 100_000,
            max_record_bytes: 64 << 20,
            tcp_buffer_bytes: 32 << 20,
            tcp_window: 256 * 1024,
            tcp_idle_secs: 300,
        }
    }
}

/// Everything that steers an analysis.
#[derive(Debug, Default)]
pub struct Options {
    /// GeoIP databases for endpoint enrichment.
    pub geoip: Option<GeoIp>,
    /// Addresses, networks and domains to flag.
    pub blacklist: Blacklist,
    /// Anomaly thresholds.
    pub thresholds: Thresholds,
    /// Memory caps.
    pub limits: Limits,
}

/// Failure to analyse at all (a capture that is merely truncated or corrupt
/// still gives a report, with [`NetworkReport::error`] set).
#[derive(Debug)]
pub enum Error {
    /// The file could not be opened.
    Open(std::path::PathBuf, std::io::Error),
    /// The input is not a capture file, or fails before its first packet.
    Input(ReadError),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Open(p, e) => write!(f, "cannot open {}: {e}", p.display()),
            Error::Input(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for Error {}

/// Analyses the capture at `path` (memory-mapped when it is a regular file).
pub fn analyze_file(path: &Path, opts: &Options) -> Result<NetworkReport, Error> {
    let f = File::open(path).map_err(|e| Error::Open(path.to_path_buf(), e))?;
    let Some(map) = mmap::map(&f) else {
        return analyze_reader(f, opts);
    };
    let reader = PcapReader::from_slice(&map).map_err(Error::Input)?;
    let mut released = 0;
    run(reader, opts, |offset| {
        let offset = offset as usize;
        if offset - released.min(offset) >= mmap::RELEASE_EVERY {
            released = mmap::release(&map, released, offset);
        }
    })
}

/// Analyses a capture held in memory, without copying it.
pub fn analyze_bytes(data: &[u8], opts: &Options) -> Result<NetworkReport, Error> {
    run(
        PcapReader::from_slice(data).map_err(Error::Input)?,
        opts,
        |_| {},
    )
}

/// Analyses a capture read from `input`. Reading is streamed: memory use does
/// not grow with the input's size beyond the [`Limits`].
pub fn analyze_reader<R: Read>(input: R, opts: &Options) -> Result<NetworkReport, Error> {
    run(PcapReader::new(input).map_err(Error::Input)?, opts, |_| {})
}

/// The analysis loop; `progress` learns the input offset after each packet.
fn run<R: Read>(
    mut reader: PcapReader<'_, R>,
    opts: &Options,
    mut progress: impl FnMut(u64),
) -> Result<NetworkReport, Error> {
    let mut an = Analyzer::new(opts);
    an.set_format(reader.format().name());
    let err = loop {
        match reader.next_packet() {
            Ok(Some(p)) => an.packet(&p),
            Ok(None) => break None,
            Err(e) => break Some(e),
        }
        progress(reader.offset());
    };
    Ok(an.finish(err.as_ref()))
}
