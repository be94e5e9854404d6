//! Hostile input: truncated lines, random bytes, absurd hex and huge lines must never
//! panic; bad lines are reported and counted, and memory stays bounded.

use std::io::{Cursor, Read};

use ferret_audit::json::{RenderOptions, event_json, event_text};
use ferret_audit::model::to_event;
use ferret_audit::{AuditReader, Item, MAX_LINE, Stats};

/// Reads everything, rendering each event every way, and returns the counters.
fn drain(bytes: Vec<u8>) -> Stats {
    let mut rd = AuditReader::new(Cursor::new(bytes));
    let opts = RenderOptions {
        raw: true,
        ..RenderOptions::default()
    };
    let mut s = String::new();
    let mut n = 0;
    for item in rd.by_ref() {
        match item {
            Ok(Item::Event(ev)) => {
                s.clear();
                event_json(&mut s, &ev, &opts);
                assert!(
                    serde_json::from_str::<serde_json::Value>(&s).is_ok(),
                    "invalid JSON: {s}"
                );
                event_text(&mut s, &ev, &opts);
                let e = to_event(&ev, n);
                assert!(!e.ty.is_empty());
                let _ = e.to_json_line();
                n += 1;
            }
            Ok(Item::Malformed { .. }) => {}
            Err(e) => panic!("in-memory read failed: {e}"),
        }
    }
    rd.stats()
}

/// xorshift64*: a fixed-seed generator, so failures reproduce.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn shared_lines() -> Vec<Vec<u8>> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/audit");
    let mut lines = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    entries.sort();
    for p in entries {
        let mut b = Vec::new();
        std::fs::File::open(&p)
            .and_then(|mut f| f.read_to_end(&mut b))
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        lines.extend(
            b.split(|&c| c == b'\n')
                .filter(|l| !l.is_empty())
                .map(<[u8]>::to_vec),
        );
    }
    assert!(lines.len() > 50);
    lines
}

#[test]
fn truncated_lines() {
    let lines = shared_lines();
    let mut buf = Vec::new();
    for l in &lines {
        for cut in 0..l.len() {
            buf.extend_from_slice(&l[..cut]);
            buf.push(b'\n');
        }
    }
    let st = drain(buf);
    assert!(st.records > 1000 && st.malformed > 1000, "{st:?}");
}

#[test]
fn random_mutations() {
    let lines = shared_lines();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut buf = Vec::new();
    for _ in 0..20_000 {
        let mut l = lines[rng.below(lines.len())].clone();
        for _ in 0..1 + rng.below(8) {
            let i = rng.below(l.len());
            match rng.below(5) {
                0 => l[i] = rng.next() as u8,
                1 => {
                    let specials = b"=\"'{}()\x1d\x01\0:.";
                    l.insert(i, specials[rng.below(specials.len())]);
                }
                2 => {
                    l.remove(i);
                }
                3 => l
                    .splice(i..i, b"a7[99999999999]=4".iter().copied())
                    .for_each(drop),
                _ => l.truncate(i),
            }
            if l.is_empty() {
                break;
            }
        }
        buf.extend_from_slice(&l);
        buf.push(b'\n');
    }
    // Pure noise, including invalid UTF-8 and NULs.
    for _ in 0..200_000 {
        buf.push(rng.next() as u8);
    }
    let st = drain(buf);
    assert!(st.records > 5000, "{st:?}");
}

#[test]
fn absurd_values() {
    let log = [
        "type=EXECVE msg=audit(1.000:1): argc=99999999999999999999 a18446744073709551615=41 a99999[0]=4142 a1[99999999999999999999]=43 a2_len=-5",
        "type=SOCKADDR msg=audit(1.000:2): saddr=0A00",
        "type=SOCKADDR msg=audit(1.000:3): saddr=01",
        "type=SOCKADDR msg=audit(1.000:4): saddr=ZZ",
        "type=SYSCALL msg=audit(1.000:5): arch=ffffffff syscall=99999999999999999999 exit=-99999999999999999999 a0=ffffffffffffffffff pid=-1 auid=-1",
        "type=SYSCALL msg=audit(18446744073709551615.999:18446744073709551615): arch=c000003e syscall=59 exit=-4096",
        "type=PROCTITLE msg=audit(1.000:6): proctitle=00000000",
        "type=CWD msg=audit(1.000:7): cwd=\"unterminated",
        "type=USER_CMD msg=audit(1.000:8): msg='unterminated cmd=41",
        "type=SYSCALL msg=audit(1.1234:9): arch=c000003e",
        "type=SYSCALL msg=audit(1:9): arch=c000003e",
        "type= msg=audit(1.000:9):",
        "type=SYSCALL",
        "node= node= type=AVC msg=audit(1.000:10): avc: denied { { } } for",
        "type=AVC msg=audit(1.000:11): avc: denied { read",
        "type=UNKNOWN[99999999999] msg=audit(1.000:12): a=b",
        "=== = =",
    ]
    .join("\n");
    let st = drain(log.into_bytes());
    assert_eq!(st.malformed, 5, "{st:?}");
    assert_eq!(st.records, 12, "{st:?}");
    assert!(st.unknown_types >= 1);
}

#[test]
fn huge_lines_are_cut() {
    let mut buf = b"type=PATH msg=audit(1.000:1): name=".to_vec();
    buf.resize(MAX_LINE * 3, b'A');
    buf.extend_from_slice(b"\ntype=CWD msg=audit(1.000:2): cwd=\"/\"\n");
    // And a final line with no newline at all.
    buf.extend(std::iter::repeat_n(b'x', MAX_LINE + 10));
    let st = drain(buf);
    assert_eq!((st.too_long, st.records), (2, 1), "{st:?}");
}
