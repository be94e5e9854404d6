//! The process and file-descriptor state machine, fed by events, so that fields such as
//! `proc.pname` or `fd.name` resolve at any event (as sysdig's thread table does).

use std::borrow::Cow;
use std::net::IpAddr;

use rustc_hash::FxHashMap;

use crate::event::{Event, Family, ProcInfo, SockAddr, Source, Value};

/// What a file descriptor refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FdKind {
    /// Regular file (or unknown file-system object).
    File,
    /// Directory.
    Directory,
    /// AF_INET socket.
    Ipv4,
    /// AF_INET6 socket.
    Ipv6,
    /// AF_UNIX socket.
    Unix,
    /// AF_NETLINK socket.
    Netlink,
    /// AF_PACKET socket.
    Packet,
    /// Pipe end.
    Pipe,
    /// Anonymous memory file from `memfd_create`.
    Memfd,
    /// eventfd.
    Event,
    /// signalfd.
    Signalfd,
    /// epoll instance.
    Eventpoll,
    /// inotify instance.
    Inotify,
    /// timerfd.
    Timerfd,
    /// BPF map or program.
    Bpf,
    /// userfaultfd.
    Userfaultfd,
    /// pidfd.
    Pidfd,
}

impl FdKind {
    /// sysdig's `fd.type` text.
    pub fn type_name(self) -> &'static str {
        match self {
            FdKind::File => "file",
            FdKind::Directory => "directory",
            FdKind::Ipv4 => "ipv4",
            FdKind::Ipv6 => "ipv6",
            FdKind::Unix => "unix",
            FdKind::Netlink => "netlink",
            FdKind::Packet => "packet",
            FdKind::Pipe => "pipe",
            FdKind::Memfd => "memfd",
            FdKind::Event => "event",
            FdKind::Signalfd => "signalfd",
            FdKind::Eventpoll => "eventpoll",
            FdKind::Inotify => "inotify",
            FdKind::Timerfd => "timerfd",
            FdKind::Bpf => "bpf",
            FdKind::Userfaultfd => "userfaultfd",
            FdKind::Pidfd => "pidfd",
        }
    }
    /// sysdig's `fd.typechar`.
    pub fn type_char(self) -> char {
        match self {
            FdKind::File => 'f',
            FdKind::Directory => 'd',
            FdKind::Ipv4 => '4',
            FdKind::Ipv6 => '6',
            FdKind::Unix => 'u',
            FdKind::Netlink => 'n',
            FdKind::Packet => 'k',
            FdKind::Pipe => 'p',
            FdKind::Memfd => 'm',
            FdKind::Event => 'e',
            FdKind::Signalfd => 's',
            FdKind::Eventpoll => 'l',
            FdKind::Inotify => 'i',
            FdKind::Timerfd => 't',
            FdKind::Bpf => 'b',
            FdKind::Userfaultfd => 'u',
            FdKind::Pidfd => 'P',
        }
    }
    /// Whether this is a network-capable socket with an IP tuple.
    pub fn is_ip(self) -> bool {
        matches!(self, FdKind::Ipv4 | FdKind::Ipv6)
    }
}

/// Layer-4 protocol of a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum L4 {
    /// TCP (SOCK_STREAM on inet).
    Tcp,
    /// UDP (SOCK_DGRAM on inet).
    Udp,
    /// ICMP.
    Icmp,
    /// Raw socket (SOCK_RAW).
    Raw,
    /// Not known or not applicable.
    Unknown,
}

impl L4 {
    /// sysdig's `fd.l4proto` text.
    pub fn name(self) -> &'static str {
        match self {
            L4::Tcp => "tcp",
            L4::Udp => "udp",
            L4::Icmp => "icmp",
            L4::Raw => "raw",
            L4::Unknown => "unknown",
        }
    }
}

/// Socket endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SockInfo {
    /// Transport protocol.
    pub l4: L4,
    /// Local endpoint, if known.
    pub local: Option<SockAddr>,
    /// Remote endpoint, if known.
    pub remote: Option<SockAddr>,
    /// True for accepted sockets (the process is the server side).
    pub server_side: bool,
    /// Whether connect/accept succeeded.
    pub connected: bool,
}

