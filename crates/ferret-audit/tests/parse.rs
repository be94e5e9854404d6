//! Record parsing, event grouping and the mapping into ferret's event model.

use std::io::Cursor;

use ferret_audit::json::{RenderOptions, event_json};
use ferret_audit::model::to_event;
use ferret_audit::{AuditEvent, AuditReader, GroupConfig, Grouper, Item, Record};
use ferret_event::{Family, Source, State, Value};

fn events(log: &str) -> Vec<AuditEvent> {
    AuditReader::new(Cursor::new(log.as_bytes().to_vec()))
        .filter_map(|i| match i {
            Ok(Item::Event(e)) => Some(e),
            _ => None,
        })
        .collect()
}

fn rec(line: &str) -> Record {
    match Record::parse(line) {
        Ok(r) => r,
        Err(e) => panic!("{line}: {e}"),
    }
}

#[test]
fn enriched_and_node() {
    let r = rec(
        "node=web1 type=SYSCALL msg=audit(1600000000.123:42): arch=c000003e syscall=59 success=yes exit=0 a0=55 a1=56 a2=57 a3=0 items=2 ppid=1 pid=100 auid=1000 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=3 comm=\"bash\" exe=\"/usr/bin/bash\" key=(null)\x1dARCH=x86_64 SYSCALL=execve AUID=\"alice\" UID=\"root\"",
    );
    assert_eq!(r.node.as_deref(), Some("web1"));
    assert_eq!((r.sec, r.ms, r.serial), (1_600_000_000, 123, 42));
    assert_eq!(r.get("syscall"), Some("execve"));
    assert_eq!(r.get("result"), Some("success"));
    assert_eq!(r.enriched("AUID"), Some("alice"));
    assert_eq!(r.enriched("SYSCALL"), Some("execve"));
    assert!(r.keys.is_empty());
    // Enriched names show up in JSON output next to the ids.
    let ev = events(&format!(
        "{}\n",
        "node=web1 type=USER_LOGIN msg=audit(1600000000.123:43): pid=1 uid=0 auid=1000 ses=3 msg='op=login acct=\"alice\" exe=\"/usr/sbin/sshd\" hostname=? addr=10.0.0.1 terminal=ssh res=success'\x1dUID=\"root\" AUID=\"alice\""
    ));
    let mut s = String::new();
    event_json(&mut s, &ev[0], &RenderOptions::default());
    let v: serde_json::Value = serde_json::from_str(&s).expect("valid JSON");
    assert_eq!(v["node"], "web1");
    assert_eq!(v["records"][0]["names"]["auid"], "alice");
    assert_eq!(v["records"][0]["data"]["result"], "success");
    assert!(v["records"][0]["data"].get("hostname").is_none());
}

