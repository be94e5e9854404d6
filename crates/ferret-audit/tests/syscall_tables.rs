//! The syscall tables (generated from the kernel UAPI headers) against libaudit's, as
//! `ausyscall --dump` prints them (Debian package auditd, in scripts/apt-packages.txt).
//! Names may differ where the kernel and libaudit spell one call differently
//! (`pread64`/`pread`), so a high agreement is required, not identity.

use std::process::Command;

use ferret_audit::Arch;

fn ausyscall(arch: &str) -> Vec<(u32, String)> {
    let out = Command::new("ausyscall")
        .args([arch, "--dump"])
        .output()
        .unwrap_or_else(|e| panic!("ausyscall not runnable ({e}); install the auditd package"));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let n = it.next()?.parse().ok()?;
            Some((n, it.next()?.to_owned()))
        })
        .collect()
}

#[test]
fn tables_agree_with_libaudit() {
    for (name, arch) in [
        ("x86_64", Arch::X86_64),
        ("i386", Arch::I386),
        ("aarch64", Arch::Aarch64),
        ("arm", Arch::Arm),
        ("ppc", Arch::Ppc),
    ] {
        let theirs = ausyscall(name);
        assert!(
            theirs.len() > 250,
            "ausyscall {name}: {} entries",
            theirs.len()
        );
        let same = theirs
            .iter()
            .filter(|(n, s)| arch.syscall_name(*n) == Some(s.as_str()))
            .count();
        let pct = 100.0 * same as f64 / theirs.len() as f64;
        println!("{name}: {same}/{} agree ({pct:.1}%)", theirs.len());
        assert!(pct >= 95.0, "{name}: only {pct:.1}% agree with libaudit");
    }
}
