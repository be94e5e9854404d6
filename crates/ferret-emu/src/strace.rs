//! Parser of QEMU's guest syscall log (`-d strace`, the same text as `-strace`).
//!
//! QEMU writes each syscall in separately flushed pieces: `"<pid> "`, `"name(args)"`
//! before the call runs, then `" = "`, the value (or `-1 errno=N (text)`) and `"\n"`
//! after it returns. Where several writers share one log — a forked child that was
//! not given a log of its own (see [`crate::StraceLog`]; [`AttributedParser`] parses
//! one log per thread), or threads of a QEMU run without `-d tid` — their pieces
//! interleave, e.g. after a fork:
//!
//! ```text
//! 5781 clone(CLONE_CHILD_CLEARTID|...) =  = 5783
//! 5781 wait4(5783,1082132340,0,0,0,0)0
//! 5783 set_robust_list(...) = -1 errno=38 (Function not implemented)
//! ```
//!
//! (the forked child's QEMU prints the `= 0` of its `clone` without a pid). The parser
//! therefore tokenizes pieces (pid, call, `=`, value, newline, signal) and feeds them
//! to per-process state machines ("lanes": idle → pid → call → `=` → value → newline).
//! A pid-less piece goes to a lane that expects it: the one that wrote the previous
//! piece if it can, otherwise the most recently active one. A fork-like call adds a
//! lane for the child, which owes the call's `= 0`; a value then goes to the child if it
//! is `0` and to the parent otherwise (a parent's fork never returns 0). A lane of a
//! pid that is busy when that pid prints a new call is another thread (QEMU prints
//! `getpid()`, so threads share a pid and events carry `tid == pid`), except after an
//! `execve`, which thereby succeeded (QEMU prints no return for a successful exec, and
//! an exec never answered by the end of the log also succeeded: a failed one always
//! prints its error). Other calls never answered become enter (`>`) events.
//!
//! Residual ambiguity: two processes returning at the same moment with the same
//! piece sequence can swap return values. Pieces are small and written back to back,
//! so this needs two processes returning within microseconds of each other.
//!
//! Arguments are decoded as far as QEMU prints them: QEMU 7.2 (Debian 12) decodes
//! paths, argv, open/mmap/clone flags and socket domains/types, and socket addresses
//! only for `socketcall`-based calls; for `connect` and `prctl` it prints pointers,
//! which become `uint` arguments (newer QEMUs print more, which the parser takes).

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::OnceLock;

use ferret_event::{Dir, Event, SockAddr, Value};