#[test]
fn encodings_and_sockaddrs() {
    // Hex-encoded values are decoded; quoted ones are taken as written, even if hex-like.
    let r = rec(
        "type=PATH msg=audit(1.000:1): item=0 name=\"CAFE\" inode=1 dev=08:01 mode=0100644 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL",
    );
    assert_eq!(r.get("name"), Some("CAFE"));
    let r = rec("type=CWD msg=audit(1.000:1): cwd=2F746D702F6120622063");
    assert_eq!(r.get("cwd"), Some("/tmp/a b c"));
    let r = rec("type=PROCTITLE msg=audit(1.000:1): proctitle=2F62696E2F7368002D630065636886F");
    // Odd-length hex is not an encoding: kept as written.
    assert_eq!(r.get("proctitle"), Some("2F62696E2F7368002D630065636886F"));
    let r = rec("type=PROCTITLE msg=audit(1.000:1): proctitle=2F62696E2F7368002D6300696400");
    assert_eq!(r.get("proctitle"), Some("/bin/sh -c id"));
    // Abstract unix socket, IPv6 with port, short (garbage) IPv4.
    let r = rec("type=SOCKADDR msg=audit(1.000:1): saddr=0100006162630000");
    assert_eq!(r.get("path"), Some("@abc"));
    let r = rec(
        "type=SOCKADDR msg=audit(1.000:1): saddr=0A0001BB00000000000000000000000000000000000000010000000000000000",
    );
    assert_eq!(
        (r.get("family"), r.get("addr"), r.get("port")),
        (Some("ipv6"), Some("::1"), Some("443"))
    );
    let r = rec("type=SOCKADDR msg=audit(1.000:1): saddr=0200");
    assert_eq!((r.get("family"), r.get("saddr")), (Some("2"), Some("0200")));
    // i386 syscall numbers, errno names, signal names.
    let r = rec(
        "type=SYSCALL msg=audit(1.000:1): arch=40000003 syscall=102 success=no exit=-2 a0=3 a1=0 a2=0 a3=0 items=0 ppid=1 pid=2 auid=4294967295 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=4294967295 comm=\"x\" exe=\"/x\" key=\"a\"",
    );
    assert_eq!(
        (
            r.get("arch"),
            r.get("syscall"),
            r.get("exit"),
            r.get("auid"),
            r.get("result")
        ),
        (
            Some("i386"),
            Some("socketcall"),
            Some("ENOENT"),
            Some("unset"),
            Some("fail")
        )
    );
    assert_eq!(r.keys, ["a"]);
    let r = rec("type=SYSCALL msg=audit(1.000:1): arch=c00000b7 syscall=221 exit=0");
    assert_eq!(r.get("syscall"), Some("execve"));
    let r = rec("type=SYSCALL msg=audit(1.000:1): arch=40000028 syscall=11 exit=0");
    assert_eq!(r.get("syscall"), Some("execve"));
    // AVC permissions and result.
    let r = rec(
        "type=AVC msg=audit(1.000:1): avc:  denied  { read write } for  pid=1 comm=\"a\" scontext=u:r:t:s0 tcontext=u:r:t:s0 tclass=file permissive=0",
    );
    assert_eq!(
        (r.get("seresult"), r.get("seperms")),
        (Some("denied"), Some("read,write"))
    );
}

#[test]
fn execve_chunks_span_records() {
    let log = "\
type=SYSCALL msg=audit(1700000000.000:7): arch=c000003e syscall=59 success=yes exit=0 a0=1 a1=2 a2=3 a3=0 items=2 ppid=1 pid=900 auid=1000 uid=1000 gid=1000 euid=1000 suid=1000 fsuid=1000 egid=1000 sgid=1000 fsgid=1000 tty=pts1 ses=2 comm=\"echo\" exe=\"/usr/bin/echo\" key=\"exec\"
type=EXECVE msg=audit(1700000000.000:7): argc=3 a0=\"echo\" a1_len=10 a1[0]=48454C4C4F
type=EXECVE msg=audit(1700000000.000:7): a1[1]=574F524C44 a2=\"x y\"
type=CWD msg=audit(1700000000.000:7): cwd=\"/home/u\"
type=PATH msg=audit(1700000000.000:7): item=0 name=\"/usr/bin/echo\" inode=5 dev=08:01 mode=0100755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL
type=PROCTITLE msg=audit(1700000000.000:7): proctitle=6563686F0048454C4C4F574F524C44
type=EOE msg=audit(1700000000.000:7):
";
    let evs = events(log);
    assert_eq!(evs.len(), 1);
    let ev = &evs[0];
    assert_eq!(ev.records.len(), 6, "EOE is not kept");
    assert_eq!(ev.argv(), ["echo", "HELLOWORLD", "x y"]);
    let e = to_event(ev, 1);
    assert_eq!(
        (e.source, &*e.ty, e.pid, e.ret),
        (Source::Audit, "execve", 900, Some(0))
    );
    assert_eq!(
        e.args.get("filename"),
        Some(&Value::Path("/usr/bin/echo".into()))
    );
    let p = e.proc.as_deref().expect("process snapshot");
    assert_eq!(
        p.args.as_deref(),
        Some(&["HELLOWORLD".to_owned(), "x y".to_owned()][..])
    );
    assert_eq!(
        (p.cwd.as_deref(), p.loginuid),
        (Some("/home/u"), Some(1000))
    );
}