/// One file-descriptor table entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FdInfo {
    /// Object kind.
    pub kind: FdKind,
    /// sysdig's `fd.name`: absolute path, `memfd:NAME`, or `cip:cport->sip:sport` for sockets.
    pub name: String,
    /// The path as the process passed it (`fd.nameraw`).
    pub name_raw: String,
    /// Open flags (Linux values).
    pub flags: u64,
    /// Close-on-exec.
    pub cloexec: bool,
    /// Socket endpoints for sockets.
    pub sock: Option<SockInfo>,
    /// Whether the name changed on this event (connect/bind on a socket).
    pub name_changed: bool,
}

impl FdInfo {
    fn new(kind: FdKind, name: String) -> Self {
        FdInfo {
            kind,
            name_raw: String::new(),
            name,
            flags: 0,
            cloexec: false,
            sock: None,
            name_changed: false,
        }
    }
}

/// Tracked attributes of a process (thread group).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Process {
    /// Process id.
    pub pid: i64,
    /// Parent pid (0: unknown).
    pub ppid: i64,
    /// argv\[0\] (`proc.exe`).
    pub exe: String,
    /// Full executable path (`proc.exepath`).
    pub exepath: String,
    /// Name (`proc.name`, comm).
    pub name: String,
    /// Arguments after argv\[0\].
    pub args: Vec<String>,
    /// `args` joined with spaces (`proc.args`), kept in sync.
    pub args_joined: String,
    /// `name args` (`proc.cmdline`), kept in sync.
    pub cmdline: String,
    /// Environment.
    pub env: Vec<String>,
    /// Working directory.
    pub cwd: String,
    /// Real uid (`u32::MAX`: unknown).
    pub uid: u32,
    /// Real gid (`u32::MAX`: unknown).
    pub gid: u32,
    /// Audit login uid (`u32::MAX`: unset).
    pub loginuid: u32,
    /// Session id.
    pub sid: i64,
    /// Process group id.
    pub pgid: i64,
    /// Controlling tty (0: none).
    pub tty: u32,
    /// Start time, ns since the epoch.
    pub start_ts: u64,
    /// Executable came from a memfd (fileless execution).
    pub exe_from_memfd: bool,
    /// Exited (kept so that descendants still resolve their ancestry).
    pub exited: bool,
    /// Open file descriptors.
    pub fds: FxHashMap<i64, FdInfo>,
}

impl Process {
    fn blank(pid: i64) -> Self {
        Process {
            pid,
            uid: u32::MAX,
            gid: u32::MAX,
            loginuid: u32::MAX,
            ..Process::default()
        }
    }

    fn set_args(&mut self, args: Vec<String>) {
        self.args = args;
        self.args_joined = self.args.join(" ");
        self.refresh_cmdline();
    }

    fn refresh_cmdline(&mut self) {
        self.cmdline.clear();
        self.cmdline.push_str(&self.name);
        if !self.args_joined.is_empty() {
            self.cmdline.push(' ');
            self.cmdline.push_str(&self.args_joined);
        }
    }

    fn apply_info(&mut self, info: &ProcInfo) {
        if let Some(v) = info.ppid {
            self.ppid = v;
        }
        if let Some(v) = &info.exe {
            self.exe.clone_from(v);
        }
        if let Some(v) = &info.exepath {
            self.exepath.clone_from(v);
        }
        if let Some(v) = &info.name {
            self.name.clone_from(v);
        }
        if let Some(v) = &info.env {
            self.env.clone_from(v);
        }
        if let Some(v) = &info.cwd {
            self.cwd.clone_from(v);
        }
        if let Some(v) = info.uid {
            self.uid = v;
        }
        if let Some(v) = info.gid {
            self.gid = v;
        }
        if let Some(v) = info.loginuid {
            self.loginuid = v;
        }
        if let Some(v) = info.sid {
            self.sid = v;
        }
        if let Some(v) = info.pgid {
            self.pgid = v;
        }
        if let Some(v) = info.tty {
            self.tty = v;
        }
        if let Some(v) = info.start_ts {
            self.start_ts = v;
        }
        match &info.args {
            Some(a) => self.set_args(a.clone()),
            None => self.refresh_cmdline(),
        }
    }
}

/// The file descriptor an event refers to, resolved against the fd table.
#[derive(Debug, Clone, Copy)]
pub struct FdView<'a> {
    /// Descriptor number (`-1` for a failed open).
    pub num: i64,
    /// Table entry.
    pub info: &'a FdInfo,
}

