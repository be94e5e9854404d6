//! Packet capture: an AF_PACKET socket on the fake side's veth end sees every frame
//! the sample sends and receives; frames go to a pcap file of bounded size (the cut
//! is counted, never silent), and UDP datagrams from the sample are logged.
//! [`HostWatch`] uses the same mechanism on the host's own interfaces to prove that
//! nothing of the fake net reaches them.

use std::fs::File;
use std::io::{self, BufWriter};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ferret_pcap::write::PcapWriter;

use crate::log::UdpDatagram;
use crate::respond::Shared;
use crate::sys;

/// What the capture wrote and what it had to leave out.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CaptureStats {
    /// The pcap file (`None`: capture only fed the UDP log).
    pub path: Option<PathBuf>,
    /// Frames received from the interface.
    pub packets_seen: u64,
    /// Frames written to the pcap.
    pub packets_written: u64,
    /// Size of the pcap file, headers included.
    pub file_bytes: u64,
    /// Frames left out because the size limit was reached.
    pub packets_cut: u64,
    /// Bytes (frame lengths) of those frames.
    pub bytes_cut: u64,
    /// Frames the kernel dropped because the capture fell behind.
    pub kernel_drops: u64,
    /// Writing failed (disk full, ...): the pcap ends at the failure.
    pub write_error: Option<String>,
}

