//! The fake internet of an analysis ([`crate::Network::Fake`]).
//!
//! Per task, a [`ferret_fakenet::FakeNet`] is created while the sandbox is being built
//! (on its own thread, so its setup overlaps the sandbox's), its veth end is moved into
//! the sandbox's network namespace after the sample is spawned and before it runs, and
//! it captures every frame to `capture.pcap` in the task's output directory (bounded
//! by [`FakeNetConfig::capture_max_bytes`], 100 MB by default; the cut is reported in
//! `limits.capture` and `network.fakenet.capture`). After the sandbox's teardown the
//! fake net is torn down and the capture is analysed by [`ferret_pcap`]: its
//! [`NetworkReport`] is merged into the report's `network` section, next to the
//! system-call view, and the responders' own log (DNS queries answered, HTTP requests
//! served, IRC lines, typed telnet credentials) lands in `network.fakenet`, each TCP
//! session and DNS query cross-referenced to its flow in the capture.
//!
//! A service gets the same fake internet with `AnalyzeOptions { network:
//! ferret_analyze::fake_network(), .. }`. If the fake net cannot be created (no root,
//! no CAP_NET_ADMIN/CAP_BPF, ...), the analysis fails with [`Error::Network`] naming
//! the problem: it never silently runs without it.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use ferret_fakenet::{FakeNet, FakeNetOutcome};
use ferret_pcap::NetworkReport;
use serde::Serialize;

use crate::{Error, Network, NetworkProvider, Result};

pub use ferret_fakenet::{
    DnsQuery, DnsTransport, FakeNetConfig, HttpRequest, IrcLine, TcpMode, TcpProtocol, TcpSession,
    TelnetLogin, UdpDatagram,
};

/// Name of the capture file in the task's output directory.
pub const CAPTURE_FILE: &str = "capture.pcap";

/// Settings of the fake internet of one analysis.
#[derive(Debug, Clone, Default)]
pub struct FakeNetOptions {
    /// Addresses, DNS policy, files served over HTTP, caps. `capture_path` is
    /// ignored: the capture always goes to `capture.pcap` in the output directory, up
    /// to `capture_max_bytes` (default 100 MB).
    pub config: FakeNetConfig,
    /// Anomaly thresholds of the capture's analysis (scans, brute force, ...).
    pub thresholds: ferret_pcap::Thresholds,
    /// Memory caps of the capture's analysis.
    pub pcap_limits: ferret_pcap::Limits,
}

/// The fake internet with default settings: what `ferret analyze` uses unless told
/// `--net none`.
pub fn fake_network() -> Network {
    Network::Fake(Box::default())
}

/// The fake net's part of the report: `network.fakenet`.
#[derive(Debug, Clone, Serialize)]
pub struct FakeNetSection {
    /// When the fake net started (Unix seconds); every record's `at` counts from it.
    pub started_at: f64,
    /// The sandbox's IPv4 address.
    pub sandbox_address: Ipv4Addr,
    /// Its gateway: the fake internet's own address.
    pub gateway: Ipv4Addr,
    /// The sandbox's IPv6 address, when IPv6 is configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sandbox_address6: Option<Ipv6Addr>,
    /// The IPv6 gateway.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateway6: Option<Ipv6Addr>,
    /// `sinkhole` (every A/AAAA query answered with the sink-hole address) or
    /// `nxdomain`.
    pub dns_policy: &'static str,
    /// Address given for A queries under `sinkhole`.
    pub sinkhole: Ipv4Addr,
    /// How TCP connections reached the responders: `catch_all` (every port) or the
    /// fixed ports and the reason the catch-all was not available.
    pub tcp_mode: TcpMode,
    /// What the capture wrote and what it left out.
    pub capture: CaptureInfo,
    /// TCP connections the responders served.
    pub sessions: Vec<SessionRecord>,
    /// DNS queries and what was answered.
    pub dns: Vec<DnsRecord>,
    /// HTTP requests and the status given.
    pub http: Vec<HttpRequest>,
    /// IRC lines the sample sent.
    pub irc: Vec<IrcLine>,
    /// Telnet sessions: user name and password typed at the prompts, commands after.
    pub telnet: Vec<TelnetLogin>,
    /// UDP datagrams the sample sent (DNS included).
    pub udp: Vec<UdpDatagram>,
    /// Records not kept because a list of the log was full.
    pub dropped_records: u64,
    /// Connections closed at once at the connection cap.
    pub refused_connections: u64,
}

