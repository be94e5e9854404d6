//! A fake internet for ferret's detonations.
//!
//! [`FakeNet::new`] creates two network namespaces, held only by descriptors (never
//! bind-mounted under /run/netns): the *sandbox side* and the *fake-internet side*,
//! joined by a veth pair created directly inside them, so no interface of the fake
//! net ever exists in the host's namespace and nothing is bridged or routed to it.
//!
//! - Sandbox side: interface `eth0` with [`FakeNetConfig::sandbox_addr`] (default
//!   10.13.37.2/24; IPv6 fd13:3713:3713::2) and default routes via the fake side.
//! - Fake side: [`FakeNetConfig::fake_addr`] (10.13.37.1; fd13:3713:3713::1), as
//!   host addresses with a route to the sandbox's address only, and *local* routes
//!   for 0.0.0.0/0 and ::/0, so it owns every address, those of the sandbox's own
//!   prefix included. An `sk_lookup` BPF program hands every TCP connection, to any
//!   address and port, to one listener (see the `catchall` module for why); the
//!   accepted socket's local address is the original destination (without BPF, a
//!   fixed list of ports: see [`TcpMode`]). Responders: DNS on UDP and TCP 53
//!   (A/AAAA answered with the sink-hole address, or NXDOMAIN), HTTP (200,
//!   configurable files by path), IRC (registration, JOIN, PING), telnet
//!   (negotiation, `login:`/`Password:`, a shell prompt), a banner/echo for other
//!   ports. UDP datagrams are logged from the capture. Everything lands in a
//!   [`FakeNetLog`].
//! - Capture: AF_PACKET on the fake side's veth end, written as pcap (Ethernet) up to
//!   [`FakeNetConfig::capture_max_bytes`]; the cut is reported in [`CaptureStats`].
//!
//! # Use with ferret-sandbox
//!
//! The sample must keep its capabilities in its own network namespace (raw sockets),
//! so the sandbox keeps its loopback-only namespace and the veth's sandbox end is
//! moved into it between `Sandbox::spawn` and `Spawned::release`:
//!
//! ```no_run
//! # fn demo(sb: &mut ferret_sandbox::Sandbox, spec: ferret_sandbox::SpawnSpec) -> Result<(), Box<dyn std::error::Error>> {
//! use ferret_fakenet::{FakeNet, FakeNetConfig};
//! let mut net = FakeNet::new(FakeNetConfig::default().capture_to("/tmp/task/capture.pcap"))?;
//! let spawned = sb.spawn(spec)?;
//! net.attach_pid(spawned.pid_map().init_host_pid())?;
//! spawned.release()?;
//! // ... wait for the sample, tear the sandbox down ...
//! let outcome = net.teardown()?;
//! println!("{} DNS queries", outcome.log.dns.len());
//! # Ok(()) }
//! ```
//!
//! Alternatively `Network::Join(net.sandbox_netns_path())` makes the sandbox join
//! the prepared sandbox side directly (the sample then lacks capabilities there).
//!
//! # Teardown
//!
//! [`FakeNet::teardown`] (also run by `Drop`) stops the responders, drains and closes
//! the capture, deletes the veth pair and closes the namespace descriptors, after
//! which the kernel frees both namespaces.
//!
//! This crate needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN, CAP_BPF).

mod capture;
mod catchall;
mod dns;
mod log;
mod netlink;
mod ns;
mod respond;
mod sys;

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, TcpListener, UdpSocket};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use capture::{CaptureStats, HostWatch, HostWatchReport, in_net};
pub use log::{
    DnsQuery, DnsTransport, FakeNetLog, HttpRequest, IrcLine, TcpProtocol, TcpSession, TelnetLogin,
    UdpDatagram,
};

/// Errors of the fake net.
#[derive(Debug)]
pub enum Error {
    /// A system call, netlink request or file operation failed.
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        source: io::Error,
    },
    /// The configuration is not usable.
    InvalidConfig(String),
    /// A call made in the wrong state (e.g. after teardown).
    State(String),
}