const PACKET_OUTGOING: u8 = 4;
const PCAP_HEADER: u64 = 24;
const RECORD_HEADER: u64 = 16;
/// Frames larger than this (GSO super-frames) are cut to it in the pcap.
const FRAME_BUF: usize = 256 * 1024;

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Runs the capture until `stop`, then drains what is queued and returns.
pub(crate) fn run(
    sock: OwnedFd,
    path: Option<PathBuf>,
    max_bytes: u64,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
) -> CaptureStats {
    let mut stats = CaptureStats {
        path: path.clone(),
        ..CaptureStats::default()
    };
    let mut writer = None;
    if let Some(p) = &path {
        match File::create(p)
            .and_then(|f| PcapWriter::new(BufWriter::with_capacity(1 << 16, f), 1, false))
        {
            Ok(w) => {
                writer = Some(w);
                stats.file_bytes = PCAP_HEADER;
            }
            Err(e) => stats.write_error = Some(format!("creating {}: {e}", p.display())),
        }
    }
    // The stop flag is checked when a wait times out, i.e. once the link is quiet.
    let _ = sys::set_recv_timeout(sock.as_fd(), crate::respond::POLL);
    let mut buf = vec![0u8; FRAME_BUF];
    loop {
        match sys::recv_frame(sock.as_fd(), &mut buf) {
            Ok((cap, orig, _ifindex, pkttype)) => {
                stats.packets_seen += 1;
                let ts = now_ns();
                let frame = &buf[..cap];
                if pkttype != PACKET_OUTGOING {
                    log_udp(frame, &shared);
                }
                if let Some(w) = writer.as_mut() {
                    let rec = RECORD_HEADER + cap as u64;
                    if stats.file_bytes + rec > max_bytes {
                        stats.packets_cut += 1;
                        stats.bytes_cut += orig as u64;
                    } else if let Err(e) = w.packet(ts, frame) {
                        stats.write_error = Some(e.to_string());
                        writer = None;
                    } else {
                        stats.packets_written += 1;
                        stats.file_bytes += rec;
                    }
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) =>
            {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    if let Ok((_, drops)) = sys::packet_stats(sock.as_fd()) {
        stats.kernel_drops = u64::from(drops);
    }
    if let Some(w) = writer
        && let Err(e) = w.into_inner()
    {
        stats.write_error = Some(e.to_string());
    }
    stats
}

/// Logs a UDP datagram found in an Ethernet frame.
fn log_udp(frame: &[u8], shared: &Shared) {
    let Some((src, dst, len)) = udp_of(frame) else {
        return;
    };
    shared.record(
        |l| &mut l.udp,
        UdpDatagram {
            at: shared.start.elapsed(),
            src,
            dst,
            bytes: len,
        },
    );
}

/// Source, destination and payload length of a UDP datagram in an Ethernet frame
/// (unfragmented or first fragment).
fn udp_of(frame: &[u8]) -> Option<(SocketAddr, SocketAddr, u64)> {
    let ethertype = u16::from_be_bytes([*frame.get(12)?, *frame.get(13)?]);
    let ip = frame.get(14..)?;
    let (src, dst, l4): (IpAddr, IpAddr, &[u8]) = match ethertype {
        0x0800 => {
            let ihl = usize::from(ip.first()? & 0x0f) * 4;
            let frag = u16::from_be_bytes([*ip.get(6)?, *ip.get(7)?]) & 0x1fff;
            if *ip.get(9)? != 17 || frag != 0 || ihl < 20 {
                return None;
            }
            let s: [u8; 4] = ip.get(12..16)?.try_into().ok()?;
            let d: [u8; 4] = ip.get(16..20)?.try_into().ok()?;
            (
                Ipv4Addr::from(s).into(),
                Ipv4Addr::from(d).into(),
                ip.get(ihl..)?,
            )
        }
        0x86dd => {
            if *ip.get(6)? != 17 {
                return None;
            }
            let s: [u8; 16] = ip.get(8..24)?.try_into().ok()?;
            let d: [u8; 16] = ip.get(24..40)?.try_into().ok()?;
            (
                Ipv6Addr::from(s).into(),
                Ipv6Addr::from(d).into(),
                ip.get(40..)?,
            )
        }
        _ => return None,
    };
    let sport = u16::from_be_bytes([*l4.first()?, *l4.get(1)?]);
    let dport = u16::from_be_bytes([*l4.get(2)?, *l4.get(3)?]);
    let len = u16::from_be_bytes([*l4.get(4)?, *l4.get(5)?]);
    Some((
        SocketAddr::new(src, sport),
        SocketAddr::new(dst, dport),
        u64::from(len.saturating_sub(8)),
    ))
}

/// Addresses of a frame's IP header, if it has one.
fn ip_addrs(frame: &[u8]) -> Option<(IpAddr, IpAddr)> {
    let ethertype = u16::from_be_bytes([*frame.get(12)?, *frame.get(13)?]);
    let ip = frame.get(14..)?;
    match ethertype {
        0x0800 => {
            let s: [u8; 4] = ip.get(12..16)?.try_into().ok()?;
            let d: [u8; 4] = ip.get(16..20)?.try_into().ok()?;
            Some((Ipv4Addr::from(s).into(), Ipv4Addr::from(d).into()))
        }
        0x86dd => {
            let s: [u8; 16] = ip.get(8..24)?.try_into().ok()?;
            let d: [u8; 16] = ip.get(24..40)?.try_into().ok()?;
            Some((Ipv6Addr::from(s).into(), Ipv6Addr::from(d).into()))
        }
        _ => None,
    }
}

/// Whether `a` lies in `net/prefix`.
pub fn in_net(a: IpAddr, net: IpAddr, prefix: u8) -> bool {
    match (a, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let p = u32::from(prefix.min(32));
            let mask = if p == 0 { 0 } else { u32::MAX << (32 - p) };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let p = u32::from(prefix.min(128));
            let mask = if p == 0 { 0 } else { u128::MAX << (128 - p) };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// What a [`HostWatch`] saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostWatchReport {
    /// Frames seen on the namespace's interfaces other than loopback (traffic of
    /// anything running on the machine).
    pub frames: u64,
    /// Of those, frames with a source or destination in a watched network.
    pub matching: u64,
    /// Up to 20 of the matching frames, as `src -> dst`.
    pub examples: Vec<String>,
}

/// Watches every interface of the caller's network namespace (normally the host's)
/// except loopback, counting frames whose IP source or destination lies in one of
/// the watched networks. A frame of the fake net on a host interface would be a
/// leak; other traffic of the machine does not count, so the check holds on a busy
/// machine.
#[derive(Debug)]
pub struct HostWatch {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<HostWatchReport>>,
    seen: Arc<AtomicU64>,
}

impl HostWatch {
    /// Starts watching for the networks `nets` (address, prefix length), on every
    /// interface but loopback unless `include_loopback` (meant for a self-test of
    /// the watch with loopback traffic).
    pub fn start(nets: Vec<(IpAddr, u8)>, include_loopback: bool) -> io::Result<HostWatch> {
        let sock = sys::packet_socket(0)?;
        let lo = if include_loopback {
            -1
        } else {
            sys::if_index("lo").unwrap_or(1) as i32
        };
        sys::set_recv_timeout(sock.as_fd(), Duration::from_millis(50))?;
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(AtomicU64::new(0));
        let (st, sn) = (Arc::clone(&stop), Arc::clone(&seen));
        let thread = std::thread::Builder::new()
            .name("fakenet-hostwatch".into())
            .spawn(move || {
                let mut buf = vec![0u8; FRAME_BUF];
                let mut r = HostWatchReport::default();
                loop {
                    match sys::recv_frame(sock.as_fd(), &mut buf) {
                        Ok((cap, _, ifindex, _)) => {
                            if ifindex == lo {
                                continue;
                            }
                            r.frames += 1;
                            sn.fetch_add(1, Ordering::Relaxed);
                            let Some((s, d)) = ip_addrs(&buf[..cap]) else {
                                continue;
                            };
                            if nets
                                .iter()
                                .any(|&(n, p)| in_net(s, n, p) || in_net(d, n, p))
                            {
                                r.matching += 1;
                                if r.examples.len() < 20 {
                                    r.examples.push(format!("{s} -> {d}"));
                                }
                            }
                        }
                        Err(_) if st.load(Ordering::Relaxed) => break,
                        Err(_) => {}
                    }
                }
                r
            })?;
        Ok(HostWatch {
            stop,
            thread: Some(thread),
            seen,
        })
    }

    /// Frames seen so far on non-loopback interfaces.
    pub fn frames_so_far(&self) -> u64 {
        self.seen.load(Ordering::Relaxed)
    }

    /// Stops watching (after draining queued frames) and returns the report.
    pub fn stop(mut self) -> HostWatchReport {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for HostWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_and_udp_parsing() {
        let n: IpAddr = "10.13.37.0".parse().unwrap();
        assert!(in_net("10.13.37.200".parse().unwrap(), n, 24));
        assert!(!in_net("10.13.38.1".parse().unwrap(), n, 24));
        assert!(in_net("1.2.3.4".parse().unwrap(), n, 0));
        let mut f = Vec::new();
        assert!(ferret_pcap::write::build_frame(
            &mut f,
            "10.13.37.2".parse().unwrap(),
            5000,
            "8.8.8.8".parse().unwrap(),
            53,
            ferret_pcap::write::Transport::Udp,
            b"hello",
        ));
        let (s, d, len) = udp_of(&f).unwrap();
        assert_eq!(s.to_string(), "10.13.37.2:5000");
        assert_eq!(d.to_string(), "8.8.8.8:53");
        assert_eq!(len, 5);
        assert!(udp_of(&f[..20]).is_none());
        assert!(udp_of(&[]).is_none());
    }
}