#[test]
fn grouping_interleaved_and_bounded() {
    let sys = |serial: u64, sc: u32| {
        rec(&format!(
            "type=SYSCALL msg=audit(10.000:{serial}): arch=c000003e syscall={sc} success=yes exit=0 pid=1"
        ))
    };
    let path = |serial: u64| {
        rec(&format!(
            "type=PATH msg=audit(10.000:{serial}): item=0 name=\"/a\""
        ))
    };
    let eoe = |serial: u64| rec(&format!("type=EOE msg=audit(10.000:{serial}):"));
    let mut g = Grouper::new(GroupConfig {
        window: 4,
        max_age_secs: 5,
        max_open: 3,
        max_records: 2,
    });
    g.push(sys(1, 2));
    g.push(sys(2, 2));
    g.push(path(1));
    g.push(path(2));
    assert!(g.pop().is_none(), "no event is complete yet");
    g.push(eoe(2));
    let e = g.pop().expect("EOE completes event 2");
    assert_eq!((e.serial, e.records.len()), (2, 2));
    // A third record for event 1 exceeds max_records: counted, not kept.
    g.push(path(1));
    // Serial 6 is more than `window` past 1: event 1 completes.
    g.push(sys(6, 2));
    let e = g.pop().expect("window completes event 1");
    assert_eq!((e.serial, e.records.len(), e.dropped_records), (1, 2, 1));
    // A user-space record is an event at once.
    g.push(rec(
        "type=USER_LOGIN msg=audit(10.000:7): pid=1 uid=0 res=success",
    ));
    assert_eq!(g.pop().map(|e| e.serial), Some(7));
    // More than max_open open events: the oldest is emitted.
    g.push(sys(8, 2));
    g.push(sys(9, 2));
    g.push(sys(10, 2));
    assert_eq!(g.pop().map(|e| e.serial), Some(6));
    assert_eq!(g.forced, 1);
    g.flush();
    let rest: Vec<u64> = std::iter::from_fn(|| g.pop()).map(|e| e.serial).collect();
    assert_eq!(rest, [8, 9, 10]);
}

#[test]
fn connect_event_feeds_filters_and_rules() {
    let log = "\
type=SYSCALL msg=audit(1700000001.500:90): arch=c000003e syscall=42 success=no exit=-111 a0=3 a1=7ffc a2=10 a3=0 items=0 ppid=1 pid=4242 auid=1000 uid=1000 gid=1000 euid=1000 suid=1000 fsuid=1000 egid=1000 sgid=1000 fsgid=1000 tty=(none) ses=1 comm=\"nc\" exe=\"/usr/bin/nc.openbsd\" key=(null)
type=SOCKADDR msg=audit(1700000001.500:90): saddr=02000017C0A801010000000000000000
type=PROCTITLE msg=audit(1700000001.500:90): proctitle=6E63003139322E3136382E312E31003233
";
    let evs = events(log);
    assert_eq!(evs.len(), 1);
    let e = to_event(&evs[0], 1);
    assert_eq!(
        (&*e.ty, e.ret, e.errno()),
        ("connect", Some(-111), Some(111))
    );
    assert_eq!(e.ts, 1_700_000_001_500_000_000);
    match e.args.get("addr") {
        Some(Value::Sockaddr(a)) => {
            assert_eq!((a.family, a.port), (Family::Inet, Some(23)));
            assert_eq!(a.ip.map(|i| i.to_string()).as_deref(), Some("192.168.1.1"));
        }
        other => panic!("addr = {other:?}"),
    }
    let mut st = State::new();
    let view = st.update(&e);
    let f = ferret_filter::Filter::new(
        "evt.type = connect and proc.name = nc and fd.sip = 192.168.1.1 and fd.sport = 23",
    )
    .expect("filter compiles");
    assert!(f.matches(&e, view));
    let f2 = ferret_filter::Filter::new("evt.type = connect and fd.sport = 22").expect("compiles");
    let view = st.update(&e);
    assert!(!f2.matches(&e, view));

    let mut set = ferret_rules::RuleSet::new();
    set.load_str(
        "test.yaml",
        "- rule: telnet connect\n  desc: t\n  condition: evt.type = connect and fd.sport = 23\n  output: \"%proc.name connected to %fd.name\"\n  priority: WARNING\n  source: audit\n",
    )
    .expect("rule loads");
    let engine = ferret_rules::Engine::compile(&set).expect("rule compiles");
    let mut an = ferret_rules::Analyzer::new(&engine);
    let alerts = an.feed(&e);
    assert_eq!(
        alerts.len(),
        1,
        "audit-source rule fires on the mapped event"
    );
}