impl Error {
    fn io(context: impl Into<String>) -> impl FnOnce(io::Error) -> Error {
        let context = context.into();
        move |source| Error::Io { context, source }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { context, source } => write!(f, "{context}: {source}"),
            Error::InvalidConfig(m) => write!(f, "invalid fake-net configuration: {m}"),
            Error::State(m) => write!(f, "fake-net state: {m}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// IPv6 addressing of the veth pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Config {
    /// Fake side's address (the sandbox's IPv6 gateway).
    pub fake_addr: Ipv6Addr,
    /// Sandbox side's address.
    pub sandbox_addr: Ipv6Addr,
    /// Prefix length of both.
    pub prefix_len: u8,
}

/// Configuration of a [`FakeNet`].
#[derive(Debug, Clone)]
pub struct FakeNetConfig {
    /// Fake side's address: the sandbox's gateway. Default 10.13.37.1.
    pub fake_addr: Ipv4Addr,
    /// Sandbox side's address. Default 10.13.37.2.
    pub sandbox_addr: Ipv4Addr,
    /// Prefix length of both (both must be in one network). Default 24.
    pub prefix_len: u8,
    /// IPv6 addressing (`None`: IPv4 only, the sandbox has no IPv6 route). Default
    /// fd13:3713:3713::1 (fake side) and ::2 (sandbox), in a /64.
    pub ipv6: Option<Ipv6Config>,
    /// Address given for every A query. Default: `fake_addr`.
    pub sinkhole_v4: Ipv4Addr,
    /// Address given for every AAAA query (`None`: empty answer). Default: the IPv6
    /// fake address.
    pub sinkhole_v6: Option<Ipv6Addr>,
    /// Answer every DNS query with NXDOMAIN instead. Default false.
    pub dns_nxdomain: bool,
    /// Files served over HTTP, by request path (e.g. `/stage2`), whatever the host.
    pub http_files: HashMap<String, Arc<[u8]>>,
    /// Where to write the pcap (`None`: no file; UDP is still logged). Default none.
    pub capture_path: Option<PathBuf>,
    /// Largest pcap file, headers included. Default 100 MB.
    pub capture_max_bytes: u64,
    /// Most records kept per list of the [`FakeNetLog`]. Default 100,000.
    pub max_records: usize,
    /// Most TCP sessions served at once (more are accepted and closed). Default 256.
    pub max_connections: usize,
    /// A session idle this long is closed. Default 30 s.
    pub idle_timeout: Duration,
    /// A session is closed after this long in any case. Default 300 s.
    pub session_limit: Duration,
    /// Name of the sandbox's interface. Default `eth0`.
    pub sandbox_ifname: String,
    /// Take TCP connections to every port through the `sk_lookup` catch-all.
    /// Default true. When false, or when the kernel refuses the BPF program, the
    /// fake net listens on [`tcp_ports`](Self::tcp_ports) only and says so in
    /// [`FakeNet::tcp_mode`].
    pub tcp_catch_all: bool,
    /// Ports listened on without the catch-all. Default: common malware ports
    /// (FTP, SSH, telnet, SMTP, DNS, HTTP(S) and alternates, IRC, TR-069, ...).
    pub tcp_ports: Vec<u16>,
}

/// How TCP connections reach the responders.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TcpMode {
    /// Every port of every address (the `sk_lookup` catch-all).
    CatchAll,
    /// Only these ports (of every address): the catch-all was turned off or is
    /// unavailable, for the reason given.
    Ports {
        /// Ports listened on.
        ports: Vec<u16>,
        /// Why the catch-all is not in use.
        reason: String,
    },
}

impl Default for FakeNetConfig {
    fn default() -> Self {
        let v6 = Ipv6Config {
            fake_addr: Ipv6Addr::new(0xfd13, 0x3713, 0x3713, 0, 0, 0, 0, 1),
            sandbox_addr: Ipv6Addr::new(0xfd13, 0x3713, 0x3713, 0, 0, 0, 0, 2),
            prefix_len: 64,
        };
        FakeNetConfig {
            fake_addr: Ipv4Addr::new(10, 13, 37, 1),
            sandbox_addr: Ipv4Addr::new(10, 13, 37, 2),
            prefix_len: 24,
            ipv6: Some(v6),
            sinkhole_v4: Ipv4Addr::new(10, 13, 37, 1),
            sinkhole_v6: Some(v6.fake_addr),
            dns_nxdomain: false,
            http_files: HashMap::new(),
            capture_path: None,
            capture_max_bytes: 100_000_000,
            max_records: 100_000,
            max_connections: 256,
            idle_timeout: Duration::from_secs(30),
            session_limit: Duration::from_secs(300),
            sandbox_ifname: "eth0".to_owned(),
            tcp_catch_all: true,
            tcp_ports: vec![
                21, 22, 23, 25, 53, 80, 81, 110, 143, 443, 445, 1883, 2323, 5555, 6667, 6697, 7547,
                8000, 8080, 8081, 8443, 8888, 37215, 52869,
            ],
        }
    }
}

impl FakeNetConfig {
    /// Writes the capture to `path`.
    pub fn capture_to(mut self, path: impl Into<PathBuf>) -> Self {
        self.capture_path = Some(path.into());
        self
    }

