//! Load generator of `bench/api.sh`: N concurrent submissions to a running `ferret
//! serve`, a check through the task list that each was accepted exactly once, then (once
//! the workers finished them) N concurrent report retrievals. Prints throughput and
//! p50/p99 latencies.
//!
//! ```text
//! cargo run --release -p ferret-server --example api_load -- \
//!     --addr 127.0.0.1:8080 --token SECRET --file capture.pcap --kind pcap -n 200
//! ```
//!
//! Loopback only: the address must be a loopback address. One HTTP/1.1 connection per
//! request (`Connection: close`), as independent clients would do.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Opts {
    addr: SocketAddr,
    token: String,
    file: Vec<u8>,
    kind: String,
    n: usize,
    wait: Duration,
}

fn usage() -> ! {
    eprintln!(
        "usage: api_load --addr IP:PORT --token SECRET --file PATH [--kind file|pcap] [-n N] \
         [--wait-secs S]"
    );
    std::process::exit(2)
}

fn opts() -> Opts {
    let mut args = std::env::args().skip(1);
    let (mut addr, mut token, mut file, mut kind, mut n, mut wait) =
        (None, None, None, "pcap".to_owned(), 200usize, 600u64);
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--addr" => addr = val().parse::<SocketAddr>().ok(),
            "--token" => token = Some(val()),
            "--file" => file = Some(val()),
            "--kind" => kind = val(),
            "-n" => n = val().parse().unwrap_or_else(|_| usage()),
            "--wait-secs" => wait = val().parse().unwrap_or_else(|_| usage()),
            _ => usage(),
        }
    }
    let (Some(addr), Some(token), Some(file)) = (addr, token, file) else {
        usage()
    };
    if !addr.ip().is_loopback() {
        eprintln!("api_load: {addr} is not a loopback address; refusing to send load there");
        std::process::exit(2);
    }
    let file = std::fs::read(&file).unwrap_or_else(|e| {
        eprintln!("api_load: cannot read {file}: {e}");
        std::process::exit(2)
    });
    Opts {
        addr,
        token,
        file,
        kind,
        n,
        wait: Duration::from_secs(wait),
    }
}

struct Response {
    status: u16,
    body: Vec<u8>,
}

/// One request on a fresh connection; reads the response to EOF.
async fn request(addr: SocketAddr, head: &str, body: &[u8]) -> Result<Response, String> {
    let mut s = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    s.write_all(head.as_bytes())
        .await
        .map_err(|e| format!("write: {e}"))?;
    s.write_all(body).await.map_err(|e| format!("write: {e}"))?;
    let mut buf = Vec::with_capacity(4096);
    s.read_to_end(&mut buf)
        .await
        .map_err(|e| format!("read: {e}"))?;
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no end of headers")?;
    let headers = String::from_utf8_lossy(&buf[..split]).to_ascii_lowercase();
    let status = headers
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or("no status")?;
    let mut body = buf[split + 4..].to_vec();
    if headers.contains("transfer-encoding: chunked") {
        body = dechunk(&body)?;
    }
    Ok(Response { status, body })
}

fn dechunk(mut b: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let eol = b.windows(2).position(|w| w == b"\r\n").ok_or("bad chunk")?;
        let size = usize::from_str_radix(
            String::from_utf8_lossy(&b[..eol])
                .split(';')
                .next()
                .unwrap_or("")
                .trim(),
            16,
        )
        .map_err(|e| format!("bad chunk size: {e}"))?;
        b = &b[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        out.extend_from_slice(b.get(..size).ok_or("short chunk")?);
        b = b.get(size + 2..).ok_or("short chunk")?;
    }
}

