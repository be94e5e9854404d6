//! Benchmark capture generator: writes a pcap of mixed DNS, HTTP, other TCP and
//! UDP flows until it reaches the requested size.
//!
//! Usage: `pcapgen OUTPUT [SIZE_MB] [SEED]` (default 1100 MB, seed 1).

use std::fs::File;
use std::io::BufWriter;
use std::net::{IpAddr, Ipv4Addr};
use std::process::ExitCode;

use ferret_pcap::write::{PcapWriter, Transport, build_frame};

const MSS: usize = 1448;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

struct Gen {
    w: PcapWriter<BufWriter<File>>,
    rng: Rng,
    ts: u64,
    frame: Vec<u8>,
    written: u64,
    packets: u64,
    filler: Vec<u8>,
}

impl Gen {
    fn emit(
        &mut self,
        src: (IpAddr, u16),
        dst: (IpAddr, u16),
        t: Transport,
        payload: &[u8],
    ) -> std::io::Result<()> {
        self.frame.clear();
        build_frame(&mut self.frame, src.0, src.1, dst.0, dst.1, t, payload);
        self.ts += self.rng.range(1_000, 200_000);
        self.w.packet(self.ts, &self.frame)?;
        self.written += 16 + self.frame.len() as u64;
        self.packets += 1;
        Ok(())
    }

    fn name(&mut self) -> String {
        const WORDS: &[&str] = &[
            "mail", "cdn", "api", "www", "update", "img", "static", "auth", "files", "news",
        ];
        const TLDS: &[&str] = &["com", "net", "org", "io", "de"];
        let w = WORDS[(self.rng.next() % WORDS.len() as u64) as usize];
        let t = TLDS[(self.rng.next() % TLDS.len() as u64) as usize];
        format!("{w}.host{}.{t}", self.rng.range(0, 5000))
    }

