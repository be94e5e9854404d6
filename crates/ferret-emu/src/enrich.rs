//! Completing the guest log with the emulator's host-side syscalls.

use std::collections::HashMap;

use ferret_event::{Event, Value};

/// Guest calls whose decoded arguments QEMU 7.2 prints only as pointers, and the
/// argument each gains: the socket address (`addr`) and the `prctl(PR_SET_NAME)`
/// name (`name`).
const ENRICHED: &[(&str, &str)] = &[
    ("connect", "addr"),
    ("bind", "addr"),
    ("sendto", "addr"),
    ("prctl", "name"),
];

/// Fills in what QEMU's log shows only as pointers from host-side events of the
/// emulator processes: QEMU performs those calls on the host with the guest's
/// arguments converted, so a host tracer (ferret-trace narrowed to `connect`, `bind`,
/// `sendto`, `prctl`, with pids translated to sandbox pids, e.g. with
/// `ferret_sandbox::PidMap::host_to_ns` while the process lives) decodes them.
///
/// The n-th guest call of a type in a process pairs with the next host call of that
/// type, pid and return value (host calls QEMU made for itself are skipped). A guest
/// argument that is already decoded is kept. Returns the number of events that gained
/// an argument.
pub fn enrich(guest: &mut [Event], host: &[Event]) -> usize {
    let mut queues: HashMap<(i64, &str), (usize, Vec<&Event>)> = HashMap::new();
    for h in host {
        if ENRICHED.iter().any(|(ty, _)| *ty == h.ty) {
            queues
                .entry((h.pid, &*h.ty))
                .or_insert_with(|| (0, Vec::new()))
                .1
                .push(h);
        }
    }
    let mut filled = 0;
    for g in guest.iter_mut() {
        let Some((_, arg)) = ENRICHED.iter().find(|(ty, _)| *ty == g.ty) else {
            continue;
        };
        let decoded = matches!(
            g.args.get(arg),
            Some(Value::Sockaddr(_)) | Some(Value::Str(_))
        );
        let Some((cursor, q)) = queues.get_mut(&(g.pid, &*g.ty)) else {
            continue;
        };
        let same_option = |h: &Event| {
            g.ty != "prctl"
                || g.args.get("option").and_then(Value::as_i64)
                    == h.args.get("option").and_then(Value::as_i64)
        };
        let Some(off) = q
            .get(*cursor..)
            .unwrap_or(&[])
            .iter()
            .position(|h| h.ret == g.ret && same_option(h))
        else {
            continue;
        };
        let h = q.get(*cursor + off).copied();
        *cursor += off + 1;
        if decoded {
            continue;
        }
        if let Some(v) = h
            .and_then(|h| h.args.get(arg))
            .filter(|v| matches!(v, Value::Sockaddr(_) | Value::Str(_)))
        {
            let v = v.clone();
            match g.args.0.iter_mut().find(|a| a.name == *arg) {
                Some(a) => a.value = v,
                None => g.args.push(*arg, v),
            }
            filled += 1;
        }
    }
    filled
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferret_event::SockAddr;

    fn connect(pid: i64, addr: Value, ret: i64) -> Event {
        Event::syscall(0, 0, pid, pid, "connect")
            .arg("fd", Value::Fd(4))
            .arg("addr", addr)
            .ret(ret)
    }

    #[test]
    fn pairs_by_pid_type_and_return() {
        let a = |port| Value::Sockaddr(SockAddr::ip("10.0.0.1".parse().unwrap(), port));
        let mut guest = vec![
            connect(2, Value::Uint(0x4080_0808), -111),
            connect(2, Value::Uint(0x4080_0808), 0),
            connect(3, Value::Uint(0x4080_0900), -111),
            connect(3, Value::Uint(0x4080_0900), -111),
        ];
        let host = vec![
            connect(2, a(23), -111),
            connect(3, a(9), -111),
            // QEMU's own call: skipped by the return value.
            connect(2, a(1), -2),
            connect(2, a(80), 0),
        ];
        assert_eq!(enrich(&mut guest, &host), 3);
        assert_eq!(guest[0].args.get("addr"), Some(&a(23)));
        assert_eq!(guest[1].args.get("addr"), Some(&a(80)));
        assert_eq!(guest[2].args.get("addr"), Some(&a(9)));
        // No host call left for it: stays a pointer.
        assert_eq!(guest[3].args.get("addr"), Some(&Value::Uint(0x4080_0900)));
    }
}