    /// Serves `data` for HTTP requests of `path` (e.g. `/stage2`).
    pub fn serve(mut self, path: impl Into<String>, data: impl Into<Arc<[u8]>>) -> Self {
        self.http_files.insert(path.into(), data.into());
        self
    }

    fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::InvalidConfig(m));
        if !(1..=30).contains(&self.prefix_len) {
            return bad(format!(
                "prefix_len {} is not within 1..=30",
                self.prefix_len
            ));
        }
        if self.fake_addr == self.sandbox_addr {
            return bad(format!(
                "fake_addr and sandbox_addr are both {}",
                self.fake_addr
            ));
        }
        if !in_net(
            self.sandbox_addr.into(),
            self.fake_addr.into(),
            self.prefix_len,
        ) {
            return bad(format!(
                "sandbox_addr {} is not in {}/{}",
                self.sandbox_addr, self.fake_addr, self.prefix_len
            ));
        }
        for a in [self.fake_addr, self.sandbox_addr] {
            if a.is_unspecified() || a.is_loopback() || a.is_multicast() || a.is_broadcast() {
                return bad(format!("{a} cannot be an interface address"));
            }
        }
        if let Some(v6) = &self.ipv6 {
            if !(8..=126).contains(&v6.prefix_len) || v6.fake_addr == v6.sandbox_addr {
                return bad(format!(
                    "IPv6 addresses {} and {} /{} are not usable",
                    v6.fake_addr, v6.sandbox_addr, v6.prefix_len
                ));
            }
            if !in_net(v6.sandbox_addr.into(), v6.fake_addr.into(), v6.prefix_len) {
                return bad(format!(
                    "IPv6 sandbox address {} is not in {}/{}",
                    v6.sandbox_addr, v6.fake_addr, v6.prefix_len
                ));
            }
        }
        let name = &self.sandbox_ifname;
        if name.is_empty()
            || name.len() > 15
            || name == "lo"
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            return bad(format!("interface name {name:?} is not usable"));
        }
        if self.capture_max_bytes < 24 {
            return bad("capture_max_bytes is smaller than a pcap header".to_owned());
        }
        if self.max_connections == 0 {
            return bad("max_connections is 0".to_owned());
        }
        if self.idle_timeout.is_zero() || self.session_limit.is_zero() {
            return bad("idle_timeout and session_limit must be positive".to_owned());
        }
        for p in self.http_files.keys() {
            if !p.starts_with('/') {
                return bad(format!("HTTP file path {p:?} does not start with '/'"));
            }
        }
        Ok(())
    }
}

/// What a [`FakeNet`] recorded, returned by [`FakeNet::teardown`].
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct FakeNetOutcome {
    /// Every interaction.
    pub log: FakeNetLog,
    /// The capture's figures.
    pub capture: CaptureStats,
}

