//! Manual check of a fake net (needs root and util-linux's nsenter):
//! `cargo run -p ferret-fakenet --example smoke -- 'CMD' ['FAKE_CMD']` starts a fake
//! net capturing to /tmp/fakenet-smoke.pcap, runs CMD with `sh -c` in the sandbox
//! side (e.g. `curl http://example.test/`), then FAKE_CMD in the fake-internet side
//! (e.g. `ss -ltn`), tears down and prints the outcome.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cmd = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "ip addr; ip route".into());
    let mut net = ferret_fakenet::FakeNet::new(
        ferret_fakenet::FakeNetConfig::default().capture_to("/tmp/fakenet-smoke.pcap"),
    )?;
    let p = net.sandbox_netns_path().ok_or("torn down")?;
    let st = std::process::Command::new("nsenter")
        .arg(format!("--net={}", p.display()))
        .args(["sh", "-c", &cmd])
        .status()?;
    println!("status {st}");
    if let Some(fcmd) = std::env::args().nth(2) {
        use std::os::fd::AsRawFd;
        let fp = format!(
            "/proc/{}/fd/{}",
            std::process::id(),
            net.fake_netns().ok_or("torn down")?.as_raw_fd()
        );
        std::process::Command::new("nsenter")
            .arg(format!("--net={fp}"))
            .args(["sh", "-c", &fcmd])
            .status()?;
    }
    let o = net.teardown()?;
    println!("{:#?}", o);
    Ok(())
}