/// The result of parsing a log.
#[derive(Debug, Clone, Default)]
pub struct Parsed {
    /// Events in log order (of their call pieces), numbered from 1.
    pub events: Vec<Event>,
    /// Pieces that could not be parsed or attributed (at most 100 kept).
    pub anomalies: Vec<String>,
    /// Count of all such pieces.
    pub anomaly_count: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum St {
    Idle,
    /// The call (event index) is running.
    InCall(usize),
    AfterEq(usize),
    AfterVal,
}

#[derive(Debug)]
struct Lane {
    pid: Option<i64>,
    st: St,
    /// The child lane of a fork-like call: owes that call's `= 0`.
    fork_child: bool,
    /// Set by `exit` (the thread ends) or `exit_group` (the process ends): the
    /// lane(s) go away at the newline.
    exiting: Option<Exiting>,
    /// Token counter of the lane's last piece.
    seen: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Exiting {
    Thread,
    Process,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Piece {
    Eq,
    Val(i64),
    Nl,
}

/// Incremental parser: [`feed`](Self::feed) log bytes as they arrive (with their
/// receive time), then [`finish`](Self::finish).
#[derive(Debug, Default)]
pub struct StraceParser {
    buf: Vec<u8>,
    buf_ts: u64,
    out: Parsed,
    lanes: Vec<Lane>,
    /// Lane that wrote the previous piece.
    last: Option<usize>,
    tick: u64,
    /// The log is one writer's ([`AttributedParser`]): a fork's child prints its
    /// `= 0` in its own log, so no lane waits for it here.
    single_writer: bool,
}

const MAX_ANOMALIES: usize = 100;

impl StraceParser {
    /// A new parser.
    pub fn new() -> Self {
        StraceParser::default()
    }

    /// Adds log bytes received at `ts` (ns since the epoch). Complete lines are parsed
    /// now; a trailing partial line waits for more bytes.
    pub fn feed(&mut self, ts: u64, bytes: &[u8]) {
        if self.buf.is_empty() {
            self.buf_ts = ts;
        }
        self.buf.extend_from_slice(bytes);
        let Some(last_nl) = self.buf.iter().rposition(|&b| b == b'\n') else {
            return;
        };
        let rest = self.buf.split_off(last_nl + 1);
        let done = std::mem::replace(&mut self.buf, rest);
        let t = self.buf_ts;
        self.parse_text(&String::from_utf8_lossy(&done), t);
        self.buf_ts = ts;
    }

    /// Parses what is left and resolves calls that never returned.
    pub fn finish(mut self) -> Parsed {
        if !self.buf.is_empty() {
            let rest = std::mem::take(&mut self.buf);
            let t = self.buf_ts;
            self.parse_text(&String::from_utf8_lossy(&rest), t);
        }
        for lane in std::mem::take(&mut self.lanes) {
            if lane.fork_child {
                continue;
            }
            if let St::InCall(idx) | St::AfterEq(idx) = lane.st
                && let Some(ev) = self.out.events.get_mut(idx)
            {
                if is_exec(ev) {
                    ev.ret = Some(0);
                } else if ev.ret.is_none() {
                    ev.dir = Dir::Enter;
                }
            }
        }
        self.out
    }

    fn anomaly(&mut self, what: String) {
        self.out.anomaly_count += 1;
        if self.out.anomalies.len() < MAX_ANOMALIES {
            self.out.anomalies.push(what);
        }
    }

    fn parse_text(&mut self, text: &str, ts: u64) {
        let mut s = text;
        while !s.is_empty() {
            if let Some(rest) = s.strip_prefix('\n') {
                self.on_piece(Piece::Nl, s);
                s = rest;
            } else if let Some(rest) = s.strip_prefix(" = ") {
                self.on_piece(Piece::Eq, s);
                s = rest;
            } else if s.starts_with("--- ") || s.starts_with("+++ ") {
                // A delivered signal or exit notice; it names no pid.
                let close = if s.starts_with("---") { " ---" } else { " +++" };
                let end = s
                    .get(4..)
                    .and_then(|t| t.find(close).map(|i| i + 4 + close.len()))
                    .or_else(|| s.find('\n'))
                    .unwrap_or(s.len());
                s = s.get(end..).unwrap_or("");
            } else if let Some((pid, len)) = pid_prefix(s) {
                let body = s.get(len..).unwrap_or("");
                let (call, clen, nested) = take_call(body);
                // Pieces other processes wrote while this call was being printed: they
                // come first, as none of them can be this call's return (QEMU prints
                // the arguments before the call runs).
                for piece in nested {
                    self.parse_text(piece, ts);
                }
                self.on_call(pid, &call, ts);
                s = body.get(clen..).unwrap_or("");
            } else if let Some((v, len)) = value_prefix(s) {
                self.on_piece(Piece::Val(v), s);
                s = s.get(len..).unwrap_or("");
            } else {
                let end = s.find('\n').unwrap_or(s.len());
                let (junk, rest) = s.split_at(end);
                self.anomaly(format!("unparsed log text {junk:?}"));
                s = rest;
            }
        }
    }

    fn touch(&mut self, lane: usize) {
        self.tick += 1;
        if let Some(l) = self.lanes.get_mut(lane) {
            l.seen = self.tick;
        }
        self.last = Some(lane);
    }

    /// The lane for a new call of `pid`.
    fn lane_for_pid(&mut self, pid: i64) -> usize {
        let events = &self.out.events;
        // A successful exec: the new image prints with the same pid.
        if let Some(i) = self.lanes.iter().position(|l| {
            l.pid == Some(pid)
                && matches!(l.st, St::InCall(idx) if events.get(idx).is_some_and(is_exec))
        }) {
            if let Some(l) = self.lanes.get_mut(i) {
                if let St::InCall(idx) = l.st
                    && let Some(ev) = self.out.events.get_mut(idx)
                {
                    ev.ret = Some(0);
                }
                l.st = St::Idle;
            }
            return i;
        }
        if let Some(i) = self.best(|l| l.pid == Some(pid) && l.st == St::Idle) {
            return i;
        }
        // A forked child's first call: the idle child lane announced with this pid (or
        // any idle child lane whose parent has not returned yet).
        if let Some(i) = self.best(|l| l.pid.is_none() && l.st == St::Idle) {
            if let Some(l) = self.lanes.get_mut(i) {
                l.pid = Some(pid);
                l.fork_child = false;
            }
            return i;
        }
        self.lanes.push(Lane {
            pid: Some(pid),
            st: St::Idle,
            fork_child: false,
            exiting: None,
            seen: 0,
        });
        self.lanes.len() - 1
    }

    /// The lane matching `pred`: the previous piece's writer, else the most recent.
    fn best(&self, pred: impl Fn(&Lane) -> bool) -> Option<usize> {
        if let Some(i) = self.last
            && self.lanes.get(i).is_some_and(&pred)
        {
            return Some(i);
        }
        self.lanes
            .iter()
            .enumerate()
            .filter(|(_, l)| pred(l))
            .max_by_key(|(_, l)| l.seen)
            .map(|(i, _)| i)
    }

    fn on_call(&mut self, pid: i64, call: &str, ts: u64) {
        let lane = self.lane_for_pid(pid);
        let num = self.out.events.len() as u64 + 1;
        let Some(ev) = decode_call(num, ts, pid, call) else {
            self.anomaly(format!("unparsed call {call:?} of pid {pid}"));
            if let Some(l) = self.lanes.get_mut(lane) {
                l.st = St::Idle;
            }
            return;
        };
        let idx = self.out.events.len();
        let no_return = matches!(&*ev.ty, "exit" | "exit_group" | "unknown");
        let exiting = match &*ev.ty {
            "exit" => Some(Exiting::Thread),
            "exit_group" => Some(Exiting::Process),
            _ => None,
        };
        let fork_like = is_fork_like(&ev);
        self.out.events.push(ev);
        if let Some(l) = self.lanes.get_mut(lane) {
            l.exiting = exiting;
            // `exit(N)\n` and `Unknown syscall N\n` only await their newline.
            l.st = if no_return {
                St::AfterVal
            } else {
                St::InCall(idx)
            };
        }
        self.touch(lane);
        if fork_like && !self.single_writer {
            self.lanes.push(Lane {
                pid: None,
                st: St::InCall(idx),
                fork_child: true,
                exiting: None,
                seen: self.tick,
            });
        }
    }

    /// Whether event `idx` is a call that typically blocks.
    fn waits(&self, idx: usize) -> bool {
        self.out.events.get(idx).is_some_and(|ev| {
            matches!(
                &*ev.ty,
                "wait4"
                    | "waitpid"
                    | "waitid"
                    | "nanosleep"
                    | "clock_nanosleep"
                    | "clock_nanosleep_time64"
                    | "pause"
                    | "futex"
                    | "futex_time64"
                    | "select"
                    | "_newselect"
                    | "pselect6"
                    | "poll"
                    | "ppoll"
                    | "epoll_wait"
                    | "epoll_pwait"
                    | "read"
                    | "readv"
                    | "recv"
                    | "recvfrom"
                    | "recvmsg"
                    | "accept"
                    | "accept4"
                    | "sigsuspend"
                    | "rt_sigsuspend"
                    | "rt_sigtimedwait"
                    | "msgrcv"
                    | "semop"
            )
        })
    }

    /// Whether the call running in `lane` can return `v`.
    fn accepts(&self, lane: &Lane, v: i64) -> bool {
        if lane.fork_child {
            return v == 0;
        }
        let (St::InCall(idx) | St::AfterEq(idx)) = lane.st else {
            return false;
        };
        match self.out.events.get(idx) {
            Some(ev) if is_exec(ev) => v < 0,
            Some(ev) if is_fork_like(ev) => v != 0,
            _ => true,
        }
    }

    /// The lane a return value belongs to; may move a misplaced `=` to it.
    fn lane_for_value(&mut self, v: i64) -> Option<usize> {
        let after_eq = |l: &Lane| matches!(l.st, St::AfterEq(_));
        let in_call = |l: &Lane| matches!(l.st, St::InCall(_));
        // The `=` just written is followed by its value (one process writes ` = ` and
        // the value back to back far more often than another cuts in between).
        if let Some(i) = self.last
            && self
                .lanes
                .get(i)
                .is_some_and(|l| after_eq(l) && self.accepts(l, v))
        {
            return Some(i);
        }
        // A forked child prints its `= 0` first thing: it takes a 0 when it owes one.
        let pick = if v == 0 {
            self.best(|l| l.fork_child && after_eq(l))
                .or_else(|| self.best(|l| l.fork_child && in_call(l)))
        } else {
            None
        };
        let pick = pick
            .or_else(|| self.best(|l| after_eq(l) && self.accepts(l, v)))
            .or_else(|| self.best(|l| in_call(l) && self.accepts(l, v)))?;
        if self.lanes.get(pick).is_some_and(in_call) {
            // The `=` went to a lane that cannot take this value: give it back.
            if let Some(wrong) = self
                .best(|l| after_eq(l) && !self.accepts(l, v))
                .or_else(|| self.best(after_eq))
                && let Some(l) = self.lanes.get_mut(wrong)
                && let St::AfterEq(idx) = l.st
            {
                l.st = St::InCall(idx);
            }
            if let Some(l) = self.lanes.get_mut(pick)
                && let St::InCall(idx) = l.st
            {
                l.st = St::AfterEq(idx);
            }
        }
        Some(pick)
    }

    fn on_piece(&mut self, piece: Piece, at: &str) {
        let chosen = match piece {
            // Calls that wait (for a child, a peer, a timer) return last: a `=` goes
            // to a call that does not wait when one is running.
            Piece::Eq => self
                .best(|l| matches!(l.st, St::InCall(idx) if !self.waits(idx)))
                .or_else(|| self.best(|l| matches!(l.st, St::InCall(_)))),
            Piece::Val(v) => self.lane_for_value(v),
            Piece::Nl => self.best(|l| l.st == St::AfterVal),
        };
        let Some(i) = chosen else {
            if piece != Piece::Nl {
                let snippet: String = at.chars().take(60).collect();
                self.anomaly(format!("{piece:?} matches no pending call at {snippet:?}"));
            }
            return;
        };
        let Some(lane) = self.lanes.get_mut(i) else {
            return;
        };
        match (piece, lane.st) {
            (Piece::Eq, St::InCall(idx)) => lane.st = St::AfterEq(idx),
            (Piece::Val(v), St::AfterEq(idx)) => {
                lane.st = St::AfterVal;
                if !lane.fork_child
                    && let Some(ev) = self.out.events.get_mut(idx)
                {
                    ev.ret = Some(v);
                    if is_fork_like(ev) && v < 0 {
                        // No child was created: drop its lane.
                        if let Some(c) = self.lanes.iter().position(|l| {
                            l.fork_child
                                && matches!(l.st, St::InCall(x) | St::AfterEq(x) if x == idx)
                        }) {
                            self.lanes.remove(c);
                            self.last = None;
                            return;
                        }
                    }
                }
            }
            (Piece::Nl, _) => {
                lane.st = St::Idle;
                if let Some(how) = lane.exiting {
                    // Dead lanes would only slow every later lookup down.
                    let pid = lane.pid;
                    match how {
                        Exiting::Thread => {
                            self.lanes.swap_remove(i);
                        }
                        Exiting::Process => {
                            // Other threads' calls end with the process.
                            for l in self.lanes.iter().filter(|l| l.pid == pid && pid.is_some()) {
                                if let St::InCall(idx) | St::AfterEq(idx) = l.st
                                    && let Some(ev) = self.out.events.get_mut(idx)
                                    && ev.ret.is_none()
                                {
                                    ev.dir = Dir::Enter;
                                }
                            }
                            self.lanes.retain(|l| l.pid != pid || pid.is_none());
                        }
                    }
                    self.last = None;
                    return;
                }
            }
            _ => {}
        }
        self.touch(i);
    }
}

/// `"<digits> "` followed by a call name: the pid and the prefix length.
fn pid_prefix(s: &str) -> Option<(i64, usize)> {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || s.as_bytes().get(digits) != Some(&b' ') {
        return None;
    }
    let next = *s.as_bytes().get(digits + 1)?;
    if !(next.is_ascii_alphabetic() || next == b'_') {
        return None;
    }
    Some((s.get(..digits)?.parse().ok()?, digits + 1))
}

/// The host errno whose message is `text`. QEMU prints the *guest's* errno number
/// (MIPS's ECONNREFUSED is 146, x86's 111) with the host's `strerror` text of the
/// translated error, so the text names the errno the event model uses.
fn errno_of_text(text: &str) -> Option<i64> {
    static MAP: OnceLock<HashMap<String, i64>> = OnceLock::new();
    let map = MAP.get_or_init(|| {
        (1..200)
            .filter_map(|e| {
                let msg = std::io::Error::from_raw_os_error(e).to_string();
                let plain = msg.split(" (os error").next()?.to_owned();
                (!plain.starts_with("Unknown error")).then_some((plain, i64::from(e)))
            })
            .collect()
    });
    map.get(text).copied()
}

/// A return value piece: `-1 errno=N (text)`, `0x1f`, `-5`, `42`.
fn value_prefix(s: &str) -> Option<(i64, usize)> {
    if let Some(rest) = s.strip_prefix("-1 errno=") {
        let n = rest.bytes().take_while(u8::is_ascii_digit).count();
        let mut e: i64 = rest.get(..n)?.parse().ok()?;
        let mut len = 9 + n;
        if let Some(t) = s.get(len..)
            && let Some(inner) = t.strip_prefix(" (")
            && let Some(close) = inner.find(')')
        {
            if let Some(host) = inner.get(..close).and_then(errno_of_text) {
                e = host;
            }
            len += close + 3;
        }
        return Some((-e, len));
    }
    let neg = s.starts_with('-');
    let body = if neg { s.get(1..)? } else { s };
    if let Some(h) = body.strip_prefix("0x") {
        let n = h.bytes().take_while(u8::is_ascii_hexdigit).count();
        let v = u64::from_str_radix(h.get(..n)?, 16).ok()? as i64;
        return Some((if neg { -v } else { v }, usize::from(neg) + 2 + n));
    }
    let n = body.bytes().take_while(u8::is_ascii_digit).count();
    if n == 0 {
        return None;
    }
    let v: i64 = body.get(..n)?.parse().ok()?;
    let len = usize::from(neg) + n;
    Some((if neg { -v } else { v }, len + ret_extra_len(s.get(len..)?)))
}

/// Length of what QEMU prints after some return values, up to the newline: the data
/// the call returned, e.g. `= 0 ({tv_sec = 1,tv_nsec = 2})` for `clock_gettime` or
/// `= 1 (rfds=[3])` for `select`. No piece of the log starts with ` (`.
fn ret_extra_len(s: &str) -> usize {
    let Some(inner) = s.strip_prefix(" (") else {
        return 0;
    };
    let mut depth = 1usize;
    for (i, c) in inner.char_indices() {
        match c {
            '(' | '{' | '[' => depth += 1,
            ')' | '}' | ']' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return 2 + i + 1;
                }
            }
            '\n' => return 0,
            _ => {}
        }
    }
    0
}

fn is_exec(ev: &Event) -> bool {
    ev.ty == "execve" || ev.ty == "execveat"
}

const CLONE_VM: u64 = 0x100;
const CLONE_VFORK: u64 = 0x4000;
const CLONE_THREAD: u64 = 0x10000;

/// A call whose child is a new QEMU process that prints the call's `= 0` (QEMU runs
/// vfork as fork; threads start elsewhere and print nothing).
fn is_fork_like(ev: &Event) -> bool {
    match &*ev.ty {
        "fork" | "vfork" => true,
        "clone" | "clone2" => match ev.args.get("flags") {
            Some(Value::Flags { value, .. }) => {
                *value & CLONE_THREAD == 0 && (*value & CLONE_VM == 0 || *value & CLONE_VFORK != 0)
            }
            _ => true,
        },
        _ => false,
    }
}

/// A call piece `name(args)` that QEMU printed in several writes (execve's argv is
/// one write per string) can contain whole pieces of other processes at the write
/// boundaries (after `(`, `,` or `{`): another process's call (`2 wait4(...)`) or a
/// return (` = 0\n`). Returns the call text without them, its length in `s`, and the
/// foreign pieces in order.
fn take_call(s: &str) -> (Cow<'_, str>, usize, Vec<&str>) {
    let b = s.as_bytes();
    let mut nested = Vec::new();
    let mut kept = String::new();
    let mut seg_start = 0;
    let end = match s.find(['(', '\n']) {
        Some(open) if b.get(open) == Some(&b'(') => {
            let (mut depth, mut in_str, mut i) = (0i32, false, open);
            let mut end = s.len();
            while let Some(&c) = b.get(i) {
                if in_str {
                    match c {
                        b'\\' => i += 1,
                        b'"' => in_str = false,
                        b'\n' => {
                            end = i;
                            break;
                        }
                        _ => {}
                    }
                    i += 1;
                    continue;
                }
                // Another process's piece can start after an argument separator, or
                // right after another such piece.
                let boundary = i > open
                    && (matches!(b.get(i - 1), Some(b'(' | b',' | b'{'))
                        || (i == seg_start && !nested.is_empty()));
                let rest = s.get(i..).unwrap_or("");
                if boundary {
                    let foreign = if let Some((_, plen)) = pid_prefix(rest) {
                        let body = rest.get(plen..).unwrap_or("");
                        Some(plen + call_len(body))
                    } else if let Some(r) = rest.strip_prefix(" = ") {
                        value_prefix(r).map(|(_, vlen)| {
                            3 + vlen + usize::from(r.as_bytes().get(vlen) == Some(&b'\n'))
                        })
                    } else {
                        None
                    };
                    if let Some(flen) = foreign {
                        kept.push_str(s.get(seg_start..i).unwrap_or(""));
                        nested.push(rest.get(..flen).unwrap_or(rest));
                        i += flen;
                        seg_start = i;
                        continue;
                    }
                }
                match c {
                    b'"' => in_str = true,
                    b'(' | b'{' | b'[' => depth += 1,
                    b')' | b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            end = i + 1;
                            break;
                        }
                    }
                    b'\n' => {
                        end = i;
                        break;
                    }
                    _ => {}
                }
                i += 1;
            }
            end
        }
        Some(nl) => nl,
        None => s.len(),
    };
    let end = end.min(s.len());
    if nested.is_empty() {
        return (Cow::Borrowed(s.get(..end).unwrap_or(s)), end, nested);
    }
    kept.push_str(s.get(seg_start..end).unwrap_or(""));
    (Cow::Owned(kept), end, nested)
}