/// Name of the veth end on the fake side (inside its own namespace).
const FAKE_IFNAME: &str = "fake0";

/// A running fake internet. See the crate docs.
#[derive(Debug)]
pub struct FakeNet {
    cfg: FakeNetConfig,
    /// Both `None` after teardown.
    fake_ns: Option<OwnedFd>,
    /// The namespace created for the sandbox side; it holds the veth end until
    /// [`FakeNet::attach_fd`] moves it.
    own_sandbox_ns: Option<OwnedFd>,
    /// Inodes of the two namespaces (fake, sandbox side).
    inodes: (u64, u64),
    /// Where the sandbox end is now, if moved.
    attached: Option<OwnedFd>,
    fake_ifindex: u32,
    shared: Arc<respond::Shared>,
    responders: Vec<JoinHandle<()>>,
    capture: Option<JoinHandle<CaptureStats>>,
    capture_stop: Arc<AtomicBool>,
    catchall: Option<catchall::CatchAll>,
    tcp_mode: TcpMode,
    outcome: Option<FakeNetOutcome>,
}

/// Sockets made inside the fake namespace.
struct FakeSockets {
    ifindex: u32,
    listener: TcpListener,
    dns: UdpSocket,
    capture: OwnedFd,
}

impl FakeNet {
    /// Creates both namespaces and the veth pair, configures them, starts the
    /// responders and the capture.
    pub fn new(cfg: FakeNetConfig) -> Result<FakeNet> {
        cfg.validate()?;
        let fake_ns = ns::create().map_err(Error::io("creating the fake-internet namespace"))?;
        let own_sandbox_ns =
            ns::create().map_err(Error::io("creating the sandbox-side namespace"))?;
        let sb_ns = own_sandbox_ns.as_fd();
        let c = &cfg;
        let socks = ns::run_in(fake_ns.as_fd(), move || {
            let mut nl = netlink::Netlink::open()?;
            nl.add_veth(FAKE_IFNAME, &c.sandbox_ifname, sb_ns)?;
            let lo = sys::if_index("lo")?;
            let idx = sys::if_index(FAKE_IFNAME)?;
            nl.link_up(lo)?;
            // The fake side's own addresses are host addresses (/32, /128) with a
            // route to the sandbox's address only: a connected route for the whole
            // prefix would beat the local catch-all (longest prefix wins) and make the
            // rest of the prefix unreachable from the sandbox.
            nl.add_addr(idx, c.fake_addr.into(), 32)?;
            if let Some(v6) = &c.ipv6 {
                nl.add_addr(idx, v6.fake_addr.into(), 128)?;
            }
            nl.link_up(idx)?;
            nl.add_route(idx, c.sandbox_addr.into(), 32, None)?;
            if let Some(v6) = &c.ipv6 {
                nl.add_route(idx, v6.sandbox_addr.into(), 128, None)?;
            }
            nl.add_local_catch_all(lo, false)?;
            if c.ipv6.is_some() {
                nl.add_local_catch_all(lo, true)?;
            }
            // A dual-stack listener takes IPv4 too; fall back to IPv4 only when the
            // kernel has no IPv6.
            let listener = TcpListener::bind("[::]:0")
                .or_else(|_| TcpListener::bind("0.0.0.0:0"))
                .map_err(|e| {
                    io::Error::new(e.kind(), format!("binding the catch-all listener: {e}"))
                })?;
            // One dual-stack socket answers DNS over both families; packet info
            // gives each query's destination, the reply's source.
            let dns = match UdpSocket::bind("[::]:53") {
                Ok(s) => {
                    sys::setsockopt_int(s.as_fd(), libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO, 1)?;
                    // IPv6 lets a reply's source be an address the namespace only
                    // owns through the catch-all route only with non-local binding.
                    sys::setsockopt_int(s.as_fd(), libc::IPPROTO_IP, libc::IP_FREEBIND, 1)?;
                    s
                }
                Err(_) => {
                    let s = UdpSocket::bind("0.0.0.0:53").map_err(|e| {
                        io::Error::new(e.kind(), format!("binding UDP port 53: {e}"))
                    })?;
                    sys::setsockopt_int(s.as_fd(), libc::IPPROTO_IP, libc::IP_PKTINFO, 1)?;
                    s
                }
            };
            let capture = sys::packet_socket(idx)?;
            // Room for bursts (a scan): 8 MiB, beyond rmem_max where allowed.
            let want = 8 << 20;
            if sys::setsockopt_int(
                capture.as_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUFFORCE,
                want,
            )
            .is_err()
            {
                sys::setsockopt_int(capture.as_fd(), libc::SOL_SOCKET, libc::SO_RCVBUF, want)?;
            }
            Ok(FakeSockets {
                ifindex: idx,
                listener,
                dns,
                capture,
            })
        })
        .map_err(Error::io("setting up the fake-internet side"))?;
        ns::run_in(sb_ns, || configure_sandbox_side(c))
            .map_err(Error::io("setting up the sandbox side"))?;
        let attached = if cfg.tcp_catch_all {
            catchall::attach(fake_ns.as_fd(), &socks.listener).map_err(|e| e.to_string())
        } else {
            Err("turned off in the configuration".to_owned())
        };
        let (catchall, tcp_mode, listeners) = match attached {
            Ok(c) => (Some(c), TcpMode::CatchAll, vec![socks.listener]),
            Err(reason) => {
                let ports = cfg.tcp_ports.clone();
                let listeners = ns::run_in(fake_ns.as_fd(), || {
                    ports
                        .iter()
                        .map(|&p| {
                            TcpListener::bind(("::", p))
                                .or_else(|_| TcpListener::bind(("0.0.0.0", p)))
                                .map_err(|e| {
                                    io::Error::new(e.kind(), format!("binding TCP port {p}: {e}"))
                                })
                        })
                        .collect::<io::Result<Vec<_>>>()
                })
                .map_err(Error::io("listening on the fixed TCP ports"))?;
                (
                    None,
                    TcpMode::Ports {
                        ports: cfg.tcp_ports.clone(),
                        reason,
                    },
                    listeners,
                )
            }
        };

        let shared = Arc::new(respond::Shared::new(respond::Settings {
            policy: dns::Policy {
                sinkhole_v4: cfg.sinkhole_v4,
                sinkhole_v6: cfg.sinkhole_v6,
                nxdomain: cfg.dns_nxdomain,
            },
            http_files: cfg.http_files.clone(),
            max_records: cfg.max_records,
            max_connections: cfg.max_connections,
            idle_timeout: cfg.idle_timeout,
            session_limit: cfg.session_limit,
        }));
        let capture_stop = Arc::new(AtomicBool::new(false));
        let inodes = (
            ns::inode(fake_ns.as_fd()).map_err(Error::io("inspecting the fake namespace"))?,
            ns::inode(own_sandbox_ns.as_fd())
                .map_err(Error::io("inspecting the sandbox-side namespace"))?,
        );
        let mut net = FakeNet {
            fake_ifindex: socks.ifindex,
            cfg,
            fake_ns: Some(fake_ns),
            own_sandbox_ns: Some(own_sandbox_ns),
            inodes,
            attached: None,
            shared: Arc::clone(&shared),
            responders: Vec::new(),
            capture: None,
            capture_stop: Arc::clone(&capture_stop),
            catchall,
            tcp_mode,
            outcome: None,
        };
        let spawn = |name: &str, f: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new()
                .name(name.to_owned())
                .spawn(f)
                .map_err(Error::io(format!("starting the {name} thread")))
        };
        // From here on, an error drops `net`, whose teardown stops what started.
        let (path, max) = (net.cfg.capture_path.clone(), net.cfg.capture_max_bytes);
        let sh = Arc::clone(&shared);
        let cap_sock = socks.capture;
        net.capture = Some(
            std::thread::Builder::new()
                .name("fakenet-capture".into())
                .spawn(move || capture::run(cap_sock, path, max, sh, capture_stop))
                .map_err(Error::io("starting the capture thread"))?,
        );
        for listener in listeners {
            let sh = Arc::clone(&shared);
            net.responders.push(spawn(
                "fakenet-tcp",
                Box::new(move || respond::accept_loop(listener, sh)),
            )?);
        }
        let sh = Arc::clone(&shared);
        let dns_sock = socks.dns;
        net.responders.push(spawn(
            "fakenet-dns",
            Box::new(move || respond::dns_udp_loop(dns_sock, sh)),
        )?);
        Ok(net)
    }

    /// Moves the sandbox end of the veth into the network namespace of process
    /// `pid` (e.g. `Spawned::pid_map().init_host_pid()`) and configures it there.
    pub fn attach_pid(&mut self, pid: i32) -> Result<()> {
        if self.outcome.is_some() {
            return Err(Error::State("attach after teardown".into()));
        }
        let fd = ns::of_pid(pid).map_err(Error::io(format!(
            "opening the network namespace of process {pid}"
        )))?;
        self.attach_owned(fd)
    }

    /// Like [`attach_pid`](Self::attach_pid), for a namespace descriptor (the
    /// descriptor is duplicated; the caller keeps its own).
    pub fn attach_fd(&mut self, netns: BorrowedFd<'_>) -> Result<()> {
        let fd = netns
            .try_clone_to_owned()
            .map_err(Error::io("duplicating the namespace descriptor"))?;
        self.attach_owned(fd)
    }

    fn attach_owned(&mut self, target: OwnedFd) -> Result<()> {
        let (Some(own), Some(_)) = (&self.own_sandbox_ns, &self.fake_ns) else {
            return Err(Error::State("attach after teardown".into()));
        };
        let target_ino =
            ns::inode(target.as_fd()).map_err(Error::io("inspecting the target namespace"))?;
        let current = self.attached.as_ref().unwrap_or(own);
        let current_ino =
            ns::inode(current.as_fd()).map_err(Error::io("inspecting the sandbox namespace"))?;
        if target_ino == current_ino {
            return Ok(());
        }
        let fake_ino = self.inodes.0;
        let host_ino = std::fs::metadata("/proc/self/ns/net")
            .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
            .map_err(Error::io("inspecting the host namespace"))?;
        if target_ino == fake_ino || target_ino == host_ino {
            return Err(Error::InvalidConfig(
                "the sandbox end cannot move into the fake-internet or the host namespace".into(),
            ));
        }
        let name = self.cfg.sandbox_ifname.clone();
        let t = target.as_fd();
        ns::run_in(current.as_fd(), || {
            let idx = sys::if_index(&name)?;
            netlink::Netlink::open()?.move_link(idx, t)
        })
        .map_err(Error::io("moving the sandbox end of the veth"))?;
        let c = &self.cfg;
        ns::run_in(t, || configure_sandbox_side(c)).map_err(Error::io(
            "configuring the sandbox end in the target namespace",
        ))?;
        self.attached = Some(target);
        Ok(())
    }

    /// A path naming the prepared sandbox-side namespace, for
    /// `ferret_sandbox::Network::Join` (valid until teardown, and only for this
    /// process). `None` after teardown.
    pub fn sandbox_netns_path(&self) -> Option<PathBuf> {
        self.own_sandbox_ns.as_ref().map(|fd| {
            PathBuf::from(format!(
                "/proc/{}/fd/{}",
                std::process::id(),
                std::os::fd::AsRawFd::as_raw_fd(fd)
            ))
        })
    }

    /// The fake-internet namespace (e.g. to run more servers in it); `None` after
    /// teardown.
    pub fn fake_netns(&self) -> Option<BorrowedFd<'_>> {
        self.fake_ns.as_ref().map(AsFd::as_fd)
    }

    /// Inodes (as in `/proc/PID/ns/net`) of the fake-internet namespace and of the
    /// namespace created for the sandbox side.
    pub fn netns_inodes(&self) -> (u64, u64) {
        self.inodes
    }

    /// How TCP connections reach the responders (check it: without the catch-all
    /// only [`FakeNetConfig::tcp_ports`] answer).
    pub fn tcp_mode(&self) -> &TcpMode {
        &self.tcp_mode
    }

    /// The configuration in use.
    pub fn config(&self) -> &FakeNetConfig {
        &self.cfg
    }

    /// The networks of the fake net (IPv4, and IPv6 when configured), as
    /// (address, prefix) pairs: what a [`HostWatch`] should watch for.
    pub fn networks(&self) -> Vec<(IpAddr, u8)> {
        let mut v = vec![(IpAddr::V4(self.cfg.fake_addr), self.cfg.prefix_len)];
        if let Some(v6) = &self.cfg.ipv6 {
            v.push((IpAddr::V6(v6.fake_addr), v6.prefix_len));
        }
        v
    }

    /// A copy of the log so far.
    pub fn log(&self) -> FakeNetLog {
        self.shared.log().clone()
    }

    /// Stops everything and removes the veth pair and both namespaces; returns the
    /// log and capture figures. Calling it again returns the same outcome.
    pub fn teardown(&mut self) -> Result<FakeNetOutcome> {
        if let Some(o) = &self.outcome {
            return Ok(o.clone());
        }
        self.shared.stop.store(true, Ordering::Relaxed);
        for t in self.responders.drain(..) {
            let _ = t.join();
        }
        // Session threads see the stop flag within one poll interval.
        let until = Instant::now() + Duration::from_secs(5);
        while self.shared.active() > 0 && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.capture_stop.store(true, Ordering::Relaxed);
        let capture = self
            .capture
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default();
        self.catchall = None;
        // Deleting one end deletes the pair, wherever the other end is. The pair is
        // already gone if the sandbox's namespace died first.
        let idx = self.fake_ifindex;
        let deleted = match &self.fake_ns {
            Some(fake) => ns::run_in(fake.as_fd(), || {
                netlink::Netlink::open()?.del_link(idx).map(drop)
            }),
            None => Ok(()),
        };
        // Closing the last descriptors lets the kernel free both namespaces.
        self.attached = None;
        self.fake_ns = None;
        self.own_sandbox_ns = None;
        let outcome = FakeNetOutcome {
            log: self.shared.log().clone(),
            capture,
        };
        self.outcome = Some(outcome.clone());
        deleted.map_err(Error::io("deleting the veth pair"))?;
        Ok(outcome)
    }

    /// Where the capture goes, if anywhere.
    pub fn capture_path(&self) -> Option<&Path> {
        self.cfg.capture_path.as_deref()
    }
}