fn get_head(addr: SocketAddr, token: &str, path: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn summary(what: &str, n: usize, wall: Duration, lat: &mut [Duration]) {
    lat.sort_unstable();
    println!(
        "{what}: {n} requests in {:.3} s = {:.1} req/s; latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        wall.as_secs_f64(),
        n as f64 / wall.as_secs_f64(),
        percentile(lat, 0.5).as_secs_f64() * 1e3,
        percentile(lat, 0.99).as_secs_f64() * 1e3,
        lat.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
}

#[tokio::main]
async fn main() {
    let o = Arc::new(opts());
    // A name unique to this run, so the exactly-once check counts only its tasks.
    let run = format!(
        "bench-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0)
    );

    // Phase 1: N submissions, all in flight at once.
    let start_line = Arc::new(tokio::sync::Barrier::new(o.n));
    let t0 = Instant::now();
    let mut jobs = Vec::with_capacity(o.n);
    for i in 0..o.n {
        let (o, run, barrier) = (o.clone(), run.clone(), start_line.clone());
        jobs.push(tokio::spawn(async move {
            let boundary = "ferret-bench-boundary-x7Gq2";
            let mut body = format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{run}-{i}\"\r\n\
                 Content-Type: application/octet-stream\r\n\r\n"
            )
            .into_bytes();
            body.extend_from_slice(&o.file);
            body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
            let head = format!(
                "POST /api/tasks/{} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n\
                 Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n",
                o.kind,
                o.addr,
                o.token,
                body.len()
            );
            barrier.wait().await;
            let t = Instant::now();
            let r = request(o.addr, &head, &body).await;
            (t.elapsed(), r)
        }));
    }
    let mut lat = Vec::with_capacity(o.n);
    let mut ids = Vec::with_capacity(o.n);
    let mut failures = 0;
    for j in jobs {
        match j.await {
            Ok((d, Ok(r))) if r.status == 201 => {
                lat.push(d);
                let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_default();
                match v["id"].as_i64() {
                    Some(id) => ids.push(id),
                    None => failures += 1,
                }
            }
            Ok((_, Ok(r))) => {
                failures += 1;
                eprintln!(
                    "submission refused: {} {}",
                    r.status,
                    String::from_utf8_lossy(&r.body)
                );
            }
            Ok((_, Err(e))) => {
                failures += 1;
                eprintln!("submission failed: {e}");
            }
            Err(e) => {
                failures += 1;
                eprintln!("submission task: {e}");
            }
        }
    }
    let wall = t0.elapsed();
    summary("submit", o.n, wall, &mut lat);

    // Exactly once: list every task and count this run's.
    let mut seen: HashMap<i64, usize> = HashMap::new();
    let mut offset = 0u64;
    loop {
        let path = format!("/api/tasks?limit=1000&offset={offset}");
        let r = match request(o.addr, &get_head(o.addr, &o.token, &path), b"").await {
            Ok(r) if r.status == 200 => r,
            Ok(r) => {
                eprintln!("listing: {} {}", r.status, String::from_utf8_lossy(&r.body));
                std::process::exit(1)
            }
            Err(e) => {
                eprintln!("listing: {e}");
                std::process::exit(1)
            }
        };
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_default();
        let tasks = v["tasks"].as_array().cloned().unwrap_or_default();
        for t in &tasks {
            if t["input_name"]
                .as_str()
                .is_some_and(|n| n.starts_with(&format!("{run}-")))
                && let Some(id) = t["id"].as_i64()
            {
                *seen.entry(id).or_default() += 1;
            }
        }
        offset += tasks.len() as u64;
        if tasks.is_empty() || offset >= v["total"].as_u64().unwrap_or(0) {
            break;
        }
    }
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    sorted.dedup();
    let listed_once = seen.values().all(|&c| c == 1);
    let same = seen.len() == ids.len() && ids.iter().all(|id| seen.contains_key(id));
    println!(
        "accepted {} of {} submissions ({} refused or failed); listed {} tasks of this run, \
         {} distinct ids: {}",
        ids.len(),
        o.n,
        failures,
        seen.len(),
        sorted.len(),
        if failures == 0 && same && listed_once && sorted.len() == o.n {
            "each accepted exactly once"
        } else {
            "MISMATCH"
        }
    );
    if failures != 0 || !same || !listed_once || sorted.len() != o.n {
        std::process::exit(1);
    }

    // Phase 2: wait for the workers, then N report retrievals at once.
    let deadline = Instant::now() + o.wait;
    let t_wait = Instant::now();
    loop {
        let mut pending = 0;
        let mut failed = 0;
        for chunk in ids.chunks(50) {
            let mut js = Vec::new();
            for &id in chunk {
                let o = o.clone();
                js.push(tokio::spawn(async move {
                    let path = format!("/api/tasks/{id}");
                    request(o.addr, &get_head(o.addr, &o.token, &path), b"").await
                }));
            }
            for j in js {
                let state = match j.await {
                    Ok(Ok(r)) => serde_json::from_slice::<serde_json::Value>(&r.body)
                        .ok()
                        .and_then(|v| v["state"].as_str().map(str::to_owned)),
                    _ => None,
                };
                match state.as_deref() {
                    Some("done") => {}
                    Some("failed") => failed += 1,
                    _ => pending += 1,
                }
            }
        }
        if failed > 0 {
            eprintln!("{failed} tasks failed in the workers");
            std::process::exit(1);
        }
        if pending == 0 {
            break;
        }
        if Instant::now() > deadline {
            eprintln!("{pending} tasks still not done after {:?}", o.wait);
            std::process::exit(1);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    println!(
        "all {} tasks analysed {:.1} s after the last submission",
        ids.len(),
        t_wait.elapsed().as_secs_f64()
    );
    let barrier = Arc::new(tokio::sync::Barrier::new(ids.len()));
    let t0 = Instant::now();
    let mut jobs = Vec::with_capacity(ids.len());
    for &id in &ids {
        let (o, barrier) = (o.clone(), barrier.clone());
        jobs.push(tokio::spawn(async move {
            let head = get_head(o.addr, &o.token, &format!("/api/tasks/{id}/report"));
            barrier.wait().await;
            let t = Instant::now();
            let r = request(o.addr, &head, b"").await;
            (t.elapsed(), r)
        }));
    }
    let mut lat = Vec::with_capacity(ids.len());
    let mut bad = 0;
    for j in jobs {
        match j.await {
            Ok((d, Ok(r)))
                if r.status == 200
                    && serde_json::from_slice::<serde_json::Value>(&r.body).is_ok() =>
            {
                lat.push(d)
            }
            _ => bad += 1,
        }
    }
    summary("report", ids.len(), t0.elapsed(), &mut lat);
    if bad > 0 {
        eprintln!("{bad} report retrievals failed");
        std::process::exit(1);
    }
}