/// Length of a call piece: `name(args)` up to its closing parenthesis (quotes and
/// nesting respected), or to the end of the line for `Unknown syscall N`.
fn call_len(s: &str) -> usize {
    let b = s.as_bytes();
    let Some(open) = s.find(['(', '\n']) else {
        return s.len();
    };
    if b.get(open) != Some(&b'(') {
        return open;
    }
    let mut depth = 0i32;
    let mut i = open;
    let mut in_str = false;
    while let Some(&c) = b.get(i) {
        if in_str {
            match c {
                b'\\' => i += 1,
                b'"' => in_str = false,
                b'\n' => return i,
                _ => {}
            }
        } else {
            match c {
                b'"' => in_str = true,
                b'(' | b'{' | b'[' => depth += 1,
                b')' | b'}' | b']' => {
                    depth -= 1;
                    if depth == 0 {
                        return i + 1;
                    }
                }
                b'\n' => return i,
                _ => {}
            }
        }
        i += 1;
    }
    s.len()
}

fn parse_int(w: &str) -> Option<i64> {
    if let Some(h) = w.strip_prefix("0x") {
        return u64::from_str_radix(h, 16).ok().map(|v| v as i64);
    }
    if let Some(h) = w.strip_prefix("-0x") {
        return i64::from_str_radix(h, 16).ok().map(|v| -v);
    }
    w.parse().ok()
}

/// Splits `a,b,{c,d},"e,f"` at top-level commas.
fn split_args(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let (mut depth, mut in_str, mut start, mut i) = (0i32, false, 0usize, 0usize);
    while let Some(&c) = b.get(i) {
        if in_str {
            match c {
                b'\\' => i += 1,
                b'"' => in_str = false,
                _ => {}
            }
        } else {
            match c {
                b'"' => in_str = true,
                b'(' | b'{' | b'[' => depth += 1,
                b')' | b'}' | b']' => depth -= 1,
                b',' if depth == 0 => {
                    out.push(s.get(start..i).unwrap_or("").trim());
                    start = i + 1;
                }
                _ => {}
            }
        }
        i += 1;
    }
    let last = s.get(start..).unwrap_or("").trim();
    if !last.is_empty() || !out.is_empty() {
        out.push(last);
    }
    out
}