/// A TCP session of the fake net with its flow in the capture.
#[derive(Debug, Clone, Serialize)]
pub struct SessionRecord {
    /// The session as the responders logged it.
    #[serde(flatten)]
    pub session: TcpSession,
    /// Id of the same connection in `network.flows` (absent when the capture left
    /// it out).
    pub flow: Option<u32>,
}

/// A DNS query of the fake resolver with its flow in the capture.
#[derive(Debug, Clone, Serialize)]
pub struct DnsRecord {
    /// The query as the resolver logged it.
    #[serde(flatten)]
    pub query: DnsQuery,
    /// Id of the same exchange in `network.flows`.
    pub flow: Option<u32>,
}

/// The capture's figures (`network.fakenet.capture`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct CaptureInfo {
    /// The pcap, relative to the output directory (absent if it could not be made).
    pub file: Option<String>,
    /// Size limit of the file.
    pub max_bytes: u64,
    /// Size of the file, headers included.
    pub file_bytes: u64,
    /// Frames seen on the fake net's interface.
    pub packets_seen: u64,
    /// Frames written.
    pub packets_written: u64,
    /// Frames left out at the size limit.
    pub packets_cut: u64,
    /// Their bytes.
    pub bytes_cut: u64,
    /// Frames the kernel dropped because the capture fell behind.
    pub kernel_drops: u64,
    /// Why writing stopped early.
    pub write_error: Option<String>,
}

/// What the capture cut, for `limits.capture` (present with the fake net).
#[derive(Debug, Clone, Default, Serialize)]
pub struct CaptureLimit {
    /// The size limit.
    pub max_bytes: u64,
    /// Frames left out at the limit.
    pub packets_cut: u64,
    /// Their bytes.
    pub bytes_cut: u64,
    /// Frames the kernel dropped.
    pub kernel_drops: u64,
}

/// What the network of a task produced, for the report.
#[derive(Debug, Default)]
pub(crate) struct NetDone {
    pub fakenet: Option<FakeNetSection>,
    pub capture: Option<NetworkReport>,
    pub limit: Option<CaptureLimit>,
    pub errors: Vec<String>,
}

/// The network of one task, whatever its kind: started before the sandbox, attached
/// after the spawn, finished after the teardown.
pub(crate) enum TaskNet<'a> {
    None,
    Fake(Box<FakeTask<'a>>),
    Provider(&'a dyn NetworkProvider),
}

pub(crate) struct FakeTask<'a> {
    opts: &'a FakeNetOptions,
    /// The fake net being created on its own thread.
    pending: Option<JoinHandle<ferret_fakenet::Result<(FakeNet, f64)>>>,
    net: Option<FakeNet>,
    started_at: f64,
    out_dir: PathBuf,
}

impl Drop for FakeTask<'_> {
    fn drop(&mut self) {
        // A fake net still being created is torn down by its own Drop once joined.
        if let Some(h) = self.pending.take() {
            let _ = h.join();
        }
    }
}

fn fake_error(e: &ferret_fakenet::Error) -> Error {
    let denied = match e {
        ferret_fakenet::Error::Io { source, .. } => {
            matches!(source.kind(), std::io::ErrorKind::PermissionDenied)
                || source.raw_os_error() == Some(1)
        }
        _ => false,
    };
    let hint = if denied {
        " (the fake internet needs root: CAP_SYS_ADMIN, CAP_NET_ADMIN and CAP_BPF; --net none runs with loopback only)"
    } else {
        ""
    };
    Error::Network(format!("the fake internet could not start: {e}{hint}"))
}

