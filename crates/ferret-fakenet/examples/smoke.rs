//! Manual smoke run: starts a fake net, runs a shell command inside its sandbox side
//! (via nsenter), prints the log.
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