/// What an event resolves to after the state machine has seen it.
#[derive(Debug, Clone, Copy)]
pub struct View<'a> {
    /// The whole state, for ancestry lookups.
    pub state: &'a State,
    /// The event's process.
    pub proc: Option<&'a Process>,
    /// The event's file descriptor.
    pub fd: Option<FdView<'a>>,
}

impl<'a> View<'a> {
    /// The `n`-th ancestor of the event's process (1 = parent).
    pub fn ancestor(&self, n: usize) -> Option<&'a Process> {
        let mut p = self.proc?;
        for _ in 0..n {
            p = self.state.parent(p)?;
        }
        Some(p)
    }
}

#[derive(Debug, Default)]
enum Pending {
    #[default]
    None,
    Close(i64, i64),
    Exit(i64),
}

/// Where the event's fd view comes from.
enum FdSel {
    None,
    Table(i64),
    Scratch(i64),
}

/// Process table and fd tables, updated by [`State::update`].
#[derive(Debug)]
pub struct State {
    procs: FxHashMap<i64, Process>,
    pending: Pending,
    scratch: FdInfo,
    max_procs: usize,
}

impl Default for State {
    fn default() -> Self {
        State::new()
    }
}

/// `CLONE_THREAD` from linux/sched.h.
const CLONE_THREAD: u64 = 0x0001_0000;
/// `O_CLOEXEC` (x86).
pub const O_CLOEXEC: u64 = 0o2_000_000;
/// `O_DIRECTORY` (x86).
pub const O_DIRECTORY: u64 = 0o200_000;
/// `O_CREAT` (x86).
pub const O_CREAT: u64 = 0o100;

fn flag_value(v: Option<&Value>) -> u64 {
    match v {
        Some(Value::Flags { value, .. }) | Some(Value::Uint(value)) => *value,
        Some(Value::Int(i)) => u64::try_from(*i).unwrap_or(0),
        _ => 0,
    }
}

fn flag_text_has(v: Option<&Value>, name: &str) -> bool {
    match v {
        Some(Value::Flags { text, .. }) | Some(Value::Str(text)) => {
            text.split('|').any(|t| t.trim() == name)
        }
        _ => false,
    }
}

fn int_arg(ev: &Event, name: &str) -> Option<i64> {
    ev.args.get(name).and_then(Value::as_i64)
}

fn str_arg<'e>(ev: &'e Event, names: &[&str]) -> Option<&'e str> {
    names.iter().find_map(|n| match ev.args.get(n) {
        Some(Value::Path(s)) | Some(Value::Str(s)) => Some(s.as_str()),
        _ => None,
    })
}

fn sockaddr_arg<'e>(ev: &'e Event, name: &str) -> Option<&'e SockAddr> {
    match ev.args.get(name) {
        Some(Value::Sockaddr(a)) => Some(a),
        _ => None,
    }
}