impl<'a> TaskNet<'a> {
    /// Starts the network of a task whose output directory is `out_dir` (already
    /// created): the fake net is created on its own thread.
    pub(crate) fn start(network: &'a Network, out_dir: &Path) -> Result<TaskNet<'a>> {
        match network {
            Network::None => Ok(TaskNet::None),
            Network::Provider(p) => Ok(TaskNet::Provider(p.as_ref())),
            Network::Fake(opts) => {
                let cfg = opts.config.clone().capture_to(out_dir.join(CAPTURE_FILE));
                let pending = std::thread::Builder::new()
                    .name("ferret-fakenet-setup".into())
                    .spawn(move || {
                        let started = unix_now();
                        FakeNet::new(cfg).map(|n| (n, started))
                    })
                    .map_err(|e| {
                        Error::Network(format!("starting the fake-internet setup thread: {e}"))
                    })?;
                Ok(TaskNet::Fake(Box::new(FakeTask {
                    opts,
                    pending: Some(pending),
                    net: None,
                    started_at: 0.0,
                    out_dir: out_dir.to_path_buf(),
                })))
            }
        }
    }

    /// `none`, `fake` or the provider's name.
    pub(crate) fn name(&self) -> String {
        match self {
            TaskNet::None => "none".to_owned(),
            TaskNet::Fake(_) => "fake".to_owned(),
            TaskNet::Provider(p) => p.name().to_owned(),
        }
    }

    /// Waits for the fake net's setup (if any): an error here means the fake net
    /// cannot run at all.
    pub(crate) fn ready(&mut self) -> Result<()> {
        if let TaskNet::Fake(t) = self
            && let Some(h) = t.pending.take()
        {
            let (net, started) = h
                .join()
                .map_err(|_| Error::Network("the fake-internet setup thread panicked".into()))?
                .map_err(|e| fake_error(&e))?;
            t.net = Some(net);
            t.started_at = started;
        }
        Ok(())
    }

    /// Connects the sandbox whose init has host pid `init_host_pid`; runs before the
    /// sample's first instruction. Returns notes for the report.
    pub(crate) fn attach(&mut self, init_host_pid: i32) -> Result<Vec<String>> {
        self.ready()?;
        match self {
            TaskNet::None => Ok(Vec::new()),
            TaskNet::Provider(p) => {
                let netns = PathBuf::from(format!("/proc/{init_host_pid}/ns/net"));
                p.attach(&netns)
                    .map_err(|e| Error::Network(format!("network provider {}: {e}", p.name())))
            }
            TaskNet::Fake(t) => {
                let Some(net) = t.net.as_mut() else {
                    return Err(Error::Network("the fake internet is not set up".into()));
                };
                net.attach_pid(init_host_pid).map_err(|e| {
                    Error::Network(format!("connecting the sandbox to the fake internet: {e}"))
                })?;
                let mut notes = Vec::new();
                if let TcpMode::Ports { ports, reason } = net.tcp_mode() {
                    notes.push(format!(
                        "fake internet: TCP answered on {} fixed ports only (no catch-all: {reason})",
                        ports.len()
                    ));
                }
                Ok(notes)
            }
        }
    }

    /// Tears the network down after the sandbox's teardown and gathers what it saw:
    /// for the fake net, its log and the analysis of the capture. Problems are
    /// returned in [`NetDone::errors`], never fatal.
    pub(crate) fn finish(self) -> NetDone {
        match self {
            TaskNet::None => NetDone::default(),
            TaskNet::Provider(p) => NetDone {
                errors: p
                    .detach()
                    .into_iter()
                    .map(|e| format!("network provider {}: {e}", p.name()))
                    .collect(),
                ..NetDone::default()
            },
            TaskNet::Fake(mut t) => t.finish(),
        }
    }
}

impl FakeTask<'_> {
    fn finish(&mut self) -> NetDone {
        let mut done = NetDone::default();
        let Some(mut net) = self.net.take() else {
            return done;
        };
        let cfg = net.config().clone();
        let tcp_mode = net.tcp_mode().clone();
        let outcome: FakeNetOutcome = match net.teardown() {
            Ok(o) => o,
            Err(e) => {
                done.errors.push(format!("fake internet teardown: {e}"));
                // The outcome is kept even when deleting the veth failed.
                net.teardown().unwrap_or_default()
            }
        };
        drop(net);
        let cap = &outcome.capture;
        if let Some(e) = &cap.write_error {
            done.errors.push(format!("fake internet capture: {e}"));
        }
        let file = cap.path.clone().filter(|p| p.exists());
        if let Some(path) = &file {
            let popts = ferret_pcap::Options {
                thresholds: self.opts.thresholds.clone(),
                limits: self.opts.pcap_limits.clone(),
                ..ferret_pcap::Options::default()
            };
            match ferret_pcap::analyze_file(path, &popts) {
                Ok(r) => {
                    if let Some(e) = &r.error {
                        let at = e
                            .packet
                            .map(|p| format!(" at packet {p}"))
                            .unwrap_or_default();
                        done.errors.push(format!(
                            "analysing {CAPTURE_FILE}: stopped{at}: {}",
                            e.message
                        ));
                    }
                    done.capture = Some(r);
                }
                Err(e) => done.errors.push(format!("analysing {CAPTURE_FILE}: {e}")),
            }
        }
        done.limit = Some(CaptureLimit {
            max_bytes: cfg.capture_max_bytes,
            packets_cut: cap.packets_cut,
            bytes_cut: cap.bytes_cut,
            kernel_drops: cap.kernel_drops,
        });
        done.fakenet = Some(section(
            &cfg,
            self.started_at,
            tcp_mode,
            outcome,
            done.capture.as_ref(),
            file.map(|p| {
                p.strip_prefix(&self.out_dir)
                    .unwrap_or(&p)
                    .display()
                    .to_string()
            }),
        ));
        done
    }
}