impl Drop for FakeNet {
    fn drop(&mut self) {
        let _ = self.teardown();
    }
}

/// Configures the sandbox end in the calling thread's namespace: loopback and the
/// interface up, addresses, default routes via the fake side.
fn configure_sandbox_side(c: &FakeNetConfig) -> io::Result<()> {
    let mut nl = netlink::Netlink::open()?;
    let lo = sys::if_index("lo")?;
    let idx = sys::if_index(&c.sandbox_ifname)?;
    nl.link_up(lo)?;
    nl.add_addr(idx, c.sandbox_addr.into(), c.prefix_len)?;
    // IPv6 neighbour discovery answers only for configured addresses (a local
    // route is not enough, unlike ARP), so the sandbox gets its IPv6 address as a
    // /128 and reaches every other address, the fake net's prefix included, via the
    // gateway.
    if let Some(v6) = &c.ipv6 {
        nl.add_addr(idx, v6.sandbox_addr.into(), 128)?;
    }
    nl.link_up(idx)?;
    nl.add_route(
        idx,
        Ipv4Addr::UNSPECIFIED.into(),
        0,
        Some(c.fake_addr.into()),
    )?;
    if let Some(v6) = &c.ipv6 {
        nl.add_route(idx, v6.fake_addr.into(), 128, None)?;
        nl.add_route(
            idx,
            Ipv6Addr::UNSPECIFIED.into(),
            0,
            Some(v6.fake_addr.into()),
        )?;
    }
    Ok(())
}