/// Makes `path` absolute against `base` and removes `.`, `..` and duplicate slashes.
pub fn normalize_path(base: &str, path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    let iter = if path.starts_with('/') {
        None
    } else {
        Some(base.split('/'))
    };
    for seg in iter.into_iter().flatten().chain(path.split('/')) {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    let mut out = String::with_capacity(path.len() + base.len() + 1);
    for p in &parts {
        out.push('/');
        out.push_str(p);
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

fn needs_normalizing(path: &str) -> bool {
    !path.starts_with('/')
        || path.contains("//")
        || path.contains("/./")
        || path.contains("/..")
        || path.ends_with("/.")
}

fn socket_name(local: Option<&SockAddr>, remote: Option<&SockAddr>, server_side: bool) -> String {
    let (c, s) = if server_side {
        (remote, local)
    } else {
        (local, remote)
    };
    match (c, s) {
        (Some(c), Some(s)) => format!("{c}->{s}"),
        (None, Some(s)) => format!("->{s}"),
        (Some(c), None) => c.to_string(),
        (None, None) => String::new(),
    }
}

impl State {
    /// An empty state.
    pub fn new() -> Self {
        State {
            procs: FxHashMap::default(),
            pending: Pending::None,
            scratch: FdInfo::new(FdKind::File, String::new()),
            max_procs: 200_000,
        }
    }

    /// The process with this pid, if known (exited ones included).
    pub fn process(&self, pid: i64) -> Option<&Process> {
        self.procs.get(&pid)
    }

    /// The parent of `p`, if known.
    pub fn parent(&self, p: &Process) -> Option<&Process> {
        if p.ppid == 0 || p.ppid == p.pid {
            None
        } else {
            self.procs.get(&p.ppid)
        }
    }

    /// Number of processes tracked.
    pub fn len(&self) -> usize {
        self.procs.len()
    }

    /// Whether no process is tracked.
    pub fn is_empty(&self) -> bool {
        self.procs.is_empty()
    }

    /// Seeds or replaces a process (e.g. from /proc when monitoring a live host).
    pub fn insert_process(&mut self, pid: i64, info: &ProcInfo) {
        self.procs
            .entry(pid)
            .or_insert_with(|| Process::blank(pid))
            .apply_info(info);
    }

    fn finish_pending(&mut self) {
        match std::mem::take(&mut self.pending) {
            Pending::None => {}
            Pending::Close(pid, fd) => {
                if let Some(p) = self.procs.get_mut(&pid) {
                    p.fds.remove(&fd);
                }
            }
            Pending::Exit(pid) => {
                if let Some(p) = self.procs.get_mut(&pid) {
                    p.exited = true;
                    p.fds.clear();
                }
                if self.procs.len() > self.max_procs {
                    self.procs.retain(|_, p| !p.exited);
                }
            }
        }
    }

    /// Applies `ev` to the tables and returns what it resolves to. Removals (close, exit)
    /// take effect at the next call, so the event that closes a file still sees it.
    pub fn update(&mut self, ev: &Event) -> View<'_> {
        self.finish_pending();
        let sel = if ev.source == Source::Syscall {
            self.apply_syscall(ev)
        } else {
            self.apply_other(ev)
        };
        let proc = self.procs.get(&ev.pid);
        let fd = match sel {
            FdSel::None => None,
            FdSel::Table(n) => proc
                .and_then(|p| p.fds.get(&n))
                .map(|info| FdView { num: n, info }),
            FdSel::Scratch(n) => Some(FdView {
                num: n,
                info: &self.scratch,
            }),
        };
        View {
            state: self,
            proc,
            fd,
        }
    }

    fn proc_mut(&mut self, pid: i64) -> &mut Process {
        self.procs.entry(pid).or_insert_with(|| Process::blank(pid))
    }

    fn apply_other(&mut self, ev: &Event) -> FdSel {
        if let Some(info) = &ev.proc {
            self.proc_mut(ev.pid).apply_info(info);
        }
        if let Some(path) = str_arg(ev, &["path", "name"]) {
            let s = &mut self.scratch;
            s.kind = if flag_text_has(ev.args.get("mask"), "IN_ISDIR") {
                FdKind::Directory
            } else {
                FdKind::File
            };
            s.name.clear();
            s.name.push_str(path);
            s.name_raw.clear();
            s.name_raw.push_str(path);
            s.sock = None;
            s.flags = 0;
            return FdSel::Scratch(-1);
        }
        let (src, dst) = (sockaddr_arg(ev, "src"), sockaddr_arg(ev, "dst"));
        if src.is_some() || dst.is_some() {
            let l4 = match str_arg(ev, &["proto", "l4proto"]) {
                Some("tcp") => L4::Tcp,
                Some("udp") => L4::Udp,
                Some("icmp") => L4::Icmp,
                _ => L4::Unknown,
            };
            let v6 = matches!(src.or(dst).and_then(|a| a.ip), Some(IpAddr::V6(_)));
            let s = &mut self.scratch;
            s.kind = if v6 { FdKind::Ipv6 } else { FdKind::Ipv4 };
            s.name = socket_name(src, dst, false);
            s.sock = Some(SockInfo {
                l4,
                local: src.cloned(),
                remote: dst.cloned(),
                server_side: false,
                connected: true,
            });
            return FdSel::Scratch(-1);
        }
        FdSel::None
    }

    fn apply_syscall(&mut self, ev: &Event) -> FdSel {
        let pid = ev.pid;
        {
            let p = self.proc_mut(pid);
            if let Some(info) = &ev.proc {
                p.apply_info(info);
            }
        }
        let ret = ev.ret;
        let ok_fd = ret.filter(|r| *r >= 0);
        let ty: &str = &ev.ty;
        match ty {
            "clone" | "clone3" | "fork" | "vfork" => {
                if let Some(child) = ret.filter(|r| *r > 0) {
                    let thread = ty.starts_with("clone")
                        && (flag_value(ev.args.get("flags")) & CLONE_THREAD != 0
                            || flag_text_has(ev.args.get("flags"), "CLONE_THREAD"));
                    if !thread {
                        self.spawn(pid, child, ev.ts);
                    }
                }
                FdSel::None
            }
            "execve" | "execveat" => {
                if ret == Some(0) {
                    self.exec(ev);
                }
                match int_arg(ev, "dirfd").or_else(|| int_arg(ev, "fd")) {
                    Some(n) if ty == "execveat" => FdSel::Table(n),
                    _ => FdSel::None,
                }
            }
            "open" | "openat" | "openat2" | "creat" | "open_by_handle_at" => self.open(ev),
            "memfd_create" => {
                let Some(fd) = ok_fd else { return FdSel::None };
                let name = format!("memfd:{}", str_arg(ev, &["name"]).unwrap_or(""));
                let mut info = FdInfo::new(FdKind::Memfd, name);
                info.cloexec = flag_text_has(ev.args.get("flags"), "MFD_CLOEXEC");
                self.proc_mut(pid).fds.insert(fd, info);
                FdSel::Table(fd)
            }
            "socket" => {
                let Some(fd) = ok_fd else { return FdSel::None };
                let dom = ev.args.get("domain");
                let kind = if flag_text_has(dom, "AF_INET6") || flag_value(dom) == 10 {
                    FdKind::Ipv6
                } else if flag_text_has(dom, "AF_INET") || flag_value(dom) == 2 {
                    FdKind::Ipv4
                } else if flag_text_has(dom, "AF_UNIX")
                    || flag_text_has(dom, "AF_LOCAL")
                    || flag_value(dom) == 1
                {
                    FdKind::Unix
                } else if flag_text_has(dom, "AF_NETLINK") || flag_value(dom) == 16 {
                    FdKind::Netlink
                } else if flag_text_has(dom, "AF_PACKET") || flag_value(dom) == 17 {
                    FdKind::Packet
                } else {
                    FdKind::Unix
                };
                let ty_arg = ev.args.get("type");
                let base = flag_value(ty_arg) & 0xf;
                let l4 = if flag_text_has(ty_arg, "SOCK_RAW") || base == 3 || kind == FdKind::Packet
                {
                    L4::Raw
                } else if flag_text_has(ty_arg, "SOCK_DGRAM") || base == 2 {
                    if kind.is_ip() { L4::Udp } else { L4::Unknown }
                } else if kind.is_ip() {
                    L4::Tcp
                } else {
                    L4::Unknown
                };
                let mut info = FdInfo::new(kind, String::new());
                info.cloexec =
                    flag_text_has(ty_arg, "SOCK_CLOEXEC") || flag_value(ty_arg) & O_CLOEXEC != 0;
                info.sock = Some(SockInfo {
                    l4,
                    local: None,
                    remote: None,
                    server_side: false,
                    connected: false,
                });
                self.proc_mut(pid).fds.insert(fd, info);
                FdSel::Table(fd)
            }
            "connect" | "bind" | "sendto" | "sendmsg" | "listen" => {
                let Some(fd) = int_arg(ev, "fd") else {
                    return FdSel::None;
                };
                let addr = sockaddr_arg(ev, "addr").or_else(|| sockaddr_arg(ev, "tuple"));
                let laddr = sockaddr_arg(ev, "laddr");
                let success = ret.is_none_or(|r| r >= 0) || ev.errno() == Some(115);
                if let Some(info) = self.procs.get_mut(&pid).and_then(|p| p.fds.get_mut(&fd)) {
                    info.name_changed = false;
                    if let Some(sock) = &mut info.sock {
                        let mut changed = false;
                        match ty {
                            "connect" => {
                                if let Some(a) = addr {
                                    sock.remote = Some(a.clone());
                                    changed = true;
                                }
                                if let Some(a) = laddr {
                                    sock.local = Some(a.clone());
                                }
                                sock.connected = success && ret.is_some_and(|r| r >= 0);
                            }
                            "bind" => {
                                if let Some(a) = addr {
                                    sock.local = Some(a.clone());
                                    changed = true;
                                }
                            }
                            "sendto" | "sendmsg" if sock.remote.is_none() => {
                                if let Some(a) = addr {
                                    sock.remote = Some(a.clone());
                                    changed = true;
                                }
                            }
                            _ => {}
                        }
                        if changed && success {
                            info.name = socket_name(
                                sock.local.as_ref(),
                                sock.remote.as_ref(),
                                sock.server_side,
                            );
                            info.name_changed = true;
                        }
                    }
                }
                FdSel::Table(fd)
            }
            "accept" | "accept4" => {
                let Some(newfd) = ok_fd else {
                    return int_arg(ev, "fd").map_or(FdSel::None, FdSel::Table);
                };
                let listen = int_arg(ev, "fd")
                    .and_then(|l| self.procs.get(&pid).and_then(|p| p.fds.get(&l)))
                    .cloned();
                let remote = sockaddr_arg(ev, "addr")
                    .or_else(|| sockaddr_arg(ev, "tuple"))
                    .cloned();
                let (kind, l4, mut local) = match &listen {
                    Some(l) => (
                        l.kind,
                        l.sock.as_ref().map_or(L4::Tcp, |s| s.l4),
                        l.sock.as_ref().and_then(|s| s.local.clone()),
                    ),
                    None => {
                        let v6 = matches!(remote.as_ref().and_then(|a| a.ip), Some(IpAddr::V6(_)));
                        (if v6 { FdKind::Ipv6 } else { FdKind::Ipv4 }, L4::Tcp, None)
                    }
                };
                if let Some(a) = sockaddr_arg(ev, "laddr") {
                    local = Some(a.clone());
                }
                let mut info =
                    FdInfo::new(kind, socket_name(local.as_ref(), remote.as_ref(), true));
                info.sock = Some(SockInfo {
                    l4,
                    local,
                    remote,
                    server_side: true,
                    connected: true,
                });
                info.name_changed = true;
                self.proc_mut(pid).fds.insert(newfd, info);
                FdSel::Table(newfd)
            }
            "pipe" | "pipe2" | "socketpair" => {
                let kind = if ty == "socketpair" {
                    FdKind::Unix
                } else {
                    FdKind::Pipe
                };
                let cloexec = flag_text_has(ev.args.get("flags"), "O_CLOEXEC");
                let p = self.proc_mut(pid);
                for n in ["fd1", "fd2"] {
                    if let Some(fd) = int_arg(ev, n) {
                        let mut info = FdInfo::new(kind, String::new());
                        info.cloexec = cloexec;
                        if kind == FdKind::Unix {
                            info.sock = Some(SockInfo {
                                l4: L4::Unknown,
                                local: None,
                                remote: None,
                                server_side: false,
                                connected: true,
                            });
                        }
                        p.fds.insert(fd, info);
                    }
                }
                FdSel::None
            }
            "eventfd" | "eventfd2" | "signalfd" | "signalfd4" | "epoll_create"
            | "epoll_create1" | "inotify_init" | "inotify_init1" | "timerfd_create"
            | "userfaultfd" | "pidfd_open" | "bpf" | "fanotify_init" => {
                let Some(fd) = ok_fd else { return FdSel::None };
                if ty == "bpf" && ret == Some(0) {
                    return FdSel::None;
                }
                let kind = match ty {
                    "eventfd" | "eventfd2" => FdKind::Event,
                    "signalfd" | "signalfd4" => FdKind::Signalfd,
                    "epoll_create" | "epoll_create1" => FdKind::Eventpoll,
                    "inotify_init" | "inotify_init1" | "fanotify_init" => FdKind::Inotify,
                    "timerfd_create" => FdKind::Timerfd,
                    "userfaultfd" => FdKind::Userfaultfd,
                    "pidfd_open" => FdKind::Pidfd,
                    _ => FdKind::Bpf,
                };
                self.proc_mut(pid)
                    .fds
                    .insert(fd, FdInfo::new(kind, String::new()));
                FdSel::Table(fd)
            }
            "dup" | "dup2" | "dup3" | "fcntl" => {
                let old = int_arg(ev, "oldfd").or_else(|| int_arg(ev, "fd"));
                let dup_cmd = ty != "fcntl"
                    || flag_text_has(ev.args.get("cmd"), "F_DUPFD")
                    || flag_text_has(ev.args.get("cmd"), "F_DUPFD_CLOEXEC");
                if let (Some(old), Some(new), true) = (old, ok_fd, dup_cmd) {
                    let p = self.proc_mut(pid);
                    if let Some(mut info) = p.fds.get(&old).cloned() {
                        info.cloexec = flag_text_has(ev.args.get("flags"), "O_CLOEXEC")
                            || flag_text_has(ev.args.get("cmd"), "F_DUPFD_CLOEXEC");
                        p.fds.insert(new, info);
                        return FdSel::Table(new);
                    }
                }
                old.map_or(FdSel::None, FdSel::Table)
            }
            "close" => {
                let Some(fd) = int_arg(ev, "fd") else {
                    return FdSel::None;
                };
                if ret.is_none_or(|r| r >= 0) {
                    self.pending = Pending::Close(pid, fd);
                }
                FdSel::Table(fd)
            }
            "chdir" => {
                if ret == Some(0)
                    && let Some(path) = str_arg(ev, &["path", "name"])
                {
                    let p = self.proc_mut(pid);
                    p.cwd = normalize_path(&p.cwd, path);
                }
                FdSel::None
            }
            "fchdir" => {
                let Some(fd) = int_arg(ev, "fd") else {
                    return FdSel::None;
                };
                if ret == Some(0) {
                    let p = self.proc_mut(pid);
                    if let Some(name) = p.fds.get(&fd).map(|f| f.name.clone()) {
                        p.cwd = name;
                    }
                }
                FdSel::Table(fd)
            }
            "setuid" | "setreuid" | "setresuid" => {
                if ret == Some(0) {
                    let uid = int_arg(ev, "uid")
                        .or_else(|| int_arg(ev, "ruid"))
                        .and_then(|u| u32::try_from(u).ok());
                    if let Some(uid) = uid {
                        self.proc_mut(pid).uid = uid;
                    }
                }
                FdSel::None
            }
            "setgid" | "setregid" | "setresgid" => {
                if ret == Some(0) {
                    let gid = int_arg(ev, "gid")
                        .or_else(|| int_arg(ev, "rgid"))
                        .and_then(|u| u32::try_from(u).ok());
                    if let Some(gid) = gid {
                        self.proc_mut(pid).gid = gid;
                    }
                }
                FdSel::None
            }
            "setsid" => {
                if let Some(sid) = ret.filter(|r| *r > 0) {
                    let p = self.proc_mut(pid);
                    p.sid = sid;
                    p.pgid = sid;
                    p.tty = 0;
                }
                FdSel::None
            }
            "setpgid" => {
                if ret == Some(0) {
                    let target = int_arg(ev, "pid").filter(|p| *p != 0).unwrap_or(pid);
                    let pgid = int_arg(ev, "pgid").filter(|p| *p != 0).unwrap_or(target);
                    self.proc_mut(target).pgid = pgid;
                }
                FdSel::None
            }
            "prctl" => {
                if ret == Some(0)
                    && flag_text_has(ev.args.get("option"), "PR_SET_NAME")
                    && let Some(name) = str_arg(ev, &["name", "arg2_str"])
                {
                    let p = self.proc_mut(pid);
                    // The kernel keeps 15 bytes of comm.
                    p.name = truncate_comm(name).to_owned();
                    p.refresh_cmdline();
                }
                FdSel::None
            }
            "exit_group" | "procexit" => {
                self.pending = Pending::Exit(pid);
                FdSel::None
            }
            "exit" => {
                if ev.tid == pid {
                    self.pending = Pending::Exit(pid);
                }
                FdSel::None
            }
            _ => match ev.args.get("fd") {
                Some(v) => v.as_i64().map_or(FdSel::None, FdSel::Table),
                None => FdSel::None,
            },
        }
    }

    fn spawn(&mut self, parent: i64, child: i64, ts: u64) {
        let Some(par) = self.procs.get(&parent) else {
            return;
        };
        let mut c = par.clone();
        c.pid = child;
        c.ppid = parent;
        c.exited = false;
        c.start_ts = ts;
        match self.procs.get_mut(&child) {
            // The child's own events arrived first: keep what they taught us.
            Some(existing) if !existing.name.is_empty() => existing.ppid = parent,
            Some(existing) => {
                let own_fds = std::mem::take(&mut existing.fds);
                c.fds.extend(own_fds);
                *existing = c;
            }
            None => {
                self.procs.insert(child, c);
            }
        }
    }

    fn exec(&mut self, ev: &Event) {
        let pid = ev.pid;
        let dirfd = int_arg(ev, "dirfd").or_else(|| int_arg(ev, "fd"));
        let p = self.proc_mut(pid);
        let filename = str_arg(ev, &["filename", "exe", "pathname", "path"]);
        let (exepath, from_memfd) = match filename {
            Some(f) if !f.is_empty() => {
                let base = match (ev.ty.as_ref(), dirfd) {
                    ("execveat", Some(d)) if !f.starts_with('/') => p
                        .fds
                        .get(&d)
                        .map_or_else(|| p.cwd.clone(), |i| i.name.clone()),
                    _ => p.cwd.clone(),
                };
                (
                    if needs_normalizing(f) {
                        normalize_path(&base, f)
                    } else {
                        f.to_owned()
                    },
                    false,
                )
            }
            _ => match dirfd.and_then(|d| p.fds.get(&d)) {
                Some(info) => (info.name.clone(), info.kind == FdKind::Memfd),
                None => (String::new(), false),
            },
        };
        let argv: Option<&Vec<String>> = match ev.args.get("argv").or_else(|| ev.args.get("args")) {
            Some(Value::Strs(v)) => Some(v),
            _ => None,
        };
        if let Some(Value::Strs(env)) = ev.args.get("envp").or_else(|| ev.args.get("env")) {
            p.env.clone_from(env);
        }
        p.exe_from_memfd = from_memfd;
        p.exe = argv
            .and_then(|a| a.first().cloned())
            .unwrap_or_else(|| exepath.clone());
        let base = exepath.rsplit('/').next().unwrap_or("");
        p.name = truncate_comm(if from_memfd { p.name.as_str() } else { base }).to_owned();
        if from_memfd && p.name.is_empty() {
            p.name = truncate_comm(exepath.trim_start_matches("memfd:")).to_owned();
        }
        p.exepath = exepath;
        p.start_ts = ev.ts;
        p.set_args(
            argv.map(|a| a.iter().skip(1).cloned().collect())
                .unwrap_or_default(),
        );
        p.fds.retain(|_, f| !f.cloexec);
        if let Some(info) = &ev.proc {
            p.apply_info(info);
        }
    }

    fn open(&mut self, ev: &Event) -> FdSel {
        let pid = ev.pid;
        let Some(raw) = str_arg(ev, &["name", "path", "filename", "pathname"]) else {
            return ev.ret.filter(|r| *r >= 0).map_or(FdSel::None, FdSel::Table);
        };
        let flags = flag_value(ev.args.get("flags"));
        let p = self.proc_mut(pid);
        let name = if needs_normalizing(raw) {
            let dirfd = int_arg(ev, "dirfd").filter(|d| *d >= 0);
            let base: Cow<'_, str> = match dirfd.and_then(|d| p.fds.get(&d)) {
                Some(info) if !raw.starts_with('/') => Cow::Borrowed(info.name.as_str()),
                _ => Cow::Borrowed(p.cwd.as_str()),
            };
            normalize_path(&base, raw)
        } else {
            raw.to_owned()
        };
        let kind = if flags & O_DIRECTORY != 0 || flag_text_has(ev.args.get("flags"), "O_DIRECTORY")
        {
            FdKind::Directory
        } else {
            FdKind::File
        };
        match ev.ret {
            Some(fd) if fd >= 0 => {
                let mut info = FdInfo::new(kind, name);
                if raw != info.name {
                    info.name_raw = raw.to_owned();
                }
                info.flags = flags;
                info.cloexec =
                    flags & O_CLOEXEC != 0 || flag_text_has(ev.args.get("flags"), "O_CLOEXEC");
                p.fds.insert(fd, info);
                FdSel::Table(fd)
            }
            _ => {
                let s = &mut self.scratch;
                s.kind = kind;
                s.name = name;
                s.name_raw.clear();
                s.name_raw.push_str(raw);
                s.flags = flags;
                s.sock = None;
                FdSel::Scratch(-1)
            }
        }
    }
}

fn truncate_comm(name: &str) -> &str {
    if name.len() <= 15 {
        return name;
    }
    let mut end = 15;
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

/// Family helper for producers: `AF_*` name of a [`Family`].
pub fn family_name(f: Family) -> &'static str {
    match f {
        Family::Inet => "AF_INET",
        Family::Inet6 => "AF_INET6",
        Family::Unix => "AF_UNIX",
        Family::Netlink => "AF_NETLINK",
        Family::Packet => "AF_PACKET",
        Family::Other => "AF_UNSPEC",
    }
}
