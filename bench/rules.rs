//! Rule-engine throughput: ferret's bundled rules plus all three Falco rule files, over
//! 5 million synthetic events held in memory (a pool of 250,000 distinct events replayed 20
//! times through a fresh state machine each round), on one core.
//!
//! Run: `cargo bench -p ferret-rules --bench rules` (release profile). Prints events/s.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Instant;

use ferret_event::{Event, ProcInfo, SockAddr, Value};
use ferret_rules::{Analyzer, BUNDLED_RULES, Engine, RuleSet};

const POOL: usize = 250_000;
const ROUNDS: usize = 20;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*: deterministic, fast, good enough for a workload mix.
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[(self.next() % v.len() as u64) as usize]
    }
}

/// The first nine are everyday programs; the last three are what the rules look for.
const EXES: [(&str, &str); 12] = [
    ("/usr/bin/ls", "ls"),
    ("/usr/bin/cat", "cat"),
    ("/usr/bin/python3", "python3"),
    ("/usr/sbin/nginx", "nginx"),
    ("/usr/bin/grep", "grep"),
    ("/usr/lib/postgresql/15/bin/postgres", "postgres"),
    ("/usr/bin/node", "node"),
    ("/usr/bin/sed", "sed"),
    ("/usr/bin/git", "git"),
    ("/usr/bin/curl", "curl"),
    ("/tmp/.cache/kdevtmpfsi", "kdevtmpfsi"),
    ("/usr/bin/wget", "wget"),
];

const BENIGN_FILES: [&str; 12] = [
    "/etc/ld.so.cache",
    "/lib/x86_64-linux-gnu/libc.so.6",
    "/etc/nsswitch.conf",
    "/home/alice/notes.txt",
    "/var/log/nginx/access.log",
    "/tmp/build/obj.o",
    "/usr/share/locale/locale.alias",
    "/var/lib/postgresql/15/main/base/1/1259",
    "/etc/hosts",
    "/usr/lib/python3.11/os.py",
    "/dev/null",
    "/etc/ssl/certs/ca-certificates.crt",
];

const BENIGN_WRITES: [&str; 4] = [
    "/tmp/build/obj.o",
    "/home/alice/notes.txt",
    "/var/lib/postgresql/15/main/base/1/1259",
    "/dev/null",
];

const SUSPICIOUS_FILES: [&str; 6] = [
    "/etc/passwd",
    "/proc/self/status",
    "/etc/shadow",
    "/home/alice/.bashrc",
    "/etc/cron.d/job",
    "/root/.ssh/authorized_keys",
];

/// CPU time this thread has used, in seconds (utime + stime from /proc). The machine is
/// shared, so wall time overstates the cost; CPU time is what one core spends.
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/thread-self/stat") else {
        return 0.0;
    };
    // Fields after the ")" that closes the command name: state is field 3, utime 14, stime 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // USER_HZ is 100 on Linux.
    (ticks(11) + ticks(12)) / 100.0
}

fn flags(v: u64, t: &str) -> Value {
    Value::Flags {
        value: v,
        text: t.into(),
    }
}