    fn client(&mut self) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(
            10,
            1,
            self.rng.range(0, 255) as u8,
            self.rng.range(1, 254) as u8,
        ))
    }

    fn server(&mut self) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(
            self.rng.range(11, 223) as u8,
            self.rng.range(0, 255) as u8,
            self.rng.range(0, 255) as u8,
            self.rng.range(1, 254) as u8,
        ))
    }

    fn dns(&mut self) -> std::io::Result<()> {
        let c = (self.client(), self.rng.range(1024, 65535) as u16);
        let s = (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 53);
        let name = self.name();
        let id = self.rng.next() as u16;
        let mut q = id.to_be_bytes().to_vec();
        q.extend_from_slice(&[1, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
        for l in name.split('.') {
            q.push(l.len() as u8);
            q.extend_from_slice(l.as_bytes());
        }
        q.extend_from_slice(&[0, 0, 1, 0, 1]);
        self.emit(c, s, Transport::Udp, &q)?;
        let mut r = q.clone();
        r[2] = 0x81;
        r[3] = 0x80;
        r[7] = 1;
        r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 1, 0x2c, 0, 4]);
        r.extend_from_slice(&[93, self.rng.next() as u8, self.rng.next() as u8, 7]);
        self.emit(s, c, Transport::Udp, &r)
    }

    /// A TCP connection: handshake, client data, server data, FIN exchange.
    fn tcp(&mut self, server_port: u16, request: &[u8], response: &[u8]) -> std::io::Result<()> {
        let c = (self.client(), self.rng.range(1024, 65535) as u16);
        let s = (self.server(), server_port);
        let (mut cs, mut ss) = (self.rng.next() as u32, self.rng.next() as u32);
        let t = |seq, ack, flags| Transport::Tcp { seq, ack, flags };
        self.emit(c, s, t(cs, 0, 0x02), b"")?;
        self.emit(s, c, t(ss, cs.wrapping_add(1), 0x12), b"")?;
        cs = cs.wrapping_add(1);
        ss = ss.wrapping_add(1);
        self.emit(c, s, t(cs, ss, 0x10), b"")?;
        for chunk in request.chunks(MSS) {
            self.emit(c, s, t(cs, ss, 0x18), chunk)?;
            cs = cs.wrapping_add(chunk.len() as u32);
        }
        for (i, chunk) in response.chunks(MSS).enumerate() {
            self.emit(s, c, t(ss, cs, 0x18), chunk)?;
            ss = ss.wrapping_add(chunk.len() as u32);
            if i % 2 == 1 {
                self.emit(c, s, t(cs, ss, 0x10), b"")?;
            }
        }
        self.emit(c, s, t(cs, ss, 0x11), b"")?;
        self.emit(s, c, t(ss, cs.wrapping_add(1), 0x11), b"")?;
        self.emit(c, s, t(cs.wrapping_add(1), ss.wrapping_add(1), 0x10), b"")
    }

    fn http(&mut self) -> std::io::Result<()> {
        let host = self.name();
        let path = format!(
            "/files/{}/item{}.bin",
            self.rng.range(0, 999),
            self.rng.range(0, 99_999)
        );
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) bench/1\r\nAccept: */*\r\nConnection: close\r\n\r\n"
        );
        let body_len = self.rng.range(1_000, 40_000) as usize;
        let mut resp = format!(
            "HTTP/1.1 200 OK\r\nServer: bench\r\nContent-Type: application/octet-stream\r\nContent-Length: {body_len}\r\n\r\n"
        )
        .into_bytes();
        resp.extend_from_slice(&self.filler[..body_len]);
        self.tcp(80, req.as_bytes(), &resp)
    }

    fn other_tcp(&mut self) -> std::io::Result<()> {
        let port = [22u16, 443, 3306, 8443, 5222][(self.rng.next() % 5) as usize];
        let a = self.rng.range(100, 3_000) as usize;
        let b = self.rng.range(1_000, 20_000) as usize;
        let off = self.rng.range(0, 1000) as usize;
        let req = self.filler[off..off + a].to_vec();
        let resp = self.filler[off..off + b].to_vec();
        self.tcp(port, &req, &resp)
    }

    fn udp(&mut self) -> std::io::Result<()> {
        let c = (self.client(), self.rng.range(1024, 65535) as u16);
        let s = (
            self.server(),
            [123u16, 161, 500, 1900, 4500][(self.rng.next() % 5) as usize],
        );
        let n = self.rng.range(40, 1200) as usize;
        let payload = self.filler[..n].to_vec();
        self.emit(c, s, Transport::Udp, &payload)?;
        self.emit(s, c, Transport::Udp, &payload[..n / 2])
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let Some(out) = args.get(1) else {
        eprintln!("usage: pcapgen OUTPUT [SIZE_MB] [SEED]");
        return ExitCode::from(2);
    };
    let size_mb: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1100);
    let seed: u64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(1);
    let res = (|| -> std::io::Result<(u64, u64)> {
        let f = BufWriter::with_capacity(1 << 20, File::create(out)?);
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let filler: Vec<u8> = (0..64 * 1024).map(|_| rng.next() as u8).collect();
        let mut g = Gen {
            w: PcapWriter::new(f, 1, false)?,
            rng,
            ts: 1_700_000_000_000_000_000,
            frame: Vec::with_capacity(2048),
            written: 24,
            packets: 0,
            filler,
        };
        let target = size_mb * 1_000_000;
        while g.written < target {
            match g.rng.next() % 10 {
                0..=3 => g.dns()?,
                4..=6 => g.http()?,
                7 | 8 => g.other_tcp()?,
                _ => g.udp()?,
            }
        }
        g.w.into_inner()?;
        Ok((g.written, g.packets))
    })();
    match res {
        Ok((bytes, packets)) => {
            println!("{out}: {bytes} bytes, {packets} packets");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("pcapgen: {out}: {e}");
            ExitCode::FAILURE
        }
    }
}