#[test]
fn user_events_map_to_their_type() {
    let evs = events(
        "type=USER_LOGIN msg=audit(1492896301.818:19955): pid=12635 uid=0 auid=4294967295 ses=4294967295 msg='op=login acct=28696E76616C6964207573657229 exe=\"/usr/sbin/sshd\" hostname=? addr=179.38.151.221 terminal=sshd res=failed'\n",
    );
    let e = to_event(&evs[0], 5);
    assert_eq!(
        (&*e.ty, e.pid, e.source),
        ("user_login", 12635, Source::Audit)
    );
    assert_eq!(
        e.args.get("acct"),
        Some(&Value::Str("(invalid user)".into()))
    );
    assert_eq!(e.args.get("result"), Some(&Value::Str("fail".into())));
    assert_eq!(e.args.get("uid"), Some(&Value::Int(0)));
}

#[test]
fn kernel_and_syslog_lines() {
    let r = rec(
        "[  12.345678] audit: type=1400 audit(1700000000.250:77): apparmor=\"DENIED\" operation=\"open\" profile=\"snap\" name=\"/etc/shadow\" pid=9 comm=\"cat\" requested_mask=\"r\" denied_mask=\"r\"",
    );
    assert_eq!(
        (r.type_name.as_str(), r.type_num, r.serial, r.ms),
        ("AVC", Some(1400), 77, 250)
    );
    assert_eq!(r.record_type(), "avc");
    assert_eq!(r.get("name"), Some("/etc/shadow"));
    assert!(r.raw_msg.starts_with("audit(1700000000.250:77):"));
    let r = rec(
        "Nov 22 04:00:00 host audispd: node=db2 type=USER_CMD msg=audit(1700000000.000:5): pid=1 uid=0 auid=0 ses=1 msg='cwd=\"/\" cmd=6C73 terminal=pts/0 res=success'",
    );
    assert_eq!((r.node.as_deref(), r.get("cmd")), (Some("db2"), Some("ls")));
}

#[test]
fn open_flags_for_rules() {
    let evs = events(
        "type=SYSCALL msg=audit(1700000003.000:95): arch=c000003e syscall=257 success=yes exit=3 a0=ffffff9c a1=55aa a2=80241 a3=1b6 items=2 ppid=1 pid=77 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=1 comm=\"sh\" exe=\"/bin/sh\" key=(null)\n\
type=CWD msg=audit(1700000003.000:95): cwd=\"/etc\"\n\
type=PATH msg=audit(1700000003.000:95): item=0 name=\"/etc/\" inode=1 dev=08:01 mode=040755 ouid=0 ogid=0 rdev=00:00 nametype=PARENT\n\
type=PATH msg=audit(1700000003.000:95): item=1 name=\"cron.d/evil\" inode=2 dev=08:01 mode=0100644 ouid=0 ogid=0 rdev=00:00 nametype=CREATE\n",
    );
    let e = to_event(&evs[0], 1);
    assert_eq!(&*e.ty, "openat");
    assert_eq!(
        e.args.get("name"),
        Some(&Value::Path("/etc/cron.d/evil".into()))
    );
    match e.args.get("flags") {
        Some(Value::Flags { value, text }) => {
            assert_eq!(*value, 0x80241);
            assert_eq!(text, "O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC");
        }
        other => panic!("flags = {other:?}"),
    }
    let mut st = State::new();
    let view = st.update(&e);
    let f =
        ferret_filter::Filter::new("evt.is_open_write = true and fd.name startswith /etc/cron.d")
            .expect("compiles");
    assert!(f.matches(&e, view));
}