/// `suspicious_per_mille`: how often (per 1000 choices) a file, program or port is picked
/// from the suspicious set instead of the benign one.
fn workload(suspicious_per_mille: u64) -> Vec<Event> {
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    let mut out = Vec::with_capacity(POOL + 64);
    let mut n = 0u64;
    let mut next_pid = 1000i64;
    let push = |out: &mut Vec<Event>, e: Event| out.push(e);
    let mut root = Event::syscall(0, 1, 1, 1, "getpid").ret(1);
    root.proc = Some(Box::new(ProcInfo {
        ppid: Some(0),
        name: Some("systemd".into()),
        exepath: Some("/usr/lib/systemd/systemd".into()),
        uid: Some(0),
        ..ProcInfo::default()
    }));
    push(&mut out, root);
    while out.len() < POOL {
        let pid = next_pid;
        next_pid += 1;
        let ts = |n: u64| 1_700_000_000_000_000_000 + n * 1_000;
        n += 1;
        push(
            &mut out,
            Event::syscall(n, ts(n), 1, 1, "clone")
                .arg("flags", flags(17, "SIGCHLD"))
                .ret(pid),
        );
        let bad = |r: &mut Rng| r.next() % 1000 < suspicious_per_mille;
        let (path, name) = if bad(&mut r) {
            *r.pick(&EXES[9..])
        } else {
            *r.pick(&EXES[..9])
        };
        n += 1;
        push(
            &mut out,
            Event::syscall(n, ts(n), pid, pid, "execve")
                .arg("filename", Value::Path(path.into()))
                .arg(
                    "argv",
                    Value::Strs(vec![name.into(), "-x".into(), "arg".into()]),
                )
                .arg(
                    "envp",
                    Value::Strs(vec!["PATH=/usr/bin".into(), "HOME=/root".into()]),
                )
                .ret(0),
        );
        // Only network programs open sockets; coreutils doing so is what rules look for.
        let networked = matches!(
            name,
            "python3" | "nginx" | "node" | "postgres" | "git" | "curl" | "wget" | "kdevtmpfsi"
        );
        let mut fd = 3i64;
        for _ in 0..60 {
            n += 1;
            let e = match r.next() % 10 {
                0..=1 => {
                    let w = r.next().is_multiple_of(4);
                    let f = if bad(&mut r) {
                        *r.pick(&SUSPICIOUS_FILES)
                    } else if w {
                        *r.pick(&BENIGN_WRITES)
                    } else {
                        *r.pick(&BENIGN_FILES)
                    };
                    let (v, t) = if w {
                        (0o1101u64, "O_WRONLY|O_CREAT|O_TRUNC")
                    } else {
                        (0o2_000_000, "O_RDONLY|O_CLOEXEC")
                    };
                    fd += 1;
                    Event::syscall(n, ts(n), pid, pid, "openat")
                        .arg("dirfd", Value::Fd(-100))
                        .arg("name", Value::Path(f.into()))
                        .arg("flags", flags(v, t))
                        .arg("mode", flags(0o644, "S_IRUSR|S_IWUSR|S_IRGRP|S_IROTH"))
                        .ret(if r.next().is_multiple_of(8) { -2 } else { fd })
                }
                2..=4 => Event::syscall(n, ts(n), pid, pid, "read")
                    .arg("fd", Value::Fd(3 + (r.next() % 4) as i64))
                    .arg("size", Value::Uint(4096))
                    .ret(512),
                5..=6 => Event::syscall(n, ts(n), pid, pid, "write")
                    .arg("fd", Value::Fd(1))
                    .arg("size", Value::Uint(80))
                    .ret(80),
                7 => Event::syscall(n, ts(n), pid, pid, "mmap")
                    .arg("addr", Value::Uint(0))
                    .arg("length", Value::Uint(8192))
                    .ret(0x7f00_0000_0000),
                8 if networked => {
                    fd += 1;
                    let ip = Ipv4Addr::from((r.next() as u32) | 0x0100_0000);
                    let port = if bad(&mut r) {
                        *r.pick(&[6667u16, 23, 2323])
                    } else {
                        *r.pick(&[80u16, 443, 53, 5432, 8080])
                    };
                    out.push(
                        Event::syscall(n, ts(n), pid, pid, "socket")
                            .arg("domain", flags(2, "AF_INET"))
                            .arg("type", flags(1, "SOCK_STREAM"))
                            .arg("proto", Value::Int(0))
                            .ret(fd),
                    );
                    n += 1;
                    Event::syscall(n, ts(n), pid, pid, "connect")
                        .arg("fd", Value::Fd(fd))
                        .arg("addr", Value::Sockaddr(SockAddr::ip(IpAddr::V4(ip), port)))
                        .ret(if r.next().is_multiple_of(2) { 0 } else { -115 })
                }
                _ => Event::syscall(n, ts(n), pid, pid, "close")
                    .arg("fd", Value::Fd(3 + (r.next() % 6) as i64))
                    .ret(0),
            };
            push(&mut out, e);
        }
        n += 1;
        push(
            &mut out,
            Event::syscall(n, ts(n), pid, pid, "exit_group").arg("status", Value::Int(0)),
        );
    }
    out
}

