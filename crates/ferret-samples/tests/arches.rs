//! The cross-built samples run and behave the same on every architecture: each arch's
//! `clean` (static and dynamic) and static `telnet_scan` run in ferret's sandbox —
//! x86-64 and static i386 natively, the rest under Debian's qemu-user-static with the
//! cross C library as `-L` prefix — and print what the x86-64 build prints.
//! Needs root and qemu-user-static (scripts/install.sh installs it).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ferret_samples::ARCHES;
use ferret_sandbox::{ExitStatus, Outcome, Sandbox, SandboxConfig, SpawnSpec, WaitStatus};

fn work_root() -> PathBuf {
    let p = PathBuf::from("/tmp/ferret-samples-tests");
    fs::create_dir_all(&p).expect("work root");
    fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).expect("work root mode");
    p
}

/// The user-mode emulator and the cross C library prefix of an architecture (`None`
/// emulator: runs natively).
fn runner(arch: &str, static_: bool) -> (Option<&'static str>, Option<&'static str>) {
    match (arch, static_) {
        ("x86_64", _) | ("i386", true) => (None, None),
        // No i386 loader on an amd64 host without multiarch: emulate with its prefix.
        ("i386", false) => (Some("qemu-i386-static"), Some("/usr/i686-linux-gnu")),
        ("arm", _) => (Some("qemu-arm-static"), Some("/usr/arm-linux-gnueabi")),
        ("aarch64", _) => (Some("qemu-aarch64-static"), Some("/usr/aarch64-linux-gnu")),
        ("mips", _) => (Some("qemu-mips-static"), Some("/usr/mips-linux-gnu")),
        ("mipsel", _) => (Some("qemu-mipsel-static"), Some("/usr/mipsel-linux-gnu")),
        ("powerpc", _) => (Some("qemu-ppc-static"), Some("/usr/powerpc-linux-gnu")),
        (other, _) => panic!("no runner for {other}"),
    }
}

fn run(arch: &str, name: &str, static_: bool) -> Outcome {
    // SAFETY: geteuid has no preconditions.
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "these tests need root (namespaces, mounts, cgroups)"
    );
    ferret_samples::build();
    let exe = ferret_samples::path(arch, name, static_);
    let inside = format!("/root/{name}");
    let cfg = SandboxConfig::new(work_root()).install(&exe, &inside, 0o755);
    let argv: Vec<String> = match runner(arch, static_) {
        (None, _) => vec![inside],
        (Some(qemu), prefix) => {
            let q = format!("/usr/bin/{qemu}");
            assert!(
                Path::new(&q).exists(),
                "{q} is needed (Debian package qemu-user-static, installed by scripts/install.sh)"
            );
            let mut v = vec![q];
            if let Some(p) = prefix {
                v.push("-L".into());
                v.push(p.into());
            }
            v.push(inside);
            v
        }
    };
    let mut sb = Sandbox::new(cfg).expect("sandbox");
    let spawned = sb.spawn(SpawnSpec::new(argv)).expect("spawn");
    spawned.release().expect("release");
    let waited = sb
        .wait(Instant::now() + Duration::from_secs(30))
        .expect("wait");
    let o = sb.teardown().expect("teardown");
    assert_eq!(
        waited,
        WaitStatus::Exited,
        "{arch} {name}: {}",
        String::from_utf8_lossy(&o.stdout.data)
    );
    o
}

#[test]
fn clean_gives_the_same_output_on_every_arch() {
    let reference = run("x86_64", "clean", true);
    let want = String::from_utf8_lossy(&reference.stdout.data).into_owned();
    assert!(want.contains("primes below 100000: 9592\n"), "{want}");
    for arch in ARCHES {
        for static_ in [true, false] {
            let o = run(arch, "clean", static_);
            let got = String::from_utf8_lossy(&o.stdout.data);
            assert_eq!(
                got,
                want,
                "{arch} static={static_} stderr: {}, exit {:?}, exec errno {:?}, setup {:?}",
                String::from_utf8_lossy(&o.stderr.data),
                o.sample_exit,
                o.exec_errno,
                o.setup_error
            );
            assert_eq!(o.sample_exit, Some(ExitStatus::Code(0)), "{arch} {static_}");
        }
    }
}

#[test]
fn telnet_scan_attempts_128_connects_on_every_arch() {
    for arch in ARCHES {
        let o = run(arch, "telnet_scan", true);
        let s = String::from_utf8_lossy(&o.stdout.data);
        assert!(s.contains("scan: 128 attempts, 0 open\n"), "{arch}: {s}");
        let unreachable = s.matches("fail ENETUNREACH").count();
        assert_eq!(unreachable, 128, "{arch}: {s}");
    }
}