/// Decodes a C string literal as QEMU prints it (`"a\n\"b"`, possibly followed by
/// `...` when cut).
fn unquote(s: &str) -> Option<String> {
    let inner = s.strip_prefix('"')?;
    let mut out = String::with_capacity(inner.len());
    let mut it = inner.chars();
    while let Some(c) = it.next() {
        match c {
            '"' => return Some(out),
            '\\' => match it.next()? {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                '0' => out.push('\0'),
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
    Some(out)
}

/// Symbolic flag names QEMU prints and their generic Linux values, for the numeric
/// part of `flags` values (architectures differ in a few O_* bits; rules match the
/// text).
const FLAG_VALUES: &[(&str, u64)] = &[
    ("O_RDONLY", 0),
    ("O_WRONLY", 1),
    ("O_RDWR", 2),
    ("O_CREAT", 0o100),
    ("O_EXCL", 0o200),
    ("O_NOCTTY", 0o400),
    ("O_TRUNC", 0o1000),
    ("O_APPEND", 0o2000),
    ("O_NONBLOCK", 0o4000),
    ("O_DSYNC", 0o10000),
    ("O_DIRECTORY", 0o200000),
    ("O_NOFOLLOW", 0o400000),
    ("O_CLOEXEC", 0o2000000),
    ("O_LARGEFILE", 0),
    ("CLONE_VM", CLONE_VM),
    ("CLONE_FS", 0x200),
    ("CLONE_FILES", 0x400),
    ("CLONE_SIGHAND", 0x800),
    ("CLONE_PTRACE", 0x2000),
    ("CLONE_VFORK", CLONE_VFORK),
    ("CLONE_PARENT", 0x8000),
    ("CLONE_THREAD", CLONE_THREAD),
    ("CLONE_NEWNS", 0x20000),
    ("CLONE_SYSVSEM", 0x40000),
    ("CLONE_SETTLS", 0x80000),
    ("CLONE_PARENT_SETTID", 0x100000),
    ("CLONE_CHILD_CLEARTID", 0x200000),
    ("CLONE_DETACHED", 0x400000),
    ("CLONE_UNTRACED", 0x800000),
    ("CLONE_CHILD_SETTID", 0x1000000),
    ("AF_UNIX", 1),
    ("AF_INET", 2),
    ("AF_INET6", 10),
    ("AF_NETLINK", 16),
    ("AF_PACKET", 17),
    ("SOCK_STREAM", 1),
    ("SOCK_DGRAM", 2),
    ("SOCK_RAW", 3),
    ("SOCK_SEQPACKET", 5),
    ("SOCK_NONBLOCK", 0o4000),
    ("SOCK_CLOEXEC", 0o2000000),
];

/// `O_RDONLY|O_CLOEXEC|0x20000` → flags value with the text kept (numbers included).
fn flags_value(s: &str) -> Value {
    let mut value = 0u64;
    let mut names = Vec::new();
    for part in s.split('|') {
        let part = part.trim();
        if let Some(n) = parse_int(part) {
            value |= n as u64;
        } else {
            // QEMU prints PF_* for socket domains; the event model says AF_*.
            let name = part
                .strip_prefix("PF_")
                .map_or(Cow::Borrowed(part), |r| Cow::Owned(format!("AF_{r}")));
            if let Some((_, v)) = FLAG_VALUES.iter().find(|(n, _)| *n == name) {
                value |= v;
            }
            names.push(name.into_owned());
        }
    }
    Value::Flags {
        value,
        text: names.join("|"),
    }
}

/// prctl options by number (identical on every Linux architecture).
const PRCTL: &[(u64, &str)] = &[
    (1, "PR_SET_PDEATHSIG"),
    (2, "PR_GET_PDEATHSIG"),
    (3, "PR_GET_DUMPABLE"),
    (4, "PR_SET_DUMPABLE"),
    (15, "PR_SET_NAME"),
    (16, "PR_GET_NAME"),
    (22, "PR_SET_SECCOMP"),
    (23, "PR_CAPBSET_READ"),
    (24, "PR_CAPBSET_DROP"),
    (35, "PR_SET_MM"),
    (36, "PR_SET_CHILD_SUBREAPER"),
    (38, "PR_SET_NO_NEW_PRIVS"),
    (45, "PR_SET_FP_MODE"),
    (46, "PR_GET_FP_MODE"),
    (0x5961_6d61, "PR_SET_PTRACER"),
];

/// ptrace requests by number (the generic ones, the same on every architecture).
const PTRACE: &[(u64, &str)] = &[
    (0, "PTRACE_TRACEME"),
    (1, "PTRACE_PEEKTEXT"),
    (2, "PTRACE_PEEKDATA"),
    (3, "PTRACE_PEEKUSER"),
    (4, "PTRACE_POKETEXT"),
    (5, "PTRACE_POKEDATA"),
    (6, "PTRACE_POKEUSER"),
    (7, "PTRACE_CONT"),
    (8, "PTRACE_KILL"),
    (9, "PTRACE_SINGLESTEP"),
    (16, "PTRACE_ATTACH"),
    (17, "PTRACE_DETACH"),
    (24, "PTRACE_SYSCALL"),
    (0x4200, "PTRACE_SETOPTIONS"),
    (0x4201, "PTRACE_GETEVENTMSG"),
    (0x4202, "PTRACE_GETSIGINFO"),
    (0x4206, "PTRACE_SEIZE"),
    (0x4207, "PTRACE_INTERRUPT"),
    (0x4208, "PTRACE_LISTEN"),
];

/// A file mode as QEMU prints it: octal (`0755`, `0100644`), or `S_IFREG|0644`.
fn parse_mode(s: &str) -> Option<u64> {
    let mut v = 0u64;
    for part in s.split('|') {
        let part = part.trim();
        v |= match part {
            "S_IFREG" => 0o100000,
            "S_IFDIR" => 0o040000,
            "S_IFCHR" => 0o020000,
            "S_IFBLK" => 0o060000,
            "S_IFIFO" => 0o010000,
            "S_IFSOCK" => 0o140000,
            "S_IFLNK" => 0o120000,
            p if p.starts_with("0x") => u64::from_str_radix(p.get(2..)?, 16).ok()?,
            p => u64::from_str_radix(p, 8).ok()?,
        };
    }
    Some(v)
}

/// A mode named as the host tracer names it (rules test `evt.arg.mode contains
/// S_IXUSR`, and a zero mode reads "0" on both), by the tracer's own renderer.
fn mode_value(v: u64) -> Value {
    let text = ferret_syscalls::flags::Sym {
        kind: ferret_syscalls::flags::SymKind::Mode,
        value: v,
    }
    .to_string();
    Value::Flags { value: v, text }
}

fn fd_value(s: &str) -> Value {
    if s == "AT_FDCWD" {
        Value::Fd(-100)
    } else {
        Value::Fd(parse_int(s).unwrap_or(-1))
    }
}

fn generic_value(s: &str) -> Value {
    if let Some(u) = unquote(s) {
        return Value::Str(u);
    }
    if s == "NULL" {
        return Value::Uint(0);
    }
    match parse_int(s) {
        Some(v) if s.starts_with("0x") => Value::Uint(v as u64),
        Some(v) => Value::Int(v),
        None if s.contains('{') => Value::Str(s.to_owned()),
        None => flags_value(s),
    }
}

/// `{"a","b",NULL}` → strings.
fn strs_value(s: &str) -> Value {
    let inner = s.trim().trim_start_matches('{').trim_end_matches('}');
    Value::Strs(split_args(inner).into_iter().filter_map(unquote).collect())
}

/// Parses QEMU's sockaddr text, e.g. `{sin_family=AF_INET,sin_port=htons(23),
/// sin_addr=inet_addr("10.0.0.1")}` or `{sun_family=AF_UNIX,sun_path="/x"}`.
fn sockaddr_value(s: &str) -> Option<Value> {
    if !s.starts_with('{') {
        return None;
    }
    let port = s
        .find("htons(")
        .and_then(|i| s.get(i + 6..))
        .and_then(|r| r.split(')').next())
        .and_then(|p| p.trim().parse::<u16>().ok());
    let ip = s
        .find("inet_addr(")
        .and_then(|i| s.get(i + 10..))
        .and_then(unquote)
        .or_else(|| {
            s.find("inet_pton(")
                .and_then(|i| s.get(i + 10..))
                .and_then(|r| r.split(',').nth(1))
                .and_then(|r| unquote(r.trim()))
        })
        .and_then(|t| t.parse::<IpAddr>().ok());
    if let (Some(ip), Some(port)) = (ip, port) {
        return Some(Value::Sockaddr(SockAddr::ip(ip, port)));
    }
    if let Some(i) = s.find("sun_path=") {
        let path = s.get(i + 9..).and_then(unquote).unwrap_or_default();
        return Some(Value::Sockaddr(SockAddr::unix(path)));
    }
    None
}

/// Names of the arguments of the calls the event model understands.
fn arg_names(name: &str) -> &'static [&'static str] {
    match name {
        "open" => &["name", "flags", "mode"],
        "openat" => &["dirfd", "name", "flags", "mode"],
        "creat" => &["name", "mode"],
        "execve" => &["filename", "argv", "envp"],
        "execveat" => &["dirfd", "pathname", "argv", "envp", "flags"],
        "clone" => &[
            "flags",
            "child_stack",
            "parent_tidptr",
            "tls",
            "child_tidptr",
        ],
        "socket" => &["domain", "type", "proto"],
        "connect" | "bind" => &["fd", "addr", "addrlen"],
        "accept" | "accept4" => &["fd", "addr", "addrlen", "flags"],
        "sendto" => &["fd", "data", "size", "flags", "addr", "addrlen"],
        "close" | "fchdir" | "read" | "write" | "fstat" | "fstat64" => &["fd", "buf", "size"],
        "dup" => &["fd"],
        "dup2" | "dup3" => &["oldfd", "newfd", "flags"],
        "chmod" | "mkdir" => &["path", "mode"],
        "fchmod" => &["fd", "mode"],
        "fchmodat" | "mkdirat" => &["dirfd", "path", "mode", "flags"],
        "chdir" | "unlink" | "rmdir" | "access" | "readlink" | "stat" | "stat64" | "lstat"
        | "lstat64" => &["path", "arg1", "arg2"],
        "unlinkat" | "faccessat" | "readlinkat" | "newfstatat" | "fstatat64" => {
            &["dirfd", "path", "arg2", "arg3"]
        }
        "rename" | "link" | "symlink" => &["oldpath", "newpath"],
        "renameat" | "renameat2" => &["olddirfd", "oldpath", "newdirfd", "newpath", "flags"],
        "prctl" => &["option", "arg2", "arg3", "arg4", "arg5"],
        "kill" | "tkill" => &["pid", "sig"],
        "ptrace" => &["request", "pid", "addr", "data"],
        "setsid" => &[],
        "setpgid" => &["pid", "pgid"],
        "setuid" | "setuid32" => &["uid"],
        "setgid" | "setgid32" => &["gid"],
        "exit" | "exit_group" => &["status"],
        "wait4" => &["pid", "status", "options", "rusage"],
        _ => &[],
    }
}

/// Builds the event of one call piece (`name(args)` or `Unknown syscall N`).
fn decode_call(num: u64, ts: u64, pid: i64, call: &str) -> Option<Event> {
    if let Some(nr) = call.strip_prefix("Unknown syscall ") {
        let nr = nr.trim().parse::<i64>().ok()?;
        return Some(Event::syscall(num, ts, pid, pid, "unknown").arg("nr", Value::Int(nr)));
    }
    let open = call.find('(')?;
    let name = call.get(..open)?.trim();
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return None;
    }
    let inner = call
        .get(open + 1..)?
        .strip_suffix(')')
        .unwrap_or(call.get(open + 1..)?);
    let raw = split_args(inner);
    let names = arg_names(name);
    let mut ev = Event::syscall(num, ts, pid, pid, name.to_owned());
    for (i, a) in raw.iter().enumerate() {
        let arg_name: Cow<'static, str> = match names.get(i) {
            Some(n) => Cow::Borrowed(*n),
            None => Cow::Owned(format!("arg{i}")),
        };
        let v = match &*arg_name {
            "fd" | "dirfd" | "olddirfd" | "newdirfd" | "oldfd" | "newfd" => fd_value(a),
            "name" | "filename" | "pathname" | "path" | "oldpath" | "newpath" => match unquote(a) {
                Some(p) => Value::Path(p),
                None => generic_value(a),
            },
            "argv" | "envp" if a.starts_with('{') => strs_value(a),
            "flags" | "domain" | "type" => match parse_int(a) {
                Some(v) => Value::Flags {
                    value: v as u64,
                    text: String::new(),
                },
                None => flags_value(a),
            },
            "addr" => sockaddr_value(a).unwrap_or_else(|| generic_value(a)),
            "option" if name == "prctl" => match parse_int(a) {
                Some(v) => {
                    let text = PRCTL
                        .iter()
                        .find(|(n, _)| *n == v as u64)
                        .map_or_else(String::new, |(_, t)| (*t).to_owned());
                    Value::Flags {
                        value: v as u64,
                        text,
                    }
                }
                None => flags_value(a),
            },
            "request" if name == "ptrace" => match parse_int(a) {
                Some(v) => Value::Flags {
                    value: v as u64,
                    text: PTRACE
                        .iter()
                        .find(|(n, _)| *n == v as u64)
                        .map_or_else(String::new, |(_, t)| (*t).to_owned()),
                },
                None => flags_value(a),
            },
            "mode" => parse_mode(a).map_or_else(|| generic_value(a), mode_value),
            "arg2" if name == "prctl" && a.starts_with('"') => {
                // A QEMU that decodes PR_SET_NAME prints the name.
                ev.args
                    .push("name", Value::Str(unquote(a).unwrap_or_default()));
                continue;
            }
            "status" | "pid" | "sig" | "uid" | "gid" | "pgid" => {
                parse_int(a).map_or_else(|| generic_value(a), Value::Int)
            }
            _ => generic_value(a),
        };
        ev.args.push(arg_name, v);
    }
    Some(ev)
}