/// Flow ids of the capture by (transport is TCP, client, server).
type FlowIndex = HashMap<(bool, SocketAddr, SocketAddr), u32>;

fn flow_index(r: &NetworkReport) -> FlowIndex {
    let mut m = HashMap::with_capacity(r.flows.len());
    for f in &r.flows {
        let tcp = match &*f.proto {
            "tcp" => true,
            "udp" => false,
            _ => continue,
        };
        let a = SocketAddr::new(f.src, f.sport);
        let b = SocketAddr::new(f.dst, f.dport);
        m.entry((tcp, a, b)).or_insert(f.id);
        // Orientation is a guess without a SYN; both directions find the flow.
        m.entry((tcp, b, a)).or_insert(f.id);
    }
    m
}

fn section(
    cfg: &FakeNetConfig,
    started_at: f64,
    tcp_mode: TcpMode,
    outcome: FakeNetOutcome,
    capture: Option<&NetworkReport>,
    file: Option<String>,
) -> FakeNetSection {
    let index = capture.map(flow_index).unwrap_or_default();
    let canon = |a: SocketAddr| SocketAddr::new(a.ip().to_canonical(), a.port());
    let flow =
        |tcp: bool, c: SocketAddr, s: SocketAddr| index.get(&(tcp, canon(c), canon(s))).copied();
    let log = outcome.log;
    let cap = outcome.capture;
    FakeNetSection {
        started_at,
        sandbox_address: cfg.sandbox_addr,
        gateway: cfg.fake_addr,
        sandbox_address6: cfg.ipv6.map(|v| v.sandbox_addr),
        gateway6: cfg.ipv6.map(|v| v.fake_addr),
        dns_policy: if cfg.dns_nxdomain {
            "nxdomain"
        } else {
            "sinkhole"
        },
        sinkhole: cfg.sinkhole_v4,
        tcp_mode,
        capture: CaptureInfo {
            file,
            max_bytes: cfg.capture_max_bytes,
            file_bytes: cap.file_bytes,
            packets_seen: cap.packets_seen,
            packets_written: cap.packets_written,
            packets_cut: cap.packets_cut,
            bytes_cut: cap.bytes_cut,
            kernel_drops: cap.kernel_drops,
            write_error: cap.write_error,
        },
        sessions: log
            .tcp
            .into_iter()
            .map(|s| SessionRecord {
                flow: flow(true, s.client, s.original_dst),
                session: s,
            })
            .collect(),
        dns: log
            .dns
            .into_iter()
            .map(|q| DnsRecord {
                flow: flow(q.transport == DnsTransport::Tcp, q.client, q.server),
                query: q,
            })
            .collect(),
        http: log.http,
        irc: log.irc,
        telnet: log.telnet,
        udp: log.udp,
        dropped_records: log.dropped_records,
        refused_connections: log.refused_connections,
    }
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use ferret_fakenet::{FakeNetLog, TcpProtocol};
    use ferret_pcap::report::Flow;

    use super::*;

    #[test]
    fn an_unusable_fake_net_fails_the_analysis_with_its_reason() {
        let net = Network::Fake(Box::new(FakeNetOptions {
            config: FakeNetConfig {
                prefix_len: 31,
                ..FakeNetConfig::default()
            },
            ..FakeNetOptions::default()
        }));
        let dir = std::env::temp_dir();
        let mut task = TaskNet::start(&net, &dir).unwrap();
        assert_eq!(task.name(), "fake");
        let err = task.ready().unwrap_err().to_string();
        assert!(
            err.starts_with("network: the fake internet could not start: invalid fake-net configuration: prefix_len 31"),
            "{err}"
        );
    }

    #[test]
    fn missing_privilege_is_named() {
        let e = ferret_fakenet::Error::Io {
            context: "creating the fake-internet namespace".into(),
            source: std::io::Error::from_raw_os_error(1),
        };
        let msg = fake_error(&e).to_string();
        assert!(
            msg.contains("creating the fake-internet namespace"),
            "{msg}"
        );
        assert!(msg.contains("needs root"), "{msg}");
        assert!(msg.contains("--net none"), "{msg}");
        let other = ferret_fakenet::Error::State("x".into());
        assert!(!fake_error(&other).to_string().contains("needs root"));
    }

    fn flow(id: u32, proto: &'static str, src: &str, sport: u16, dst: &str, dport: u16) -> Flow {
        Flow {
            id,
            proto: proto.into(),
            src: src.parse().unwrap(),
            sport,
            dst: dst.parse().unwrap(),
            dport,
            packets_out: 1,
            bytes_out: 60,
            packets_in: 1,
            bytes_in: 60,
            first_ts: 0.0,
            last_ts: 0.0,
            syn: 1,
            fin: 0,
            rst: 0,
            handshake: true,
            app: None,
        }
    }

    #[test]
    fn sessions_and_queries_name_their_flows() {
        let capture = NetworkReport {
            flows: vec![
                flow(0, "udp", "10.13.37.2", 40000, "192.168.1.1", 53),
                flow(1, "tcp", "10.13.37.2", 40001, "203.0.113.9", 23),
                flow(2, "tcp", "10.13.37.2", 40002, "10.13.37.1", 80),
            ],
            ..NetworkReport::default()
        };
        let sa = |s: &str| s.parse::<SocketAddr>().unwrap();
        let session = |id, client: &str, dst: &str| TcpSession {
            id,
            at: Duration::ZERO,
            duration: Duration::ZERO,
            client: sa(client),
            original_dst: sa(dst),
            protocol: TcpProtocol::Generic,
            bytes_from_client: 0,
            bytes_to_client: 0,
            refused: false,
        };
        let log = FakeNetLog {
            tcp: vec![
                // From the dual-stack listener: an IPv4-mapped client address.
                session(1, "[::ffff:10.13.37.2]:40001", "203.0.113.9:23"),
                session(2, "10.13.37.2:40002", "10.13.37.1:80"),
                session(3, "10.13.37.2:40003", "10.13.37.1:80"),
            ],
            dns: vec![DnsQuery {
                at: Duration::ZERO,
                transport: DnsTransport::Udp,
                client: sa("10.13.37.2:40000"),
                server: sa("192.168.1.1:53"),
                id: 7,
                name: "c2.example".into(),
                qtype: 1,
                answer: Some("10.13.37.1".parse().unwrap()),
                rcode: 0,
            }],
            ..FakeNetLog::default()
        };
        let cfg = FakeNetConfig::default();
        let s = section(
            &cfg,
            1.0,
            TcpMode::CatchAll,
            FakeNetOutcome {
                log,
                ..FakeNetOutcome::default()
            },
            Some(&capture),
            Some("capture.pcap".into()),
        );
        let flows: Vec<Option<u32>> = s.sessions.iter().map(|s| s.flow).collect();
        assert_eq!(flows, [Some(1), Some(2), None]);
        assert_eq!(s.dns[0].flow, Some(0));
        assert_eq!(s.sandbox_address, cfg.sandbox_addr);
        assert_eq!(s.dns_policy, "sinkhole");
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["tcp_mode"], "catch_all");
        assert_eq!(json["sessions"][0]["original_dst"], "203.0.113.9:23");
        assert_eq!(json["sessions"][2]["flow"], serde_json::Value::Null);
        assert_eq!(json["dns"][0]["name"], "c2.example");
    }
}