fn main() {
    let falco = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/falco"
    ));
    let mut set = RuleSet::new();
    for f in [
        "falco_rules.yaml",
        "falco-incubating_rules.yaml",
        "falco-sandbox_rules.yaml",
    ] {
        if let Err(e) = set.load_file(&falco.join(f)) {
            eprintln!(
                "cannot load Falco rules ({e}); the shared data must sit beside the repository"
            );
            std::process::exit(1);
        }
    }
    if let Err(e) = set.load_str("rules/ferret_rules.yaml", BUNDLED_RULES) {
        eprintln!("bundled rules: {e}");
        std::process::exit(1);
    }
    let t = Instant::now();
    let engine = match Engine::compile(&set) {
        Ok(e) => e,
        Err(errs) => {
            eprintln!("compile: {}", errs[0]);
            std::process::exit(1);
        }
    };
    let st = engine.stats();
    println!(
        "rules: {} compiled ({} enabled, {} never fire on a host), {} macros, {} lists; compiled in {:.1} ms",
        st.rules,
        st.enabled,
        st.rules_never_firing,
        st.macros,
        st.lists,
        t.elapsed().as_secs_f64() * 1e3
    );
    for ty in ["openat", "execve", "connect", "read", "close"] {
        println!("  rules tested on {ty}: {}", engine.candidates_for(ty));
    }
    for (mix, per_mille) in [
        ("typical mix, 0.5% suspicious choices", 5u64),
        ("attack-heavy mix, 25% suspicious choices", 250),
    ] {
        println!("workload: {mix}");
        let pool = workload(per_mille);
        // FERRET_BENCH_ROUNDS shortens the run (profiling under valgrind).
        let rounds = std::env::var("FERRET_BENCH_ROUNDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(ROUNDS);
        let total = pool.len() * rounds;
        // State machine alone, for reference.
        let t = Instant::now();
        let c = cpu_seconds();
        for _ in 0..rounds {
            let mut state = ferret_event::State::new();
            for e in &pool {
                black_box(state.update(black_box(e)).fd.is_some());
            }
        }
        let (secs, cpu) = (t.elapsed().as_secs_f64(), cpu_seconds() - c);
        println!(
            "state:     {total} events; wall {secs:.3} s ({:.0} events/s), cpu {cpu:.2} s ({:.0} events/s per core)",
            total as f64 / secs,
            total as f64 / cpu
        );
        // Matching only: state machine + rule evaluation, no alert formatting.
        let mut hits = Vec::new();
        let memo = engine.new_memo();
        let mut matched = 0u64;
        let t = Instant::now();
        let c = cpu_seconds();
        for _ in 0..rounds {
            let mut state = ferret_event::State::new();
            for e in &pool {
                let view = state.update(black_box(e));
                hits.clear();
                engine.matches(e, view, &memo, &mut hits);
                matched += hits.len() as u64;
            }
        }
        let (secs, cpu) = (t.elapsed().as_secs_f64(), cpu_seconds() - c);
        println!(
            "matching:  {total} events, {matched} rule matches; wall {secs:.3} s ({:.0} events/s), cpu {cpu:.2} s ({:.0} events/s per core)",
            total as f64 / secs,
            total as f64 / cpu
        );
        let mut alerts = 0u64;
        let mut last = None;
        let t = Instant::now();
        let c = cpu_seconds();
        for _ in 0..rounds {
            let mut a = Analyzer::new(&engine);
            for e in &pool {
                a.feed_with(black_box(e), |al| {
                    alerts += 1;
                    black_box(al);
                });
            }
            last = Some(a.report());
        }
        let (secs, cpu) = (t.elapsed().as_secs_f64(), cpu_seconds() - c);
        println!(
            "alerting:  {total} events ({} distinct x {rounds}), {alerts} alerts formatted; wall {secs:.3} s ({:.0} events/s), cpu {cpu:.2} s ({:.0} events/s per core)",
            pool.len(),
            total as f64 / secs,
            total as f64 / cpu
        );
        if let Some(rep) = last {
            let mut sigs: Vec<_> = rep
                .signatures
                .iter()
                .map(|s| (s.count, s.name.as_str()))
                .collect();
            sigs.sort_unstable_by(|a, b| b.cmp(a));
            let top: Vec<String> = sigs
                .iter()
                .take(5)
                .map(|(c, n)| format!("{n} x{c}"))
                .collect();
            println!("  most frequent alerts per round: {}", top.join("; "));
        }
    }
}