/// Parser of a log whose writes are each attributed to the thread that wrote them,
/// as the host tracer captures them (`ferret_trace::CaptureFile`).
///
/// Each writer's pieces form a log of their own, in order and uninterleaved, so the
/// guessing of [`StraceParser`] is not needed: every writer gets its own parser. A
/// forked process or new thread begins its log with the child's half of the
/// `clone` line (` = 0`), which is dropped (the parent's log has the call and its
/// return). An `execve` that succeeds continues in the same writer's log with the
/// new image's calls. Events of all writers are merged by time (each writer's
/// keeping its order) and numbered again.
#[derive(Debug, Default)]
pub struct AttributedParser {
    writers: HashMap<u64, Writer>,
    own_logs: bool,
}

#[derive(Debug)]
struct Writer {
    /// Order of first appearance (ties of equal times).
    seq: usize,
    /// The thread whose log this is, when known.
    tid: Option<i64>,
    parser: StraceParser,
    /// Bytes before the writer's first call, while they may still be the child's
    /// ` = 0` line.
    head: Option<Vec<u8>>,
}

impl AttributedParser {
    /// A new parser. `own_logs`: every forked process writes to its own log, so a
    /// parent's log holds no piece of its children (true when a tracer redirected
    /// each child's log descriptor); otherwise each log is parsed with the fork
    /// handling of [`StraceParser`].
    pub fn new(own_logs: bool) -> Self {
        AttributedParser {
            own_logs,
            ..AttributedParser::default()
        }
    }

    /// Adds one write of `writer` (any key naming one thread for the log's whole
    /// life, e.g. a host tid with a generation) received at `ts`.
    pub fn feed(&mut self, writer: u64, ts: u64, bytes: &[u8]) {
        let w = self.writer(writer);
        let Some(head) = w.head.as_mut() else {
            w.parser.feed(ts, bytes);
            return;
        };
        head.extend_from_slice(bytes);
        loop {
            if head.starts_with(b" = ") {
                // The child's half of its creating call: skip through its newline.
                let Some(nl) = head.iter().position(|&b| b == b'\n') else {
                    return;
                };
                head.drain(..=nl);
            } else if !head.is_empty() && !b" = ".starts_with(head) {
                let rest = std::mem::take(head);
                w.head = None;
                w.parser.feed(ts, &rest);
                return;
            } else {
                return;
            }
        }
    }

    /// Names the thread that wrote `writer`'s log: its events get that thread id.
    pub fn name_thread(&mut self, writer: u64, tid: i64) {
        self.writer(writer).tid = Some(tid);
    }

    fn writer(&mut self, writer: u64) -> &mut Writer {
        let seq = self.writers.len();
        let own_logs = self.own_logs;
        self.writers.entry(writer).or_insert_with(|| Writer {
            seq,
            tid: None,
            parser: StraceParser {
                single_writer: own_logs,
                ..StraceParser::default()
            },
            head: Some(Vec::new()),
        })
    }

    /// Parses what is left and merges the writers' events.
    pub fn finish(self) -> Parsed {
        let mut out = Parsed::default();
        let mut tagged = Vec::new();
        let mut writers: Vec<Writer> = self.writers.into_values().collect();
        writers.sort_by_key(|w| w.seq);
        for w in writers {
            let mut p = w.parser;
            if let Some(head) = w.head.filter(|h| !h.is_empty()) {
                // A log that never got past a partial piece.
                p.anomaly(format!(
                    "unparsed log text {:?}",
                    String::from_utf8_lossy(&head)
                ));
            }
            let parsed = p.finish();
            out.anomaly_count += parsed.anomaly_count;
            for a in parsed.anomalies {
                if out.anomalies.len() < MAX_ANOMALIES {
                    out.anomalies.push(a);
                }
            }
            tagged.extend(parsed.events.into_iter().enumerate().map(|(i, mut ev)| {
                if let Some(t) = w.tid {
                    ev.tid = t;
                }
                (ev.ts, w.seq, i, ev)
            }));
        }
        tagged.sort_by_key(|&(ts, seq, i, _)| (ts, seq, i));
        out.events = tagged
            .into_iter()
            .enumerate()
            .map(|(n, (_, _, _, mut ev))| {
                ev.num = n as u64 + 1;
                ev
            })
            .collect();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Parsed {
        let mut p = StraceParser::new();
        p.feed(1, text.as_bytes());
        p.finish()
    }

    fn by<'a>(p: &'a Parsed, pid: i64, ty: &str) -> &'a Event {
        p.events
            .iter()
            .find(|e| e.pid == pid && e.ty == ty)
            .unwrap_or_else(|| panic!("no {ty} of {pid} in {:#?}", p.events))
    }

    #[test]
    fn a_value_follows_its_own_eq_even_when_a_fork_child_owes_a_zero() {
        let p = parse(concat!(
            "2 clone(CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|0x11,child_stack=0x0,parent_tidptr=0x0,tls=0x0,child_tidptr=0x55) = 4\n",
            "2 newfstatat(1,\"\",0x0000005502820d30,0x1000) = 0\n",
            "2 exit_group(0)\n",
            " = 0\n",
            "4 setsid() = 4\n",
        ));
        assert!(p.anomalies.is_empty(), "{:?}", p.anomalies);
        assert_eq!(by(&p, 2, "clone").ret, Some(4));
        assert_eq!(by(&p, 2, "newfstatat").ret, Some(0));
        assert_eq!(by(&p, 4, "setsid").ret, Some(4));
    }

    /// QEMU writes a call in several pieces (pid and name, then each argument): a
    /// whole call of another process can sit between `openat(` and its arguments.
    #[test]
    fn pieces_between_a_call_name_and_its_arguments() {
        let p = parse(concat!(
            "2 clone(CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|0x12,child_stack=0x00000000,parent_tidptr=0x00000000,tls=0x00000000,child_tidptr=0x3f7bbf28) = 4\n",
            "2 clock_gettime64(CLOCK_MONOTONIC,0x3ffffc80) = 0 ({tv_sec = 12566,tv_nsec = 994256342})\n",
            "2 wait4(4,1073741044,1,0,0,0) = 0\n",
            "2 clock_gettime64(CLOCK_MONOTONIC,0x3ffffc80) = 0 ({tv_sec = 12566,tv_nsec = 994519122})\n",
            "2 clock_nanosleep(CLOCK_REALTIME,0,{tv_sec = 0,tv_nsec = 20000000},{tv_sec = 1065170936,tv_nsec = 4}) = 0\n",
            "4 set_robust_list(1065074476,12,0,0,0,0) = -1 errno=89 (Function not implemented)\n",
            "4 execve(\"/tmp/.x\",{\"/tmp/.x\",\"--ferret-child\",NULL})4 brk(NULL) = 0x40012000\n",
            "4 mmap2(NULL,8192,PROT_READ|PROT_WRITE,MAP_PRIVATE|MAP_ANONYMOUS,-1,0) = 0x3f7bb000\n",
            "4 access(\"/etc/ld.so.preload\", = R_OK)0\n",
            " = 2 wait4(4,1073741044,1,0,0,0)-1 errno=2 (No such file or directory)\n",
            "4 openat( = 0\n",
            "2 clock_gettime64(CLOCK_MONOTONIC,0x3ffffc80) = 0 ({tv_sec = 12567,tv_nsec = 16302023})\n",
            "2 clock_nanosleep(CLOCK_REALTIME,0,{tv_sec = 0,tv_nsec = 20000000},{tv_sec = 1073740992,tv_nsec = 4})AT_FDCWD,\"/etc/ld.so.cache\",O_RDONLY|O_LARGEFILE|O_CLOEXEC) = 5\n",
            "4 statx(5,\"\",AT_EMPTY_PATH|AT_NO_AUTOMOUNT,STATX_BASIC_STATS,0x3fffebc8) = 0\n",
            "4 mmap2(NULL,38863,PROT_READ,MAP_PRIVATE,5,0) = 0x3f7b1000\n",
        ));
        assert!(p.anomalies.is_empty(), "{:?}", p.anomalies);
        let open = p
            .events
            .iter()
            .find(|e| e.pid == 4 && e.ty == "openat")
            .unwrap();
        assert_eq!(
            open.args.get("name"),
            Some(&Value::Path("/etc/ld.so.cache".into()))
        );
        assert_eq!(open.ret, Some(5));
        assert_eq!(by(&p, 4, "execve").ret, Some(0));
        assert_eq!(by(&p, 4, "statx").ret, Some(0));
    }

    #[test]
    fn data_printed_after_a_return_value_belongs_to_it() {
        let p = parse(concat!(
            "5 clock_gettime(CLOCK_MONOTONIC,0x407ffe08) = 0 ({tv_sec = 11430,tv_nsec = 298516522})\n",
            "5 _newselect(4,0x407ffd00,0,0,0x407ffcf8) = 1 (rfds=[3])\n",
            "5 getpid() = 5\n",
        ));
        assert!(p.anomalies.is_empty(), "{:?}", p.anomalies);
        assert_eq!(by(&p, 5, "clock_gettime").ret, Some(0));
        assert_eq!(by(&p, 5, "_newselect").ret, Some(1));
        assert_eq!(by(&p, 5, "getpid").ret, Some(5));
    }

    #[test]
    fn modes_and_ptrace_requests_are_named_as_the_host_tracer_names_them() {
        let p = parse(concat!(
            "9 chmod(\"/tmp/.x\",0755) = 0\n",
            "9 fchmodat(AT_FDCWD,\"/tmp/y\",04711,0) = 0\n",
            "9 ptrace(0,0,0,0,0,0) = -1 errno=38 (Function not implemented)\n",
            "9 mkdir(\"/root/.ssh\",0700) = 0\n",
        ));
        assert!(p.anomalies.is_empty(), "{:?}", p.anomalies);
        assert_eq!(
            by(&p, 9, "chmod").args.get("mode"),
            Some(&Value::Flags {
                value: 0o755,
                text: "S_IRUSR|S_IWUSR|S_IXUSR|S_IRGRP|S_IXGRP|S_IROTH|S_IXOTH".into()
            })
        );
        let at = by(&p, 9, "fchmodat");
        assert_eq!(at.args.get("path"), Some(&Value::Path("/tmp/y".into())));
        assert_eq!(
            at.args.get("mode").and_then(Value::as_str),
            Some("S_ISUID|S_IRUSR|S_IWUSR|S_IXUSR|S_IXGRP|S_IXOTH")
        );
        assert_eq!(
            by(&p, 9, "ptrace").args.get("request"),
            Some(&Value::Flags {
                value: 0,
                text: "PTRACE_TRACEME".into()
            })
        );
        assert_eq!(
            by(&p, 9, "mkdir").args.get("mode").and_then(Value::as_i64),
            Some(0o700)
        );
        assert_eq!(parse_mode("S_IFREG|0644"), Some(0o100644));
        assert_eq!(parse_mode("0x1ed"), Some(0o755));
        assert_eq!(parse_mode("rwx"), None);
        // Named as the native tracer names them, zero included.
        let text = |v| match mode_value(v) {
            Value::Flags { text, .. } => text,
            other => panic!("{other:?}"),
        };
        assert_eq!(text(0), "0");
        assert_eq!(text(0o100600), "S_IFREG|S_IRUSR|S_IWUSR");
    }

    #[test]
    fn plain_calls_decode() {
        let p = parse(concat!(
            "7 openat(AT_FDCWD,\"/etc/hostname\",O_RDONLY|O_LARGEFILE|O_CLOEXEC) = 3\n",
            "7 socket(PF_INET,SOCK_STREAM,IPPROTO_IP) = 4\n",
            "7 connect(4,0x40800808,16) = -1 errno=146 (Connection refused)\n",
            "7 prctl(15,460028,0,0,0,1082132868) = 0\n",
            "7 brk(NULL) = 0x0008f000\n",
            "7 Unknown syscall 398\n",
            "7 exit_group(3)\n",
        ));
        assert!(p.anomalies.is_empty(), "{:?}", p.anomalies);
        let open = by(&p, 7, "openat");
        assert_eq!(open.args.get("dirfd"), Some(&Value::Fd(-100)));
        assert_eq!(
            open.args.get("name"),
            Some(&Value::Path("/etc/hostname".into()))
        );
        assert_eq!(
            open.args.get("flags"),
            Some(&Value::Flags {
                value: 0o2000000,
                text: "O_RDONLY|O_LARGEFILE|O_CLOEXEC".into()
            })
        );
        assert_eq!(open.ret, Some(3));
        let sock = by(&p, 7, "socket");
        assert_eq!(
            sock.args.get("domain"),
            Some(&Value::Flags {
                value: 2,
                text: "AF_INET".into()
            })
        );
        // MIPS's errno 146 is ECONNREFUSED: the text gives the host's 111.
        assert_eq!(by(&p, 7, "connect").ret, Some(-111));
        assert_eq!(by(&p, 7, "connect").args.get("fd"), Some(&Value::Fd(4)));
        assert_eq!(
            by(&p, 7, "prctl")
                .args
                .get("option")
                .and_then(Value::as_str),
            Some("PR_SET_NAME")
        );
        assert_eq!(by(&p, 7, "brk").ret, Some(0x8f000));
        assert_eq!(by(&p, 7, "unknown").args.get("nr"), Some(&Value::Int(398)));
        assert_eq!(
            by(&p, 7, "exit_group").args.get("status"),
            Some(&Value::Int(3))
        );
        let nums: Vec<u64> = p.events.iter().map(|e| e.num).collect();
        assert_eq!(nums, (1..=7).collect::<Vec<u64>>());
    }

    #[test]
    fn forked_child_zero_and_late_wait_return() {
        // Recorded from qemu-arm 7.2: the child's `= 0` lands on the parent's wait4
        // line, the wait's own return comes after the child's exit.
        let p = parse(concat!(
            "8394 clone(CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|0x11,child_stack=0x00000000,parent_tidptr=0x00000000,tls=0x00000000,child_tidptr=0x0008f068) = 8396\n",
            "8394 wait4(8396,1082132484,0,0,0,0) = 0\n",
            "8396 set_robust_list(585836,12,0,0,585832,1) = -1 errno=38 (Function not implemented)\n",
            "8396 execve(\"./t\",{\"./t\",\"child\",\"x y\",NULL}) = -1 errno=8 (Exec format error)\n",
            "8396 exit_group(99)\n",
            " = 8396\n",
            "8394 exit_group(1)\n",
        ));
        assert!(p.anomalies.is_empty(), "{:?}", p.anomalies);
        assert_eq!(by(&p, 8394, "clone").ret, Some(8396));
        assert_eq!(by(&p, 8394, "wait4").ret, Some(8396));
        let exec = by(&p, 8396, "execve");
        assert_eq!(exec.ret, Some(-8));
        assert_eq!(
            exec.args.get("argv"),
            Some(&Value::Strs(vec![
                "./t".into(),
                "child".into(),
                "x y".into()
            ]))
        );
        assert_eq!(by(&p, 8396, "set_robust_list").ret, Some(-38));
    }

    #[test]
    fn split_return_pieces_after_fork() {
        // `=` of parent and child back to back, values later: the value decides.
        let p = parse(concat!(
            "2 clone(CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|0x11,child_stack=0x00000000) =  = 5783\n",
            "2 wait4(5783,1082132340,0,0,0,0)0\n",
            "5783 set_robust_list(1,2) = -1 errno=38 (Function not implemented)\n",
            "5783 execve(\"/root/sample\",{\"/root/sample\",NULL})5783 brk(NULL) = 0x1000\n",
            "5783 exit_group(7)\n",
            " = 5783\n",
        ));
        assert!(p.anomalies.is_empty(), "{:?}", p.anomalies);
        assert_eq!(by(&p, 2, "clone").ret, Some(5783));
        assert_eq!(by(&p, 2, "wait4").ret, Some(5783));
        // The exec succeeded: the pid went on printing.
        assert_eq!(by(&p, 5783, "execve").ret, Some(0));
        assert_eq!(by(&p, 5783, "brk").ret, Some(0x1000));
    }

    #[test]
    fn a_waiting_call_does_not_take_a_running_calls_return() {
        let p = parse(concat!(
            "2 clone(CLONE_CHILD_CLEARTID|0x11,child_stack=0x00000000) = 0\n",
            "4 brk(NULL) = 0x100\n",
            " = 4\n",
            "4 mprotect(0x100ac000,16384,PROT_READ)2 wait4(4,1,0,0,0,0) = 0\n",
            "4 exit_group(7)\n",
            " = 4\n",
        ));
        assert!(p.anomalies.is_empty(), "{:?}", p.anomalies);
        assert_eq!(by(&p, 2, "clone").ret, Some(4));
        assert_eq!(by(&p, 4, "mprotect").ret, Some(0));
        assert_eq!(by(&p, 2, "wait4").ret, Some(4));
    }

    #[test]
    fn threads_share_a_pid_and_unfinished_calls_become_enter_events() {
        let p = parse(concat!(
            "9 clone(CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM|CLONE_SETTLS,child_stack=0x3fffe298) = 10\n",
            "9 futex(0x3fffe808,FUTEX_WAIT,10,NULL,NULL,0)9 getppid() = 1\n",
            "9 exit(0)\n",
            " = 0\n",
            "9 pause()",
        ));
        assert!(p.anomalies.is_empty(), "{:?}", p.anomalies);
        assert_eq!(by(&p, 9, "clone").ret, Some(10));
        assert_eq!(by(&p, 9, "getppid").ret, Some(1));
        assert_eq!(by(&p, 9, "futex").ret, Some(0));
        let pause = by(&p, 9, "pause");
        assert_eq!(pause.dir, Dir::Enter);
        assert_eq!(pause.ret, None);
    }

    #[test]
    fn pieces_split_across_feeds_and_signals() {
        let mut p = StraceParser::new();
        p.feed(5, b"3 getpid(");
        p.feed(
            6,
            b") = 3\n--- SIGUSR1 {si_signo=SIGUSR1, si_code=SI_USER} ---\n3 kill(3,",
        );
        p.feed(7, b"SIGTERM) = 0\n");
        let out = p.finish();
        assert!(out.anomalies.is_empty(), "{:?}", out.anomalies);
        assert_eq!(out.events.len(), 2);
        assert_eq!(out.events[0].ts, 5);
        assert_eq!(out.events[1].ty, "kill");
        assert_eq!(
            out.events[1].args.get("sig").and_then(Value::as_str),
            Some("SIGTERM")
        );
    }

    #[test]
    fn sockaddr_text_of_newer_qemus() {
        let p = parse(concat!(
            "5 connect(3,{sin_family=AF_INET,sin_port=htons(23),sin_addr=inet_addr(\"10.0.0.1\")},16) = 0\n",
            "5 connect(4,{sun_family=AF_UNIX,sun_path=\"/run/x.sock\"},110) = 0\n",
            "5 prctl(PR_SET_NAME,\"kworker\") = 0\n",
        ));
        assert!(p.anomalies.is_empty(), "{:?}", p.anomalies);
        let c: Vec<&Event> = p.events.iter().filter(|e| e.ty == "connect").collect();
        assert_eq!(
            c[0].args.get("addr"),
            Some(&Value::Sockaddr(SockAddr::ip(
                "10.0.0.1".parse().unwrap(),
                23
            )))
        );
        assert_eq!(
            c[1].args.get("addr"),
            Some(&Value::Sockaddr(SockAddr::unix("/run/x.sock")))
        );
        let pr = by(&p, 5, "prctl");
        assert_eq!(
            pr.args.get("option").and_then(Value::as_str),
            Some("PR_SET_NAME")
        );
        assert_eq!(pr.args.get("name"), Some(&Value::Str("kworker".into())));
    }

    #[test]
    fn pieces_inside_a_call_being_printed() {
        // Recorded from qemu-arm 7.2: the parent's wait4 inside the child's execve argv.
        let p = parse(concat!(
            "2 clone(CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|0x11,child_stack=0x00000000) = 4\n",
            " = 0\n",
            "4 execve(\"/root/sample\",{2 wait4(4,1082133684,0,0,0,0)\"/root/sample\",\"child\",NULL})4 brk(NULL) = 0x0008f000\n",
            "4 exit_group(7)\n",
            " = 4\n",
            "2 exit_group(3)\n",
        ));
        assert!(p.anomalies.is_empty(), "{:?}", p.anomalies);
        let exec = by(&p, 4, "execve");
        assert_eq!(
            exec.args.get("argv"),
            Some(&Value::Strs(vec!["/root/sample".into(), "child".into()]))
        );
        assert_eq!(exec.ret, Some(0));
        assert_eq!(by(&p, 2, "wait4").ret, Some(4));
        assert_eq!(by(&p, 4, "brk").ret, Some(0x8f000));
    }

    #[test]
    fn a_return_inside_a_call_being_printed() {
        let p = parse(concat!(
            "2 clone(CLONE_CHILD_CLEARTID|0x11,child_stack=0x00000000) = 4\n",
            "2 execve(\"/bin/x\",{\"/bin/x\", = 0\n\"a\",NULL}) = -1 errno=2 (No such file or directory)\n",
            "4 getpid() = 4\n",
        ));
        assert!(p.anomalies.is_empty(), "{:?}", p.anomalies);
        let exec = by(&p, 2, "execve");
        assert_eq!(
            exec.args.get("argv"),
            Some(&Value::Strs(vec!["/bin/x".into(), "a".into()]))
        );
        assert_eq!(exec.ret, Some(-2));
        assert_eq!(by(&p, 4, "getpid").ret, Some(4));
    }

    #[test]
    fn exits_retire_lanes_and_end_other_threads_calls() {
        let mut p = StraceParser::new();
        let mut log = String::new();
        for pid in 100..5100 {
            log.push_str(&format!("{pid} getpid() = {pid}\n{pid} exit_group(0)\n"));
        }
        log.push_str("7 clone(CLONE_VM|CLONE_THREAD,child_stack=0x1) = 8\n");
        log.push_str("7 nanosleep(0x10,NULL)7 exit_group(1)\n");
        p.feed(0, log.as_bytes());
        assert!(p.lanes.is_empty(), "{:?}", p.lanes);
        let out = p.finish();
        assert!(out.anomalies.is_empty(), "{:?}", out.anomalies);
        assert_eq!(out.events.len(), 10_003);
        let sleep = by(&out, 7, "nanosleep");
        assert_eq!((sleep.dir, sleep.ret), (Dir::Enter, None));
    }

    #[test]
    fn garbage_never_panics_and_is_reported() {
        let inputs: [&[u8]; 8] = [
            b"\xff\xfe garbage\n",
            b"12 (((\n",
            b" = = = \n\n",
            b"-1 errno=\n",
            b"99999999999999999999999 read(1) = 99999999999999999999999\n",
            b"1 f(\"unterminated\n",
            b"1 x(1) = 0x\n",
            b"1 execve(\"a\",{\"\\",
        ];
        for input in inputs {
            let mut p = StraceParser::new();
            p.feed(0, input);
            let _ = p.finish();
        }
        let mut state = 0x1234_5678u32;
        for _ in 0..2000 {
            let mut p = StraceParser::new();
            let mut buf = Vec::new();
            for _ in 0..64 {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                let alphabet = b"0123 =(),\"\\{}\nxabc-errno";
                buf.push(alphabet[(state as usize) % alphabet.len()]);
            }
            p.feed(0, &buf);
            let _ = p.finish();
        }
        let out = parse("hello world\n");
        assert_eq!(out.anomaly_count, 1);
        assert!(out.anomalies[0].contains("hello world"));
    }

    /// Recorded from qemu-aarch64 7.2 (the dropper): the parent polls its child with
    /// `clock_gettime`/`clock_nanosleep` while the child prints its `execve` in
    /// pieces; in the shared FIFO both calls' arguments tear each other. With each
    /// write attributed to its writer, every call is whole.
    #[test]
    fn attributed_writers_untangle_torn_calls() {
        const A: u64 = 1; // parent, pid 2
        const B: u64 = 2; // child, pid 4
        let pieces: &[(u64, &str)] = &[
            (A, "2 write(1,0x212a0,27)"),
            (A, " = "),
            (A, "27\n"),
            (
                A,
                "2 clone(CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|0x11,child_stack=0x0000000000000000,parent_tidptr=0x0000000000000000,tls=0x0000000000000000,child_tidptr=0x000000550286fd90)",
            ),
            (B, " = "),
            (B, "0\n"),
            (A, " = "),
            (A, "4\n"),
            (A, "2 clock_gettime("),
            (
                B,
                "4 set_robust_list(365114621344,24,0,0,365114621328,365114622976)",
            ),
            (B, " = "),
            (B, "-1 errno=38 (Function not implemented)"),
            (B, "\n"),
            (A, "CLOCK_MONOTONIC,"),
            (A, "0x0000005502821bd0"),
            (A, ")"),
            (B, "4 execve("),
            (B, "\"/tmp/.x\","),
            (B, "{"),
            (A, " = "),
            (A, "0 ({tv_sec = 32540,tv_nsec = 394995483})"),
            (A, "\n"),
            (A, "2 wait4(4,365114301388,1,0,1,1000000)"),
            (A, " = "),
            (A, "0\n"),
            (A, "2 clock_nanosleep("),
            (B, "\"/tmp/.x\","),
            (B, "\"--ferret-child\","),
            (B, "NULL})"),
            (
                A,
                "CLOCK_REALTIME,0,{tv_sec = 0,tv_nsec = 20000000},{tv_sec = 0,tv_nsec = 20000000})",
            ),
            (B, "4 brk("),
            (B, "NULL"),
            (B, ")"),
            (B, " = "),
            (B, "0x0000005500021000"),
            (B, "\n"),
            (A, " = "),
            (A, "0\n"),
            (B, "4 exit_group(0)\n"),
            (A, "2 wait4(4,365114301388,1,0,1,1000000)"),
            (A, " = "),
            (A, "4\n"),
            (A, "2 exit_group(0)\n"),
        ];
        let mut ap = AttributedParser::new(true);
        for (ts, (w, piece)) in pieces.iter().enumerate() {
            ap.feed(*w, ts as u64 + 1, piece.as_bytes());
        }
        let p = ap.finish();
        assert!(p.anomalies.is_empty(), "{:?}", p.anomalies);
        let of = |pid: i64| -> Vec<(&str, Option<i64>)> {
            p.events
                .iter()
                .filter(|e| e.pid == pid)
                .map(|e| (&*e.ty, e.ret))
                .collect()
        };
        assert_eq!(
            of(2),
            [
                ("write", Some(27)),
                ("clone", Some(4)),
                ("clock_gettime", Some(0)),
                ("wait4", Some(0)),
                ("clock_nanosleep", Some(0)),
                ("wait4", Some(4)),
                ("exit_group", None),
            ]
        );
        assert_eq!(
            of(4),
            [
                ("set_robust_list", Some(-38)),
                ("execve", Some(0)),
                ("brk", Some(0x5500021000)),
                ("exit_group", None),
            ]
        );
        let exec = by(&p, 4, "execve");
        assert_eq!(
            exec.args.get("filename"),
            Some(&Value::Path("/tmp/.x".into()))
        );
        assert_eq!(
            exec.args.get("argv"),
            Some(&Value::Strs(vec![
                "/tmp/.x".into(),
                "--ferret-child".into()
            ]))
        );
        // Numbered in time order; the clone comes before anything of its child.
        let nums: Vec<u64> = p.events.iter().map(|e| e.num).collect();
        assert_eq!(nums, (1..=p.events.len() as u64).collect::<Vec<_>>());
        let clone_at = p.events.iter().position(|e| e.ty == "clone");
        let child_first = p.events.iter().position(|e| e.pid == 4);
        assert!(clone_at < child_first);
    }

    /// A thread's log starts with its half of `clone`; a log cut off mid-call (the
    /// process was killed) leaves an enter event; a partial first piece is reported.
    #[test]
    fn attributed_threads_and_cut_logs() {
        let mut ap = AttributedParser::new(true);
        ap.feed(1, 1, b"7 clone(CLONE_VM|CLONE_THREAD,child_stack=0x1000)");
        ap.feed(2, 2, b" = ");
        ap.feed(2, 3, b"0\n7 gettid()");
        ap.feed(1, 4, b" = 8\n");
        ap.feed(2, 5, b" = 8\n7 read(3,0x1000,10)");
        ap.feed(1, 6, b"7 futex(0x2000,FUTEX_WAIT,8,NULL,NULL,0)");
        ap.feed(3, 7, b" =");
        let p = ap.finish();
        let got: Vec<(&str, Option<i64>, Dir)> =
            p.events.iter().map(|e| (&*e.ty, e.ret, e.dir)).collect();
        assert_eq!(
            got,
            [
                ("clone", Some(8), Dir::Exit),
                ("gettid", Some(8), Dir::Exit),
                ("read", None, Dir::Enter),
                ("futex", None, Dir::Enter),
            ]
        );
        assert_eq!(p.anomaly_count, 1, "{:?}", p.anomalies);
    }
}
